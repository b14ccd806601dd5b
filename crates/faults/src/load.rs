//! The purchase load: closed-loop buyers, each sending one purchase after
//! another with a fresh `Idempotency-Key`, until told to stop. A buyer told
//! to stop finishes the request it has in flight (each is bounded by the
//! client's timeout), so the only purchases of unknown outcome are those a
//! fault cut off.
//!
//! Behind a proxy ([`Retry::OnceWithTheKey`]) a buyer does what a careful
//! client does when the proxy says the instance behind it failed (502,
//! 504) or no answer came: it waits [`RETRY_AFTER`] and sends the same
//! purchase once more with the same key, so a purchase the dead instance
//! had committed is answered from its key, and one it had not is made now,
//! never twice.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};
use uuid::Uuid;

use recordshop_harness::api::{Api, Reply, Request};

/// One purchase request.
#[derive(Clone, Debug)]
pub struct Record {
    /// When it was sent and when its outcome was known, from the start of
    /// the load.
    pub sent: Duration,
    pub done: Duration,
    pub outcome: Reply,
    /// Its `Idempotency-Key`: a retry carries its first attempt's.
    pub key: Uuid,
    /// 1, or 2 for the retry of a purchase whose first attempt failed.
    pub attempt: u8,
}

impl Record {
    pub fn latency(&self) -> Duration {
        self.done.saturating_sub(self.sent)
    }
}

/// The pause before a retry. Sent at once, a retry met a 502 again (one of
/// five retries, in one run where an instance was killed): nginx still held
/// idle keep-alive connections to the dead instance, wrote the POST on
/// one before it had read the closed socket, and does not pass a sent POST
/// on. By 100 ms later it has closed them and rested the instance.
pub const RETRY_AFTER: Duration = Duration::from_millis(100);

/// Whether a buyer sends a failed purchase again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Never: straight to a server, whose answers are its own.
    Never,
    /// Once, with the same key, after a 502 or 504 (a proxy's word that
    /// the instance failed) or no answer at all.
    OnceWithTheKey,
}

impl Retry {
    fn wanted(self, outcome: &Reply) -> bool {
        self == Self::OnceWithTheKey && (outcome.answer().is_none() || is_gateway(outcome.status()))
    }
}

/// 502 and 504: a proxy's answer for an instance that could not be heard
/// from; for a POST already passed on, its outcome is unknown.
pub fn is_gateway(status: u16) -> bool {
    status == 502 || status == 504
}

/// Read while the load runs.
#[derive(Default)]
pub struct Live {
    /// Milliseconds from the start of the load to the last 201 (0: none).
    last_created_ms: AtomicU64,
    /// When the latest-sent purchase answered 201 was sent (0: none).
    last_created_sent_ms: AtomicU64,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

pub struct Load {
    start: Instant,
    stop: watch::Sender<bool>,
    buyers: JoinSet<Vec<Record>>,
    live: Arc<Live>,
}

impl Load {
    pub fn start(api: &Api, clients: usize, customer: Uuid, disc: Uuid, retry: Retry) -> Self {
        let start = Instant::now();
        let (stop, stopped) = watch::channel(false);
        let live = Arc::new(Live::default());
        let mut buyers = JoinSet::new();
        for _ in 0..clients {
            let buyer = Buyer {
                api: api.clone(),
                stopped: stopped.clone(),
                live: Arc::clone(&live),
                start,
                customer,
                disc,
                retry,
            };
            buyers.spawn(buyer.run());
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

    /// When the load started, for records of requests sent beside it.
    pub fn clock(&self) -> Instant {
        self.start
    }

    /// Whether a purchase was answered 201 (or 202, taken in pending) after
    /// `since` (load clock).
    pub fn created_after(&self, since: Duration) -> bool {
        let last = self.live.last_created_ms.load(Ordering::Relaxed);
        last > 0 && Duration::from_millis(last) > since
    }

    /// Whether a purchase sent after `since` (load clock) was answered 201
    /// (or 202): the service takes writes again, whatever the answers to
    /// requests already in flight at `since` said.
    pub fn created_sent_after(&self, since: Duration) -> bool {
        let last = self.live.last_created_sent_ms.load(Ordering::Relaxed);
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

/// One buyer of the load.
struct Buyer {
    api: Api,
    stopped: watch::Receiver<bool>,
    live: Arc<Live>,
    start: Instant,
    customer: Uuid,
    disc: Uuid,
    retry: Retry,
}

impl Buyer {
    async fn run(self) -> Vec<Record> {
        let mut records = Vec::new();
        while !*self.stopped.borrow() {
            let key = Uuid::new_v4();
            let request = Request::keyed_purchase(self.customer, self.disc, key);
            for attempt in 1..=2 {
                let record = self.send(&request, key, attempt).await;
                let again = attempt == 1 && self.retry.wanted(&record.outcome);
                let failed = record.outcome.answer().is_none();
                records.push(record);
                if !again {
                    if failed {
                        // The server is down or restarting: no busy loop.
                        sleep(Duration::from_millis(20)).await;
                    }
                    break;
                }
                sleep(RETRY_AFTER).await;
            }
        }
        records
    }

    async fn send(&self, request: &Request, key: Uuid, attempt: u8) -> Record {
        let sent = self.start.elapsed();
        let outcome = self.api.send(request).await;
        let done = self.start.elapsed();
        if outcome.is_created() || outcome.is_accepted() {
            let live = &self.live;
            live.last_created_ms
                .fetch_max(millis(done), Ordering::Relaxed);
            live.last_created_sent_ms
                .fetch_max(millis(sent), Ordering::Relaxed);
        }
        Record {
            sent,
            done,
            outcome,
            key,
            attempt,
        }
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
    /// and contention), the proxy's 502 and 504 included.
    pub server_errors: usize,
    /// 502 and 504 answers: a proxy's, for an instance it could not hear
    /// from (see [`is_gateway`]).
    pub gateway: usize,
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
                    if is_gateway(answer.status) {
                        tally.gateway += 1;
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
            key: Uuid::nil(),
            attempt: 1,
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
            record(answered(502, None, None)),
            record(Reply::Lost(Failure::Timeout)),
            record(Reply::NotSent(Failure::Connect)),
        ];
        let tally = Tally::of(records.iter().map(|record| &record.outcome));
        assert_eq!(tally.requests, 7);
        assert_eq!(tally.created, 2);
        assert_eq!(tally.orders, vec![id]);
        assert_eq!(tally.created_without_id, 1);
        assert_eq!((tally.server_errors, tally.gateway), (2, 1));
        assert_eq!((tally.unknown, tally.not_sent), (1, 1));
        assert_eq!(
            tally.answers(),
            "201×2, 500 internal×1, 502×1, 503 unavailable×1, unanswered×1, refused connection×1"
        );
    }

    #[test]
    fn only_a_proxy_failure_or_no_answer_is_retried() {
        let retry = Retry::OnceWithTheKey;
        assert!(retry.wanted(&answered(502, None, None)));
        assert!(retry.wanted(&answered(504, None, None)));
        assert!(retry.wanted(&Reply::Lost(Failure::Io)));
        assert!(retry.wanted(&Reply::NotSent(Failure::Connect)));
        // The server's own refusals are answers: nothing was bought.
        assert!(!retry.wanted(&answered(503, Some("unavailable"), None)));
        assert!(!retry.wanted(&answered(201, None, Some(Uuid::nil()))));
        assert!(!Retry::Never.wanted(&answered(502, None, None)));
    }

    #[test]
    fn percentiles_pick_by_rank() {
        let values: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&values, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&values, 100.0), Duration::from_millis(100));
        assert_eq!(percentile(&[], 50.0), Duration::ZERO);
    }
}
