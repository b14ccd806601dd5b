//! The HTTP inbound adapter: actix-web routes over the domain services.
//!
//! Everything HTTP-shaped lives here and nowhere else: request DTOs that
//! gather every field error before touching the domain, response DTOs built
//! from domain entities, query and path parsing, the one mapping of domain
//! errors to `application/problem+json`, and the request-id middleware.
//!
//! The server binary wires storage into an [`AppState`] and calls
//! [`serve`], which runs [`app`] behind the request limits (`limits.rs`:
//! head size, body deadline) and the [`Drain`] that lets a shutdown finish
//! the requests in flight; tests use [`app`] with
//! [`actix_web::test::init_service`].
//!
//! The API describes itself: [`openapi`] builds the OpenAPI 3.1 document
//! from the handlers' and DTOs' annotations, served at `GET /openapi.json`
//! with Swagger UI at `GET /docs` (its assets compiled in, so it works
//! offline).
//!
//! # Access control
//! Bearer tokens (HS256 JWTs, see the `recordshop-auth` crate) with two
//! roles, staff and customer; anonymous callers may browse the catalog,
//! sign up and read health and docs. How requests are authenticated and in
//! which order the checks run is in [`auth`]'s documentation; what each
//! role may do is in `auth::policy`.
//!
//! # Partial updates
//! `PUT` and `PATCH` take any subset of a resource's fields. An absent field
//! and a field sent as `null` both mean "keep the current value": no field
//! of the contract can be cleared, so `null` has nothing else to mean.

// First: it defines the `problems!` macro the resource modules use.
#[macro_use]
mod openapi;
pub mod admission;
pub mod auth;
mod bare_errors;
mod credentials;
mod customers;
mod discs;
mod drain;
mod error;
mod head;
mod health;
mod idempotency;
mod json;
mod limits;
mod orders;
mod params;
pub mod prefer;
mod reports;
mod request_id;
mod serving;
mod state;
pub mod telemetry;
mod validation;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::{Compress, from_fn};
use actix_web::{App, HttpRequest, HttpResponse, Resource, web};
use serde::Serialize;

pub use credentials::{AUTH_DISABLED_SUBJECT, Authenticator, Caller, Unauthenticated};
pub use drain::Drain;
pub use error::{ApiError, FieldError, ProblemCode};
pub use idempotency::{IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED};
pub use json::BODY_LIMIT;
pub use limits::{BODY_TIMEOUT, HEAD_LIMIT};
pub use openapi::{DOCS_PATH, OPENAPI_PATH, openapi};
pub use request_id::{REQUEST_ID_HEADER, middleware as request_id_middleware};
pub use serving::{MAX_CONNECTIONS, ServeOptions, Serving, serve};
pub use state::AppState;

/// Registers every route, the extractor configurations and the problem+json
/// fallback for unknown routes on `config`.
///
/// Middleware cannot be registered on a `ServiceConfig`, so a caller that
/// mounts this itself should also wrap its `App` in
/// `from_fn(`[`auth::middleware`]`)` and, outside it,
/// `from_fn(`[`request_id_middleware`]`)`; [`app`] does all three. Without
/// the authentication middleware, protected routes still authenticate
/// through their extractors, but a bad token sent to a public route would
/// go unnoticed.
pub fn configure(state: AppState) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        config
            .app_data(web::Data::new(state))
            .app_data(json::config())
            .app_data(params::query_config())
            .configure(discs::routes)
            .configure(customers::routes)
            .configure(orders::routes)
            .configure(reports::routes)
            .configure(health::routes)
            .configure(openapi::routes)
            .default_service(web::to(unknown_route));
    }
}

/// The whole application over `state`: routes, authentication, request ids
/// and access logs, the request limits (`limits.rs`), HEAD wherever GET,
/// problem+json for every error, and response compression for clients
/// that ask for it.
pub fn app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    // The last `wrap` is the outermost: request ids and access logs see
    // every response, compressed or not, including the 404 fallback, the
    // limits' refusals and the 401s of authentication.
    App::new()
        .wrap(from_fn(auth::middleware))
        .wrap(Compress::default())
        .wrap(from_fn(limits::body_deadline))
        .wrap(from_fn(limits::refuse_encoded_bodies))
        .wrap(from_fn(limits::head_limit))
        .wrap(bare_errors::as_problems())
        .wrap(from_fn(head::as_get))
        .wrap(from_fn(request_id::middleware))
        .configure(configure(state))
}

/// A resource at `path` whose other methods answer 405 with problem+json
/// and an `Allow` header listing `allowed`.
pub(crate) fn resource(path: &str, allowed: &'static [Method]) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allowed))
    }))
}

/// `201 Created` with the new resource and where it lives.
pub(crate) fn created(location: String, resource: impl Serialize) -> HttpResponse {
    HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(resource)
}

async fn unknown_route(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(format!(
        "no route matches {} {}",
        request.method(),
        request.path()
    )))
}
