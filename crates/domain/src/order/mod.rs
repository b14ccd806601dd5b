//! Purchase orders: the reason the shop exists.
//!
//! Placing an order is one unit of work in the store: check the customer,
//! check and decrement the stock, insert the order. How that unit of work is
//! made safe against concurrent buyers (row locks, optimistic retries, one
//! statement, batching) is the store adapter's concurrency strategy, chosen
//! at start; the rules themselves live here, in [`NewPurchaseOrder::check`].

pub mod breaker;
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
pub use values::{OrderQuantity, OrderStatus, RejectionReason};

/// A purchase of some units of one disc by one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurchaseOrder {
    pub id: PurchaseOrderId,
    pub customer_id: CustomerId,
    pub disc_id: DiscId,
    pub quantity: OrderQuantity,
    pub status: OrderStatus,
    /// Set exactly when the order is [`OrderStatus::Rejected`].
    pub rejection_reason: Option<RejectionReason>,
    pub created_at: DateTime<Utc>,
    /// When the order left `pending`; `None` while pending. Orders placed
    /// synchronously are decided when they are created.
    pub decided_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    /// The customer as they were when the order was placed.
    pub customer: Customer,
    /// The disc as it was right after this sale (its stock included); for
    /// an order not confirmed (pending, rejected), as it was when the order
    /// arrived.
    pub disc: Disc,
}

impl PurchaseOrder {
    /// The order as a purchase's outcome: a rejected order is the refusal
    /// its reason names; any other order is itself (pending, confirmed, or
    /// since canceled).
    ///
    /// # Errors
    /// [`PlaceOrderError::Rejected`] when the order was rejected.
    pub fn into_outcome(self) -> Result<Self, PlaceOrderError> {
        match (self.status, self.rejection_reason) {
            (OrderStatus::Rejected, Some(reason)) => Err(PlaceOrderError::Rejected {
                order_id: self.id,
                reason,
            }),
            _ => Ok(self),
        }
    }
}

/// One status change of an order, as its history and the event relay keep
/// it: the order entered `status` at `occurred_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderEvent {
    /// Increasing in the order the events were recorded; stable, so a
    /// consumer of the broker's copies deduplicates by it.
    pub id: i64,
    pub order_id: PurchaseOrderId,
    pub status: OrderStatus,
    pub rejection_reason: Option<RejectionReason>,
    pub occurred_at: DateTime<Utc>,
}

impl OrderEvent {
    /// The event's type as the history and the broker's routing keys spell
    /// it: `order.` and the status entered (`order.confirmed`).
    #[must_use]
    pub fn kind(&self) -> String {
        format!("order.{}", self.status)
    }
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
