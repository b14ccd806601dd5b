//! Summary statistics of one run: siege's figures, latency percentiles from
//! an HDR histogram, and a per-second timeline for the charts.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::load::{Op, RunLog, Sample};

/// Response times of a set of requests, in milliseconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One second of the run, by when answers arrived.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bucket {
    pub second: u32,
    pub requests: u64,
    pub orders: u64,
    pub failures: u64,
    pub p99_ms: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Summary {
    /// Requests that got an HTTP answer, whatever its status.
    pub transactions: u64,
    /// Answers with a 5xx status plus requests that got no answer.
    pub failures: u64,
    /// Share of finished requests that were not failures.
    pub availability_pct: f64,
    pub elapsed_s: f64,
    pub requests_per_s: f64,
    /// Purchases answered 201.
    pub orders: u64,
    pub orders_per_s: f64,
    /// Purchases answered 202: taken in pending (`queued`, `hybrid`).
    pub accepted: u64,
    pub accepted_per_s: f64,
    /// Mean number of requests open at once (siege's "Concurrency").
    pub concurrency: f64,
    /// Every finished request.
    pub latency: Option<Latency>,
    /// Purchases only (differs from `latency` in `mixed`).
    pub purchase_latency: Option<Latency>,
    /// Answers by status and problem code.
    pub statuses: BTreeMap<String, u64>,
    /// Requests abandoned at the deadline.
    pub in_flight: u64,
    /// Purchases with an unknown outcome: in flight, or no answer.
    pub unknown_purchases: u64,
    pub timeline: Vec<Bucket>,
}

pub fn summarize(log: &RunLog) -> Summary {
    let samples = &log.samples;
    let finished = samples.len() as u64;
    let failures = samples.iter().filter(|s| s.is_failure()).count() as u64;
    let orders = samples.iter().filter(|s| s.is_order()).count() as u64;
    let accepted = samples.iter().filter(|s| s.is_accepted()).count() as u64;
    let elapsed_s = log.elapsed.as_secs_f64();
    let busy_s: f64 = samples.iter().map(|s| f64::from(s.latency_us)).sum::<f64>() / 1e6;
    Summary {
        transactions: samples.iter().filter(|s| s.status != 0).count() as u64,
        failures,
        availability_pct: percent(finished - failures, finished),
        elapsed_s,
        requests_per_s: rate(finished, elapsed_s),
        orders,
        orders_per_s: rate(orders, elapsed_s),
        accepted,
        accepted_per_s: rate(accepted, elapsed_s),
        concurrency: if elapsed_s > 0.0 {
            busy_s / elapsed_s
        } else {
            0.0
        },
        latency: latency(samples.iter()),
        purchase_latency: latency(samples.iter().filter(|s| s.op == Op::Purchase)),
        statuses: log.labels.clone(),
        in_flight: log.in_flight,
        unknown_purchases: log.unknown_purchases(),
        timeline: timeline(samples, elapsed_s),
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// Latency percentiles of `samples`; `None` when there are none.
pub fn latency<'a>(samples: impl Iterator<Item = &'a Sample>) -> Option<Latency> {
    latency_of_micros(samples.map(|sample| u64::from(sample.latency_us)))
}

/// Percentiles of figures in microseconds, in milliseconds; `None` when
/// there are none.
pub fn latency_of_micros(values: impl Iterator<Item = u64>) -> Option<Latency> {
    // 1 µs to 1 hour at 3 significant digits: 0.1% resolution.
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).ok()?;
    // Exact, where the histogram would round it to its bucket's top.
    let mut max = 0;
    for value in values {
        histogram.saturating_record(value.max(1));
        max = max.max(value);
    }
    if histogram.is_empty() {
        return None;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    Some(Latency {
        count: histogram.len(),
        mean_ms: histogram.mean() / 1000.0,
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p90_ms: ms(histogram.value_at_quantile(0.90)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        max_ms: ms(max.max(1)),
    })
}

/// Per-second counts and p99, covering the whole run even where a second
/// had no answer (so stalls show as gaps, not as missing points).
fn timeline(samples: &[Sample], elapsed_s: f64) -> Vec<Bucket> {
    let seconds = elapsed_s.ceil().max(1.0) as usize;
    let mut latencies: Vec<Vec<u32>> = vec![Vec::new(); seconds];
    let mut buckets: Vec<Bucket> = (0..seconds)
        .map(|second| Bucket {
            second: second as u32,
            requests: 0,
            orders: 0,
            failures: 0,
            p99_ms: None,
        })
        .collect();
    for sample in samples {
        let index = ((sample.done_ms / 1000) as usize).min(seconds - 1);
        let bucket = &mut buckets[index];
        bucket.requests += 1;
        bucket.orders += u64::from(sample.is_order());
        bucket.failures += u64::from(sample.is_failure());
        latencies[index].push(sample.latency_us);
    }
    for (bucket, mut values) in buckets.iter_mut().zip(latencies) {
        values.sort_unstable();
        bucket.p99_ms = nearest_rank(&values, 0.99).map(|us| f64::from(us) / 1000.0);
    }
    buckets
}

/// The nearest-rank percentile of sorted `values`.
fn nearest_rank(sorted: &[u32], quantile: f64) -> Option<u32> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn purchase(done_ms: u32, latency_ms: u32, status: u16) -> Sample {
        Sample {
            op: Op::Purchase,
            done_ms,
            latency_us: latency_ms * 1000,
            status,
        }
    }

    fn log(samples: Vec<Sample>, elapsed_ms: u64) -> RunLog {
        RunLog {
            samples,
            elapsed: Duration::from_millis(elapsed_ms),
            ..RunLog::default()
        }
    }

    #[test]
    fn counts_orders_failures_and_availability() {
        let summary = summarize(&log(
            vec![
                purchase(100, 10, 201),
                purchase(200, 10, 201),
                purchase(300, 10, 409),
                purchase(1500, 10, 503),
                purchase(1600, 10, 0),
            ],
            2000,
        ));
        assert_eq!(summary.orders, 2);
        assert_eq!(summary.transactions, 4);
        assert_eq!(summary.failures, 2);
        assert!((summary.availability_pct - 60.0).abs() < 1e-9);
        assert!((summary.orders_per_s - 1.0).abs() < 1e-9);
        assert!((summary.requests_per_s - 2.5).abs() < 1e-9);
        // 50 ms of requests over 2 s: 0.025 open at a time on average.
        assert!((summary.concurrency - 0.025).abs() < 1e-9);
        assert_eq!(summary.unknown_purchases, 1);
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let samples: Vec<Sample> = (1..=100).map(|ms| purchase(0, ms, 201)).collect();
        let latency = latency(samples.iter()).expect("latency");
        assert_eq!(latency.count, 100);
        assert!((latency.p50_ms - 50.0).abs() < 0.1, "{latency:?}");
        assert!((latency.p90_ms - 90.0).abs() < 0.1, "{latency:?}");
        assert!((latency.p99_ms - 99.0).abs() < 0.1, "{latency:?}");
        assert!((latency.max_ms - 100.0).abs() < 0.1, "{latency:?}");
        assert!((latency.mean_ms - 50.5).abs() < 0.1, "{latency:?}");
        assert_eq!(super::latency([].iter()), None);
    }

    #[test]
    fn timeline_has_a_bucket_per_second_including_empty_ones() {
        let summary = summarize(&log(
            vec![
                purchase(10, 5, 201),
                purchase(900, 7, 201),
                purchase(2500, 9, 409),
            ],
            2800,
        ));
        let buckets = &summary.timeline;
        assert_eq!(buckets.len(), 3);
        assert_eq!((buckets[0].requests, buckets[0].orders), (2, 2));
        assert_eq!(buckets[0].p99_ms, Some(7.0));
        assert_eq!((buckets[1].requests, buckets[1].p99_ms), (0, None));
        assert_eq!((buckets[2].requests, buckets[2].orders), (1, 0));
    }

    #[test]
    fn an_empty_run_has_no_rates() {
        let summary = summarize(&log(Vec::new(), 0));
        assert_eq!(summary.latency, None);
        assert_eq!(summary.availability_pct, 0.0);
        assert_eq!(summary.orders_per_s, 0.0);
        assert_eq!(summary.timeline.len(), 1);
    }

    #[test]
    fn nearest_rank_percentile() {
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 0.5), Some(2));
        assert_eq!(nearest_rank(&[1, 2, 3, 4], 0.99), Some(4));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }
}
