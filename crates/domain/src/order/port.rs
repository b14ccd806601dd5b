use async_trait::async_trait;

use std::time::Duration;

use super::{
    NewPurchaseOrder, OrderEvent, PlaceOrderError, PurchaseOrder, PurchaseOrderFilter,
    PurchaseOrderId, SalesQuery, SalesWindow,
};
use crate::StoreError;
use crate::idempotency::{Created, IdempotentCreate, IdempotentError};

/// Storage of purchase orders, and the unit of work that places them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PurchaseOrderRepository: Send + Sync + 'static {
    /// Places `order` as one atomic unit of work: the rules of
    /// [`NewPurchaseOrder::check`] against the current customer and disc,
    /// the stock decrement, and the order row with its snapshots all commit
    /// together or not at all.
    ///
    /// A queued store records the order as [`OrderStatus::Pending`]
    /// instead, after the checks it can make without waiting for the disc
    /// (its worker decides later); every other store answers it confirmed.
    ///
    /// [`OrderStatus::Pending`]: super::OrderStatus::Pending
    ///
    /// # Errors
    /// The rule violations of [`NewPurchaseOrder::check`];
    /// [`StoreError::Conflict`] (inside [`PlaceOrderError::Store`]) when a
    /// concurrent unit of work won and nothing was written: the caller may
    /// retry.
    async fn place(&self, order: &NewPurchaseOrder) -> Result<PurchaseOrder, PlaceOrderError>;

    /// Places `order` at most once per owner and key of `once`: claims the
    /// key first, then places as [`place`](Self::place) does and records the
    /// placed order with the key, all in one unit of work. A concurrent
    /// holder of the key is waited for (bounded by the store's timeouts).
    ///
    /// When a live record already holds the key, nothing is placed: the
    /// order as recorded comes back as [`Created::Replayed`] if `once`'s
    /// fingerprint is the record's. A refused purchase records nothing.
    ///
    /// # Errors
    /// [`IdempotentError::IdempotencyKeyReused`] when the record has another
    /// fingerprint; otherwise the errors of [`place`](Self::place), inside
    /// [`IdempotentError::Create`], including [`StoreError::Conflict`] when
    /// the caller may retry (the retry replays if a concurrent holder of the
    /// key won).
    async fn place_once(
        &self,
        order: &NewPurchaseOrder,
        once: &IdempotentCreate,
    ) -> Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>>;

    /// The order with this id.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn get(&self, id: PurchaseOrderId) -> Result<Option<PurchaseOrder>, StoreError>;

    /// One page of matching orders, newest first.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn list(&self, filter: &PurchaseOrderFilter) -> Result<Vec<PurchaseOrder>, StoreError>;

    /// The order with this id once it is no longer pending, or as it is when
    /// `within` has passed; `None` when unknown. Woken by the store's
    /// notification of decisions, not by polling.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn get_decided(
        &self,
        id: PurchaseOrderId,
        within: Duration,
    ) -> Result<Option<PurchaseOrder>, StoreError>;

    /// The order's history, oldest first; empty when the order is unknown.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn events(&self, id: PurchaseOrderId) -> Result<Vec<OrderEvent>, StoreError>;

    /// Cancels a confirmed order and returns its units to the disc's stock
    /// in the same unit of work. An order that is not confirmed (canceled,
    /// pending, rejected) is returned as it is, and nothing changes. `None`
    /// when the order is unknown.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a concurrent unit of work won; the
    /// caller may retry.
    async fn cancel(&self, id: PurchaseOrderId) -> Result<Option<PurchaseOrder>, StoreError>;

    /// One page of the sales report `query` asks for: per disc and bucket,
    /// newest bucket first, then by disc id.
    ///
    /// # Errors
    /// [`StoreError`] only.
    async fn sales(&self, query: &SalesQuery) -> Result<Vec<SalesWindow>, StoreError>;
}
