//! The experiment, scenario by scenario: pgbench ceilings once per
//! scenario, then each strategy on its own fresh database and server, then
//! the comparison; results and charts written as it goes.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::watch;

use crate::api::Api;
use crate::check;
use crate::cluster::{self, Cluster};
use crate::load::{self, Live, RunLog};
use crate::pgbench::{self, Bench};
use crate::prep;
use crate::progress::RunProgress;
use crate::report::{self, Experiment, RunReport};
use crate::scenario::{Plan, Scenario, Sizing};
use crate::server::{self, Launch, MemorySampler, Server};
use crate::stats;

/// Everything the command line decided.
pub struct Settings {
    pub admin_url: String,
    pub server_bin: PathBuf,
    pub pg_bin_dir: PathBuf,
    pub strategies: Vec<String>,
    pub scenarios: Vec<Scenario>,
    pub sizing: Sizing,
    pub out: PathBuf,
    pub keep: bool,
    /// `None` skips the pgbench ceilings.
    pub pgbench_duration: Option<Duration>,
    pub server_env: Vec<(String, String)>,
    pub ready_timeout: Duration,
    pub command: Vec<String>,
}

/// SIGTERM first; a server still up after this gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);
const MEMORY_EVERY: Duration = Duration::from_millis(200);

/// Runs the whole experiment. Returns whether every run completed with its
/// invariant holding.
pub async fn run(settings: Settings) -> anyhow::Result<bool> {
    if !settings.server_bin.is_file() {
        bail!(
            "no server binary at {} (build it with `cargo build --release -p recordshop`)",
            settings.server_bin.display()
        );
    }
    let logs = settings.out.join("logs");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let cluster = Cluster::connect(&settings.admin_url).await?;
    let ctx = Ctx {
        cluster,
        tag: short_tag(),
        interrupt: Interrupt::on_ctrl_c(),
        logs,
        settings,
    };
    let settings = &ctx.settings;
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
    };
    let results = settings.out.join("results.json");
    println!(
        "experiment {}: strategies {}, scenarios {}, results in {}",
        ctx.tag,
        settings.strategies.join(","),
        names(&settings.scenarios),
        settings.out.display()
    );
    for &scenario in &settings.scenarios {
        if ctx.interrupt.is_set() {
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
            let ceilings = ceilings(&ctx, &plan, duration).await;
            experiment.ceilings.extend(ceilings);
        }
        for strategy in &settings.strategies {
            if ctx.interrupt.is_set() {
                break;
            }
            let run = run_one(&ctx, &plan, strategy, &experiment.ceilings).await;
            println!("\n{}", report::summary_text(&run));
            experiment.runs.push(run);
            report::write_json(&results, &experiment)?;
        }
        experiment.plans.push(plan);
        println!("{}", report::comparison_table(scenario, &experiment.runs));
    }
    experiment.finished_at = Some(now());
    report::write_json(&results, &experiment)?;
    let charts = crate::charts::draw_all(&settings.out, &experiment)?;
    println!("results: {}", results.display());
    for chart in charts {
        println!("chart:   {}", chart.display());
    }
    if ctx.interrupt.is_set() {
        println!("interrupted: the results above are partial");
        return Ok(false);
    }
    Ok(experiment.runs.iter().all(RunReport::passed))
}

struct Ctx {
    cluster: Cluster,
    /// Names this experiment's databases apart from any other's.
    tag: String,
    interrupt: Interrupt,
    logs: PathBuf,
    settings: Settings,
}

/// The pgbench ceilings of `plan`'s scenario; a failure is reported and
/// leaves the strategies without a ratio, it does not stop the experiment.
async fn ceilings(ctx: &Ctx, plan: &Plan, duration: Duration) -> Vec<pgbench::Ceiling> {
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
        pg_bin_dir: &ctx.settings.pg_bin_dir,
        server_bin: &ctx.settings.server_bin,
        dir: &ctx.logs,
        clients: plan.clients,
        duration,
        keep: ctx.settings.keep,
    };
    let measured = tokio::select! {
        measured = pgbench::measure(&ctx.cluster, &bench, plan.scenario, &ctx.tag) => measured,
        () = ctx.interrupt.wait() => Err(anyhow::anyhow!("interrupted")),
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

/// One scenario under one strategy, on a database of its own. Never fails:
/// what went wrong is part of the report.
async fn run_one(
    ctx: &Ctx,
    plan: &Plan,
    strategy: &str,
    ceilings: &[pgbench::Ceiling],
) -> RunReport {
    let database = cluster::database_name(plan.scenario.name(), strategy, &ctx.tag);
    let mut report = RunReport {
        scenario: plan.scenario,
        strategy: strategy.to_owned(),
        database: database.clone(),
        clients: plan.clients,
        duration_s: plan.duration.as_secs_f64(),
        ready_after_s: None,
        summary: None,
        check: None,
        memory: None,
        server: None,
        versus: None,
        error: None,
    };
    let progress = RunProgress::new(format!("{} · {strategy}", plan.scenario.name()));
    progress.phase("creating the database");
    match ctx.cluster.create_database(&database).await {
        Ok(url) => {
            if let Err(error) = exercise(ctx, plan, strategy, &url, &progress, &mut report).await {
                report.error = Some(format!("{error:#}"));
            }
            if !ctx.settings.keep {
                progress.phase("dropping the database");
                if let Err(error) = ctx.cluster.drop_database(&database).await {
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
    ctx: &Ctx,
    plan: &Plan,
    strategy: &str,
    database_url: &str,
    progress: &RunProgress,
    report: &mut RunReport,
) -> anyhow::Result<()> {
    let port = server::free_port()?;
    let log = ctx.logs.join(format!("{}.log", report.database));
    let token = server::staff_token(&ctx.settings.server_bin).await?;
    progress.phase(&format!("starting the server on port {port}"));
    let mut server = Server::start(&Launch {
        bin: &ctx.settings.server_bin,
        database_url,
        strategy,
        port,
        env: &ctx.settings.server_env,
        log: &log,
    })?;
    let api = Api::new(port, plan.clients + 8)?.with_token(token);
    let served = tokio::select! {
        served = serve(ctx, plan, &mut server, &api, progress, report) => served,
        () = ctx.interrupt.wait() => Err(anyhow::anyhow!("interrupted")),
    };
    progress.spin();
    progress.phase("stopping the server");
    report.server = Some(server.stop(STOP_GRACE).await?);
    let log = served?;
    // Checked once the server is gone: nothing can still be writing.
    progress.phase("checking the stock invariant");
    let created = log.samples.iter().filter(|s| s.is_order()).count() as u64;
    report.check = Some(check::run(database_url, created, log.unknown_purchases()).await?);
    Ok(())
}

/// Readiness, data, load; fills in what it measured.
async fn serve(
    ctx: &Ctx,
    plan: &Plan,
    server: &mut Server,
    api: &Api,
    progress: &RunProgress,
    report: &mut RunReport,
) -> anyhow::Result<RunLog> {
    progress.phase("waiting for /health/ready");
    let ready = server.wait_ready(api, ctx.settings.ready_timeout).await?;
    report.ready_after_s = Some(ready.as_secs_f64());
    progress.phase(&format!(
        "creating {} disc(s) and {} customer(s)",
        plan.discs, plan.customers
    ));
    let prepared = prep::prepare(api, plan, &ctx.tag).await?;
    let live = Arc::new(Live::default());
    let memory = MemorySampler::start(server.pid(), MEMORY_EVERY);
    let ticker = progress.load(plan.duration, Arc::clone(&live));
    let seed = fastrand::u64(..);
    let log = load::drive(api, plan, &prepared, &live, seed).await;
    drop(ticker);
    report.memory = Some(memory.finish().await);
    let log = log?;
    report.summary = Some(stats::summarize(&log));
    Ok(log)
}

/// Set by the first Ctrl-C: the current run stops its load, cleans up, and
/// the experiment ends with what it has.
#[derive(Clone)]
struct Interrupt(watch::Receiver<bool>);

impl Interrupt {
    fn on_ctrl_c() -> Self {
        let (set, flag) = watch::channel(false);
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\ninterrupted: stopping the server and dropping its database…");
                let _ = set.send(true);
            }
        });
        Self(flag)
    }

    fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    async fn wait(&self) {
        let mut flag = self.0.clone();
        // An error means the sender is gone: no interrupt can come.
        if flag.wait_for(|set| *set).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
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
