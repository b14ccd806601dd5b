//! `experiment`: runs the record shop server under each concurrency strategy
//! and load scenario, each on a fresh database, checks the stock invariant in
//! the database afterwards, measures the database's own ceilings with
//! pgbench, and reports (text, JSON, SVG charts).
//!
//! Clusters, databases, servers, the API client and the ledger's verdict
//! come from the harness (`crates/harness`). Without `--admin-url` the
//! tool starts a scratch cluster with durability on and removes it at the
//! end:
//!
//! ```text
//! experiment --server-bin target/release/recordshop --strategies pessimistic,optimistic --quick
//! ```

mod cache;
mod charts;
mod check;
mod curve;
mod flood;
mod inside;
mod load;
mod open_loop;
mod overhead;
mod overload;
mod pgbench;
mod prep;
mod progress;
mod proxy;
mod report;
mod run;
mod sales_timing;
mod scenario;
mod session;
mod stats;
mod targets;

use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;
use recordshop_harness::postgres::{DatabaseUrl, Durability, Scratch};
use recordshop_harness::{interrupt, say};
use recordshop_postgres::ConcurrencyStrategy;

use crate::scenario::{Scenario, Sizing};

/// Drive the record shop server under each strategy and scenario, check
/// that no stock was lost or oversold, and compare the strategies.
#[derive(Debug, Parser)]
#[command(name = "experiment", version)]
struct Args {
    /// A PostgreSQL URL allowed to create databases; every run gets a fresh
    /// `exp_…` database on that server, dropped afterwards. Without it a
    /// scratch cluster with durability on is started and removed at the end.
    #[arg(long, env = "EXPERIMENT_ADMIN_URL", hide_env_values = true)]
    admin_url: Option<DatabaseUrl>,

    /// The release server binary (`recordshop`), started once per run
    /// [default: the workspace's target/release/recordshop].
    #[arg(long)]
    server_bin: Option<PathBuf>,

    /// Values of CONCURRENCY_STRATEGY to compare (`queued` and `hybrid`
    /// are judged on 201 and 202 answers alike, with the backlog's drain
    /// time and the time to outcome reported) [default: all six; the
    /// `proxy` study: batched].
    #[arg(long, value_delimiter = ',', value_parser = ConcurrencyStrategy::from_str)]
    strategies: Vec<ConcurrencyStrategy>,

    /// Scenarios to run, in this order; `none` for none (studies only).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "http-ceiling,launch,hot,spread,mixed,read",
        value_parser = parse_scenario
    )]
    scenarios: Vec<Option<Scenario>>,

    /// Studies to run after the scenarios: `flood` (thousands of buyers
    /// within a second), `overload` (open loop at multiples of capacity),
    /// `curve` (hot and spread by clients), `cache` (catalog reads with no
    /// cache and with the in-process cache); `none` for none. Not in the
    /// default list: `proxy` (hot and spread with one server direct, three
    /// behind nginx, and three behind nginx on a pg_auto_failover
    /// formation with a synchronous standby; needs nginx and
    /// pg_auto_failover, installed when missing as root).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "flood,overload,curve,cache",
        value_parser = parse_study
    )]
    studies: Vec<Option<run::Study>>,

    /// Load duration of every scenario, e.g. `60s`, `2m`, `1500ms`
    /// [default: 60s, or 5s with --quick].
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,

    /// Clients of the closed-loop and mixed scenarios [default: 128].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=2000))]
    clients: Option<u16>,

    /// Clients of the launch scenario (siege's -c).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u16).range(1..=2000))]
    launch_clients: u16,

    /// Smoke run: a few seconds per scenario and per pgbench shape.
    #[arg(long)]
    quick: bool,

    /// Where results.json, the charts and the logs go
    /// [default: target/experiments/<UTC timestamp>].
    #[arg(long)]
    out: Option<PathBuf>,

    /// Keep the databases for inspection instead of dropping them.
    #[arg(long)]
    keep: bool,

    /// Skip the pgbench ceilings.
    #[arg(long)]
    no_pgbench: bool,

    /// Also measure what metrics and traces cost: hot/batched and
    /// spread/atomic with nothing, metrics, metrics and sampled traces,
    /// and metrics and every trace, alternated, in this run.
    #[arg(long)]
    overhead: bool,

    /// Rounds of each side of `--overhead`.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=20))]
    overhead_rounds: u16,

    /// Load duration of each `--overhead` run, e.g. `30s` [default: the
    /// scenarios' duration].
    #[arg(long, value_parser = humantime::parse_duration)]
    overhead_duration: Option<Duration>,

    /// Share of traces kept on the side of `--overhead` that the 3% target
    /// applies to (OTEL_TRACES_SAMPLER_ARG).
    #[arg(long, default_value_t = 0.01, value_parser = parse_share)]
    overhead_sampling: f64,

    /// Also time the sales report over this many orders (populated into a
    /// database of its own, e.g. 10000000).
    #[arg(long, value_name = "ORDERS")]
    sales_report: Option<i64>,

    /// Duration of each pgbench shape [default: the load duration, so a
    /// strategy and its ceiling run equally long: a single hot row slows
    /// down as its versions and the order indexes grow, and a shorter
    /// ceiling run would flatter the ceiling].
    #[arg(long, value_parser = humantime::parse_duration)]
    pgbench_duration: Option<Duration>,

    /// Extra environment for the server, e.g. `--server-env DB_POOL_SIZE=16`.
    #[arg(long = "server-env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    server_env: Vec<(String, String)>,

    /// How long a server may take to answer /health/ready.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    ready_timeout: Duration,
}

const QUICK_PGBENCH: Duration = Duration::from_secs(3);
/// Room for a server's pool, pgbench's clients and the checks at once
/// (three servers' pools in the `proxy` study, whose formation gets these
/// too).
pub(crate) const CLUSTER_SETTINGS: &[&str] = &["max_connections=200", "shared_buffers=256MB"];

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(error) = interrupt::install() {
        say!("{error:#}");
        return ExitCode::from(2);
    }
    let given = args.admin_url.clone();
    let settings = settings(args);
    // Owned here, so it is removed after the last run however it ended.
    let (admin_url, scratch) = match given {
        Some(url) => (url, None),
        None => match Scratch::start(Durability::Durable, CLUSTER_SETTINGS) {
            Ok(scratch) => (scratch.cluster().admin_url(), Some(scratch)),
            Err(error) => {
                say!("{error:#}");
                return ExitCode::from(2);
            }
        },
    };
    let outcome = run::run(settings, admin_url).await;
    drop(scratch);
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            say!("some run failed or broke the invariant (see above)");
            ExitCode::from(1)
        }
        Err(error) => {
            say!("{error:#}");
            ExitCode::from(2)
        }
    }
}

fn settings(args: Args) -> run::Settings {
    let sizing = Sizing {
        duration: args.duration,
        clients: args.clients.map(usize::from),
        launch_clients: usize::from(args.launch_clients),
        quick: args.quick,
    };
    let pgbench_duration = (!args.no_pgbench).then(|| {
        args.pgbench_duration.unwrap_or(if args.quick {
            QUICK_PGBENCH
        } else {
            args.duration.unwrap_or(scenario::DEFAULT_DURATION)
        })
    });
    let strategies_given = !args.strategies.is_empty();
    let given = if strategies_given {
        args.strategies
    } else {
        ConcurrencyStrategy::ALL.to_vec()
    };
    let mut strategies: Vec<ConcurrencyStrategy> = Vec::new();
    for strategy in given {
        if !strategies.contains(&strategy) {
            strategies.push(strategy);
        }
    }
    let mut studies: Vec<run::Study> = Vec::new();
    for study in args.studies.into_iter().flatten() {
        if !studies.contains(&study) {
            studies.push(study);
        }
    }
    let mut scenarios: Vec<Scenario> = Vec::new();
    for scenario in args.scenarios.into_iter().flatten() {
        if !scenarios.contains(&scenario) {
            scenarios.push(scenario);
        }
    }
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from("target/experiments")
            .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
    });
    run::Settings {
        server_bin: args
            .server_bin
            .unwrap_or_else(|| recordshop_harness::target_dir().join("release/recordshop")),
        strategies,
        strategies_given,
        scenarios,
        studies,
        sizing,
        out,
        keep: args.keep,
        pgbench_duration,
        overhead: args.overhead,
        overhead_settings: crate::overhead::Settings {
            rounds: usize::from(args.overhead_rounds),
            sampled: args.overhead_sampling,
            duration: args.overhead_duration,
        },
        sales_report: args.sales_report,
        server_env: args.server_env,
        ready_timeout: args.ready_timeout,
        command: std::env::args().collect(),
    }
}

fn parse_study(value: &str) -> anyhow::Result<Option<run::Study>> {
    use clap::ValueEnum as _;
    if value == "none" {
        return Ok(None);
    }
    run::Study::from_str(value, true).map(Some).map_err(|_| {
        anyhow::anyhow!("{value:?} is not flood, overload, curve, cache, proxy or none")
    })
}

fn parse_scenario(value: &str) -> anyhow::Result<Option<Scenario>> {
    use clap::ValueEnum as _;
    if value == "none" {
        return Ok(None);
    }
    Scenario::from_str(value, true).map(Some).map_err(|_| {
        let names: Vec<String> = Scenario::value_variants()
            .iter()
            .filter_map(|scenario| scenario.to_possible_value())
            .map(|value| value.get_name().to_owned())
            .collect();
        anyhow::anyhow!("{value:?} is not one of {}, or none", names.join(", "))
    })
}

fn parse_share(value: &str) -> anyhow::Result<f64> {
    match value.parse::<f64>() {
        Ok(share) if (0.0..=1.0).contains(&share) => Ok(share),
        _ => anyhow::bail!("{value:?} is not a share between 0 and 1"),
    }
}

fn parse_env_pair(value: &str) -> anyhow::Result<(String, String)> {
    match value.split_once('=') {
        Some((key, val)) if !key.is_empty() => Ok((key.to_owned(), val.to_owned())),
        _ => anyhow::bail!("{value:?} is not KEY=VALUE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_and_durations_are_checked_as_they_are_read() {
        assert!(Args::try_parse_from(["experiment", "--strategies", "batched,yolo"]).is_err());
        assert!(Args::try_parse_from(["experiment", "--duration", "5 parsecs"]).is_err());
        let args = Args::try_parse_from(["experiment", "--duration", "1500ms"]).unwrap();
        assert_eq!(args.duration, Some(Duration::from_millis(1500)));
    }

    #[test]
    fn the_xtask_command_line_parses() {
        let args = Args::try_parse_from([
            "experiment",
            "--admin-url",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "--server-bin",
            "target/release/recordshop",
            "--strategies",
            "pessimistic,optimistic,atomic,pessimistic",
            "--scenarios",
            "hot,spread",
            "--duration",
            "60s",
            "--clients",
            "16",
            "--out",
            "target/experiments/x",
        ])
        .unwrap();
        let settings = settings(args);
        assert_eq!(
            settings.strategies,
            [
                ConcurrencyStrategy::Pessimistic,
                ConcurrencyStrategy::Optimistic,
                ConcurrencyStrategy::Atomic
            ]
        );
        assert_eq!(settings.scenarios, [Scenario::Hot, Scenario::Spread]);
        assert_eq!(settings.sizing.clients, Some(16));
        // A ceiling runs as long as the load it is compared with.
        assert_eq!(settings.pgbench_duration, Some(Duration::from_secs(60)));
        assert_eq!(settings.out, PathBuf::from("target/experiments/x"));
    }

    #[test]
    fn quick_shortens_pgbench_too() {
        let args =
            Args::try_parse_from(["experiment", "--admin-url", "postgres://x@h/db", "--quick"])
                .unwrap();
        let settings = settings(args);
        assert_eq!(settings.pgbench_duration, Some(QUICK_PGBENCH));
        assert_eq!(settings.scenarios.len(), 6);
        assert_eq!(settings.studies.len(), 4);
        assert_eq!(settings.strategies, ConcurrencyStrategy::ALL);
        assert!(!settings.strategies_given);
    }

    #[test]
    fn the_proxy_study_runs_alone_when_asked() {
        let args = Args::try_parse_from([
            "experiment",
            "--scenarios",
            "none",
            "--studies",
            "proxy",
            "--strategies",
            "batched,atomic",
        ])
        .unwrap();
        let settings = settings(args);
        assert!(settings.scenarios.is_empty());
        assert_eq!(settings.studies, [run::Study::Proxy]);
        assert!(settings.strategies_given);
        assert!(Args::try_parse_from(["experiment", "--scenarios", "hot,nope"]).is_err());
    }
}
