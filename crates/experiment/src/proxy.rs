//! `proxy`: what going past one process costs, in one run. `hot` and
//! `spread` (the scenarios' clients and durations) in three
//! configurations, one after the other for each scenario and strategy so
//! that drift on a noisy machine falls on all three:
//!
//! - **A**: one server, the load straight to it, on the lab's cluster;
//! - **B**: three servers behind nginx (the harness's configuration, as
//!   `cargo xtask run --topology ha` runs it) on the same cluster: the
//!   proxy hop, and three processes sharing the cores;
//! - **C**: B on a pg_auto_failover formation, the standby synchronous
//!   (every commit waits for its flush) and on the same machine.
//!
//! Reported as ratios measured in the same run: B/A (orders/s, p50, p99)
//! is the cost of the hop and of the processes, C/B that of synchronous
//! replication. The formation is made when the study starts (about 20 s)
//! with the lab cluster's settings and pg_auto_failover's standard failure
//! detection (no failover of a primary that is merely busy), and removed
//! when it ends. The invariant is checked after each run, in the database
//! of its configuration.

use anyhow::Context;
use recordshop_harness::postgres::{
    Admin, FailureDetection, Formation, FormationSettings, Replication,
};
use recordshop_postgres::ConcurrencyStrategy;
use serde::Serialize;

use crate::report::RunReport;
use crate::run::run_on;
use crate::scenario::{Plan, Scenario, Sizing};
use crate::session::{Lab, Observability, Topology};

/// The loads compared.
pub const SCENARIOS: [Scenario; 2] = [Scenario::Hot, Scenario::Spread];
/// Servers behind nginx in B and C, as in the HA topology.
const SERVERS: usize = 3;
/// The strategy when `--strategies` is not given: the one that carries a
/// hot disc furthest.
pub const DEFAULT_STRATEGY: ConcurrencyStrategy = ConcurrencyStrategy::Batched;

/// A ratio of two configurations' figures; `None` where either is missing.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Ratio {
    pub orders_per_s: Option<f64>,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

impl Ratio {
    fn of(over: &RunReport, under: &RunReport) -> Self {
        let figures = |run: &RunReport| {
            run.summary.as_ref().map(|summary| {
                let latency = summary.purchase_latency.as_ref();
                (
                    summary.orders_per_s,
                    latency.map(|l| l.p50_ms),
                    latency.map(|l| l.p99_ms),
                )
            })
        };
        let (Some(over), Some(under)) = (figures(over), figures(under)) else {
            return Self::default();
        };
        let divide = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => Some(a / b),
            _ => None,
        };
        Self {
            orders_per_s: divide(Some(over.0), Some(under.0)),
            p50: divide(over.1, under.1),
            p99: divide(over.2, under.2),
        }
    }
}

/// One load under one strategy in the three configurations.
#[derive(Clone, Debug, Serialize)]
pub struct ProxyComparison {
    pub scenario: Scenario,
    pub strategy: ConcurrencyStrategy,
    /// A: one server direct.
    pub direct: RunReport,
    /// B: three servers behind nginx, same cluster.
    pub proxied: RunReport,
    /// C: B on a formation with a synchronous standby.
    pub synchronous: RunReport,
    /// B/A: the hop and the processes.
    pub proxied_over_direct: Ratio,
    /// C/B: synchronous replication.
    pub synchronous_over_proxied: Ratio,
}

impl ProxyComparison {
    #[must_use]
    pub fn passed(&self) -> bool {
        self.direct.passed() && self.proxied.passed() && self.synchronous.passed()
    }
}

/// Every load under every strategy in the three configurations.
pub(crate) async fn run(
    lab: &Lab,
    sizing: &Sizing,
    strategies: &[ConcurrencyStrategy],
) -> anyhow::Result<Vec<ProxyComparison>> {
    let settings = FormationSettings {
        replication: Replication::Synchronous,
        detection: FailureDetection::Standard,
        settings: crate::CLUSTER_SETTINGS
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    println!("  proxy · making a pg_auto_failover formation (primary, synchronous standby)");
    // Making one waits with thread sleeps and a runtime of its own.
    let formation = tokio::task::spawn_blocking(move || Formation::scratch(&settings))
        .await
        .context("the formation task failed")??;
    let measured = async {
        let admin = Admin::connect(&formation.admin_url()).await?;
        anyhow::Ok(compare_all(lab, sizing, strategies, &admin).await)
    }
    .await;
    // Its keepers are stopped with waits.
    let _ = tokio::task::spawn_blocking(move || drop(formation)).await;
    measured
}

async fn compare_all(
    lab: &Lab,
    sizing: &Sizing,
    strategies: &[ConcurrencyStrategy],
    formation: &Admin,
) -> Vec<ProxyComparison> {
    let mut comparisons = Vec::new();
    for scenario in SCENARIOS {
        let plan = Plan::new(scenario, sizing);
        for &strategy in strategies {
            let topologies = [
                ("A", Topology::Direct),
                (
                    "B",
                    Topology::Proxied {
                        servers: SERVERS,
                        admin: &lab.admin,
                        tag: "nginx",
                    },
                ),
                (
                    "C",
                    Topology::Proxied {
                        servers: SERVERS,
                        admin: formation,
                        tag: "nginx_sync",
                    },
                ),
            ];
            let mut runs = Vec::with_capacity(3);
            for (label, topology) in topologies {
                if recordshop_harness::interrupt::interrupted() {
                    return comparisons;
                }
                let run = run_on(
                    lab,
                    &plan,
                    strategy,
                    &[],
                    &Observability::Metrics,
                    &[],
                    topology,
                )
                .await;
                println!(
                    "  proxy · {} · {:<12} {label} {}",
                    scenario.name(),
                    strategy.as_str(),
                    run_text(&run)
                );
                runs.push(run);
            }
            let [direct, proxied, synchronous]: [RunReport; 3] = match runs.try_into() {
                Ok(runs) => runs,
                Err(_) => return comparisons,
            };
            comparisons.push(ProxyComparison {
                scenario,
                strategy,
                proxied_over_direct: Ratio::of(&proxied, &direct),
                synchronous_over_proxied: Ratio::of(&synchronous, &proxied),
                direct,
                proxied,
                synchronous,
            });
        }
    }
    comparisons
}

fn run_text(run: &RunReport) -> String {
    match (&run.summary, &run.error) {
        (Some(summary), _) => {
            let latency = summary.purchase_latency.as_ref();
            format!(
                "{:>8.0} orders/s  p50 {:>7.1} ms  p99 {:>7.1} ms  {}",
                summary.orders_per_s,
                latency.map_or(0.0, |l| l.p50_ms),
                latency.map_or(0.0, |l| l.p99_ms),
                if run.passed() { "PASS" } else { "FAIL" }
            )
        }
        (None, Some(error)) => format!("error: {}", error.lines().next().unwrap_or(error)),
        (None, None) => "no result".to_owned(),
    }
}

/// The comparison as a table: each configuration's orders/s and p50/p99,
/// then the ratios side by side.
#[must_use]
pub fn text(comparisons: &[ProxyComparison]) -> String {
    let mut out = String::from(
        "proxy — A: 1 server direct; B: 3 behind nginx, same cluster; C: B on a formation with a synchronous standby\n\
         orders/s and purchase p50/p99 ms; B/A is the hop and 3 processes on these cores, C/B synchronous replication\n",
    );
    out.push_str(&format!(
        "{:<8} {:<12} {:>22} {:>22} {:>22} {:>20} {:>20} {:>9}\n",
        "scenario",
        "strategy",
        "A orders/s p50/p99",
        "B orders/s p50/p99",
        "C orders/s p50/p99",
        "B/A orders p50 p99",
        "C/B orders p50 p99",
        "invariant"
    ));
    for comparison in comparisons {
        out.push_str(&format!(
            "{:<8} {:<12} {:>22} {:>22} {:>22} {:>20} {:>20} {:>9}\n",
            comparison.scenario.name(),
            comparison.strategy.as_str(),
            cell(&comparison.direct),
            cell(&comparison.proxied),
            cell(&comparison.synchronous),
            ratio_cell(&comparison.proxied_over_direct),
            ratio_cell(&comparison.synchronous_over_proxied),
            if comparison.passed() { "PASS" } else { "FAIL" }
        ));
    }
    out
}

fn cell(run: &RunReport) -> String {
    run.summary.as_ref().map_or_else(
        || "-".to_owned(),
        |summary| {
            let latency = summary.purchase_latency.as_ref();
            format!(
                "{:.0} {:.1}/{:.1}",
                summary.orders_per_s,
                latency.map_or(0.0, |l| l.p50_ms),
                latency.map_or(0.0, |l| l.p99_ms)
            )
        },
    )
}

fn ratio_cell(ratio: &Ratio) -> String {
    let show = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    format!(
        "{}× {} {}",
        show(ratio.orders_per_s),
        show(ratio.p50),
        show(ratio.p99)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::RunLog;
    use crate::stats::{Latency, summarize};

    fn run(orders_per_s: f64, p50_ms: f64, p99_ms: f64) -> RunReport {
        let latency = Latency {
            count: 1,
            mean_ms: p50_ms,
            p50_ms,
            p90_ms: p99_ms,
            p99_ms,
            max_ms: p99_ms,
        };
        let mut summary = summarize(&RunLog::default());
        summary.orders_per_s = orders_per_s;
        summary.purchase_latency = Some(latency);
        RunReport {
            scenario: Scenario::Hot,
            strategy: DEFAULT_STRATEGY,
            database: String::new(),
            clients: 128,
            duration_s: 60.0,
            ready_after_s: None,
            summary: Some(summary),
            check: None,
            memory: None,
            server_cpu_ms_per_order: None,
            inside: None,
            server: None,
            versus: None,
            error: None,
        }
    }

    #[test]
    fn ratios_divide_the_later_configuration_by_the_earlier() {
        let ratio = Ratio::of(&run(800.0, 30.0, 90.0), &run(1000.0, 20.0, 60.0));
        assert_eq!(ratio.orders_per_s, Some(0.8));
        assert_eq!(ratio.p50, Some(1.5));
        assert_eq!(ratio.p99, Some(1.5));
        assert_eq!(ratio_cell(&ratio), "0.80× 1.50 1.50");
        let missing = RunReport {
            summary: None,
            ..run(1.0, 1.0, 1.0)
        };
        assert_eq!(Ratio::of(&missing, &run(1.0, 1.0, 1.0)), Ratio::default());
        assert_eq!(ratio_cell(&Ratio::default()), "-× - -");
    }
}
