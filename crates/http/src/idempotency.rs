//! The `Idempotency-Key` request header of the creates (`POST /discs`,
//! `POST /customers`, `POST /purchase-orders`) and the `Idempotent-Replayed`
//! answer header.
//!
//! A client unsure whether a create went through sends it again with the
//! same key and gets the first answer again (201, same `Location`, same
//! body), never a second resource. What is remembered, for how long, and how
//! concurrent repeats behave is the domain's rule:
//! [`recordshop_domain::idempotency`]. This module only reads the header,
//! scopes the key to the caller (a key sent by one customer never replays
//! another's answer) and marks replays.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use recordshop_domain::idempotency::{
    Created, IdempotencyKey, IdempotencyRequest, IdempotentError, KeyOwner,
};
use serde::Serialize;

use crate::created;
use crate::credentials::Caller;
use crate::error::ApiError;

/// The request header naming a create's key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Set to `true` on an answer that replays an earlier request's.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// The request's `Idempotency-Key`, if it sent one. The key may be sent bare
/// (`Idempotency-Key: 8e03…`, as most clients do) or as the structured-field
/// string of the IETF draft (`Idempotency-Key: "8e03…"`); both name the
/// same key. An empty, overlong or non-ASCII key, or two of the header,
/// answer 400 before anything is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IdempotencyHeader(pub(crate) Option<IdempotencyKey>);

impl IdempotencyHeader {
    /// What the service needs to make the create happen once for `caller`.
    pub(crate) fn for_caller(self, caller: &Caller) -> Option<IdempotencyRequest> {
        self.0.map(|key| IdempotencyRequest {
            // `anonymous`, `staff:<subject>`, `customer:<id>`.
            owner: KeyOwner::new(caller.to_string()),
            key,
        })
    }
}

fn parse(request: &HttpRequest) -> Result<IdempotencyHeader, ApiError> {
    let mut values = request.headers().get_all(IDEMPOTENCY_KEY);
    let Some(value) = values.next() else {
        return Ok(IdempotencyHeader(None));
    };
    let malformed = |why: &str| ApiError::Malformed(format!("the Idempotency-Key header {why}"));
    if values.next().is_some() {
        return Err(malformed("must be sent once"));
    }
    let text = value
        .to_str()
        .map_err(|_| malformed("may hold only visible ASCII characters"))?;
    let unquoted = text
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text);
    IdempotencyKey::parse(unquoted)
        .map(|key| IdempotencyHeader(Some(key)))
        .map_err(|invalid| malformed(&invalid.to_string()))
}

impl FromRequest for IdempotencyHeader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(parse(request))
    }
}

/// Counts a keyed create's replays and key conflicts
/// (`recordshop_idempotency_replays_total{operation}`,
/// `recordshop_idempotency_key_conflicts_total{operation}`).
pub(crate) fn observe<T, E>(
    operation: &'static str,
    outcome: &Result<Created<T>, IdempotentError<E>>,
) {
    match outcome {
        Ok(created) if created.is_replayed() => {
            metrics::counter!("recordshop_idempotency_replays_total", "operation" => operation)
                .increment(1);
        }
        Err(IdempotentError::IdempotencyKeyReused(_)) => {
            metrics::counter!("recordshop_idempotency_key_conflicts_total", "operation" => operation)
                .increment(1);
        }
        _ => {}
    }
}

/// 201 with `Location` and the resource; a replay says so in
/// `Idempotent-Replayed: true` and is otherwise the same answer.
pub(crate) fn created_once<T>(
    outcome: &Created<T>,
    location: String,
    resource: impl Serialize,
) -> HttpResponse {
    let mut response = created(location, resource);
    if outcome.is_replayed() {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn header_of(request: TestRequest) -> Result<IdempotencyHeader, ApiError> {
        parse(&request.to_http_request())
    }

    #[test]
    fn no_header_means_no_key() {
        assert_eq!(
            header_of(TestRequest::default()).ok(),
            Some(IdempotencyHeader(None))
        );
    }

    #[test]
    fn bare_and_quoted_keys_name_the_same_key() {
        let bare = header_of(TestRequest::default().insert_header((IDEMPOTENCY_KEY, "abc-1")));
        let quoted =
            header_of(TestRequest::default().insert_header((IDEMPOTENCY_KEY, "\"abc-1\"")));
        assert_eq!(bare.ok(), quoted.ok());
    }

    #[test]
    fn empty_spaced_or_repeated_keys_are_malformed() {
        for request in [
            TestRequest::default().insert_header((IDEMPOTENCY_KEY, "")),
            TestRequest::default().insert_header((IDEMPOTENCY_KEY, "\"\"")),
            TestRequest::default().insert_header((IDEMPOTENCY_KEY, "two words")),
            TestRequest::default().insert_header((IDEMPOTENCY_KEY, "k".repeat(256))),
            TestRequest::default()
                .append_header((IDEMPOTENCY_KEY, "a"))
                .append_header((IDEMPOTENCY_KEY, "b")),
        ] {
            assert!(matches!(header_of(request), Err(ApiError::Malformed(_))));
        }
    }

    #[test]
    fn keys_are_scoped_to_their_caller() {
        let header = IdempotencyHeader(IdempotencyKey::parse("k").ok());
        let staff = header.clone().for_caller(&Caller::Staff {
            subject: "ops".to_owned(),
        });
        let anonymous = header.for_caller(&Caller::Anonymous);
        assert_eq!(staff.map(|r| r.owner), Some(KeyOwner::new("staff:ops")));
        assert_eq!(anonymous.map(|r| r.owner), Some(KeyOwner::new("anonymous")));
    }
}
