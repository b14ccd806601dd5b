//! Wiring: the PostgreSQL adapter behind the domain services, the services
//! behind the HTTP app, the app behind a listening socket.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use anyhow::Context;
use deadpool_postgres::Pool;
use recordshop_cache::{CachedDiscs, CatalogCache, Memory, ReadCache};
use recordshop_domain::customer::CustomerService;
use recordshop_domain::disc::{DiscRepository, DiscService};
use recordshop_domain::order::PurchaseOrderService;
use recordshop_events::{Relay, RelaySettings, RunningRelay};
use recordshop_http::admission::Admission;
use recordshop_http::{AppState, Drain, ServeOptions, Serving};
use recordshop_postgres::{
    AllocationWorkers, Decisions, PgCustomerRepository, PgDiscRepository,
    PgPurchaseOrderRepository, PgStoreHealth, QueueSettings, ReadReplica,
    create_pool_with_timeouts, purge_expired_idempotency_keys,
};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::Notify;
use tokio_postgres::NoTls;

use crate::config::Config;

/// How long in-flight requests may take to finish once a stop is asked for.
/// Below the 10 s most orchestrators wait before killing the process.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A server bound to its socket, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    drain: Drain,
    stop: Arc<Notify>,
    /// `GET /metrics` on `METRICS_ADDR`, with the port it bound.
    metrics: Option<(u16, Server)>,
    /// The outbox relay to `EVENTS_AMQP_URL`, when set.
    relay: Option<RunningRelay>,
}

impl Application {
    /// Builds the pool, the services and the app, and binds `config.host`
    /// and `config.port` (0 picks a free port; see [`Application::port`]).
    /// The pool is opened and its statements prepared in the background;
    /// `/health/ready` answers 200 once that is done.
    ///
    /// Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// When the pool cannot be built or the address cannot be bound.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let pool = create_pool_with_timeouts(
            config.database.clone(),
            config.pool,
            config.database_timeouts,
        )
        .context("building the connection pool")?;
        actix_web::rt::spawn(purge_idempotency_keys(pool.clone(), config.idempotency.ttl));
        // Every instance runs one; the one holding the relay's advisory lock
        // publishes (see crates/events).
        let relay = config.events_broker.clone().map(|broker| {
            tracing::info!(%broker, "relaying order events");
            Relay::new(pool.clone(), broker, RelaySettings::default()).spawn()
        });
        let admission = Admission::new(config.admission);
        let metrics = match config.metrics_addr {
            Some(address) => {
                let listener = TcpListener::bind(address)
                    .with_context(|| format!("binding METRICS_ADDR {address}"))?;
                let port = listener
                    .local_addr()
                    .context("reading the metrics address")?
                    .port();
                tracing::info!(%address, port, "serving metrics at /metrics");
                Some((
                    port,
                    crate::metrics::serve(listener, pool.clone(), admission.clone())?,
                ))
            }
            None => None,
        };
        let replica = read_replica(config)?;
        let state = app_state(pool, config, admission, read_cache(config), replica);
        let address = (config.host.as_str(), config.port);
        let listener = crate::listener::bind(address)
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let open_files = raise_open_files_limit();
        let max_connections = ServeOptions::connections_for(open_files, config.pool.max_size);
        tracing::info!(open_files, max_connections, "connection limits");
        // Signals are handled by `run_until_stopped`, which drains first.
        let Serving { server, drain } = recordshop_http::serve(
            listener,
            state,
            ServeOptions {
                workers: config.http_workers,
                shutdown_grace: SHUTDOWN_GRACE,
                max_connections,
            },
        )
        .context("listening")?;
        Ok(Self {
            port,
            server,
            drain,
            stop: Arc::new(Notify::new()),
            metrics,
            relay,
        })
    }

    /// The port `GET /metrics` is served on, when `METRICS_ADDR` is set.
    #[must_use]
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    /// The port actually bound.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server from elsewhere at once, without draining
    /// (tests).
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Asks [`Application::run_until_stopped`] to shut down as it does on
    /// SIGTERM: what tests use instead of signalling themselves.
    #[must_use]
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger(Arc::clone(&self.stop))
    }

    /// Requests in flight right now, and whether a shutdown is draining
    /// them.
    #[must_use]
    pub fn drain(&self) -> Drain {
        self.drain.clone()
    }

    /// Serves until SIGINT, SIGTERM or a [`ShutdownTrigger`], then shuts
    /// down gracefully: stops accepting connections, answers requests that
    /// arrive on open connections 503 `unavailable` with `Connection:
    /// close`, waits for the requests in flight (5 s at most), and only
    /// then stops the workers. A second signal stops at
    /// once. Also returns when the server is stopped through
    /// [`Application::handle`].
    ///
    /// # Errors
    /// When the server fails while running, or the signal handlers cannot be
    /// installed.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            server,
            drain,
            stop,
            metrics,
            relay,
            ..
        } = self;
        // Metrics are served as long as the API is, and stop with it.
        let metrics = metrics.map(|(_, server)| {
            let handle = server.handle();
            actix_web::rt::spawn(server);
            handle
        });
        let result = Self::serve_until_stopped(server, drain, stop).await;
        if let Some(metrics) = metrics {
            metrics.stop(false).await;
        }
        // After the last request: what they committed may still be sent.
        if let Some(relay) = relay {
            relay.stop().await;
        }
        result
    }

    async fn serve_until_stopped(
        server: Server,
        drain: Drain,
        stop: Arc<Notify>,
    ) -> std::io::Result<()> {
        let handle = server.handle();
        let mut signals = Signals::install()?;
        let mut server = std::pin::pin!(server);
        tokio::select! {
            result = &mut server => return result,
            () = signals.next() => {}
            () = stop.notified() => {}
        }
        let shutdown = async {
            drain.begin();
            tracing::info!(
                in_flight = drain.in_flight(),
                "shutting down: no new connections, finishing the requests in flight"
            );
            handle.pause().await;
            tokio::select! {
                settled = drain.settled(SHUTDOWN_GRACE) => {
                    if settled {
                        handle.stop(true).await;
                    } else {
                        tracing::warn!(
                            in_flight = drain.in_flight(),
                            grace_s = SHUTDOWN_GRACE.as_secs(),
                            "requests still in flight after the grace period; stopping anyway"
                        );
                        handle.stop(false).await;
                    }
                }
                () = signals.next() => {
                    tracing::warn!(in_flight = drain.in_flight(), "second signal: stopping at once");
                    handle.stop(false).await;
                }
            }
        };
        let (result, ()) = tokio::join!(server, shutdown);
        result
    }
}

/// Starts the same graceful shutdown as SIGTERM; see
/// [`Application::shutdown_trigger`].
#[derive(Clone)]
pub struct ShutdownTrigger(Arc<Notify>);

impl ShutdownTrigger {
    /// Starts the shutdown (again: no effect).
    pub fn trigger(&self) {
        // A permit, so a trigger before `run_until_stopped` waits counts too.
        self.0.notify_one();
    }
}

/// SIGINT (Ctrl-C) and SIGTERM (orchestrators, `kill`), alike.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

impl Signals {
    fn install() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => tracing::info!("SIGINT received"),
            _ = self.terminate.recv() => tracing::info!("SIGTERM received"),
        }
    }
}

/// The catalog read cache `config` asks for.
fn read_cache(config: &Config) -> Option<Arc<dyn CatalogCache>> {
    let settings = config.read_cache;
    match settings.kind {
        ReadCache::Off => None,
        ReadCache::Memory => Some(Arc::new(Memory::new(
            settings.ttl,
            recordshop_cache::MEMORY_ENTRIES,
        ))),
    }
}

/// The domain services over the PostgreSQL adapter, sharing one pool, and
/// the configured authentication. Warns when authentication is disabled:
/// that must never go unnoticed in a log.
#[must_use]
pub fn app_state(
    pool: Pool,
    config: &Config,
    admission: Admission,
    read_cache: Option<Arc<dyn CatalogCache>>,
    replica: Option<ReadReplica>,
) -> AppState {
    if !config.auth.is_enabled() {
        tracing::warn!(
            "authentication is DISABLED: every caller is staff (AUTH_DISABLED=true); \
             never expose this server"
        );
    }
    // Warmed from the start, so the first readiness probe finds the pool
    // open; until it is, the server is not ready (see `PgStoreHealth`).
    let health = PgStoreHealth::new(pool.clone());
    actix_web::rt::spawn({
        let health = health.clone();
        async move {
            if let Err(error) = health.warm_up().await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "could not warm the pool; readiness will try again"
                );
            }
        }
    });
    let mut discs = PgDiscRepository::new(pool.clone(), config.strategy)
        .with_idempotency_settings(config.idempotency);
    if let Some(replica) = replica {
        discs = discs.with_read_replica(replica);
    }
    let discs: Arc<dyn DiscRepository> = Arc::new(discs);
    let discs = match read_cache {
        Some(cache) => Arc::new(CachedDiscs::new(discs, cache)),
        None => discs,
    };
    let customers =
        PgCustomerRepository::new(pool.clone()).with_idempotency_settings(config.idempotency);
    let orders = PgPurchaseOrderRepository::with_batch_settings(
        pool.clone(),
        config.strategy,
        config.batching,
    )
    .with_idempotency_settings(config.idempotency)
    .with_breaker_settings(config.breaker)
    .with_allocation_workers(allocation_workers(pool.clone(), config));
    let breaker = orders.breaker();
    AppState {
        discs: DiscService::new(discs, config.retry),
        customers: CustomerService::new(Arc::new(customers)),
        orders: PurchaseOrderService::new(Arc::new(orders), config.retry),
        health: Arc::new(health),
        strategy: config.strategy.as_str(),
        breaker,
        authenticator: config.auth.clone(),
        admission,
    }
}

/// The standby of `DATABASE_READ_URL`, its lag probe started; a pool of
/// its own, as large as the primary's.
///
/// # Errors
/// When its pool cannot be built.
fn read_replica(config: &Config) -> anyhow::Result<Option<ReadReplica>> {
    let Some(replica) = &config.read_replica else {
        return Ok(None);
    };
    let pool = create_pool_with_timeouts(
        replica.database.clone(),
        config.pool,
        config.database_timeouts,
    )
    .context("building the standby's connection pool")?;
    let replica = ReadReplica::new(pool, replica.settings);
    replica.start();
    Ok(Some(replica))
}

/// The allocation workers of this process, started, with the listener for
/// every process's decisions. They run under every strategy: only `queued`
/// takes pending orders in, but orders left pending by a server that ran
/// it are then still decided (the workers only poll, a few times a second,
/// when there is nothing to do).
fn allocation_workers(pool: Pool, config: &Config) -> AllocationWorkers {
    let decisions = Decisions::default();
    decisions.listen(config.database.clone());
    let workers = AllocationWorkers::new(pool, QueueSettings::default(), decisions);
    workers.start();
    workers
}

/// Deletes expired idempotency keys now and then, for as long as the server
/// runs. Expired keys are already ignored by every create; purging only
/// keeps the table small, so a failed round is logged and tried again later.
async fn purge_idempotency_keys(pool: Pool, ttl: Duration) {
    // Often enough that the table holds little more than one TTL of keys,
    // rarely enough to cost nothing.
    let every = (ttl / 4).clamp(Duration::from_secs(1), Duration::from_secs(600));
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match purge_expired_idempotency_keys(&pool).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged expired idempotency keys"),
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "could not purge expired idempotency keys; trying again later"
            ),
        }
    }
}

/// Raises the soft limit on open files to the hard one, as servers do:
/// the soft default (often 1,024) is meant for interactive programs.
/// Returns the limit in force; a failure leaves the old one, logged.
fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => hard,
            Err(error) => {
                tracing::warn!(%error, soft, hard, "could not raise the open-files limit");
                soft
            }
        },
        Ok((soft, _)) => soft,
        Err(error) => {
            tracing::warn!(%error, "could not read the open-files limit; assuming 1024");
            1024
        }
    }
}

/// Applies pending migrations over a connection of its own.
///
/// # Errors
/// When the database cannot be reached or a migration fails.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    let (mut client, connection) = config
        .database
        .connect(NoTls)
        .await
        .context("connecting to PostgreSQL to apply migrations")?;
    let connection = tokio::spawn(connection);
    recordshop_postgres::migrate(&mut client).await?;
    // Closing the client ends the connection task; waiting for it means the
    // session is gone before the server opens its own.
    drop(client);
    if let Ok(Err(error)) = connection.await {
        tracing::debug!(%error, "migration connection closed with an error");
    }
    Ok(())
}
