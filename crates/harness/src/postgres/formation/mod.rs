//! A pg_auto_failover formation (pg_auto_failover 2.0, Debian's
//! `postgresql-15-auto-failover`): a monitor and two PostgreSQL nodes, one
//! primary and one standby, each in a folder of its own under the
//! formation's folder (`monitor/`, `node1/`, `node2/`, see
//! [`autoctl`](super::autoctl)), each on a port of its own on 127.0.0.1,
//! superuser `postgres`, trust authentication.
//!
//! Each node runs under `pg_autoctl run` (its keeper), a child of the tool
//! in a process group of its own, which starts its PostgreSQL and follows
//! the monitor's orders: the monitor checks the nodes' health and, when
//! the primary is gone, promotes the standby; the old primary rejoins as a
//! standby when it comes back. The keeper restarts a PostgreSQL that dies
//! under it, so a `kill -9` of the postmaster alone is a restart, not a
//! failover: [`Formation::kill_node`] kills the keeper with it, as a
//! machine's crash does.
//!
//! # Replication, and what losing the standby does
//! [`Replication::Synchronous`] puts the standby in the replication quorum
//! (`--replication-quorum true`; `number_sync_standbys` stays 0, the only
//! value one standby allows): the primary runs with
//! `synchronous_standby_names = 'ANY 1 (<standby>)'`, so a commit returns
//! once the standby has its WAL on disk and a failover loses no committed
//! transaction. When the standby is gone, commits wait for it until the
//! monitor notices and puts the primary in `wait_primary`, which turns
//! synchronous replication off (measured: writes blocked 2.5–3 s); from
//! then on the primary commits alone, and losing it before the standby is
//! back and caught up loses those commits. pg_auto_failover chooses
//! availability here and has no setting to keep writes blocked instead.
//! [`Replication::Asynchronous`] never waits for the standby: a failover
//! may lose the last commits.
//!
//! Making, starting, stopping and waiting are synchronous, as the other
//! launchers are (the waits query the monitor through
//! [`blocking`](crate::blocking), so not from inside an async runtime:
//! async code has [`Formation::wait_ready_async`]); what reads the monitor
//! or makes databases is async.
//!
//! # Failure detection
//! [`FailureDetection::Fast`] lowers the monitor's health checks from
//! pg_auto_failover's defaults (a check every 5 s, unhealthy after 20 s,
//! 30 s for a primary to demote): writes resume 6.5–9 s after a primary's
//! crash, where the defaults take about 40 s.

mod access;
mod node;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::autoctl::{self, Autoctl};
use super::{Account, Cluster, PgBin};
use crate::scratch::ScratchFolders;
use crate::{blocking, interrupt, net, process, say};
use node::{KeeperOf, Node, append_settings, parse_settings, stop_keeper, stop_left_running};

/// How quickly the monitor takes a node for failed; see the module's
/// documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureDetection {
    /// Lowered health checks ([`FailureDetection::settings`]): writes
    /// resume 6.5–9 s after a primary's crash (measured on 2 busy cores;
    /// longer within 10 s of the monitor's start, its grace period). On a
    /// very loaded host they could take a slow node for failed and fail
    /// over with nothing wrong (the data is safe under
    /// [`Replication::Synchronous`]; the roles change).
    Fast,
    /// pg_auto_failover's own (a check every 5 s, unhealthy after 20 s,
    /// 30 s for a primary to demote): a failover after about 40 s, and none
    /// of a node that is merely slow. For formations that are not there to
    /// fail over (tests of everything else).
    Standard,
}

impl FailureDetection {
    /// The monitor's settings (milliseconds) for this choice: for `Fast`, a
    /// check a second, given 2 s to connect, a node unhealthy after 3 s
    /// without a report, 3 s for a primary to confirm its demotion. The
    /// grace period after the monitor's own start stays pg_auto_failover's
    /// 10 s either way: the nodes' last reports it finds are from before it
    /// stopped, and nodes still starting must not be taken for failed.
    #[must_use]
    pub fn settings(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Self::Fast => &[
                ("pgautofailover.health_check_period", "1000"),
                ("pgautofailover.health_check_timeout", "2000"),
                ("pgautofailover.health_check_max_retries", "1"),
                ("pgautofailover.health_check_retry_delay", "500"),
                ("pgautofailover.node_considered_unhealthy_timeout", "3000"),
                ("pgautofailover.primary_demote_timeout", "1500"),
            ],
            Self::Standard => &[],
        }
    }
}

/// Every node: TCP on loopback only, and modest memory (pg_autoctl sizes
/// `shared_buffers` at a quarter of the machine, for each of three
/// servers). The Unix socket is in Linux's abstract namespace, not a
/// folder: pg_autoctl starts an old primary with no TCP listener for the
/// crash recovery before its pg_rewind, and PostgreSQL refuses to start
/// with no socket at all; an abstract name needs no folder, has no path
/// length limit, and the port tells the nodes apart. Written in
/// `postgresql.auto.conf`, which wins over pg_autoctl's own file, and
/// copied to the standby with its base backup.
const NODE_SETTINGS: &[(&str, &str)] = &[
    ("listen_addresses", "127.0.0.1"),
    ("unix_socket_directories", "@recordshop-ha"),
    ("shared_buffers", "128MB"),
];
/// The data nodes' names, which are their folders' too.
const DATA_NODES: [&str; 2] = ["node1", "node2"];
const MONITOR: &str = "monitor";
/// Written once a formation is complete: its ports.
const LAYOUT_FILE: &str = "formation.json";
/// `pg_autoctl create` of a node; the standby's includes a base backup.
const CREATE_WITHIN: Duration = Duration::from_secs(120);
/// A keeper stops its PostgreSQL (a fast shutdown) before it exits.
const STOP_GRACE: Duration = Duration::from_secs(60);
/// A postmaster's last moments after its keeper has exited.
const POSTMASTER_EXIT: Duration = Duration::from_secs(10);
/// The monitor answering once its keeper runs.
const MONITOR_READY_WITHIN: Duration = Duration::from_secs(60);
/// Scratch formations are named `<prefix><owner pid>-<nonce>`.
const FOLDERS: ScratchFolders = ScratchFolders {
    prefix: "recordshop-ha-",
};

/// Whether a commit waits for the standby; see the module's documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replication {
    Synchronous,
    Asynchronous,
}

/// How a new formation is made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormationSettings {
    pub replication: Replication,
    pub detection: FailureDetection,
    /// `name=value` PostgreSQL settings for every data node
    /// (`max_connections=300`), after the formation's own (loopback, 128 MB
    /// of shared buffers).
    pub settings: Vec<String>,
}

impl Default for FormationSettings {
    fn default() -> Self {
        Self {
            replication: Replication::Synchronous,
            detection: FailureDetection::Fast,
            settings: Vec::new(),
        }
    }
}

/// What the monitor says of a data node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeState {
    pub name: String,
    pub port: u16,
    /// The state the node's keeper last reported (`primary`, `secondary`,
    /// `wait_primary`, `catchingup`, …).
    pub reported: String,
    /// The state the monitor assigned it.
    pub goal: String,
    /// Whether its keeper last reported its PostgreSQL running.
    pub running: bool,
    /// How long ago its keeper last reported.
    pub report_age: Duration,
}

impl NodeState {
    /// Whether the monitor means it to take writes.
    #[must_use]
    pub fn goal_is_writable(&self) -> bool {
        matches!(self.goal.as_str(), "single" | "wait_primary" | "primary")
    }

    /// Whether it is in `state` and meant to stay there.
    #[must_use]
    pub fn is(&self, state: &str) -> bool {
        self.reported == state && self.goal == state
    }
}

/// The ports, fixed when the formation is made: the monitor knows its
/// nodes by host and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Layout {
    monitor: u16,
    nodes: [u16; 2],
}

/// A formation of ours. Dropped, it stops every node (on success, on error
/// and after Ctrl-C alike); a scratch formation's folder is removed too.
pub struct Formation {
    folder: PathBuf,
    autoctl: Autoctl,
    monitor: Node,
    nodes: [Node; 2],
    scratch: bool,
}

impl Formation {
    /// Makes a new formation in `folder` (absent or empty) on free ports
    /// and starts it: the monitor, the first node (the primary), then the
    /// second, a base backup of the first (the standby); returns once they
    /// are primary and secondary. Installs pg_auto_failover first where
    /// that is allowed.
    ///
    /// # Errors
    /// When `folder` is not empty, pg_auto_failover is missing, or a node
    /// cannot be made or started (the message ends with its log).
    pub fn create(folder: &Path, settings: &FormationSettings) -> anyhow::Result<Self> {
        let occupied = fs::read_dir(folder).is_ok_and(|mut entries| entries.next().is_some());
        if occupied {
            bail!(
                "{} is not empty; a formation is made in an empty folder",
                folder.display()
            );
        }
        fs::create_dir_all(folder).with_context(|| format!("creating {}", folder.display()))?;
        Self::create_in(folder.to_path_buf(), settings, false)
    }

    /// A new formation in a fresh folder under /var/tmp, removed when it
    /// drops: for tests. Sweeps up what killed runs left first.
    ///
    /// # Errors
    /// As [`Formation::create`].
    pub fn scratch(settings: &FormationSettings) -> anyhow::Result<Self> {
        let root = scratch_root();
        remove_leftovers(&root);
        let folder = FOLDERS.create(&root)?;
        match Self::create_in(folder.clone(), settings, true) {
            Ok(formation) => Ok(formation),
            Err(error) => {
                stop_left_running(&folder);
                let _ = fs::remove_dir_all(&folder);
                Err(error)
            }
        }
    }

    /// Stops what a killed run left running in `folder` and deletes it: for
    /// a formation no value holds (`--fresh`, one left unfinished).
    ///
    /// # Errors
    /// When the folder cannot be deleted.
    pub fn remove(folder: &Path) -> anyhow::Result<()> {
        stop_left_running(folder);
        fs::remove_dir_all(folder).with_context(|| format!("removing {}", folder.display()))
    }

    /// Whether formations can be made here: PostgreSQL and
    /// pg_auto_failover are installed, or will be (root on Debian).
    ///
    /// # Errors
    /// Saying what is missing and how to install it.
    pub fn check_available() -> anyhow::Result<()> {
        if crate::packages::can_install()? {
            return Ok(());
        }
        let bin = PgBin::find().context(
            "PostgreSQL is not installed (apt-get install postgresql-15-auto-failover brings it)",
        )?;
        Autoctl::check(&bin, Account::detect()?)
    }

    /// Whether `folder` holds a complete formation.
    #[must_use]
    pub fn exists(folder: &Path) -> bool {
        folder.join(LAYOUT_FILE).is_file()
    }

    /// The formation in `folder`, not started (see [`Formation::start`]).
    ///
    /// # Errors
    /// When `folder` holds no complete formation, or pg_auto_failover is
    /// missing.
    pub fn open(folder: &Path) -> anyhow::Result<Self> {
        let path = folder.join(LAYOUT_FILE);
        let text = fs::read_to_string(&path).with_context(|| {
            format!("{} holds no formation (no {LAYOUT_FILE})", folder.display())
        })?;
        let layout: Layout =
            serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
        Self::assemble(folder.to_path_buf(), layout, false)
    }

    fn assemble(folder: PathBuf, layout: Layout, scratch: bool) -> anyhow::Result<Self> {
        let bin = PgBin::find_or_install()?;
        let account = Account::detect()?;
        let autoctl = Autoctl::find_or_install(&bin, account)?;
        let node = |name: &'static str, port| Node {
            name,
            cluster: Cluster::new(bin.clone(), account, folder.join(name), port),
            keeper: None,
        };
        Ok(Self {
            monitor: node(MONITOR, layout.monitor),
            nodes: [
                node(DATA_NODES[0], layout.nodes[0]),
                node(DATA_NODES[1], layout.nodes[1]),
            ],
            folder,
            autoctl,
            scratch,
        })
    }

    fn create_in(
        folder: PathBuf,
        settings: &FormationSettings,
        scratch: bool,
    ) -> anyhow::Result<Self> {
        let layout = Layout {
            monitor: net::free_port()?,
            nodes: distinct_ports()?,
        };
        let mut formation = Self::assemble(folder, layout, scratch)?;
        say!(
            "creating a pg_auto_failover formation in {}",
            formation.folder.display()
        );
        formation.create_monitor(settings.detection)?;
        formation.create_node(0, settings)?;
        formation.create_node(1, settings)?;
        formation.wait_ready(CREATE_WITHIN)?;
        let path = formation.folder.join(LAYOUT_FILE);
        let text = serde_json::to_string_pretty(&layout).context("writing the layout")?;
        fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        Ok(formation)
    }

    fn create_monitor(&mut self, detection: FailureDetection) -> anyhow::Result<()> {
        let monitor = &self.monitor.cluster;
        monitor.prepare_base()?;
        monitor.init()?;
        let settings: Vec<(&str, &str)> = NODE_SETTINGS
            .iter()
            .chain(detection.settings())
            .copied()
            .collect();
        append_settings(&monitor.data_dir(), &settings)?;
        let args = [
            "create",
            "monitor",
            "--hostname",
            "127.0.0.1",
            "--listen",
            "127.0.0.1",
            "--auth",
            "trust",
            "--no-ssl",
        ];
        self.autoctl.run(
            monitor.base(),
            &self.node_args(monitor, &args),
            CREATE_WITHIN,
        )?;
        self.start_keeper(KeeperOf::Monitor)?;
        self.wait_for_monitor()
    }

    /// The first node is initialised here and registers as the primary;
    /// the second is left empty for pg_autoctl's base backup.
    fn create_node(&mut self, index: usize, settings: &FormationSettings) -> anyhow::Result<()> {
        let cluster = &self.nodes[index].cluster;
        cluster.prepare_base()?;
        if index == 0 {
            cluster.init()?;
            let extra = parse_settings(&settings.settings)?;
            let all: Vec<(&str, &str)> = NODE_SETTINGS.iter().copied().chain(extra).collect();
            append_settings(&cluster.data_dir(), &all)?;
        }
        let quorum = match settings.replication {
            Replication::Synchronous => "true",
            Replication::Asynchronous => "false",
        };
        let monitor = self.monitor_url().to_url();
        let args = [
            "create",
            "postgres",
            "--name",
            self.nodes[index].name,
            "--hostname",
            "127.0.0.1",
            "--pghost",
            "127.0.0.1",
            "--listen",
            "127.0.0.1",
            "--monitor",
            &monitor,
            "--auth",
            "trust",
            "--no-ssl",
            "--replication-quorum",
            quorum,
        ];
        self.autoctl.run(
            cluster.base(),
            &self.node_args(cluster, &args),
            CREATE_WITHIN,
        )?;
        self.start_keeper(KeeperOf::Data(index))
    }

    /// `args` and the node's PGDATA, port and pg_ctl.
    fn node_args(&self, cluster: &Cluster, args: &[&str]) -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(ToString::to_string).collect();
        all.extend([
            "--pgdata".to_owned(),
            cluster.data_dir().display().to_string(),
            "--pgport".to_owned(),
            cluster.port().to_string(),
            "--pgctl".to_owned(),
            self.autoctl.pg_ctl().display().to_string(),
        ]);
        all
    }

    /// Starts the monitor, then the primary, then, once the monitor has
    /// heard from the primary that its PostgreSQL runs, the standby, and
    /// waits until they are primary and secondary; stops what a killed run
    /// left running on these folders first. The order matters: a keeper
    /// refuses to start without its monitor, and a keeper's first report
    /// may say that its PostgreSQL is not running yet, which the monitor
    /// takes for a failure at once, grace period or not; with the standby
    /// reporting by then, it failed over at every few restarts.
    ///
    /// # Errors
    /// When a keeper cannot be started or the formation is not ready in
    /// two minutes.
    pub fn start(&mut self) -> anyhow::Result<()> {
        stop_left_running(&self.folder);
        for port in self.ports() {
            if !net::port_is_free(port) {
                bail!(
                    "port {port} of the formation in {} is taken by another program",
                    self.folder.display()
                );
            }
        }
        self.start_keeper(KeeperOf::Monitor)?;
        self.wait_for_monitor()?;
        let states = blocking(self.states())?;
        let primary = self.nodes.iter().position(|node| {
            states
                .iter()
                .any(|state| state.name == node.name && state.goal_is_writable())
        });
        if let Some(first) = primary {
            let started = Instant::now();
            self.start_keeper(KeeperOf::Data(first))?;
            self.wait_for_report(first, started)?;
        }
        self.start_keeper(KeeperOf::Data(0))?;
        self.start_keeper(KeeperOf::Data(1))?;
        self.wait_ready(CREATE_WITHIN).map(drop)
    }

    /// Until the monitor holds a report from data node `index`, made
    /// since `started`, that its PostgreSQL runs.
    fn wait_for_report(&mut self, index: usize, started: Instant) -> anyhow::Result<()> {
        let name = self.nodes[index].name;
        blocking(async {
            loop {
                let states = self.states().await.unwrap_or_default();
                let reported = states.iter().any(|state| {
                    state.name == name && state.running && state.report_age < started.elapsed()
                });
                if reported {
                    return Ok(());
                }
                self.check_keepers()?;
                if started.elapsed() >= CREATE_WITHIN {
                    bail!("{name} did not report its PostgreSQL running within {CREATE_WITHIN:?}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    }

    fn ports(&self) -> [u16; 3] {
        [
            self.monitor.cluster.port(),
            self.nodes[0].cluster.port(),
            self.nodes[1].cluster.port(),
        ]
    }

    fn node_mut(&mut self, of: KeeperOf) -> &mut Node {
        match of {
            KeeperOf::Monitor => &mut self.monitor,
            KeeperOf::Data(index) => &mut self.nodes[index],
        }
    }

    fn start_keeper(&mut self, of: KeeperOf) -> anyhow::Result<()> {
        let autoctl = self.autoctl.clone();
        let node = self.node_mut(of);
        if node
            .keeper
            .as_mut()
            .is_some_and(|keeper| matches!(keeper.try_wait(), Ok(None)))
        {
            return Ok(());
        }
        node.keeper = Some(autoctl.spawn_run(node.folder())?);
        Ok(())
    }

    /// Until the monitor answers queries on its node table.
    fn wait_for_monitor(&mut self) -> anyhow::Result<()> {
        blocking(async {
            let started = Instant::now();
            while self.states().await.is_err() {
                self.check_keepers()?;
                if started.elapsed() >= MONITOR_READY_WITHIN {
                    let log = autoctl::log_file(self.monitor.folder());
                    bail!(
                        "the monitor did not answer within {MONITOR_READY_WITHIN:?}; the end of {}:\n{}",
                        log.display(),
                        process::tail(&log, 15)
                    );
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(())
        })
    }

    /// Fails when a keeper that was started has exited, or on Ctrl-C.
    fn check_keepers(&mut self) -> anyhow::Result<()> {
        if interrupt::interrupted() {
            bail!("interrupted while waiting for the formation");
        }
        for node in std::iter::once(&mut self.monitor).chain(self.nodes.iter_mut()) {
            let Some(keeper) = node.keeper.as_mut() else {
                continue;
            };
            if let Some(status) = keeper.try_wait().context("watching a keeper")? {
                node.keeper = None;
                bail!(
                    "pg_autoctl of {} exited ({status}); the end of its log:\n{}",
                    node.name,
                    process::tail(&autoctl::log_file(node.folder()), 15)
                );
            }
        }
        Ok(())
    }

    /// Waits until one data node is primary and the other secondary, as
    /// the monitor sees them; returns how long that took. Not from inside
    /// an async runtime: see [`Formation::wait_ready_async`].
    ///
    /// # Errors
    /// When a keeper exits, a Ctrl-C comes, or `within` passes (the message
    /// names the states last seen).
    pub fn wait_ready(&mut self, within: Duration) -> anyhow::Result<Duration> {
        blocking(self.wait_ready_async(within))
    }

    /// [`Formation::wait_ready`] for async code.
    ///
    /// # Errors
    /// As [`Formation::wait_ready`].
    pub async fn wait_ready_async(&mut self, within: Duration) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let mut seen = Vec::new();
        loop {
            if let Ok(states) = self.states().await {
                if is_ready(&states) && self.both_answer().await {
                    return Ok(started.elapsed());
                }
                seen = states;
            }
            self.check_keepers()?;
            if started.elapsed() >= within {
                let seen: Vec<String> = seen
                    .iter()
                    .map(|node| format!("{} {}→{}", node.name, node.reported, node.goal))
                    .collect();
                bail!(
                    "the formation was not primary and secondary within {within:?} (last seen: {})",
                    seen.join(", ")
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    /// Stops the monitor first, so that no node's going is taken for a
    /// failure, then both nodes. The data stays.
    ///
    /// # Errors
    /// When a keeper cannot be stopped (the others are stopped anyway).
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let mut outcome = stop_keeper(&mut self.monitor);
        for node in &mut self.nodes {
            let stopped = stop_keeper(node);
            if outcome.is_ok() {
                outcome = stopped;
            }
        }
        outcome
    }

    #[must_use]
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// One line for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "pg_auto_failover formation in {}: monitor on 127.0.0.1:{}, {} on {} and {} on {}",
            self.folder.display(),
            self.monitor.cluster.port(),
            self.nodes[0].name,
            self.nodes[0].cluster.port(),
            self.nodes[1].name,
            self.nodes[1].cluster.port()
        )
    }
}

impl Drop for Formation {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            say!("warning: {error:#}");
        }
        if self.scratch {
            match fs::remove_dir_all(&self.folder) {
                Ok(()) => say!("stopped and removed the scratch formation"),
                Err(error) => say!(
                    "warning: could not remove {}: {error}",
                    self.folder.display()
                ),
            }
        }
    }
}

fn is_ready(states: &[NodeState]) -> bool {
    states.len() == 2
        && states.iter().any(|node| node.is("primary"))
        && states.iter().any(|node| node.is("secondary"))
}

fn distinct_ports() -> anyhow::Result<[u16; 2]> {
    let first = net::free_port()?;
    loop {
        let second = net::free_port()?;
        if second != first {
            return Ok([first, second]);
        }
    }
}

/// /var/tmp, as for scratch clusters: reachable by the postgres user.
fn scratch_root() -> PathBuf {
    let var_tmp = PathBuf::from("/var/tmp");
    if var_tmp.is_dir() {
        var_tmp
    } else {
        std::env::temp_dir()
    }
}

fn remove_leftovers(root: &Path) {
    for folder in FOLDERS.left_by_killed_runs(root) {
        say!(
            "removing a scratch formation left by a killed run: {}",
            folder.display()
        );
        stop_left_running(&folder);
        let _ = fs::remove_dir_all(&folder);
    }
}
