//! The Redis cache against a real Redis: the one `cargo xtask test` starts
//! (`RECORDSHOP_TEST_REDIS_URL`).

use std::sync::Arc;
use std::time::Duration;

use recordshop_cache::{CachedDiscs, CatalogCache, Redis};
use recordshop_domain::disc::{DiscPatch, DiscRepository, MockDiscRepository};
use recordshop_domain::testing::sample_disc;

const REDIS_URL_VAR: &str = "RECORDSHOP_TEST_REDIS_URL";

async fn redis(ttl: Duration) -> Redis {
    let url = std::env::var(REDIS_URL_VAR).unwrap_or_else(|_| {
        panic!("{REDIS_URL_VAR} is not set: run the tests with `cargo xtask test`, which starts a Redis")
    });
    match Redis::connect(&url, ttl).await {
        Ok(redis) => redis,
        Err(error) => panic!("connecting to {url}: {error:#}"),
    }
}

#[tokio::test]
async fn a_disc_page_is_shared_through_redis_and_expires_there() {
    let disc = sample_disc(7);
    let id = disc.id;
    let stored = disc.clone();
    let mut first = MockDiscRepository::new();
    first
        .expect_get()
        .times(1)
        .returning(move |_| Ok(Some(stored.clone())));
    // A second instance finds the page the first one cached.
    let mut second = MockDiscRepository::new();
    second.expect_get().times(0);
    let ttl = Duration::from_millis(300);
    let one = CachedDiscs::new(Arc::new(first), Arc::new(redis(ttl).await));
    let two = CachedDiscs::new(Arc::new(second), Arc::new(redis(ttl).await));
    assert_eq!(one.get(id).await.unwrap(), Some(disc.clone()));
    assert_eq!(two.get(id).await.unwrap(), Some(disc));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cache = redis(ttl).await;
    assert_eq!(
        cache
            .get(&format!("recordshop:disc:{}", id.as_uuid()))
            .await,
        None
    );
}

#[tokio::test]
async fn a_write_on_one_instance_forgets_the_page_for_all() {
    let disc = sample_disc(2);
    let id = disc.id;
    let mut writer = MockDiscRepository::new();
    let stored = disc.clone();
    writer
        .expect_get()
        .times(1)
        .returning(move |_| Ok(Some(stored.clone())));
    writer.expect_update().times(1).returning(|_, _| Ok(None));
    let mut reader = MockDiscRepository::new();
    let fresh = disc.clone();
    reader
        .expect_get()
        .times(1)
        .returning(move |_| Ok(Some(fresh.clone())));
    let ttl = Duration::from_secs(60);
    let one = CachedDiscs::new(Arc::new(writer), Arc::new(redis(ttl).await));
    let two = CachedDiscs::new(Arc::new(reader), Arc::new(redis(ttl).await));
    one.get(id).await.unwrap();
    one.update(id, &DiscPatch::default()).await.unwrap();
    // Forgotten in Redis: the other instance reads the store.
    two.get(id).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_redis_is_a_refusal_to_start_not_a_hang() {
    let started = std::time::Instant::now();
    // A port nothing listens on (the discard port, closed on this machine kind).
    let refused = Redis::connect("redis://127.0.0.1:9/", Duration::from_secs(1)).await;
    assert!(refused.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
}
