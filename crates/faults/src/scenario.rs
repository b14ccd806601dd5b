//! The scenarios: each on a database and server of its own, each ending
//! with the database checked once the server has stopped.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;
use futures_util::future::join_all;
use recordshop_harness::api::{Api, ClientOptions, NewCustomer, NewDisc, Reply, Request};
use recordshop_harness::postgres::{Admin, Cluster, DatabaseName, DatabaseUrl};
use recordshop_harness::process::describe_exit;
use recordshop_harness::rabbitmq::Broker;
use recordshop_harness::server::{Launch, Program, Server};
use recordshop_harness::signing::SigningKey;
use recordshop_postgres::ConcurrencyStrategy;
use tokio::time::{Instant, sleep, timeout};
use uuid::Uuid;

use crate::check::{self, Check};
use crate::load::{Load, Record, Retry, Tally, percentile};
use crate::report::Row;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// 50 concurrent purchases with one Idempotency-Key.
    Storm,
    /// SIGKILL of the server under load, then a restart.
    Kill,
    /// PostgreSQL stopped under load, then started again.
    Outage,
    /// SIGTERM under load.
    Sigterm,
    /// RabbitMQ (the events relay's broker) stopped for 5 s under load.
    Broker,
    /// HA: the primary of a pg_auto_failover formation crashed under load
    /// through nginx over three servers.
    Failover,
    /// HA: the synchronous standby crashed under load, then restarted.
    Standby,
    /// HA: one of the three servers killed with SIGKILL under load.
    Instance,
    /// HA: a failover, then the old primary started again, rejoining as
    /// the standby.
    Rejoin,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Self::Storm => "storm",
            Self::Kill => "kill",
            Self::Outage => "outage",
            Self::Sigterm => "sigterm",
            Self::Broker => "broker",
            Self::Failover => "failover",
            Self::Standby => "standby",
            Self::Instance => "instance",
            Self::Rejoin => "rejoin",
        }
    }

    /// Whether it runs on the HA topology (a formation, three servers,
    /// nginx; see `ha`) rather than one server on the scratch cluster.
    pub fn is_ha(self) -> bool {
        matches!(
            self,
            Self::Failover | Self::Standby | Self::Instance | Self::Rejoin
        )
    }
}

/// How long each phase lasts.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Load before the fault.
    pub warmup: Duration,
    /// Load once the service is back.
    pub after: Duration,
    /// How long PostgreSQL stays down.
    pub outage: Duration,
}

impl Timing {
    pub fn new(quick: bool) -> Self {
        if quick {
            Self {
                warmup: Duration::from_secs(1),
                after: Duration::from_secs(1),
                outage: Duration::from_secs(2),
            }
        } else {
            Self {
                warmup: Duration::from_secs(3),
                after: Duration::from_secs(2),
                outage: Duration::from_secs(3),
            }
        }
    }
}

/// Requests with one key in the storm.
const STORM: usize = 50;
/// Stock of the disc the load buys from: never sold out.
pub(crate) const STOCK: i64 = 1_000_000;
/// The server's shutdown grace (crates/server), and the slack allowed on top.
const SERVER_GRACE: Duration = Duration::from_secs(5);
const EXIT_SLACK: Duration = Duration::from_secs(1);
/// The pool's default wait (`DB_POOL_TIMEOUT_MS`) bounds an answer during
/// an outage; the slack covers scheduling on a busy machine.
const OUTAGE_ANSWER_BOUND: Duration = Duration::from_millis(2500);
/// Once PostgreSQL is back, a 201 must come within this long.
const RECOVERY_BOUND: Duration = Duration::from_secs(10);
/// No scenario may take longer than this, whatever hangs.
const SCENARIO_BOUND: Duration = Duration::from_secs(120);
/// How long a server stopped after a scenario gets before SIGKILL.
pub(crate) const STOP_WITHIN: Duration = Duration::from_secs(10);
/// A bound for every readiness wait.
pub(crate) const READY_WITHIN: Duration = Duration::from_secs(30);
/// Longer than any scenario.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(3600);
/// The hybrid's breaker in the suite: 1 ms budget, 4 slow purchases in a
/// row open it for 50 ms, 2 probes.
const FLAPPING_BREAKER: [(&str, &str); 4] = [
    ("HYBRID_BUDGET_MS", "1"),
    ("HYBRID_TRIP_AFTER", "4"),
    ("HYBRID_OPEN_MS", "50"),
    ("HYBRID_PROBES", "2"),
];
/// How long RabbitMQ stays down in the broker scenario.
const BROKER_OUTAGE: Duration = Duration::from_secs(5);
/// Once RabbitMQ is back, every event must be confirmed within this long
/// (the relay retries every 5 s at most).
const PUBLISHED_WITHIN: Duration = Duration::from_secs(30);
/// How long the allocation workers get to decide what a scenario left
/// pending (`queued`, `hybrid`) before its server is stopped.
pub(crate) const DRAIN_WITHIN: Duration = Duration::from_secs(60);

/// What every scenario of the suite shares.
pub struct Suite {
    /// The scratch cluster: scenarios get databases on it, and the outage
    /// scenario stops and starts it.
    pub cluster: Cluster,
    pub server_bin: PathBuf,
    pub timing: Timing,
    pub clients: usize,
    pub logs: PathBuf,
    /// Tells this suite's databases from any other's.
    pub tag: String,
}

/// Every scenario under every strategy, one after the other. The HA
/// scenarios share one formation, made when the first of them starts.
pub async fn run_all(
    suite: &Suite,
    scenarios: &[Scenario],
    strategies: &[ConcurrencyStrategy],
) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut ha = crate::ha::Topology::default();
    for &scenario in scenarios {
        for &strategy in strategies {
            println!("--- {} · {strategy}", scenario.name());
            let started = Instant::now();
            let row = if scenario.is_ha() {
                crate::ha::run_one(suite, &mut ha, scenario, strategy).await
            } else {
                run_one(suite, scenario, strategy).await
            };
            println!(
                "    {} in {:.1} s: {}",
                if row.pass { "PASS" } else { "FAIL" },
                started.elapsed().as_secs_f64(),
                row.notes.join("; ")
            );
            rows.push(row);
        }
    }
    ha.finish(&suite.logs).await;
    rows
}

/// One scenario under one strategy. Never fails: what went wrong is in the
/// row.
async fn run_one(suite: &Suite, scenario: Scenario, strategy: ConcurrencyStrategy) -> Row {
    let mut row = Row {
        scenario: scenario.name(),
        strategy: strategy.to_string(),
        ..Row::default()
    };
    // A fresh admin connection each time: the outage scenario closes every
    // session.
    let admin_url = suite.cluster.admin_url();
    let created = async {
        let name = DatabaseName::scratch("flt", &[scenario.name(), strategy.as_str()], &suite.tag)?;
        let url = Admin::connect(&admin_url).await?.create(&name).await?;
        anyhow::Ok((name, url))
    };
    let (name, url) = match created.await {
        Ok(created) => created,
        Err(error) => {
            row.notes.push(format!("error: {error:#}"));
            return row;
        }
    };
    let exercised = timeout(
        SCENARIO_BOUND,
        exercise(suite, scenario, strategy, &name, &url, &mut row),
    )
    .await;
    match exercised {
        Ok(Ok(())) => {}
        Ok(Err(error)) => fail(&mut row, format!("error: {error:#}")),
        Err(_) => fail(&mut row, format!("timed out after {SCENARIO_BOUND:?}")),
    }
    // An outage cut short must not leave the next scenario without a
    // database.
    let cluster = suite.cluster.clone();
    let restarted = tokio::task::spawn_blocking(move || cluster.ensure_started()).await;
    if !matches!(restarted, Ok(Ok(()))) {
        fail(&mut row, "PostgreSQL did not come back".to_owned());
    }
    let dropped = async { Admin::connect(&admin_url).await?.drop_database(&name).await };
    if let Err(error) = dropped.await {
        eprintln!("faults: warning: {error:#}");
    }
    row
}

pub(crate) fn fail(row: &mut Row, note: String) {
    row.pass = false;
    row.notes.push(note);
}

/// A started server over a fresh database, with a stocked disc and a
/// customer made through the API.
struct Fixture {
    launch: Launch,
    api: Api,
    customer: Uuid,
    disc: Uuid,
}

/// A server of the suite on `url`: the release binary, `strategy` (the
/// hybrid's with a breaker that flaps), verifying tokens under `key`,
/// logging to `log`.
pub(crate) fn launch(
    suite: &Suite,
    strategy: ConcurrencyStrategy,
    url: &DatabaseUrl,
    key: SigningKey,
    log: &std::path::Path,
) -> anyhow::Result<Launch> {
    let mut launch = Launch::new(Program::Binary(suite.server_bin.clone()), url.clone(), key)?
        .strategy(strategy)
        .log_to(log);
    if strategy == ConcurrencyStrategy::Hybrid {
        // A breaker that trips on almost every purchase and probes again
        // soon after: both paths, and the switches between them, are then
        // under the fault, not only the synchronous one a light load keeps.
        for (setting, value) in FLAPPING_BREAKER {
            launch = launch.setting(setting, value)?;
        }
    }
    Ok(launch)
}

/// The disc the load buys from and the customer who buys, made through
/// `api`.
pub(crate) async fn stock_and_buyer(api: &Api) -> anyhow::Result<(Uuid, Uuid)> {
    let disc = api
        .create_disc(&NewDisc {
            name: "Fault Lines".into(),
            artist: "The Chaos Monkeys".into(),
            year_of_release: 2024,
            genre: "noise".into(),
            quantity: STOCK,
        })
        .await?;
    // Unique in the database; documents are at most 32 characters.
    let tag = &Uuid::new_v4().simple().to_string()[..16];
    let customer = api
        .create_customer(&NewCustomer {
            document: format!("flt-{tag}"),
            name: "Rita Retry".into(),
            birth_date: "1985-05-05".into(),
            email: format!("rita.{tag}@example.com"),
            phone: "+55 11 5555-0100".into(),
        })
        .await?;
    Ok((disc, customer))
}

impl Fixture {
    /// The suite's purchase load on this server, each purchase sent once.
    fn load(&self, suite: &Suite) -> Load {
        Load::start(
            &self.api,
            suite.clients,
            self.customer,
            self.disc,
            Retry::Never,
        )
    }
}

async fn fixture(
    suite: &Suite,
    strategy: ConcurrencyStrategy,
    name: &DatabaseName,
    url: &DatabaseUrl,
    connections: usize,
    settings: &[(&str, String)],
) -> anyhow::Result<(Fixture, Server)> {
    let log = suite.logs.join(format!("{name}.log"));
    std::fs::write(&log, "").with_context(|| format!("creating {}", log.display()))?;
    let key = SigningKey::random();
    let token = key.staff_token("faults", TOKEN_TTL)?;
    let mut launch = launch(suite, strategy, url, key, &log)?;
    for (setting, value) in settings {
        launch = launch.setting(setting, value)?;
    }
    let options = ClientOptions {
        connections,
        ..ClientOptions::default()
    };
    let api = Api::new(&launch.base_url(), options)?.with_token(&token)?;
    let mut server = launch.start()?;
    server.wait_ready_async(READY_WITHIN).await?;
    let (disc, customer) = stock_and_buyer(&api).await?;
    Ok((
        Fixture {
            launch,
            api,
            customer,
            disc,
        },
        server,
    ))
}

async fn exercise(
    suite: &Suite,
    scenario: Scenario,
    strategy: ConcurrencyStrategy,
    name: &DatabaseName,
    url: &DatabaseUrl,
    row: &mut Row,
) -> anyhow::Result<()> {
    // The storm opens one connection per request.
    let connections = suite.clients.max(STORM) + 8;
    // The broker scenario's server relays its events to a broker of its
    // own, stopped with the scenario.
    let broker = if scenario == Scenario::Broker {
        Some(tokio::task::spawn_blocking(Broker::scratch).await??)
    } else {
        None
    };
    let settings: Vec<(&str, String)> = broker
        .iter()
        .map(|broker| ("EVENTS_AMQP_URL", broker.amqp_url()))
        .collect();
    let (fixture, server) = fixture(suite, strategy, name, url, connections, &settings).await?;
    row.pass = true;
    if let Some(broker) = broker {
        return broker_outage(suite, &fixture, strategy, server, broker, url, row).await;
    }
    match scenario {
        Scenario::Storm => storm(&fixture, strategy, server, url, row).await,
        Scenario::Kill => kill(suite, &fixture, strategy, server, url, row).await,
        Scenario::Outage => outage(suite, &fixture, strategy, server, url, row).await,
        Scenario::Sigterm => sigterm(suite, &fixture, strategy, server, url, row).await,
        Scenario::Broker
        | Scenario::Failover
        | Scenario::Standby
        | Scenario::Instance
        | Scenario::Rejoin => unreachable_scenario(scenario),
    }
}

/// The checks every scenario shares: no answered order missing, no more
/// orders than answers allow, the invariant, and no 5xx but 503.
fn judge(row: &mut Row, tally: &Tally, check: &Check) {
    judge_answers(row, tally, check, Gateway::ServerError);
}

/// What a 502 or 504 answer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gateway {
    /// A server's own 5xx: none may come.
    ServerError,
    /// A proxy's, for an instance it could not hear from: the purchase's
    /// outcome is unknown, as for one that got no answer.
    UnknownOutcome,
}

/// [`judge`], with the 502s and 504s taken as `gateway` says.
pub(crate) fn judge_answers(row: &mut Row, tally: &Tally, check: &Check, gateway: Gateway) {
    let (unknown, server_errors) = match gateway {
        Gateway::ServerError => (tally.unknown, tally.server_errors),
        Gateway::UnknownOutcome => (
            tally.unknown + tally.gateway,
            tally.server_errors - tally.gateway,
        ),
    };
    row.requests = tally.requests;
    row.created = tally.created + tally.accepted;
    row.orders_in_db = Some(check.ledger.confirmed_orders);
    row.invariant = Some(check.ledger.holds());
    if !check.ledger.holds() {
        fail(
            row,
            format!(
                "invariant broken on {} disc(s): {}",
                check.ledger.negative_stock.max(check.ledger.unbalanced),
                check.ledger.examples.join(", ")
            ),
        );
    }
    if check.missing > 0 {
        fail(
            row,
            format!(
                "LOST: {} order(s) answered 201 are not in the database",
                check.missing
            ),
        );
    }
    if tally.created_without_id > 0 {
        fail(
            row,
            format!(
                "{} 201 answer(s) without an order id",
                tally.created_without_id
            ),
        );
    }
    let created = i64::try_from(check.answered_orders).unwrap_or(i64::MAX);
    let unknown = i64::try_from(unknown).unwrap_or(i64::MAX);
    if check.ledger.confirmed_orders < created || check.ledger.confirmed_orders > created + unknown
    {
        fail(
            row,
            format!(
                "orders in the database ({}) outside orders answered 201 ({created}) … those + unanswered ({})",
                check.ledger.confirmed_orders,
                created + unknown
            ),
        );
    }
    if server_errors > 0 {
        fail(row, format!("{server_errors} answer(s) 5xx other than 503"));
    }
}

/// For a strategy that takes purchases in pending, waits until the running
/// server's workers decided them all; an order still pending after
/// [`DRAIN_WITHIN`] fails the scenario.
pub(crate) async fn drain(
    url: &DatabaseUrl,
    strategy: ConcurrencyStrategy,
    row: &mut Row,
) -> anyhow::Result<()> {
    if strategy.is_synchronous() {
        return Ok(());
    }
    match recordshop_harness::ledger::wait_drained(url, DRAIN_WITHIN).await? {
        Some(took) => row
            .notes
            .push(format!("backlog drained in {} ms", took.as_millis())),
        None => fail(
            row,
            format!("orders still pending {DRAIN_WITHIN:?} after the load"),
        ),
    }
    Ok(())
}

async fn stop(server: Server, row: &mut Row) -> anyhow::Result<()> {
    let exit = server.terminate_async(STOP_WITHIN).await?;
    if exit.killed || !exit.status.success() {
        fail(
            row,
            format!(
                "the server did not stop cleanly on SIGTERM: {} after {} ms",
                describe_exit(exit.status),
                exit.took.as_millis()
            ),
        );
    }
    Ok(())
}

async fn storm(
    fixture: &Fixture,
    strategy: ConcurrencyStrategy,
    server: Server,
    url: &DatabaseUrl,
    row: &mut Row,
) -> anyhow::Result<()> {
    let request = Request::keyed_purchase(fixture.customer, fixture.disc, Uuid::new_v4());
    let outcomes = join_all((0..STORM).map(|_| fixture.api.send(&request))).await;
    drain(url, strategy, row).await?;
    stop(server, row).await?;
    let tally = Tally::of(&outcomes);
    let check = check::run(url, &tally.orders).await?;
    judge(row, &tally, &check);
    let mut ids = tally.orders.clone();
    ids.sort();
    ids.dedup();
    let originals = outcomes
        .iter()
        .filter(|outcome| {
            matches!(outcome, Reply::Answer(a) if (a.status == 201 || a.status == 202) && !a.replayed)
        })
        .count();
    row.notes.push(format!("answers: {}", tally.answers()));
    row.notes.push(format!(
        "order ids: {}, replays: {}",
        ids.len(),
        (tally.created + tally.accepted).saturating_sub(originals)
    ));
    // 201, or 202 for a strategy that takes the purchase in pending.
    let placed = tally.created + tally.accepted;
    if placed != STORM {
        fail(
            row,
            format!("{} of {STORM} answers were not 201 or 202", STORM - placed),
        );
    }
    if ids.len() > 1 {
        fail(row, format!("DUPLICATE: one key made {} orders", ids.len()));
    }
    if check.ledger.confirmed_orders != 1 {
        fail(
            row,
            format!(
                "one key must make exactly one order; the database has {}",
                check.ledger.confirmed_orders
            ),
        );
    }
    if placed == STORM && originals != 1 {
        fail(
            row,
            format!("{originals} answers lack Idempotent-Replayed: true; only the first may"),
        );
    }
    Ok(())
}

async fn kill(
    suite: &Suite,
    fixture: &Fixture,
    strategy: ConcurrencyStrategy,
    server: Server,
    url: &DatabaseUrl,
    row: &mut Row,
) -> anyhow::Result<()> {
    let load = fixture.load(suite);
    sleep(suite.timing.warmup).await;
    let killed_at = load.elapsed();
    server.kill9()?;
    // What the killed server's workers left undecided: a batch it was
    // allocating rolled back, and is decided after the restart.
    let pending_at_kill = recordshop_harness::ledger::pending_orders(url).await?;
    let mut server = fixture.launch.start()?;
    let restarted = server.wait_ready_async(READY_WITHIN).await;
    let back_at = load.elapsed();
    if restarted.is_ok() {
        sleep(suite.timing.after).await;
    }
    let records = load.finish().await;
    drain(url, strategy, row).await?;
    stop(server, row).await?;
    let ready_after = restarted.context("restarting the server after SIGKILL")?;
    if !strategy.is_synchronous() {
        row.notes
            .push(format!("pending right after the kill: {pending_at_kill}"));
    }

    let tally = Tally::of(records.iter().map(|record| &record.outcome));
    let check = check::run(url, &tally.orders).await?;
    judge(row, &tally, &check);
    let after_restart = created_in(&records, back_at, Duration::MAX);
    let committed = check.ledger.confirmed_orders
        - i64::try_from(tally.created + tally.accepted).unwrap_or(i64::MAX);
    row.notes.push(format!(
        "killed at {:.1} s; in flight at kill: {} ({committed} committed unanswered)",
        killed_at.as_secs_f64(),
        tally.unknown
    ));
    row.notes.push(format!(
        "restarted, ready in {} ms; 201/202s after restart: {after_restart}",
        ready_after.as_millis()
    ));
    row.notes.push(format!("answers: {}", tally.answers()));
    if after_restart == 0 {
        fail(row, "no purchase succeeded after the restart".to_owned());
    }
    Ok(())
}

async fn outage(
    suite: &Suite,
    fixture: &Fixture,
    strategy: ConcurrencyStrategy,
    server: Server,
    url: &DatabaseUrl,
    row: &mut Row,
) -> anyhow::Result<()> {
    let api = &fixture.api;
    let load = fixture.load(suite);
    sleep(suite.timing.warmup).await;
    let stopped = pg_ctl(&suite.cluster, Cluster::stop).await;
    let down_at = load.elapsed();
    let mut live = Vec::new();
    let mut ready = Vec::new();
    if stopped.is_ok() {
        let until = Instant::now() + suite.timing.outage;
        while Instant::now() < until {
            live.push(api.status("/health").await);
            ready.push(api.status("/health/ready").await);
            sleep(Duration::from_millis(200)).await;
        }
    }
    let up_from = load.elapsed();
    let started = pg_ctl(&suite.cluster, Cluster::start).await;
    let up_at = load.elapsed();
    let deadline = Instant::now() + RECOVERY_BOUND;
    let recovered = loop {
        if load.created_after(up_at) {
            break Some(load.elapsed().saturating_sub(up_at));
        }
        if started.is_err() || Instant::now() >= deadline {
            break None;
        }
        sleep(Duration::from_millis(20)).await;
    };
    sleep(suite.timing.after).await;
    let records = load.finish().await;
    drain(url, strategy, row).await?;
    stop(server, row).await?;
    stopped.context("stopping PostgreSQL")?;
    started.context("starting PostgreSQL again")?;

    let tally = Tally::of(records.iter().map(|record| &record.outcome));
    let check = check::run(url, &tally.orders).await?;
    judge(row, &tally, &check);

    let during: Vec<&Record> = records
        .iter()
        .filter(|record| record.sent >= down_at && record.done <= up_from)
        .collect();
    let latencies: Vec<Duration> = during.iter().map(|record| record.latency()).collect();
    let fast_503 = during
        .iter()
        .filter(|record| {
            matches!(&record.outcome, Reply::Answer(a)
                if a.status == 503 && a.code.as_deref() == Some("unavailable") && a.retry_after)
        })
        .count();
    let outage_tally = Tally::of(during.iter().map(|record| &record.outcome));
    let (p99, max) = (
        percentile(&latencies, 99.0),
        latencies.iter().max().copied().unwrap_or_default(),
    );
    row.notes.push(format!(
        "outage {:.1} s: {}",
        (up_from - down_at).as_secs_f64(),
        outage_tally.answers()
    ));
    row.notes.push(format!(
        "outage p99/max {}/{} ms",
        p99.as_millis(),
        max.as_millis()
    ));
    let live_ok = live.iter().filter(|status| **status == Some(200)).count();
    let ready_503 = ready.iter().filter(|status| **status == Some(503)).count();
    row.notes.push(format!(
        "/health 200 {live_ok}/{}, /health/ready 503 {ready_503}/{}",
        live.len(),
        ready.len()
    ));
    match recovered {
        Some(after) => row
            .notes
            .push(format!("first 201 {} ms after restart", after.as_millis())),
        None => fail(
            row,
            format!("no 201 within {RECOVERY_BOUND:?} of PostgreSQL's restart"),
        ),
    }
    if during.is_empty() {
        fail(row, "no answer during the outage".to_owned());
    }
    if fast_503 != during.len() {
        fail(
            row,
            format!(
                "{} answer(s) during the outage were not 503 unavailable with Retry-After",
                during.len() - fast_503
            ),
        );
    }
    if max > OUTAGE_ANSWER_BOUND {
        fail(
            row,
            format!(
                "answers during the outage took up to {} ms (bound {} ms)",
                max.as_millis(),
                OUTAGE_ANSWER_BOUND.as_millis()
            ),
        );
    }
    if live.is_empty() || live_ok != live.len() || ready_503 != ready.len() {
        fail(
            row,
            "/health must answer 200 and /health/ready 503 during the outage".to_owned(),
        );
    }
    Ok(())
}

async fn sigterm(
    suite: &Suite,
    fixture: &Fixture,
    strategy: ConcurrencyStrategy,
    server: Server,
    url: &DatabaseUrl,
    row: &mut Row,
) -> anyhow::Result<()> {
    let load = fixture.load(suite);
    sleep(suite.timing.warmup).await;
    let term_at = load.elapsed();
    let exit = server
        .terminate_async(SERVER_GRACE + EXIT_SLACK + EXIT_SLACK)
        .await;
    let records = load.finish().await;
    let exit = exit?;
    // Orders taken in pending outlive the process that took them: the next
    // one decides them.
    if !strategy.is_synchronous() {
        let left = recordshop_harness::ledger::pending_orders(url).await?;
        let mut next = fixture.launch.start()?;
        next.wait_ready_async(READY_WITHIN).await?;
        drain(url, strategy, row).await?;
        stop(next, row).await?;
        row.notes.push(format!(
            "pending at exit: {left}, decided by the next server"
        ));
    }

    let tally = Tally::of(records.iter().map(|record| &record.outcome));
    let check = check::run(url, &tally.orders).await?;
    judge(row, &tally, &check);
    let in_flight: Vec<&Record> = records
        .iter()
        .filter(|record| record.sent < term_at && record.done > term_at)
        .collect();
    let in_flight_tally = Tally::of(in_flight.iter().map(|record| &record.outcome));
    let later = Tally::of(
        records
            .iter()
            .filter(|record| record.sent >= term_at)
            .map(|record| &record.outcome),
    );
    row.notes.push(format!(
        "{} {} ms after SIGTERM",
        describe_exit(exit.status),
        exit.took.as_millis()
    ));
    row.notes.push(format!(
        "in flight at SIGTERM: {} ({})",
        in_flight.len(),
        in_flight_tally.answers()
    ));
    row.notes.push(format!(
        "sent after SIGTERM: {} (unanswered ones were never accepted: orders = 201s)",
        later.answers()
    ));
    if exit.killed || !exit.status.success() {
        fail(row, "the server did not exit 0 by itself".to_owned());
    }
    if exit.took > SERVER_GRACE + EXIT_SLACK {
        fail(row, format!("took {} ms to exit", exit.took.as_millis()));
    }
    // Draining answers everything it accepted: no order may exist that
    // its buyer was not told about.
    let answered = i64::try_from(tally.created + tally.accepted).unwrap_or(i64::MAX);
    if check.ledger.confirmed_orders != answered {
        fail(
            row,
            format!(
                "{} order(s) committed without their 201/202 reaching the buyer",
                check.ledger.confirmed_orders - answered
            ),
        );
    }
    Ok(())
}

/// The broker scenario runs with its broker, above; the HA ones on their
/// topology (`ha`).
fn unreachable_scenario(scenario: Scenario) -> anyhow::Result<()> {
    anyhow::bail!("the {} scenario needs its own set-up", scenario.name())
}

/// RabbitMQ stopped for [`BROKER_OUTAGE`] under load: purchases go on as
/// if nothing happened (the events wait in the outbox), and once it is
/// back every event is published and confirmed, none lost.
async fn broker_outage(
    suite: &Suite,
    fixture: &Fixture,
    strategy: ConcurrencyStrategy,
    server: Server,
    mut broker: Broker,
    url: &DatabaseUrl,
    row: &mut Row,
) -> anyhow::Result<()> {
    let load = fixture.load(suite);
    sleep(suite.timing.warmup).await;
    // The relay keeps up before the outage: what the load recorded so far
    // is published.
    let (_, behind) = recordshop_harness::ledger::wait_published(url, PUBLISHED_WITHIN).await?;
    if behind > 0 {
        fail(
            row,
            format!("{behind} event(s) not published before the outage"),
        );
    }
    broker = tokio::task::spawn_blocking(move || broker.stop().map(|()| broker)).await??;
    let down_at = load.elapsed();
    sleep(BROKER_OUTAGE).await;
    let up_from = load.elapsed();
    broker = tokio::task::spawn_blocking(move || broker.restart().map(|()| broker)).await??;
    let (caught_up, left) =
        recordshop_harness::ledger::wait_published(url, PUBLISHED_WITHIN).await?;
    sleep(suite.timing.after).await;
    let records = load.finish().await;
    drain(url, strategy, row).await?;
    // The last events of the load, then nothing more to publish.
    let (_, left_at_end) =
        recordshop_harness::ledger::wait_published(url, PUBLISHED_WITHIN).await?;
    stop(server, row).await?;
    drop(broker);

    let tally = Tally::of(records.iter().map(|record| &record.outcome));
    let check = check::run(url, &tally.orders).await?;
    judge(row, &tally, &check);
    let during = Tally::of(
        records
            .iter()
            .filter(|record| record.sent >= down_at && record.done <= up_from)
            .map(|record| &record.outcome),
    );
    row.notes.push(format!(
        "broker down {:.1} s: {}",
        (up_from - down_at).as_secs_f64(),
        during.answers()
    ));
    row.notes.push(format!(
        "outbox caught up {} ms after the broker was back",
        caught_up.as_millis()
    ));
    if during.created + during.accepted == 0 {
        fail(
            row,
            "no purchase succeeded while the broker was down".to_owned(),
        );
    }
    if during.requests != during.created + during.accepted {
        fail(row, "purchases failed while the broker was down".to_owned());
    }
    if left > 0 || left_at_end > 0 {
        fail(
            row,
            format!("events never published: {left} after the outage, {left_at_end} at the end"),
        );
    }
    Ok(())
}

/// 201 (or 202) answers to purchases sent within `[from, to)` (load
/// clock).
fn created_in(records: &[Record], from: Duration, to: Duration) -> usize {
    records
        .iter()
        .filter(|record| record.sent >= from && record.sent < to)
        .filter(|record| record.outcome.is_created() || record.outcome.is_accepted())
        .count()
}

/// Runs a pg_ctl step (stop, start) of `cluster` off the runtime's threads,
/// so the load keeps going meanwhile.
async fn pg_ctl(cluster: &Cluster, step: fn(&Cluster) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let cluster = cluster.clone();
    tokio::task::spawn_blocking(move || step(&cluster))
        .await
        .context("the pg_ctl task failed")?
}
