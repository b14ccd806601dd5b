//! The errors of catalog operations, shared by the service and the
//! repository port.

use super::DiscId;
use crate::StoreError;
use crate::retry::MaybeConflict;

/// What can go wrong with a disc that exists or should.
#[derive(Debug, thiserror::Error)]
pub enum DiscError {
    #[error("disc {0} not found")]
    NotFound(DiscId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MaybeConflict for DiscError {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_conflict())
    }
}
