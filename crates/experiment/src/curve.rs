//! `curve`: `hot` and `spread` at 16, 64, 256 and 1,024 closed-loop clients
//! under every strategy, so throughput and p99 can be read against
//! concurrency: where each strategy saturates, and what queueing past that
//! point costs its buyers.

use std::time::Duration;

use recordshop_postgres::ConcurrencyStrategy;

use crate::report::RunReport;
use crate::run::run_one;
use crate::scenario::{Plan, Scenario, Sizing};
use crate::session::{Lab, Observability};

/// The scenarios swept.
pub const SCENARIOS: [Scenario; 2] = [Scenario::Hot, Scenario::Spread];
/// The clients of each point.
pub const CLIENTS: [usize; 4] = [16, 64, 256, 1_024];
/// How long each point runs: long enough for a steady state, short enough
/// for 32 points to fit in a run.
const POINT: Duration = Duration::from_secs(15);
const QUICK_POINT: Duration = Duration::from_secs(3);

/// Every point, scenario by scenario and clients by clients.
pub(crate) async fn run(
    lab: &Lab,
    sizing: &Sizing,
    strategies: &[ConcurrencyStrategy],
) -> Vec<RunReport> {
    let mut points = Vec::new();
    for scenario in SCENARIOS {
        for clients in CLIENTS {
            let mut plan = Plan::new(scenario, sizing);
            plan.clients = clients;
            plan.customers = clients;
            plan.duration = if sizing.quick { QUICK_POINT } else { POINT };
            for &strategy in strategies {
                if recordshop_harness::interrupt::interrupted() {
                    return points;
                }
                let point = run_one(lab, &plan, strategy, &[], &Observability::Metrics, &[]).await;
                println!(
                    "  curve · {} · {clients:>4} clients · {:<12} {}",
                    scenario.name(),
                    strategy.as_str(),
                    point_text(&point)
                );
                points.push(point);
            }
        }
    }
    points
}

fn point_text(point: &RunReport) -> String {
    match (&point.summary, &point.error) {
        (Some(summary), _) => format!(
            "{:>8.0} orders/s  p99 {:>8.1} ms  {}",
            summary.orders_per_s,
            summary.latency.as_ref().map_or(0.0, |l| l.p99_ms),
            if point.passed() { "PASS" } else { "FAIL" }
        ),
        (None, Some(error)) => format!("error: {}", error.lines().next().unwrap_or(error)),
        (None, None) => "no result".to_owned(),
    }
}

/// The curve as a table: one row per scenario and strategy, one column of
/// `orders/s (p99 ms)` per point.
#[must_use]
pub fn text(points: &[RunReport]) -> String {
    let mut out = String::from("curve — orders/s (p99 ms) by closed-loop clients\n");
    out.push_str(&format!("{:<8} {:<12}", "scenario", "strategy"));
    for clients in CLIENTS {
        out.push_str(&format!(" {:>18}", format!("{clients} clients")));
    }
    out.push('\n');
    for scenario in SCENARIOS {
        let mut strategies: Vec<ConcurrencyStrategy> = Vec::new();
        for point in points.iter().filter(|p| p.scenario == scenario) {
            if !strategies.contains(&point.strategy) {
                strategies.push(point.strategy);
            }
        }
        for strategy in strategies {
            out.push_str(&format!("{:<8} {:<12}", scenario.name(), strategy.as_str()));
            for clients in CLIENTS {
                let cell = points
                    .iter()
                    .find(|p| {
                        p.scenario == scenario && p.strategy == strategy && p.clients == clients
                    })
                    .and_then(|p| p.summary.as_ref())
                    .map_or_else(
                        || "-".to_owned(),
                        |s| {
                            format!(
                                "{:.0} ({:.1})",
                                s.orders_per_s,
                                s.latency.as_ref().map_or(0.0, |l| l.p99_ms)
                            )
                        },
                    );
                out.push_str(&format!(" {cell:>18}"));
            }
            out.push('\n');
        }
    }
    out
}
