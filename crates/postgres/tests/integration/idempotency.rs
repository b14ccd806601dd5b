//! Idempotency keys of customer and disc creates, their TTL, and the purge.
//! (Keyed purchases are in the purchase contract suite, per strategy.)

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use recordshop_domain::customer::{CustomerError, CustomerService};
use recordshop_domain::disc::{DiscPatch, DiscService};
use recordshop_domain::idempotency::IdempotentError;
use recordshop_domain::order::PurchaseOrderService;
use recordshop_domain::{RetryPolicy, StoreError};
use recordshop_postgres::{
    ConcurrencyStrategy, IdempotencySettings, PgCustomerRepository, PgDiscRepository,
    PgPurchaseOrderRepository, purge_expired_idempotency_keys,
};
use tokio::sync::Barrier;

use crate::support::{
    CONCURRENT_POOL, Harness, SMALL_POOL, key_of, new_customer, stock, stocked_disc,
    tagged_customer, units,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_of_one_registration_key_registers_one_customer() {
    const REQUESTS: usize = 20;
    let harness = Harness::new(CONCURRENT_POOL).await;
    let customers = harness.customer_service();
    let start = Arc::new(Barrier::new(REQUESTS));
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (customers, start) = (customers.clone(), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                // Every request is the same payload under a fresh id, as
                // a client's retries are.
                customers
                    .register_once(tagged_customer("storm"), Some(key_of("staff:ops", "reg")))
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    assert_eq!(answers.iter().filter(|a| !a.is_replayed()).count(), 1);
    let ids: BTreeSet<_> = answers.iter().map(|a| a.as_inner().id).collect();
    assert_eq!(ids.len(), 1, "one customer, answered to everyone");
    assert_eq!(harness.count("customers").await, 1);
    assert_eq!(harness.count("idempotency_keys").await, 1);
}

#[tokio::test]
async fn a_registration_key_replays_refuses_other_payloads_and_forgets_refusals() {
    let harness = Harness::new(SMALL_POOL).await;
    let customers = harness.customer_service();
    let taken = customers
        .register(new_customer("Ada", "doc-1", "ada@example.com"))
        .await
        .unwrap();

    // The document is taken: refused, and the key stays free.
    let clash = new_customer("Ada Lovelace", "doc-1", "lovelace@example.com");
    let refused = customers
        .register_once(clash, Some(key_of("staff:ops", "r1")))
        .await;
    assert!(
        matches!(
            refused,
            Err(IdempotentError::Create(CustomerError::AlreadyExists))
        ),
        "{refused:?}"
    );
    assert_eq!(harness.count("idempotency_keys").await, 0);

    let fixed = new_customer("Ada Lovelace", "doc-2", "lovelace@example.com");
    let first = customers
        .register_once(fixed.clone(), Some(key_of("staff:ops", "r1")))
        .await
        .unwrap();
    assert!(!first.is_replayed());

    // A repeat is a replay of the customer as registered, not
    // `AlreadyExists`, even after the customer changed.
    customers.deactivate(first.as_inner().id).await.unwrap();
    let again = customers
        .register_once(fixed, Some(key_of("staff:ops", "r1")))
        .await
        .unwrap();
    assert!(again.is_replayed());
    assert_eq!(again.as_inner(), first.as_inner());
    assert!(
        again.as_inner().is_active,
        "as it was right after the create"
    );

    let other = new_customer("Grace Hopper", "doc-3", "grace@example.com");
    let reused = customers
        .register_once(other, Some(key_of("staff:ops", "r1")))
        .await;
    assert!(
        matches!(reused, Err(IdempotentError::IdempotencyKeyReused(_))),
        "{reused:?}"
    );
    assert_eq!(harness.count("customers").await, 2);
    assert_ne!(taken.id, first.as_inner().id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_storm_of_one_disc_key_adds_one_disc() {
    const REQUESTS: usize = 20;
    let harness = Harness::new(CONCURRENT_POOL).await;
    let discs = harness.disc_service(ConcurrencyStrategy::Pessimistic);
    let start = Arc::new(Barrier::new(REQUESTS));
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (discs, start) = (discs.clone(), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                discs
                    .create_once(stocked_disc(9), Some(key_of("staff:ops", "new-disc")))
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    assert_eq!(answers.iter().filter(|a| !a.is_replayed()).count(), 1);
    let ids: BTreeSet<_> = answers.iter().map(|a| a.as_inner().id).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(harness.count("discs").await, 1);
    assert_eq!(
        harness.count("stock_adjustments").await,
        1,
        "one initial stock"
    );
    assert_eq!(harness.assert_ledger_balances().await, 1);
}

#[tokio::test]
async fn a_disc_replay_answers_the_disc_as_created() {
    let harness = Harness::new(SMALL_POOL).await;
    let discs = harness.disc_service(ConcurrencyStrategy::Pessimistic);
    let key = || Some(key_of("staff:ops", "d1"));
    let first = discs.create_once(stocked_disc(3), key()).await.unwrap();
    assert!(!first.is_replayed());
    let restock = DiscPatch {
        quantity: Some(stock(50)),
        ..DiscPatch::default()
    };
    discs.update(first.as_inner().id, restock).await.unwrap();

    let again = discs.create_once(stocked_disc(3), key()).await.unwrap();
    assert!(again.is_replayed());
    assert_eq!(again.as_inner(), first.as_inner(), "with its stock then");
    let reused = discs.create_once(stocked_disc(4), key()).await;
    assert!(
        matches!(reused, Err(IdempotentError::IdempotencyKeyReused(_))),
        "{reused:?}"
    );
    // The same key for another operation is another key.
    let customer = harness
        .customer_service()
        .register_once(tagged_customer("d1"), key())
        .await
        .unwrap();
    assert!(!customer.is_replayed());
    assert_eq!(harness.count("discs").await, 1);
    harness.assert_ledger_balances().await;
}

/// Seconds between a key's creation and its expiry.
async fn ttl_of_key(harness: &Harness, key: &str) -> f64 {
    harness
        .client()
        .await
        .query_one(
            "SELECT extract(epoch FROM expires_at - created_at)::float8
             FROM idempotency_keys WHERE key = $1",
            &[&key],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn keys_live_for_the_configured_ttl() {
    let harness = Harness::new(SMALL_POOL).await;
    let strategy = ConcurrencyStrategy::Pessimistic;
    let settings = IdempotencySettings {
        ttl: Duration::from_secs(90),
    };
    let discs = DiscService::new(
        Arc::new(
            PgDiscRepository::new(harness.pool.clone(), strategy)
                .with_idempotency_settings(settings),
        ),
        RetryPolicy::default(),
    );
    let customers = CustomerService::new(Arc::new(
        PgCustomerRepository::new(harness.pool.clone()).with_idempotency_settings(settings),
    ));
    let orders = PurchaseOrderService::new(
        Arc::new(
            PgPurchaseOrderRepository::new(harness.pool.clone(), strategy)
                .with_idempotency_settings(settings),
        ),
        RetryPolicy::default(),
    );
    let disc = discs
        .create_once(stocked_disc(5), Some(key_of("o", "disc")))
        .await
        .unwrap()
        .into_inner();
    let customer = customers
        .register_once(tagged_customer("ttl"), Some(key_of("o", "customer")))
        .await
        .unwrap()
        .into_inner();
    orders
        .place_once(customer.id, disc.id, units(1), Some(key_of("o", "order")))
        .await
        .unwrap();
    for key in ["disc", "customer", "order"] {
        assert!(
            (ttl_of_key(&harness, key).await - 90.0).abs() < 1e-6,
            "{key}"
        );
    }
    // The default repositories keep keys for a day.
    harness
        .disc_service(strategy)
        .create_once(stocked_disc(1), Some(key_of("o", "default")))
        .await
        .unwrap();
    assert!((ttl_of_key(&harness, "default").await - 86_400.0).abs() < 1e-6);
}

#[tokio::test]
async fn purge_deletes_only_expired_keys_in_chunks() {
    const EXPIRED: i64 = 10_050;
    let harness = Harness::new(SMALL_POOL).await;
    let discs = harness.disc_service(ConcurrencyStrategy::Pessimistic);
    let live = discs
        .create_once(stocked_disc(1), Some(key_of("staff:ops", "live")))
        .await
        .unwrap();
    // More expired keys than one chunk deletes.
    harness
        .client()
        .await
        .execute(
            "INSERT INTO idempotency_keys (owner, operation, key, fingerprint, expires_at)
             SELECT 'anonymous', 'purchase_order', 'old-' || n, repeat('0', 64),
                    now() - interval '1 minute'
             FROM generate_series(1, $1::bigint) AS n",
            &[&EXPIRED],
        )
        .await
        .unwrap();

    let purged = purge_expired_idempotency_keys(&harness.pool).await.unwrap();
    assert_eq!(purged, EXPIRED.unsigned_abs());
    assert_eq!(harness.count("idempotency_keys").await, 1);
    let again = discs
        .create_once(stocked_disc(1), Some(key_of("staff:ops", "live")))
        .await
        .unwrap();
    assert!(again.is_replayed(), "the live key still answers");
    assert_eq!(again.as_inner().id, live.as_inner().id);
    assert_eq!(
        purge_expired_idempotency_keys(&harness.pool).await.unwrap(),
        0
    );
}

#[tokio::test]
async fn a_keyed_create_fails_unavailable_when_the_store_is_down() {
    let harness = Harness::new(SMALL_POOL).await;
    harness.pool.close();
    let result = harness
        .disc_service(ConcurrencyStrategy::Pessimistic)
        .create_once(stocked_disc(1), Some(key_of("staff:ops", "down")))
        .await;
    assert!(
        matches!(
            result,
            Err(IdempotentError::Create(StoreError::Unavailable(_)))
        ),
        "{result:?}"
    );
}
