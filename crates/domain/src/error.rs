//! Errors shared by every service.

/// Why a raw value could not become a domain value. The message is written
/// for the client ("must be 1 to 200 characters"); the caller knows which
/// field it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidValue(pub String);

impl InvalidValue {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// What can go wrong in storage, independent of the operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store cannot be reached (no connection within the pool's wait,
    /// connection refused, server shutting down). Worth retrying later.
    #[error("the store is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The store aborted a unit of work because a concurrent one changed the
    /// same rows (serialization failure or deadlock). Services retry these
    /// within their [`RetryPolicy`](crate::RetryPolicy); a caller sees it only
    /// once the policy is exhausted.
    #[error("the unit of work lost a race with a concurrent one")]
    Conflict,
    /// Anything else: a bug or a broken invariant. Never shown to clients.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}
