//! `cargo xtask experiment`: builds the server and the experiment tool in
//! release mode, starts a scratch cluster with durability on (the figures
//! must include the cost of a real commit), and hands both to the tool.

use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use anyhow::Context;

use crate::cluster::Durability;
use crate::pgbin::PgBin;
use crate::{interrupt, process, say, scratch};

/// The tool reads its database from here, or from `--admin-url`.
const ADMIN_URL_VAR: &str = "EXPERIMENT_ADMIN_URL";
/// Room for a server's pool, pgbench's clients and the checks at once.
const SETTINGS: &[&str] = &["max_connections=200", "shared_buffers=256MB"];
/// The tool stops its server and writes partial results on Ctrl-C.
const INTERRUPT_GRACE: Duration = Duration::from_secs(30);

#[derive(clap::Args)]
pub struct Args {
    /// Arguments for the experiment tool, after `--`: `cargo xtask
    /// experiment -- --scenarios hot --strategies pessimistic,atomic`.
    /// `cargo xtask experiment -- --help` lists them.
    #[arg(last = true, value_name = "EXPERIMENT ARGS")]
    experiment_args: Vec<String>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = crate::project_root()?;
    build(&root)?;
    let bin = PgBin::find_or_install()?;
    let own_database = args
        .experiment_args
        .iter()
        .any(|arg| arg == "--admin-url" || arg.starts_with("--admin-url="))
        || std::env::var(ADMIN_URL_VAR).is_ok_and(|url| !url.trim().is_empty());
    if own_database {
        say!("using the database given to the tool; no cluster started");
        return experiment(&root, &bin, None, &args.experiment_args);
    }
    let scratch = scratch::start(Durability::Durable, SETTINGS)?;
    let cluster = scratch.cluster();
    say!(
        "started {} (durable; removed afterwards)",
        cluster.describe()
    );
    let code = experiment(
        &root,
        &bin,
        Some(&cluster.url("postgres")),
        &args.experiment_args,
    );
    drop(scratch);
    code
}

fn build(root: &Path) -> anyhow::Result<()> {
    say!("building the server and the experiment tool (release)");
    process::run(Command::new(crate::cargo()).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "recordshop",
        "-p",
        "recordshop-experiment",
    ]))
    .context("the release build failed")
}

fn experiment(
    root: &Path,
    bin: &PgBin,
    admin_url: Option<&str>,
    extra: &[String],
) -> anyhow::Result<ExitCode> {
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), Into::into);
    let release = target.join("release");
    let mut command = Command::new(release.join("experiment"));
    command
        .current_dir(root)
        .arg("--server-bin")
        .arg(release.join("recordshop"))
        .arg("--pg-bin-dir")
        .arg(bin.dir());
    if let Some(url) = admin_url {
        command.arg("--admin-url").arg(url);
    }
    command.args(extra);
    say!("running {}", process::display(&command));
    let mut child = command
        .spawn()
        .context("could not start the experiment tool")?;
    let status = process::wait(&mut child, INTERRUPT_GRACE)?;
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }
    Ok(process::exit_code(status))
}
