//! The errors of purchase-order operations, shared by the service and the
//! repository port.

use super::{OrderStatus, PurchaseOrderId, RejectionReason};
use crate::StoreError;
use crate::customer::CustomerId;
use crate::disc::DiscId;
use crate::idempotency::IdempotentError;
use crate::retry::MaybeConflict;

/// Why an order could not be placed.
#[derive(Debug, thiserror::Error)]
pub enum PlaceOrderError {
    #[error("customer {0} not found")]
    CustomerNotFound(CustomerId),
    #[error("customer {0} is inactive and cannot buy")]
    CustomerInactive(CustomerId),
    #[error("disc {0} not found")]
    DiscNotFound(DiscId),
    #[error("disc {disc_id} has {available} units left, {requested} requested")]
    OutOfStock {
        disc_id: DiscId,
        available: i64,
        requested: i32,
    },
    /// A queued order its allocation worker rejected: the outcome, once
    /// known, of a purchase that was accepted as pending.
    #[error("purchase order {order_id} was rejected: {reason}")]
    Rejected {
        order_id: PurchaseOrderId,
        reason: RejectionReason,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MaybeConflict for PlaceOrderError {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_conflict())
    }
}

/// So a keyed placing can use `?` on storage steps.
impl From<StoreError> for IdempotentError<PlaceOrderError> {
    fn from(error: StoreError) -> Self {
        Self::Create(error.into())
    }
}

/// What can go wrong with an order that exists or should.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    #[error("purchase order {0} not found")]
    NotFound(PurchaseOrderId),
    /// Only a confirmed order can be canceled.
    #[error("purchase order {id} is {status}; only a confirmed order can be canceled")]
    NotCancelable {
        id: PurchaseOrderId,
        status: OrderStatus,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl MaybeConflict for OrderError {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_conflict())
    }
}
