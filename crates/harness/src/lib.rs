//! Driving the record shop from outside, for every tool that does:
//! `cargo xtask`, the experiment tool, the fault suite, API fuzzing and
//! `rest-docs`.
//!
//! - [`postgres`]: PostgreSQL's programs found (and installed where that is
//!   safe), clusters in folders of ours on ports of ours ([`postgres::Cluster`],
//!   thrown away with [`postgres::Scratch`]), pg_auto_failover formations of
//!   a monitor, a primary and a synchronous standby
//!   ([`postgres::Formation`]), databases created and dropped
//!   through an admin connection ([`postgres::Admin`]), URLs edited as values
//!   ([`postgres::DatabaseUrl`]); [`seed`]: the demo data and its fixed ids.
//! - [`server`]: the `recordshop` process: one [`server::Launch`] saying how
//!   to start it (binary, database, strategy, key, listen address, log,
//!   extra settings) under one environment policy, and the running
//!   [`server::Server`]: migrate, wait until ready, SIGTERM, SIGKILL, log
//!   tail, memory samples.
//! - [`api`]: the HTTP API as the tools call it, each answer reduced to a
//!   [`api::Reply`].
//! - [`ledger`]: the verdict on the stock ledger after a run.
//! - [`scrape`]: a server's `/metrics`, and what a run did inside as the
//!   difference of two scrapes; [`otlp`]: a receiver for the traces it
//!   exports.
//! - [`nginx`]: nginx in front of several servers ([`nginx::Proxy`]), with
//!   the configuration that keeps a POST from running twice;
//!   [`prometheus`]: Prometheus scraping their metrics; [`fleet`]: several
//!   servers behind a scratch nginx, for the async tools.
//! - [`rabbitmq`]: RabbitMQ brokers in folders of ours on ports of ours
//!   ([`rabbitmq::Broker`], thrown away with [`rabbitmq::Broker::scratch`]),
//!   stopped, killed and restarted for the event relay's outage tests.
//! - [`signing`]: the key a server verifies tokens with, and tokens minted
//!   under it.
//! - [`process`], [`interrupt`], [`net`], [`packages`]: child processes,
//!   Ctrl-C, ports, Debian packages installed where that is safe.
//!
//! Everything that only starts programs and waits for them is synchronous,
//! as `cargo xtask` is; what talks to PostgreSQL or drives HTTP load is
//! async (tokio), and [`blocking`] runs it from synchronous code. Nothing
//! here is a singleton: several clusters, servers and proxies can run side
//! by side, each on its own port with its own folder.

pub mod api;
pub mod fleet;
pub mod interrupt;
pub mod ledger;
pub mod memory;
pub mod net;
pub mod nginx;
pub mod otlp;
pub mod packages;
pub mod postgres;
pub mod process;
pub mod prometheus;
pub mod rabbitmq;
pub mod scrape;
mod scratch;
pub mod seed;
pub mod server;
pub mod signing;
#[cfg(test)]
mod testing;

use std::future::Future;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// Runs `future` to completion on a runtime of its own: async parts of the
/// harness called from synchronous code (`cargo xtask`). Must not be called
/// from inside a runtime.
///
/// # Errors
/// When the runtime cannot be built, or the future fails.
pub fn blocking<T>(future: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("building a runtime")?
        .block_on(future)
}

/// The workspace this crate was built in: where `seed/`, `migrations/` and
/// `target/` are.
#[must_use]
pub fn workspace_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Canonical for readable messages; the joined path works as well.
    root.canonicalize().unwrap_or(root)
}

/// Cargo's target directory for this workspace (`CARGO_TARGET_DIR` when set).
#[must_use]
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

/// Prints one line of what a tool is doing, apart from its children's
/// output, prefixed with the tool's name.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => { eprintln!("{}: {}", $crate::process::tool_name(), format_args!($($arg)*)) };
}
