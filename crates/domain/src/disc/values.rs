//! Values a disc is made of; each exists only when valid.

use chrono::{Datelike, Utc};

use crate::InvalidValue;
use crate::order::OrderQuantity;
use crate::text::bounded_text;

bounded_text!(
    /// A disc's title: 1 to 200 characters, trimmed.
    DiscName,
    1,
    200
);
bounded_text!(
    /// The performing artist: 1 to 200 characters, trimmed.
    ArtistName,
    1,
    200
);
bounded_text!(
    /// A musical genre: 1 to 200 characters, trimmed.
    Genre,
    1,
    200
);

/// The year a disc was released: from 1877 (the phonograph) to next year
/// (announced releases).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ReleaseYear(i32);

impl ReleaseYear {
    /// The phonograph's year: nothing was recorded before it.
    pub const EARLIEST: i32 = 1877;

    /// Accepts a year from [`Self::EARLIEST`] to next year, by the clock.
    ///
    /// # Errors
    /// [`InvalidValue`] outside that range.
    pub fn parse(year: i64) -> Result<Self, InvalidValue> {
        Self::parse_in(year, Utc::now().year())
    }

    /// As [`Self::parse`], with the current year given.
    ///
    /// # Errors
    /// [`InvalidValue`] outside `EARLIEST..=current_year + 1`.
    pub fn parse_in(year: i64, current_year: i32) -> Result<Self, InvalidValue> {
        let latest = current_year + 1;
        match i32::try_from(year) {
            Ok(year) if (Self::EARLIEST..=latest).contains(&year) => Ok(Self(year)),
            _ => Err(InvalidValue::new(format!(
                "must be a year from {} to {latest}",
                Self::EARLIEST
            ))),
        }
    }

    /// The year as a number.
    #[must_use]
    pub const fn get(self) -> i32 {
        self.0
    }
}

/// Units of a disc in stock. Never negative.
///
/// A client may set the stock to at most [`Self::MAX_SETTABLE`]; the stored
/// value can exceed that when cancelled orders return units on top of a
/// maximal restock, which is why two constructors exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct StockQuantity(i64);

impl StockQuantity {
    /// The largest stock a client may set.
    pub const MAX_SETTABLE: i64 = 1_000_000_000;

    /// A stock level asked for by a client: 0 to [`Self::MAX_SETTABLE`].
    ///
    /// # Errors
    /// [`InvalidValue`] outside that range.
    pub fn parse(units: i64) -> Result<Self, InvalidValue> {
        if (0..=Self::MAX_SETTABLE).contains(&units) {
            Ok(Self(units))
        } else {
            Err(InvalidValue::new(format!(
                "must be from 0 to {}",
                Self::MAX_SETTABLE
            )))
        }
    }

    /// A stock level read from storage: any non-negative amount.
    ///
    /// # Errors
    /// [`InvalidValue`] when negative.
    pub fn from_stored(units: i64) -> Result<Self, InvalidValue> {
        if units >= 0 {
            Ok(Self(units))
        } else {
            Err(InvalidValue::new("stock must not be negative"))
        }
    }

    /// The stock left after selling `units`, or `None` when there are not
    /// that many.
    #[must_use]
    pub fn checked_sell(self, units: OrderQuantity) -> Option<Self> {
        let left = self.0 - i64::from(units.get());
        (left >= 0).then_some(Self(left))
    }

    /// The number of units.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn release_year_bounds() {
        assert!(ReleaseYear::parse_in(1876, 2026).is_err());
        assert_eq!(
            ReleaseYear::parse_in(1877, 2026).map(ReleaseYear::get),
            Ok(1877)
        );
        assert_eq!(
            ReleaseYear::parse_in(2027, 2026).map(ReleaseYear::get),
            Ok(2027)
        );
        assert!(ReleaseYear::parse_in(2028, 2026).is_err());
        assert!(ReleaseYear::parse_in(i64::MAX, 2026).is_err());
    }

    #[test]
    fn names_are_stored_trimmed() {
        assert_eq!(
            DiscName::parse("  Kind of Blue ").map(|n| n.as_str().to_owned()),
            Ok("Kind of Blue".to_owned())
        );
        assert!(Genre::parse("").is_err());
        assert!(ArtistName::parse(&"x".repeat(201)).is_err());
    }

    #[test]
    fn disc_text_refuses_control_characters() {
        let rule = Err(InvalidValue::new(crate::text::NO_CONTROL_CHARACTERS));
        assert_eq!(Genre::parse("\u{d9}\u{0}").map(|_| ()), rule);
        assert_eq!(DiscName::parse("Kind\u{0}of Blue").map(|_| ()), rule);
        assert_eq!(ArtistName::parse("Miles\nDavis").map(|_| ()), rule);
        assert_eq!(
            Genre::parse("Country\n").map(|g| g.as_str().to_owned()),
            Ok("Country".to_owned())
        );
    }

    proptest! {
        #[test]
        fn stock_accepts_exactly_the_settable_range(units in any::<i64>()) {
            let parsed = StockQuantity::parse(units);
            prop_assert_eq!(parsed.is_ok(), (0..=StockQuantity::MAX_SETTABLE).contains(&units));
        }

        #[test]
        fn selling_never_goes_negative(stock in 0..=StockQuantity::MAX_SETTABLE, sold in 1..=i64::from(i32::MAX)) {
            let stock = StockQuantity::from_stored(stock).map_err(|e| TestCaseError::fail(e.0))?;
            let units = OrderQuantity::parse(sold).map_err(|e| TestCaseError::fail(e.0))?;
            match stock.checked_sell(units) {
                Some(left) => {
                    prop_assert!(left.get() >= 0);
                    prop_assert_eq!(left.get() + sold, stock.get());
                }
                None => prop_assert!(sold > stock.get()),
            }
        }

        #[test]
        fn release_year_accepts_exactly_its_range(year in 1000i64..3000) {
            let parsed = ReleaseYear::parse_in(year, 2026);
            prop_assert_eq!(parsed.is_ok(), (1877..=2027).contains(&year));
        }
    }
}
