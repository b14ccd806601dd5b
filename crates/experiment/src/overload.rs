//! `overload`: purchases of the hot disc arriving at a constant rate, open
//! loop, at 1×, 2× and 4× what the strategy sells when it is kept busy
//! (its capacity, measured first on the same server by a closed loop). A
//! server that copes keeps selling at capacity and tells the excess at once
//! that it is overloaded; one that does not lets every queue grow until
//! its buyers time out.
//!
//! `queued` and `hybrid` answer 202 for what they take in pending: their
//! capacity and goodput count 201 and 202 answers alike (each a purchase
//! the shop has committed to deciding), with 202/s shown apart, and under
//! `hybrid` the breaker's state is polled from `/health` every 100 ms for
//! the timeline chart (`timeline-overload-hybrid.svg`).

use std::time::Duration;

use std::sync::Arc;

use recordshop_harness::api::{Reply, Request};
use recordshop_harness::memory::Memory;
use recordshop_postgres::ConcurrencyStrategy;
use serde::Serialize;
use uuid::Uuid;

use crate::load::{self, Live};
use crate::open_loop::{self, Sent};
use crate::prep::{self, Prepared};
use crate::progress::RunProgress;
use crate::scenario::{Plan, Scenario, UNLIMITED_STOCK};
use crate::session::{self, Lab, Setup, Tally};
use crate::stats::{Latency, latency_of_micros};

/// How an overload run is shaped.
#[derive(Clone, Debug, Serialize)]
pub struct OverloadPlan {
    /// The closed loop that measures capacity: clients and duration.
    pub probe_clients: usize,
    #[serde(rename = "probe_s", serialize_with = "crate::scenario::as_secs")]
    pub probe: Duration,
    /// Multiples of capacity offered, each for `level`.
    pub multiples: Vec<f64>,
    #[serde(rename = "level_s", serialize_with = "crate::scenario::as_secs")]
    pub level: Duration,
    /// Requests open at once at most.
    pub connections: usize,
    /// Customers the purchases cycle through.
    pub customers: usize,
}

impl OverloadPlan {
    /// 1×, 2× and 4× for 30 s each; `batched` (and `hybrid`, whose
    /// capacity is `batched`'s, and `queued`) stop at 2×: 4× of `batched`
    /// the load generator cannot produce on two cores beside the server.
    #[must_use]
    pub fn new(strategy: ConcurrencyStrategy, quick: bool) -> Self {
        let multiples = if matches!(
            strategy,
            ConcurrencyStrategy::Batched
                | ConcurrencyStrategy::Hybrid
                | ConcurrencyStrategy::Queued
        ) {
            vec![1.0, 2.0]
        } else {
            vec![1.0, 2.0, 4.0]
        };
        Self {
            probe_clients: 128,
            probe: if quick {
                Duration::from_secs(3)
            } else {
                Duration::from_secs(10)
            },
            multiples,
            level: if quick {
                Duration::from_secs(5)
            } else {
                Duration::from_secs(30)
            },
            connections: 2_000,
            customers: 256,
        }
    }

    /// Purchases at `rate` per second for the level's duration.
    #[must_use]
    pub fn schedule(&self, rate: f64, customers: &[Uuid], disc: Uuid) -> Vec<open_loop::Arrival> {
        let count = (rate * self.level.as_secs_f64()).round().max(1.0) as usize;
        open_loop::evenly(count, self.level, |i| {
            Request::purchase(customers[i % customers.len().max(1)], disc)
        })
    }
}

/// One level of offered load.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Level {
    pub multiple: f64,
    pub offered_per_s: f64,
    /// Purchases answered 201 or 202 per second of the level.
    pub goodput_per_s: f64,
    /// Of which answered 202 (taken in pending).
    pub accepted_per_s: f64,
    /// Purchases answered 201 or 202, waited from when they were due.
    pub successes: Option<Latency>,
    /// Purchases answered 503 `overloaded`, and how fast.
    pub shed: u64,
    pub shed_latency: Option<Latency>,
    /// No answer within the client's timeout, or the connection lost.
    pub unanswered: u64,
    /// Any other answer (another 5xx, an unexpected 4xx).
    pub other: u64,
}

/// What one level's outcomes show.
#[must_use]
pub fn analyse(multiple: f64, offered_per_s: f64, level: Duration, sent: &[Sent]) -> Level {
    let created: Vec<&Sent> = sent
        .iter()
        .filter(|s| s.reply.is_created() || s.reply.is_accepted())
        .collect();
    let accepted = sent.iter().filter(|s| s.reply.is_accepted()).count();
    let shed: Vec<&Sent> = sent.iter().filter(|s| s.reply.is_overloaded()).collect();
    let unanswered = sent
        .iter()
        .filter(|s| matches!(s.reply, Reply::Lost(_) | Reply::NotSent(_)))
        .count() as u64;
    Level {
        multiple,
        offered_per_s,
        goodput_per_s: created.len() as f64 / level.as_secs_f64().max(f64::EPSILON),
        accepted_per_s: accepted as f64 / level.as_secs_f64().max(f64::EPSILON),
        successes: latency_of_micros(created.iter().map(|s| s.latency_us())),
        shed: shed.len() as u64,
        shed_latency: latency_of_micros(shed.iter().map(|s| s.latency_us())),
        unanswered,
        other: (sent.len() - created.len() - shed.len()) as u64 - unanswered,
    }
}

/// One strategy under overload.
#[derive(Clone, Debug, Serialize)]
pub struct OverloadReport {
    pub strategy: ConcurrencyStrategy,
    pub plan: OverloadPlan,
    /// Purchases answered 201 or 202 per second of the closed-loop probe.
    pub capacity_per_s: Option<f64>,
    pub levels: Vec<Level>,
    /// Answers per 100 ms through the levels (from the first level's
    /// start), and `hybrid`'s breaker polled as often: the timeline chart.
    pub timeline: Vec<AnswerBucket>,
    pub breaker: Vec<BreakerSample>,
    pub database: String,
    /// The server's resident memory through the whole run.
    pub memory: Option<Memory>,
    pub check: Option<crate::check::Check>,
    pub error: Option<String>,
}

impl OverloadReport {
    /// The highest level offered.
    #[must_use]
    pub fn top(&self) -> Option<&Level> {
        self.levels
            .iter()
            .max_by(|a, b| a.multiple.total_cmp(&b.multiple))
    }

    /// The level at capacity.
    #[must_use]
    pub fn at_capacity(&self) -> Option<&Level> {
        self.levels.iter().find(|level| level.multiple == 1.0)
    }
}

impl OverloadReport {
    #[must_use]
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.check.as_ref().is_some_and(|check| check.pass)
    }
}

/// Answers of one 100 ms of the levels, by when they arrived.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AnswerBucket {
    pub start_ms: u64,
    pub created: u64,
    pub accepted: u64,
    pub shed: u64,
}

/// The hybrid's breaker as `/health` showed it: 0 closed, 1 half-open, 2
/// open.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BreakerSample {
    pub at_ms: u64,
    pub state: u8,
}

/// The width of a timeline bucket, and the breaker's polling period.
const TICK: Duration = Duration::from_millis(100);

/// Adds `sent`, whose times count from `offset` after the first level's
/// start, to `timeline`.
fn add_to_timeline(timeline: &mut Vec<AnswerBucket>, offset: Duration, sent: &[Sent]) {
    let tick_us = TICK.as_micros() as u64;
    for one in sent {
        let at_us = offset.as_micros() as u64 + one.done_us;
        let index = (at_us / tick_us) as usize;
        if timeline.len() <= index {
            timeline.resize_with(index + 1, AnswerBucket::default);
        }
        let bucket = &mut timeline[index];
        if one.reply.is_created() {
            bucket.created += 1;
        } else if one.reply.is_accepted() {
            bucket.accepted += 1;
        } else if one.reply.is_overloaded() {
            bucket.shed += 1;
        }
    }
    for (index, bucket) in timeline.iter_mut().enumerate() {
        bucket.start_ms = index as u64 * TICK.as_millis() as u64;
    }
}

/// Polls `/health` every [`TICK`] until `stop` is dropped; the breaker's
/// states, timed from `start`.
async fn poll_breaker(
    api: recordshop_harness::api::Api,
    start: std::time::Instant,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) -> Vec<BreakerSample> {
    let mut samples = Vec::new();
    let mut ticks = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = &mut stop => return samples,
            _ = ticks.tick() => {}
        }
        let state = api.health().await.and_then(|health| {
            match health.get("breaker")?.get("state")?.as_str()? {
                "closed" => Some(0),
                "half_open" => Some(1),
                "open" => Some(2),
                _ => None,
            }
        });
        if let Some(state) = state {
            samples.push(BreakerSample {
                at_ms: start.elapsed().as_millis() as u64,
                state,
            });
        }
    }
}

/// Between levels, for the queues of the last one to drain.
const SETTLE: Duration = Duration::from_secs(2);
const MEMORY_EVERY: Duration = Duration::from_millis(200);

/// Measures capacity, then offers each multiple of it, on one fresh server.
pub(crate) async fn run(
    lab: &Lab,
    plan: &OverloadPlan,
    strategy: ConcurrencyStrategy,
) -> OverloadReport {
    let progress = RunProgress::new(format!("overload · {strategy}"));
    let mut report = OverloadReport {
        strategy,
        plan: plan.clone(),
        capacity_per_s: None,
        levels: Vec::new(),
        timeline: Vec::new(),
        breaker: Vec::new(),
        database: String::new(),
        memory: None,
        check: None,
        error: None,
    };
    let setup = Setup::open_loop(&["overload"], strategy, plan.connections);
    let ended = session::run(lab, setup, &progress, async |session| {
        progress.phase(&format!("creating 1 disc and {} customers", plan.customers));
        let prepared = Prepared {
            discs: prep::discs(&session.api, 1, UNLIMITED_STOCK).await?,
            customers: prep::customers(&session.api, plan.customers, &lab.tag).await?,
        };
        let memory = session.sample_memory(MEMORY_EVERY);
        let mut tally = Tally::default();
        progress.phase(&format!(
            "capacity: {} closed-loop clients for {:.0} s",
            plan.probe_clients,
            plan.probe.as_secs_f64()
        ));
        let probe = Plan {
            scenario: Scenario::Hot,
            clients: plan.probe_clients,
            duration: plan.probe,
            think: None,
            discs: 1,
            stock_per_disc: UNLIMITED_STOCK,
            customers: plan.customers,
        };
        let live = Arc::new(Live::default());
        let log = load::drive(&session.api, &probe, &prepared, &live, fastrand::u64(..)).await?;
        tally.created += log.samples.iter().filter(|s| s.is_order()).count() as u64;
        tally.accepted += log.samples.iter().filter(|s| s.is_accepted()).count() as u64;
        tally.unknown += log.unknown_purchases();
        let answered = log
            .samples
            .iter()
            .filter(|s| s.is_order() || s.is_accepted())
            .count();
        let capacity = answered as f64 / log.elapsed.as_secs_f64().max(f64::EPSILON);
        report.capacity_per_s = Some(capacity);
        tokio::time::sleep(SETTLE).await;
        let levels_start = std::time::Instant::now();
        let (stop_polling, stop) = tokio::sync::oneshot::channel();
        let polling = (strategy == ConcurrencyStrategy::Hybrid)
            .then(|| tokio::spawn(poll_breaker(session.api.clone(), levels_start, stop)));
        for (n, &multiple) in plan.multiples.iter().enumerate() {
            if n > 0 {
                tokio::time::sleep(SETTLE).await;
            }
            let rate = capacity * multiple;
            progress.phase(&format!(
                "{multiple}× capacity: {rate:.0} purchases/s for {:.0} s",
                plan.level.as_secs_f64()
            ));
            let schedule = plan.schedule(rate, &prepared.customers, prepared.discs[0]);
            let offset = levels_start.elapsed();
            let sent = open_loop::drive(&session.api, &schedule, plan.connections).await?;
            add_to_timeline(&mut report.timeline, offset, &sent);
            let level = analyse(multiple, rate, plan.level, &sent);
            tally.created += sent.iter().filter(|s| s.reply.is_created()).count() as u64;
            tally.accepted += sent.iter().filter(|s| s.reply.is_accepted()).count() as u64;
            tally.unknown += level.unanswered;
            report.levels.push(level);
        }
        // A last second of the breaker, to see it close.
        tokio::time::sleep(SETTLE).await;
        drop(stop_polling);
        if let Some(polling) = polling {
            report.breaker = polling.await.unwrap_or_default();
        }
        report.memory = Some(memory.finish());
        Ok(((), tally))
    })
    .await;
    progress.finish();
    report.database = ended.database;
    report.check = ended.check;
    report.error = ended.outcome.err();
    report
}

/// One table row per level of every strategy.
#[must_use]
pub fn text(reports: &[OverloadReport]) -> String {
    let mut out = String::from(
        "overload — open loop at multiples of capacity\n\
         (goodput: 201 and 202 answers; 202/s: of which taken in pending)\n\
         strategy     capacity/s  offered  offered/s  goodput/s      202/s  p99 ok ms  shed  shed p99 ms  unanswered  other\n",
    );
    for report in reports {
        if let Some(error) = &report.error {
            out.push_str(&format!(
                "{:<12} error: {error}\n",
                report.strategy.as_str()
            ));
        }
        let capacity = report
            .capacity_per_s
            .map_or_else(|| "-".to_owned(), |c| format!("{c:.0}"));
        for level in &report.levels {
            out.push_str(&format!(
                "{:<12} {:>10} {:>7}× {:>10.0} {:>10.0} {:>10.0} {:>10} {:>5} {:>11} {:>11} {:>6}\n",
                report.strategy.as_str(),
                capacity,
                level.multiple,
                level.offered_per_s,
                level.goodput_per_s,
                level.accepted_per_s,
                ms(level.successes.as_ref().map(|l| l.p99_ms)),
                level.shed,
                ms(level.shed_latency.as_ref().map(|l| l.p99_ms)),
                level.unanswered,
                level.other,
            ));
        }
        if let Some(queue) = report
            .check
            .as_ref()
            .and_then(crate::check::Check::queue_text)
        {
            out.push_str(&format!("{:<12} {queue}\n", ""));
        }
        if !report.breaker.is_empty() {
            out.push_str(&format!(
                "{:<12} breaker: {}\n",
                "",
                breaker_changes(&report.breaker)
            ));
        }
    }
    out
}

/// The breaker's changes of state as polled: `closed 0.0 s → open 31.2 s
/// → half_open 32.3 s → …`.
fn breaker_changes(samples: &[BreakerSample]) -> String {
    let name = |state: u8| match state {
        0 => "closed",
        1 => "half_open",
        _ => "open",
    };
    let mut changes: Vec<String> = Vec::new();
    let mut last = None;
    for sample in samples {
        if last != Some(sample.state) {
            changes.push(format!(
                "{} {:.1} s",
                name(sample.state),
                sample.at_ms as f64 / 1e3
            ));
            last = Some(sample.state);
        }
    }
    changes.join(" → ")
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use recordshop_harness::api::Failure;

    fn reply(status: u16, code: Option<&str>) -> Reply {
        Reply::answered(status, code)
    }

    fn sent(due_ms: u64, done_ms: u64, reply: Reply) -> Sent {
        Sent {
            arrival: 0,
            due_us: due_ms * 1_000,
            sent_us: due_ms * 1_000,
            done_us: done_ms * 1_000,
            reply,
        }
    }

    #[test]
    fn a_level_counts_goodput_shedding_and_losses() {
        let level = analyse(
            2.0,
            4.0,
            Duration::from_secs(1),
            &[
                sent(0, 10, reply(201, None)),
                sent(250, 270, reply(201, None)),
                sent(500, 501, reply(503, Some("overloaded"))),
                sent(750, 10_750, Reply::Lost(Failure::Timeout)),
                sent(800, 900, reply(503, Some("unavailable"))),
            ],
        );
        assert_eq!(level.goodput_per_s, 2.0);
        assert_eq!(level.shed, 1);
        assert_eq!(level.unanswered, 1);
        assert_eq!(level.other, 1);
        assert_eq!(level.successes.map(|l| l.max_ms), Some(20.0));
    }

    #[test]
    fn batched_stops_at_twice_its_capacity() {
        assert_eq!(
            OverloadPlan::new(ConcurrencyStrategy::Batched, false).multiples,
            [1.0, 2.0]
        );
        assert_eq!(
            OverloadPlan::new(ConcurrencyStrategy::Atomic, false).multiples,
            [1.0, 2.0, 4.0]
        );
    }
}
