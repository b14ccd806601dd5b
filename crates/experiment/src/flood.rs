//! `flood`: a launch as it happens. Thousands of buyers, each a customer of
//! its own buying one unit, arrive within one second for a disc of a few
//! hundred units, open loop (see `open_loop.rs`). What counts: exactly the
//! stock sold, every buyer answered, how long they waited, and whether the
//! units went to the buyers who came first.

use std::collections::BTreeMap;
use std::time::Duration;

use recordshop_harness::api::{Reply, Request};
use recordshop_harness::memory::Memory;
use recordshop_postgres::ConcurrencyStrategy;
use serde::Serialize;
use uuid::Uuid;

use crate::check::Check;
use crate::open_loop::{self, Sent};
use crate::prep;
use crate::progress::RunProgress;
use crate::session::{self, Lab, Setup, Tally};
use crate::stats::{Latency, latency_of_micros};

/// How a flood is shaped.
#[derive(Clone, Debug, Serialize)]
pub struct FloodPlan {
    pub buyers: usize,
    #[serde(rename = "window_s", serialize_with = "crate::scenario::as_secs")]
    pub window: Duration,
    pub stock: i64,
    /// Requests open at once at most: connections of the buyers' clients.
    pub connections: usize,
}

impl FloodPlan {
    /// The launch: 5,000 buyers within 1 s over 2,000 connections
    /// for 500 units; `--quick` keeps the shape at a fifth of the size.
    #[must_use]
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                buyers: 1_000,
                window: Duration::from_secs(1),
                stock: 100,
                connections: 400,
            }
        } else {
            Self {
                buyers: 5_000,
                window: Duration::from_secs(1),
                stock: 500,
                connections: 2_000,
            }
        }
    }

    /// One purchase per buyer, evenly over the window.
    #[must_use]
    pub fn schedule(&self, customers: &[Uuid], disc: Uuid) -> Vec<open_loop::Arrival> {
        open_loop::evenly(self.buyers, self.window, |i| {
            Request::purchase(customers[i % customers.len().max(1)], disc)
        })
    }
}

/// A buyer sent earlier than another by more than this, refused while the
/// later one got a unit, is unfair; within it, the order of two requests is
/// the tool's own scheduling noise.
pub const FAIRNESS_SLACK: Duration = Duration::from_millis(2);

/// What one flood showed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FloodOutcome {
    /// Units sold within their request (201).
    pub sold: u64,
    /// Purchases taken in pending (202, `queued` and `hybrid`): decided by
    /// the workers after the flood; the units they got are the check's
    /// `units_sold` minus `sold`.
    pub accepted: u64,
    /// When the last unit's answer arrived, from the first buyer's arrival.
    pub sell_out_ms: Option<f64>,
    /// Every answer, waited from when its buyer arrived.
    pub latency: Option<Latency>,
    /// Answers by status and problem code; `error …` for none.
    pub statuses: BTreeMap<String, u64>,
    /// Buyers with no answer (timeouts, lost connections).
    pub unanswered: u64,
    /// 5xx answers other than the documented shed (503 `overloaded`).
    pub server_errors: u64,
    /// Buyers who got a unit although one sent earlier (by more than
    /// [`FAIRNESS_SLACK`]) was refused for stock.
    pub fairness_violations: u64,
    /// p99 of how late the tool itself sent requests.
    pub send_lag_p99_ms: Option<f64>,
    /// Answers per 50 ms by when they arrived, for the timeline chart.
    pub timeline: Vec<FloodBucket>,
}

/// 50 ms of a flood.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FloodBucket {
    pub start_ms: u64,
    pub created: u64,
    pub sold_out: u64,
    pub shed: u64,
    pub other: u64,
}

const BUCKET_MS: u64 = 50;

/// Reads a flood's outcomes.
#[must_use]
pub fn analyse(sent: &[Sent]) -> FloodOutcome {
    let mut outcome = FloodOutcome::default();
    for request in sent {
        *outcome.statuses.entry(request.reply.label()).or_default() += 1;
        match &request.reply {
            Reply::Answer(answer) if answer.status == 201 => outcome.sold += 1,
            Reply::Answer(answer) if answer.status == 202 => outcome.accepted += 1,
            Reply::Answer(answer) if answer.status >= 500 && !request.reply.is_overloaded() => {
                outcome.server_errors += 1;
            }
            Reply::Answer(_) => {}
            Reply::NotSent(_) | Reply::Lost(_) => outcome.unanswered += 1,
        }
    }
    outcome.sell_out_ms = sent
        .iter()
        .filter(|request| request.reply.is_created())
        .map(|request| request.done_us)
        .max()
        .map(|us| us as f64 / 1e3);
    outcome.latency = latency_of_micros(sent.iter().map(Sent::latency_us));
    outcome.send_lag_p99_ms =
        latency_of_micros(sent.iter().map(Sent::lag_us)).map(|lag| lag.p99_ms);
    outcome.fairness_violations = fairness_violations(sent);
    outcome.timeline = timeline(sent);
    outcome
}

fn is_sold_out(reply: &Reply) -> bool {
    reply.answer().is_some_and(|answer| {
        answer.status == 409 && answer.code.as_deref() == Some("out_of_stock")
    })
}

/// Units that went to a buyer sent later, by more than the slack, than
/// some buyer refused for stock.
fn fairness_violations(sent: &[Sent]) -> u64 {
    let slack = u64::try_from(FAIRNESS_SLACK.as_micros()).unwrap_or(u64::MAX);
    let Some(first_refused) = sent
        .iter()
        .filter(|request| is_sold_out(&request.reply))
        .map(|request| request.sent_us)
        .min()
    else {
        return 0;
    };
    sent.iter()
        .filter(|request| request.reply.is_created())
        .filter(|request| request.sent_us > first_refused.saturating_add(slack))
        .count() as u64
}

fn timeline(sent: &[Sent]) -> Vec<FloodBucket> {
    let Some(last) = sent.iter().map(|request| request.done_us).max() else {
        return Vec::new();
    };
    let buckets = usize::try_from(last / 1_000 / BUCKET_MS + 1).unwrap_or(0);
    let mut timeline: Vec<FloodBucket> = (0..buckets)
        .map(|i| FloodBucket {
            start_ms: i as u64 * BUCKET_MS,
            ..FloodBucket::default()
        })
        .collect();
    for request in sent {
        let Some(bucket) = usize::try_from(request.done_us / 1_000 / BUCKET_MS)
            .ok()
            .and_then(|i| timeline.get_mut(i))
        else {
            continue;
        };
        if request.reply.is_created() {
            bucket.created += 1;
        } else if is_sold_out(&request.reply) {
            bucket.sold_out += 1;
        } else if request.reply.is_overloaded() {
            bucket.shed += 1;
        } else {
            bucket.other += 1;
        }
    }
    timeline
}

/// One strategy's flood.
#[derive(Clone, Debug, Serialize)]
pub struct FloodReport {
    pub strategy: ConcurrencyStrategy,
    pub plan: FloodPlan,
    pub outcome: Option<FloodOutcome>,
    pub database: String,
    /// The server's resident memory through the flood.
    pub memory: Option<Memory>,
    pub check: Option<Check>,
    pub error: Option<String>,
}

impl FloodReport {
    #[must_use]
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.check.as_ref().is_some_and(|check| check.pass)
    }
}

/// Floods a fresh server running `strategy`.
pub(crate) async fn run(lab: &Lab, plan: &FloodPlan, strategy: ConcurrencyStrategy) -> FloodReport {
    let progress = RunProgress::new(format!("flood · {strategy}"));
    let mut report = FloodReport {
        strategy,
        plan: plan.clone(),
        outcome: None,
        database: String::new(),
        memory: None,
        check: None,
        error: None,
    };
    let setup = Setup::open_loop(&["flood"], strategy, plan.connections);
    let ended = session::run(lab, setup, &progress, async |session| {
        progress.phase(&format!("creating 1 disc and {} customers", plan.buyers));
        let disc = prep::discs(&session.api, 1, plan.stock).await?;
        let customers = prep::customers(&session.api, plan.buyers, &lab.tag).await?;
        let schedule = plan.schedule(&customers, disc[0]);
        progress.phase(&format!(
            "{} buyers within {:.0} s",
            plan.buyers,
            plan.window.as_secs_f64()
        ));
        let memory = session.sample_memory(MEMORY_EVERY);
        let sent = open_loop::drive(&session.api, &schedule, plan.connections).await?;
        report.memory = Some(memory.finish());
        let outcome = analyse(&sent);
        let tally = Tally {
            created: outcome.sold,
            accepted: outcome.accepted,
            unknown: outcome.unanswered,
        };
        report.outcome = Some(outcome);
        Ok(((), tally))
    })
    .await;
    progress.finish();
    report.database = ended.database;
    report.check = ended.check;
    report.error = ended.outcome.err();
    report
}

const MEMORY_EVERY: Duration = Duration::from_millis(100);

/// One line per strategy.
#[must_use]
pub fn text(reports: &[FloodReport]) -> String {
    let mut out = String::from(
        "flood — buyers arriving within the window, open loop\n\
         strategy     buyers  stock  sold  sell-out ms    p50 ms    p99 ms    max ms  unanswered  5xx  unfair  answers\n",
    );
    for report in reports {
        let Some(outcome) = &report.outcome else {
            out.push_str(&format!(
                "{:<12} error: {}\n",
                report.strategy.as_str(),
                report.error.as_deref().unwrap_or("no result")
            ));
            continue;
        };
        let latency = |pick: fn(&Latency) -> f64| {
            outcome
                .latency
                .as_ref()
                .map_or_else(|| "-".to_owned(), |l| format!("{:.1}", pick(l)))
        };
        out.push_str(&format!(
            "{:<12} {:>6} {:>6} {:>5} {:>12} {:>9} {:>9} {:>9} {:>11} {:>4} {:>7}  {}\n",
            report.strategy.as_str(),
            report.plan.buyers,
            report.plan.stock,
            outcome.sold,
            outcome
                .sell_out_ms
                .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0}")),
            latency(|l| l.p50_ms),
            latency(|l| l.p99_ms),
            latency(|l| l.max_ms),
            outcome.unanswered,
            outcome.server_errors,
            outcome.fairness_violations,
            outcome
                .statuses
                .iter()
                .map(|(label, count)| format!("{label}×{count}"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
        if let Some(queue) = report
            .check
            .as_ref()
            .and_then(crate::check::Check::queue_text)
        {
            out.push_str(&format!("{:<12} {queue}\n", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use recordshop_harness::api::Failure;

    fn answer(status: u16, code: Option<&str>) -> Reply {
        Reply::answered(status, code)
    }

    fn sent(arrival: usize, sent_ms: u64, done_ms: u64, reply: Reply) -> Sent {
        Sent {
            arrival,
            due_us: sent_ms * 1_000,
            sent_us: sent_ms * 1_000,
            done_us: done_ms * 1_000,
            reply,
        }
    }

    #[test]
    fn a_flood_served_in_arrival_order_is_fair() {
        let outcome = analyse(&[
            sent(0, 0, 5, answer(201, None)),
            sent(1, 1, 6, answer(201, None)),
            sent(2, 2, 7, answer(409, Some("out_of_stock"))),
            sent(3, 3, 8, answer(409, Some("out_of_stock"))),
        ]);
        assert_eq!(outcome.sold, 2);
        assert_eq!(outcome.fairness_violations, 0);
        assert_eq!(outcome.sell_out_ms, Some(6.0));
        assert_eq!(outcome.unanswered, 0);
        assert_eq!(outcome.statuses["409 out_of_stock"], 2);
    }

    #[test]
    fn a_unit_for_a_later_buyer_after_an_earlier_refusal_is_unfair() {
        let outcome = analyse(&[
            sent(0, 0, 5, answer(409, Some("out_of_stock"))),
            // Within the slack: noise, not unfairness.
            sent(1, 1, 6, answer(201, None)),
            sent(2, 10, 12, answer(201, None)),
        ]);
        assert_eq!(outcome.fairness_violations, 1);
    }

    #[test]
    fn shedding_is_no_server_error_but_a_500_and_a_timeout_count() {
        let outcome = analyse(&[
            sent(0, 0, 1, answer(503, Some("overloaded"))),
            sent(1, 0, 1, answer(503, Some("unavailable"))),
            sent(2, 0, 1, answer(500, Some("internal"))),
            sent(3, 0, 10_000, Reply::Lost(Failure::Timeout)),
        ]);
        assert_eq!(outcome.server_errors, 2);
        assert_eq!(outcome.unanswered, 1);
        assert_eq!(outcome.timeline[0].shed, 1);
        assert_eq!(outcome.timeline[0].other, 2);
    }
}
