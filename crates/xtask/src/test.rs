//! `cargo xtask test`: the workspace's tests against a throwaway cluster.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::account::Account;
use crate::cluster::{Cluster, Durability, Status, free_port};
use crate::pgbin::PgBin;
use crate::{interrupt, process, say};

/// What the tests read; see the testdb crate.
const TEST_DATABASE_URL_VAR: &str = "RECORDSHOP_TEST_DATABASE_URL";
/// Throwaway clusters are named `<prefix><xtask pid>-<nonce>`.
const SCRATCH_PREFIX: &str = "recordshop-test-";
/// Speed over durability: the data dies with the run. Every test creates a
/// database, and parallel test binaries hold many connections.
const FAST_SETTINGS: &[&str] = &[
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "max_connections=500",
    "shared_buffers=128MB",
];
/// Another program may take the free port before the server binds it.
const START_ATTEMPTS: usize = 3;
/// Tests have no graceful shutdown worth waiting long for.
const INTERRUPT_GRACE: Duration = Duration::from_secs(5);

#[derive(clap::Args)]
pub struct Args {
    /// Arguments for `cargo test`, after `--`: `cargo xtask test -- -p
    /// recordshop-domain`, `cargo xtask test -- -- --nocapture`.
    #[arg(last = true, value_name = "CARGO TEST ARGS")]
    cargo_test_args: Vec<String>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let root = crate::project_root()?;
    let cargo_args = cargo_test_args(&args.cargo_test_args);
    if env::var(TEST_DATABASE_URL_VAR).is_ok_and(|url| !url.trim().is_empty()) {
        say!("{TEST_DATABASE_URL_VAR} is set: testing against that server, no cluster started");
        return cargo_test(&root, &cargo_args, None);
    }

    let bin = PgBin::find_or_install()?;
    let account = Account::detect()?;
    let scratch_root = scratch_root();
    remove_leftovers(&scratch_root);
    let dir = scratch_dir(&scratch_root)?;
    let mut throwaway = Throwaway(Cluster::new(bin, account, dir, 0));
    let cluster = &mut throwaway.0;
    cluster.prepare_base()?;
    say!(
        "creating a throwaway PostgreSQL cluster in {}",
        cluster.base().display()
    );
    cluster.init(Durability::Throwaway)?;
    start_on_a_free_port(cluster)?;
    say!(
        "started {} (fsync off; removed afterwards)",
        cluster.describe()
    );
    let url = cluster.url("postgres");
    let code = cargo_test(&root, &cargo_args, Some(&url));
    drop(throwaway);
    code
}

fn start_on_a_free_port(cluster: &mut Cluster) -> anyhow::Result<()> {
    let mut attempt = 1;
    loop {
        cluster.port = free_port()?;
        match cluster.start(FAST_SETTINGS) {
            Ok(()) => return Ok(()),
            Err(error) if attempt < START_ATTEMPTS && port_was_taken(&error) => {
                say!("port {} was taken meanwhile; trying another", cluster.port);
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

fn port_was_taken(error: &anyhow::Error) -> bool {
    let text = format!("{error:#}");
    text.contains("could not bind") || text.contains("Address already in use")
}

fn cargo_test(root: &Path, cargo_args: &[String], url: Option<&str>) -> anyhow::Result<ExitCode> {
    let mut command = Command::new(crate::cargo());
    command.current_dir(root).args(cargo_args);
    match url {
        Some(url) => {
            command.env(TEST_DATABASE_URL_VAR, url);
            say!(
                "running `cargo {}` with {TEST_DATABASE_URL_VAR}={url}",
                cargo_args.join(" ")
            );
        }
        None => say!("running `cargo {}`", cargo_args.join(" ")),
    }
    let mut child = command.spawn().context("could not start cargo test")?;
    let status = process::wait(&mut child, INTERRUPT_GRACE)?;
    say!("cargo test finished: {status}");
    if interrupt::interrupted() {
        return Ok(ExitCode::from(130));
    }
    Ok(process::exit_code(status))
}

/// `test --workspace` plus the user's arguments; `--workspace` is left out
/// when they pick packages themselves.
fn cargo_test_args(extra: &[String]) -> Vec<String> {
    let cargo_part = extra.split(|arg| arg == "--").next().unwrap_or_default();
    let picks_packages = cargo_part.iter().any(|arg| {
        arg == "--workspace"
            || arg == "--all"
            || arg == "--package"
            || arg.starts_with("--package=")
            || (arg.starts_with("-p") && !arg.starts_with("--"))
    });
    let mut args = vec!["test".to_owned()];
    if !picks_packages {
        args.push("--workspace".to_owned());
    }
    args.extend(extra.iter().cloned());
    args
}

/// /var/tmp: reachable by the postgres user even when the project is not,
/// and not a tmpfs that a large test run could fill.
fn scratch_root() -> PathBuf {
    let var_tmp = PathBuf::from("/var/tmp");
    if var_tmp.is_dir() {
        var_tmp
    } else {
        env::temp_dir()
    }
}

fn scratch_dir(scratch_root: &Path) -> anyhow::Result<PathBuf> {
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.subsec_nanos())
        .unwrap_or_default();
    let dir = scratch_root.join(format!(
        "{SCRATCH_PREFIX}{}-{nonce:08x}",
        std::process::id()
    ));
    fs::create_dir(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Clusters of runs that were killed (SIGKILL, power loss) before they
/// could clean up: their xtask is gone, so they are stopped and removed.
fn remove_leftovers(scratch_root: &Path) {
    let Ok(entries) = fs::read_dir(scratch_root) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(owner_pid) else {
            continue;
        };
        if process::is_alive(pid) {
            continue;
        }
        let (Some(bin), Ok(account)) = (PgBin::find(), Account::detect()) else {
            return;
        };
        say!(
            "removing a test cluster left by a killed run: {}",
            entry.path().display()
        );
        drop(Throwaway(Cluster::new(bin, account, entry.path(), 0)));
    }
}

/// The xtask pid in a scratch directory's name.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(SCRATCH_PREFIX)?;
    let (pid, nonce) = rest.split_once('-')?;
    if nonce.is_empty() || !nonce.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    pid.parse().ok()
}

/// A cluster that is stopped and deleted when this value drops, however
/// the run ends.
struct Throwaway(Cluster);

impl Drop for Throwaway {
    fn drop(&mut self) {
        let cluster = &self.0;
        let stopped = match cluster.status() {
            Ok(Status::Stopped) => Ok(()),
            Ok(Status::Running { .. }) | Err(_) => cluster.stop(),
        };
        if let Err(error) = stopped {
            say!("warning: {error:#}");
        }
        match fs::remove_dir_all(cluster.base()) {
            Ok(()) => say!("stopped and removed the throwaway cluster"),
            Err(error) => say!(
                "warning: could not remove {}: {error}",
                cluster.base().display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn tests_the_whole_workspace_by_default() {
        assert_eq!(cargo_test_args(&[]), strings(&["test", "--workspace"]));
        assert_eq!(
            cargo_test_args(&strings(&["--release", "--", "--nocapture"])),
            strings(&["test", "--workspace", "--release", "--", "--nocapture"])
        );
    }

    #[test]
    fn chosen_packages_replace_the_workspace() {
        assert_eq!(
            cargo_test_args(&strings(&["-p", "recordshop-domain"])),
            strings(&["test", "-p", "recordshop-domain"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["-pxtask"])),
            strings(&["test", "-pxtask"])
        );
        assert_eq!(
            cargo_test_args(&strings(&["--package=xtask"])),
            strings(&["test", "--package=xtask"])
        );
        // After `--` the arguments belong to the test binaries.
        assert_eq!(
            cargo_test_args(&strings(&["--", "-p"])),
            strings(&["test", "--workspace", "--", "-p"])
        );
    }

    #[test]
    fn reads_the_owner_from_scratch_names() {
        assert_eq!(owner_pid("recordshop-test-4242-1a2b3c4d"), Some(4242));
        assert_eq!(owner_pid("recordshop-test-4242-"), None);
        assert_eq!(owner_pid("recordshop-test-x-1a"), None);
        assert_eq!(owner_pid("recordshop-1a2b3c4d"), None);
        assert_eq!(owner_pid("recordshop-test-4242-zz"), None);
    }
}
