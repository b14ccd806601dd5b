use std::fmt;
use std::str::FromStr;

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

/// Where an order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    /// Placed: its units left the stock.
    Confirmed,
    /// Canceled: its units went back to the stock.
    Canceled,
}

impl OrderStatus {
    /// The status as the contract and the store spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Canceled => "canceled",
        }
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
        match raw {
            "confirmed" => Ok(Self::Confirmed),
            "canceled" => Ok(Self::Canceled),
            _ => Err(InvalidValue::new("must be confirmed or canceled")),
        }
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
        for status in [OrderStatus::Confirmed, OrderStatus::Canceled] {
            assert_eq!(status.as_str().parse::<OrderStatus>(), Ok(status));
        }
        assert!("Confirmed".parse::<OrderStatus>().is_err());
    }
}
