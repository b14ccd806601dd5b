//! One measurement's server: a fresh database, a `recordshop` started on it
//! with the strategy under test, the caller's work against its API, then
//! the server stopped and the stock invariant read from the database, the
//! database dropped. Every scenario and study runs inside one of these.

use std::path::PathBuf;
use std::time::Duration;

use recordshop_harness::api::{Api, ClientOptions};
use recordshop_harness::interrupt;
use recordshop_harness::postgres::{Admin, DatabaseName, DatabaseUrl, PgBin};
use recordshop_harness::server::{Launch, Program, Server};
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

/// How a session is set up.
pub(crate) struct Setup<'a> {
    /// What the database is named after (scenario, study…).
    pub name: &'a [&'a str],
    pub strategy: ConcurrencyStrategy,
    pub observability: &'a Observability,
    pub client: ClientOptions,
    /// Server settings of this session, on top of `--server-env`.
    pub settings: &'a [(&'a str, String)],
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
        }
    }
}

/// When a buyer of an open-loop study gives up: far past any target, so a
/// timeout is a failure of the server, not of patience.
pub const OPEN_LOOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The running server, as the work sees it.
pub(crate) struct Session {
    pub api: Api,
    pub server: Server,
    /// Where its metrics are scraped, when they are on.
    pub metrics: Option<String>,
    pub ready_after: Duration,
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
    let created = async {
        let name = DatabaseName::scratch("exp", &parts, &lab.tag)?;
        let url = lab.admin.create(&name).await?;
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
        if let Err(error) = lab.admin.drop_database(&name).await {
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
    let log = lab.logs.join(format!("{}.log", ended.database));
    let mut launch = Launch::new(
        Program::Binary(lab.settings.server_bin.clone()),
        database.clone(),
        lab.key.clone(),
    )?
    .strategy(setup.strategy)
    .log_to(&log);
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
    progress.phase(&format!("starting the server on port {}", launch.port()));
    let server = launch.start()?;
    let api = Api::new(&launch.base_url(), setup.client)?.with_token(&lab.token)?;
    let mut session = Session {
        api,
        server,
        metrics: launch.metrics_url(),
        ready_after: Duration::ZERO,
    };
    let worked = tokio::select! {
        worked = async {
            progress.phase("waiting for /health/ready");
            session.ready_after = session.server.wait_ready_async(lab.settings.ready_timeout).await?;
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
    ended.stopped = Some(Stopped::from(
        &session.server.terminate_async(STOP_GRACE).await?,
    ));
    let (result, tally) = worked?;
    // Checked once the server is gone: nothing can still be writing.
    progress.phase("checking the stock invariant");
    ended.check = Some(check::run(database, tally, drained).await?);
    Ok(result)
}
