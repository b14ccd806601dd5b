//! Scratch clusters: created in a fresh folder on a free port for one run
//! (tests, experiments, the fault suite, fuzzing, rest-docs), stopped and
//! removed when the run ends however it ends, and swept up after runs that
//! were killed.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};

use super::{Account, Cluster, Durability, PgBin, Status};
use crate::scratch::ScratchFolders;
use crate::{net, say};

/// Where throwaway clusters live, and how they are named.
const FOLDERS: ScratchFolders = ScratchFolders {
    prefix: "recordshop-test-",
};
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
        let dir = FOLDERS.create(&scratch_root)?;
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

/// Clusters of runs that were killed (SIGKILL, power loss) before they
/// could clean up: their owner is gone, so they are stopped and removed.
fn remove_leftovers(scratch_root: &Path) {
    for folder in FOLDERS.left_by_killed_runs(scratch_root) {
        let (Some(bin), Ok(account)) = (PgBin::find(), Account::detect()) else {
            return;
        };
        say!(
            "removing a scratch cluster left by a killed run: {}",
            folder.display()
        );
        drop(Scratch(Cluster::new(bin, account, folder, 0)));
    }
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
