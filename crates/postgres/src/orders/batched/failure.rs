//! A batch that fails as a whole fails every purchase in it, each with its
//! own copy of the one error.

use std::fmt;
use std::sync::Arc;

use recordshop_domain::StoreError;

use super::purchase::Purchase;

/// Sends a copy of `error` to every purchase: the batch failed as a whole,
/// so each request gets the same store error (a `Conflict` lets the domain
/// service retry it, in a later batch).
pub(super) fn fail_all(batch: Vec<Purchase>, error: StoreError) {
    tracing::warn!(error = %format_args!("{error:#}"), size = batch.len(), "a batch failed");
    let shared = SharedError::from(error);
    for purchase in batch {
        purchase.answer(Err(shared.to_store_error().into()));
    }
}

/// A [`StoreError`] that can be handed to every request of a batch: the
/// cause is shared, so each copy keeps the whole chain for the logs.
enum SharedError {
    Unavailable(SharedCause),
    Conflict,
    Unexpected(SharedCause),
}

impl From<StoreError> for SharedError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => Self::Unavailable(SharedCause(Arc::new(cause))),
            StoreError::Conflict => Self::Conflict,
            StoreError::Unexpected(cause) => Self::Unexpected(SharedCause(Arc::new(cause))),
        }
    }
}

impl SharedError {
    fn to_store_error(&self) -> StoreError {
        match self {
            Self::Unavailable(cause) => StoreError::Unavailable(cause.clone().into()),
            Self::Conflict => StoreError::Conflict,
            Self::Unexpected(cause) => StoreError::Unexpected(cause.clone().into()),
        }
    }
}

/// One cause, shared by the copies of a batch's error.
#[derive(Debug, Clone)]
struct SharedCause(Arc<anyhow::Error>);

impl fmt::Display for SharedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl std::error::Error for SharedCause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}
