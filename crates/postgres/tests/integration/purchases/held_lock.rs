//! Putting known purchases into one batch: a plain client holds the disc
//! row's lock, the first purchase's batch waits on it, the next purchases
//! queue in a known order, and releasing the lock lets them run as the
//! next batch.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use recordshop_domain::RetryPolicy;
use recordshop_domain::customer::CustomerId;
use recordshop_domain::disc::DiscId;
use recordshop_domain::order::{PlaceOrderError, PurchaseOrder, PurchaseOrderService};
use recordshop_postgres::PgPurchaseOrderRepository;

use crate::support::{Harness, units};

pub type Placed = Result<PurchaseOrder, PlaceOrderError>;

/// Waits, with a bound, until `condition` holds.
pub async fn eventually<F: Future<Output = bool>>(what: &str, mut condition: impl FnMut() -> F) {
    for _ in 0..1_000 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("not within 5 s: {what}");
}

pub fn service(repository: &PgPurchaseOrderRepository) -> PurchaseOrderService {
    PurchaseOrderService::new(Arc::new(repository.clone()), RetryPolicy::default())
}

/// The disc row locked by a transaction of a plain client.
pub struct RowLock(tokio_postgres::Client);

impl RowLock {
    pub async fn take(harness: &Harness, disc: DiscId) -> Self {
        let client = harness.client().await;
        client.batch_execute("BEGIN").await.unwrap();
        client
            .execute(
                "SELECT 1 FROM discs WHERE id = $1 FOR UPDATE",
                &[&disc.as_uuid()],
            )
            .await
            .unwrap();
        Self(client)
    }

    pub async fn release(self) {
        self.0.batch_execute("ROLLBACK").await.unwrap();
    }
}

pub async fn a_backend_waits_for_a_lock(harness: &Harness) -> bool {
    backends_waiting_for_a_lock(harness).await > 0
}

pub async fn backends_waiting_for_a_lock(harness: &Harness) -> i64 {
    harness
        .client()
        .await
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

/// Places `purchases` of `disc` so that the first runs alone, blocked on
/// the row lock, while the others queue in the order given; then releases
/// the lock and returns every answer, in the same order.
pub async fn behind_a_held_lock(
    harness: &Harness,
    repository: &PgPurchaseOrderRepository,
    disc: DiscId,
    purchases: &[(CustomerId, i64)],
) -> Vec<Placed> {
    let lock = RowLock::take(harness, disc).await;
    let orders = service(repository);
    let mut tasks = Vec::new();
    for (queued, &(customer, quantity)) in purchases.iter().enumerate() {
        let orders = orders.clone();
        tasks.push(tokio::spawn(async move {
            orders.place(customer, disc, units(quantity)).await
        }));
        if queued == 0 {
            eventually("the first batch waits for the row lock", || {
                a_backend_waits_for_a_lock(harness)
            })
            .await;
        } else {
            eventually("the purchase is queued", || async {
                repository.queued_purchases(disc) == queued
            })
            .await;
        }
    }
    lock.release().await;
    let mut placed = Vec::new();
    for task in tasks {
        placed.push(task.await.unwrap());
    }
    placed
}
