//! The consistency check, read from the database after the server stopped:
//! the harness's verdict on the stock ledger, and as many orders as the
//! load was answered — give or take the purchases whose answer it never
//! saw. Orders decided at once are matched against the 201 answers, orders
//! taken in pending (`queued`, `hybrid`) against the 202 answers, and none
//! may still be pending once the workers had their drain time.

use std::time::Duration;

use recordshop_harness::ledger::{self, Verdict};
use recordshop_harness::postgres::DatabaseUrl;
use recordshop_postgres::ledger::Lifecycle;
use serde::Serialize;

use crate::session::Tally;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    #[serde(flatten)]
    pub ledger: Verdict,
    /// 201 answers the load received for purchases.
    pub created_answers: u64,
    /// 202 answers: purchases taken in pending.
    pub accepted_answers: u64,
    /// Purchases whose outcome the load never saw.
    pub unknown_purchases: u64,
    /// Confirmed orders that were never pending.
    pub confirmed_at_once: i64,
    /// Orders that were taken in pending, and those still pending.
    pub queued_orders: i64,
    pub pending_left: i64,
    /// From the end of the load until no order was pending; `None` for a
    /// strategy that takes none in, or when the bound ran out.
    pub drain_s: Option<f64>,
    /// Intake to outcome of the queued orders, in milliseconds.
    pub outcome_p50_ms: Option<f64>,
    pub outcome_p99_ms: Option<f64>,
    pub outcome_max_ms: Option<f64>,
    /// `created ≤ confirmed at once ≤ created + unknown`, `accepted ≤
    /// queued ≤ accepted + unknown`, and nothing left pending.
    pub orders_match: bool,
    pub pass: bool,
}

impl Check {
    /// What the asynchronous path did, for the reports: `None` when no
    /// order was taken in pending.
    #[must_use]
    pub fn queue_text(&self) -> Option<String> {
        if self.queued_orders == 0 && self.accepted_answers == 0 {
            return None;
        }
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.0} ms"));
        Some(format!(
            "taken in pending (202): {} orders; drained {} after the load; intake to outcome p50 {}, p99 {}, max {}; units sold {} ({} orders decided at once){}",
            self.queued_orders,
            self.drain_s.map_or_else(
                || "NOT within the bound".to_owned(),
                |s| format!("{s:.2} s")
            ),
            ms(self.outcome_p50_ms),
            ms(self.outcome_p99_ms),
            ms(self.outcome_max_ms),
            self.ledger.units_sold,
            self.confirmed_at_once,
            if self.pending_left > 0 {
                format!("; {} STILL PENDING", self.pending_left)
            } else {
                String::new()
            },
        ))
    }
}

/// Reads every disc's ledger and the orders' lifecycle from `database`
/// and judges them against what the load was answered.
pub async fn run(
    database: &DatabaseUrl,
    tally: Tally,
    drained: Option<Duration>,
) -> anyhow::Result<Check> {
    let verdict = Verdict::read(database).await?;
    let lifecycle = ledger::lifecycle(database).await?;
    Ok(evaluate(verdict, &lifecycle, tally, drained))
}

pub fn evaluate(
    ledger: Verdict,
    lifecycle: &Lifecycle,
    tally: Tally,
    drained: Option<Duration>,
) -> Check {
    let within = |found: i64, answered: u64| {
        u64::try_from(found)
            .is_ok_and(|found| answered <= found && found <= answered + tally.unknown)
    };
    let orders_match = within(lifecycle.confirmed_at_once, tally.created)
        && within(lifecycle.queued, tally.accepted)
        && lifecycle.pending == 0;
    Check {
        pass: ledger.holds() && orders_match,
        ledger,
        created_answers: tally.created,
        accepted_answers: tally.accepted,
        unknown_purchases: tally.unknown,
        confirmed_at_once: lifecycle.confirmed_at_once,
        queued_orders: lifecycle.queued,
        pending_left: lifecycle.pending,
        drain_s: drained.map(|d| d.as_secs_f64()),
        outcome_p50_ms: lifecycle.outcome_p50_ms,
        outcome_p99_ms: lifecycle.outcome_p99_ms,
        outcome_max_ms: lifecycle.outcome_max_ms,
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

    fn at_once(confirmed: i64) -> Lifecycle {
        Lifecycle {
            confirmed_at_once: confirmed,
            ..Lifecycle::default()
        }
    }

    fn tally(created: u64, accepted: u64, unknown: u64) -> Tally {
        Tally {
            created,
            accepted,
            unknown,
        }
    }

    #[test]
    fn orders_in_flight_at_the_end_are_allowed_for() {
        // 10 answered 201, 3 cut off, 2 of which the server completed.
        assert!(evaluate(verdict(12), &at_once(12), tally(10, 0, 3), None).pass);
        // More confirmed orders than answers and unknowns: a phantom order.
        assert!(!evaluate(verdict(14), &at_once(14), tally(10, 0, 3), None).orders_match);
        // Fewer confirmed orders than 201 answers: a lost order.
        assert!(!evaluate(verdict(9), &at_once(9), tally(10, 0, 3), None).orders_match);
    }

    #[test]
    fn queued_orders_match_the_202_answers_and_none_stays_pending() {
        let queued = Lifecycle {
            queued: 20,
            confirmed_at_once: 5,
            ..Lifecycle::default()
        };
        assert!(evaluate(verdict(15), &queued, tally(5, 20, 0), None).pass);
        // A 202 answered for an order that is not there: lost.
        assert!(!evaluate(verdict(15), &queued, tally(5, 21, 0), None).orders_match);
        let left = Lifecycle {
            pending: 1,
            ..queued
        };
        assert!(!evaluate(verdict(15), &left, tally(5, 20, 0), None).orders_match);
    }

    #[test]
    fn a_broken_ledger_fails_even_when_orders_match() {
        let broken = Verdict {
            unbalanced: 1,
            ..verdict(10)
        };
        assert!(!evaluate(broken, &at_once(10), tally(10, 0, 0), None).pass);
    }
}
