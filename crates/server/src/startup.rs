//! Wiring: the PostgreSQL adapter behind the domain services, the services
//! behind the HTTP app, the app behind a listening socket.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpServer;
use actix_web::dev::{Server, ServerHandle};
use anyhow::Context;
use deadpool_postgres::Pool;
use recordshop_domain::customer::CustomerService;
use recordshop_domain::disc::DiscService;
use recordshop_domain::order::PurchaseOrderService;
use recordshop_http::AppState;
use recordshop_postgres::{
    PgCustomerRepository, PgDiscRepository, PgPurchaseOrderRepository, PgStoreHealth, create_pool,
};
use tokio_postgres::NoTls;

use crate::config::Config;

/// How long in-flight requests may take to finish once a stop is asked for.
/// Below the 10 s most orchestrators wait before killing the process.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A server bound to its socket, not yet running.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    /// Builds the pool, the services and the app, and binds `config.host`
    /// and `config.port` (0 picks a free port; see [`Application::port`]).
    /// Connections are opened lazily, by the first requests.
    ///
    /// Must be called inside a Tokio runtime.
    ///
    /// # Errors
    /// When the pool cannot be built or the address cannot be bound.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let pool = create_pool(config.database.clone(), config.pool)
            .context("building the connection pool")?;
        let state = app_state(pool, config);
        let address = (config.host.as_str(), config.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("binding {}:{}", config.host, config.port))?;
        let port = listener
            .local_addr()
            .context("reading the bound address")?
            .port();
        let server = HttpServer::new(move || recordshop_http::app(state.clone()))
            .workers(config.http_workers)
            .shutdown_timeout(SHUTDOWN_GRACE.as_secs())
            .listen(listener)
            .context("listening")?
            .run();
        Ok(Self { port, server })
    }

    /// The port actually bound.
    #[must_use]
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server from elsewhere (tests, signals).
    #[must_use]
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT or SIGTERM (or a [`ServerHandle::stop`]), then
    /// lets in-flight requests finish.
    ///
    /// # Errors
    /// When the server fails while running.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The domain services over the PostgreSQL adapter, sharing one pool.
#[must_use]
pub fn app_state(pool: Pool, config: &Config) -> AppState {
    let discs = PgDiscRepository::new(pool.clone(), config.strategy);
    let customers = PgCustomerRepository::new(pool.clone());
    let orders = PgPurchaseOrderRepository::with_batch_settings(
        pool.clone(),
        config.strategy,
        config.batching,
    );
    AppState {
        discs: DiscService::new(Arc::new(discs), config.retry),
        customers: CustomerService::new(Arc::new(customers)),
        orders: PurchaseOrderService::new(Arc::new(orders), config.retry),
        health: Arc::new(PgStoreHealth::new(pool)),
        strategy: config.strategy.to_string(),
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
