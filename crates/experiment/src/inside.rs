//! What a strategy did inside during a run, from the server's own metrics:
//! `/metrics` scraped right before the load and right after it, and the
//! difference read as the run's alone.

use recordshop_harness::scrape::{Delta, Scrape};
use recordshop_postgres::ConcurrencyStrategy;
use serde::Serialize;

/// The run's internal figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Inside {
    /// Tries at placing an order per purchase answered: 1.0 when nothing
    /// was retried.
    pub attempts_per_order: Option<f64>,
    /// Units of work PostgreSQL aborted for contention.
    pub conflicts: f64,
    /// Purchases per batch (batched only).
    pub batch_size_mean: Option<f64>,
    pub batch_size_p99: Option<f64>,
    /// Time to read and lock the disc's row (the row-locking strategies).
    pub lock_wait_p99_ms: Option<f64>,
    /// Time a request waited for a database connection.
    pub pool_wait_p99_ms: Option<f64>,
}

impl Inside {
    /// The figures of the run between `before` and `after`.
    #[must_use]
    pub fn between(before: &Scrape, after: &Scrape, strategy: ConcurrencyStrategy) -> Self {
        let delta = Delta { before, after };
        let by_strategy = [("strategy", strategy.as_str())];
        let purchases = delta.increase("recordshop_purchases_total", &by_strategy);
        let attempts = delta.increase("recordshop_purchase_attempts_total", &by_strategy);
        let ms = |seconds: Option<f64>| seconds.map(|s| s * 1e3);
        Self {
            attempts_per_order: (purchases > 0.0).then(|| attempts / purchases),
            conflicts: delta.increase("recordshop_db_serialization_conflicts_total", &[]),
            batch_size_mean: delta.mean("recordshop_batch_size", &[]),
            batch_size_p99: delta.quantile("recordshop_batch_size", &[], 0.99),
            lock_wait_p99_ms: ms(delta.quantile(
                "recordshop_lock_wait_seconds",
                &by_strategy,
                0.99,
            )),
            pool_wait_p99_ms: ms(delta.quantile("recordshop_db_pool_wait_seconds", &[], 0.99)),
        }
    }

    /// One line for the run's summary.
    #[must_use]
    pub fn text(&self) -> String {
        let number = |value: Option<f64>, unit: &str| {
            value.map_or_else(|| "–".to_owned(), |v| format!("{v:.2}{unit}"))
        };
        format!(
            "attempts/order {} · conflicts {:.0} · batch mean {} p99 {} · lock wait p99 {} · pool wait p99 {}",
            number(self.attempts_per_order, ""),
            self.conflicts,
            number(self.batch_size_mean, ""),
            number(self.batch_size_p99, ""),
            number(self.lock_wait_p99_ms, " ms"),
            number(self.pool_wait_p99_ms, " ms"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_run_from_two_scrapes() {
        let before = Scrape::parse(
            "recordshop_purchases_total{strategy=\"optimistic\",outcome=\"confirmed\"} 10\n\
             recordshop_purchase_attempts_total{strategy=\"optimistic\"} 10\n\
             recordshop_db_serialization_conflicts_total 0\n",
        );
        let after = Scrape::parse(
            "recordshop_purchases_total{strategy=\"optimistic\",outcome=\"confirmed\"} 110\n\
             recordshop_purchase_attempts_total{strategy=\"optimistic\"} 160\n\
             recordshop_db_serialization_conflicts_total 50\n",
        );
        let inside = Inside::between(&before, &after, ConcurrencyStrategy::Optimistic);
        assert_eq!(inside.attempts_per_order, Some(1.5));
        assert_eq!(inside.conflicts, 50.0);
        assert_eq!(inside.batch_size_mean, None);
        assert!(
            inside
                .text()
                .starts_with("attempts/order 1.50 · conflicts 50")
        );
    }
}
