//! Readiness: [`StoreHealth`] as one round trip to the database, once the
//! pool is warm.
//!
//! Warm means every connection the pool may hold is open and has the hot
//! statements (a purchase's under every strategy, a disc page's) prepared.
//! Left to the first requests, a launch's first burst paid for up to 16
//! connection set-ups and a prepare per statement per connection, at the
//! moment it mattered most; now a server says it is ready only once that
//! is done.

use std::sync::Arc;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Pool};
use futures_util::future::try_join_all;
use recordshop_domain::StoreError;
use recordshop_domain::health::StoreHealth;
use tokio::sync::OnceCell;

use crate::error::store_error;
use crate::sql::connection;

/// [`StoreHealth`] on PostgreSQL: warms the pool the first time it is
/// asked (and until that succeeds), then takes a connection and runs
/// `SELECT 1`, which also catches a pooled connection the server has
/// closed.
#[derive(Clone)]
pub struct PgStoreHealth {
    pool: Pool,
    warm: Arc<OnceCell<()>>,
}

impl PgStoreHealth {
    /// Checks the database behind `pool`.
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self {
            pool,
            warm: Arc::new(OnceCell::new()),
        }
    }

    /// Opens every connection of the pool and prepares the hot statements
    /// on each; done once. Concurrent callers wait for the same warm-up.
    ///
    /// # Errors
    /// When a connection cannot be opened or a statement prepared; the
    /// next call tries again.
    pub async fn warm_up(&self) -> Result<(), StoreError> {
        self.warm
            .get_or_try_init(|| warm(&self.pool))
            .await
            .map(|_| ())
    }
}

async fn warm(pool: &Pool) -> Result<(), StoreError> {
    let size = pool.status().max_size;
    // Held together, so the pool opens `size` distinct connections.
    let clients = try_join_all((0..size).map(|_| connection(pool))).await?;
    let statements: Vec<&str> = crate::orders::hot_statements()
        .chain(crate::discs::HOT)
        .map(|statement| statement.sql)
        .collect();
    try_join_all(clients.iter().map(|client| {
        let statements = &statements;
        async move {
            for sql in statements {
                client.prepare_cached(sql).await.map_err(store_error)?;
            }
            Ok::<(), StoreError>(())
        }
    }))
    .await?;
    tracing::info!(
        connections = size,
        statements = statements.len(),
        "pool warm"
    );
    Ok(())
}

#[async_trait]
impl StoreHealth for PgStoreHealth {
    async fn ping(&self) -> Result<(), StoreError> {
        self.warm_up().await?;
        let client = connection(&self.pool).await?;
        client.batch_execute("SELECT 1").await.map_err(store_error)
    }
}
