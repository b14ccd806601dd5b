//! The verdict on the stock ledger after a run, read from the database
//! once the servers stopped: per disc, stock ≥ 0 and stock + confirmed
//! units = initial stock + restocks (see `recordshop_postgres::ledger`).
//! Tools add their own checks of the orders they were answered.

use anyhow::Context;
use std::time::{Duration, Instant};

use recordshop_postgres::ledger::{
    DiscLedger, Lifecycle, confirmed_among, count_pending, count_unpublished_events, last_event_id,
    read_ledger, read_lifecycle,
};
use serde::Serialize;
use uuid::Uuid;

use crate::postgres::{DatabaseUrl, connect};

/// Offending discs named in a verdict, at most.
const EXAMPLES: usize = 5;

/// Every disc's ledger, summed up.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
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
}

impl Verdict {
    /// The sums and the offenders of `ledgers`.
    #[must_use]
    pub fn of(ledgers: &[DiscLedger]) -> Self {
        let broken: Vec<&DiscLedger> = ledgers.iter().filter(|l| !l.holds()).collect();
        Self {
            discs: ledgers.len(),
            negative_stock: ledgers.iter().filter(|l| l.quantity < 0).count(),
            unbalanced: ledgers
                .iter()
                .filter(|l| l.quantity + l.confirmed_units != l.adjustments)
                .count(),
            examples: broken
                .iter()
                .take(EXAMPLES)
                .map(ToString::to_string)
                .collect(),
            initial_stock: ledgers.iter().map(|l| l.adjustments).sum(),
            remaining_stock: ledgers.iter().map(|l| l.quantity).sum(),
            units_sold: ledgers.iter().map(|l| l.confirmed_units).sum(),
            confirmed_orders: ledgers.iter().map(|l| l.confirmed_orders).sum(),
        }
    }

    /// Reads and judges the ledger of the database at `url`.
    ///
    /// # Errors
    /// When the database cannot be read.
    pub async fn read(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let client = connect(url).await?;
        let ledgers = read_ledger(&client)
            .await
            .context("reading the stock ledger")?;
        Ok(Self::of(&ledgers))
    }

    /// Stock ≥ 0 and stock + sold = stocked, on every disc.
    #[must_use]
    pub fn holds(&self) -> bool {
        self.negative_stock == 0 && self.unbalanced == 0
    }
}

/// How many of the orders `ids` (answered 201, say) are in the database at
/// `url`, confirmed.
///
/// # Errors
/// When the database cannot be read.
pub async fn confirmed_orders_among(url: &DatabaseUrl, ids: &[Uuid]) -> anyhow::Result<usize> {
    let client = connect(url).await?;
    let found = confirmed_among(&client, ids)
        .await
        .context("looking up the answered orders")?;
    Ok(usize::try_from(found).unwrap_or(0))
}

/// The orders of the database at `url` by the path they took (see
/// [`Lifecycle`]).
///
/// # Errors
/// When the database cannot be read.
pub async fn lifecycle(url: &DatabaseUrl) -> anyhow::Result<Lifecycle> {
    let client = connect(url).await?;
    read_lifecycle(&client)
        .await
        .context("reading the orders' lifecycle")
}

/// Waits until no order of the database at `url` is pending, for at most
/// `bound`, polling every 20 ms; returns how long that took, or `None` when
/// orders were still pending at the bound. Called after a load, while the
/// servers (whose workers decide them) still run: the backlog's drain time.
///
/// # Errors
/// When the database cannot be read.
pub async fn wait_drained(url: &DatabaseUrl, bound: Duration) -> anyhow::Result<Option<Duration>> {
    let client = connect(url).await?;
    let started = Instant::now();
    loop {
        let pending = count_pending(&client)
            .await
            .context("counting pending orders")?;
        if pending == 0 {
            return Ok(Some(started.elapsed()));
        }
        if started.elapsed() >= bound {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Orders of the database at `url` still pending.
///
/// # Errors
/// When the database cannot be read.
pub async fn pending_orders(url: &DatabaseUrl) -> anyhow::Result<i64> {
    let client = connect(url).await?;
    count_pending(&client)
        .await
        .context("counting pending orders")
}

/// As [`wait_drained`], for the outbox: until every order event recorded
/// so far has been confirmed by the broker (events recorded meanwhile, by
/// a load still running, are not waited for); the events of those left
/// when the bound ran out.
///
/// # Errors
/// When the database cannot be read.
pub async fn wait_published(url: &DatabaseUrl, bound: Duration) -> anyhow::Result<(Duration, i64)> {
    let client = connect(url).await?;
    let through = last_event_id(&client)
        .await
        .context("reading the newest event")?;
    let started = Instant::now();
    loop {
        let left = count_unpublished_events(&client, through)
            .await
            .context("counting unpublished events")?;
        if left == 0 || started.elapsed() >= bound {
            return Ok((started.elapsed(), left));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
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
    fn a_sold_out_launch_holds() {
        let verdict = Verdict::of(&[ledger(0, 500, 500)]);
        assert!(verdict.holds(), "{verdict:?}");
        assert_eq!((verdict.units_sold, verdict.remaining_stock), (500, 0));
        assert_eq!(verdict.initial_stock, 500);
    }

    #[test]
    fn oversold_stock_breaks_it() {
        let verdict = Verdict::of(&[ledger(-2, 502, 500)]);
        assert!(!verdict.holds());
        assert_eq!((verdict.negative_stock, verdict.unbalanced), (1, 0));
    }

    #[test]
    fn a_lost_update_breaks_it() {
        // Two sales recorded, one decrement applied.
        let verdict = Verdict::of(&[ledger(499, 2, 500), ledger(10, 0, 10)]);
        assert!(!verdict.holds());
        assert_eq!(verdict.unbalanced, 1);
        assert_eq!(
            verdict.examples,
            ["disc d: stock 499 + sold 2 ≠ stocked 500"]
        );
        assert_eq!(verdict.discs, 2);
    }
}
