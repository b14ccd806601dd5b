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
//!   accepted and exit 0 within its grace period.
//!
//! `cargo xtask faults` builds everything, starts a scratch cluster and runs
//! this; run by hand it needs a cluster it may stop and start:
//!
//! ```text
//! faults --admin-url postgres://postgres@127.0.0.1:55432/postgres \
//!     --server-bin target/release/recordshop --pg-ctl /usr/lib/postgresql/15/bin/pg_ctl \
//!     --pg-data /var/tmp/cluster/data --pg-log /var/tmp/cluster/postgres.log \
//!     --pg-options "-p 55432 -c listen_addresses=127.0.0.1"
//! ```

mod api;
mod check;
mod database;
mod load;
mod report;
mod scenario;
mod server;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::database::PgControl;
use crate::scenario::{Ctx, Scenario, Timing};

/// Concurrency strategies the server knows.
const STRATEGIES: [&str; 4] = ["pessimistic", "optimistic", "atomic", "batched"];

/// Break the record shop on purpose (duplicate retries, kill -9, database
/// outages, SIGTERM under load) and check that no answered order is lost,
/// none is made twice, and stock + sold = initial stock holds.
#[derive(Debug, Parser)]
#[command(name = "faults", version)]
struct Args {
    /// A PostgreSQL URL allowed to create databases; each scenario gets a
    /// fresh `flt_…` database, dropped afterwards.
    #[arg(long, env = "FAULTS_ADMIN_URL")]
    admin_url: String,

    /// The release server binary (`recordshop`).
    #[arg(long, default_value = "target/release/recordshop")]
    server_bin: PathBuf,

    /// `pg_ctl` of the cluster behind --admin-url (the outage scenario
    /// stops and starts that cluster).
    #[arg(long)]
    pg_ctl: Option<PathBuf>,

    /// The cluster's data directory.
    #[arg(long)]
    pg_data: Option<PathBuf>,

    /// The cluster's log file, for `pg_ctl start -l`.
    #[arg(long)]
    pg_log: Option<PathBuf>,

    /// The options the cluster was started with (`pg_ctl start -o`), so it
    /// comes back on the same port with the same settings.
    #[arg(long, allow_hyphen_values = true, default_value = "")]
    pg_options: String,

    /// Run pg_ctl as this OS user (through runuser): PostgreSQL refuses to
    /// run as root.
    #[arg(long)]
    pg_user: Option<String>,

    /// Concurrency strategy of the server: one of pessimistic, optimistic,
    /// atomic, batched, or `all` to run every scenario under each
    /// [default: all (about 80 s of scenarios), pessimistic with --quick].
    #[arg(long, value_parser = parse_strategy)]
    strategy: Option<String>,

    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "storm,kill,outage,sigterm"
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

fn parse_strategy(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw == "all" || STRATEGIES.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(format!("expected all or one of {}", STRATEGIES.join(", ")))
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let strategy = args
        .strategy
        .clone()
        .unwrap_or_else(|| if args.quick { "pessimistic" } else { "all" }.to_owned());
    let strategies: Vec<String> = if strategy == "all" {
        STRATEGIES.iter().map(ToString::to_string).collect()
    } else {
        vec![strategy]
    };
    let pg = match (&args.pg_ctl, &args.pg_data, &args.pg_log) {
        (Some(pg_ctl), Some(data), Some(log)) => Some(PgControl {
            pg_ctl: pg_ctl.clone(),
            data: data.clone(),
            log: log.clone(),
            options: args.pg_options.clone(),
            user: args.pg_user.clone(),
        }),
        _ => None,
    };
    let logs = args.logs.clone().unwrap_or_else(|| {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        PathBuf::from("target/faults").join(stamp.to_string())
    });
    if let Err(error) = std::fs::create_dir_all(&logs) {
        eprintln!("faults: error: creating {}: {error}", logs.display());
        return ExitCode::FAILURE;
    }
    let clients = args
        .clients
        .map_or(if args.quick { 8 } else { 16 }, usize::from);
    let ctx = Ctx {
        admin_url: args.admin_url,
        server_bin: args.server_bin,
        pg,
        timing: Timing::new(args.quick),
        clients,
        logs,
        tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
    };
    if !ctx.server_bin.is_file() {
        eprintln!(
            "faults: error: no server binary at {} (cargo build --release -p recordshop)",
            ctx.server_bin.display()
        );
        return ExitCode::FAILURE;
    }
    let suite = scenario::suite(&ctx, &args.scenarios, &strategies);
    let rows = tokio::select! {
        rows = suite => rows,
        () = interrupted() => {
            eprintln!("\nfaults: interrupted; the servers it started are killed as it exits");
            return ExitCode::from(130);
        }
    };
    println!("\n{}", report::table(&rows));
    println!("server logs: {}", ctx.logs.display());
    if rows.iter().all(|row| row.pass) {
        println!("fault suite: PASS ({} runs)", rows.len());
        ExitCode::SUCCESS
    } else {
        let failed = rows.iter().filter(|row| !row.pass).count();
        println!("fault suite: FAIL ({failed} of {} runs)", rows.len());
        ExitCode::FAILURE
    }
}

/// SIGINT or SIGTERM; dropping the suite then kills its servers
/// (`kill_on_drop`), and the caller removes the cluster.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = interrupt.recv() => {}
        _ = terminate.recv() => {}
    }
}

/// A bound for every wait on a child process or a readiness poll.
pub const READY_WITHIN: Duration = Duration::from_secs(30);
