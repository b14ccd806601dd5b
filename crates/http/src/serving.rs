//! The HTTP server itself: the [`app`](crate::app) behind the request
//! limits and the drain, on a listener the caller bound, with the limits on
//! connections that keep slow or idle clients from holding the server.
//! Signals and the order of a shutdown are the binary's; this module only
//! builds the server and hands back what stops it.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::dev::Server;
use actix_web::middleware::from_fn;

use crate::drain::{self, Drain};
use crate::limits;
use crate::state::AppState;

/// A client gets this long to send a request's head (line and headers)
/// before it is answered 408 and cut off, so slow clients cannot hold
/// connections open for free.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an idle kept-alive connection stays open between requests.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// How long a closing connection may take to flush its last response.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Connections per worker at most; past that, new ones wait in the
/// kernel's listen backlog. Bounds the sockets and memory a flood of idle
/// connections can take (actix's default is 25,000 per worker, far past
/// the usual 1,024 open files).
const MAX_CONNECTIONS_PER_WORKER: usize = 256;

/// How the server runs.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// Worker threads.
    pub workers: usize,
    /// The longest actix waits for connections to finish once stopped
    /// gracefully.
    pub shutdown_grace: Duration,
}

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
            .wrap(from_fn(limits::body_deadline))
            .wrap(from_fn(limits::head_limit))
            .wrap(from_fn(drain::middleware))
    })
    .workers(options.workers)
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .max_connections(MAX_CONNECTIONS_PER_WORKER)
    .disable_signals()
    .shutdown_timeout(options.shutdown_grace.as_secs())
    .listen(listener)?
    .run();
    Ok(Serving { server, drain })
}
