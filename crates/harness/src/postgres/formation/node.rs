//! One node of a formation: its folder, its keeper, its settings file,
//! and what a killed run left running in it.

use std::fs;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;

use super::{DATA_NODES, MONITOR, POSTMASTER_EXIT, STOP_GRACE};
use crate::postgres::autoctl;
use crate::postgres::{Account, Cluster, PgBin};
use crate::{process, say};

/// One node: its folder and port as a [`Cluster`] (for initdb and its
/// files; pg_ctl is pg_autoctl's), and its running keeper.
pub(super) struct Node {
    pub(super) name: &'static str,
    pub(super) cluster: Cluster,
    pub(super) keeper: Option<Child>,
}

impl Node {
    pub(super) fn folder(&self) -> &Path {
        self.cluster.base()
    }
}

#[derive(Clone, Copy)]
pub(super) enum KeeperOf {
    Monitor,
    Data(usize),
}

/// SIGTERM to the node's keeper, which stops its PostgreSQL (a fast
/// shutdown) and exits; SIGKILL to its group after a minute, and to a
/// PostgreSQL still running 10 s after its keeper.
pub(super) fn stop_keeper(node: &mut Node) -> anyhow::Result<()> {
    let Some(mut keeper) = node.keeper.take() else {
        return Ok(());
    };
    let postmaster = postmaster_of(node.folder());
    process::stop_group(&mut keeper, Signal::SIGTERM, STOP_GRACE)
        .with_context(|| format!("stopping pg_autoctl of {}", node.name))?;
    let Some(pid) = postmaster else {
        return Ok(());
    };
    // pg_ctl's wait ends when the pid file goes, a moment before the
    // server's last process does.
    let gone = process::wait_until(POSTMASTER_EXIT, Duration::from_millis(20), || {
        Ok((!process::runs(pid, "postgres")).then_some(()))
    })?;
    if gone.is_none() {
        say!(
            "PostgreSQL of {} (pid {pid}) outlived its keeper; killing it",
            node.name
        );
        let _ = process::signal(pid, Signal::SIGKILL);
    }
    Ok(())
}

/// The running postmaster of the node in `folder`.
pub(super) fn postmaster_of(folder: &Path) -> Option<u32> {
    process::left_running(&folder.join("data").join("postmaster.pid"), "postgres")
}

/// `name=value` settings, split.
pub(super) fn parse_settings(settings: &[String]) -> anyhow::Result<Vec<(&str, &str)>> {
    settings
        .iter()
        .map(|setting| {
            setting
                .split_once('=')
                .map(|(name, value)| (name.trim(), value.trim()))
                .with_context(|| format!("{setting:?} is not a name=value setting"))
        })
        .collect()
}

/// Appends `settings` to the PGDATA's `postgresql.auto.conf`, where they
/// win over pg_autoctl's file and stay when pg_autoctl runs `ALTER SYSTEM`.
pub(super) fn append_settings(data: &Path, settings: &[(&str, &str)]) -> anyhow::Result<()> {
    use std::io::Write;
    let path = data.join("postgresql.auto.conf");
    let mut file = fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(render_settings(settings).as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub(super) fn render_settings(settings: &[(&str, &str)]) -> String {
    settings
        .iter()
        .map(|(name, value)| format!("{name} = '{}'\n", value.replace('\'', "''")))
        .collect()
}

/// The keepers and servers a killed run left on the nodes in `folder`:
/// each keeper is asked to stop (it stops its PostgreSQL), a server
/// without a keeper is stopped with pg_ctl.
pub(super) fn stop_left_running(folder: &Path) {
    for name in std::iter::once(MONITOR).chain(DATA_NODES) {
        let node = folder.join(name);
        if let Some(pid) = process::left_running(&autoctl::pid_file(&node), "pg_autoctl") {
            say!(
                "stopping the pg_autoctl (pid {pid}) a killed run left in {}",
                node.display()
            );
            // It stops its PostgreSQL first.
            process::stop_left_running(pid, Signal::SIGTERM, STOP_GRACE);
        }
        if let Some(pid) = postmaster_of(&node) {
            say!(
                "stopping the PostgreSQL (pid {pid}) a killed run left in {}",
                node.display()
            );
            let stopped = PgBin::find()
                .zip(Account::detect().ok())
                .map(|(bin, account)| Cluster::new(bin, account, node.clone(), 0).stop());
            if !matches!(stopped, Some(Ok(()))) {
                let _ = process::signal(pid, Signal::SIGKILL);
            }
        }
    }
}
