//! `experiment`: runs the record shop server under each concurrency strategy
//! and load scenario, each on a fresh database, checks the stock invariant in
//! the database afterwards, measures the database's own ceilings with
//! pgbench, and reports (text, JSON, SVG charts).
//!
//! ```text
//! experiment --admin-url postgres://postgres@127.0.0.1:55432/postgres \
//!     --server-bin target/release/recordshop --strategies pessimistic,optimistic --quick
//! ```

mod api;
mod charts;
mod check;
mod cluster;
mod load;
mod pgbench;
mod prep;
mod progress;
mod report;
mod run;
mod scenario;
mod server;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use crate::scenario::{Scenario, Sizing};

/// Drive the record shop server under each strategy and scenario, check
/// that no stock was lost or oversold, and compare the strategies.
#[derive(Debug, Parser)]
#[command(name = "experiment", version)]
struct Args {
    /// A PostgreSQL URL allowed to create databases; every run gets a fresh
    /// `exp_…` database on that server, dropped afterwards.
    #[arg(long, env = "EXPERIMENT_ADMIN_URL")]
    admin_url: String,

    /// The release server binary (`recordshop`), started once per run.
    #[arg(long, default_value = "target/release/recordshop")]
    server_bin: PathBuf,

    /// Where PostgreSQL's `pgbench` lives.
    #[arg(long, default_value = "/usr/lib/postgresql/15/bin")]
    pg_bin_dir: PathBuf,

    /// Values of CONCURRENCY_STRATEGY to compare, passed to the server as is.
    #[arg(long, value_delimiter = ',', default_value = "pessimistic,optimistic,atomic,batched", value_parser = parse_strategy)]
    strategies: Vec<String>,

    /// Scenarios to run, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        value_enum,
        default_value = "launch,hot,spread,mixed"
    )]
    scenarios: Vec<Scenario>,

    /// Load duration of every scenario, e.g. `60s`, `2m`, `1500ms`
    /// [default: 60s, or 5s with --quick].
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,

    /// Clients of the closed-loop and mixed scenarios [default: 32].
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

    /// Duration of each pgbench shape [default: the load duration, so a
    /// strategy and its ceiling run equally long: a single hot row slows
    /// down as its versions and the order indexes grow, and a shorter
    /// ceiling run would flatter the ceiling].
    #[arg(long, value_parser = parse_duration)]
    pgbench_duration: Option<Duration>,

    /// Extra environment for the server, e.g. `--server-env DB_POOL_SIZE=16`.
    #[arg(long = "server-env", value_name = "KEY=VALUE", value_parser = parse_env_pair)]
    server_env: Vec<(String, String)>,

    /// How long a server may take to answer /health/ready.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    ready_timeout: Duration,
}

const QUICK_PGBENCH: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let settings = settings(args);
    match run::run(settings).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("experiment: some run failed or broke the invariant (see above)");
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("experiment: {error:#}");
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
    let mut strategies: Vec<String> = Vec::new();
    for strategy in args.strategies {
        if !strategies.contains(&strategy) {
            strategies.push(strategy);
        }
    }
    let mut scenarios: Vec<Scenario> = Vec::new();
    for scenario in args.scenarios {
        if !scenarios.contains(&scenario) {
            scenarios.push(scenario);
        }
    }
    let out = args.out.unwrap_or_else(|| {
        PathBuf::from("target/experiments")
            .join(chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string())
    });
    run::Settings {
        admin_url: args.admin_url,
        server_bin: args.server_bin,
        pg_bin_dir: args.pg_bin_dir,
        strategies,
        scenarios,
        sizing,
        out,
        keep: args.keep,
        pgbench_duration,
        server_env: args.server_env,
        ready_timeout: args.ready_timeout,
        command: std::env::args().collect(),
    }
}

/// A strategy name as the server reads it: letters, digits, `_` and `-`.
fn parse_strategy(value: &str) -> anyhow::Result<String> {
    let value = value.trim();
    if value.is_empty() || value.len() > 40 {
        bail!("a strategy name has 1 to 40 characters");
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("{value:?}: a strategy name has letters, digits, `_` and `-` only");
    }
    Ok(value.to_owned())
}

/// `90`, `90s`, `1500ms`, `2m`, `1h`: a plain number is seconds.
fn parse_duration(value: &str) -> anyhow::Result<Duration> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = match number.parse() {
        Ok(n) if f64::is_finite(n) && n > 0.0 => n,
        _ => bail!("{value:?} is not a duration like 60s, 1500ms or 2m"),
    };
    let seconds = match unit.trim() {
        "" | "s" | "sec" | "secs" => number,
        "ms" => number / 1000.0,
        "m" | "min" => number * 60.0,
        "h" => number * 3600.0,
        other => bail!("unknown duration unit {other:?} (use ms, s, m or h)"),
    };
    if seconds > 24.0 * 3600.0 {
        bail!("{value:?} is longer than a day");
    }
    Ok(Duration::from_secs_f64(seconds))
}

fn parse_env_pair(value: &str) -> anyhow::Result<(String, String)> {
    match value.split_once('=') {
        Some((key, val)) if !key.is_empty() => Ok((key.to_owned(), val.to_owned())),
        _ => bail!("{value:?} is not KEY=VALUE"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_siege_and_humans_write_them() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("60").unwrap(), Duration::from_secs(60));
        assert_eq!(
            parse_duration("1500ms").unwrap(),
            Duration::from_millis(1500)
        );
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("0.5s").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("48h").is_err());
    }

    #[test]
    fn strategies_are_plain_names() {
        assert_eq!(parse_strategy(" batched ").unwrap(), "batched");
        assert!(parse_strategy("").is_err());
        assert!(parse_strategy("a;b").is_err());
    }

    #[test]
    fn the_xtask_command_line_parses() {
        let args = Args::try_parse_from([
            "experiment",
            "--admin-url",
            "postgres://postgres@127.0.0.1:5432/postgres",
            "--server-bin",
            "target/release/recordshop",
            "--pg-bin-dir",
            "/usr/lib/postgresql/15/bin",
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
        assert_eq!(settings.strategies, ["pessimistic", "optimistic", "atomic"]);
        assert_eq!(settings.scenarios, [Scenario::Hot, Scenario::Spread]);
        assert_eq!(settings.sizing.clients, Some(16));
        // A ceiling runs as long as the load it is compared with.
        assert_eq!(settings.pgbench_duration, Some(Duration::from_secs(60)));
        assert_eq!(settings.out, PathBuf::from("target/experiments/x"));
    }

    #[test]
    fn quick_shortens_pgbench_too() {
        let args =
            Args::try_parse_from(["experiment", "--admin-url", "postgres://x", "--quick"]).unwrap();
        let settings = settings(args);
        assert_eq!(settings.pgbench_duration, Some(QUICK_PGBENCH));
        assert_eq!(settings.scenarios.len(), 4);
        assert_eq!(
            settings.strategies,
            ["pessimistic", "optimistic", "atomic", "batched"]
        );
    }
}
