//! Writing the catalog: insert, update (restocks included) and soft delete.

use recordshop_domain::disc::{
    DiscFilter, DiscId, DiscName, DiscPatch, DiscRepository, Genre, ReleaseYear,
};
use recordshop_postgres::ConcurrencyStrategy;

use crate::support::{Harness, SMALL_POOL, new_disc, stock, stocked_disc};

#[tokio::test]
async fn insert_stores_the_disc_and_records_its_initial_stock() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.discs(ConcurrencyStrategy::Pessimistic);
    let new = new_disc("Kind of Blue", "Miles Davis", 1959, "Jazz", 7);
    let stored = repository.insert(&new).await.unwrap();
    assert_eq!(stored.id, new.id);
    assert_eq!(stored.name, new.name);
    assert_eq!(stored.artist, new.artist);
    assert_eq!(stored.year_of_release, new.year_of_release);
    assert_eq!(stored.genre, new.genre);
    assert_eq!(stored.quantity.get(), 7);
    assert_eq!(stored.created_at, stored.updated_at);
    assert_eq!(repository.get(new.id).await.unwrap(), Some(stored));

    let adjustments = harness
        .client()
        .await
        .query(
            "SELECT delta, reason FROM stock_adjustments WHERE disc_id = $1",
            &[&new.id.as_uuid()],
        )
        .await
        .unwrap();
    let adjustments: Vec<(i64, String)> = adjustments
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(adjustments, [(7, "initial".to_owned())]);
    assert_eq!(harness.assert_ledger_balances().await, 1);
}

#[tokio::test]
async fn get_of_an_unknown_disc_is_none() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.discs(ConcurrencyStrategy::Pessimistic);
    assert_eq!(repository.get(DiscId::generate()).await.unwrap(), None);
}

#[tokio::test]
async fn update_changes_only_the_given_fields() {
    let harness = Harness::new(SMALL_POOL).await;
    for strategy in ConcurrencyStrategy::ALL {
        let repository = harness.discs(strategy);
        let before = repository.insert(&stocked_disc(4)).await.unwrap();
        let patch = DiscPatch {
            name: Some(DiscName::parse("Kind of Blue (Legacy Edition)").unwrap()),
            genre: Some(Genre::parse("Modal Jazz").unwrap()),
            ..DiscPatch::default()
        };
        let after = repository.update(before.id, &patch).await.unwrap().unwrap();
        assert_eq!(
            after.name.as_str(),
            "Kind of Blue (Legacy Edition)",
            "{strategy}"
        );
        assert_eq!(after.genre.as_str(), "Modal Jazz");
        assert_eq!(after.artist, before.artist);
        assert_eq!(after.year_of_release, before.year_of_release);
        assert_eq!(after.quantity, before.quantity);
        assert_eq!(after.created_at, before.created_at);
        assert!(after.updated_at > before.updated_at);
        assert_eq!(repository.get(before.id).await.unwrap(), Some(after));
    }
    // No stock change, no adjustment beyond the initial ones.
    let count: i64 = harness
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM stock_adjustments WHERE reason = 'restock'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 0);
}

#[tokio::test]
async fn a_new_quantity_is_recorded_as_a_restock_of_the_difference() {
    let harness = Harness::new(SMALL_POOL).await;
    for strategy in ConcurrencyStrategy::ALL {
        let repository = harness.discs(strategy);
        let disc = repository.insert(&stocked_disc(4)).await.unwrap();
        let to = |quantity| DiscPatch {
            quantity: Some(stock(quantity)),
            year_of_release: Some(ReleaseYear::parse(1960).unwrap()),
            ..DiscPatch::default()
        };
        let raised = repository.update(disc.id, &to(10)).await.unwrap().unwrap();
        assert_eq!(raised.quantity.get(), 10, "{strategy}");
        assert_eq!(raised.year_of_release.get(), 1960);
        let lowered = repository.update(disc.id, &to(1)).await.unwrap().unwrap();
        assert_eq!(lowered.quantity.get(), 1);
        // Setting the same stock again changes nothing in the ledger.
        repository.update(disc.id, &to(1)).await.unwrap().unwrap();

        let rows = harness
            .client()
            .await
            .query(
                "SELECT delta, reason FROM stock_adjustments WHERE disc_id = $1 ORDER BY id",
                &[&disc.id.as_uuid()],
            )
            .await
            .unwrap();
        let ledger: Vec<(i64, String)> = rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let expected =
            [(4, "initial"), (6, "restock"), (-9, "restock")].map(|(d, r)| (d, r.to_owned()));
        assert_eq!(ledger, expected, "{strategy}");
    }
    assert_eq!(
        harness.assert_ledger_balances().await,
        ConcurrencyStrategy::ALL.len()
    );
}

#[tokio::test]
async fn updating_an_unknown_disc_is_none() {
    let harness = Harness::new(SMALL_POOL).await;
    for strategy in ConcurrencyStrategy::ALL {
        let repository = harness.discs(strategy);
        let rename = DiscPatch {
            name: Some(DiscName::parse("Nothing").unwrap()),
            ..DiscPatch::default()
        };
        let restock = DiscPatch {
            quantity: Some(stock(3)),
            ..DiscPatch::default()
        };
        assert_eq!(
            repository
                .update(DiscId::generate(), &rename)
                .await
                .unwrap(),
            None,
            "{strategy}"
        );
        assert_eq!(
            repository
                .update(DiscId::generate(), &restock)
                .await
                .unwrap(),
            None,
            "{strategy}"
        );
    }
}

#[tokio::test]
async fn a_deleted_disc_leaves_the_catalog_but_keeps_its_row() {
    let harness = Harness::new(SMALL_POOL).await;
    for strategy in ConcurrencyStrategy::ALL {
        let repository = harness.discs(strategy);
        let kept = repository
            .insert(&new_disc("Kept", "Various", 2000, "Pop", 1))
            .await
            .unwrap();
        let gone = repository
            .insert(&new_disc("Gone", "Various", 2000, "Pop", 1))
            .await
            .unwrap();

        assert!(repository.delete(gone.id).await.unwrap(), "{strategy}");
        assert_eq!(repository.get(gone.id).await.unwrap(), None);
        let listed = repository.list(&DiscFilter::default()).await.unwrap();
        assert!(listed.iter().all(|disc| disc.id != gone.id));
        assert!(listed.iter().any(|disc| disc.id == kept.id));
        let by_name = DiscFilter {
            name_exact: Some("Gone".into()),
            ..DiscFilter::default()
        };
        assert!(repository.list(&by_name).await.unwrap().is_empty());
        let rename = DiscPatch {
            name: Some(DiscName::parse("Back").unwrap()),
            ..DiscPatch::default()
        };
        assert_eq!(repository.update(gone.id, &rename).await.unwrap(), None);
        let restock = DiscPatch {
            quantity: Some(stock(9)),
            ..DiscPatch::default()
        };
        assert_eq!(repository.update(gone.id, &restock).await.unwrap(), None);
        assert!(
            !repository.delete(gone.id).await.unwrap(),
            "a second delete finds nothing"
        );
        assert!(!repository.delete(DiscId::generate()).await.unwrap());

        let row = harness
            .client()
            .await
            .query_one(
                "SELECT name, quantity, deleted_at IS NOT NULL FROM discs WHERE id = $1",
                &[&gone.id.as_uuid()],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), "Gone", "the row stays, unchanged");
        assert_eq!(row.get::<_, i64>(1), 1);
        assert!(row.get::<_, bool>(2));
        repository.delete(kept.id).await.unwrap();
    }
}
