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
