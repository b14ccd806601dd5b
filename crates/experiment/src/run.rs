//! The experiment, scenario by scenario: pgbench ceilings once per
//! scenario, then each strategy on its own fresh database and server, then
//! the comparison; results and charts written as it goes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use recordshop_harness::api::ClientOptions;
use recordshop_harness::interrupt;
use recordshop_harness::postgres::{Admin, DatabaseUrl, PgBin};
use recordshop_harness::scrape::Scrape;
use recordshop_harness::signing::SigningKey;
use recordshop_postgres::ConcurrencyStrategy;

use crate::flood::{self, FloodPlan, FloodReport};
use crate::inside::Inside;
use crate::load::{self, Live};
use crate::overload::{self, OverloadPlan, OverloadReport};
use crate::pgbench::{self, Bench};
use crate::prep;
use crate::progress::RunProgress;
use crate::report::{self, Experiment, RunReport};
use crate::scenario::{Plan, Scenario, Sizing};
use crate::session::{self, Lab, Observability, Session, Setup, Tally, Topology};
use crate::stats;
use crate::{cache, curve, targets};

/// Everything the command line decided.
pub struct Settings {
    pub server_bin: PathBuf,
    pub strategies: Vec<ConcurrencyStrategy>,
    /// Whether `--strategies` named them (the `proxy` study runs only
    /// its default otherwise).
    pub strategies_given: bool,
    pub scenarios: Vec<Scenario>,
    pub studies: Vec<Study>,
    pub sizing: Sizing,
    pub out: PathBuf,
    pub keep: bool,
    /// `None` skips the pgbench ceilings.
    pub pgbench_duration: Option<Duration>,
    /// Measure what metrics and traces cost (see `overhead.rs`).
    pub overhead: bool,
    pub overhead_settings: crate::overhead::Settings,
    /// Time the sales report over this many orders (see `sales_timing.rs`).
    pub sales_report: Option<i64>,
    pub server_env: Vec<(String, String)>,
    pub ready_timeout: Duration,
    pub command: Vec<String>,
}

const MEMORY_EVERY: Duration = Duration::from_millis(200);
/// Longer than any experiment: the load must not start failing with 401.
const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Sockets of the largest study (2,000 connections) and room besides.
const OPEN_FILES: u64 = 4_096;

/// Runs the whole experiment on the server `admin_url` names. Returns
/// whether every run completed with its invariant holding.
pub async fn run(settings: Settings, admin_url: DatabaseUrl) -> anyhow::Result<bool> {
    if !settings.server_bin.is_file() {
        bail!(
            "no server binary at {} (build it with `cargo build --release -p recordshop`)",
            settings.server_bin.display()
        );
    }
    // The flood's and the overload's connections, plus the 1,024 or so any
    // run needs besides.
    recordshop_harness::process::ensure_open_files(OPEN_FILES)?;
    let logs = settings.out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let key = SigningKey::random();
    let lab = Lab {
        admin: Admin::connect(&admin_url).await?,
        pg_bin: PgBin::find_or_install()?,
        token: key.staff_token("experiment", TOKEN_TTL)?,
        key,
        tag: short_tag(),
        logs,
        settings,
    };
    let settings = &lab.settings;
    let mut experiment = Experiment::begun(
        now(),
        settings.command.clone(),
        settings.strategies.clone(),
        settings.scenarios.clone(),
    );
    let results = settings.out.join("results.json");
    println!(
        "experiment {}: strategies {}, scenarios {}, results in {}",
        lab.tag,
        settings
            .strategies
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(","),
        names(&settings.scenarios),
        settings.out.display()
    );
    for &scenario in &settings.scenarios {
        if interrupt::interrupted() {
            break;
        }
        let plan = Plan::new(scenario, &settings.sizing);
        println!(
            "\n=== {} — {} clients, {:.0} s{} ===",
            scenario.name(),
            plan.clients,
            plan.duration.as_secs_f64(),
            plan.think.map_or(String::new(), |t| format!(
                ", pauses 0–{} ms",
                t.as_millis()
            ))
        );
        if let Some(duration) = settings.pgbench_duration {
            let ceilings = ceilings(&lab, &plan, duration).await;
            experiment.ceilings.extend(ceilings);
        }
        // A scenario the strategies cannot differ in runs under the first.
        let strategies = if scenario.depends_on_strategy() {
            &settings.strategies[..]
        } else {
            &settings.strategies[..1]
        };
        for &strategy in strategies {
            if interrupt::interrupted() {
                break;
            }
            let run = run_one(
                &lab,
                &plan,
                strategy,
                &experiment.ceilings,
                &Observability::Metrics,
                &[],
            )
            .await;
            println!("\n{}", report::summary_text(&run));
            experiment.runs.push(run);
            report::write_json(&results, &experiment)?;
        }
        experiment.plans.push(plan);
        println!("{}", report::comparison_table(scenario, &experiment.runs));
        if let Some(inside) = report::inside_table(scenario, &experiment.runs) {
            println!("{inside}");
        }
    }
    studies(&lab, &mut experiment, &results).await?;
    if settings.overhead && !interrupt::interrupted() {
        experiment.overhead =
            crate::overhead::measure(&lab, &settings.sizing, &settings.overhead_settings).await?;
        println!("\n{}", crate::overhead::text(&experiment.overhead));
        report::write_json(&results, &experiment)?;
    }
    if let Some(orders) = settings.sales_report
        && !interrupt::interrupted()
    {
        println!("\n=== sales report over {orders} orders ===");
        let timing = crate::sales_timing::measure(
            &lab.admin,
            &settings.server_bin,
            &lab.tag,
            orders,
            settings.keep,
        )
        .await?;
        println!("{}", crate::sales_timing::text(&timing));
        experiment.sales_report = Some(timing);
        report::write_json(&results, &experiment)?;
    }
    experiment.targets = targets::evaluate(&experiment);
    println!("\n{}", targets::text(&experiment.targets));
    experiment.finished_at = Some(now());
    report::write_json(&results, &experiment)?;
    let charts = crate::charts::draw_all(&settings.out, &experiment)?;
    println!("results: {}", results.display());
    for chart in charts {
        println!("chart:   {}", chart.display());
    }
    if interrupt::interrupted() {
        println!("interrupted: the results above are partial");
        return Ok(false);
    }
    Ok(experiment.runs.iter().all(RunReport::passed)
        && experiment.curve.iter().all(RunReport::passed)
        && experiment.floods.iter().all(FloodReport::passed)
        && experiment.overloads.iter().all(OverloadReport::passed)
        && experiment
            .proxy
            .iter()
            .all(crate::proxy::ProxyComparison::passed)
        && experiment
            .overhead
            .iter()
            .all(|pair| pair.runs.iter().all(RunReport::passed)))
}

/// The open-loop studies and the curve, each strategy on a server of its
/// own.
async fn studies(
    lab: &Lab,
    experiment: &mut Experiment,
    results: &std::path::Path,
) -> anyhow::Result<()> {
    let settings = &lab.settings;
    if settings.studies.contains(&Study::Flood) {
        let plan = FloodPlan::new(settings.sizing.quick);
        println!(
            "\n=== flood — {} buyers within {:.0} s for {} units, {} connections ===",
            plan.buyers,
            plan.window.as_secs_f64(),
            plan.stock,
            plan.connections
        );
        for &strategy in &settings.strategies {
            if interrupt::interrupted() {
                return Ok(());
            }
            experiment
                .floods
                .push(flood::run(lab, &plan, strategy).await);
            report::write_json(results, experiment)?;
        }
        println!("{}", flood::text(&experiment.floods));
    }
    if settings.studies.contains(&Study::Overload) {
        println!("\n=== overload — open loop at multiples of each strategy's capacity ===");
        for &strategy in &settings.strategies {
            if interrupt::interrupted() {
                return Ok(());
            }
            let plan = OverloadPlan::new(strategy, settings.sizing.quick);
            experiment
                .overloads
                .push(overload::run(lab, &plan, strategy).await);
            report::write_json(results, experiment)?;
        }
        println!("{}", overload::text(&experiment.overloads));
    }
    if settings.studies.contains(&Study::Curve) {
        println!("\n=== curve — hot and spread by closed-loop clients ===");
        experiment.curve = curve::run(lab, &settings.sizing, &settings.strategies).await;
        report::write_json(results, experiment)?;
        println!("{}", curve::text(&experiment.curve));
    }
    if settings.studies.contains(&Study::Proxy) {
        let strategies = if settings.strategies_given {
            settings.strategies.clone()
        } else {
            vec![crate::proxy::DEFAULT_STRATEGY]
        };
        println!(
            "\n=== proxy — hot and spread ({}): 1 server direct, 3 behind nginx, 3 behind nginx on a synchronous formation ===",
            strategies
                .iter()
                .map(|strategy| strategy.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
        experiment.proxy = crate::proxy::run(lab, &settings.sizing, &strategies).await?;
        report::write_json(results, experiment)?;
        println!("{}", crate::proxy::text(&experiment.proxy));
    }
    if settings.studies.contains(&Study::Cache) {
        println!("\n=== cache — catalog reads with no cache and with the in-process cache ===");
        // Reads never touch a strategy: the first one's server serves them.
        let strategy = settings
            .strategies
            .first()
            .copied()
            .unwrap_or(ConcurrencyStrategy::Pessimistic);
        experiment.cache = cache::run(lab, &settings.sizing, strategy).await;
        report::write_json(results, experiment)?;
        println!("{}", cache::text(&experiment.cache));
    }
    Ok(())
}

/// A study beside the closed-loop scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Study {
    /// Thousands of buyers within a second for a few hundred units.
    Flood,
    /// Open loop at 1×, 2× and 4× capacity.
    Overload,
    /// `hot` and `spread` at 16 to 1,024 clients.
    Curve,
    /// Catalog reads with no cache and with the in-process cache.
    Cache,
    /// `hot` and `spread`: one server direct, three behind nginx, three
    /// behind nginx on a formation with a synchronous standby.
    Proxy,
}

/// The pgbench ceilings of `plan`'s scenario; a failure is reported and
/// leaves the strategies without a ratio, it does not stop the experiment.
async fn ceilings(lab: &Lab, plan: &Plan, duration: Duration) -> Vec<pgbench::Ceiling> {
    let shapes = pgbench::shapes_for(plan.scenario);
    if shapes.is_empty() {
        return Vec::new();
    }
    let progress = RunProgress::new(format!("{} · pgbench", plan.scenario.name()));
    progress.phase(&format!(
        "measuring {} shape(s), {:.0} s each",
        shapes.len(),
        duration.as_secs_f64()
    ));
    let bench = Bench {
        pgbench: lab.pg_bin.tool("pgbench"),
        dir: &lab.logs,
        clients: plan.clients,
        duration,
        keep: lab.settings.keep,
    };
    let measured = tokio::select! {
        measured = pgbench::measure(&lab.admin, &bench, plan.scenario, &lab.tag) => measured,
        () = interrupt::wait() => Err(anyhow::anyhow!("interrupted")),
    };
    progress.finish();
    match measured {
        Ok(ceilings) => {
            println!("\npgbench ceilings\n{}", report::ceilings_text(&ceilings));
            ceilings
        }
        Err(error) => {
            println!("\npgbench ceilings unavailable: {error:#}");
            Vec::new()
        }
    }
}

/// One scenario under one strategy, on a database of its own, one server
/// direct. Never fails: what went wrong is part of the report.
pub(crate) async fn run_one(
    lab: &Lab,
    plan: &Plan,
    strategy: ConcurrencyStrategy,
    ceilings: &[pgbench::Ceiling],
    observability: &Observability,
    settings: &[(&str, String)],
) -> RunReport {
    run_on(
        lab,
        plan,
        strategy,
        ceilings,
        observability,
        settings,
        Topology::Direct,
    )
    .await
}

/// [`run_one`] on `topology`.
pub(crate) async fn run_on(
    lab: &Lab,
    plan: &Plan,
    strategy: ConcurrencyStrategy,
    ceilings: &[pgbench::Ceiling],
    observability: &Observability,
    settings: &[(&str, String)],
    topology: Topology<'_>,
) -> RunReport {
    let mut report = RunReport {
        scenario: plan.scenario,
        strategy,
        database: String::new(),
        clients: plan.clients,
        duration_s: plan.duration.as_secs_f64(),
        ready_after_s: None,
        summary: None,
        check: None,
        memory: None,
        server_cpu_ms_per_order: None,
        inside: None,
        server: None,
        versus: None,
        error: None,
    };
    let progress = RunProgress::new(format!("{} · {strategy}", plan.scenario.name()));
    let setup = Setup {
        name: &[plan.scenario.name()],
        strategy,
        observability,
        client: ClientOptions {
            connections: plan.keep_alive_connections(),
            connect_timeout: Duration::from_secs(5),
            // Bounds a request the deadline does not cut (set-up calls).
            request_timeout: Duration::from_secs(30),
        },
        settings,
        topology,
    };
    let ended = session::run(lab, setup, &progress, async |session| {
        load(lab, plan, session, &progress, &mut report).await
    })
    .await;
    progress.finish();
    report.database = ended.database;
    report.ready_after_s = ended.ready_after_s;
    report.server = ended.stopped;
    report.check = ended.check;
    report.error = ended.outcome.err();
    if let Some(throughput) = report.throughput() {
        report.versus = report::versus(strategy, plan.scenario, throughput, ceilings);
    }
    report
}

/// Data, then the load; fills in what it measured.
async fn load(
    lab: &Lab,
    plan: &Plan,
    session: &mut Session,
    progress: &RunProgress,
    report: &mut RunReport,
) -> anyhow::Result<((), Tally)> {
    progress.phase(&format!(
        "creating {} disc(s) and {} customer(s)",
        plan.discs, plan.customers
    ));
    let prepared = prep::prepare(&session.api, plan, &lab.tag).await?;
    let before = match &session.metrics {
        Some(url) => Some(Scrape::fetch(url).await?),
        None => None,
    };
    let live = Arc::new(Live::default());
    let memory = session.sample_memory(MEMORY_EVERY);
    let cpu_before = session.cpu_seconds();
    let ticker = progress.load(plan.duration, Arc::clone(&live));
    let seed = fastrand::u64(..);
    let log = load::drive(&session.api, plan, &prepared, &live, seed).await;
    drop(ticker);
    let cpu_used = cpu_before
        .zip(session.cpu_seconds())
        .map(|(before, after)| after - before);
    report.memory = Some(memory.finish());
    if let (Some(url), Some(before)) = (&session.metrics, &before) {
        let after = Scrape::fetch(url).await?;
        report.inside = Some(Inside::between(before, &after, report.strategy));
    }
    let log = log?;
    let summary = stats::summarize(&log);
    report.server_cpu_ms_per_order = cpu_used
        .filter(|_| summary.orders > 0)
        .map(|seconds| seconds * 1e3 / summary.orders as f64);
    report.summary = Some(summary);
    let tally = Tally {
        created: log.samples.iter().filter(|s| s.is_order()).count() as u64,
        accepted: log.samples.iter().filter(|s| s.is_accepted()).count() as u64,
        unknown: log.unknown_purchases(),
    };
    Ok(((), tally))
}

fn short_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn names(scenarios: &[Scenario]) -> String {
    scenarios
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(",")
}
