//! The HA scenarios: the shop as `cargo xtask run --topology ha` runs it,
//! a pg_auto_failover formation (primary and a synchronous standby, fast
//! failure detection) under three servers on its read-write multi-host
//! URL, nginx in front, and the purchase load through nginx; each scenario
//! breaks one piece under that load (`failover`, `standby`, `instance`,
//! `rejoin`, in their modules).
//!
//! One formation serves every HA scenario of a run (made when the first
//! starts, about 20 s, and removed at the end); each scenario gets a fresh
//! database on it, its own three servers and its own nginx, and finds the
//! formation healed first (a node a previous scenario killed is started
//! again and waited for). Every purchase carries a key of its own and is
//! sent once more with that key after a 502, a 504 or no answer (see
//! `load`), so each scenario also checks, key by key, that no purchase made
//! two orders. The database is read through the read-write URL: whichever
//! node is the primary by then.

mod failover;
mod instance;
mod standby;
mod window;

use std::time::Duration;

use anyhow::Context;
use recordshop_harness::api::{Api, ClientOptions, Request};
use recordshop_harness::fleet::Fleet;
use recordshop_harness::postgres::{
    Admin, DatabaseName, DatabaseUrl, FailureDetection, Formation, FormationSettings, Replication,
    connect,
};
use recordshop_harness::signing::SigningKey;
use recordshop_postgres::ConcurrencyStrategy;
use tokio::time::{Instant, sleep, timeout};
use uuid::Uuid;

use crate::check::{self, Keyed};
use crate::load::{Load, Record, Retry, Tally};
use crate::report::Row;
use crate::scenario::{
    Gateway, READY_WITHIN, STOP_WITHIN, Scenario, Suite, TOKEN_TTL, drain, fail, judge_answers,
    launch, stock_and_buyer,
};

/// Servers behind nginx, as in `cargo xtask run --topology ha`.
const SERVERS: usize = 3;
/// Three servers' pools (16 each), their listeners and the checks.
const NODE_SETTINGS: &[&str] = &["max_connections=200"];
/// Making the formation (a base backup included), and healing it.
const FORMATION_WITHIN: Duration = Duration::from_secs(180);
/// An HA scenario, set-up and checks included, whatever hangs.
const SCENARIO_BOUND: Duration = Duration::from_secs(240);
/// The longest answer allowed during a fault: the server's own bounds
/// (a statement 5 s, a pool wait 2 s, connecting 2 s a node) and slack. A
/// slower answer, or none within the client's 10 s, is a hang.
const ANSWER_BOUND: Duration = Duration::from_secs(8);
/// Purchases sent straight to each server after a fault, at most, until
/// one answers 201 or 202.
const DIRECT_TRIES: usize = 50;

/// The formation the HA scenarios share, once made.
#[derive(Default)]
pub struct Topology {
    formation: Option<Formation>,
}

impl Topology {
    /// The formation, made on first use, healed on every later one: both
    /// data nodes running, one primary and one secondary. Returns it and,
    /// when healing took a wait, how long.
    async fn ready(&mut self) -> anyhow::Result<(&mut Formation, Option<Duration>)> {
        let formation = match self.formation.take() {
            Some(formation) => formation,
            None => {
                let settings = FormationSettings {
                    replication: Replication::Synchronous,
                    detection: FailureDetection::Fast,
                    settings: NODE_SETTINGS.iter().map(ToString::to_string).collect(),
                };
                // Making one waits with thread sleeps and a runtime of its own.
                tokio::task::spawn_blocking(move || Formation::scratch(&settings))
                    .await
                    .context("the formation task failed")??
            }
        };
        let formation = self.formation.insert(formation);
        // A node a previous scenario killed has no keeper any more.
        let mut down = Vec::new();
        for name in formation.data_nodes() {
            if formation.keeper_pid(name)?.is_none() {
                down.push(name.to_owned());
            }
        }
        for name in &down {
            formation.start_node(name)?;
        }
        let took = formation.wait_ready_async(FORMATION_WITHIN).await?;
        let healed = (!down.is_empty()).then_some(took);
        Ok((formation, healed))
    }

    /// Stops and removes the formation, off the runtime's threads; its
    /// keepers' logs (what the monitor decided, and when) are copied into
    /// `logs` first.
    pub async fn finish(&mut self, logs: &std::path::Path) {
        let Some(formation) = self.formation.take() else {
            return;
        };
        for (node, log) in formation.keeper_logs() {
            let to = logs.join(format!("formation-{node}.log"));
            if let Err(error) = std::fs::copy(&log, &to) {
                eprintln!("faults: warning: copying {}: {error}", log.display());
            }
        }
        let _ = tokio::task::spawn_blocking(move || drop(formation)).await;
    }
}

/// One HA scenario under one strategy. Never fails: what went wrong is in
/// the row.
pub async fn run_one(
    suite: &Suite,
    topology: &mut Topology,
    scenario: Scenario,
    strategy: ConcurrencyStrategy,
) -> Row {
    let mut row = Row {
        scenario: scenario.name(),
        strategy: strategy.to_string(),
        ..Row::default()
    };
    let outcome = timeout(
        SCENARIO_BOUND,
        set_up_and_run(suite, topology, scenario, strategy, &mut row),
    )
    .await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => fail(&mut row, format!("error: {error:#}")),
        Err(_) => fail(&mut row, format!("timed out after {SCENARIO_BOUND:?}")),
    }
    row
}

async fn set_up_and_run(
    suite: &Suite,
    topology: &mut Topology,
    scenario: Scenario,
    strategy: ConcurrencyStrategy,
    row: &mut Row,
) -> anyhow::Result<()> {
    let (formation, healed) = topology.ready().await?;
    if let Some(took) = healed {
        row.notes.push(format!(
            "formation healed first in {:.1} s",
            took.as_secs_f64()
        ));
    }
    let name = DatabaseName::scratch("flt", &[scenario.name(), strategy.as_str()], &suite.tag)?;
    let url = formation.ensure_database(&name).await?;
    let bench = Bench::start(suite, strategy, &name, &url).await;
    let ran = match bench {
        Ok(bench) => {
            row.pass = true;
            let shop = Shop {
                suite,
                strategy,
                url: &url,
            };
            match scenario {
                Scenario::Failover => failover::failover(&shop, bench, formation, row).await,
                Scenario::Rejoin => failover::rejoin(&shop, bench, formation, row).await,
                Scenario::Standby => standby::standby(&shop, bench, formation, row).await,
                Scenario::Instance => instance::instance(&shop, bench, row).await,
                _ => anyhow::bail!("{} is not an HA scenario", scenario.name()),
            }
        }
        Err(error) => Err(error),
    };
    // Whichever node is the primary now holds the database.
    let dropped = async {
        Admin::connect(&formation.admin_url())
            .await?
            .drop_database(&name)
            .await
    };
    if let Err(error) = dropped.await {
        eprintln!("faults: warning: {error:#}");
    }
    ran
}

/// What a scenario is run against.
struct Shop<'a> {
    suite: &'a Suite,
    strategy: ConcurrencyStrategy,
    /// The database: the formation's read-write URL.
    url: &'a DatabaseUrl,
}

/// Three servers on the database, nginx in front, a stocked disc and a
/// customer made through nginx.
struct Bench {
    /// The database's name, which names the logs too.
    name: String,
    fleet: Fleet,
    /// Through nginx.
    api: Api,
    /// Straight to each server, in order.
    direct: Vec<Api>,
    customer: Uuid,
    disc: Uuid,
}

impl Bench {
    async fn start(
        suite: &Suite,
        strategy: ConcurrencyStrategy,
        name: &DatabaseName,
        url: &DatabaseUrl,
    ) -> anyhow::Result<Self> {
        let key = SigningKey::random();
        let token = key.staff_token("faults", TOKEN_TTL)?;
        let launches = (1..=SERVERS)
            .map(|index| {
                let log = suite.logs.join(format!("{name}-{index}.log"));
                launch(suite, strategy, url, key.clone(), &log)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        // Once, before the three start: they would race to migrate.
        let first = launches[0].clone();
        tokio::task::spawn_blocking(move || first.migrate())
            .await
            .context("the migration task failed")??;
        let (fleet, _) = Fleet::start(launches, READY_WITHIN).await?;
        let options = ClientOptions {
            connections: suite.clients + 8,
            ..ClientOptions::default()
        };
        let api = Api::new(&fleet.base_url(), options)?.with_token(&token)?;
        let direct = fleet
            .launches()
            .iter()
            .map(|launch| {
                Api::new(&launch.base_url(), ClientOptions::default())?.with_token(&token)
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (disc, customer) = stock_and_buyer(&api).await?;
        Ok(Self {
            name: name.to_string(),
            fleet,
            api,
            direct,
            customer,
            disc,
        })
    }

    /// Sends purchases straight to each running server until one answers
    /// 201 (or 202): a server reconnected to the new primary by itself.
    /// Returns what was sent, on the load's clock (`clock` is its start),
    /// and the servers that never took one.
    async fn each_server_takes_writes(&self, clock: Instant) -> (Vec<Record>, Vec<usize>) {
        let mut records = Vec::new();
        let mut refused = Vec::new();
        for (index, api) in self.direct.iter().enumerate() {
            if self.fleet.server(index).is_none() {
                continue;
            }
            let mut took = false;
            for _ in 0..DIRECT_TRIES {
                let key = Uuid::new_v4();
                let request = Request::keyed_purchase(self.customer, self.disc, key);
                let sent = clock.elapsed();
                let outcome = api.send(&request).await;
                took = outcome.is_created() || outcome.is_accepted();
                records.push(Record {
                    sent,
                    done: clock.elapsed(),
                    outcome,
                    key,
                    attempt: 1,
                });
                if took {
                    break;
                }
                sleep(Duration::from_millis(100)).await;
            }
            if !took {
                refused.push(index + 1);
            }
        }
        (records, refused)
    }

    /// Waits for the backlog (`queued`, `hybrid`), stops nginx and the
    /// servers (each must exit 0 on SIGTERM), then checks the database:
    /// the ledger, the orders answered, and key by key. `primary_dies`:
    /// whether the scenario crashed the primary, whose COMMITs in flight
    /// may have been kept though their servers answered 503 (see
    /// [`Keyed::only_cut_commits`]).
    async fn finish(
        self,
        shop: &Shop<'_>,
        records: &[Record],
        gateway: Gateway,
        primary_dies: bool,
        row: &mut Row,
    ) -> anyhow::Result<(Tally, Keyed)> {
        drain(shop.url, shop.strategy, row).await?;
        self.keep_proxy_logs(&shop.suite.logs);
        let exits = self.fleet.stop(STOP_WITHIN).await?;
        for (index, exit) in exits.iter().enumerate() {
            if let Some(exit) = exit
                && !exit.is_clean()
            {
                fail(
                    row,
                    format!(
                        "server {} did not stop cleanly on SIGTERM: {} after {} ms",
                        index + 1,
                        exit.status,
                        exit.took.as_millis()
                    ),
                );
            }
        }
        let mut tally = Tally::of(records.iter().map(|record| &record.outcome));
        let check = check::run(shop.url, &tally.orders).await?;
        let keyed = check::keyed(shop.url, records).await?;
        if primary_dies && keyed.only_cut_commits() {
            row.notes.push(format!(
                "CUT COMMITS: {} order(s) committed though answered 503 unavailable: the primary died after its \
                 synchronous standby had the COMMIT, before the server heard back; a retry with the key is answered 201 \
                 from it, one without a key buys twice",
                keyed.committed_refused
            ));
            // Their outcome was unknown to the server that answered them.
            tally.unknown += keyed.committed_refused;
        } else if !keyed.holds() {
            fail(row, format!("KEYS: {}", keyed.text()));
        }
        judge_answers(row, &tally, &check, gateway);
        hangs(records, row);
        Ok((tally, keyed))
    }
}

impl Bench {
    /// The suite's purchase load through nginx, each purchase keyed and
    /// retried once with its key.
    fn load(&self, shop: &Shop<'_>) -> Load {
        Load::start(
            &self.api,
            shop.suite.clients,
            self.customer,
            self.disc,
            Retry::OnceWithTheKey,
        )
    }

    /// Copies nginx's logs beside the servers' (its folder goes with it);
    /// the load has finished, so every request is in them.
    fn keep_proxy_logs(&self, logs: &std::path::Path) {
        let Some(proxy) = self.fleet.proxy() else {
            return;
        };
        for (from, to) in [
            (proxy.access_log(), "nginx-access.log"),
            (proxy.error_log(), "nginx-error.log"),
        ] {
            let to = logs.join(format!("{}-{to}", self.name));
            if let Err(error) = std::fs::copy(&from, &to) {
                eprintln!("faults: warning: copying {}: {error}", from.display());
            }
        }
    }
}

/// Fails on an answer slower than [`ANSWER_BOUND`] or none within the
/// client's timeout; notes the slowest.
fn hangs(records: &[Record], row: &mut Row) {
    let slowest = records
        .iter()
        .map(Record::latency)
        .max()
        .unwrap_or_default();
    let timed_out = records
        .iter()
        .filter(|record| {
            matches!(
                record.outcome,
                recordshop_harness::api::Reply::Lost(recordshop_harness::api::Failure::Timeout)
            )
        })
        .count();
    row.notes
        .push(format!("slowest answer {} ms", slowest.as_millis()));
    if timed_out > 0 || slowest > ANSWER_BOUND {
        fail(
            row,
            format!(
                "HANG: {timed_out} purchase(s) unanswered within the client's timeout, slowest {} ms (bound {} ms)",
                slowest.as_millis(),
                ANSWER_BOUND.as_millis()
            ),
        );
    }
}

/// The standbys the primary streams to, as `pg_stat_replication` names
/// them: `(application_name, state, sync_state)`.
async fn replication(url: &DatabaseUrl) -> anyhow::Result<Vec<(String, String, String)>> {
    let client = connect(url).await?;
    let rows = client
        .query(
            "SELECT application_name, state, sync_state FROM pg_stat_replication",
            &[],
        )
        .await
        .context("reading pg_stat_replication")?;
    rows.iter()
        .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
        .collect()
}

/// Until the primary streams to a standby in its quorum (`streaming`,
/// `quorum`: synchronous again), within `bound`; how long that took.
async fn wait_synchronous(url: &DatabaseUrl, bound: Duration) -> Option<Duration> {
    let started = Instant::now();
    loop {
        let streaming = replication(url).await.is_ok_and(|standbys| {
            standbys
                .iter()
                .any(|(_, state, sync)| state == "streaming" && sync == "quorum")
        });
        if streaming {
            return Some(started.elapsed());
        }
        if started.elapsed() >= bound {
            return None;
        }
        sleep(Duration::from_millis(100)).await;
    }
}
