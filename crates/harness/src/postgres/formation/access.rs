//! What clients and fault injection use of a running formation: its URLs,
//! the monitor's view, the application's database, and its nodes'
//! processes.

use std::path::PathBuf;
use std::process::Child;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use tokio_postgres::config::TargetSessionAttrs;

use super::node::{KeeperOf, Node, postmaster_of, stop_keeper};
use super::{DATA_NODES, Formation, NodeState};
use crate::postgres::autoctl;
use crate::postgres::{Admin, DatabaseName, DatabaseUrl, connect};
use crate::process;

impl Formation {
    /// Whether a read-write and a read-only session can be had: the
    /// monitor's table still shows the states of before a restart while
    /// the servers start.
    pub(super) async fn both_answer(&self) -> bool {
        connect(&self.admin_url()).await.is_ok()
            && connect(&self.read_only_url("postgres")).await.is_ok()
    }

    /// The data nodes as the monitor sees them, in the order they joined.
    ///
    /// # Errors
    /// When the monitor cannot be queried.
    pub async fn states(&self) -> anyhow::Result<Vec<NodeState>> {
        let client = connect(&self.monitor_admin_url()).await?;
        let rows = client
            .query(
                "SELECT nodename, nodeport, reportedstate::text, goalstate::text, \
                        reportedpgisrunning, \
                        greatest(extract(epoch FROM now() - reporttime), 0)::float8 \
                 FROM pgautofailover.node WHERE formationid = 'default' ORDER BY nodeid",
                &[],
            )
            .await
            .context("reading the monitor's node table")?;
        rows.iter()
            .map(|row| {
                let port: i32 = row.try_get(1)?;
                let age: f64 = row.try_get(5)?;
                Ok(NodeState {
                    name: row.try_get(0)?,
                    port: u16::try_from(port).context("a node's port")?,
                    reported: row.try_get(2)?,
                    goal: row.try_get(3)?,
                    running: row.try_get(4)?,
                    report_age: Duration::try_from_secs_f64(age).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// The node the monitor holds for the primary right now, if any.
    ///
    /// # Errors
    /// When the monitor cannot be queried.
    pub async fn primary(&self) -> anyhow::Result<Option<NodeState>> {
        Ok(self
            .states()
            .await?
            .into_iter()
            .find(|node| node.is("primary")))
    }

    /// `database` for the application: both data nodes, in order, with
    /// `target_session_attrs=read-write`, so a client connects to whichever
    /// is the primary, before and after a failover.
    #[must_use]
    pub fn url(&self, database: &str) -> DatabaseUrl {
        self.both_nodes(database, TargetSessionAttrs::ReadWrite)
    }

    /// `database` on whichever node accepts read-only sessions: the standby
    /// (`target_session_attrs=read-only`); fails to connect while there is
    /// none.
    #[must_use]
    pub fn read_only_url(&self, database: &str) -> DatabaseUrl {
        self.both_nodes(database, TargetSessionAttrs::ReadOnly)
    }

    /// The primary's maintenance database, for [`Admin`].
    #[must_use]
    pub fn admin_url(&self) -> DatabaseUrl {
        self.url("postgres")
    }

    /// `database` on the data node `name` alone.
    ///
    /// # Errors
    /// When there is no such node.
    pub fn node_url(&self, name: &str, database: &str) -> anyhow::Result<DatabaseUrl> {
        Ok(DatabaseUrl::local(
            self.node(name)?.cluster.port(),
            database,
        ))
    }

    fn both_nodes(&self, database: &str, attributes: TargetSessionAttrs) -> DatabaseUrl {
        let mut config = tokio_postgres::Config::new();
        config.user("postgres").dbname(database);
        for node in &self.nodes {
            config.host("127.0.0.1").port(node.cluster.port());
        }
        config.target_session_attrs(attributes);
        DatabaseUrl::from(config)
    }

    /// What the data nodes' keepers use: `autoctl_node` on the monitor's
    /// database.
    pub(super) fn monitor_url(&self) -> DatabaseUrl {
        let mut config = DatabaseUrl::local(self.monitor.cluster.port(), "pg_auto_failover")
            .config()
            .clone();
        config.user("autoctl_node");
        DatabaseUrl::from(config)
    }

    fn monitor_admin_url(&self) -> DatabaseUrl {
        DatabaseUrl::local(self.monitor.cluster.port(), "pg_auto_failover")
    }

    /// Creates `database` on the primary if it is missing (the standby gets
    /// it by replication); returns its [`Formation::url`]. The role is
    /// `postgres`, as on the tools' other clusters.
    ///
    /// # Errors
    /// When the primary cannot be reached or refuses.
    pub async fn ensure_database(&self, database: &DatabaseName) -> anyhow::Result<DatabaseUrl> {
        let admin = Admin::connect(&self.admin_url()).await?;
        if admin.exists(database).await? {
            return Ok(admin.url_of(database));
        }
        admin.create(database).await
    }

    /// Each node's keeper log (`monitor`, then the data nodes), which
    /// tells what the monitor decided and when: for a run's records,
    /// before a scratch formation goes with its folder.
    #[must_use]
    pub fn keeper_logs(&self) -> Vec<(&'static str, PathBuf)> {
        std::iter::once(&self.monitor)
            .chain(&self.nodes)
            .map(|node| (node.name, autoctl::log_file(node.folder())))
            .collect()
    }

    /// The names of the data nodes.
    #[must_use]
    pub fn data_nodes(&self) -> [&str; 2] {
        DATA_NODES
    }

    fn node(&self, name: &str) -> anyhow::Result<&Node> {
        self.nodes
            .iter()
            .find(|node| node.name == name)
            .with_context(|| format!("the formation has no data node {name:?}"))
    }

    fn index_of(&self, name: &str) -> anyhow::Result<usize> {
        self.nodes
            .iter()
            .position(|node| node.name == name)
            .with_context(|| format!("the formation has no data node {name:?}"))
    }

    /// The pid of data node `name`'s postmaster, while it runs: the process
    /// a `kill -9` of "its PostgreSQL" signals (its keeper restarts it).
    ///
    /// # Errors
    /// When there is no such node.
    pub fn postmaster_pid(&self, name: &str) -> anyhow::Result<Option<u32>> {
        Ok(postmaster_of(self.node(name)?.folder()))
    }

    /// The pid of data node `name`'s keeper (`pg_autoctl run`), while it
    /// runs.
    ///
    /// # Errors
    /// When there is no such node.
    pub fn keeper_pid(&self, name: &str) -> anyhow::Result<Option<u32>> {
        Ok(self.node(name)?.keeper.as_ref().map(Child::id))
    }

    /// SIGKILL to data node `name`'s keeper, its services and its
    /// PostgreSQL at once, as a crash of its machine: nothing restarts it
    /// until [`Formation::start_node`].
    ///
    /// # Errors
    /// When there is no such node or it cannot be killed.
    pub fn kill_node(&mut self, name: &str) -> anyhow::Result<()> {
        let index = self.index_of(name)?;
        let node = &mut self.nodes[index];
        let postmaster = postmaster_of(node.folder());
        if let Some(mut keeper) = node.keeper.take() {
            process::stop_group(&mut keeper, Signal::SIGKILL, Duration::ZERO)?;
        }
        if let Some(pid) = postmaster {
            // Gone with its keeper's group already, usually.
            let _ = process::signal(pid, Signal::SIGKILL);
        }
        Ok(())
    }

    /// Starts data node `name`'s keeper again (after [`Formation::kill_node`]
    /// or [`Formation::stop_node`]); it rejoins as the monitor says, a
    /// demoted primary as a standby. Returns at once: see
    /// [`Formation::wait_ready`].
    ///
    /// # Errors
    /// When there is no such node or it cannot be started.
    pub fn start_node(&mut self, name: &str) -> anyhow::Result<()> {
        let index = self.index_of(name)?;
        self.start_keeper(KeeperOf::Data(index))
    }

    /// Stops data node `name` cleanly (SIGTERM to its keeper, which stops
    /// its PostgreSQL); the monitor sees it go.
    ///
    /// # Errors
    /// When there is no such node or it cannot be stopped.
    pub fn stop_node(&mut self, name: &str) -> anyhow::Result<()> {
        let index = self.index_of(name)?;
        stop_keeper(&mut self.nodes[index])
    }
}
