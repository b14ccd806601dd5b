//! The JSON shapes of `/reports/sales`.

use chrono::{TimeDelta, Utc};
use recordshop_domain::InvalidValue;
use recordshop_domain::disc::DiscId;
use recordshop_domain::order::{SalesBucket, SalesQuery, SalesWindow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::timestamp;
use crate::params::{self, DayEdge};

/// Query of `GET /reports/sales`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SalesParams {
    /// Start of the window, inclusive: an RFC 3339 timestamp or a
    /// `YYYY-MM-DD` date (its midnight, UTC); default 24 hours before `to`.
    #[param(example = "2026-11-30T12:00:00Z")]
    from: Option<String>,
    /// End of the window, exclusive: an RFC 3339 timestamp, or a date
    /// (through the end of that day, UTC); default now.
    #[param(example = "2026-11-30T13:00:00Z")]
    to: Option<String>,
    /// The buckets' width: `1m`, `5m`, `1h` (default) or `1d`; aligned to
    /// UTC.
    #[param(value_type = Option<String>, example = "1m")]
    bucket: Option<String>,
    /// One disc's sales only.
    #[param(value_type = Option<Uuid>, example = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39")]
    disc_id: Option<String>,
    /// Page size, 0 to 100 (larger values are capped at 100); default 100.
    #[param(value_type = Option<i64>, minimum = 0)]
    limit: Option<String>,
    /// Rows to skip; default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
    offset: Option<String>,
}

/// The window a report covers when `from` is not given.
const DEFAULT_WINDOW: TimeDelta = TimeDelta::hours(24);

impl SalesParams {
    /// The query, or a 400 naming the first bad parameter.
    pub(super) fn try_into_domain(self) -> Result<SalesQuery, ApiError> {
        let to =
            params::instant("to", self.to.as_deref(), DayEdge::After)?.unwrap_or_else(Utc::now);
        let from = params::instant("from", self.from.as_deref(), DayEdge::Start)?
            .unwrap_or(to - DEFAULT_WINDOW);
        let bucket = match self.bucket.as_deref() {
            None => SalesBucket::Hour,
            Some(raw) => raw.parse().map_err(|InvalidValue(rule)| {
                ApiError::Malformed(format!("bucket {rule}, got {raw:?}"))
            })?,
        };
        let disc_id = params::id::<DiscId>("disc_id", self.disc_id.as_deref())?;
        let page = params::page(self.limit.as_deref(), self.offset.as_deref())?;
        SalesQuery::new(from, to, bucket, disc_id, page)
            .map_err(|InvalidValue(rule)| ApiError::Malformed(format!("from and to: {rule}")))
    }
}

/// One disc's sales in one time bucket.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SalesWindow)]
pub(super) struct SalesWindowResponse {
    /// Start of the bucket, inclusive (RFC 3339, UTC).
    #[schema(example = "2026-11-30T12:34:00.000Z")]
    bucket_start: String,
    /// End of the bucket, exclusive.
    #[schema(example = "2026-11-30T12:35:00.000Z")]
    bucket_end: String,
    #[schema(example = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39")]
    disc_id: Uuid,
    /// Units of the orders placed in the bucket (each confirmed when
    /// placed, canceled since or not).
    #[schema(example = 42)]
    units_confirmed: i64,
    /// Orders placed in the bucket.
    #[schema(example = 40)]
    orders_confirmed: i64,
    /// Units of the orders canceled in the bucket: back in stock.
    #[schema(example = 3)]
    units_canceled: i64,
    /// `units_confirmed - units_canceled`.
    #[schema(example = 39)]
    net_units: i64,
}

impl SalesWindowResponse {
    pub(super) fn new(window: &SalesWindow, bucket: SalesBucket) -> Self {
        let end = window.bucket_start + TimeDelta::seconds(bucket.seconds());
        Self {
            bucket_start: timestamp(&window.bucket_start),
            bucket_end: timestamp(&end),
            disc_id: window.disc_id.as_uuid(),
            units_confirmed: window.units_confirmed,
            orders_confirmed: window.orders_confirmed,
            units_canceled: window.units_canceled,
            net_units: window.net_units(),
        }
    }
}
