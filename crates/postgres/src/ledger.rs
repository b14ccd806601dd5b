//! The stock invariant as data: per disc, its stock, its confirmed sales and
//! its ledger of initial stock and restocks (`stock_adjustments`). Under any
//! load and any strategy, stock ≥ 0 and stock + confirmed units = ledger.
//! Read by the tools that check it after a load (experiment, fault suite).

use crate::sql::Statement;
use tokio_postgres::GenericClient;

/// One disc's side of the invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiscLedger {
    pub disc: String,
    /// Units in stock now.
    pub quantity: i64,
    /// Units of its confirmed orders.
    pub confirmed_units: i64,
    pub confirmed_orders: i64,
    /// Initial stock plus restocks: the sum of its stock adjustments.
    pub adjustments: i64,
}

impl DiscLedger {
    /// Stock ≥ 0 and stock + confirmed units = adjustments.
    #[must_use]
    pub fn holds(&self) -> bool {
        self.quantity >= 0 && self.quantity + self.confirmed_units == self.adjustments
    }
}

impl std::fmt::Display for DiscLedger {
    /// `disc …: stock 3 + sold 5 ≠ stocked 10`, for reports of a broken one.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "disc {}: stock {} + sold {} ≠ stocked {}",
            self.disc, self.quantity, self.confirmed_units, self.adjustments
        )
    }
}

const LEDGER: Statement = Statement::new(
    "ledger",
    "
    SELECT d.id::text,
           d.quantity,
           COALESCE(o.units, 0)::bigint,
           COALESCE(o.orders, 0)::bigint,
           COALESCE(a.delta, 0)::bigint
      FROM discs d
      LEFT JOIN (SELECT disc_id, SUM(quantity) AS units, COUNT(*) AS orders
                   FROM purchase_orders
                  WHERE status = 'confirmed'
                  GROUP BY disc_id) o ON o.disc_id = d.id
      LEFT JOIN (SELECT disc_id, SUM(delta) AS delta
                   FROM stock_adjustments
                  GROUP BY disc_id) a ON a.disc_id = d.id
     ORDER BY d.id",
);

/// Every disc's ledger, deleted discs included (their orders still count).
///
/// # Errors
/// When the query fails or a row does not decode.
pub async fn read_ledger(
    client: &impl GenericClient,
) -> Result<Vec<DiscLedger>, tokio_postgres::Error> {
    client
        .query(LEDGER.sql, &[])
        .await?
        .iter()
        .map(|row| {
            Ok(DiscLedger {
                disc: row.try_get(0)?,
                quantity: row.try_get(1)?,
                confirmed_units: row.try_get(2)?,
                confirmed_orders: row.try_get(3)?,
                adjustments: row.try_get(4)?,
            })
        })
        .collect()
}

const CONFIRMED_AMONG: &str =
    "SELECT count(*) FROM purchase_orders WHERE id = ANY($1) AND status = 'confirmed'";

/// How many of the orders `ids` exist and are confirmed: a tool's check
/// that every order it was answered 201 for is there.
///
/// # Errors
/// When the query fails.
pub async fn confirmed_among(
    client: &impl GenericClient,
    ids: &[uuid::Uuid],
) -> Result<i64, tokio_postgres::Error> {
    client.query_one(CONFIRMED_AMONG, &[&ids]).await?.try_get(0)
}

/// The orders by the path they took, for the strategies that take orders
/// in pending (`queued`, `hybrid`): a tool matches 202 answers against the
/// orders that were pending once and 201 answers against the ones decided
/// at once, and reports how long the queued ones waited for their outcome.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Lifecycle {
    /// Orders still pending.
    pub pending: i64,
    /// Orders that were taken in pending (an `order.pending` event).
    pub queued: i64,
    /// Confirmed orders that were never pending: decided within their
    /// request.
    pub confirmed_at_once: i64,
    /// Time from intake to outcome of the queued orders decided, in
    /// milliseconds (median, 99th percentile, maximum); `None` without any.
    pub outcome_p50_ms: Option<f64>,
    pub outcome_p99_ms: Option<f64>,
    pub outcome_max_ms: Option<f64>,
}

const LIFECYCLE: &str = "
    WITH orders AS (
        SELECT o.status,
               EXISTS (SELECT FROM order_events e
                        WHERE e.order_id = o.id AND e.type = 'order.pending') AS queued,
               extract(epoch FROM o.decided_at - o.created_at) * 1000 AS outcome_ms
          FROM purchase_orders o
    )
    SELECT count(*) FILTER (WHERE status = 'pending'),
           count(*) FILTER (WHERE queued),
           count(*) FILTER (WHERE status = 'confirmed' AND NOT queued),
           (percentile_cont(0.5) WITHIN GROUP (ORDER BY outcome_ms)
                FILTER (WHERE queued AND outcome_ms IS NOT NULL))::float8,
           (percentile_cont(0.99) WITHIN GROUP (ORDER BY outcome_ms)
                FILTER (WHERE queued AND outcome_ms IS NOT NULL))::float8,
           (max(outcome_ms) FILTER (WHERE queued))::float8
      FROM orders";

/// Reads the [`Lifecycle`] of every order.
///
/// # Errors
/// When the query fails.
pub async fn read_lifecycle(
    client: &impl GenericClient,
) -> Result<Lifecycle, tokio_postgres::Error> {
    let row = client.query_one(LIFECYCLE, &[]).await?;
    Ok(Lifecycle {
        pending: row.try_get(0)?,
        queued: row.try_get(1)?,
        confirmed_at_once: row.try_get(2)?,
        outcome_p50_ms: row.try_get(3)?,
        outcome_p99_ms: row.try_get(4)?,
        outcome_max_ms: row.try_get(5)?,
    })
}

const PENDING: &str = "SELECT count(*) FROM purchase_orders WHERE status = 'pending'";

/// Orders still pending: a tool waits for none before it stops the
/// servers whose workers decide them.
///
/// # Errors
/// When the query fails.
pub async fn count_pending(client: &impl GenericClient) -> Result<i64, tokio_postgres::Error> {
    client.query_one(PENDING, &[]).await?.try_get(0)
}

const UNPUBLISHED: &str =
    "SELECT count(*) FROM order_events WHERE published_at IS NULL AND id <= $1";

/// Events up to id `through` the relay has not had confirmed by the broker
/// yet (every event: `i64::MAX`).
///
/// # Errors
/// When the query fails.
pub async fn count_unpublished_events(
    client: &impl GenericClient,
    through: i64,
) -> Result<i64, tokio_postgres::Error> {
    client.query_one(UNPUBLISHED, &[&through]).await?.try_get(0)
}

const LAST_EVENT: &str = "SELECT COALESCE(max(id), 0) FROM order_events";

/// The id of the newest event.
///
/// # Errors
/// When the query fails.
pub async fn last_event_id(client: &impl GenericClient) -> Result<i64, tokio_postgres::Error> {
    client.query_one(LAST_EVENT, &[]).await?.try_get(0)
}
