//! Project tasks, run as `cargo xtask <command>`.
//!
//! - `cargo xtask run`: the server on a local PostgreSQL cluster (or on
//!   `DATABASE_URL`), migrated and seeded.
//! - `cargo xtask test`: every test against a throwaway cluster that is
//!   removed afterwards.
//! - `cargo xtask experiment`: the concurrency experiments on a scratch
//!   cluster, through the `experiment` binary.
//! - `cargo xtask rest-docs`: regenerates `rest-docs/` against a real server.
//! - `cargo xtask faults`: the fault suite on a scratch cluster, through the
//!   `faults` binary.
//! - `cargo xtask fuzz`: schemathesis against a seeded scratch server.
//!
//! Everything is driven as child processes (cargo, initdb, pg_ctl, psql), so
//! the tool needs neither an async runtime nor a database driver.

mod account;
mod cluster;
mod experiment;
mod faults;
mod fuzz;
mod interrupt;
mod pgbin;
mod process;
mod rest_docs;
mod run;
mod scratch;
mod server;
mod test;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

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
    Experiment(experiment::Args),
    /// Run the fault suite (duplicate retries, kill -9, PostgreSQL outage,
    /// SIGTERM, each under load, each checked in the database) on a scratch
    /// PostgreSQL cluster with durability on.
    Faults(faults::Args),
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
        Command::Experiment(args) => experiment::run(&args),
        Command::Faults(args) => faults::run(&args),
        Command::Fuzz(args) => fuzz::run(&args),
        Command::RestDocs => rest_docs::run(),
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("xtask: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives in `<root>/crates/xtask`.
fn project_root() -> anyhow::Result<PathBuf> {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .context("xtask must live in <project>/crates/xtask")
}

/// The cargo that started us (cargo sets `CARGO`), so a toolchain override
/// applies to the builds xtask starts too.
fn cargo() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Prints one line of what xtask is doing, apart from the children's output.
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("xtask: {}", format_args!($($arg)*)) };
}
pub(crate) use say;
