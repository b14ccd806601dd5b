//! The hybrid strategy: synchronous (batched) while purchases are fast, the
//! queued intake while its breaker is open, probes to close it, and one
//! arrival order across both paths.

use std::sync::Arc;
use std::time::Duration;

use recordshop_domain::RetryPolicy;
use recordshop_domain::order::breaker::{BreakerSettings, BreakerState};
use recordshop_domain::order::{OrderStatus, PurchaseOrderService, RejectionReason};
use recordshop_postgres::{
    AllocationWorkers, ConcurrencyStrategy, Decisions, PgPurchaseOrderRepository, QueueSettings,
};

use super::held_lock::{RowLock, a_backend_waits_for_a_lock, eventually};
use super::queued::{buy, decided, queued_service};
use crate::support::{CONCURRENT_POOL, Harness, NEVER_OPENS, SMALL_POOL};

/// A hybrid repository over the harness's pool with `breaker`, and its
/// allocation workers running when `workers` is true.
fn hybrid(
    harness: &Harness,
    breaker: BreakerSettings,
    workers: bool,
) -> (PgPurchaseOrderRepository, PurchaseOrderService) {
    let decisions = Decisions::default();
    decisions.listen(harness.db.config().clone());
    let allocation =
        AllocationWorkers::new(harness.pool.clone(), QueueSettings::default(), decisions);
    if workers {
        allocation.start();
    }
    let repository =
        PgPurchaseOrderRepository::new(harness.pool.clone(), ConcurrencyStrategy::Hybrid)
            .with_breaker_settings(breaker)
            .with_allocation_workers(allocation);
    let service = PurchaseOrderService::new(Arc::new(repository.clone()), RetryPolicy::default());
    (repository, service)
}

fn state(repository: &PgPurchaseOrderRepository) -> BreakerState {
    repository
        .breaker()
        .map(|breaker| breaker.snapshot().state)
        .expect("a hybrid repository has a breaker")
}

/// A purchase slowed past the budget (the disc row held) opens the
/// breaker; the next purchase is queued and decided by the workers; once
/// the breaker's wait is over, a fast probe is decided at once and closes
/// it.
pub async fn a_slow_purchase_opens_the_breaker_and_a_fast_probe_closes_it() {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(ConcurrencyStrategy::Hybrid, 5).await;
    let buyer = harness.registered_customer("breaker").await;
    let settings = BreakerSettings {
        budget: Duration::from_millis(100),
        trip_after: 1,
        open_for: Duration::from_millis(500),
        probes: 1,
    };
    let (repository, service) = hybrid(&harness, settings, true);
    assert_eq!(state(&repository), BreakerState::Closed);

    let lock = RowLock::take(&harness, disc.id).await;
    let slow = tokio::spawn({
        let (service, buyer, disc) = (service.clone(), buyer.clone(), disc.clone());
        async move { buy(&service, &buyer, &disc).await }
    });
    eventually("the purchase waits for the row", || {
        a_backend_waits_for_a_lock(&harness)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    lock.release().await;
    let slow = slow.await.expect("slow purchase");
    assert_eq!(
        slow.status,
        OrderStatus::Confirmed,
        "decided within its request"
    );
    assert_eq!(state(&repository), BreakerState::Open);

    let queued = buy(&service, &buyer, &disc).await;
    assert_eq!(queued.status, OrderStatus::Pending, "queued while open");
    assert_eq!(
        decided(&service, queued.id).await.status,
        OrderStatus::Confirmed
    );

    tokio::time::sleep(settings.open_for).await;
    let probe = buy(&service, &buyer, &disc).await;
    assert_eq!(
        probe.status,
        OrderStatus::Confirmed,
        "the probe is decided within its request"
    );
    let snapshot = repository.breaker().expect("breaker").snapshot();
    assert_eq!(snapshot.state, BreakerState::Closed);
    assert_eq!(snapshot.trips, 1);
    assert_eq!(harness.stock_of(disc.id).await, 2);
    harness.assert_ledger_balances().await;
}

/// A synchronous purchase of a disc that has pending orders queues behind
/// them: the earlier pending buyer gets the last unit, the later one is
/// refused, whichever path each came by.
pub async fn a_purchase_queues_behind_its_discs_pending_orders() {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(ConcurrencyStrategy::Hybrid, 1).await;
    let buyer = harness.registered_customer("behind").await;
    // Orders taken in with nobody deciding them yet.
    let intake = queued_service(&harness, harness.pool.clone(), false);
    let earlier = buy(&intake, &buyer, &disc).await;
    assert_eq!(earlier.status, OrderStatus::Pending);
    let (_, closed) = hybrid(&harness, NEVER_OPENS, false);
    let later = buy(&closed, &buyer, &disc).await;
    assert_eq!(
        later.status,
        OrderStatus::Pending,
        "a closed breaker's purchase waits behind the disc's backlog"
    );
    assert_eq!(harness.stock_of(disc.id).await, 1, "nothing sold yet");

    let (_, deciding) = hybrid(&harness, NEVER_OPENS, true);
    assert_eq!(
        decided(&deciding, earlier.id).await.status,
        OrderStatus::Confirmed
    );
    let later = decided(&deciding, later.id).await;
    assert_eq!(later.status, OrderStatus::Rejected);
    assert_eq!(later.rejection_reason, Some(RejectionReason::OutOfStock));
    harness.assert_ledger_balances().await;
}

/// A breaker that keeps opening and closing under 200 buyers of 150 units,
/// arriving in waves of 10 every 5 ms (a breaker routes a purchase when it
/// arrives, so all at once would all be routed before the first verdict):
/// both paths are taken, exactly the stock is sold, and nothing stays
/// pending once the workers are done.
pub async fn a_flapping_breaker_sells_exactly_the_stock() {
    // Enough stock for the buyers of the waves after the first trip to find
    // some left: the queued path refuses at once what is already short.
    const STOCK: i64 = 150;
    const BUYERS: usize = 200;
    let harness = Harness::new(CONCURRENT_POOL).await;
    let disc = harness
        .stocked_disc(ConcurrencyStrategy::Hybrid, STOCK)
        .await;
    let buyer = harness.registered_customer("flapping").await;
    let settings = BreakerSettings {
        budget: Duration::from_millis(1),
        trip_after: 3,
        open_for: Duration::from_millis(20),
        probes: 2,
    };
    let (repository, service) = hybrid(&harness, settings, true);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..BUYERS {
        if n % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let (service, buyer, disc) = (service.clone(), buyer.clone(), disc.clone());
        tasks.spawn(async move {
            match service
                .place(buyer.id, disc.id, crate::support::units(1))
                .await
            {
                Ok(order) if order.status == OrderStatus::Pending => {
                    Some(decided(&service, order.id).await.status)
                }
                Ok(order) => Some(order.status),
                // Refused at once: the stock was already gone.
                Err(_) => None,
            }
        });
    }
    let mut confirmed = 0;
    while let Some(outcome) = tasks.join_next().await {
        if outcome.expect("buyer task") == Some(OrderStatus::Confirmed) {
            confirmed += 1;
        }
    }
    assert_eq!(confirmed, STOCK);
    assert!(
        repository.breaker().expect("breaker").snapshot().trips >= 1,
        "the breaker never opened"
    );
    let client = harness.client().await;
    let row = client
        .query_one(
            "SELECT
                 count(*) FILTER (WHERE status = 'pending'),
                 count(*) FILTER (WHERE EXISTS (
                     SELECT FROM order_events e WHERE e.order_id = o.id AND e.type = 'order.pending')),
                 count(*) FILTER (WHERE status = 'confirmed' AND NOT EXISTS (
                     SELECT FROM order_events e WHERE e.order_id = o.id AND e.type = 'order.pending'))
             FROM purchase_orders o WHERE disc_id = $1",
            &[&disc.id.as_uuid()],
        )
        .await
        .expect("order counts");
    let (pending, queued, sold_at_once): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(pending, 0);
    assert!(queued > 0, "no purchase was queued");
    assert!(sold_at_once > 0, "no purchase was decided at once");
    assert_eq!(harness.stock_of(disc.id).await, 0);
    harness.assert_ledger_balances().await;
}
