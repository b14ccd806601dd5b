//! What the database says after a scenario, read once its server stopped:
//! the stock invariant of every disc, and whether every order answered 201
//! is there, confirmed.

use anyhow::Context;
use uuid::Uuid;

use crate::database;

/// Per disc: stock, confirmed units and orders, and the ledger of initial
/// stock and restocks (`stock_adjustments`).
const LEDGER: &str = "
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
     ORDER BY d.id";

const CONFIRMED_AMONG: &str =
    "SELECT count(*) FROM purchase_orders WHERE id = ANY($1) AND status = 'confirmed'";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Check {
    pub discs: usize,
    /// Discs with stock below zero.
    pub negative: usize,
    /// Discs whose stock + confirmed units differ from their ledger.
    pub unbalanced: usize,
    /// A few offending discs, for the notes.
    pub examples: Vec<String>,
    pub confirmed_orders: i64,
    /// Orders answered 201 that are not in the database as confirmed.
    pub missing: usize,
}

impl Check {
    /// Stock ≥ 0 and stock + sold = initial + restocks, on every disc.
    pub fn invariant_holds(&self) -> bool {
        self.negative == 0 && self.unbalanced == 0
    }
}

/// Reads the ledger of `database_url` and looks for the `answered` orders.
pub async fn run(database_url: &str, answered: &[Uuid]) -> anyhow::Result<Check> {
    let client = database::connect(database_url).await?;
    let rows = client
        .query(LEDGER, &[])
        .await
        .context("reading the stock ledger")?;
    let mut check = Check {
        discs: rows.len(),
        ..Check::default()
    };
    for row in &rows {
        let disc: String = row.try_get(0)?;
        let quantity: i64 = row.try_get(1)?;
        let units: i64 = row.try_get(2)?;
        let orders: i64 = row.try_get(3)?;
        let ledger: i64 = row.try_get(4)?;
        check.confirmed_orders += orders;
        let negative = quantity < 0;
        let balanced = quantity + units == ledger;
        check.negative += usize::from(negative);
        check.unbalanced += usize::from(!balanced);
        if (negative || !balanced) && check.examples.len() < 3 {
            check.examples.push(format!(
                "disc {disc}: stock {quantity} + sold {units} ≠ stocked {ledger}"
            ));
        }
    }
    let ids = answered.to_vec();
    let found: i64 = client
        .query_one(CONFIRMED_AMONG, &[&ids])
        .await
        .context("looking up the answered orders")?
        .try_get(0)?;
    // Ids are unique per order, so a shortfall is a lost order.
    let distinct = {
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        ids.len()
    };
    check.missing = distinct.saturating_sub(usize::try_from(found).unwrap_or(0));
    Ok(check)
}
