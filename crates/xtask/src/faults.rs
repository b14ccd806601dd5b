//! `cargo xtask faults`: builds the server and the fault suite in release
//! mode, starts a scratch cluster with durability on (a kill -9 must not
//! lose a committed order, which only a real fsync can show), and hands
//! both to the suite, which may stop and start that cluster. The cluster is
//! removed afterwards, however the run ends.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;

use crate::account::Account;
use crate::cluster::{self, Cluster, Durability};
use crate::pgbin::PgBin;
use crate::{interrupt, process, say, scratch};

/// Room for two servers' pools (one killed, one restarted) and the checks.
const SETTINGS: &[&str] = &["max_connections=100", "shared_buffers=128MB"];
/// The suite stops its servers on Ctrl-C before it exits.
const INTERRUPT_GRACE: Duration = Duration::from_secs(20);

#[derive(clap::Args)]
pub struct Args {
    /// Shorter loads under the pessimistic strategy only (well under a
    /// minute of scenarios), for CI. Without it every strategy runs.
    #[arg(long)]
    quick: bool,
    /// Arguments for the suite, after `--`: `cargo xtask faults --
    /// --strategy all`, `cargo xtask faults -- --scenarios kill,outage`.
    /// `cargo xtask faults -- --help` lists them.
    #[arg(last = true, value_name = "FAULTS ARGS")]
    faults_args: Vec<String>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = crate::project_root()?;
    build(&root)?;
    let bin = PgBin::find_or_install()?;
    let scratch = scratch::start(Durability::Durable, SETTINGS)?;
    let cluster = scratch.cluster();
    say!(
        "started {} (durable; removed afterwards)",
        cluster.describe()
    );
    let code = faults(&root, &bin, cluster, args);
    drop(scratch);
    code
}

fn build(root: &Path) -> anyhow::Result<()> {
    say!("building the server and the fault suite (release)");
    process::run(Command::new(crate::cargo()).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "recordshop",
        "-p",
        "recordshop-faults",
    ]))
    .context("the release build failed")
}

fn faults(root: &Path, bin: &PgBin, cluster: &Cluster, args: &Args) -> anyhow::Result<ExitCode> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let release = target.join("release");
    let mut command = Command::new(release.join("faults"));
    command
        .current_dir(root)
        .arg("--admin-url")
        .arg(cluster.url("postgres"))
        .arg("--server-bin")
        .arg(release.join("recordshop"))
        .arg("--pg-ctl")
        .arg(bin.tool("pg_ctl"))
        .arg("--pg-data")
        .arg(cluster.data_dir())
        .arg("--pg-log")
        .arg(cluster.log_file())
        .arg(format!(
            "--pg-options={}",
            cluster::server_options(cluster.port, SETTINGS)
        ));
    if let Account::Postgres { .. } = Account::detect()? {
        command.args(["--pg-user", "postgres"]);
    }
    if args.quick {
        command.arg("--quick");
    }
    command.args(&args.faults_args);
    say!("running {}", process::display(&command));
    let mut child = command.spawn().context("could not start the fault suite")?;
    let status = process::wait(&mut child, INTERRUPT_GRACE)?;
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }
    Ok(process::exit_code(status))
}
