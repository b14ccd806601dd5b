//! The HTTP server itself: the [`app`](crate::app) behind the drain, on a
//! listener the caller bound, with the limits on connections that keep
//! slow or idle clients from holding the server.
//! Signals and the order of a shutdown are the binary's; this module only
//! builds the server and hands back what stops it.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;

use crate::drain::{self, Drain};
use crate::state::AppState;

/// A client gets this long to send a request's head (line and headers)
/// before it is answered 408 and cut off, so slow clients cannot hold
/// connections open for free.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle kept-alive connection stays open between requests.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// How long a closing connection may take to flush its last response.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How the server runs.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Worker threads.
    pub workers: usize,
    /// The longest actix waits for connections to finish once stopped
    /// gracefully.
    pub shutdown_grace: Duration,
    /// Open connections at most, over all workers; past that, new ones
    /// wait in the kernel's listen backlog. See [`ServeOptions::connections_for`].
    pub max_connections: usize,
}

impl ServeOptions {
    /// Connections at most when the process may hold `open_files` file
    /// descriptors: all of them but a reserve for the database pool, logs
    /// and the listener, and at most [`MAX_CONNECTIONS`].
    ///
    /// Idle connections are what a slow or careless client leaves behind,
    /// and each costs a few KiB; a cap far below the descriptors the
    /// process has (actix's 256-per-worker of old) let 600 idle
    /// connections make every new client wait in the backlog until the idle
    /// ones were cut after 5 s. The head timeout closes idle ones; the cap
    /// only has to keep the process within its descriptors.
    #[must_use]
    pub fn connections_for(open_files: u64, pool_size: usize) -> usize {
        let reserve = 64 + pool_size as u64;
        let fit = usize::try_from(open_files.saturating_sub(reserve)).unwrap_or(usize::MAX);
        fit.clamp(1, MAX_CONNECTIONS)
    }
}

/// Open connections at most, whatever the descriptors allow: 32,768 idle
/// connections are about 100 MiB of buffers at worst.
pub const MAX_CONNECTIONS: usize = 32_768;

/// A running server and the drain its requests pass through.
pub struct Serving {
    /// Resolves when the server stops; its handle stops it.
    pub server: Server,
    /// Counts requests in flight; `begin` starts refusing new ones.
    pub drain: Drain,
}

/// Serves `state` on `listener`. Signals are left to the caller
/// (`disable_signals`): it drains first, then stops the server.
///
/// # Errors
/// When the listener cannot be used.
pub fn serve(
    listener: TcpListener,
    state: AppState,
    options: ServeOptions,
) -> std::io::Result<Serving> {
    let drain = Drain::default();
    let app_drain = drain.clone();
    let server = HttpServer::new(move || {
        crate::app(state.clone())
            .app_data(app_drain.clone())
            .wrap(from_fn(drain::middleware))
    })
    .workers(options.workers)
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .max_connections(options.max_connections.div_ceil(options.workers.max(1)))
    .disable_signals()
    .shutdown_timeout(options.shutdown_grace.as_secs())
    .listen(listener)?
    .run();
    Ok(Serving { server, drain })
}
