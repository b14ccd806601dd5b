//! Builds, and the tools that run as binaries of their own: the
//! experiment tool and the fault suite, each built in release mode with
//! the server, then run in the terminal's process group so that a Ctrl-C
//! reaches them and they stop their servers and clusters in order.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;
use recordshop_harness::{interrupt, process, say};

/// The tools stop their servers and write partial results on Ctrl-C.
const INTERRUPT_GRACE: Duration = Duration::from_secs(30);

/// The cargo that started us (cargo sets `CARGO`), so a toolchain override
/// applies to the builds xtask starts too.
pub fn cargo() -> OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// `cargo build [--release] -p …` in the workspace.
pub fn build(release: bool, packages: &[&str]) -> anyhow::Result<()> {
    let mut command = Command::new(cargo());
    command
        .current_dir(recordshop_harness::workspace_root())
        .args(["build", "--quiet"]);
    if release {
        command.arg("--release");
    }
    for package in packages {
        command.args(["-p", package]);
    }
    say!("building {}", packages.join(", "));
    process::run(&mut command).context("the build failed")
}

/// A binary of the last `build`.
pub fn binary(release: bool, name: &str) -> PathBuf {
    recordshop_harness::target_dir()
        .join(if release { "release" } else { "debug" })
        .join(name)
}

#[derive(clap::Args)]
pub struct ToolArgs {
    /// Arguments for the experiment tool, after `--`: `cargo xtask
    /// experiment -- --scenarios hot --strategies pessimistic,atomic`.
    /// `cargo xtask experiment -- --help` lists them.
    #[arg(last = true, value_name = "EXPERIMENT ARGS")]
    args: Vec<String>,
}

#[derive(clap::Args)]
pub struct FaultsArgs {
    /// Shorter loads under `pessimistic` and `queued` only (about two
    /// minutes of scenarios), for CI. Without it every strategy runs.
    #[arg(long)]
    quick: bool,
    /// Arguments for the suite, after `--`: `cargo xtask faults --
    /// --strategy all`, `cargo xtask faults -- --scenarios kill,outage`.
    /// `cargo xtask faults -- --help` lists them.
    #[arg(last = true, value_name = "FAULTS ARGS")]
    args: Vec<String>,
}

/// `cargo xtask experiment`: the server and the tool in release mode, then
/// the tool, which starts a scratch cluster with durability on (the
/// figures must include the cost of a real commit) unless given a server.
pub fn experiment(args: &ToolArgs) -> anyhow::Result<ExitCode> {
    build(true, &["recordshop", "recordshop-experiment"])?;
    let mut command = Command::new(binary(true, "experiment"));
    command
        .arg("--server-bin")
        .arg(binary(true, "recordshop"))
        .args(&args.args);
    run_tool(command)
}

/// `cargo xtask faults`: the server and the suite in release mode, then
/// the suite, which starts a scratch cluster with durability on (a kill -9
/// must not lose a committed order, which only a real fsync can show).
pub fn faults(args: &FaultsArgs) -> anyhow::Result<ExitCode> {
    build(true, &["recordshop", "recordshop-faults"])?;
    let mut command = Command::new(binary(true, "faults"));
    command.arg("--server-bin").arg(binary(true, "recordshop"));
    if args.quick {
        command.arg("--quick");
    }
    command.args(&args.args);
    run_tool(command)
}

fn run_tool(mut command: Command) -> anyhow::Result<ExitCode> {
    command.current_dir(recordshop_harness::workspace_root());
    say!("running {}", process::display(&command));
    let mut child = command
        .spawn()
        .with_context(|| format!("could not start `{}`", process::display(&command)))?;
    let status = process::wait(&mut child, INTERRUPT_GRACE)?;
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }
    Ok(process::exit_code(status))
}
