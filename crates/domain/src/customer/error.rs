//! The errors of customer operations, shared by the service and the
//! repository port.

use super::CustomerId;
use crate::StoreError;
use crate::idempotency::IdempotentError;

/// What can go wrong with a customer.
#[derive(Debug, thiserror::Error)]
pub enum CustomerError {
    #[error("customer {0} not found")]
    NotFound(CustomerId),
    /// Another customer already has this document or email.
    #[error("another customer already has this document or email")]
    AlreadyExists,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// So a keyed registration can use `?` on storage steps.
impl From<StoreError> for IdempotentError<CustomerError> {
    fn from(error: StoreError) -> Self {
        Self::Create(error.into())
    }
}
