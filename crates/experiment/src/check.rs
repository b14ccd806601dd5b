//! The consistency check, read from the database after the server stopped:
//! per disc, stock + confirmed units = initial stock + restocks (the sum of
//! its stock adjustments), no negative stock, and as many confirmed orders
//! as the load was told 201 — give or take the purchases whose answer it
//! never saw.

use anyhow::Context;
use serde::Serialize;

pub use recordshop_postgres::ledger::DiscLedger;
use recordshop_postgres::ledger::read_ledger;

use crate::cluster;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    pub discs: usize,
    pub negative_stock: usize,
    /// Discs whose stock + confirmed units differ from their adjustments.
    pub unbalanced: usize,
    /// A few offending discs, for the report.
    pub examples: Vec<String>,
    pub initial_stock: i64,
    pub remaining_stock: i64,
    pub units_sold: i64,
    pub confirmed_orders: i64,
    /// 201 answers the load received for purchases.
    pub created_answers: u64,
    /// Purchases whose outcome the load never saw.
    pub unknown_purchases: u64,
    /// `created_answers <= confirmed_orders <= created_answers + unknown_purchases`.
    pub orders_match: bool,
    pub pass: bool,
}

/// Reads every disc's ledger from `database_url` and judges it.
pub async fn run(database_url: &str, created: u64, unknown: u64) -> anyhow::Result<Check> {
    let client = cluster::connect(database_url).await?;
    let ledgers = read_ledger(&client)
        .await
        .context("reading the stock ledger")?;
    Ok(evaluate(&ledgers, created, unknown))
}

const EXAMPLES: usize = 5;

pub fn evaluate(ledgers: &[DiscLedger], created: u64, unknown: u64) -> Check {
    let mut examples = Vec::new();
    let mut negative_stock = 0;
    let mut unbalanced = 0;
    for ledger in ledgers {
        let negative = ledger.quantity < 0;
        let balanced = ledger.quantity + ledger.confirmed_units == ledger.adjustments;
        negative_stock += usize::from(negative);
        unbalanced += usize::from(!balanced);
        if !ledger.holds() && examples.len() < EXAMPLES {
            examples.push(ledger.to_string());
        }
    }
    let confirmed_orders: i64 = ledgers.iter().map(|l| l.confirmed_orders).sum();
    let confirmed = u64::try_from(confirmed_orders).unwrap_or(0);
    let orders_match =
        confirmed_orders >= 0 && created <= confirmed && confirmed <= created + unknown;
    Check {
        discs: ledgers.len(),
        negative_stock,
        unbalanced,
        examples,
        initial_stock: ledgers.iter().map(|l| l.adjustments).sum(),
        remaining_stock: ledgers.iter().map(|l| l.quantity).sum(),
        units_sold: ledgers.iter().map(|l| l.confirmed_units).sum(),
        confirmed_orders,
        created_answers: created,
        unknown_purchases: unknown,
        orders_match,
        pass: negative_stock == 0 && unbalanced == 0 && orders_match,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(quantity: i64, units: i64, adjustments: i64) -> DiscLedger {
        DiscLedger {
            disc: "d".into(),
            quantity,
            confirmed_units: units,
            confirmed_orders: units,
            adjustments,
        }
    }

    #[test]
    fn a_sold_out_launch_passes() {
        let check = evaluate(&[ledger(0, 500, 500)], 500, 0);
        assert!(check.pass, "{check:?}");
        assert_eq!((check.units_sold, check.remaining_stock), (500, 0));
        assert_eq!(check.initial_stock, 500);
    }

    #[test]
    fn oversold_stock_fails() {
        let check = evaluate(&[ledger(-2, 502, 500)], 502, 0);
        assert!(!check.pass);
        assert_eq!(check.negative_stock, 1);
        assert_eq!(check.unbalanced, 0);
    }

    #[test]
    fn a_lost_update_fails() {
        // Two sales recorded, one decrement applied.
        let check = evaluate(&[ledger(499, 2, 500)], 2, 0);
        assert!(!check.pass);
        assert_eq!(check.unbalanced, 1);
        assert_eq!(check.examples.len(), 1);
    }

    #[test]
    fn orders_in_flight_at_the_end_are_allowed_for() {
        // 10 answered 201, 3 cut off, 2 of which the server completed.
        assert!(evaluate(&[ledger(88, 12, 100)], 10, 3).pass);
        // More confirmed orders than answers and unknowns: a phantom order.
        assert!(!evaluate(&[ledger(86, 14, 100)], 10, 3).orders_match);
        // Fewer confirmed orders than 201 answers: a lost order.
        assert!(!evaluate(&[ledger(91, 9, 100)], 10, 3).orders_match);
    }
}
