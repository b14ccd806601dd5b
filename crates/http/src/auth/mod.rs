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
//! With [`Authenticator::Disabled`] (`AUTH_DISABLED=true`, for local
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
use actix_web::http::header::{self, HeaderMap};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use recordshop_auth::{Principal, TokenError, TokenKeys};
use recordshop_domain::customer::CustomerId;
use tracing::field::display;

use crate::AppState;
use crate::error::ApiError;

/// The subject of every caller while authentication is disabled.
pub const AUTH_DISABLED_SUBJECT: &str = "auth-disabled";

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum Authenticator {
    /// Bearer tokens signed with these keys.
    Enabled(TokenKeys),
    /// Nobody is asked for anything; everyone is staff. Never in
    /// production: the server warns at start and `/health` says so.
    Disabled,
}

impl Authenticator {
    /// Whether tokens are checked.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        matches!(self, Self::Enabled(_))
    }

    /// The caller a request's headers prove.
    ///
    /// # Errors
    /// [`Unauthenticated`] when an `Authorization` header is present but
    /// is not a valid bearer token of this server.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Unauthenticated> {
        let Self::Enabled(keys) = self else {
            return Ok(Caller::Staff {
                subject: AUTH_DISABLED_SUBJECT.to_owned(),
            });
        };
        let mut values = headers.get_all(header::AUTHORIZATION);
        let Some(value) = values.next() else {
            return Ok(Caller::Anonymous);
        };
        if values.next().is_some() {
            // Two credentials: which one was meant is anybody's guess.
            return Err(Unauthenticated::Invalid(TokenError::Malformed));
        }
        let value = value
            .to_str()
            .map_err(|_| Unauthenticated::Invalid(TokenError::Malformed))?;
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(Unauthenticated::UnsupportedScheme);
        }
        verify(keys, token.trim())
    }
}

fn verify(keys: &TokenKeys, token: &str) -> Result<Caller, Unauthenticated> {
    keys.verify(token)
        .map(Caller::from)
        .map_err(Unauthenticated::Invalid)
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unauthenticated {
    /// No credentials, on a route that needs them.
    #[error("this route needs a bearer token: send `Authorization: Bearer <token>`")]
    Missing,
    /// Credentials of a scheme other than Bearer.
    #[error("only bearer tokens are accepted: send `Authorization: Bearer <token>`")]
    UnsupportedScheme,
    /// A bearer token this server does not accept.
    #[error("the bearer token was refused: {0}")]
    Invalid(TokenError),
}

impl Unauthenticated {
    /// The `WWW-Authenticate` challenge of the 401.
    #[must_use]
    pub fn challenge(&self) -> &'static str {
        match self {
            Self::Missing | Self::UnsupportedScheme => r#"Bearer realm="recordshop""#,
            Self::Invalid(_) => r#"Bearer realm="recordshop", error="invalid_token""#,
        }
    }
}

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials.
    Anonymous,
    /// An operator of the shop.
    Staff {
        /// The token's subject, for the logs.
        subject: String,
    },
    /// A customer, for themselves.
    Customer(CustomerId),
}

impl From<Principal> for Caller {
    fn from(principal: Principal) -> Self {
        match principal {
            Principal::Staff { subject } => Self::Staff { subject },
            Principal::Customer(id) => Self::Customer(id),
        }
    }
}

/// `anonymous`, `staff:alice`, `customer:<id>`: ids only, fit for logs.
impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("anonymous"),
            Self::Staff { subject } => write!(f, "staff:{subject}"),
            Self::Customer(id) => write!(f, "customer:{id}"),
        }
    }
}

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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use actix_web::http::header::HeaderValue;

    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::from_secret(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn reads_bearer_tokens_in_any_case_of_the_scheme() {
        let keys = keys();
        let token = keys
            .mint(&Principal::staff(), Duration::from_secs(60))
            .unwrap();
        let authenticator = Authenticator::Enabled(keys);
        let staff = Caller::Staff {
            subject: "staff".to_owned(),
        };
        for scheme in ["Bearer", "bearer", "BEARER"] {
            let found = authenticator.authenticate(&headers(&[&format!("{scheme} {token}")]));
            assert_eq!(found, Ok(staff.clone()), "{scheme}");
        }
        assert_eq!(
            authenticator.authenticate(&headers(&[])),
            Ok(Caller::Anonymous)
        );
    }

    #[test]
    fn bad_credentials_are_refused_with_the_right_challenge() {
        let authenticator = Authenticator::Enabled(keys());
        let cases = [
            ("Basic dXNlcjpwdw==", Unauthenticated::UnsupportedScheme),
            ("Bearer", Unauthenticated::Invalid(TokenError::Malformed)),
            ("Bearer ", Unauthenticated::Invalid(TokenError::Malformed)),
            (
                "Bearer x.y.z",
                Unauthenticated::Invalid(TokenError::Malformed),
            ),
        ];
        for (value, expected) in cases {
            let refused = authenticator.authenticate(&headers(&[value]));
            assert_eq!(refused, Err(expected), "{value}");
        }
        let two = authenticator.authenticate(&headers(&["Bearer a", "Bearer b"]));
        assert_eq!(two, Err(Unauthenticated::Invalid(TokenError::Malformed)));
        assert!(
            Unauthenticated::Invalid(TokenError::Expired)
                .challenge()
                .contains(r#"error="invalid_token""#)
        );
        assert!(!Unauthenticated::Missing.challenge().contains("error="));
    }

    #[test]
    fn disabled_makes_everyone_staff_whatever_they_send() {
        let caller = Authenticator::Disabled.authenticate(&headers(&["Bearer garbage"]));
        assert_eq!(
            caller,
            Ok(Caller::Staff {
                subject: AUTH_DISABLED_SUBJECT.to_owned()
            })
        );
    }
}
