//! Several `recordshop` servers behind one scratch nginx, for the async
//! tools (the fault suite's HA scenarios, the experiment's `proxy` study):
//! the servers from their [`Launch`]es, each waited for until ready, then
//! a [`Proxy`] on a free loopback port in front of them, round-robin.
//!
//! `cargo xtask run --topology ha` starts the same shape synchronously, in
//! folders that outlive it; this one lives only as long as its value. A
//! fleet stops in the order that loses nothing: nginx first (requests in
//! flight finish, no new ones come), then each server with SIGTERM. Dropped
//! instead, nginx is stopped and the servers are killed.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;

use crate::net;
use crate::nginx::{Proxy, ProxySettings};
use crate::server::{Exit, Launch, Server};

/// Servers behind a scratch nginx.
pub struct Fleet {
    /// `None` once stopped (the field is taken off the runtime's threads
    /// to stop, as nginx's stop waits).
    proxy: Option<Proxy>,
    launches: Vec<Launch>,
    /// `None` for a server killed or stopped by the caller.
    servers: Vec<Option<Server>>,
}

impl Fleet {
    /// Starts a server from each of `launches` (their databases migrated
    /// already: several servers migrating one database at once would race),
    /// waits until each is ready within `ready_within`, then starts nginx in
    /// front of them; returns how long the slowest server took to be ready.
    ///
    /// # Errors
    /// When a server does not start or get ready, or nginx does not start;
    /// what was started is stopped.
    pub async fn start(
        launches: Vec<Launch>,
        ready_within: Duration,
    ) -> anyhow::Result<(Self, Duration)> {
        let mut servers = Vec::with_capacity(launches.len());
        for launch in &launches {
            servers.push(Some(launch.start()?));
        }
        let mut slowest = Duration::ZERO;
        for server in servers.iter_mut().flatten() {
            slowest = slowest.max(server.wait_ready_async(ready_within).await?);
        }
        let listen = SocketAddr::from(([127, 0, 0, 1], net::free_port()?));
        let upstreams = launches
            .iter()
            .map(|launch| SocketAddr::from(([127, 0, 0, 1], launch.port())))
            .collect();
        let settings = ProxySettings::new(listen, upstreams);
        // nginx's start waits for its port with thread sleeps.
        let proxy = tokio::task::spawn_blocking(move || Proxy::scratch(settings))
            .await
            .context("the nginx start task failed")??;
        Ok((
            Self {
                proxy: Some(proxy),
                launches,
                servers,
            },
            slowest,
        ))
    }

    /// `http://127.0.0.1:<nginx's port>`: where clients reach the servers.
    #[must_use]
    pub fn base_url(&self) -> String {
        self.proxy.as_ref().map(Proxy::base_url).unwrap_or_default()
    }

    /// nginx, while it runs: its access log names the server each request
    /// went to.
    #[must_use]
    pub fn proxy(&self) -> Option<&Proxy> {
        self.proxy.as_ref()
    }

    /// How each server was started, in order: its own address
    /// ([`Launch::base_url`]), log and metrics.
    #[must_use]
    pub fn launches(&self) -> &[Launch] {
        &self.launches
    }

    /// Server `index`, unless it was killed or stopped.
    #[must_use]
    pub fn server(&self, index: usize) -> Option<&Server> {
        self.servers.get(index).and_then(Option::as_ref)
    }

    /// The servers still running.
    pub fn running(&self) -> impl Iterator<Item = &Server> {
        self.servers.iter().flatten()
    }

    /// SIGKILL to server `index`, waited for: a crash nginx must route
    /// around.
    ///
    /// # Errors
    /// When there is no such running server, or it cannot be killed.
    pub fn kill9(&mut self, index: usize) -> anyhow::Result<()> {
        let server = self
            .servers
            .get_mut(index)
            .and_then(Option::take)
            .with_context(|| format!("no running server {index} in the fleet"))?;
        server.kill9()
    }

    /// Stops nginx (what is in flight finishes), then SIGTERM to every
    /// server still running, each given `grace` before SIGKILL; returns
    /// how each server ended, in order (`None` for one already gone).
    ///
    /// # Errors
    /// When nginx or a server cannot be stopped (the others are stopped
    /// anyway; the first error is returned).
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<Vec<Option<Exit>>> {
        let mut outcome = Ok(());
        if let Some(mut proxy) = self.proxy.take() {
            let stopped = tokio::task::spawn_blocking(move || proxy.stop())
                .await
                .context("the nginx stop task failed");
            outcome = stopped.and_then(|stopped| stopped);
        }
        let mut exits = Vec::with_capacity(self.servers.len());
        for server in std::mem::take(&mut self.servers) {
            let Some(server) = server else {
                exits.push(None);
                continue;
            };
            match server.terminate_async(grace).await {
                Ok(exit) => exits.push(Some(exit)),
                Err(error) => {
                    exits.push(None);
                    if outcome.is_ok() {
                        outcome = Err(error);
                    }
                }
            }
        }
        outcome.map(|()| exits)
    }
}
