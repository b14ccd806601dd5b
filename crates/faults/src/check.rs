//! What the database says after a scenario, read once its server stopped:
//! the harness's verdict on the stock ledger, and whether every order
//! answered 201 is there, confirmed.

use recordshop_harness::ledger::{Verdict, confirmed_orders_among};
use recordshop_harness::postgres::DatabaseUrl;
use uuid::Uuid;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Check {
    pub ledger: Verdict,
    /// Distinct orders answered 201: a replay names an order an earlier
    /// answer already named.
    pub answered_orders: usize,
    /// Orders answered 201 that are not in the database as confirmed.
    pub missing: usize,
}

/// Reads the ledger of `database` and looks for the `answered` orders.
pub async fn run(database: &DatabaseUrl, answered: &[Uuid]) -> anyhow::Result<Check> {
    let ledger = Verdict::read(database).await?;
    let mut ids = answered.to_vec();
    ids.sort();
    ids.dedup();
    let found = confirmed_orders_among(database, &ids).await?;
    Ok(Check {
        ledger,
        answered_orders: ids.len(),
        // Ids are unique per order, so a shortfall is a lost order.
        missing: ids.len().saturating_sub(found),
    })
}
