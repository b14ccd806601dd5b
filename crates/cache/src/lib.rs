//! The catalog read cache: [`CachedDiscs`] decorates any
//! [`DiscRepository`] so that `GET /discs/{id}` and disc listings are
//! answered from a short-lived cache in this process ([`Memory`], moka).
//!
//! What a reader may see, and why it is safe:
//! - **At most `ttl` old** (`READ_CACHE_TTL_MS`, default 1 s): every entry
//!   expires that long after it was read from the database, whoever changed
//!   the disc since (a purchase, another instance's restock).
//! - **Its own instance's catalog writes at once**: a create, update or
//!   delete through this decorator forgets the disc's page and every listing
//!   this instance cached. Purchases and cancellations go through the orders
//!   repository and never read or write the cache: stock is decided by the
//!   database alone, so a stale page can never sell a unit that is gone.
//! - Listings are forgotten at once by moving on a generation that is part
//!   of their keys; no scan.
//! - Unknown discs are not cached: a disc created elsewhere is visible at once.
//!
//! Why in process and not Redis: measured (the experiment's `cache`
//! study, README "Results"), Redis served disc pages at 0.69× and listings
//! at 0.51× of the in-process cache, paying a round trip and a decode per
//! read, and with every entry bounded at 1 s a shared cache gives readers no
//! better bound than one per instance. It was rejected and removed.
//!
//! Off by default (`READ_CACHE=off`): the contract's readers expect the
//! stock a page shows to be the stock now.

mod memory;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use recordshop_domain::StoreError;
use recordshop_domain::disc::{Disc, DiscFilter, DiscId, DiscPatch, DiscRepository, NewDisc};
use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};

pub use crate::memory::Memory;

/// Where cached catalog reads are kept.
#[async_trait]
pub trait CatalogCache: Send + Sync + 'static {
    /// The discs stored under `key`, if still fresh.
    async fn get(&self, key: &str) -> Option<Vec<Disc>>;
    /// Keeps `discs` under `key` for the cache's time to live.
    async fn put(&self, key: &str, discs: &[Disc]);
    /// Forgets `key`.
    async fn forget(&self, key: &str);
}

/// Which cache a server runs with (`READ_CACHE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReadCache {
    /// Every read goes to the database.
    #[default]
    Off,
    /// In this process (moka).
    Memory,
}

impl ReadCache {
    pub const NAMES: [&str; 2] = ["off", "memory"];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Memory => "memory",
        }
    }
}

impl fmt::Display for ReadCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ReadCache {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.trim().to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "memory" => Ok(Self::Memory),
            other => Err(format!(
                "unknown read cache {other:?}; expected one of {}",
                Self::NAMES.join(", ")
            )),
        }
    }
}

/// Entries of the in-process cache at most: disc pages and listings.
pub const MEMORY_ENTRIES: u64 = 20_000;
/// The default time to live, and so the staleness bound.
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);

/// A [`DiscRepository`] whose reads go through `cache` first; see the
/// crate's documentation for what a reader may see.
pub struct CachedDiscs {
    inner: Arc<dyn DiscRepository>,
    cache: Arc<dyn CatalogCache>,
    /// Part of every listing key: moving it on forgets every listing this
    /// instance cached, at once and without a scan.
    generation: AtomicU64,
}

impl CachedDiscs {
    #[must_use]
    pub fn new(inner: Arc<dyn DiscRepository>, cache: Arc<dyn CatalogCache>) -> Self {
        Self {
            inner,
            cache,
            generation: AtomicU64::new(fastrand::u64(..)),
        }
    }

    fn disc_key(id: DiscId) -> String {
        format!("recordshop:disc:{}", id.as_uuid())
    }

    fn listing_key(&self, filter: &DiscFilter) -> String {
        // The filter's every field, page included; the generation keeps
        // listings apart from those cached before a write.
        format!(
            "recordshop:discs:{:x}:{filter:?}",
            self.generation.load(Ordering::Acquire)
        )
    }

    async fn forget_disc(&self, id: DiscId) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.cache.forget(&Self::disc_key(id)).await;
    }
}

#[async_trait]
impl DiscRepository for CachedDiscs {
    async fn insert(&self, disc: &NewDisc) -> Result<Disc, StoreError> {
        let inserted = self.inner.insert(disc).await?;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(inserted)
    }

    async fn insert_once(
        &self,
        disc: &NewDisc,
        once: &IdempotentCreate,
    ) -> Result<Created<Disc>, IdempotentError<StoreError>> {
        let created = self.inner.insert_once(disc, once).await?;
        self.generation.fetch_add(1, Ordering::AcqRel);
        Ok(created)
    }

    async fn get(&self, id: DiscId) -> Result<Option<Disc>, StoreError> {
        let key = Self::disc_key(id);
        if let Some(mut cached) = self.cache.get(&key).await
            && cached.len() == 1
        {
            return Ok(cached.pop());
        }
        let disc = self.inner.get(id).await?;
        if let Some(disc) = &disc {
            self.cache.put(&key, std::slice::from_ref(disc)).await;
        }
        Ok(disc)
    }

    async fn list(&self, filter: &DiscFilter) -> Result<Vec<Disc>, StoreError> {
        let key = self.listing_key(filter);
        if let Some(cached) = self.cache.get(&key).await {
            return Ok(cached);
        }
        let discs = self.inner.list(filter).await?;
        self.cache.put(&key, &discs).await;
        Ok(discs)
    }

    async fn update(&self, id: DiscId, patch: &DiscPatch) -> Result<Option<Disc>, StoreError> {
        let updated = self.inner.update(id, patch).await;
        // Also on failure: the write may have committed before the error.
        self.forget_disc(id).await;
        updated
    }

    async fn delete(&self, id: DiscId) -> Result<bool, StoreError> {
        let deleted = self.inner.delete(id).await;
        self.forget_disc(id).await;
        deleted
    }
}

#[cfg(test)]
mod tests;
