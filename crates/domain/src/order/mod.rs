//! Purchase orders: the reason the shop exists.
//!
//! Placing an order is one unit of work in the store: check the customer,
//! check and decrement the stock, insert the order. How that unit of work is
//! made safe against concurrent buyers (row locks, optimistic retries, one
//! statement, batching) is the store adapter's concurrency strategy, chosen
//! at start; the rules themselves live here, in [`NewPurchaseOrder::check`].

mod error;
mod port;
mod sales;
mod service;
mod values;

use chrono::{DateTime, Utc};

use crate::Page;
use crate::customer::{Customer, CustomerId};
use crate::disc::{Disc, DiscId, StockQuantity};
pub use crate::id::PurchaseOrderId;
use crate::idempotency::{Canonical, Fingerprint};
pub use error::{OrderError, PlaceOrderError};
#[cfg(any(test, feature = "mocks"))]
pub use port::MockPurchaseOrderRepository;
pub use port::PurchaseOrderRepository;
pub use sales::{SalesBucket, SalesQuery, SalesWindow};
pub use service::PurchaseOrderService;
pub use values::{OrderQuantity, OrderStatus};

/// A purchase of some units of one disc by one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseOrder {
    pub id: PurchaseOrderId,
    pub customer_id: CustomerId,
    pub disc_id: DiscId,
    pub quantity: OrderQuantity,
    pub status: OrderStatus,
    pub created_at: DateTime<Utc>,
    pub canceled_at: Option<DateTime<Utc>>,
    /// The customer as they were when the order was placed.
    pub customer: Customer,
    /// The disc as it was right after this sale (its stock included).
    pub disc: Disc,
}

/// A purchase about to be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPurchaseOrder {
    pub id: PurchaseOrderId,
    pub customer_id: CustomerId,
    pub disc_id: DiscId,
    pub quantity: OrderQuantity,
}

impl NewPurchaseOrder {
    /// What the purchase asks for: customer, disc and quantity. Not the
    /// order id, which each request generates anew.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        Canonical::new("purchase_order")
            .field("customer_id", self.customer_id)
            .field("disc_id", self.disc_id)
            .field("quantity", self.quantity.get())
            .fingerprint()
    }

    /// Decides whether this purchase may go ahead, given the customer and the
    /// disc as the placing unit of work sees them (`None`: not found, or the
    /// disc is deleted). Returns the disc's stock after the sale.
    ///
    /// Stores call this between reading (or locking) the disc and writing,
    /// so the decision and the write see the same state.
    ///
    /// # Errors
    /// [`PlaceOrderError::CustomerNotFound`], [`PlaceOrderError::CustomerInactive`],
    /// [`PlaceOrderError::DiscNotFound`] or [`PlaceOrderError::OutOfStock`],
    /// checked in that order.
    pub fn check(
        &self,
        customer: Option<&Customer>,
        disc: Option<&Disc>,
    ) -> Result<StockQuantity, PlaceOrderError> {
        let customer = customer.ok_or(PlaceOrderError::CustomerNotFound(self.customer_id))?;
        if !customer.is_active {
            return Err(PlaceOrderError::CustomerInactive(self.customer_id));
        }
        let disc = disc.ok_or(PlaceOrderError::DiscNotFound(self.disc_id))?;
        disc.quantity
            .checked_sell(self.quantity)
            .ok_or(PlaceOrderError::OutOfStock {
                disc_id: self.disc_id,
                available: disc.quantity.get(),
                requested: self.quantity.get(),
            })
    }
}

/// Which orders a listing returns; set filters combine with AND.
/// Results are newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurchaseOrderFilter {
    pub customer_id: Option<CustomerId>,
    pub disc_id: Option<DiscId>,
    pub status: Option<OrderStatus>,
    /// Placed at or after this instant.
    pub from: Option<DateTime<Utc>>,
    /// Placed at or before this instant.
    pub to: Option<DateTime<Utc>>,
    pub page: Page,
}
