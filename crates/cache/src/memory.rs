//! The in-process cache: moka, bounded in entries, every entry expiring
//! its time to live after it was stored.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moka::future::Cache;
use recordshop_domain::disc::Disc;

use crate::CatalogCache;

/// Catalog reads kept in this process.
pub struct Memory {
    entries: Cache<String, Arc<[Disc]>>,
}

impl Memory {
    /// At most `capacity` entries, each for `ttl`.
    #[must_use]
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .build(),
        }
    }
}

#[async_trait]
impl CatalogCache for Memory {
    async fn get(&self, key: &str) -> Option<Vec<Disc>> {
        self.entries.get(key).await.map(|discs| discs.to_vec())
    }

    async fn put(&self, key: &str, discs: &[Disc]) {
        self.entries.insert(key.to_owned(), discs.into()).await;
    }

    async fn forget(&self, key: &str) {
        self.entries.invalidate(key).await;
    }
}
