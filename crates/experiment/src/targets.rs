//! The launch-day targets, each beside the figure this run measured: the
//! flood, overload, hot-disc throughput against its ceilings, the siege
//! shape, the disc page against pgbench, and the server's memory.

use std::fmt::Write as _;

use recordshop_postgres::ConcurrencyStrategy;
use serde::Serialize;

use crate::pgbench::Shape;
use crate::report::{Experiment, RunReport};
use crate::scenario::Scenario;

/// One target and what the run showed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    pub what: String,
    pub measured: String,
    pub bound: String,
    /// `None` when the run did not measure it.
    pub met: Option<bool>,
}

fn target(
    what: impl Into<String>,
    bound: impl Into<String>,
    measured: Option<(String, bool)>,
) -> Target {
    let (measured, met) = match measured {
        Some((figure, met)) => (figure, Some(met)),
        None => ("not measured".to_owned(), None),
    };
    Target {
        what: what.into(),
        measured,
        bound: bound.into(),
        met,
    }
}

/// The most resident memory any server may reach.
pub const MEMORY_MIB: f64 = 64.0;

/// Every target the run can speak to.
#[must_use]
pub fn evaluate(experiment: &Experiment) -> Vec<Target> {
    let mut targets = Vec::new();
    flood(experiment, &mut targets);
    overload(experiment, &mut targets);
    hot(experiment, &mut targets);
    let launch = experiment
        .runs
        .iter()
        .find(|run| {
            run.scenario == Scenario::Launch && run.strategy == ConcurrencyStrategy::Batched
        })
        .and_then(|run| run.summary.as_ref()?.latency.as_ref().map(|l| l.p99_ms));
    targets.push(target(
        "siege shape (launch: 90 users, -d1, a connection per request) · batched: p99",
        "≤ 20 ms",
        launch.map(|p99| (format!("{p99:.1} ms"), p99 <= 20.0)),
    ));
    let read = experiment
        .runs
        .iter()
        .find(|run| run.scenario == Scenario::Read)
        .and_then(|run| run.versus.as_ref());
    targets.push(target(
        "GET /discs/{id} vs pgbench's point select",
        "≥ 0.70×",
        read.map(|versus| (format!("{:.2}×", versus.ratio), versus.ratio >= 0.7)),
    ));
    let cached = crate::cache::rate(&experiment.cache, Scenario::Read, "memory");
    let point_select = experiment
        .runs
        .iter()
        .find(|run| run.scenario == Scenario::Read)
        .and_then(|run| run.versus.as_ref())
        .map(|versus| versus.ceiling_tps);
    targets.push(target(
        "GET /discs/{id} with the in-process cache vs pgbench's point select",
        "≥ 0.70×",
        cached.zip(point_select).map(|(rate, ceiling)| {
            let ratio = rate / ceiling.max(f64::EPSILON);
            (
                format!("{ratio:.2}× ({rate:.0} of {ceiling:.0}/s)"),
                ratio >= 0.7,
            )
        }),
    ));
    let peak = peak_memory_mib(experiment);
    targets.push(target(
        "server memory, every run",
        format!("≤ {MEMORY_MIB:.0} MiB"),
        peak.map(|(mib, run)| (format!("{mib:.1} MiB peak ({run})"), mib <= MEMORY_MIB)),
    ));
    targets
}

fn flood(experiment: &Experiment, targets: &mut Vec<Target>) {
    for report in &experiment.floods {
        let strategy = report.strategy;
        let outcome = report.outcome.as_ref();
        // Units sold within their request; for a strategy that takes
        // purchases in pending, the units the database shows sold once the
        // workers decided them.
        let sold = if strategy.is_synchronous() {
            outcome.map(|o| o.sold)
        } else {
            report
                .check
                .as_ref()
                .and_then(|c| u64::try_from(c.ledger.units_sold).ok())
        };
        targets.push(target(
            format!("flood · {strategy}: units sold"),
            format!("= {}", report.plan.stock),
            sold.map(|sold| (sold.to_string(), sold == report.plan.stock.unsigned_abs())),
        ));
        targets.push(target(
            format!("flood · {strategy}: unanswered, and 5xx but the documented shed"),
            "= 0",
            outcome.map(|o| {
                (
                    format!("{} unanswered, {} 5xx", o.unanswered, o.server_errors),
                    o.unanswered == 0 && o.server_errors == 0,
                )
            }),
        ));
        let bound = if strategy == ConcurrencyStrategy::Batched {
            50.0
        } else {
            250.0
        };
        targets.push(target(
            format!("flood · {strategy}: p99 of all answers"),
            format!("≤ {bound:.0} ms"),
            outcome
                .and_then(|o| o.latency.as_ref())
                .map(|l| (format!("{:.1} ms", l.p99_ms), l.p99_ms <= bound)),
        ));
        if strategy == ConcurrencyStrategy::Batched {
            targets.push(target(
                "flood · batched: fairness violations",
                "= 0",
                outcome.map(|o| {
                    (
                        o.fairness_violations.to_string(),
                        o.fairness_violations == 0,
                    )
                }),
            ));
        }
    }
}

fn overload(experiment: &Experiment, targets: &mut Vec<Target>) {
    for report in &experiment.overloads {
        let strategy = report.strategy;
        let (Some(top), capacity) = (report.top(), report.capacity_per_s) else {
            targets.push(target(format!("overload · {strategy}"), "measured", None));
            continue;
        };
        let at = format!("overload · {strategy} at {}×", top.multiple);
        targets.push(target(
            format!("{at}: goodput"),
            "≥ 90% of capacity",
            capacity.filter(|c| *c > 0.0).map(|capacity| {
                let share = top.goodput_per_s / capacity;
                (
                    format!(
                        "{:.0}/s of {capacity:.0}/s ({:.0}%)",
                        top.goodput_per_s,
                        share * 100.0
                    ),
                    share >= 0.9,
                )
            }),
        ));
        let base = report
            .at_capacity()
            .and_then(|level| level.successes.as_ref())
            .map(|l| l.p99_ms);
        let top_p99 = top.successes.as_ref().map(|l| l.p99_ms);
        targets.push(target(
            format!("{at}: p99 of successes"),
            "≤ 5× its p99 at 1×",
            base.zip(top_p99).map(|(base, p99)| {
                (
                    format!(
                        "{p99:.1} ms vs {base:.1} ms at 1× ({:.1}×)",
                        p99 / base.max(0.001)
                    ),
                    p99 <= 5.0 * base,
                )
            }),
        ));
        let shed = top.shed_latency.as_ref().map(|l| l.p99_ms);
        targets.push(target(
            format!("{at}: the excess answered 503 overloaded, p99"),
            "≤ 10 ms",
            Some(match shed {
                Some(p99) => (format!("{} shed, p99 {p99:.1} ms", top.shed), p99 <= 10.0),
                None => (
                    "none shed".to_owned(),
                    top.goodput_per_s >= top.offered_per_s * 0.99,
                ),
            }),
        ));
        targets.push(target(
            format!("{at}: client timeouts"),
            "= 0",
            Some((top.unanswered.to_string(), top.unanswered == 0)),
        ));
    }
}

fn hot(experiment: &Experiment, targets: &mut Vec<Target>) {
    let hot = |strategy| {
        experiment
            .runs
            .iter()
            .find(|run| run.scenario == Scenario::Hot && run.strategy == strategy)
    };
    let http = experiment
        .runs
        .iter()
        .find(|run| run.scenario == Scenario::HttpCeiling)
        .and_then(RunReport::throughput);
    let batched = hot(ConcurrencyStrategy::Batched);
    let clients = batched.map_or_else(String::new, |run| format!(", {} clients", run.clients));
    targets.push(target(
        format!("hot{clients} · batched vs the no-database HTTP ceiling"),
        "≥ 0.35×",
        batched
            .and_then(RunReport::throughput)
            .zip(http)
            .filter(|(_, http)| *http > 0.0)
            .map(|(orders, http)| {
                let ratio = orders / http;
                (
                    format!("{ratio:.2}× ({orders:.0} of {http:.0}/s)"),
                    ratio >= 0.35,
                )
            }),
    ));
    for (strategy, shape) in [
        (ConcurrencyStrategy::Atomic, Shape::SingleStatement),
        (ConcurrencyStrategy::Pessimistic, Shape::Pessimistic),
    ] {
        let versus = hot(strategy).and_then(|run| run.versus.as_ref());
        targets.push(target(
            format!("hot · {strategy} vs pgbench's {}", shape.name()),
            "≥ 0.90×",
            versus.map(|v| (format!("{:.2}×", v.ratio), v.ratio >= 0.9)),
        ));
    }
}

/// The highest resident memory of any server this run started.
fn peak_memory_mib(experiment: &Experiment) -> Option<(f64, String)> {
    let run = |run: &crate::report::RunReport| {
        let name = format!("{} · {}", run.scenario.name(), run.strategy);
        run.memory.as_ref().map(|m| (m.peak_kib, name))
    };
    let runs = experiment
        .runs
        .iter()
        .chain(&experiment.curve)
        .chain(experiment.cache.iter().map(|point| &point.run))
        .filter_map(run);
    let floods = experiment.floods.iter().filter_map(|f| {
        f.memory
            .as_ref()
            .map(|m| (m.peak_kib, format!("flood · {}", f.strategy)))
    });
    let overloads = experiment.overloads.iter().filter_map(|o| {
        o.memory
            .as_ref()
            .map(|m| (m.peak_kib, format!("overload · {}", o.strategy)))
    });
    runs.chain(floods)
        .chain(overloads)
        .max_by_key(|(kib, _)| *kib)
        .map(|(kib, name)| (kib as f64 / 1024.0, name))
}

/// The targets as a table, each figure beside its bound.
#[must_use]
pub fn text(targets: &[Target]) -> String {
    let mut out = String::from("targets\n");
    let width = targets
        .iter()
        .map(|t| t.what.chars().count())
        .max()
        .unwrap_or(0);
    for t in targets {
        let verdict = match t.met {
            Some(true) => "MET",
            Some(false) => "MISSED",
            None => "-",
        };
        let _ = writeln!(
            out,
            "  {:<width$}  {:<20} {:<44} {verdict}",
            t.what, t.bound, t.measured
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unmeasured_target_says_so() {
        let unmeasured = target("x", "≤ 1", None);
        assert_eq!(unmeasured.met, None);
        assert_eq!(unmeasured.measured, "not measured");
        let met = target("x", "≤ 1", Some(("0.5".to_owned(), true)));
        assert_eq!(met.met, Some(true));
        assert!(text(&[met, unmeasured]).contains("MET"));
    }
}
