//! The store's readiness, as a port so the HTTP layer can report it without
//! knowing which store it is.

use async_trait::async_trait;

use crate::StoreError;

/// Answers whether the store can serve requests right now.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// Runs the cheapest possible round trip to the store.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the store cannot be reached.
    async fn ping(&self) -> Result<(), StoreError>;
}
