//! What the database says after a scenario, read once its server stopped:
//! the stock invariant of every disc, and whether every order answered 201
//! is there, confirmed.

use anyhow::Context;
use uuid::Uuid;

use recordshop_postgres::ledger::read_ledger;

use crate::database;

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
    /// Distinct orders answered 201: a replay names an order an earlier
    /// answer already named.
    pub answered_orders: usize,
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
    let ledgers = read_ledger(&client)
        .await
        .context("reading the stock ledger")?;
    let mut check = Check {
        discs: ledgers.len(),
        ..Check::default()
    };
    for ledger in &ledgers {
        check.confirmed_orders += ledger.confirmed_orders;
        check.negative += usize::from(ledger.quantity < 0);
        check.unbalanced +=
            usize::from(ledger.quantity + ledger.confirmed_units != ledger.adjustments);
        if !ledger.holds() && check.examples.len() < 3 {
            check.examples.push(ledger.to_string());
        }
    }
    let ids = answered.to_vec();
    let found: i64 = client
        .query_one(CONFIRMED_AMONG, &[&ids])
        .await
        .context("looking up the answered orders")?
        .try_get(0)?;
    check.answered_orders = {
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        ids.len()
    };
    // Ids are unique per order, so a shortfall is a lost order.
    check.missing = check
        .answered_orders
        .saturating_sub(usize::try_from(found).unwrap_or(0));
    Ok(check)
}
