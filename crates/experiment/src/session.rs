//! One measurement's server: a fresh database, a `recordshop` started on it
//! with the strategy under test, the caller's work against its API, then
//! the server stopped and the stock invariant read from the database, the
//! database dropped. Every scenario and study runs inside one of these.
//!
//! A session's [`Topology`] is one server the load reaches directly (every
//! scenario and study but one), or several behind nginx on a database of
//! some cluster's (the `proxy` study: the lab's, or a pg_auto_failover
//! formation's primary); they are started alike, from one launch each.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use recordshop_harness::api::{Api, ClientOptions};
use recordshop_harness::fleet::Fleet;
use recordshop_harness::interrupt;
use recordshop_harness::memory::MemorySampler;
use recordshop_harness::postgres::{Admin, DatabaseName, DatabaseUrl, PgBin};
use recordshop_harness::process;
use recordshop_harness::server::{Exit, Launch, Program, Server};
use recordshop_harness::signing::SigningKey;
use recordshop_postgres::ConcurrencyStrategy;

use crate::check::{self, Check};
use crate::progress::RunProgress;
use crate::report::Stopped;
use crate::run::Settings;

/// SIGTERM first; a server still up after this gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// What every measurement of one experiment shares.
pub(crate) struct Lab {
    /// Makes and drops each run's database.
    pub admin: Admin,
    /// pgbench, for the ceilings.
    pub pg_bin: PgBin,
    /// The key every server of this experiment verifies tokens with, and
    /// the staff token the load sends.
    pub key: SigningKey,
    pub token: String,
    /// Names this experiment's databases apart from any other's.
    pub tag: String,
    pub logs: PathBuf,
    pub settings: Settings,
}

/// What a run's server reports about itself.
#[derive(Clone, Debug)]
pub enum Observability {
    /// Neither metrics nor traces: the server as the tests run it.
    Off,
    /// `/metrics`, scraped around the load for the figures from inside:
    /// every run of the comparison, as a shop would run it.
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

/// Where a session's servers run and how the load reaches them.
#[derive(Clone, Copy)]
pub(crate) enum Topology<'a> {
    /// One server on a database of the lab's cluster, the load straight to
    /// it.
    Direct,
    /// `servers` servers on a database `admin` makes (migrated once before
    /// they start), behind a scratch nginx the load goes through. Their
    /// metrics are on as a direct server's are, but not scraped: the
    /// figures from inside are one server's. `tag` tells its databases
    /// and logs from another proxied topology's.
    Proxied {
        servers: usize,
        admin: &'a Admin,
        tag: &'static str,
    },
}

impl Topology<'_> {
    /// How it reads in a database name.
    fn tag(&self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Proxied { tag, .. } => tag,
        }
    }
}

/// How a session is set up.
pub(crate) struct Setup<'a> {
    /// What the database is named after (scenario, study…).
    pub name: &'a [&'a str],
    pub strategy: ConcurrencyStrategy,
    pub observability: &'a Observability,
    pub client: ClientOptions,
    /// Server settings of this session, on top of `--server-env`.
    pub settings: &'a [(&'a str, String)],
    pub topology: Topology<'a>,
}

impl<'a> Setup<'a> {
    /// A session for open-loop load (`flood`, `overload`): up to
    /// `connections` sockets, metrics on, and a buyer still unanswered
    /// after [`OPEN_LOOP_TIMEOUT`] counted as timed out.
    pub fn open_loop(
        name: &'a [&'a str],
        strategy: ConcurrencyStrategy,
        connections: usize,
    ) -> Self {
        Self {
            name,
            strategy,
            observability: &Observability::Metrics,
            client: ClientOptions {
                connections,
                connect_timeout: Duration::from_secs(10),
                request_timeout: OPEN_LOOP_TIMEOUT,
            },
            settings: &[],
            topology: Topology::Direct,
        }
    }

    /// The cluster the database is made on.
    fn admin<'b>(&'b self, lab: &'b Lab) -> &'b Admin {
        match self.topology {
            Topology::Direct => &lab.admin,
            Topology::Proxied { admin, .. } => admin,
        }
    }
}

/// When a buyer of an open-loop study gives up: far past any target, so a
/// timeout is a failure of the server, not of patience.
pub const OPEN_LOOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The running server (or servers), as the work sees it.
pub(crate) struct Session {
    /// To the server, or to nginx in front of them.
    pub api: Api,
    servers: Servers,
    /// The servers' processes, in order.
    pids: Vec<u32>,
    /// Where its metrics are scraped, when they are on (one server only).
    pub metrics: Option<String>,
    pub ready_after: Duration,
}

enum Servers {
    One(Server),
    Fleet(Fleet),
}

impl Session {
    /// Samples the resident memory of the (first) server.
    pub fn sample_memory(&self, every: Duration) -> MemorySampler {
        // A pid of none: the sampler finds no process and ends at once.
        MemorySampler::start(self.pids.first().copied().unwrap_or(0), every)
    }

    /// CPU time the servers have used so far, all of them together.
    pub fn cpu_seconds(&self) -> Option<f64> {
        self.pids.iter().map(|pid| process::cpu_seconds(*pid)).sum()
    }

    /// Until the server answers ready (a fleet's were waited for as it
    /// started).
    async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<Duration> {
        match &mut self.servers {
            Servers::One(server) => server.wait_ready_async(within).await,
            Servers::Fleet(_) => Ok(self.ready_after),
        }
    }

    /// SIGTERM to each server (nginx stopped first), SIGKILL after
    /// `grace`.
    async fn stop(self, grace: Duration) -> anyhow::Result<Stopped> {
        match self.servers {
            Servers::One(server) => Ok(Stopped::from(&server.terminate_async(grace).await?)),
            Servers::Fleet(fleet) => {
                let exits: Vec<Exit> = fleet.stop(grace).await?.into_iter().flatten().collect();
                Ok(Stopped::of_all(&exits))
            }
        }
    }
}

/// What the work tells the invariant check: purchases answered 201 and
/// 202, and purchases whose outcome the load never saw.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    pub created: u64,
    pub accepted: u64,
    pub unknown: u64,
}

/// How long the allocation workers get to decide what a load left pending
/// before the server is stopped; the drain time is reported, and an order
/// still pending after it fails the check.
const DRAIN_BOUND: Duration = Duration::from_secs(120);

/// How a session ended.
pub(crate) struct Ended<T> {
    pub database: String,
    pub ready_after_s: Option<f64>,
    pub stopped: Option<Stopped>,
    pub check: Option<Check>,
    /// The work's result, or why there is none.
    pub outcome: Result<T, String>,
}

/// Runs `work` against a fresh server on a fresh database. Never fails:
/// what went wrong is in [`Ended::outcome`].
pub(crate) async fn run<T>(
    lab: &Lab,
    setup: Setup<'_>,
    progress: &RunProgress,
    work: impl AsyncFnOnce(&mut Session) -> anyhow::Result<(T, Tally)>,
) -> Ended<T> {
    let mut ended = Ended {
        database: String::new(),
        ready_after_s: None,
        stopped: None,
        check: None,
        outcome: Err("not started".to_owned()),
    };
    progress.phase("creating the database");
    let mut parts = setup.name.to_vec();
    parts.push(setup.strategy.as_str());
    parts.push(setup.observability.tag());
    parts.push(setup.topology.tag());
    let admin = setup.admin(lab);
    let created = async {
        let name = DatabaseName::scratch("exp", &parts, &lab.tag)?;
        let url = admin.create(&name).await?;
        anyhow::Ok((name, url))
    };
    let (name, url) = match created.await {
        Ok(created) => created,
        Err(error) => {
            ended.outcome = Err(format!("{error:#}"));
            return ended;
        }
    };
    ended.database = name.to_string();
    ended.outcome = serve(lab, &setup, &url, progress, &mut ended, work)
        .await
        .map_err(|error| format!("{error:#}"));
    if !lab.settings.keep {
        progress.phase("dropping the database");
        if let Err(error) = admin.drop_database(&name).await {
            eprintln!("warning: {error:#}");
        }
    }
    ended
}

async fn serve<T>(
    lab: &Lab,
    setup: &Setup<'_>,
    database: &DatabaseUrl,
    progress: &RunProgress,
    ended: &mut Ended<T>,
    work: impl AsyncFnOnce(&mut Session) -> anyhow::Result<(T, Tally)>,
) -> anyhow::Result<T> {
    let servers = match setup.topology {
        Topology::Direct => 1,
        Topology::Proxied { servers, .. } => servers,
    };
    let launches = (1..=servers)
        .map(|index| {
            let log = if servers == 1 {
                format!("{}.log", ended.database)
            } else {
                format!("{}-{index}.log", ended.database)
            };
            launch(lab, setup, database, &lab.logs.join(log))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut session = start(lab, setup, launches, progress).await?;
    let worked = tokio::select! {
        worked = async {
            progress.phase("waiting for /health/ready");
            session.ready_after = session.wait_ready(lab.settings.ready_timeout).await?;
            work(&mut session).await
        } => worked,
        () = interrupt::wait() => Err(anyhow::anyhow!("interrupted")),
    };
    if session.ready_after > Duration::ZERO {
        ended.ready_after_s = Some(session.ready_after.as_secs_f64());
    }
    // The workers run in the server: the backlog drains before it stops.
    let drained = if setup.strategy.is_synchronous() || worked.is_err() {
        None
    } else {
        progress.phase("waiting for the pending orders to be decided");
        recordshop_harness::ledger::wait_drained(database, DRAIN_BOUND).await?
    };
    progress.spin();
    progress.phase("stopping the server");
    ended.stopped = Some(session.stop(STOP_GRACE).await?);
    let (result, tally) = worked?;
    // Checked once the server is gone: nothing can still be writing.
    progress.phase("checking the stock invariant");
    ended.check = Some(check::run(database, tally, drained).await?);
    Ok(result)
}

/// One server of `setup` on `database`, logging to `log`.
fn launch(
    lab: &Lab,
    setup: &Setup<'_>,
    database: &DatabaseUrl,
    log: &std::path::Path,
) -> anyhow::Result<Launch> {
    let mut launch = Launch::new(
        Program::Binary(lab.settings.server_bin.clone()),
        database.clone(),
        lab.key.clone(),
    )?
    .strategy(setup.strategy)
    .log_to(log);
    match setup.observability {
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
    for (name, value) in setup.settings {
        launch = launch.setting(name, value)?;
    }
    Ok(launch)
}

/// Starts the session's servers: one, not yet waited for; or a fleet
/// behind nginx, migrated first and each ready.
async fn start(
    lab: &Lab,
    setup: &Setup<'_>,
    mut launches: Vec<Launch>,
    progress: &RunProgress,
) -> anyhow::Result<Session> {
    if let Topology::Direct = setup.topology {
        let launch = launches.pop().context("a session needs a server")?;
        progress.phase(&format!("starting the server on port {}", launch.port()));
        let server = launch.start()?;
        return Ok(Session {
            api: Api::new(&launch.base_url(), setup.client)?.with_token(&lab.token)?,
            pids: vec![server.pid()],
            servers: Servers::One(server),
            metrics: launch.metrics_url(),
            ready_after: Duration::ZERO,
        });
    }
    let first = launches
        .first()
        .cloned()
        .context("a session needs a server")?;
    progress.phase("applying the migrations");
    // Once, before the servers start: they would race to migrate.
    tokio::task::spawn_blocking(move || first.migrate())
        .await
        .context("the migration task failed")??;
    progress.phase(&format!(
        "starting {} servers and nginx in front",
        launches.len()
    ));
    let (fleet, ready_after) = tokio::select! {
        started = Fleet::start(launches, lab.settings.ready_timeout) => started?,
        () = interrupt::wait() => anyhow::bail!("interrupted"),
    };
    Ok(Session {
        api: Api::new(&fleet.base_url(), setup.client)?.with_token(&lab.token)?,
        pids: fleet.running().map(Server::pid).collect(),
        servers: Servers::Fleet(fleet),
        metrics: None,
        ready_after,
    })
}
