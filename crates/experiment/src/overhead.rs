//! What observing the server costs: the same load with metrics and traces
//! off and on, alternated so that drift on a noisy machine falls on every
//! side, compared as ratios measured in the same run.
//!
//! Four sides: nothing; metrics alone; metrics with traces sampled as a
//! launch would run them (`--overhead-sampling`, 1% by default, every
//! trace a caller kept included), which the 3% target applies to; and
//! metrics with every trace kept, to show what full tracing costs. Each is
//! read two ways: throughput (the target's measure) and the server's own
//! CPU time per order, which the load generator sharing the machine does
//! not blur.

use recordshop_harness::otlp::Receiver;
use recordshop_postgres::ConcurrencyStrategy;
use serde::Serialize;

use crate::report::RunReport;
use crate::run::run_one;
use crate::scenario::{Plan, Scenario, Sizing};
use crate::session::{Lab, Observability};

/// The loads compared, with the strategy each suits best.
pub const PAIRS: [(Scenario, ConcurrencyStrategy); 2] = [
    (Scenario::Hot, ConcurrencyStrategy::Batched),
    (Scenario::Spread, ConcurrencyStrategy::Atomic),
];
/// The most throughput observing (metrics, sampled traces) may cost.
pub const TARGET_COST: f64 = 0.03;

/// How the comparison runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Runs of each side, alternated.
    pub rounds: usize,
    /// Share of traces kept on the side the target applies to.
    pub sampled: f64,
    /// Load duration of each run [default: the scenarios'].
    pub duration: Option<std::time::Duration>,
}

/// One side of the comparison over its rounds.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub observing: String,
    pub orders_per_s: Vec<f64>,
    pub server_cpu_ms_per_order: Vec<f64>,
    /// `1 - mean(orders/s) / mean(orders/s with nothing on)`; negative when
    /// observing looked free.
    pub throughput_cost: Option<f64>,
    /// `mean(CPU per order) / mean(CPU per order with nothing on) - 1`.
    pub cpu_cost: Option<f64>,
    pub spans_received: usize,
}

/// One load under every side.
#[derive(Clone, Debug, Serialize)]
pub struct Overhead {
    pub scenario: Scenario,
    pub strategy: ConcurrencyStrategy,
    /// Off, metrics, sampled traces, every trace.
    pub sides: Vec<Side>,
    /// The sampled side's throughput cost within [`TARGET_COST`], every
    /// run passing its checks.
    pub within_target: bool,
    pub runs: Vec<RunReport>,
}

/// Measures every pair.
pub async fn measure(
    lab: &Lab,
    sizing: &Sizing,
    settings: &Settings,
) -> anyhow::Result<Vec<Overhead>> {
    let receiver = Receiver::start()?;
    let observing = [
        Observability::Off,
        Observability::Metrics,
        Observability::Traced {
            endpoint: receiver.endpoint(),
            sampled: settings.sampled,
        },
        Observability::Traced {
            endpoint: receiver.endpoint(),
            sampled: 1.0,
        },
    ];
    let mut measured = Vec::new();
    for (scenario, strategy) in PAIRS {
        let mut plan = Plan::new(scenario, sizing);
        if let Some(duration) = settings.duration {
            plan.duration = duration;
        }
        println!(
            "\n=== overhead · {} · {strategy}: {} sides alternated, {} rounds ===",
            scenario.name(),
            observing.len(),
            settings.rounds
        );
        let mut sides: Vec<Side> = observing
            .iter()
            .map(|side| Side {
                observing: side.label(),
                orders_per_s: Vec::new(),
                server_cpu_ms_per_order: Vec::new(),
                throughput_cost: None,
                cpu_cost: None,
                spans_received: 0,
            })
            .collect();
        let mut runs = Vec::new();
        for _ in 0..settings.rounds {
            for (observability, side) in observing.iter().zip(&mut sides) {
                if recordshop_harness::interrupt::interrupted() {
                    break;
                }
                let spans_before = receiver.count();
                let run = run_one(lab, &plan, strategy, &[], observability, &[]).await;
                side.spans_received += receiver.count() - spans_before;
                let rate = run.summary.as_ref().map(|s| s.orders_per_s);
                println!(
                    "  {:<22} {}",
                    side.observing,
                    rate.map_or_else(|| "failed".to_owned(), |r| format!("{r:.1} orders/s"))
                );
                if let Some(rate) = rate {
                    side.orders_per_s.push(rate);
                }
                if let Some(cpu) = run.server_cpu_ms_per_order {
                    side.server_cpu_ms_per_order.push(cpu);
                }
                runs.push(run);
            }
        }
        let baseline_rate = mean(&sides[0].orders_per_s);
        let baseline_cpu = mean(&sides[0].server_cpu_ms_per_order);
        for side in &mut sides {
            side.throughput_cost = ratio(mean(&side.orders_per_s), baseline_rate).map(|r| 1.0 - r);
            side.cpu_cost =
                ratio(mean(&side.server_cpu_ms_per_order), baseline_cpu).map(|r| r - 1.0);
        }
        let within_target = sides[2]
            .throughput_cost
            .is_some_and(|cost| cost <= TARGET_COST)
            && runs.iter().all(RunReport::passed);
        measured.push(Overhead {
            scenario,
            strategy,
            sides,
            within_target,
            runs,
        });
    }
    Ok(measured)
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn ratio(value: Option<f64>, baseline: Option<f64>) -> Option<f64> {
    let (value, baseline) = (value?, baseline?);
    (baseline > 0.0).then(|| value / baseline)
}

fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "–".to_owned(), |share| format!("{:+.1}%", share * 100.0))
}

/// The comparison, each cost beside the target.
#[must_use]
pub fn text(measured: &[Overhead]) -> String {
    let mut out = format!(
        "overhead of observing (target: metrics + sampled traces cost at most {:.0}% of throughput)\n",
        TARGET_COST * 100.0
    );
    for pair in measured {
        out.push_str(&format!(
            "  {} · {} ({})\n",
            pair.scenario.name(),
            pair.strategy,
            if pair.within_target { "PASS" } else { "MISSED" }
        ));
        out.push_str(&format!(
            "    {:<22} {:>18} {:>16} {:>20} {:>10} {:>8}\n",
            "observing", "orders/s (mean)", "throughput Δ", "server CPU/order ms", "CPU Δ", "spans"
        ));
        for side in &pair.sides {
            out.push_str(&format!(
                "    {:<22} {:>18} {:>16} {:>20} {:>10} {:>8}\n",
                side.observing,
                mean(&side.orders_per_s).map_or_else(|| "–".to_owned(), |r| format!("{r:.0}")),
                percent(side.throughput_cost.map(|c| -c)),
                mean(&side.server_cpu_ms_per_order)
                    .map_or_else(|| "–".to_owned(), |c| format!("{c:.3}")),
                percent(side.cpu_cost),
                side.spans_received,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_shares_of_the_baseline() {
        let off = mean(&[100.0, 100.0]);
        let cost = ratio(mean(&[97.0, 99.0]), off).map(|r| 1.0 - r);
        assert!(cost.is_some_and(|c| (c - 0.02).abs() < 1e-9), "{cost:?}");
        assert!(ratio(mean(&[104.0]), off).is_some_and(|r| 1.0 - r < 0.0));
        assert_eq!(ratio(mean(&[]), off), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(percent(Some(-0.021)), "-2.1%");
    }
}
