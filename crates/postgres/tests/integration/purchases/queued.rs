//! The queued strategy: intake answers pending without waiting for the
//! disc, the allocation workers decide in arrival order per disc, across
//! processes, and a poison order ends as the dead letter.

use std::sync::Arc;
use std::time::Duration;

use recordshop_domain::RetryPolicy;
use recordshop_domain::customer::Customer;
use recordshop_domain::disc::Disc;
use recordshop_domain::order::{
    OrderStatus, PurchaseOrder, PurchaseOrderId, PurchaseOrderService, RejectionReason,
};
use recordshop_postgres::{
    AllocationWorkers, ConcurrencyStrategy, Decisions, PgPurchaseOrderRepository, QueueSettings,
};
use uuid::Uuid;

use crate::support::{CONCURRENT_POOL, Harness, SMALL_POOL, units};

const DECIDED_WITHIN: Duration = Duration::from_secs(10);

/// A queued service over `pool` whose workers run when `workers` is true
/// (a process that only takes orders in, otherwise), listening for every
/// process's decisions.
pub fn queued_service(
    harness: &Harness,
    pool: deadpool_postgres::Pool,
    workers: bool,
) -> PurchaseOrderService {
    let decisions = Decisions::default();
    decisions.listen(harness.db.config().clone());
    let allocation = AllocationWorkers::new(pool.clone(), QueueSettings::default(), decisions);
    if workers {
        allocation.start();
    }
    let repository = PgPurchaseOrderRepository::new(pool, ConcurrencyStrategy::Queued)
        .with_allocation_workers(allocation);
    PurchaseOrderService::new(Arc::new(repository), RetryPolicy::default())
}

pub async fn buy(
    service: &PurchaseOrderService,
    customer: &Customer,
    disc: &Disc,
) -> PurchaseOrder {
    service
        .place(customer.id, disc.id, units(1))
        .await
        .expect("intake")
}

pub async fn decided(service: &PurchaseOrderService, id: PurchaseOrderId) -> PurchaseOrder {
    let order = service
        .get_decided(id, DECIDED_WITHIN)
        .await
        .expect("read the order");
    assert!(
        order.status.is_decided(),
        "order {id} still pending after {DECIDED_WITHIN:?}"
    );
    order
}

pub async fn intake_records_a_pending_order_without_waiting_for_the_disc() {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(ConcurrencyStrategy::Queued, 2).await;
    let buyer = harness.registered_customer("intake").await;
    // The disc row locked as a sale or an allocation locks it, and held.
    let seller = harness.client().await;
    seller.batch_execute("BEGIN").await.unwrap();
    seller
        .execute(
            "UPDATE discs SET quantity = quantity WHERE id = $1",
            &[&disc.id.as_uuid()],
        )
        .await
        .unwrap();
    let service = queued_service(&harness, harness.pool.clone(), false);
    let placed = tokio::time::timeout(Duration::from_secs(5), buy(&service, &buyer, &disc))
        .await
        .expect("intake waited for the disc's row lock");
    assert_eq!(placed.status, OrderStatus::Pending);
    assert_eq!(placed.decided_at, None);
    assert_eq!(placed.disc.quantity.get(), 2, "nothing left the stock yet");
    seller.batch_execute("ROLLBACK").await.unwrap();
    let events = service.events(placed.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.status).collect::<Vec<_>>(),
        [OrderStatus::Pending]
    );
}

pub async fn workers_confirm_in_arrival_order_and_reject_the_rest() {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(ConcurrencyStrategy::Queued, 3).await;
    let buyer = harness.registered_customer("arrival").await;
    // Taken in by a process without workers, then decided by another's.
    let intake = queued_service(&harness, harness.pool.clone(), false);
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(buy(&intake, &buyer, &disc).await.id);
    }
    let _workers = queued_service(&harness, harness.another_pool(SMALL_POOL), true);
    let mut outcomes = Vec::new();
    for id in &ids {
        outcomes.push(decided(&intake, *id).await);
    }
    let statuses: Vec<OrderStatus> = outcomes.iter().map(|o| o.status).collect();
    use OrderStatus::{Confirmed, Rejected};
    assert_eq!(
        statuses,
        [Confirmed, Confirmed, Confirmed, Rejected, Rejected]
    );
    assert!(
        outcomes[3..]
            .iter()
            .all(|o| o.rejection_reason == Some(RejectionReason::OutOfStock))
    );
    let stock_after: Vec<i64> = outcomes[..3]
        .iter()
        .map(|o| o.disc.quantity.get())
        .collect();
    assert_eq!(
        stock_after,
        [2, 1, 0],
        "each snapshot is the disc after its sale"
    );
    assert_eq!(harness.stock_of(disc.id).await, 0);
    let history = intake.events(ids[4]).await.unwrap();
    assert_eq!(
        history.iter().map(|e| e.kind()).collect::<Vec<_>>(),
        ["order.pending", "order.rejected"]
    );
    assert_eq!(
        history[1].rejection_reason,
        Some(RejectionReason::OutOfStock)
    );
    harness.assert_ledger_balances().await;
}

/// Two processes (pools, workers, listeners) taking in and deciding orders
/// of one disc at once: each disc is decided by one worker at a time, so
/// arrival order holds across them; the stock is sold exactly; nothing
/// stays pending.
pub async fn two_processes_keep_arrival_order_and_sell_exactly_the_stock() {
    const STOCK: i64 = 40;
    const BUYERS: usize = 120;
    let harness = Harness::new(CONCURRENT_POOL).await;
    let disc = harness
        .stocked_disc(ConcurrencyStrategy::Queued, STOCK)
        .await;
    let buyer = harness.registered_customer("two-processes").await;
    let first = queued_service(&harness, harness.pool.clone(), true);
    let second = queued_service(&harness, harness.another_pool(CONCURRENT_POOL), true);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..BUYERS {
        let service = if n % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let (buyer, disc) = (buyer.clone(), disc.clone());
        tasks.spawn(async move {
            let placed = buy(&service, &buyer, &disc).await;
            decided(&service, placed.id).await
        });
    }
    let mut confirmed = 0;
    while let Some(outcome) = tasks.join_next().await {
        let order = outcome.expect("buyer task");
        match order.status {
            OrderStatus::Confirmed => confirmed += 1,
            OrderStatus::Rejected => {
                assert_eq!(order.rejection_reason, Some(RejectionReason::OutOfStock));
            }
            other => panic!("order {} ended {other}", order.id),
        }
    }
    assert_eq!(confirmed, STOCK);
    // Arrival order: no rejected order arrived before a confirmed one.
    let client = harness.client().await;
    let row = client
        .query_one(
            "SELECT
                 (SELECT max(arrival) FROM purchase_orders WHERE disc_id = $1 AND status = 'confirmed'),
                 (SELECT min(arrival) FROM purchase_orders WHERE disc_id = $1 AND status = 'rejected'),
                 (SELECT count(*) FROM purchase_orders WHERE status = 'pending')",
            &[&disc.id.as_uuid()],
        )
        .await
        .unwrap();
    let (last_confirmed, first_rejected, pending): (i64, i64, i64) =
        (row.get(0), row.get(1), row.get(2));
    assert!(
        last_confirmed < first_rejected,
        "an order that arrived later got a unit an earlier one was refused"
    );
    assert_eq!(pending, 0);
    assert_eq!(harness.stock_of(disc.id).await, 0);
    harness.assert_ledger_balances().await;
}

/// An order whose allocation keeps failing (here a trigger refuses to
/// confirm it) is retried alone and then rejected as `allocation_failed`;
/// the orders behind it are decided as usual.
pub async fn a_poison_order_is_dead_lettered_and_does_not_block_its_disc() {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(ConcurrencyStrategy::Queued, 5).await;
    let buyer = harness.registered_customer("poison").await;
    let intake = queued_service(&harness, harness.pool.clone(), false);
    let poison = buy(&intake, &buyer, &disc).await;
    let behind = buy(&intake, &buyer, &disc).await;
    let client = harness.client().await;
    client
        .batch_execute(&format!(
            "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.id = '{}' AND NEW.status = 'confirmed' THEN
                     RAISE EXCEPTION 'this order cannot be allocated';
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_poison BEFORE UPDATE ON purchase_orders
                 FOR EACH ROW EXECUTE FUNCTION refuse_poison();",
            poison.id.as_uuid()
        ))
        .await
        .unwrap();
    let _workers = queued_service(&harness, harness.another_pool(SMALL_POOL), true);
    let poison = decided(&intake, poison.id).await;
    assert_eq!(poison.status, OrderStatus::Rejected);
    assert_eq!(
        poison.rejection_reason,
        Some(RejectionReason::AllocationFailed)
    );
    let behind = decided(&intake, behind.id).await;
    assert_eq!(behind.status, OrderStatus::Confirmed);
    let failures: i32 = client
        .query_one(
            "SELECT allocation_failures FROM purchase_orders WHERE id = $1",
            &[&poison.id.as_uuid()],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(failures, QueueSettings::default().max_failures);
    assert_eq!(
        harness.stock_of(disc.id).await,
        4,
        "only the order behind sold"
    );
    harness.assert_ledger_balances().await;
}

/// A waiter in one process is woken by a decision made in another, well
/// before its wait ends: the notification, not the timeout, answers it.
pub async fn a_decision_in_one_process_wakes_a_waiter_in_another() {
    let harness = Harness::new(SMALL_POOL).await;
    let disc = harness.stocked_disc(ConcurrencyStrategy::Queued, 1).await;
    let buyer = harness.registered_customer("waiter").await;
    let intake = queued_service(&harness, harness.pool.clone(), false);
    let placed = buy(&intake, &buyer, &disc).await;
    // Let the listener connect before the decision is made.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = tokio::spawn({
        let intake = intake.clone();
        async move {
            let started = std::time::Instant::now();
            let order = intake
                .get_decided(placed.id, Duration::from_secs(30))
                .await
                .unwrap();
            (order, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _workers = queued_service(&harness, harness.another_pool(SMALL_POOL), true);
    let (order, waited) = waiting.await.unwrap();
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert!(
        waited < Duration::from_secs(10),
        "woken after {waited:?}, not by the decision"
    );
    let unknown = intake
        .get_decided(
            PurchaseOrderId::from_uuid(Uuid::new_v4()),
            Duration::from_secs(1),
        )
        .await;
    assert!(unknown.is_err(), "an unknown order is not found at once");
}
