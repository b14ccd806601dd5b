//! The open-loop load: every request leaves at its scheduled time whatever
//! the answers to the earlier ones, as buyers arriving at a launch do, and
//! its latency counts from that scheduled time (the coordinated-omission
//! correction of wrk2 and HdrHistogram): a request that had to wait for a
//! free connection waited as its buyer did.
//!
//! The closed loop of `load.rs` never offers more than the server takes;
//! this one does, which is what a flood and an overload are.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use recordshop_harness::api::{Api, Reply, Request};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

/// One request of the schedule.
#[derive(Clone, Debug)]
pub struct Arrival {
    /// When it is due, from the start of the load.
    pub due: Duration,
    pub request: Request,
}

/// What became of one arrival.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Its index in the schedule.
    pub arrival: usize,
    /// When it was due, when the client could send it (a connection was
    /// free and the runtime got to it), and when its answer was complete,
    /// in microseconds from the start of the load.
    pub due_us: u64,
    pub sent_us: u64,
    pub done_us: u64,
    pub reply: Reply,
}

impl Sent {
    /// From when it was due to its answer: what the buyer waited.
    #[must_use]
    pub fn latency_us(&self) -> u64 {
        self.done_us.saturating_sub(self.due_us).max(1)
    }

    /// How late the tool itself sent it.
    #[must_use]
    pub fn lag_us(&self) -> u64 {
        self.sent_us.saturating_sub(self.due_us)
    }
}

/// Sends `schedule` (sorted by `due`) through `api` with at most
/// `connections` requests open at once; returns every outcome, in schedule
/// order. Requests not answered within the client's own timeout come back
/// as [`Reply::Lost`]; nothing is abandoned early.
pub async fn drive(
    api: &Api,
    schedule: &[Arrival],
    connections: usize,
) -> anyhow::Result<Vec<Sent>> {
    let open = Arc::new(Semaphore::new(connections.max(1)));
    let start = Instant::now();
    let mut flying = JoinSet::new();
    for (index, arrival) in schedule.iter().enumerate() {
        let due = start + arrival.due;
        sleep_until(due).await;
        let api = api.clone();
        let request = arrival.request.clone();
        let open = Arc::clone(&open);
        flying.spawn(async move {
            // Waiting for a connection is part of the buyer's wait.
            let permit = open.acquire_owned().await;
            let sent = Instant::now();
            let reply = api.send(&request).await;
            let done = Instant::now();
            drop(permit);
            Sent {
                arrival: index,
                due_us: micros(due - start),
                sent_us: micros(sent - start),
                done_us: micros(done - start),
                reply,
            }
        });
    }
    let mut outcomes = Vec::with_capacity(schedule.len());
    while let Some(joined) = flying.join_next().await {
        outcomes.push(joined.context("a request task panicked")?);
    }
    outcomes.sort_by_key(|sent| sent.arrival);
    Ok(outcomes)
}

/// `count` arrivals spread evenly over `window`, the `i`-th asking for
/// `request(i)`.
pub fn evenly(count: usize, window: Duration, request: impl Fn(usize) -> Request) -> Vec<Arrival> {
    let step = window.as_secs_f64() / count.max(1) as f64;
    (0..count)
        .map(|i| Arrival {
            due: Duration::from_secs_f64(step * i as f64),
            request: request(i),
        })
        .collect()
}

fn micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn arrivals_are_spread_evenly_over_the_window() {
        let disc = Uuid::nil();
        let schedule = evenly(5_000, Duration::from_secs(1), |_| {
            Request::purchase(disc, disc)
        });
        assert_eq!(schedule.len(), 5_000);
        assert_eq!(schedule[0].due, Duration::ZERO);
        assert_eq!(schedule[2_500].due, Duration::from_millis(500));
        assert!(schedule[4_999].due < Duration::from_secs(1));
    }

    #[test]
    fn latency_counts_from_when_the_request_was_due() {
        let sent = Sent {
            arrival: 0,
            due_us: 1_000,
            sent_us: 1_800,
            done_us: 5_000,
            reply: Reply::Lost(recordshop_harness::api::Failure::Timeout),
        };
        assert_eq!(sent.latency_us(), 4_000);
        assert_eq!(sent.lag_us(), 800);
    }
}
