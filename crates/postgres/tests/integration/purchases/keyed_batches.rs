//! Keyed purchases inside one batch of the batched strategy: several
//! purchases with one key in the same transaction, a key that already holds
//! a record, and a refused key, all decided together.

use recordshop_domain::customer::CustomerId;
use recordshop_domain::idempotency::{Created, IdempotencyRequest, IdempotentError};
use recordshop_domain::order::{PlaceOrderError, PurchaseOrder};
use recordshop_postgres::{BatchSettings, ConcurrencyStrategy};

use super::held_lock::{RowLock, a_backend_waits_for_a_lock, eventually, service};
use crate::support::{Harness, SMALL_POOL, key_of, units};

type Keyed = Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>>;

fn new_order(result: &Keyed) -> &PurchaseOrder {
    match result {
        Ok(Created::New(order)) => order,
        other => panic!("not newly placed: {other:?}"),
    }
}

fn replayed(result: &Keyed) -> &PurchaseOrder {
    match result {
        Ok(Created::Replayed(order)) => order,
        other => panic!("not replayed: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn purchases_sharing_a_key_in_one_batch_place_at_most_one_order() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.batched_orders(BatchSettings::default());
    let orders = service(&repository);
    let disc = harness.stocked_disc(ConcurrencyStrategy::Batched, 10).await;
    let buyer = harness.registered_customer("keys").await.id;
    let earlier = orders
        .place_once(buyer, disc.id, units(1), Some(key_of("o", "earlier")))
        .await
        .unwrap()
        .into_inner();

    let lock = RowLock::take(&harness, disc.id).await;
    let purchases: [(Option<IdempotencyRequest>, CustomerId, i64); 9] = [
        // Alone, blocked on the lock; the others queue behind it.
        (None, buyer, 1),
        (Some(key_of("o", "k1")), buyer, 1),
        (Some(key_of("o", "k1")), buyer, 1),
        (Some(key_of("o", "k1")), buyer, 2),
        (Some(key_of("o", "k2")), buyer, 100),
        (Some(key_of("o", "k2")), buyer, 100),
        (Some(key_of("o", "earlier")), buyer, 1),
        (Some(key_of("o", "earlier")), buyer, 3),
        (None, buyer, 1),
    ];
    let mut tasks = Vec::new();
    for (queued, (key, customer, quantity)) in purchases.into_iter().enumerate() {
        let orders = orders.clone();
        tasks.push(tokio::spawn(async move {
            orders
                .place_once(customer, disc.id, units(quantity), key)
                .await
        }));
        if queued == 0 {
            eventually("the first batch waits for the row lock", || {
                a_backend_waits_for_a_lock(&harness)
            })
            .await;
        } else {
            eventually("the purchase is queued", || async {
                repository.queued_purchases(disc.id) == queued
            })
            .await;
        }
    }
    lock.release().await;
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap());
    }

    let k1 = new_order(&results[1]);
    assert_eq!(replayed(&results[2]), k1, "the same request: its order");
    assert!(
        matches!(&results[3], Err(IdempotentError::IdempotencyKeyReused(k)) if k.as_str() == "k1"),
        "{:?}",
        results[3]
    );
    // A refused key is remembered by nobody: its second request is judged
    // again (a retry, in a later batch) and refused on its own.
    for refused in &results[4..=5] {
        assert!(
            matches!(
                refused,
                Err(IdempotentError::Create(PlaceOrderError::OutOfStock {
                    requested: 100,
                    ..
                }))
            ),
            "{refused:?}"
        );
    }
    assert_eq!(replayed(&results[6]), &earlier, "answered from its record");
    assert!(
        matches!(&results[7], Err(IdempotentError::IdempotencyKeyReused(_))),
        "{:?}",
        results[7]
    );
    let last = new_order(&results[8]);
    assert_eq!(k1.created_at, last.created_at, "one transaction");
    assert_eq!(
        last.disc.quantity.get(),
        6,
        "10 - earlier - first - k1 - last"
    );
    assert_eq!(harness.stock_of(disc.id).await, 6);
    assert_eq!(harness.count("purchase_orders").await, 4);
    assert_eq!(harness.count("idempotency_keys").await, 2, "earlier and k1");
    harness.assert_ledger_balances().await;
}
