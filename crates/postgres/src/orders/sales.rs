//! The sales report: orders summed per disc and time bucket, in SQL.

use deadpool_postgres::Object;
use recordshop_domain::StoreError;
use recordshop_domain::disc::DiscId;
use recordshop_domain::order::{SalesQuery, SalesWindow};
use tokio_postgres::types::Type;

use crate::error::store_error;
use crate::sql::{Statement, query_planned_for_values};

/// `$1` from (inclusive), `$2` to (exclusive), `$3` the bucket's width in
/// seconds, `$4` one disc or NULL for all, `$5` limit, `$6` offset.
///
/// Buckets are `date_bin`'s, aligned to UTC midnight of 2000-01-01, so a day
/// bucket is a UTC day and a five-minute bucket starts at :00, :05, … .
/// Placed orders count where they were placed and cancellations where they
/// happened; a bucket with neither does not appear. Planned for the values
/// it runs with (see `sql::query_planned_for_values`), so one disc's report
/// walks that disc's index and all discs' walks the time index.
const SALES: Statement = Statement::new(
    "sales_report",
    "
    WITH placed AS (
        SELECT date_bin(make_interval(secs => $3), created_at,
                        TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
               disc_id,
               SUM(quantity)::bigint AS units,
               COUNT(*)::bigint AS orders
        FROM purchase_orders
        WHERE created_at >= $1 AND created_at < $2
          AND ($4::uuid IS NULL OR disc_id = $4)
        GROUP BY 1, 2
    ),
    canceled AS (
        SELECT date_bin(make_interval(secs => $3), canceled_at,
                        TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
               disc_id,
               SUM(quantity)::bigint AS units
        FROM purchase_orders
        WHERE canceled_at >= $1 AND canceled_at < $2
          AND ($4::uuid IS NULL OR disc_id = $4)
        GROUP BY 1, 2
    )
    SELECT bucket, disc_id,
           COALESCE(placed.units, 0) AS units_confirmed,
           COALESCE(placed.orders, 0) AS orders_confirmed,
           COALESCE(canceled.units, 0) AS units_canceled
    FROM placed FULL JOIN canceled USING (bucket, disc_id)
    ORDER BY bucket DESC, disc_id
    LIMIT $5 OFFSET $6",
);

pub(super) async fn report(
    client: &Object,
    query: &SalesQuery,
) -> Result<Vec<SalesWindow>, StoreError> {
    let width = query.bucket().seconds() as f64;
    let rows = query_planned_for_values(
        client,
        &SALES,
        &[
            (&query.from(), Type::TIMESTAMPTZ),
            (&query.to(), Type::TIMESTAMPTZ),
            (&width, Type::FLOAT8),
            (&query.disc_id().map(|id| id.as_uuid()), Type::UUID),
            (&query.page().limit(), Type::INT8),
            (&query.page().offset(), Type::INT8),
        ],
    )
    .await
    .map_err(store_error)?;
    rows.iter()
        .map(|row| {
            let read = || -> Result<SalesWindow, tokio_postgres::Error> {
                Ok(SalesWindow {
                    bucket_start: row.try_get("bucket")?,
                    disc_id: DiscId::from_uuid(row.try_get("disc_id")?),
                    units_confirmed: row.try_get("units_confirmed")?,
                    orders_confirmed: row.try_get("orders_confirmed")?,
                    units_canceled: row.try_get("units_canceled")?,
                })
            };
            read().map_err(|error| StoreError::Unexpected(error.into()))
        })
        .collect()
}
