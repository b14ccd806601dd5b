//! What only the batched strategy has: queues per disc, batches, several
//! repositories (server instances) batching the same disc.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use recordshop_domain::customer::CustomerId;
use recordshop_domain::order::{PlaceOrderError, PurchaseOrder};
use recordshop_postgres::{BatchSettings, ConcurrencyStrategy, PgPurchaseOrderRepository};
use tokio::sync::Barrier;
use tokio::task::JoinHandle;

use super::held_lock::{
    Placed, RowLock, a_backend_waits_for_a_lock, backends_waiting_for_a_lock, behind_a_held_lock,
    eventually, service,
};
use super::races::Outcomes;
use crate::support::{CONCURRENT_POOL, Harness, SMALL_POOL, stocked_disc, tagged_customer, units};

fn placed(result: &Placed) -> &PurchaseOrder {
    result
        .as_ref()
        .unwrap_or_else(|e| panic!("not placed: {e:?}"))
}

async fn no_worker_left(repository: &PgPurchaseOrderRepository) {
    eventually("every batch worker ended", || async {
        repository.batching_discs() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lone_purchase_is_answered_promptly() {
    let harness = Harness::new(SMALL_POOL).await;
    // A wait this long would show: a purchase of an idle disc, or a lone
    // client buying again, must not wait for company.
    let repository = harness.batched_orders(BatchSettings {
        max_batch: 256,
        max_wait: Duration::from_secs(3600),
    });
    let orders = service(&repository);
    let discs = harness.disc_service(ConcurrencyStrategy::Batched);
    let disc = discs.create(stocked_disc(10)).await.unwrap();
    let customer = harness.registered_customer("lone").await;
    for bought in 1..=5 {
        let placing = orders.place(customer.id, disc.id, units(1));
        let order = tokio::time::timeout(Duration::from_secs(5), placing)
            .await
            .expect("answered without waiting for max_wait")
            .unwrap();
        assert_eq!(order.disc.quantity.get(), 10 - bought);
    }
    no_worker_left(&repository).await;
    assert_eq!(harness.stock_of(disc.id).await, 5);
    harness.assert_ledger_balances().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_allocates_in_arrival_order_and_a_misfit_does_not_block_smaller_ones() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.batched_orders(BatchSettings::default());
    let disc = harness.stocked_disc(ConcurrencyStrategy::Batched, 5).await;
    let buyer = harness.registered_customer("b").await.id;

    // 1 alone, then one batch of 3, 3, 1, 2 on the 4 units left.
    let results = behind_a_held_lock(
        &harness,
        &repository,
        disc.id,
        &[(buyer, 1), (buyer, 3), (buyer, 3), (buyer, 1), (buyer, 2)],
    )
    .await;
    assert_eq!(placed(&results[0]).disc.quantity.get(), 4);
    let (first, fourth) = (placed(&results[1]), placed(&results[3]));
    assert_eq!(first.disc.quantity.get(), 1, "first come, first served");
    assert!(
        matches!(
            results[2],
            Err(PlaceOrderError::OutOfStock {
                available: 1,
                requested: 3,
                ..
            })
        ),
        "{:?}",
        results[2]
    );
    assert_eq!(
        fourth.disc.quantity.get(),
        0,
        "a smaller later one still fits"
    );
    assert!(
        matches!(
            results[4],
            Err(PlaceOrderError::OutOfStock {
                available: 0,
                requested: 2,
                ..
            })
        ),
        "{:?}",
        results[4]
    );
    assert_eq!(first.created_at, fourth.created_at, "one transaction");
    assert!(first.created_at > placed(&results[0]).created_at);
    assert_eq!(harness.stock_of(disc.id).await, 0);
    for order in results.iter().flatten() {
        let stored = service(&repository).get(order.id).await.unwrap();
        assert_eq!(&stored, order, "stored as returned");
    }
    no_worker_left(&repository).await;
    harness.assert_ledger_balances().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_who_may_not_buy_fails_alone_inside_a_batch() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.batched_orders(BatchSettings::default());
    let customers = harness.customer_service();
    let disc = harness.stocked_disc(ConcurrencyStrategy::Batched, 10).await;
    let ann = customers.register(tagged_customer("ann")).await.unwrap();
    let idle = customers.register(tagged_customer("idle")).await.unwrap();
    customers.deactivate(idle.id).await.unwrap();
    let stranger = CustomerId::generate();

    let results = behind_a_held_lock(
        &harness,
        &repository,
        disc.id,
        &[
            (ann.id, 1),
            (ann.id, 1),
            (idle.id, 1),
            (stranger, 1),
            (ann.id, 1),
        ],
    )
    .await;
    assert!(
        matches!(results[2], Err(PlaceOrderError::CustomerInactive(id)) if id == idle.id),
        "{:?}",
        results[2]
    );
    assert!(
        matches!(results[3], Err(PlaceOrderError::CustomerNotFound(id)) if id == stranger),
        "{:?}",
        results[3]
    );
    let (before, after) = (placed(&results[1]), placed(&results[4]));
    assert_eq!(before.created_at, after.created_at, "one transaction");
    assert_eq!(
        (before.disc.quantity.get(), after.disc.quantity.get()),
        (8, 7)
    );
    assert_eq!(after.customer, ann);
    assert_eq!(harness.stock_of(disc.id).await, 7);
    harness.assert_ledger_balances().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_batch_bounds_the_purchases_of_one_transaction() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.batched_orders(BatchSettings {
        max_batch: 2,
        max_wait: Duration::ZERO,
    });
    let disc = harness.stocked_disc(ConcurrencyStrategy::Batched, 10).await;
    let buyer = harness.registered_customer("b").await.id;
    let results = behind_a_held_lock(&harness, &repository, disc.id, &[(buyer, 1); 6]).await;
    let transactions: Vec<_> = results.iter().map(|r| placed(r).created_at).collect();
    // [1], then the five queued ones as [2, 3], [4, 5], [6].
    assert_eq!(transactions[1], transactions[2]);
    assert_eq!(transactions[3], transactions[4]);
    assert_eq!(transactions.iter().collect::<BTreeSet<_>>().len(), 4);
    assert_eq!(harness.stock_of(disc.id).await, 4);
    no_worker_left(&repository).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_caller_gone_before_its_batch_started_buys_nothing() {
    let harness = Harness::new(SMALL_POOL).await;
    let repository = harness.batched_orders(BatchSettings::default());
    let disc = harness.stocked_disc(ConcurrencyStrategy::Batched, 10).await;
    let buyer = harness.registered_customer("b").await.id;
    let lock = RowLock::take(&harness, disc.id).await;
    let orders = service(&repository);
    let place = |quantity| -> JoinHandle<Placed> {
        let orders = orders.clone();
        tokio::spawn(async move { orders.place(buyer, disc.id, units(quantity)).await })
    };
    let in_flight = place(1);
    eventually("the first batch waits for the row lock", || {
        a_backend_waits_for_a_lock(&harness)
    })
    .await;
    let gone = place(2);
    eventually("the purchase is queued", || async {
        repository.queued_purchases(disc.id) == 1
    })
    .await;
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());
    lock.release().await;
    placed(&in_flight.await.unwrap());
    no_worker_left(&repository).await;
    assert_eq!(
        harness.stock_of(disc.id).await,
        9,
        "only the first was placed"
    );
    let count: i64 = harness
        .client()
        .await
        .query_one("SELECT count(*) FROM purchase_orders", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_batching_the_same_disc_never_oversell() {
    const STOCK: i64 = 100;
    const ATTEMPTS: usize = 240;
    const TASKS_PER_INSTANCE: usize = 16;
    let harness = Harness::new(CONCURRENT_POOL / 2).await;
    // Two "server processes": separate pools, separate queues and workers.
    let instances = [
        harness.batched_orders(BatchSettings::default()),
        PgPurchaseOrderRepository::new(
            harness.another_pool(CONCURRENT_POOL / 2),
            ConcurrencyStrategy::Batched,
        ),
    ];
    let disc = harness
        .stocked_disc(ConcurrencyStrategy::Batched, STOCK)
        .await;
    let customer = harness.registered_customer("crowd").await;

    // Both instances' first batches queue behind a held row lock, so each
    // instance sells (a first batch takes at most 16 × 3 of the 100 units)
    // however the scheduler happens to order the tasks.
    let lock = RowLock::take(&harness, disc.id).await;
    let next = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(Barrier::new(2 * TASKS_PER_INSTANCE));
    let mut tasks = Vec::new();
    for (instance, repository) in instances.iter().enumerate() {
        for _ in 0..TASKS_PER_INSTANCE {
            let (orders, next, start) =
                (service(repository), Arc::clone(&next), Arc::clone(&start));
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let mut outcomes = Outcomes::default();
                loop {
                    let attempt = next.fetch_add(1, Ordering::SeqCst);
                    if attempt >= ATTEMPTS {
                        break;
                    }
                    let quantity = i64::try_from(attempt % 3 + 1).unwrap();
                    outcomes.record(&orders.place(customer.id, disc.id, units(quantity)).await);
                }
                (instance, outcomes)
            }));
        }
    }
    eventually("both instances wait on the disc's row lock", || async {
        backends_waiting_for_a_lock(&harness).await >= 2
    })
    .await;
    lock.release().await;
    let mut per_instance = [Outcomes::default(), Outcomes::default()];
    for task in tasks {
        let (instance, outcomes) = task.await.unwrap();
        per_instance[instance] = std::mem::take(&mut per_instance[instance]).merge(outcomes);
    }
    eprintln!("batched, two instances: {per_instance:?}");
    let [first, second] = per_instance;
    assert!(
        first.confirmed > 0 && second.confirmed > 0,
        "both instances sold"
    );
    let all = first.merge(second);
    assert!(all.unexpected.is_empty(), "{:?}", all.unexpected);
    assert_eq!(all.conflicts, 0);
    assert_eq!(all.attempts(), ATTEMPTS);
    let left = harness.stock_of(disc.id).await;
    assert!(left >= 0);
    assert_eq!(left + all.units_sold, STOCK, "no unit sold twice or lost");
    assert_eq!(
        left, 0,
        "one-unit purchases kept coming after the stock ran low"
    );
    for repository in &instances {
        no_worker_left(repository).await;
    }
    harness.assert_ledger_balances().await;
}
