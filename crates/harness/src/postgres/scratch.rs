//! Scratch clusters: created in a fresh folder on a free port for one run
//! (tests, experiments, the fault suite, fuzzing, rest-docs), stopped and
//! removed when the run ends however it ends, and swept up after runs that
//! were killed.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use super::{Account, Cluster, Durability, PgBin, Status};
use crate::{net, process, say};

/// Throwaway clusters are named `<prefix><owner pid>-<nonce>`.
const SCRATCH_PREFIX: &str = "recordshop-test-";
/// Another program may take the free port before the server binds it.
const START_ATTEMPTS: usize = 3;

/// A running cluster that is stopped and deleted when this value drops:
/// on success, on error and after Ctrl-C alike.
pub struct Scratch(Cluster);

impl Scratch {
    /// Creates, initialises and starts a scratch cluster with `durability`
    /// and `settings`, installing PostgreSQL first where that is allowed.
    ///
    /// # Errors
    /// When PostgreSQL is missing, or the cluster cannot be made or started.
    pub fn start(durability: Durability, settings: &[&str]) -> anyhow::Result<Self> {
        let bin = PgBin::find_or_install()?;
        let account = Account::detect()?;
        let scratch_root = scratch_root();
        remove_leftovers(&scratch_root);
        let dir = scratch_dir(&scratch_root)?;
        let cluster = Cluster::new(bin, account, dir, 0).with_settings(durability, settings);
        let mut scratch = Self(cluster);
        let cluster = &mut scratch.0;
        cluster.prepare_base()?;
        say!(
            "creating a scratch PostgreSQL cluster in {}",
            cluster.base().display()
        );
        cluster.init()?;
        start_on_a_free_port(cluster)?;
        say!("started {} (removed afterwards)", cluster.describe());
        Ok(scratch)
    }

    /// The running cluster.
    #[must_use]
    pub fn cluster(&self) -> &Cluster {
        &self.0
    }
}

fn start_on_a_free_port(cluster: &mut Cluster) -> anyhow::Result<()> {
    let mut attempt = 1;
    loop {
        cluster.set_port(net::free_port()?);
        match cluster.start() {
            Ok(()) => return Ok(()),
            Err(error) if attempt < START_ATTEMPTS && port_was_taken(&error) => {
                say!(
                    "port {} was taken meanwhile; trying another",
                    cluster.port()
                );
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
/// could clean up: their owner is gone, so they are stopped and removed.
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
            "removing a scratch cluster left by a killed run: {}",
            entry.path().display()
        );
        drop(Scratch(Cluster::new(bin, account, entry.path(), 0)));
    }
}

/// The owner's pid in a scratch directory's name.
fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(SCRATCH_PREFIX)?;
    let (pid, nonce) = rest.split_once('-')?;
    if nonce.is_empty() || !nonce.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    pid.parse().ok()
}

impl Drop for Scratch {
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
            Ok(()) => say!("stopped and removed the scratch cluster"),
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

    #[test]
    fn reads_the_owner_from_scratch_names() {
        assert_eq!(owner_pid("recordshop-test-4242-1a2b3c4d"), Some(4242));
        assert_eq!(owner_pid("recordshop-test-4242-"), None);
        assert_eq!(owner_pid("recordshop-test-x-1a"), None);
        assert_eq!(owner_pid("recordshop-1a2b3c4d"), None);
        assert_eq!(owner_pid("recordshop-test-4242-zz"), None);
    }
}
