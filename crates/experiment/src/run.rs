//! The experiment, scenario by scenario: pgbench ceilings once per
//! scenario, then each strategy on its own fresh database and server, then
//! the comparison; results and charts written as it goes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use recordshop_harness::api::{Api, ClientOptions};
use recordshop_harness::interrupt;
use recordshop_harness::postgres::{Admin, DatabaseName, DatabaseUrl, PgBin};
use recordshop_harness::scrape::Scrape;
use recordshop_harness::server::{Launch, Program, Server};
use recordshop_harness::signing::SigningKey;
use recordshop_postgres::ConcurrencyStrategy;

use crate::check;
use crate::inside::Inside;
use crate::load::{self, Live, RunLog};
use crate::pgbench::{self, Bench};
use crate::prep;
use crate::progress::RunProgress;
use crate::report::{self, Experiment, RunReport, Stopped};
use crate::scenario::{Plan, Scenario, Sizing};
use crate::stats;

/// Everything the command line decided.
pub struct Settings {
    pub server_bin: PathBuf,
    pub strategies: Vec<ConcurrencyStrategy>,
    pub scenarios: Vec<Scenario>,
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

/// SIGTERM first; a server still up after this gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
const MEMORY_EVERY: Duration = Duration::from_millis(200);
/// Longer than any experiment: the load must not start failing with 401.
const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Runs the whole experiment on the server `admin_url` names. Returns
/// whether every run completed with its invariant holding.
pub async fn run(settings: Settings, admin_url: DatabaseUrl) -> anyhow::Result<bool> {
    if !settings.server_bin.is_file() {
        bail!(
            "no server binary at {} (build it with `cargo build --release -p recordshop`)",
            settings.server_bin.display()
        );
    }
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
    let mut experiment = Experiment {
        started_at: now(),
        finished_at: None,
        command: settings.command.clone(),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        strategies: settings.strategies.clone(),
        scenarios: settings.scenarios.clone(),
        plans: Vec::new(),
        ceilings: Vec::new(),
        runs: Vec::new(),
        overhead: Vec::new(),
        sales_report: None,
    };
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
        for &strategy in &settings.strategies {
            if interrupt::interrupted() {
                break;
            }
            let run = run_one(
                &lab,
                &plan,
                strategy,
                &experiment.ceilings,
                &Observability::Metrics,
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
        && experiment
            .overhead
            .iter()
            .all(|pair| pair.runs.iter().all(RunReport::passed)))
}

/// What every run of one experiment shares.
pub(crate) struct Lab {
    /// Makes and drops each run's database.
    admin: Admin,
    /// pgbench, for the ceilings.
    pg_bin: PgBin,
    /// The key every server of this experiment verifies tokens with, and
    /// the staff token the load sends.
    key: SigningKey,
    token: String,
    /// Names this experiment's databases apart from any other's.
    tag: String,
    logs: PathBuf,
    settings: Settings,
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

/// What a run's server reports about itself.
#[derive(Clone, Debug)]
pub enum Observability {
    /// Neither metrics nor traces: the server as the tests run it.
    Off,
    /// `/metrics`, scraped around the load for [`Inside`]: every run of the
    /// comparison, as a shop would run it.
    Metrics,
    /// Metrics, and traces exported to `endpoint` with this share of them
    /// kept (`parentbased_traceidratio`).
    Traced { endpoint: String, sampled: f64 },
}

impl Observability {
    /// How it reads in reports.
    pub fn label(&self) -> String {
        match self {
            Self::Off => "off".to_owned(),
            Self::Metrics => "metrics".to_owned(),
            Self::Traced { sampled, .. } => format!("metrics+traces {}%", sampled * 100.0),
        }
    }

    /// How it reads in a database name.
    fn tag(&self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Metrics => "metrics",
            Self::Traced { .. } => "traced",
        }
    }
}

/// One scenario under one strategy, on a database of its own. Never fails:
/// what went wrong is part of the report.
pub(crate) async fn run_one(
    lab: &Lab,
    plan: &Plan,
    strategy: ConcurrencyStrategy,
    ceilings: &[pgbench::Ceiling],
    observability: &Observability,
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
    progress.phase("creating the database");
    let created = async {
        let name = DatabaseName::scratch(
            "exp",
            &[plan.scenario.name(), strategy.as_str(), observability.tag()],
            &lab.tag,
        )?;
        let url = lab.admin.create(&name).await?;
        anyhow::Ok((name, url))
    };
    match created.await {
        Ok((name, url)) => {
            report.database = name.to_string();
            let exercised = exercise(
                lab,
                plan,
                strategy,
                observability,
                &url,
                &progress,
                &mut report,
            )
            .await;
            if let Err(error) = exercised {
                report.error = Some(format!("{error:#}"));
            }
            if !lab.settings.keep {
                progress.phase("dropping the database");
                if let Err(error) = lab.admin.drop_database(&name).await {
                    eprintln!("warning: {error:#}");
                }
            }
        }
        Err(error) => report.error = Some(format!("{error:#}")),
    }
    progress.finish();
    if let Some(summary) = &report.summary {
        report.versus = report::versus(strategy, plan.scenario, summary.orders_per_s, ceilings);
    }
    report
}

async fn exercise(
    lab: &Lab,
    plan: &Plan,
    strategy: ConcurrencyStrategy,
    observability: &Observability,
    database: &DatabaseUrl,
    progress: &RunProgress,
    report: &mut RunReport,
) -> anyhow::Result<()> {
    let log = lab.logs.join(format!("{}.log", report.database));
    let mut launch = Launch::new(
        Program::Binary(lab.settings.server_bin.clone()),
        database.clone(),
        lab.key.clone(),
    )?
    .strategy(strategy)
    .log_to(&log);
    match observability {
        Observability::Off => {}
        Observability::Metrics => launch = launch.with_metrics()?,
        Observability::Traced { endpoint, sampled } => {
            launch = launch
                .with_metrics()?
                .setting("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)?
                .setting("OTEL_TRACES_SAMPLER", "parentbased_traceidratio")?
                .setting("OTEL_TRACES_SAMPLER_ARG", &sampled.to_string())?;
        }
    }
    for (name, value) in &lab.settings.server_env {
        launch = launch.setting(name, value)?;
    }
    progress.phase(&format!("starting the server on port {}", launch.port()));
    let mut server = launch.start()?;
    let options = ClientOptions {
        connections: plan.clients + 8,
        connect_timeout: Duration::from_secs(5),
        // Bounds a request the deadline does not cut (set-up calls).
        request_timeout: Duration::from_secs(30),
    };
    let api = Api::new(&launch.base_url(), options)?.with_token(&lab.token)?;
    let metrics = launch.metrics_url();
    let served = tokio::select! {
        served = serve(lab, plan, &mut server, &api, metrics.as_deref(), progress, report) => served,
        () = interrupt::wait() => Err(anyhow::anyhow!("interrupted")),
    };
    progress.spin();
    progress.phase("stopping the server");
    report.server = Some(Stopped::from(&server.terminate_async(STOP_GRACE).await?));
    let log = served?;
    // Checked once the server is gone: nothing can still be writing.
    progress.phase("checking the stock invariant");
    let created = log.samples.iter().filter(|s| s.is_order()).count() as u64;
    report.check = Some(check::run(database, created, log.unknown_purchases()).await?);
    Ok(())
}

/// Readiness, data, load; fills in what it measured.
async fn serve(
    lab: &Lab,
    plan: &Plan,
    server: &mut Server,
    api: &Api,
    metrics: Option<&str>,
    progress: &RunProgress,
    report: &mut RunReport,
) -> anyhow::Result<RunLog> {
    progress.phase("waiting for /health/ready");
    let ready = server.wait_ready_async(lab.settings.ready_timeout).await?;
    report.ready_after_s = Some(ready.as_secs_f64());
    progress.phase(&format!(
        "creating {} disc(s) and {} customer(s)",
        plan.discs, plan.customers
    ));
    let prepared = prep::prepare(api, plan, &lab.tag).await?;
    let before = match metrics {
        Some(url) => Some(Scrape::fetch(url).await?),
        None => None,
    };
    let live = Arc::new(Live::default());
    let memory = server.sample_memory(MEMORY_EVERY);
    let cpu_before = server.cpu_seconds();
    let ticker = progress.load(plan.duration, Arc::clone(&live));
    let seed = fastrand::u64(..);
    let log = load::drive(api, plan, &prepared, &live, seed).await;
    drop(ticker);
    let cpu_used = cpu_before
        .zip(server.cpu_seconds())
        .map(|(before, after)| after - before);
    report.memory = Some(memory.finish());
    if let (Some(url), Some(before)) = (metrics, &before) {
        let after = Scrape::fetch(url).await?;
        report.inside = Some(Inside::between(before, &after, report.strategy));
    }
    let log = log?;
    let summary = stats::summarize(&log);
    report.server_cpu_ms_per_order = cpu_used
        .filter(|_| summary.orders > 0)
        .map(|seconds| seconds * 1e3 / summary.orders as f64);
    report.summary = Some(summary);
    Ok(log)
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
