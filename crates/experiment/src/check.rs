//! The consistency check, read from the database after the server stopped:
//! the harness's verdict on the stock ledger, and as many confirmed orders
//! as the load was told 201 — give or take the purchases whose answer it
//! never saw.

use recordshop_harness::ledger::Verdict;
use recordshop_harness::postgres::DatabaseUrl;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Check {
    #[serde(flatten)]
    pub ledger: Verdict,
    /// 201 answers the load received for purchases.
    pub created_answers: u64,
    /// Purchases whose outcome the load never saw.
    pub unknown_purchases: u64,
    /// `created_answers <= confirmed_orders <= created_answers + unknown_purchases`.
    pub orders_match: bool,
    pub pass: bool,
}

/// Reads every disc's ledger from `database` and judges it.
pub async fn run(database: &DatabaseUrl, created: u64, unknown: u64) -> anyhow::Result<Check> {
    Ok(evaluate(Verdict::read(database).await?, created, unknown))
}

pub fn evaluate(ledger: Verdict, created: u64, unknown: u64) -> Check {
    let confirmed = u64::try_from(ledger.confirmed_orders).ok();
    let orders_match =
        confirmed.is_some_and(|confirmed| created <= confirmed && confirmed <= created + unknown);
    Check {
        pass: ledger.holds() && orders_match,
        ledger,
        created_answers: created,
        unknown_purchases: unknown,
        orders_match,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(confirmed_orders: i64) -> Verdict {
        Verdict {
            discs: 1,
            confirmed_orders,
            ..Verdict::default()
        }
    }

    #[test]
    fn orders_in_flight_at_the_end_are_allowed_for() {
        // 10 answered 201, 3 cut off, 2 of which the server completed.
        assert!(evaluate(verdict(12), 10, 3).pass);
        // More confirmed orders than answers and unknowns: a phantom order.
        assert!(!evaluate(verdict(14), 10, 3).orders_match);
        // Fewer confirmed orders than 201 answers: a lost order.
        assert!(!evaluate(verdict(9), 10, 3).orders_match);
    }

    #[test]
    fn a_broken_ledger_fails_even_when_orders_match() {
        let broken = Verdict {
            unbalanced: 1,
            ..verdict(10)
        };
        assert!(!evaluate(broken, 10, 0).pass);
    }
}
