//! What a person reads: a siege-style summary per run, one comparison table
//! per scenario, the pgbench ceilings; and the same results as JSON.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use recordshop_harness::memory::Memory;
use recordshop_harness::process;
use recordshop_harness::server::Exit;
use recordshop_postgres::ConcurrencyStrategy;

use crate::check::Check;
use crate::inside::Inside;
use crate::pgbench::{Ceiling, Shape, ceiling_for};
use crate::scenario::{Plan, Scenario};
use crate::stats::{Latency, Summary};

/// The whole experiment, as written to `results.json`.
#[derive(Clone, Debug, Serialize)]
pub struct Experiment {
    pub started_at: String,
    pub finished_at: Option<String>,
    pub command: Vec<String>,
    pub cores: usize,
    pub strategies: Vec<ConcurrencyStrategy>,
    pub scenarios: Vec<Scenario>,
    pub plans: Vec<Plan>,
    pub ceilings: Vec<Ceiling>,
    pub runs: Vec<RunReport>,
    /// The launch as it happens (`flood`), per strategy.
    pub floods: Vec<crate::flood::FloodReport>,
    /// Past capacity (`overload`), per strategy.
    pub overloads: Vec<crate::overload::OverloadReport>,
    /// `hot` and `spread` by clients (`curve`).
    pub curve: Vec<RunReport>,
    /// Catalog reads by cache (`cache`).
    pub cache: Vec<crate::cache::CachePoint>,
    /// `hot` and `spread` direct, behind nginx, and on a synchronous
    /// formation (`proxy`).
    pub proxy: Vec<crate::proxy::ProxyComparison>,
    /// Each target beside its figure.
    pub targets: Vec<crate::targets::Target>,
    /// What observability costs, when asked for (`--overhead`).
    pub overhead: Vec<crate::overhead::Overhead>,
    /// The sales report's timing, when asked for (`--sales-report`).
    pub sales_report: Option<crate::sales_timing::SalesTiming>,
}

impl Experiment {
    /// An experiment begun at `started_at`, with no result yet.
    #[must_use]
    pub fn begun(
        started_at: String,
        command: Vec<String>,
        strategies: Vec<ConcurrencyStrategy>,
        scenarios: Vec<Scenario>,
    ) -> Self {
        Self {
            started_at,
            finished_at: None,
            command,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            strategies,
            scenarios,
            plans: Vec::new(),
            ceilings: Vec::new(),
            runs: Vec::new(),
            floods: Vec::new(),
            overloads: Vec::new(),
            curve: Vec::new(),
            cache: Vec::new(),
            proxy: Vec::new(),
            targets: Vec::new(),
            overhead: Vec::new(),
            sales_report: None,
        }
    }
}

/// How the server ended.
#[derive(Clone, Debug, Serialize)]
pub struct Stopped {
    /// It exited by itself after SIGTERM, within the grace period.
    pub graceful: bool,
    pub exit: String,
}

impl From<&Exit> for Stopped {
    fn from(exit: &Exit) -> Self {
        Self {
            graceful: !exit.killed,
            exit: format!(
                "{} {} ms after SIGTERM{}",
                process::describe_exit(exit.status),
                exit.took.as_millis(),
                if exit.killed { " (killed)" } else { "" }
            ),
        }
    }
}

impl Stopped {
    /// Several servers': graceful when each was.
    pub fn of_all(exits: &[Exit]) -> Self {
        let each: Vec<String> = exits.iter().map(|exit| Self::from(exit).exit).collect();
        Self {
            graceful: exits.iter().all(|exit| !exit.killed),
            exit: format!("{} servers: {}", exits.len(), each.join("; ")),
        }
    }
}

/// One scenario under one strategy.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub scenario: Scenario,
    pub strategy: ConcurrencyStrategy,
    pub database: String,
    pub clients: usize,
    pub duration_s: f64,
    pub ready_after_s: Option<f64>,
    pub summary: Option<Summary>,
    pub check: Option<Check>,
    pub memory: Option<Memory>,
    /// The server's CPU time (user and system, all threads) during the
    /// load, per order placed: what a strategy costs the server itself,
    /// whatever the load generator beside it takes.
    pub server_cpu_ms_per_order: Option<f64>,
    /// What the strategy did inside, from the server's metrics.
    pub inside: Option<Inside>,
    pub server: Option<Stopped>,
    pub versus: Option<Versus>,
    /// Why the run did not complete, if it did not.
    pub error: Option<String>,
}

impl RunReport {
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.check.as_ref().is_some_and(|c| c.pass)
    }

    /// The throughput the scenario is judged by.
    pub fn throughput(&self) -> Option<f64> {
        let summary = self.summary.as_ref()?;
        Some(if self.scenario.measures_orders() {
            summary.orders_per_s
        } else {
            summary.requests_per_s
        })
    }
}

/// A strategy's orders/s as a share of the matching pgbench ceiling.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Versus {
    pub shape: Shape,
    pub ceiling_tps: f64,
    pub ratio: f64,
}

pub fn versus(
    strategy: ConcurrencyStrategy,
    scenario: Scenario,
    orders_per_s: f64,
    ceilings: &[Ceiling],
) -> Option<Versus> {
    let shape = ceiling_for(strategy, scenario)?;
    let ceiling = ceilings
        .iter()
        .find(|c| c.scenario == scenario && c.shape == shape && c.tps > 0.0)?;
    Some(Versus {
        shape,
        ceiling_tps: ceiling.tps,
        ratio: orders_per_s / ceiling.tps,
    })
}

pub fn write_json(path: &Path, experiment: &Experiment) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(experiment).context("serialising the results")?;
    std::fs::write(path, json).with_context(|| format!("writing {}", path.display()))
}

/// The siege-style block printed after each run.
pub fn summary_text(run: &RunReport) -> String {
    let mut out = format!(
        "{} · {}  ({} clients, {:.0} s, database {})\n",
        run.scenario.name(),
        run.strategy,
        run.clients,
        run.duration_s,
        run.database
    );
    let mut line = |label: &str, value: String| {
        let _ = writeln!(out, "  {label:<22}{value}");
    };
    if let Some(error) = &run.error {
        line("Error:", error.clone());
    }
    if let Some(s) = &run.summary {
        line("Transactions:", format!("{} hits", s.transactions));
        line("Availability:", format!("{:.2} %", s.availability_pct));
        line("Elapsed time:", format!("{:.2} s", s.elapsed_s));
        line(
            "Orders:",
            format!("{} ({:.2} orders/s)", s.orders, s.orders_per_s),
        );
        if s.accepted > 0 {
            line(
                "Taken in (202):",
                format!("{} ({:.2} purchases/s)", s.accepted, s.accepted_per_s),
            );
        }
        line("Request rate:", format!("{:.2} req/s", s.requests_per_s));
        line("Concurrency:", format!("{:.2}", s.concurrency));
        line("Response time:", latency_text(s.latency.as_ref()));
        if !run.scenario.measures_orders() {
            line("Purchases:", latency_text(s.purchase_latency.as_ref()));
        }
        line("Status:", statuses_text(s));
        line(
            "In flight at the end:",
            format!(
                "{} (purchases with unknown outcome: {})",
                s.in_flight, s.unknown_purchases
            ),
        );
    }
    if let Some(memory) = &run.memory {
        line(
            "Server memory (RSS):",
            format!(
                "peak {} · mean {}",
                mib(memory.peak_kib),
                mib(memory.mean_kib)
            ),
        );
    }
    if let Some(cpu) = run.server_cpu_ms_per_order {
        line("Server CPU:", format!("{cpu:.3} ms per order"));
    }
    if let Some(inside) = &run.inside {
        line("Inside:", inside.text());
    }
    if let Some(server) = &run.server {
        line("Server stop:", server.exit.clone());
    }
    if let Some(queue) = run.check.as_ref().and_then(crate::check::Check::queue_text) {
        line("Queue:", queue);
    }
    if let Some(c) = &run.check {
        line(
            "Stock:",
            format!(
                "{} sold of {} over {} disc(s), {} left",
                c.ledger.units_sold,
                c.ledger.initial_stock,
                c.ledger.discs,
                c.ledger.remaining_stock
            ),
        );
        line(
            "Confirmed orders:",
            format!(
                "{} (answered 201: {}, outcome unknown: {})",
                c.ledger.confirmed_orders, c.created_answers, c.unknown_purchases
            ),
        );
        line("Invariant:", check_text(c));
        for example in &c.ledger.examples {
            line("", example.clone());
        }
    }
    if let Some(v) = &run.versus {
        line(
            "vs ceiling:",
            format!(
                "{:.2}× {} ({:.0} tps)",
                v.ratio,
                v.shape.name(),
                v.ceiling_tps
            ),
        );
    }
    out
}

fn latency_text(latency: Option<&Latency>) -> String {
    match latency {
        None => "none".to_owned(),
        Some(l) => format!(
            "mean {:.2} ms · p50 {:.2} · p90 {:.2} · p99 {:.2} · max {:.2}",
            l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        ),
    }
}

fn statuses_text(summary: &Summary) -> String {
    if summary.statuses.is_empty() {
        return "none".to_owned();
    }
    summary
        .statuses
        .iter()
        .map(|(label, count)| format!("{label} ×{count}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

fn check_text(check: &Check) -> String {
    if check.pass {
        return format!(
            "PASS ({} disc(s) balanced, no negative stock, orders match)",
            check.ledger.discs
        );
    }
    let mut reasons = Vec::new();
    if check.ledger.unbalanced > 0 {
        reasons.push(format!("{} disc(s) unbalanced", check.ledger.unbalanced));
    }
    if check.ledger.negative_stock > 0 {
        reasons.push(format!(
            "{} disc(s) below zero",
            check.ledger.negative_stock
        ));
    }
    if !check.orders_match {
        reasons.push("confirmed orders ≠ 201 answers".to_owned());
    }
    format!("FAIL ({})", reasons.join(", "))
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// One row per strategy of `scenario`.
pub fn comparison_table(scenario: Scenario, runs: &[RunReport]) -> String {
    let throughput = if scenario.measures_orders() {
        "orders/s"
    } else {
        "req/s"
    };
    let headers = [
        "strategy",
        throughput,
        "mean ms",
        "p50",
        "p90",
        "p99",
        "max",
        "avail %",
        "answers",
        "in flight",
        "RSS peak",
        "invariant",
        "vs ceiling",
    ];
    let rows = runs
        .iter()
        .filter(|run| run.scenario == scenario)
        .map(comparison_row)
        .collect();
    let mut out = format!("{}\n{}", scenario.name(), table(&headers, rows));
    for run in runs.iter().filter(|run| run.scenario == scenario) {
        if let (Some(summary), Some(queue)) = (
            &run.summary,
            run.check.as_ref().and_then(crate::check::Check::queue_text),
        ) {
            out.push_str(&format!(
                "\n{}: {:.0} purchases/s taken in (202) beside {:.0}/s decided at once (201); {queue}",
                run.strategy, summary.accepted_per_s, summary.orders_per_s
            ));
        }
    }
    out
}

/// What each strategy of `scenario` did inside, from the server's metrics.
pub fn inside_table(scenario: Scenario, runs: &[RunReport]) -> Option<String> {
    let runs: Vec<&RunReport> = runs
        .iter()
        .filter(|run| run.scenario == scenario && run.inside.is_some())
        .collect();
    if runs.is_empty() {
        return None;
    }
    let headers = [
        "strategy",
        "attempts/order",
        "conflicts",
        "batch mean",
        "batch p99",
        "lock wait p99 ms",
        "pool wait p99 ms",
        "server CPU ms/order",
    ];
    let figure = |value: Option<f64>| value.map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
    let rows = runs
        .iter()
        .filter_map(|run| {
            let inside = run.inside.as_ref()?;
            Some(vec![
                run.strategy.to_string(),
                figure(inside.attempts_per_order),
                format!("{:.0}", inside.conflicts),
                figure(inside.batch_size_mean),
                figure(inside.batch_size_p99),
                figure(inside.lock_wait_p99_ms),
                figure(inside.pool_wait_p99_ms),
                run.server_cpu_ms_per_order
                    .map_or_else(|| "-".to_owned(), |cpu| format!("{cpu:.3}")),
            ])
        })
        .collect();
    Some(format!(
        "{} — inside the server\n{}",
        scenario.name(),
        table(&headers, rows)
    ))
}

fn comparison_row(run: &RunReport) -> Vec<String> {
    let mut row = vec![run.strategy.to_string()];
    let Some(s) = &run.summary else {
        let error = run.error.as_deref().unwrap_or("no result");
        row.push(format!("error: {}", error.lines().next().unwrap_or(error)));
        return row;
    };
    row.push(format!("{:.1}", run.throughput().unwrap_or(0.0)));
    match &s.latency {
        Some(l) => row.extend(
            [l.mean_ms, l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms].map(|ms| format!("{ms:.2}")),
        ),
        None => row.extend(std::iter::repeat_n("-".to_owned(), 5)),
    }
    row.push(format!("{:.2}", s.availability_pct));
    row.push(
        s.statuses
            .iter()
            .map(|(label, count)| {
                let status = label.split(' ').next().unwrap_or(label);
                format!("{status}:{count}")
            })
            .collect::<Vec<_>>()
            .join(" "),
    );
    row.push(s.in_flight.to_string());
    row.push(run.memory.as_ref().map_or("-".into(), |m| mib(m.peak_kib)));
    row.push(match (&run.check, &run.error) {
        (_, Some(_)) => "ERROR".into(),
        (Some(c), None) if c.pass => "PASS".into(),
        (Some(_), None) => "FAIL".into(),
        (None, None) => "-".into(),
    });
    row.push(run.versus.as_ref().map_or("-".into(), |v| {
        format!("{:.2}× {}", v.ratio, v.shape.name())
    }));
    row
}

pub fn ceilings_text(ceilings: &[Ceiling]) -> String {
    let rows = ceilings
        .iter()
        .map(|c| {
            vec![
                c.scenario.name().to_owned(),
                c.shape.name().to_owned(),
                c.clients.to_string(),
                format!("{:.0}", c.duration_s),
                format!("{:.1}", c.tps),
                c.latency_ms.map_or("-".into(), |ms| format!("{ms:.2}")),
                c.failed.map_or("-".into(), |n| n.to_string()),
            ]
        })
        .collect();
    table(
        &[
            "scenario",
            "pgbench shape",
            "clients",
            "secs",
            "tps",
            "latency ms",
            "failed",
        ],
        rows,
    )
}

/// A plain-text table: first column left-aligned, the rest right-aligned,
/// columns as wide as their widest cell. A row with fewer cells than
/// headers lets its last cell run across the rest (an error message).
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows.iter().filter(|row| row.len() >= columns) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let render = |cells: &[String]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate().take(columns) {
            let width = widths.get(i).copied().unwrap_or(0);
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            if i > 0 {
                line.push_str("  ");
            }
            let spans_the_rest = i + 1 == cells.len() && cells.len() < columns;
            if i == 0 || spans_the_rest {
                line.push_str(cell);
                line.push_str(&pad);
            } else {
                line.push_str(&pad);
                line.push_str(cell);
            }
        }
        line.trim_end().to_owned()
    };
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    let mut out = render(&header);
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * columns.saturating_sub(1)));
    for row in &rows {
        out.push('\n');
        out.push_str(&render(row));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn summary() -> Summary {
        Summary {
            transactions: 1000,
            failures: 0,
            availability_pct: 100.0,
            elapsed_s: 5.0,
            requests_per_s: 200.0,
            orders: 500,
            orders_per_s: 100.0,
            accepted: 0,
            accepted_per_s: 0.0,
            concurrency: 1.5,
            latency: Some(Latency {
                count: 1000,
                mean_ms: 2.5,
                p50_ms: 2.0,
                p90_ms: 4.0,
                p99_ms: 8.0,
                max_ms: 20.0,
            }),
            purchase_latency: None,
            statuses: BTreeMap::from([("201".into(), 500), ("409 out_of_stock".into(), 500)]),
            in_flight: 3,
            unknown_purchases: 3,
            timeline: Vec::new(),
        }
    }

    fn run(strategy: &str, pass: bool) -> RunReport {
        RunReport {
            scenario: Scenario::Launch,
            strategy: strategy.parse().unwrap(),
            database: "exp_launch_x".into(),
            clients: 90,
            duration_s: 5.0,
            ready_after_s: Some(0.2),
            summary: Some(summary()),
            check: Some(crate::check::evaluate(
                recordshop_harness::ledger::Verdict::of(&[
                    recordshop_postgres::ledger::DiscLedger {
                        disc: "d".into(),
                        quantity: if pass { 0 } else { 1 },
                        confirmed_units: 500,
                        confirmed_orders: 500,
                        adjustments: 500,
                    },
                ]),
                &recordshop_postgres::ledger::Lifecycle {
                    confirmed_at_once: 500,
                    ..Default::default()
                },
                crate::session::Tally {
                    created: 500,
                    accepted: 0,
                    unknown: 3,
                },
                None,
            )),
            memory: Some(Memory {
                peak_kib: 20 * 1024,
                mean_kib: 18 * 1024,
                samples: 10,
            }),
            server_cpu_ms_per_order: Some(0.2),
            inside: None,
            server: None,
            versus: None,
            error: None,
        }
    }

    #[test]
    fn the_summary_reads_like_siege() {
        let text = summary_text(&run("pessimistic", true));
        assert!(text.starts_with("launch · pessimistic  (90 clients, 5 s"));
        assert!(
            text.contains("  Transactions:         1000 hits\n"),
            "{text}"
        );
        assert!(text.contains("Availability:         100.00 %"));
        assert!(text.contains("500 (100.00 orders/s)"));
        assert!(text.contains("mean 2.50 ms · p50 2.00 · p90 4.00 · p99 8.00 · max 20.00"));
        assert!(text.contains("201 ×500 · 409 out_of_stock ×500"));
        assert!(text.contains("peak 20.0 MiB · mean 18.0 MiB"));
        assert!(text.contains("Invariant:            PASS"));
    }

    #[test]
    fn a_failed_invariant_says_why() {
        let text = summary_text(&run("optimistic", false));
        assert!(text.contains("FAIL (1 disc(s) unbalanced)"), "{text}");
    }

    #[test]
    fn the_comparison_table_has_a_row_per_strategy() {
        let mut broken = run("batched", true);
        broken.summary = None;
        broken.check = None;
        broken.error = Some("server not ready".into());
        let runs = vec![run("pessimistic", true), run("optimistic", false), broken];
        let table = comparison_table(Scenario::Launch, &runs);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "launch");
        assert!(
            lines[1].starts_with("strategy     orders/s  mean ms"),
            "{table}"
        );
        assert!(
            lines[3].starts_with("pessimistic     100.0     2.50"),
            "{table}"
        );
        assert!(lines[3].contains("201:500 409:500"));
        assert!(lines[3].ends_with("PASS           -"), "{table}");
        assert!(lines[4].contains("FAIL"));
        assert!(
            lines[5].starts_with("batched      error: server not ready"),
            "{table}"
        );
    }

    #[test]
    fn tables_align_columns() {
        let text = table(
            &["name", "n"],
            vec![
                vec!["a".into(), "1".into()],
                vec!["long".into(), "100".into()],
            ],
        );
        assert_eq!(text, "name    n\n---------\na       1\nlong  100\n");
    }

    #[test]
    fn versus_picks_the_matching_ceiling() {
        let ceiling = |shape, tps| Ceiling {
            scenario: Scenario::Hot,
            shape,
            clients: 32,
            duration_s: 10.0,
            tps,
            transactions: None,
            failed: None,
            latency_ms: None,
        };
        let ceilings = [
            ceiling(Shape::SingleStatement, 1400.0),
            ceiling(Shape::Pessimistic, 1000.0),
        ];
        let pessimistic = versus(
            ConcurrencyStrategy::Pessimistic,
            Scenario::Hot,
            700.0,
            &ceilings,
        )
        .unwrap();
        assert_eq!(pessimistic.shape, Shape::Pessimistic);
        assert!((pessimistic.ratio - 0.7).abs() < 1e-9);
        let atomic = versus(
            ConcurrencyStrategy::Atomic,
            Scenario::Hot,
            1400.0,
            &ceilings,
        )
        .unwrap();
        assert!((atomic.ratio - 1.0).abs() < 1e-9);
        assert_eq!(
            versus(
                ConcurrencyStrategy::Atomic,
                Scenario::Spread,
                1.0,
                &ceilings
            ),
            None
        );
    }
}
