use std::fmt;
use std::str::FromStr;

use super::PlaceOrderError;
use crate::InvalidValue;

/// Units bought in one order: 1 to 2,147,483,647.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct OrderQuantity(i32);

impl OrderQuantity {
    /// Accepts a positive amount that fits the order's column.
    ///
    /// # Errors
    /// [`InvalidValue`] when below 1 or above `i32::MAX`.
    pub fn parse(units: i64) -> Result<Self, InvalidValue> {
        match i32::try_from(units) {
            Ok(units) if units >= 1 => Ok(Self(units)),
            _ => Err(InvalidValue::new(format!("must be from 1 to {}", i32::MAX))),
        }
    }

    /// The number of units.
    #[must_use]
    pub const fn get(self) -> i32 {
        self.0
    }
}

/// Where an order stands: `pending` → `confirmed` | `rejected`, and
/// `confirmed` → `canceled`. The synchronous strategies place orders
/// `confirmed` at once; only the queued intake records them `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Recorded, waiting for an allocation worker: no units left the stock.
    Pending,
    /// Placed: its units left the stock.
    Confirmed,
    /// Refused by the allocation worker (see [`RejectionReason`]): no units
    /// left the stock. Final.
    Rejected,
    /// Canceled: its units went back to the stock. Final.
    Canceled,
}

impl OrderStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Confirmed,
        Self::Rejected,
        Self::Canceled,
    ];

    /// The status as the contract and the store spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Rejected => "rejected",
            Self::Canceled => "canceled",
        }
    }

    /// Whether the order's outcome is known (it is no longer pending).
    #[must_use]
    pub const fn is_decided(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderStatus {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| InvalidValue::new("must be pending, confirmed, rejected or canceled"))
    }
}

/// Why a pending order was rejected: the rule it failed when its turn came,
/// or the dead letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionReason {
    CustomerNotFound,
    CustomerInactive,
    DiscNotFound,
    OutOfStock,
    /// The dead letter: allocating the order failed repeatedly for a reason
    /// that is not a rule (see the allocation workers). Staff find these
    /// with `status=rejected`; nothing was sold.
    AllocationFailed,
}

impl RejectionReason {
    /// Every reason.
    pub const ALL: [Self; 5] = [
        Self::CustomerNotFound,
        Self::CustomerInactive,
        Self::DiscNotFound,
        Self::OutOfStock,
        Self::AllocationFailed,
    ];

    /// The reason as the contract and the store spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CustomerNotFound => "customer_not_found",
            Self::CustomerInactive => "customer_inactive",
            Self::DiscNotFound => "disc_not_found",
            Self::OutOfStock => "out_of_stock",
            Self::AllocationFailed => "allocation_failed",
        }
    }

    /// The reason a refusal of the placing rules gives; `None` for a store
    /// failure, which is not a rule.
    #[must_use]
    pub fn of(refusal: &PlaceOrderError) -> Option<Self> {
        match refusal {
            PlaceOrderError::CustomerNotFound(_) => Some(Self::CustomerNotFound),
            PlaceOrderError::CustomerInactive(_) => Some(Self::CustomerInactive),
            PlaceOrderError::DiscNotFound(_) => Some(Self::DiscNotFound),
            PlaceOrderError::OutOfStock { .. } => Some(Self::OutOfStock),
            PlaceOrderError::Rejected { reason, .. } => Some(*reason),
            PlaceOrderError::Store(_) => None,
        }
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RejectionReason {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|reason| reason.as_str() == raw)
            .ok_or_else(|| InvalidValue::new("is not a rejection reason"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn order_quantity_accepts_exactly_1_to_i32_max(units in any::<i64>()) {
            prop_assert_eq!(OrderQuantity::parse(units).is_ok(), (1..=i64::from(i32::MAX)).contains(&units));
        }
    }

    #[test]
    fn status_round_trips() {
        for status in OrderStatus::ALL {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        assert!("Confirmed".parse::<OrderStatus>().is_err());
        for reason in RejectionReason::ALL {
            assert_eq!(reason.as_str().parse::<RejectionReason>(), Ok(reason));
        }
    }
}
