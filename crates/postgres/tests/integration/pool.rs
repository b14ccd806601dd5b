//! The pool's time limits and its recovery from connections the server
//! closed.

use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use recordshop_domain::StoreError;
use recordshop_domain::health::StoreHealth;
use recordshop_domain::idempotency::IdempotentError;
use recordshop_domain::order::PlaceOrderError;
use recordshop_postgres::{
    ConcurrencyStrategy, DatabaseTimeouts, PgStoreHealth, PoolSettings, create_pool_with_timeouts,
};

use crate::purchases::held_lock::{RowLock, eventually};
use crate::support::{Harness, SMALL_POOL, key_of, units};

fn pool_with(harness: &Harness, statement: Duration) -> Pool {
    let timeouts = DatabaseTimeouts {
        statement,
        ..DatabaseTimeouts::default()
    };
    let settings = PoolSettings {
        max_size: 2,
        wait_timeout: Duration::from_secs(10),
    };
    create_pool_with_timeouts(harness.db.config().clone(), settings, timeouts).unwrap()
}

#[tokio::test]
async fn every_connection_runs_with_the_session_timeouts() {
    let harness = Harness::new(SMALL_POOL).await;
    let client = harness.pool.get().await.unwrap();
    let show = |setting: &'static str| {
        let client = &client;
        async move {
            let row = client
                .query_one(&format!("SHOW {setting}"), &[])
                .await
                .unwrap();
            row.get::<_, String>(0)
        }
    };
    assert_eq!(show("statement_timeout").await, "5s");
    assert_eq!(show("idle_in_transaction_session_timeout").await, "10s");

    let short = pool_with(&harness, Duration::from_millis(250));
    let client = short.get().await.unwrap();
    let row = client
        .query_one("SHOW statement_timeout", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "250ms");
    let slept = client.batch_execute("SELECT pg_sleep(5)").await;
    let code = slept
        .as_ref()
        .err()
        .and_then(|e| e.code())
        .map(|c| c.code());
    assert_eq!(code, Some("57014"), "{slept:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_stuck_past_the_timeout_is_unavailable() {
    let harness = Harness::new(SMALL_POOL).await;
    let strategy = ConcurrencyStrategy::Pessimistic;
    let disc = harness.stocked_disc(strategy, 5).await;
    let customer = harness.registered_customer("stuck").await;
    let repository = recordshop_postgres::PgPurchaseOrderRepository::new(
        pool_with(&harness, Duration::from_millis(300)),
        strategy,
    );
    let orders = recordshop_domain::order::PurchaseOrderService::new(
        std::sync::Arc::new(repository),
        recordshop_domain::RetryPolicy::NEVER,
    );

    // A transaction elsewhere holds the disc row: the purchase waits for
    // its lock until PostgreSQL cancels the statement.
    let lock = RowLock::take(&harness, disc.id).await;
    let started = Instant::now();
    let plain = orders.place(customer.id, disc.id, units(1)).await;
    let keyed = orders
        .place_once(customer.id, disc.id, units(1), Some(key_of("o", "stuck")))
        .await;
    let waited = started.elapsed();
    lock.release().await;

    assert!(
        matches!(
            plain,
            Err(PlaceOrderError::Store(StoreError::Unavailable(_)))
        ),
        "{plain:?}"
    );
    assert!(
        matches!(
            keyed,
            Err(IdempotentError::Create(PlaceOrderError::Store(
                StoreError::Unavailable(_)
            )))
        ),
        "{keyed:?}"
    );
    assert!(waited < Duration::from_secs(4), "bounded: {waited:?}");
    assert_eq!(
        harness.count("idempotency_keys").await,
        0,
        "the claim rolled back"
    );
    assert_eq!(harness.stock_of(disc.id).await, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pool_replaces_connections_the_server_closed() {
    let harness = Harness::new(SMALL_POOL).await;
    let health = PgStoreHealth::new(harness.pool.clone());
    let pid_of_pooled = || async {
        let client = harness.pool.get().await.unwrap();
        let row = client
            .query_one("SELECT pg_backend_pid()", &[])
            .await
            .unwrap();
        row.get::<_, i32>(0)
    };
    health.ping().await.unwrap();
    let before = pid_of_pooled().await;

    // What a server restart or an administrator does to every session.
    let admin = harness.client().await;
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap();
    eventually("the terminated session is gone", || async {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = $1",
                &[&before],
            )
            .await
            .unwrap()
            .get::<_, i64>(0)
            == 0
    })
    .await;

    // The closed connection is dropped at checkout and a new one made; a
    // request that raced the closing may fail, as unavailable, never more.
    eventually("the pool serves again", || async {
        match health.ping().await {
            Ok(()) => true,
            Err(StoreError::Unavailable(_)) => false,
            Err(other) => panic!("{other:?}"),
        }
    })
    .await;
    assert_ne!(pid_of_pooled().await, before, "a new session");
}
