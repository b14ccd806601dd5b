//! 404s and 405s that did not come from this crate's handlers (Swagger UI
//! answers an unknown `/docs/…` asset with a bare 404 and an empty body)
//! are answered as problem+json like every other error, so a client never
//! has to tell two kinds of 404 apart.

use actix_web::ResponseError;
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};

use crate::error::ApiError;

/// The middleware: problem+json for bare 404 and 405 answers.
pub(crate) fn as_problems<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new()
        .handler(StatusCode::NOT_FOUND, |response| {
            replace(response, |request| {
                ApiError::NotFound(format!("nothing at {}", request.path()))
            })
        })
        .handler(StatusCode::METHOD_NOT_ALLOWED, |response| {
            replace(response, |_| ApiError::MethodNotAllowed(&[Method::GET]))
        })
}

fn replace<B>(
    response: ServiceResponse<B>,
    problem: impl FnOnce(&actix_web::HttpRequest) -> ApiError,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if is_problem(&response) {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let (request, _bare) = response.into_parts();
    let answer = problem(&request).error_response();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, answer).map_into_right_body::<B>(),
    ))
}

fn is_problem<B>(response: &ServiceResponse<B>) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value == HeaderValue::from_static("application/problem+json"))
}
