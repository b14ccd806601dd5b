//! The load: one task per client, each sending the scenario's requests until
//! a shared deadline, recording every answer. A request still unanswered at
//! the deadline is abandoned and counted as in flight: the server may or may
//! not have completed it, and the consistency check allows for that.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until, timeout_at};

use crate::prep::Prepared;
use crate::scenario::Plan;
use recordshop_harness::api::{Api, Request};

/// Counters the progress display reads while the load runs.
#[derive(Debug, Default)]
pub struct Live {
    pub requests: AtomicU64,
    pub orders: AtomicU64,
    pub failures: AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Purchase,
    ListDiscs,
    GetDisc,
}

/// One answered request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub op: Op,
    /// When the answer arrived, from the start of the load.
    pub done_ms: u32,
    pub latency_us: u32,
    /// HTTP status; 0 when the request failed without one.
    pub status: u16,
}

impl Sample {
    pub fn is_order(&self) -> bool {
        self.op == Op::Purchase && self.status == 201
    }

    /// A purchase taken in pending (202): `queued`, or `hybrid` with its
    /// breaker open.
    pub fn is_accepted(&self) -> bool {
        self.op == Op::Purchase && self.status == 202
    }

    /// A server error or no answer at all: what siege calls a failed
    /// transaction. 4xx answers (a 409 when sold out) are correct answers.
    pub fn is_failure(&self) -> bool {
        self.status == 0 || self.status >= 500
    }
}

/// Everything the load observed.
#[derive(Clone, Debug, Default)]
pub struct RunLog {
    pub samples: Vec<Sample>,
    /// Answers by [`recordshop_harness::api::Reply::label`].
    pub labels: BTreeMap<String, u64>,
    /// Requests abandoned at the deadline, and how many were purchases.
    pub in_flight: u64,
    pub in_flight_purchases: u64,
    pub elapsed: Duration,
}

impl RunLog {
    fn absorb(&mut self, other: RunLog) {
        self.samples.extend(other.samples);
        for (label, count) in other.labels {
            *self.labels.entry(label).or_default() += count;
        }
        self.in_flight += other.in_flight;
        self.in_flight_purchases += other.in_flight_purchases;
    }

    /// Purchases whose outcome the client cannot know: cut off at the
    /// deadline, or lost to a transport error after being sent.
    pub fn unknown_purchases(&self) -> u64 {
        let lost = self
            .samples
            .iter()
            .filter(|s| s.op == Op::Purchase && s.status == 0)
            .count() as u64;
        self.in_flight_purchases + lost
    }
}

/// Runs `plan` against the server behind `api` and returns what it saw.
pub async fn drive(
    api: &Api,
    plan: &Plan,
    prepared: &Prepared,
    live: &Arc<Live>,
    seed: u64,
) -> anyhow::Result<RunLog> {
    let start = Instant::now();
    let deadline = start + plan.duration;
    let prepared = Arc::new(prepared.clone());
    let mut clients = JoinSet::new();
    for client in 0..plan.clients {
        let client_loop = ClientLoop {
            id: client,
            api: api.clone(),
            plan: plan.clone(),
            prepared: Arc::clone(&prepared),
            live: Arc::clone(live),
            rng: fastrand::Rng::with_seed(seed ^ (client as u64).wrapping_mul(0x9E37_79B9)),
        };
        clients.spawn(client_loop.run(start, deadline));
    }
    let mut log = RunLog::default();
    while let Some(joined) = clients.join_next().await {
        log.absorb(joined.context("a load client panicked")?);
    }
    log.elapsed = start.elapsed();
    log.samples.sort_by_key(|s| s.done_ms);
    Ok(log)
}

/// What the server's `Retry-After` says to a purchase it sheds.
const OVERLOADED_RETRY: Duration = Duration::from_secs(1);

struct ClientLoop {
    id: usize,
    api: Api,
    plan: Plan,
    prepared: Arc<Prepared>,
    live: Arc<Live>,
    rng: fastrand::Rng,
}

impl ClientLoop {
    async fn run(mut self, start: Instant, deadline: Instant) -> RunLog {
        let mut log = RunLog::default();
        loop {
            if let Some(think) = self.plan.think {
                let pause = Duration::from_millis(self.rng.u64(0..=think.as_millis() as u64));
                sleep_until((Instant::now() + pause).min(deadline)).await;
            }
            if Instant::now() >= deadline {
                break;
            }
            let Some(request) = self.plan.next_request(
                &mut self.rng,
                self.id,
                &self.prepared.customers,
                &self.prepared.discs,
            ) else {
                break;
            };
            let op = op_of(&request);
            let sent = Instant::now();
            let Ok(answer) = timeout_at(deadline, self.api.send(&request)).await else {
                log.in_flight += 1;
                if op == Op::Purchase {
                    log.in_flight_purchases += 1;
                }
                break;
            };
            let done = Instant::now();
            let sample = Sample {
                op,
                done_ms: millis(done - start),
                latency_us: micros(done - sent),
                status: answer.status(),
            };
            self.count_live(&sample);
            *log.labels.entry(answer.label()).or_default() += 1;
            log.samples.push(sample);
            if answer.is_overloaded() {
                // As a buyer's client does when told to come back: the
                // server sheds what it cannot serve, and a client that
                // came straight back would only spend the CPU the
                // admitted purchases need.
                sleep_until((Instant::now() + OVERLOADED_RETRY).min(deadline)).await;
            }
        }
        log
    }

    fn count_live(&self, sample: &Sample) {
        self.live.requests.fetch_add(1, Ordering::Relaxed);
        if sample.is_order() {
            self.live.orders.fetch_add(1, Ordering::Relaxed);
        }
        if sample.is_failure() {
            self.live.failures.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn op_of(request: &Request) -> Op {
    match request {
        Request::Purchase { .. } => Op::Purchase,
        Request::ListDiscs { .. } => Op::ListDiscs,
        Request::GetDisc { .. } => Op::GetDisc,
    }
}

fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_millis()).unwrap_or(u32::MAX)
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(op: Op, status: u16) -> Sample {
        Sample {
            op,
            done_ms: 0,
            latency_us: 1,
            status,
        }
    }

    #[test]
    fn unknown_purchases_are_cut_off_or_lost_ones() {
        let log = RunLog {
            samples: vec![
                sample(Op::Purchase, 201),
                sample(Op::Purchase, 0),
                sample(Op::GetDisc, 0),
            ],
            in_flight: 3,
            in_flight_purchases: 2,
            ..RunLog::default()
        };
        assert_eq!(log.unknown_purchases(), 3);
    }

    #[test]
    fn sold_out_is_an_answer_and_contention_a_failure() {
        assert!(!sample(Op::Purchase, 409).is_failure());
        assert!(sample(Op::Purchase, 503).is_failure());
        assert!(sample(Op::Purchase, 201).is_order());
        assert!(!sample(Op::ListDiscs, 201).is_order());
    }
}
