//! What the load saw around a fault, read from its records (all on the
//! load's clock): when writes came back, which answers came meanwhile,
//! and the longest stretch without a placed order.

use std::time::Duration;

use recordshop_harness::api::Reply;

use crate::load::{Record, Tally, percentile};

fn placed(record: &Record) -> bool {
    record.outcome.is_created() || record.outcome.is_accepted()
}

/// From `at` to the answer of the first purchase sent after `at` that
/// was placed (201, or 202): writes available again. Requests already in
/// flight at `at` do not count: their answer says nothing of what a new
/// purchase would get.
pub fn writes_back(records: &[Record], at: Duration) -> Option<Duration> {
    records
        .iter()
        .filter(|record| record.sent >= at && placed(record))
        .map(|record| record.done)
        .min()
        .map(|done| done.saturating_sub(at))
}

/// The stretch of purchases not placed after `at`: from the send of the
/// first (or `at`, for one in flight then) to the answer of the last, both
/// from `at`.
pub fn failing_span(records: &[Record], at: Duration) -> Option<(Duration, Duration)> {
    let failing = records
        .iter()
        .filter(|record| record.done >= at && !placed(record));
    let first = failing.clone().map(|record| record.sent.max(at)).min()?;
    let last = failing.map(|record| record.done).max()?;
    Some((first - at, last - at))
}

/// The longest time within `[from, to]` without an answer that placed a
/// purchase, the bounds counting as such answers.
pub fn longest_gap(records: &[Record], from: Duration, to: Duration) -> Duration {
    let mut times: Vec<Duration> = records
        .iter()
        .filter(|record| placed(record) && record.done >= from && record.done <= to)
        .map(|record| record.done)
        .collect();
    times.push(from);
    times.push(to);
    times.sort();
    times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default()
}

/// The purchases answered within `[from, to]`.
pub fn answered_within(records: &[Record], from: Duration, to: Duration) -> Vec<&Record> {
    records
        .iter()
        .filter(|record| record.done >= from && record.done <= to)
        .collect()
}

/// One line on a set of answers: how many of each, and how quickly.
pub fn describe(records: &[&Record]) -> String {
    if records.is_empty() {
        return "none".to_owned();
    }
    let latencies: Vec<Duration> = records.iter().map(|record| record.latency()).collect();
    let tally = Tally::of(records.iter().map(|record| &record.outcome));
    format!(
        "{} (p99 {} ms, max {} ms)",
        tally.answers(),
        percentile(&latencies, 99.0).as_millis(),
        latencies
            .iter()
            .max()
            .copied()
            .unwrap_or_default()
            .as_millis()
    )
}

/// Of `records`, those neither placed nor a 503 with `Retry-After`: what
/// the HA topology must not answer while a piece of it fails. A 503 is
/// the contract's "not now, nothing bought, come back": `unavailable`
/// while there is no primary, and, from a strategy at its own bound,
/// `contention` (`optimistic` out of retry budget while commits wait for a
/// lost standby) or `overloaded`; [`describe`] shows which.
pub fn unexpected<'a>(records: &[&'a Record]) -> Vec<&'a Record> {
    records
        .iter()
        .copied()
        .filter(|record| {
            !placed(record)
                && !matches!(&record.outcome, Reply::Answer(answer)
                    if answer.status == 503 && answer.retry_after)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use recordshop_harness::api::{Answer, Failure};
    use uuid::Uuid;

    use super::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    fn record(sent: u64, done: u64, status: u16) -> Record {
        let outcome = match status {
            0 => Reply::Lost(Failure::Io),
            201 => Reply::Answer(Answer {
                status,
                code: None,
                retry_after: false,
                created: Some(Uuid::nil()),
                replayed: false,
            }),
            503 => Reply::answered(503, Some("unavailable")),
            other => Reply::answered(other, None),
        };
        Record {
            sent: at(sent),
            done: at(done),
            outcome,
            key: Uuid::nil(),
            attempt: 1,
        }
    }

    /// A primary killed at 1,000 ms: an order in flight then is answered
    /// (committed before), one is cut off, 503s until 8,000 ms, then 201s.
    fn failover() -> Vec<Record> {
        vec![
            record(900, 950, 201),
            record(990, 1_010, 201),
            record(995, 1_020, 0),
            record(1_030, 1_040, 503),
            record(7_900, 7_950, 503),
            record(7_960, 8_020, 201),
            record(8_030, 8_050, 201),
        ]
    }

    #[test]
    fn writes_are_back_with_the_first_order_sent_after_the_fault() {
        assert_eq!(writes_back(&failover(), at(1_000)), Some(at(7_020)));
        assert_eq!(writes_back(&failover(), at(9_000)), None);
    }

    #[test]
    fn the_failing_span_runs_from_the_first_to_the_last_refusal() {
        assert_eq!(
            failing_span(&failover(), at(1_000)),
            Some((at(0), at(6_950)))
        );
        assert_eq!(failing_span(&failover()[..2], at(1_000)), None);
    }

    #[test]
    fn the_longest_gap_counts_the_bounds() {
        assert_eq!(longest_gap(&failover(), at(1_000), at(9_000)), at(7_010));
        assert_eq!(longest_gap(&failover(), at(0), at(950)), at(950));
        assert_eq!(longest_gap(&[], at(10), at(30)), at(20));
    }

    #[test]
    fn only_placed_orders_and_503s_with_retry_after_are_expected() {
        let records = failover();
        let during: Vec<&Record> = answered_within(&records, at(1_000), at(8_020));
        assert_eq!(during.len(), 5);
        let odd = unexpected(&during);
        assert_eq!(odd.len(), 1, "{odd:?}");
        assert_eq!(odd[0].outcome.status(), 0);
        assert!(describe(&during).starts_with("201×2, 503 unavailable×2, unanswered×1"));
    }
}
