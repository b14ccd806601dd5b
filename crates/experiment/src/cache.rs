//! `cache`: the catalog's two reads — a disc page and a filtered listing —
//! with no cache and with the in-process cache, in one run, on the same
//! data and clients. The cache serves entries at most a second old
//! (`READ_CACHE_TTL_MS`, the server's default); purchases never read it.
//! (Redis was measured here too, at ea79939, and lost: see the README.)

use std::time::Duration;

use recordshop_postgres::ConcurrencyStrategy;
use serde::Serialize;

use crate::report::RunReport;
use crate::run::run_one;
use crate::scenario::{Plan, Scenario, Sizing};
use crate::session::{Lab, Observability};

/// The reads compared.
pub const SCENARIOS: [Scenario; 2] = [Scenario::Read, Scenario::List];
/// The caches compared, as `READ_CACHE` names them.
pub const CACHES: [&str; 2] = ["off", "memory"];
const POINT: Duration = Duration::from_secs(20);
const QUICK_POINT: Duration = Duration::from_secs(3);

/// One read under one cache.
#[derive(Clone, Debug, Serialize)]
pub struct CachePoint {
    pub cache: &'static str,
    pub run: RunReport,
}

/// Every read under every cache.
pub(crate) async fn run(
    lab: &Lab,
    sizing: &Sizing,
    strategy: ConcurrencyStrategy,
) -> Vec<CachePoint> {
    let mut points = Vec::new();
    for scenario in SCENARIOS {
        let mut plan = Plan::new(scenario, sizing);
        plan.duration = if sizing.quick { QUICK_POINT } else { POINT };
        for cache in CACHES {
            if recordshop_harness::interrupt::interrupted() {
                return points;
            }
            let settings = [("READ_CACHE", cache.to_owned())];
            let run = run_one(
                lab,
                &plan,
                strategy,
                &[],
                &Observability::Metrics,
                &settings,
            )
            .await;
            println!(
                "  cache · {:<6} · {:<6} {}",
                scenario.name(),
                cache,
                run.summary.as_ref().map_or_else(
                    || run.error.clone().unwrap_or_default(),
                    |summary| format!(
                        "{:>8.0} req/s  p99 {:>6.2} ms",
                        summary.requests_per_s,
                        summary.latency.as_ref().map_or(0.0, |l| l.p99_ms)
                    )
                )
            );
            points.push(CachePoint { cache, run });
        }
    }
    points
}

/// Requests per second of `cache` on `scenario`.
pub fn rate(points: &[CachePoint], scenario: Scenario, cache: &str) -> Option<f64> {
    points
        .iter()
        .find(|point| point.cache == cache && point.run.scenario == scenario)
        .and_then(|point| point.run.summary.as_ref())
        .map(|summary| summary.requests_per_s)
}

/// The comparison as a table: requests/s, p50 and p99, and the ratio to no
/// cache, per read and cache.
#[must_use]
pub fn text(points: &[CachePoint]) -> String {
    let mut out = String::from(
        "cache — catalog reads by cache (entries at most 1 s old)\n\
         read    cache      req/s  p50 ms  p99 ms  vs off  RSS peak  invariant\n",
    );
    for point in points {
        let Some(summary) = &point.run.summary else {
            out.push_str(&format!(
                "{:<7} {:<7} error: {}\n",
                point.run.scenario.name(),
                point.cache,
                point.run.error.as_deref().unwrap_or("no result")
            ));
            continue;
        };
        let latency = summary.latency.as_ref();
        let versus = rate(points, point.run.scenario, "off")
            .filter(|off| *off > 0.0)
            .map_or_else(
                || "-".to_owned(),
                |off| format!("{:.2}×", summary.requests_per_s / off),
            );
        out.push_str(&format!(
            "{:<7} {:<7} {:>8.0} {:>7.2} {:>7.2} {:>7} {:>9} {:>10}\n",
            point.run.scenario.name(),
            point.cache,
            summary.requests_per_s,
            latency.map_or(0.0, |l| l.p50_ms),
            latency.map_or(0.0, |l| l.p99_ms),
            versus,
            point.run.memory.as_ref().map_or_else(
                || "-".to_owned(),
                |m| format!("{:.1} MiB", m.peak_kib as f64 / 1024.0)
            ),
            if point.run.passed() { "PASS" } else { "FAIL" },
        ));
    }
    out
}
