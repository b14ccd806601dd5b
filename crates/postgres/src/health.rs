//! Readiness: [`StoreHealth`] as one round trip to the database.

use async_trait::async_trait;
use deadpool_postgres::Pool;
use recordshop_domain::StoreError;
use recordshop_domain::health::StoreHealth;

use crate::error::store_error;
use crate::sql::connection;

/// [`StoreHealth`] on PostgreSQL: takes a connection and runs `SELECT 1`,
/// which also catches a pooled connection the server has closed.
#[derive(Clone)]
pub struct PgStoreHealth {
    pool: Pool,
}

impl PgStoreHealth {
    /// Checks the database behind `pool`.
    #[must_use]
    pub fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl StoreHealth for PgStoreHealth {
    async fn ping(&self) -> Result<(), StoreError> {
        let client = connection(&self.pool).await?;
        client.batch_execute("SELECT 1").await.map_err(store_error)
    }
}
