use async_trait::async_trait;

use super::{Disc, DiscFilter, DiscId, DiscPatch, NewDisc};
use crate::StoreError;

/// Storage of the catalog. Deleted discs are invisible to every method.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DiscRepository: Send + Sync + 'static {
    /// Stores a new disc and records its initial stock.
    ///
    /// # Errors
    /// [`StoreError`] only; a new id never collides.
    async fn insert(&self, disc: &NewDisc) -> Result<Disc, StoreError>;

    /// The disc with this id, unless it is unknown or deleted.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn get(&self, id: DiscId) -> Result<Option<Disc>, StoreError>;

    /// One page of the discs that match `filter`, ordered by name then id.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn list(&self, filter: &DiscFilter) -> Result<Vec<Disc>, StoreError>;

    /// Applies `patch` and returns the updated disc, or `None` when the disc
    /// is unknown or deleted. A new quantity is applied in one unit of work
    /// with recording the adjustment, serialised with purchases.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a concurrent purchase or update won the
    /// race (the optimistic strategy); the caller may retry.
    async fn update(&self, id: DiscId, patch: &DiscPatch) -> Result<Option<Disc>, StoreError>;

    /// Removes the disc from the catalog, keeping its row for the orders
    /// that refer to it. Returns `false` when it was unknown or already
    /// deleted.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn delete(&self, id: DiscId) -> Result<bool, StoreError>;
}
