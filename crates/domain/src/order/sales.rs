//! Sales over time: per disc and time bucket, the units and orders
//! confirmed, the units canceled back, and what is left of them — the
//! launch-day view of what sold, minute by minute.

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};

use crate::disc::DiscId;
use crate::{InvalidValue, Page};

/// How wide one bucket of a sales report is. Buckets are aligned to UTC
/// (a day bucket runs from midnight UTC), whatever the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SalesBucket {
    Minute,
    FiveMinutes,
    Hour,
    Day,
}

impl SalesBucket {
    /// Every width, as the API spells them.
    pub const ALL: [Self; 4] = [Self::Minute, Self::FiveMinutes, Self::Hour, Self::Day];

    /// `1m`, `5m`, `1h`, `1d`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Minute => "1m",
            Self::FiveMinutes => "5m",
            Self::Hour => "1h",
            Self::Day => "1d",
        }
    }

    /// The width in seconds.
    #[must_use]
    pub const fn seconds(self) -> i64 {
        match self {
            Self::Minute => 60,
            Self::FiveMinutes => 300,
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }
}

impl FromStr for SalesBucket {
    type Err = InvalidValue;

    fn from_str(raw: &str) -> Result<Self, InvalidValue> {
        Self::ALL
            .into_iter()
            .find(|bucket| bucket.as_str() == raw)
            .ok_or_else(|| InvalidValue::new("must be 1m, 5m, 1h or 1d"))
    }
}

/// What a sales report covers: orders placed, and cancellations made, at or
/// after `from` and before `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesQuery {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    bucket: SalesBucket,
    disc_id: Option<DiscId>,
    page: Page,
}

impl SalesQuery {
    /// The longest window a report covers: a year of days, 525,600 minutes
    /// at most, each bucket a handful of rows per disc.
    pub const LONGEST: TimeDelta = TimeDelta::days(366);

    /// A report of `[from, to)` in `bucket`s, of one disc or of all.
    ///
    /// # Errors
    /// [`InvalidValue`] unless `from` is before `to` and the window is at
    /// most [`SalesQuery::LONGEST`].
    pub fn new(
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        bucket: SalesBucket,
        disc_id: Option<DiscId>,
        page: Page,
    ) -> Result<Self, InvalidValue> {
        if from >= to {
            return Err(InvalidValue::new("the window must start before it ends"));
        }
        if to - from > Self::LONGEST {
            return Err(InvalidValue::new(
                "the window must be at most 366 days long",
            ));
        }
        Ok(Self {
            from,
            to,
            bucket,
            disc_id,
            page,
        })
    }

    #[must_use]
    pub fn from(&self) -> DateTime<Utc> {
        self.from
    }

    #[must_use]
    pub fn to(&self) -> DateTime<Utc> {
        self.to
    }

    #[must_use]
    pub fn bucket(&self) -> SalesBucket {
        self.bucket
    }

    #[must_use]
    pub fn disc_id(&self) -> Option<DiscId> {
        self.disc_id
    }

    #[must_use]
    pub fn page(&self) -> Page {
        self.page
    }
}

/// One disc's sales in one bucket. A bucket without any sale or
/// cancellation of the disc is not reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesWindow {
    /// Where the bucket starts (UTC, aligned to its width).
    pub bucket_start: DateTime<Utc>,
    pub disc_id: DiscId,
    /// Units of the orders placed in the bucket (each was confirmed when
    /// placed, whether or not it was canceled since).
    pub units_confirmed: i64,
    pub orders_confirmed: i64,
    /// Units of the orders canceled in the bucket, back in stock.
    pub units_canceled: i64,
}

impl SalesWindow {
    /// Units confirmed less units canceled in the bucket.
    #[must_use]
    pub fn net_units(&self) -> i64 {
        self.units_confirmed - self.units_canceled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn buckets_read_as_the_api_writes_them() {
        for bucket in SalesBucket::ALL {
            assert_eq!(bucket.as_str().parse::<SalesBucket>().ok(), Some(bucket));
        }
        assert!("2m".parse::<SalesBucket>().is_err());
        assert_eq!(SalesBucket::FiveMinutes.seconds(), 300);
    }

    #[test]
    fn a_window_starts_before_it_ends_and_lasts_at_most_a_year() {
        let page = Page::new(None, None).unwrap();
        let from = at("2026-11-01T00:00:00Z");
        assert!(SalesQuery::new(from, from, SalesBucket::Hour, None, page).is_err());
        assert!(
            SalesQuery::new(
                from,
                at("2027-11-03T00:00:00Z"),
                SalesBucket::Day,
                None,
                page
            )
            .is_err()
        );
        let query = SalesQuery::new(
            from,
            at("2026-11-02T00:00:00Z"),
            SalesBucket::Hour,
            None,
            page,
        )
        .unwrap();
        assert_eq!(query.bucket(), SalesBucket::Hour);
    }

    #[test]
    fn net_units_are_confirmed_less_canceled() {
        let window = SalesWindow {
            bucket_start: at("2026-11-01T10:00:00Z"),
            disc_id: DiscId::generate(),
            units_confirmed: 7,
            orders_confirmed: 4,
            units_canceled: 2,
        };
        assert_eq!(window.net_units(), 5);
    }
}
