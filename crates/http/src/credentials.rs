//! What a request's credentials say about who is calling: the bearer
//! token in `Authorization`, checked against the server's keys, or nothing
//! at all (anonymous). Refusals carry their `WWW-Authenticate` challenge;
//! how they are answered is `error.rs`'s business, and where they are
//! checked is `auth`'s.

use actix_web::http::header::{self, HeaderMap};
use recordshop_auth::{Principal, TokenError, TokenKeys};
use recordshop_domain::customer::CustomerId;

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
