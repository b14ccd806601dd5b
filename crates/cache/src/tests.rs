use std::sync::Arc;
use std::time::Duration;

use recordshop_domain::disc::{Disc, DiscFilter, DiscPatch, DiscRepository, MockDiscRepository};
use recordshop_domain::testing::sample_disc;

use super::{CachedDiscs, Memory};

fn cached(inner: MockDiscRepository, ttl: Duration) -> CachedDiscs {
    CachedDiscs::new(Arc::new(inner), Arc::new(Memory::new(ttl, 100)))
}

/// A store whose `get` answers `disc`, expected exactly `times` times.
fn store_of(disc: &Disc, times: usize) -> MockDiscRepository {
    let mut inner = MockDiscRepository::new();
    let stored = disc.clone();
    inner
        .expect_get()
        .times(times)
        .returning(move |_| Ok(Some(stored.clone())));
    inner
}

#[tokio::test]
async fn a_disc_page_read_twice_reaches_the_store_once() {
    let disc = sample_disc(3);
    let id = disc.id;
    let discs = cached(store_of(&disc, 1), Duration::from_secs(60));
    assert_eq!(discs.get(id).await.unwrap(), Some(disc.clone()));
    assert_eq!(discs.get(id).await.unwrap(), Some(disc));
}

#[tokio::test]
async fn an_entry_older_than_its_time_to_live_is_read_again() {
    let disc = sample_disc(3);
    let discs = cached(store_of(&disc, 2), Duration::from_millis(50));
    let id = disc.id;
    discs.get(id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(120)).await;
    discs.get(id).await.unwrap();
}

#[tokio::test]
async fn an_unknown_disc_is_not_cached() {
    let id = sample_disc(1).id;
    let mut inner = MockDiscRepository::new();
    inner.expect_get().times(2).returning(|_| Ok(None));
    let discs = cached(inner, Duration::from_secs(60));
    assert_eq!(discs.get(id).await.unwrap(), None);
    assert_eq!(discs.get(id).await.unwrap(), None);
}

#[tokio::test]
async fn an_update_through_the_cache_is_read_back_at_once() {
    let before = sample_disc(3);
    let id = before.id;
    let mut after = before.clone();
    after.quantity = recordshop_domain::disc::StockQuantity::parse(9).unwrap();
    let mut inner = MockDiscRepository::new();
    let mut sequence = mockall::Sequence::new();
    let first = before.clone();
    inner
        .expect_get()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(move |_| Ok(Some(first.clone())));
    let updated = after.clone();
    inner
        .expect_update()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(move |_, _| Ok(Some(updated.clone())));
    let second = after.clone();
    inner
        .expect_get()
        .times(1)
        .in_sequence(&mut sequence)
        .returning(move |_| Ok(Some(second.clone())));
    let discs = cached(inner, Duration::from_secs(60));
    assert_eq!(discs.get(id).await.unwrap(), Some(before));
    discs.update(id, &DiscPatch::default()).await.unwrap();
    assert_eq!(discs.get(id).await.unwrap(), Some(after));
}

#[tokio::test]
async fn a_write_forgets_every_listing_of_this_instance() {
    let mut inner = MockDiscRepository::new();
    inner
        .expect_list()
        .times(2)
        .returning(|_| Ok(vec![sample_disc(1)]));
    inner.expect_delete().times(1).returning(|_| Ok(true));
    let discs = cached(inner, Duration::from_secs(60));
    let jazz = DiscFilter {
        genre_contains: Some("jazz".to_owned()),
        ..DiscFilter::default()
    };
    discs.list(&jazz).await.unwrap();
    discs.list(&jazz).await.unwrap();
    discs.delete(sample_disc(1).id).await.unwrap();
    discs.list(&jazz).await.unwrap();
}

#[tokio::test]
async fn listings_are_cached_per_filter() {
    let mut inner = MockDiscRepository::new();
    inner.expect_list().times(2).returning(|_| Ok(Vec::new()));
    let discs = cached(inner, Duration::from_secs(60));
    let rock = DiscFilter {
        genre_exact: Some("Rock".to_owned()),
        ..DiscFilter::default()
    };
    discs.list(&DiscFilter::default()).await.unwrap();
    discs.list(&rock).await.unwrap();
    discs.list(&rock).await.unwrap();
}
