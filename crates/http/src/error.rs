//! The one mapping from what went wrong to an HTTP answer: every failure
//! becomes an RFC 9457 `application/problem+json` body with a stable `code`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use recordshop_domain::StoreError;
use recordshop_domain::customer::CustomerError;
use recordshop_domain::disc::DiscError;
use recordshop_domain::order::{OrderError, PlaceOrderError};
use serde::Serialize;

/// The media type of every error body.
const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

/// One field of a request body that broke its rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, spelled as in the JSON body.
    pub field: &'static str,
    /// What is wrong with it, written for the client.
    pub message: String,
}

/// Every way a request can fail. Each variant has one status and one
/// `code`; the domain's errors are translated by the `From` impls below and
/// nowhere else.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404 `not_found`: an unknown route, or an unknown or malformed id in
    /// the path.
    #[error("{0}")]
    NotFound(String),
    /// 404 `customer_not_found`: the body names a customer that does not exist.
    #[error("{0}")]
    CustomerNotFound(String),
    /// 404 `disc_not_found`: the body names a disc that does not exist.
    #[error("{0}")]
    DiscNotFound(String),
    /// 400 `malformed_request`: not JSON, a wrong JSON type, a bad query
    /// parameter.
    #[error("{0}")]
    Malformed(String),
    /// 405 `method_not_allowed`, with the methods the route does answer.
    #[error("method not allowed")]
    MethodNotAllowed(&'static [Method]),
    /// 413 `payload_too_large`: the body exceeds this many bytes.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 422 `validation_failed`, listing every failing field.
    #[error("{} field(s) failed validation", .0.len())]
    Validation(Vec<FieldError>),
    /// 422 `customer_inactive`: a deactivated customer tried to buy.
    #[error("{0}")]
    CustomerInactive(String),
    /// 409 `out_of_stock`.
    #[error("{0}")]
    OutOfStock(String),
    /// 409 `customer_exists`: the document or email is another customer's.
    #[error("another customer already has this document or email")]
    CustomerExists,
    /// 503 `contention`, 503 `unavailable` or 500 `internal`, by what the
    /// store said.
    #[error(transparent)]
    Store(StoreError),
    /// 500 `internal`: a failure of this layer itself.
    #[error("the HTTP layer failed")]
    Internal(#[source] anyhow::Error),
}

/// The problem document (RFC 9457) plus this API's `code` and `errors`.
#[derive(Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    title: &'static str,
    status: u16,
    detail: String,
    code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    /// The stable `code` clients branch on.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.kind().1
    }

    fn kind(&self) -> (StatusCode, &'static str, &'static str) {
        match self {
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not_found", "Not found"),
            Self::CustomerNotFound(_) => (
                StatusCode::NOT_FOUND,
                "customer_not_found",
                "Customer not found",
            ),
            Self::DiscNotFound(_) => (StatusCode::NOT_FOUND, "disc_not_found", "Disc not found"),
            Self::Malformed(_) => (
                StatusCode::BAD_REQUEST,
                "malformed_request",
                "Malformed request",
            ),
            Self::MethodNotAllowed(_) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "Method not allowed",
            ),
            Self::PayloadTooLarge(_) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "Payload too large",
            ),
            Self::Validation(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                "Validation failed",
            ),
            Self::CustomerInactive(_) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "customer_inactive",
                "Customer inactive",
            ),
            Self::OutOfStock(_) => (StatusCode::CONFLICT, "out_of_stock", "Out of stock"),
            Self::CustomerExists => (StatusCode::CONFLICT, "customer_exists", "Customer exists"),
            Self::Store(StoreError::Conflict) => {
                (StatusCode::SERVICE_UNAVAILABLE, "contention", "Contention")
            }
            Self::Store(StoreError::Unavailable(_)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            ),
            Self::Store(StoreError::Unexpected(_)) | Self::Internal(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "Internal server error",
            ),
        }
    }

    /// What the client reads. Server-side failures get fixed sentences, so
    /// nothing from a driver (SQL, constraint names, hosts) can leak.
    fn detail(&self) -> String {
        match self {
            Self::Store(StoreError::Conflict) => {
                "concurrent requests kept changing the same data; retry shortly".to_owned()
            }
            Self::Store(StoreError::Unavailable(_)) => {
                "the database cannot be reached; retry shortly".to_owned()
            }
            Self::Store(StoreError::Unexpected(_)) | Self::Internal(_) => {
                "an unexpected error occurred; it was logged under this response's X-Request-Id"
                    .to_owned()
            }
            Self::Validation(errors) => {
                format!("the request has {} invalid field(s)", errors.len())
            }
            Self::MethodNotAllowed(methods) => {
                let allowed: Vec<&str> = methods.iter().map(Method::as_str).collect();
                format!("this route answers {}", allowed.join(", "))
            }
            other => other.to_string(),
        }
    }

    /// Seconds a client should wait before retrying, for the 503s. Contention
    /// clears as soon as the competing requests finish; an unreachable
    /// database usually takes longer to come back.
    fn retry_after(&self) -> Option<&'static str> {
        match self {
            Self::Store(StoreError::Conflict) => Some("1"),
            Self::Store(StoreError::Unavailable(_)) => Some("5"),
            _ => None,
        }
    }

    fn log(&self) {
        let (status, code, _) = self.kind();
        match self {
            Self::Store(StoreError::Unexpected(_)) | Self::Internal(_) => {
                tracing::error!(status = status.as_u16(), code, error = %cause_chain(self), "request failed");
            }
            Self::Store(_) => {
                tracing::warn!(status = status.as_u16(), code, error = %cause_chain(self), "request failed");
            }
            // Client errors are routine; their details may quote the
            // client's input, which stays out of the logs.
            _ => tracing::debug!(status = status.as_u16(), code, "request refused"),
        }
    }
}

/// `error` and each of its sources, outermost first, joined by `: `.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.kind().0
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let (status, code, title) = self.kind();
        let problem = Problem {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            detail: self.detail(),
            code,
            errors: match self {
                Self::Validation(errors) => Some(errors),
                _ => None,
            },
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if let Self::MethodNotAllowed(methods) = self {
            response.insert_header(header::Allow(methods.to_vec()));
        }
        match serde_json::to_vec(&problem) {
            Ok(body) => response.body(body),
            // Serialising strings and numbers does not fail; should it ever,
            // the status and code still reach the client.
            Err(_) => response.body(format!(
                r#"{{"status":{},"code":"{code}"}}"#,
                status.as_u16()
            )),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::Store(error)
    }
}

impl From<DiscError> for ApiError {
    fn from(error: DiscError) -> Self {
        match error {
            missing @ DiscError::NotFound(_) => Self::NotFound(missing.to_string()),
            DiscError::Store(error) => Self::Store(error),
        }
    }
}

impl From<CustomerError> for ApiError {
    fn from(error: CustomerError) -> Self {
        match error {
            missing @ CustomerError::NotFound(_) => Self::NotFound(missing.to_string()),
            CustomerError::AlreadyExists => Self::CustomerExists,
            CustomerError::Store(error) => Self::Store(error),
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> Self {
        match error {
            missing @ OrderError::NotFound(_) => Self::NotFound(missing.to_string()),
            OrderError::Store(error) => Self::Store(error),
        }
    }
}

impl From<PlaceOrderError> for ApiError {
    fn from(error: PlaceOrderError) -> Self {
        // The domain's messages already read as the contract wants them
        // ("disc … has 3 units left, 5 requested").
        match error {
            missing @ PlaceOrderError::CustomerNotFound(_) => {
                Self::CustomerNotFound(missing.to_string())
            }
            missing @ PlaceOrderError::DiscNotFound(_) => Self::DiscNotFound(missing.to_string()),
            inactive @ PlaceOrderError::CustomerInactive(_) => {
                Self::CustomerInactive(inactive.to_string())
            }
            short @ PlaceOrderError::OutOfStock { .. } => Self::OutOfStock(short.to_string()),
            PlaceOrderError::Store(error) => Self::Store(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_chain_reaches_the_driver_error_but_the_detail_does_not() {
        let driver =
            anyhow::anyhow!("relation \"discs\" does not exist").context("SELECT * FROM discs");
        let error = ApiError::Store(StoreError::Unexpected(driver));
        let chain = cause_chain(&error);
        assert!(chain.contains("SELECT * FROM discs"), "{chain}");
        assert!(chain.contains("does not exist"), "{chain}");
        assert!(!error.detail().contains("discs"));
        assert_eq!(error.code(), "internal");
    }

    #[test]
    fn store_errors_map_to_their_codes() {
        assert_eq!(ApiError::from(StoreError::Conflict).code(), "contention");
        let down = ApiError::from(StoreError::Unavailable(anyhow::anyhow!("refused")));
        assert_eq!(down.code(), "unavailable");
        assert_eq!(down.retry_after(), Some("5"));
    }
}
