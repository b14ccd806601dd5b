use async_trait::async_trait;

use super::{Disc, DiscFilter, DiscId, DiscPatch, NewDisc};
use crate::StoreError;
use crate::idempotency::{Created, IdempotentCreate, IdempotentError};

/// Storage of the catalog. Deleted discs are invisible to every method.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait DiscRepository: Send + Sync + 'static {
    /// Stores a new disc and records its initial stock.
    ///
    /// # Errors
    /// [`StoreError`] only; a new id never collides.
    async fn insert(&self, disc: &NewDisc) -> Result<Disc, StoreError>;

    /// Stores `disc` at most once per owner and key of `once`: claims the
    /// key, inserts as [`insert`](Self::insert) does and records the disc
    /// with the key, in one unit of work. A concurrent holder of the key is
    /// waited for (bounded by the store's timeouts).
    ///
    /// When a live record already holds the key, nothing is inserted: the
    /// disc as recorded comes back as [`Created::Replayed`] if `once`'s
    /// fingerprint is the record's.
    ///
    /// # Errors
    /// [`IdempotentError::IdempotencyKeyReused`] when the record has another
    /// fingerprint; otherwise [`StoreError`] inside
    /// [`IdempotentError::Create`].
    async fn insert_once(
        &self,
        disc: &NewDisc,
        once: &IdempotentCreate,
    ) -> Result<Created<Disc>, IdempotentError<StoreError>>;

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
