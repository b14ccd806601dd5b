//! JSON at the edge: how request bodies are read and how instants are
//! written.

use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, PayloadError};
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, SecondsFormat, Utc};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Largest request body accepted, in bytes; larger ones answer 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The body extractor's configuration: the size limit, no Content-Type
/// requirement (curl's `--data` sends a form type and must still work), and
/// problem+json errors.
pub(crate) fn config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(BODY_LIMIT)
        .content_type_required(false)
        .error_handler(|error, _request| ApiError::from(error).into())
}

impl From<JsonPayloadError> for ApiError {
    fn from(error: JsonPayloadError) -> Self {
        match error {
            JsonPayloadError::Overflow { .. }
            | JsonPayloadError::OverflowKnownLength { .. }
            | JsonPayloadError::Payload(PayloadError::Overflow) => {
                Self::PayloadTooLarge(BODY_LIMIT)
            }
            JsonPayloadError::Deserialize(error) => {
                Self::Malformed(format!("the body is not valid JSON: {error}"))
            }
            JsonPayloadError::Payload(error) => {
                Self::Malformed(format!("the body could not be read: {error}"))
            }
            JsonPayloadError::Serialize(error) => Self::Internal(error.into()),
            other => Self::Malformed(other.to_string()),
        }
    }
}

/// A request body that must be a JSON object, deserialised into `T`.
///
/// Read as a JSON value first so that a body that is valid JSON but not an
/// object (`[]`, `"x"`, `42`) is refused as malformed rather than matched
/// positionally against `T`'s fields, which serde would otherwise allow for
/// arrays.
pub(crate) struct JsonObject<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(request, payload);
        Box::pin(async move {
            let web::Json(value) = value.await?;
            if !value.is_object() {
                return Err(
                    ApiError::Malformed("the body must be a JSON object".to_owned()).into(),
                );
            }
            serde_json::from_value(value)
                .map(JsonObject)
                .map_err(|error| {
                    ApiError::Malformed(format!("the body does not fit this route: {error}")).into()
                })
        })
    }
}

/// An instant as the contract writes it: RFC 3339, UTC, milliseconds, `Z`.
pub(crate) fn timestamp(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamps_have_milliseconds_and_z() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 22, 10, 15, 30)
            .single()
            .unwrap()
            + chrono::Duration::microseconds(123_456);
        assert_eq!(timestamp(&at), "2026-11-22T10:15:30.123Z");
    }
}
