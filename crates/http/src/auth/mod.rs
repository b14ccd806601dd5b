//! Who is calling: bearer tokens read once per request, and the extractors
//! handlers use to learn the caller.
//!
//! # Authentication
//! [`middleware`] reads `Authorization` on every request, before routing:
//! - no header: the caller is anonymous, and only the public routes
//!   (`GET /discs`, `GET /discs/{id}`, `POST /customers`, `/health*`,
//!   `/docs`, `/openapi.json`) serve it; the others answer 401;
//! - `Bearer <token>` (the scheme in any case) with a valid token: the
//!   token's principal;
//! - anything else — another scheme, an expired, altered, malformed or
//!   foreign token — answers 401 `unauthenticated` at once, **on public
//!   routes too**. A client that sends credentials wants them used; quietly
//!   serving it as anonymous would hide its mistake until it reached a
//!   protected route.
//!
//! The 401 carries `WWW-Authenticate: Bearer realm="recordshop"`, with
//! `error="invalid_token"` when a bearer token was presented (RFC 6750;
//! without credentials, or with another scheme, there is no error code).
//!
//! With [`Authenticator::Disabled`](crate::Authenticator::Disabled) (`AUTH_DISABLED=true`, for local
//! experiments only) no header is read and every caller is staff with the
//! subject `auth-disabled`.
//!
//! # Order of checks
//! Authenticate (401) → parse and validate the input (400, 404 for a path
//! id that is no UUID, 422) → authorize (403, see [`policy`]) → act.
//! Handlers of protected routes take [`SignedIn`] as their first argument,
//! which answers 401 for an anonymous caller before any other extractor
//! runs; they call a [`policy`] function once the input is parsed.

pub(crate) mod policy;

use std::future::{Ready, ready};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use tracing::field::display;

use crate::credentials::{Caller, Unauthenticated};
use crate::error::ApiError;
use crate::state::AppState;

/// The caller of this request: what [`middleware`] found, or, where the
/// middleware is not mounted, what the headers prove now.
fn caller_of(request: &HttpRequest) -> Result<Caller, ApiError> {
    if let Some(caller) = request.extensions().get::<Caller>() {
        return Ok(caller.clone());
    }
    let state = request
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no AppState registered")))?;
    Ok(state.authenticator.authenticate(request.headers())?)
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(caller_of(request))
    }
}

/// A caller with credentials: staff or a customer. As a handler's first
/// argument it answers 401 to anonymous callers before the path or body
/// is even read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedIn(pub(crate) Caller);

impl FromRequest for SignedIn {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(caller_of(request).and_then(|caller| match caller {
            Caller::Anonymous => Err(Unauthenticated::Missing.into()),
            signed_in => Ok(Self(signed_in)),
        }))
    }
}

/// Authenticates every request before it is routed: refuses bad
/// credentials with 401, records the caller on the request's log span
/// (ids only, never the token), and leaves it for the extractors. Mount it
/// inside the request-id middleware, so refusals carry a request id.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let authenticated = request
        .app_data::<web::Data<AppState>>()
        .map(|state| state.authenticator.authenticate(request.headers()));
    match authenticated {
        Some(Ok(caller)) => {
            tracing::Span::current().record("caller", display(&caller));
            request.extensions_mut().insert(caller);
        }
        Some(Err(refused)) => {
            return Ok(request
                .error_response(ApiError::from(refused))
                .map_into_right_body());
        }
        // No state: nothing to authenticate against; the extractors will
        // answer 500 if a handler needs a caller.
        None => {}
    }
    next.call(request)
        .await
        .map(ServiceResponse::map_into_left_body)
}
