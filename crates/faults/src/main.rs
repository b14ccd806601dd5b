//! `faults`: the fault suite. Each scenario runs on a fresh database with a
//! release server the tool starts itself, under each chosen concurrency
//! strategy, and ends with the stock invariant and the answered orders
//! checked in the database:
//!
//! - `storm`: 50 concurrent purchases carrying one `Idempotency-Key` make
//!   one order, and every caller gets its id;
//! - `kill`: the server is killed with SIGKILL under a purchase load and
//!   restarted on the same database;
//! - `outage`: PostgreSQL is stopped under the load and started again; the
//!   server must fail fast with 503 meanwhile and recover by itself;
//! - `sigterm`: SIGTERM under the load; the server must answer what it
//!   accepted and exit 0 within its grace period;
//! - `broker`: the events relay's RabbitMQ stopped for 5 s under the load;
//!   purchases go on, and every event is published once it is back.
//!
//! Not in the default list, the HA scenarios run the shop as `cargo xtask
//! run --topology ha` does: a pg_auto_failover formation (primary and
//! synchronous standby, fast failure detection) under three servers on its
//! read-write multi-host URL, nginx in front, the load through nginx with
//! a key on every purchase, retried once with it after a 502, a 504 or no
//! answer (see `ha` and its modules). They need the
//! `postgresql-15-auto-failover` and `nginx` packages (installed when
//! missing, as root) and take 10–25 s each (one formation, about 10 s to
//! make, serves them all):
//!
//! - `failover`: the primary's node crashed; the window until writes are
//!   back (target 10 s), no order answered 201 lost, every answer meanwhile
//!   a bounded 503, each server taking writes again without a restart;
//! - `standby`: the standby's node crashed; writes stall while the monitor
//!   switches the primary to `wait_primary`, then go on; the standby
//!   restarted becomes the synchronous secondary again;
//! - `instance`: one server killed with SIGKILL; nginx routes around it,
//!   and key by key no purchase is lost or made twice;
//! - `rejoin`: a failover, then the old primary started again: the
//!   streaming, synchronous standby within a bound.
//!
//! Under `queued` and `hybrid` a 202 counts as an answered order: each
//! scenario waits for the workers to decide what is pending before it
//! stops the server (the kill scenario kills them mid-allocation, and the
//! restarted server decides what they left), and every order answered 201
//! or 202 must end confirmed (the load's stock never runs out).
//!
//! The suite starts its own scratch cluster with durability on (the outage
//! scenario stops and starts it; a kill -9 must not lose a committed
//! order, which only a real fsync shows) and removes it at the end, however
//! the run ends. Clusters, databases, servers, the API client and the
//! ledger's verdict come from the harness (`crates/harness`). `cargo xtask
//! faults` builds everything in release mode and runs it:
//!
//! ```text
//! faults --server-bin target/release/recordshop --scenarios kill,outage --strategy batched
//! faults --scenarios failover,standby,instance,rejoin --strategy batched
//! ```

mod check;
mod ha;
mod load;
mod report;
mod scenario;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use recordshop_harness::postgres::{Durability, Scratch};
use recordshop_harness::{interrupt, say};
use recordshop_postgres::ConcurrencyStrategy;

use crate::scenario::{Scenario, Suite, Timing};

/// Room for two servers' pools (one killed, one restarted) and the checks.
const CLUSTER_SETTINGS: &[&str] = &["max_connections=100", "shared_buffers=128MB"];

/// Break the record shop on purpose (duplicate retries, kill -9, database
/// outages, SIGTERM under load) and check that no answered order is lost,
/// none is made twice, and stock + sold = initial stock holds.
#[derive(Debug, Parser)]
#[command(name = "faults", version)]
struct Args {
    /// The release server binary (`recordshop`) [default: the workspace's
    /// target/release/recordshop].
    #[arg(long)]
    server_bin: Option<PathBuf>,

    /// Concurrency strategy of the server: one of pessimistic, optimistic,
    /// atomic, batched, queued, hybrid, or `all` to run every scenario
    /// under each [default: all (about 3 minutes of scenarios), pessimistic
    /// and queued with --quick].
    #[arg(long, value_parser = parse_strategies)]
    strategy: Option<Strategies>,

    /// Scenarios to run, in this order. Not in the default list, on the HA
    /// topology (pg_auto_failover, three servers, nginx): failover,
    /// standby, instance, rejoin.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "storm,kill,outage,sigterm,broker"
    )]
    scenarios: Vec<Scenario>,

    /// Shorter loads, for CI.
    #[arg(long)]
    quick: bool,

    /// Concurrent buyers of the load scenarios [default: 16, 8 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=512))]
    clients: Option<u16>,

    /// Where the server logs go [default: target/faults/<unix time>].
    #[arg(long)]
    logs: Option<PathBuf>,
}

/// `all`, or one strategy.
#[derive(Clone, Debug)]
enum Strategies {
    All,
    One(ConcurrencyStrategy),
}

fn parse_strategies(raw: &str) -> Result<Strategies, String> {
    match raw.trim() {
        "all" => Ok(Strategies::All),
        name => name
            .parse()
            .map(Strategies::One)
            .map_err(|error| format!("expected all, or one strategy: {error}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = interrupt::install() {
        say!("{error:#}");
        return ExitCode::from(2);
    }
    let strategies = match &args.strategy {
        Some(Strategies::One(strategy)) => vec![*strategy],
        // One synchronous strategy and the asynchronous one, for CI.
        None if args.quick => vec![
            ConcurrencyStrategy::Pessimistic,
            ConcurrencyStrategy::Queued,
        ],
        Some(Strategies::All) | None => ConcurrencyStrategy::ALL.to_vec(),
    };
    let logs = args.logs.clone().unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        recordshop_harness::target_dir()
            .join("faults")
            .join(stamp.to_string())
    });
    if let Err(error) = std::fs::create_dir_all(&logs) {
        say!("error: creating {}: {error}", logs.display());
        return ExitCode::FAILURE;
    }
    let server_bin = args
        .server_bin
        .clone()
        .unwrap_or_else(|| recordshop_harness::target_dir().join("release/recordshop"));
    if !server_bin.is_file() {
        say!(
            "error: no server binary at {} (cargo build --release -p recordshop)",
            server_bin.display()
        );
        return ExitCode::FAILURE;
    }
    let scratch = match Scratch::start(Durability::Durable, CLUSTER_SETTINGS) {
        Ok(scratch) => scratch,
        Err(error) => {
            say!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let suite = Suite {
        cluster: scratch.cluster().clone(),
        server_bin,
        timing: Timing::new(args.quick),
        clients: args
            .clients
            .map_or(if args.quick { 8 } else { 16 }, usize::from),
        logs,
        tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
    };
    let rows = tokio::select! {
        rows = scenario::run_all(&suite, &args.scenarios, &strategies) => Some(rows),
        () = interrupt::wait() => None,
    };
    // The servers of a scenario cut short were killed as they dropped; the
    // cluster goes with `scratch`.
    drop(scratch);
    let Some(rows) = rows else {
        say!("interrupted");
        return ExitCode::from(130);
    };
    println!("\n{}", report::table(&rows));
    println!("server logs: {}", suite.logs.display());
    if rows.iter().all(|row| row.pass) {
        println!("fault suite: PASS ({} runs)", rows.len());
        ExitCode::SUCCESS
    } else {
        let failed = rows.iter().filter(|row| !row.pass).count();
        println!("fault suite: FAIL ({failed} of {} runs)", rows.len());
        ExitCode::FAILURE
    }
}
