//! The shared cache: Redis, through one multiplexed connection that
//! reconnects by itself. Entries expire in Redis (`SET … PX`), so every
//! instance naming the same Redis sees the same disc pages and the same
//! bound on their age.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use recordshop_domain::disc::Disc;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::CatalogCache;
use crate::wire;

/// A cache lookup slower than this is treated as a miss: the database is
/// the fallback, and a cache should never be what a reader waits on.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(50);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Catalog reads kept in Redis.
pub struct Redis {
    connection: ConnectionManager,
    ttl_ms: u64,
    /// Whether the last command failed: failures are logged when they
    /// start and when they end, not once per request.
    failing: AtomicBool,
}

impl Redis {
    /// Connects to `url` (`redis://host:port[/db]`).
    ///
    /// # Errors
    /// When the URL is not Redis's or the first connection fails.
    pub async fn connect(url: &str, ttl: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url).context("READ_CACHE_URL is not a Redis URL")?;
        // Few, quick reconnection attempts: while Redis is away every read
        // goes to the database anyway, and the next command tries again.
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_with_config(client, config)
            .await
            .context("connecting to the Redis read cache (READ_CACHE_URL)")?;
        Ok(Self {
            connection,
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1),
            failing: AtomicBool::new(false),
        })
    }

    fn outcome<T>(&self, result: redis::RedisResult<T>) -> Option<T> {
        match result {
            Ok(value) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!("the Redis read cache answers again");
                }
                Some(value)
            }
            Err(error) => {
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "the Redis read cache fails; reading from the database");
                }
                None
            }
        }
    }
}

#[async_trait]
impl CatalogCache for Redis {
    async fn get(&self, key: &str) -> Option<Vec<Disc>> {
        let mut connection = self.connection.clone();
        let stored: Option<Vec<u8>> = self.outcome(
            redis::cmd("GET")
                .arg(key)
                .query_async(&mut connection)
                .await,
        )?;
        wire::decode(&stored?)
    }

    async fn put(&self, key: &str, discs: &[Disc]) {
        let Some(encoded) = wire::encode(discs) else {
            return;
        };
        let mut connection = self.connection.clone();
        let _: Option<()> = self.outcome(
            redis::cmd("SET")
                .arg(key)
                .arg(encoded)
                .arg("PX")
                .arg(self.ttl_ms)
                .query_async(&mut connection)
                .await,
        );
    }

    async fn forget(&self, key: &str) {
        let mut connection = self.connection.clone();
        let _: Option<()> = self.outcome(
            redis::cmd("DEL")
                .arg(key)
                .query_async(&mut connection)
                .await,
        );
    }
}
