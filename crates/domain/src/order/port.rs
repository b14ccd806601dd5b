use async_trait::async_trait;

use super::{
    NewPurchaseOrder, PlaceOrderError, PurchaseOrder, PurchaseOrderFilter, PurchaseOrderId,
};
use crate::StoreError;

/// Storage of purchase orders, and the unit of work that places them.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait PurchaseOrderRepository: Send + Sync + 'static {
    /// Places `order` as one atomic unit of work: the rules of
    /// [`NewPurchaseOrder::check`] against the current customer and disc,
    /// the stock decrement, and the order row with its snapshots all commit
    /// together or not at all.
    ///
    /// # Errors
    /// The rule violations of [`NewPurchaseOrder::check`];
    /// [`StoreError::Conflict`] (inside [`PlaceOrderError::Store`]) when a
    /// concurrent unit of work won and nothing was written: the caller may
    /// retry.
    async fn place(&self, order: &NewPurchaseOrder) -> Result<PurchaseOrder, PlaceOrderError>;

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

    /// Cancels a confirmed order and returns its units to the disc's stock
    /// in the same unit of work. An order already canceled is returned as it
    /// is and restocks nothing. `None` when the order is unknown.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when a concurrent unit of work won; the
    /// caller may retry.
    async fn cancel(&self, id: PurchaseOrderId) -> Result<Option<PurchaseOrder>, StoreError>;
}
