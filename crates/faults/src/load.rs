//! The purchase load: closed-loop buyers, each sending one purchase after
//! another with a fresh `Idempotency-Key`, until told to stop. A buyer told
//! to stop finishes the request it has in flight (each is bounded by the
//! client's timeout), so the only purchases of unknown outcome are those a
//! fault cut off.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use uuid::Uuid;

use recordshop_harness::api::{Api, Reply, Request};

/// One purchase.
#[derive(Clone, Debug)]
pub struct Record {
    /// When it was sent and when its outcome was known, from the start of
    /// the load.
    pub sent: Duration,
    pub done: Duration,
    pub outcome: Reply,
}

impl Record {
    pub fn latency(&self) -> Duration {
        self.done.saturating_sub(self.sent)
    }
}

/// Read while the load runs.
#[derive(Default)]
pub struct Live {
    /// Milliseconds from the start of the load to the last 201 (0: none).
    last_created_ms: AtomicU64,
}

pub struct Load {
    start: Instant,
    stop: watch::Sender<bool>,
    buyers: JoinSet<Vec<Record>>,
    live: Arc<Live>,
}

impl Load {
    pub fn start(api: &Api, clients: usize, customer: Uuid, disc: Uuid) -> Self {
        let start = Instant::now();
        let (stop, stopped) = watch::channel(false);
        let live = Arc::new(Live::default());
        let mut buyers = JoinSet::new();
        for _ in 0..clients {
            let api = api.clone();
            let stopped = stopped.clone();
            let live = Arc::clone(&live);
            buyers.spawn(async move {
                let mut records = Vec::new();
                while !*stopped.borrow() {
                    let sent = start.elapsed();
                    let request = Request::Purchase {
                        customer,
                        disc,
                        quantity: 1,
                        key: Some(Uuid::new_v4()),
                    };
                    let outcome = api.send(&request).await;
                    let done = start.elapsed();
                    if outcome.is_created() || outcome.is_accepted() {
                        let ms = u64::try_from(done.as_millis()).unwrap_or(u64::MAX).max(1);
                        live.last_created_ms.fetch_max(ms, Ordering::Relaxed);
                    }
                    let failed = outcome.answer().is_none();
                    records.push(Record {
                        sent,
                        done,
                        outcome,
                    });
                    if failed {
                        // The server is down or restarting: no busy loop.
                        sleep(Duration::from_millis(20)).await;
                    }
                }
                records
            });
        }
        Self {
            start,
            stop,
            buyers,
            live,
        }
    }

    /// Time since the load started: the clock of every [`Record`].
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Whether a purchase was answered 201 (or 202, taken in pending) after
    /// `since` (load clock).
    pub fn created_after(&self, since: Duration) -> bool {
        let last = self.live.last_created_ms.load(Ordering::Relaxed);
        last > 0 && Duration::from_millis(last) > since
    }

    /// Stops the buyers and returns every purchase they made, in the order
    /// they were sent.
    pub async fn finish(mut self) -> Vec<Record> {
        let _ = self.stop.send(true);
        let mut records = Vec::new();
        while let Some(joined) = self.buyers.join_next().await {
            // A buyer only panics on a bug in this tool; its purchases are
            // then missing from the count, which the checks would flag.
            if let Ok(mine) = joined {
                records.extend(mine);
            }
        }
        records.sort_by_key(|record| record.sent);
        records
    }
}

/// Counts of a set of purchases.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub requests: usize,
    pub created: usize,
    /// 202 answers: purchases taken in pending (`queued`, `hybrid`).
    pub accepted: usize,
    pub unknown: usize,
    pub not_sent: usize,
    /// 5xx answers other than 503 (which the contract allows for outages
    /// and contention).
    pub server_errors: usize,
    pub labels: BTreeMap<String, usize>,
    /// Ids of the orders answered 201 or 202: with the load's stock never
    /// running out, every one of them must end confirmed.
    pub orders: Vec<Uuid>,
    /// 201s and 202s whose body carried no order id.
    pub created_without_id: usize,
}

impl Tally {
    pub fn of<'a>(outcomes: impl IntoIterator<Item = &'a Reply>) -> Self {
        let mut tally = Self::default();
        for outcome in outcomes {
            tally.requests += 1;
            match outcome {
                Reply::Answer(answer) => {
                    *tally.labels.entry(outcome.label()).or_default() += 1;
                    if answer.status == 201 || answer.status == 202 {
                        if answer.status == 201 {
                            tally.created += 1;
                        } else {
                            tally.accepted += 1;
                        }
                        match answer.created {
                            Some(id) => tally.orders.push(id),
                            None => tally.created_without_id += 1,
                        }
                    }
                    if answer.status >= 500 && answer.status != 503 {
                        tally.server_errors += 1;
                    }
                }
                Reply::NotSent(_) => tally.not_sent += 1,
                Reply::Lost(_) => tally.unknown += 1,
            }
        }
        tally
    }

    /// `201×120, 503 unavailable×4, unanswered×2`.
    pub fn answers(&self) -> String {
        let mut parts: Vec<String> = self
            .labels
            .iter()
            .map(|(label, count)| format!("{label}×{count}"))
            .collect();
        if self.unknown > 0 {
            parts.push(format!("unanswered×{}", self.unknown));
        }
        if self.not_sent > 0 {
            parts.push(format!("refused connection×{}", self.not_sent));
        }
        parts.join(", ")
    }
}

/// The `p`-th percentile (0–100) of `values`, which need not be sorted.
pub fn percentile(values: &[Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = (p / 100.0 * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use recordshop_harness::api::{Answer, Failure};

    use super::*;

    fn record(outcome: Reply) -> Record {
        Record {
            sent: Duration::ZERO,
            done: Duration::from_millis(5),
            outcome,
        }
    }

    fn answered(status: u16, code: Option<&str>, order: Option<Uuid>) -> Reply {
        Reply::Answer(Answer {
            status,
            code: code.map(str::to_owned),
            retry_after: status == 503,
            created: order,
            replayed: false,
        })
    }

    #[test]
    fn tallies_answers_orders_and_unknowns() {
        let id = Uuid::new_v4();
        let records = [
            record(answered(201, None, Some(id))),
            record(answered(201, None, None)),
            record(answered(503, Some("unavailable"), None)),
            record(answered(500, Some("internal"), None)),
            record(Reply::Lost(Failure::Timeout)),
            record(Reply::NotSent(Failure::Connect)),
        ];
        let tally = Tally::of(records.iter().map(|record| &record.outcome));
        assert_eq!(tally.requests, 6);
        assert_eq!(tally.created, 2);
        assert_eq!(tally.orders, vec![id]);
        assert_eq!(tally.created_without_id, 1);
        assert_eq!(tally.server_errors, 1);
        assert_eq!((tally.unknown, tally.not_sent), (1, 1));
        assert_eq!(
            tally.answers(),
            "201×2, 500 internal×1, 503 unavailable×1, unanswered×1, refused connection×1"
        );
    }

    #[test]
    fn percentiles_pick_by_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&values, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
