//! Project tasks, run as `cargo xtask <command>`.
//!
//! - `cargo xtask run`: the server on a local PostgreSQL cluster (or on
//!   `DATABASE_URL`), migrated and seeded; `--topology ha`: nginx in front
//!   of three servers on a pg_auto_failover formation, with Prometheus.
//! - `cargo xtask test`: every test against a throwaway cluster that is
//!   removed afterwards.
//! - `cargo xtask experiment`, `cargo xtask faults`: build the server and
//!   the tool in release mode and run the tool, which starts its own
//!   scratch cluster and servers.
//! - `cargo xtask fuzz`: schemathesis against a seeded scratch server.
//! - `cargo xtask rest-docs`: regenerates `rest-docs/` against a real server.
//!
//! Clusters, servers, databases and tokens come from the harness crate
//! (`crates/harness`), which every tool shares; xtask itself is
//! synchronous and drives everything as child processes.

mod cargo;
mod fuzz;
mod run;
mod test;
mod topology;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use recordshop_harness::{interrupt, say};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
    about = "Project tasks for the record shop service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server on a local PostgreSQL cluster (or on DATABASE_URL when set).
    Run(run::Args),
    /// Run the workspace's tests against a throwaway PostgreSQL cluster.
    Test(test::Args),
    /// Run the concurrency experiments (load, consistency check, report) on a
    /// scratch PostgreSQL cluster with durability on.
    Experiment(cargo::ToolArgs),
    /// Run the fault suite (duplicate retries, kill -9, PostgreSQL outage,
    /// SIGTERM, each under load, each checked in the database) on a scratch
    /// PostgreSQL cluster with durability on.
    Faults(cargo::FaultsArgs),
    /// Fuzz the HTTP API from its OpenAPI document with schemathesis
    /// (installed into .local/venv) against a seeded scratch server; fails
    /// on any response >= 500.
    Fuzz(fuzz::Args),
    /// Regenerate rest-docs/ (OpenAPI, Insomnia export, HAR) from a real
    /// server on a freshly seeded scratch database.
    RestDocs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = interrupt::install().and_then(|()| match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Test(args) => test::run(&args),
        Command::Experiment(args) => cargo::experiment(&args),
        Command::Faults(args) => cargo::faults(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::RestDocs => test::rest_docs(),
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            say!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
