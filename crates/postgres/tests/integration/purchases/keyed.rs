//! Purchases sent with an idempotency key: at most one order per owner and
//! key, replays of the first answer, and nothing remembered of refusals.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use recordshop_domain::StoreError;
use recordshop_domain::disc::DiscPatch;
use recordshop_domain::idempotency::{Created, IdempotentError};
use recordshop_domain::order::{OrderStatus, PlaceOrderError, PurchaseOrder};
use recordshop_postgres::ConcurrencyStrategy;
use tokio::sync::Barrier;

use crate::support::{CONCURRENT_POOL, Harness, SMALL_POOL, key_of, stock, units};

type Keyed = Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>>;

fn placed(result: Keyed) -> Created<PurchaseOrder> {
    result.unwrap_or_else(|e| panic!("not placed: {e:?}"))
}

async fn orders_of(harness: &Harness, disc: recordshop_domain::disc::DiscId) -> i64 {
    harness
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM purchase_orders WHERE disc_id = $1",
            &[&disc.as_uuid()],
        )
        .await
        .unwrap()
        .get(0)
}

pub async fn a_storm_of_one_key_places_one_order(strategy: ConcurrencyStrategy) {
    const REQUESTS: usize = 50;
    let harness = Harness::new(CONCURRENT_POOL).await;
    let disc = harness.stocked_disc(strategy, 100).await;
    let customer = harness.registered_customer("storm").await;
    let orders = harness.order_service(strategy);

    let start = Arc::new(Barrier::new(REQUESTS));
    let tasks: Vec<_> = (0..REQUESTS)
        .map(|_| {
            let (orders, start) = (orders.clone(), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                orders
                    .place_once(
                        customer.id,
                        disc.id,
                        units(3),
                        Some(key_of("customer:storm", "storm-1")),
                    )
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(placed(task.await.unwrap()));
    }

    let new = answers.iter().filter(|a| !a.is_replayed()).count();
    assert_eq!(
        new, 1,
        "one request placed the order, the others replayed it"
    );
    let ids: BTreeSet<_> = answers.iter().map(|a| a.as_inner().id).collect();
    assert_eq!(ids.len(), 1, "every answer is the same order");
    let first = answers.iter().find(|a| !a.is_replayed()).unwrap();
    for answer in &answers {
        assert_eq!(answer.as_inner(), first.as_inner(), "replayed as placed");
    }
    assert_eq!(orders_of(&harness, disc.id).await, 1);
    assert_eq!(harness.stock_of(disc.id).await, 97);
    assert_eq!(harness.count("idempotency_keys").await, 1);
    harness.assert_ledger_balances().await;
}

pub async fn the_same_key_with_another_purchase_is_refused(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(strategy, 10).await;
    let other_disc = harness.stocked_disc(strategy, 10).await;
    let customer = harness.registered_customer("reuse").await;
    let orders = harness.order_service(strategy);
    let key = || Some(key_of("staff:ops", "reused"));

    let first = placed(
        orders
            .place_once(customer.id, disc.id, units(1), key())
            .await,
    );
    assert!(!first.is_replayed());
    for (disc_id, quantity) in [(disc.id, 2), (other_disc.id, 1)] {
        let result = orders
            .place_once(customer.id, disc_id, units(quantity), key())
            .await;
        assert!(
            matches!(&result, Err(IdempotentError::IdempotencyKeyReused(k)) if k.as_str() == "reused"),
            "{result:?}"
        );
    }
    let again = placed(
        orders
            .place_once(customer.id, disc.id, units(1), key())
            .await,
    );
    assert!(again.is_replayed());
    assert_eq!(again.as_inner(), first.as_inner());
    assert_eq!(harness.count("purchase_orders").await, 1);
    assert_eq!(harness.stock_of(disc.id).await, 9);
    assert_eq!(harness.stock_of(other_disc.id).await, 10);
    harness.assert_ledger_balances().await;
}

pub async fn a_refused_keyed_purchase_records_nothing(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(strategy, 1).await;
    let customer = harness.registered_customer("short").await;
    let orders = harness.order_service(strategy);
    let discs = harness.disc_service(strategy);
    let key = || Some(key_of("staff:ops", "wait-for-restock"));

    let refused = orders
        .place_once(customer.id, disc.id, units(2), key())
        .await;
    assert!(
        matches!(
            refused,
            Err(IdempotentError::Create(PlaceOrderError::OutOfStock {
                available: 1,
                requested: 2,
                ..
            }))
        ),
        "{refused:?}"
    );
    assert_eq!(harness.count("idempotency_keys").await, 0, "no claim left");

    let restock = DiscPatch {
        quantity: Some(stock(5)),
        ..DiscPatch::default()
    };
    discs.update(disc.id, restock).await.unwrap();
    let bought = placed(
        orders
            .place_once(customer.id, disc.id, units(2), key())
            .await,
    );
    assert!(!bought.is_replayed(), "the key was free: evaluated again");
    assert_eq!(bought.as_inner().disc.quantity.get(), 3);
    assert_eq!(harness.count("idempotency_keys").await, 1);
    harness.assert_ledger_balances().await;
}

pub async fn an_expired_key_is_free_again(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(strategy, 10).await;
    let customer = harness.registered_customer("expiry").await;
    let orders = harness.order_service(strategy);
    let key = || Some(key_of("staff:ops", "daily"));

    let first = placed(
        orders
            .place_once(customer.id, disc.id, units(1), key())
            .await,
    );
    harness.expire_idempotency_keys().await;
    let second = placed(
        orders
            .place_once(customer.id, disc.id, units(1), key())
            .await,
    );
    assert!(!second.is_replayed());
    assert_ne!(second.as_inner().id, first.as_inner().id);
    let third = placed(
        orders
            .place_once(customer.id, disc.id, units(1), key())
            .await,
    );
    assert!(third.is_replayed(), "the new record holds the key");
    assert_eq!(third.as_inner().id, second.as_inner().id);
    assert_eq!(orders_of(&harness, disc.id).await, 2);
    assert_eq!(harness.stock_of(disc.id).await, 8);
    assert_eq!(harness.count("idempotency_keys").await, 1);
    harness.assert_ledger_balances().await;
}

pub async fn keys_of_different_owners_never_meet(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(strategy, 10).await;
    let customer = harness.registered_customer("owners").await;
    let orders = harness.order_service(strategy);

    let mut ids = BTreeSet::new();
    for owner in ["customer:a", "customer:b"] {
        let order = placed(
            orders
                .place_once(customer.id, disc.id, units(1), Some(key_of(owner, "same")))
                .await,
        );
        assert!(!order.is_replayed(), "{owner}");
        ids.insert(order.into_inner().id);
    }
    assert_eq!(ids.len(), 2);
    assert_eq!(orders_of(&harness, disc.id).await, 2);
    assert_eq!(harness.stock_of(disc.id).await, 8);
    harness.assert_ledger_balances().await;
}

pub async fn a_replay_answers_the_order_as_it_was_placed(strategy: ConcurrencyStrategy) {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(strategy, 4).await;
    let customer = harness.registered_customer("snapshot").await;
    let orders = harness.order_service(strategy);
    let key = || Some(key_of("staff:ops", "snap"));

    let first = placed(
        orders
            .place_once(customer.id, disc.id, units(2), key())
            .await,
    )
    .into_inner();
    assert_eq!(
        orders.get(first.id).await.unwrap(),
        first,
        "stored as returned"
    );
    let canceled = orders.cancel(first.id).await.unwrap();
    assert_eq!(canceled.status, OrderStatus::Canceled);

    let replayed = placed(
        orders
            .place_once(customer.id, disc.id, units(2), key())
            .await,
    );
    assert!(replayed.is_replayed());
    assert_eq!(
        replayed.into_inner(),
        first,
        "the order right after it was placed, not as it is now"
    );
    assert_eq!(harness.stock_of(disc.id).await, 4, "nothing sold twice");
    harness.assert_ledger_balances().await;
}

/// Keys sent twice at once, racing with other keys for too few units: each
/// key sells at most once, and both of its requests get the same answer.
pub async fn keys_sent_twice_racing_for_the_last_units_sell_once_each(
    strategy: ConcurrencyStrategy,
) {
    const STOCK: i64 = 12;
    const KEYS: usize = 20;
    let harness = Harness::new(CONCURRENT_POOL).await;
    let disc = harness.stocked_disc(strategy, STOCK).await;
    let customer = harness.registered_customer("twice").await;
    let orders = harness.order_service(strategy);

    let start = Arc::new(Barrier::new(KEYS * 2));
    let mut tasks = Vec::new();
    for key in 0..KEYS {
        for _ in 0..2 {
            let (orders, start) = (orders.clone(), Arc::clone(&start));
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let request = Some(key_of("staff:ops", &format!("k{key}")));
                let result = orders
                    .place_once(customer.id, disc.id, units(1), request)
                    .await;
                (key, result)
            }));
        }
    }
    let mut by_key: HashMap<usize, Vec<Keyed>> = HashMap::new();
    for task in tasks {
        let (key, result) = task.await.unwrap();
        by_key.entry(key).or_default().push(result);
    }

    let mut sold = BTreeSet::new();
    for (key, results) in &by_key {
        let ids: BTreeSet<_> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|created| created.as_inner().id))
            .collect();
        assert!(ids.len() <= 1, "key {key} placed two orders: {results:?}");
        sold.extend(ids);
        let new = results
            .iter()
            .filter(|r| matches!(r, Ok(Created::New(_))))
            .count();
        assert!(new <= 1, "key {key}: {results:?}");
        for result in results {
            match result {
                Ok(_) | Err(IdempotentError::Create(PlaceOrderError::OutOfStock { .. })) => {}
                // Optimistic only: still losing races when its budget ran out.
                Err(IdempotentError::Create(PlaceOrderError::Store(StoreError::Conflict)))
                    if strategy == ConcurrencyStrategy::Optimistic => {}
                other => panic!("key {key}: {other:?}"),
            }
        }
    }
    if strategy != ConcurrencyStrategy::Optimistic {
        for (key, results) in &by_key {
            let sold_to_key = results.iter().filter(|r| r.is_ok()).count();
            assert!(
                sold_to_key == 0 || sold_to_key == results.len(),
                "key {key} got two answers: {results:?}"
            );
        }
    }
    let left = harness.stock_of(disc.id).await;
    let sold = i64::try_from(sold.len()).unwrap();
    if strategy != ConcurrencyStrategy::Optimistic {
        assert_eq!(left, 0, "every unit found a buyer");
    }
    assert_eq!(left + sold, STOCK, "one unit per order, one order per key");
    assert_eq!(orders_of(&harness, disc.id).await, sold);
    assert_eq!(
        harness.count("idempotency_keys").await,
        sold,
        "only sales are remembered"
    );
    harness.assert_ledger_balances().await;
}
