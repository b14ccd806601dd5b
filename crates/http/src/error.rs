//! The one mapping from what went wrong to an HTTP answer: every failure
//! becomes an RFC 9457 `application/problem+json` body with a stable `code`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use recordshop_domain::StoreError;
use recordshop_domain::customer::CustomerError;
use recordshop_domain::disc::DiscError;
use recordshop_domain::idempotency::IdempotentError;
use recordshop_domain::order::{OrderError, PlaceOrderError, RejectionReason};
use serde::Serialize;
use utoipa::ToSchema;

use crate::credentials::Unauthenticated;

/// The media type of every error body.
const PROBLEM_JSON: HeaderValue = HeaderValue::from_static("application/problem+json");

/// One field of a request body that broke its rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// The field, spelled as in the JSON body.
    #[schema(example = "quantity")]
    pub field: &'static str,
    /// What is wrong with it, written for the client.
    #[schema(example = "must be from 1 to 2147483647")]
    pub message: String,
}

/// The stable `code` of a problem: what clients branch on. Each code has
/// one status and one title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    /// 404: an unknown route, or an unknown or malformed id in the path.
    NotFound,
    /// 404: the body names a customer that does not exist.
    CustomerNotFound,
    /// 404: the body names a disc that does not exist.
    DiscNotFound,
    /// 400: not JSON, a wrong JSON type, a bad query parameter.
    MalformedRequest,
    /// 401: no bearer token where one is needed, or one that is invalid
    /// or expired; `WWW-Authenticate` says which.
    Unauthenticated,
    /// 403: the token is valid but its role or subject does not allow this.
    Forbidden,
    /// 405: the route exists but does not answer this method.
    MethodNotAllowed,
    /// 413: the body is over the size limit.
    PayloadTooLarge,
    /// 415: the body is compressed (`Content-Encoding`); bodies are taken
    /// as sent only.
    UnsupportedEncoding,
    /// 422: fields broke their rules; `errors` lists each.
    ValidationFailed,
    /// 422: a deactivated customer tried to buy.
    CustomerInactive,
    /// 422: the `Idempotency-Key` was already used with a different request.
    IdempotencyKeyReused,
    /// 409: a purchase asked for more than the remaining stock.
    OutOfStock,
    /// 409: another customer already has this document or email.
    CustomerExists,
    /// 409: only a confirmed order can be canceled (this one is pending or
    /// rejected).
    OrderNotCancelable,
    /// 503: concurrent requests kept conflicting past the retry budget.
    Contention,
    /// 503: the database cannot be reached.
    Unavailable,
    /// 503: more purchases are in flight than this server admits; retry
    /// after `Retry-After`.
    Overloaded,
    /// 500: a bug; the detail says nothing more.
    Internal,
}

impl ProblemCode {
    /// Every code, in the order the contract's table lists them.
    pub const ALL: [Self; 19] = [
        Self::MalformedRequest,
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::CustomerNotFound,
        Self::DiscNotFound,
        Self::MethodNotAllowed,
        Self::OutOfStock,
        Self::CustomerExists,
        Self::OrderNotCancelable,
        Self::PayloadTooLarge,
        Self::UnsupportedEncoding,
        Self::ValidationFailed,
        Self::CustomerInactive,
        Self::IdempotencyKeyReused,
        Self::Contention,
        Self::Unavailable,
        Self::Overloaded,
        Self::Internal,
    ];

    /// The code as it appears in problem bodies.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::CustomerNotFound => "customer_not_found",
            Self::DiscNotFound => "disc_not_found",
            Self::MalformedRequest => "malformed_request",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedEncoding => "unsupported_encoding",
            Self::ValidationFailed => "validation_failed",
            Self::CustomerInactive => "customer_inactive",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::OutOfStock => "out_of_stock",
            Self::CustomerExists => "customer_exists",
            Self::OrderNotCancelable => "order_not_cancelable",
            Self::Contention => "contention",
            Self::Unavailable => "unavailable",
            Self::Overloaded => "overloaded",
            Self::Internal => "internal",
        }
    }

    /// The HTTP status every problem with this code answers.
    #[must_use]
    pub const fn status(self) -> StatusCode {
        match self {
            Self::NotFound | Self::CustomerNotFound | Self::DiscNotFound => StatusCode::NOT_FOUND,
            Self::MalformedRequest => StatusCode::BAD_REQUEST,
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedEncoding => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::ValidationFailed | Self::CustomerInactive | Self::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::OutOfStock | Self::CustomerExists | Self::OrderNotCancelable => {
                StatusCode::CONFLICT
            }
            Self::Contention | Self::Unavailable | Self::Overloaded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem's `title`: short, fixed per code.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Self::NotFound => "Not found",
            Self::CustomerNotFound => "Customer not found",
            Self::DiscNotFound => "Disc not found",
            Self::MalformedRequest => "Malformed request",
            Self::Unauthenticated => "Unauthenticated",
            Self::Forbidden => "Forbidden",
            Self::MethodNotAllowed => "Method not allowed",
            Self::PayloadTooLarge => "Payload too large",
            Self::UnsupportedEncoding => "Unsupported content encoding",
            Self::ValidationFailed => "Validation failed",
            Self::CustomerInactive => "Customer inactive",
            Self::IdempotencyKeyReused => "Idempotency key reused",
            Self::OutOfStock => "Out of stock",
            Self::CustomerExists => "Customer exists",
            Self::OrderNotCancelable => "Order not cancelable",
            Self::Contention => "Contention",
            Self::Unavailable => "Service unavailable",
            Self::Overloaded => "Overloaded",
            Self::Internal => "Internal server error",
        }
    }
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
    /// 401 `unauthenticated`, with a `WWW-Authenticate` challenge.
    #[error(transparent)]
    Unauthenticated(#[from] Unauthenticated),
    /// 403 `forbidden`: the caller's role or subject does not allow this.
    #[error("{0}")]
    Forbidden(String),
    /// 405 `method_not_allowed`, with the methods the route does answer.
    #[error("method not allowed")]
    MethodNotAllowed(&'static [Method]),
    /// 413 `payload_too_large`: the body exceeds this many bytes.
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    /// 415 `unsupported_encoding`: the body is sent with this
    /// `Content-Encoding`.
    #[error(
        "request bodies are accepted uncompressed only; this one has Content-Encoding {0:?} \
         (send it without compression)"
    )]
    UnsupportedEncoding(String),
    /// 422 `validation_failed`, listing every failing field.
    #[error("{} field(s) failed validation", .0.len())]
    Validation(Vec<FieldError>),
    /// 422 `customer_inactive`: a deactivated customer tried to buy.
    #[error("{0}")]
    CustomerInactive(String),
    /// 422 `idempotency_key_reused`: the key names an earlier, different
    /// request.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// 409 `out_of_stock`.
    #[error("{0}")]
    OutOfStock(String),
    /// 409 `customer_exists`: the document or email is another customer's.
    #[error("another customer already has this document or email")]
    CustomerExists,
    /// 409 `order_not_cancelable`.
    #[error("{0}")]
    OrderNotCancelable(String),
    /// 503 `overloaded`: admission control refused the purchase.
    #[error(transparent)]
    Overloaded(#[from] crate::admission::Overloaded),
    /// 503 `contention`, 503 `unavailable` or 500 `internal`, by what the
    /// store said.
    #[error(transparent)]
    Store(StoreError),
    /// 500 `internal`: a failure of this layer itself.
    #[error("the HTTP layer failed")]
    Internal(#[source] anyhow::Error),
}

/// An error body: an RFC 9457 problem document plus this API's `code`, and
/// `errors` for `validation_failed`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    description = "An error (RFC 9457 problem details, `application/problem+json`). \
                   Branch on `code`, not on `title` or `detail`."
)]
pub(crate) struct Problem<'a> {
    /// Always `about:blank`: `code` says what happened.
    #[serde(rename = "type")]
    #[schema(example = "about:blank")]
    kind: &'static str,
    /// Short and fixed per code.
    #[schema(example = "Out of stock")]
    title: &'static str,
    /// The HTTP status, repeated.
    #[schema(example = 409)]
    status: u16,
    /// What went wrong this time, for a person.
    #[schema(example = "disc bcd8a0e9-dc0a-4ae7-a783-458542e2cc39 has 3 units left, 5 requested")]
    detail: String,
    code: ProblemCode,
    /// Every failing field; only with `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<FieldError>>, nullable = false)]
    errors: Option<&'a [FieldError]>,
}

impl ApiError {
    /// The stable `code` clients branch on.
    #[must_use]
    pub fn code(&self) -> &'static str {
        self.problem_code().as_str()
    }

    /// The problem this error answers as.
    #[must_use]
    pub fn problem_code(&self) -> ProblemCode {
        match self {
            Self::NotFound(_) => ProblemCode::NotFound,
            Self::CustomerNotFound(_) => ProblemCode::CustomerNotFound,
            Self::DiscNotFound(_) => ProblemCode::DiscNotFound,
            Self::Malformed(_) => ProblemCode::MalformedRequest,
            Self::Unauthenticated(_) => ProblemCode::Unauthenticated,
            Self::Forbidden(_) => ProblemCode::Forbidden,
            Self::MethodNotAllowed(_) => ProblemCode::MethodNotAllowed,
            Self::PayloadTooLarge(_) => ProblemCode::PayloadTooLarge,
            Self::UnsupportedEncoding(_) => ProblemCode::UnsupportedEncoding,
            Self::Validation(_) => ProblemCode::ValidationFailed,
            Self::CustomerInactive(_) => ProblemCode::CustomerInactive,
            Self::IdempotencyKeyReused(_) => ProblemCode::IdempotencyKeyReused,
            Self::OutOfStock(_) => ProblemCode::OutOfStock,
            Self::CustomerExists => ProblemCode::CustomerExists,
            Self::OrderNotCancelable(_) => ProblemCode::OrderNotCancelable,
            Self::Overloaded(_) => ProblemCode::Overloaded,
            Self::Store(StoreError::Conflict) => ProblemCode::Contention,
            Self::Store(StoreError::Unavailable(_)) => ProblemCode::Unavailable,
            Self::Store(StoreError::Unexpected(_)) | Self::Internal(_) => ProblemCode::Internal,
        }
    }

    /// The body clients receive for this error.
    pub(crate) fn problem(&self) -> Problem<'_> {
        let code = self.problem_code();
        Problem {
            kind: "about:blank",
            title: code.title(),
            status: code.status().as_u16(),
            detail: self.detail(),
            code,
            errors: match self {
                Self::Validation(errors) => Some(errors),
                _ => None,
            },
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
                let allowed: Vec<String> =
                    with_head(methods).iter().map(ToString::to_string).collect();
                format!("this route answers {}", allowed.join(", "))
            }
            other => other.to_string(),
        }
    }

    /// Seconds a client should wait before retrying, for the 503s. Contention
    /// clears as soon as the competing requests finish; an unreachable
    /// database usually takes longer to come back.
    pub(crate) fn retry_after(&self) -> Option<&'static str> {
        match self {
            Self::Store(StoreError::Conflict) | Self::Overloaded(_) => Some("1"),
            Self::Store(StoreError::Unavailable(_)) => Some("5"),
            _ => None,
        }
    }

    fn log(&self) {
        let code = self.code();
        let status = self.problem_code().status();
        match self {
            Self::Store(StoreError::Unexpected(_)) | Self::Internal(_) => {
                tracing::error!(status = status.as_u16(), code, error = %cause_chain(self), "request failed");
            }
            Self::Store(_) => {
                tracing::warn!(status = status.as_u16(), code, error = %cause_chain(self), "request failed");
            }
            // Client errors are routine, and so is shedding under overload
            // (thousands a second would drown the log; the metrics count
            // them); client details may quote the client's input, which
            // stays out of the logs.
            _ => tracing::debug!(status = status.as_u16(), code, "request refused"),
        }
    }
}

/// `methods`, and HEAD after GET: every GET route answers HEAD too (see
/// `head.rs`).
fn with_head(methods: &[Method]) -> Vec<Method> {
    let mut allowed = methods.to_vec();
    if allowed.contains(&Method::GET) && !allowed.contains(&Method::HEAD) {
        allowed.push(Method::HEAD);
    }
    allowed
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
        self.problem_code().status()
    }

    fn error_response(&self) -> HttpResponse {
        self.log();
        let problem = self.problem();
        let status = self.status_code();
        let code = problem.code.as_str();
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, PROBLEM_JSON));
        if let Some(seconds) = self.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        if let Self::MethodNotAllowed(methods) = self {
            response.insert_header(header::Allow(with_head(methods)));
        }
        if let Self::Unauthenticated(refusal) = self {
            response.insert_header((header::WWW_AUTHENTICATE, refusal.challenge()));
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
            undecided @ OrderError::NotCancelable { .. } => {
                Self::OrderNotCancelable(undecided.to_string())
            }
            OrderError::Store(error) => Self::Store(error),
        }
    }
}

/// A keyed create: its own errors as without a key, plus the key reused.
impl<E> From<IdempotentError<E>> for ApiError
where
    ApiError: From<E>,
{
    fn from(error: IdempotentError<E>) -> Self {
        match error {
            IdempotentError::IdempotencyKeyReused(key) => Self::IdempotencyKeyReused(format!(
                "idempotency key {key} was used with a different request"
            )),
            IdempotentError::Create(error) => error.into(),
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
            // A queued order's refusal answers as the same refusal would
            // have synchronously; its detail names the order.
            rejected @ PlaceOrderError::Rejected { reason, .. } => {
                let detail = rejected.to_string();
                match reason {
                    RejectionReason::CustomerNotFound => Self::CustomerNotFound(detail),
                    RejectionReason::CustomerInactive => Self::CustomerInactive(detail),
                    RejectionReason::DiscNotFound => Self::DiscNotFound(detail),
                    RejectionReason::OutOfStock => Self::OutOfStock(detail),
                    // The dead letter: the failure is ours, and was logged.
                    RejectionReason::AllocationFailed => {
                        Self::Store(StoreError::Unexpected(anyhow::anyhow!(detail)))
                    }
                }
            }
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
