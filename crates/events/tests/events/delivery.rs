//! Every event of every order reaches a consumer, in order per order, and
//! ends marked published.

use std::time::Duration;

use crate::support::{
    Bench, QueueKind, assert_delivered_in_order, cancel, confirm, place, reject, stored_events,
    test_broker_url, wait_for_all,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_is_delivered_in_order_per_order_and_marked_published() {
    let mut bench = Bench::start(test_broker_url(), |_| QueueKind::Exclusive).await;
    let (client, catalog) = (&bench.client, &bench.catalog);

    // A backlog from before the relay runs: confirmed at once, pending
    // then confirmed, confirmed then canceled, pending then rejected.
    let mut orders = Vec::new();
    for round in 0..10 {
        let order = place(client, catalog, "confirmed").await;
        if round % 2 == 0 {
            cancel(client, &order).await;
        }
        orders.push(order);
        let pending = place(client, catalog, "pending").await;
        if round % 3 == 0 {
            reject(client, &pending).await;
        } else {
            confirm(client, &pending).await;
            cancel(client, &pending).await;
        }
        orders.push(pending);
    }

    let relay = bench.relay().spawn();
    let handle = relay.handle();
    // More while it runs, some woken for, some found by its poll.
    for round in 0..300 {
        let order = place(client, catalog, "pending").await;
        confirm(client, &order).await;
        if round % 5 == 0 {
            cancel(client, &order).await;
        }
        if round % 2 == 0 {
            handle.wake();
        }
    }

    let mut received = Vec::new();
    wait_for_all(client, &mut bench.consumer, &mut received).await;
    relay.stop().await;
    // A short while for anything still in flight, to check no event came
    // more often than the at-least-once retries explain (none failed here).
    tokio::time::sleep(Duration::from_millis(200)).await;
    crate::support::drain(&mut bench.consumer, &mut received);

    let stored = stored_events(client).await;
    assert!(stored.len() > 700, "{} events", stored.len());
    assert!(stored.iter().all(|event| event.published));
    assert_delivered_in_order(&stored, &received);
    assert_eq!(received.len(), stored.len(), "duplicates without a failure");
    bench.consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_relay_publishes_at_a_time_and_another_takes_over_when_it_stops() {
    let mut bench = Bench::start(test_broker_url(), |_| QueueKind::Exclusive).await;
    let (client, catalog) = (&bench.client, &bench.catalog);
    for _ in 0..50 {
        place(client, catalog, "confirmed").await;
    }

    // The first takes the lock and publishes the backlog; the second,
    // started after, stands by.
    let first = bench.relay().spawn();
    let mut received = Vec::new();
    wait_for_all(client, &mut bench.consumer, &mut received).await;
    let second = bench.relay().spawn();
    for _ in 0..20 {
        place(client, catalog, "confirmed").await;
    }
    first.handle().wake();
    second.handle().wake();
    wait_for_all(client, &mut bench.consumer, &mut received).await;
    // Two relays, one lock: nothing was published twice.
    tokio::time::sleep(Duration::from_millis(300)).await;
    crate::support::drain(&mut bench.consumer, &mut received);
    assert_eq!(received.len(), 70);

    // The first stops and releases the lock; the second takes it within
    // its retry and publishes what came after.
    first.stop().await;
    for _ in 0..20 {
        let order = place(client, catalog, "confirmed").await;
        cancel(client, &order).await;
    }
    second.handle().wake();
    wait_for_all(client, &mut bench.consumer, &mut received).await;
    second.stop().await;
    let stored = stored_events(client).await;
    assert_eq!(stored.len(), 110);
    assert_delivered_in_order(&stored, &received);
    bench.consumer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_survives_losing_its_database_connection() {
    let mut bench = Bench::start(test_broker_url(), |_| QueueKind::Exclusive).await;
    let (client, catalog) = (&bench.client, &bench.catalog);
    let relay = bench.relay().spawn();
    for _ in 0..10 {
        place(client, catalog, "confirmed").await;
    }
    relay.handle().wake();
    let mut received = Vec::new();
    wait_for_all(client, &mut bench.consumer, &mut received).await;

    // The session holding the lock ends, as when PostgreSQL restarts or a
    // network failure cuts it.
    let holder = lock_holder(client).await.unwrap();
    client
        .execute("SELECT pg_terminate_backend($1)", &[&holder])
        .await
        .unwrap();
    for _ in 0..10 {
        let order = place(client, catalog, "confirmed").await;
        cancel(client, &order).await;
    }
    relay.handle().wake();
    wait_for_all(client, &mut bench.consumer, &mut received).await;
    let new_holder = lock_holder(client).await;
    assert!(
        new_holder.is_some_and(|pid| pid != holder),
        "{new_holder:?}"
    );
    relay.stop().await;
    assert_eq!(
        lock_holder(client).await,
        None,
        "the lock outlived the relay"
    );
    let stored = stored_events(client).await;
    assert_eq!(stored.len(), 30);
    assert_delivered_in_order(&stored, &received);
    bench.consumer.close().await;
}

/// The backend holding the relay's advisory lock on this database (other
/// tests' relays hold theirs on theirs; a bigint key is split into classid,
/// its high half, and objid).
async fn lock_holder(client: &tokio_postgres::Client) -> Option<i32> {
    client
        .query_opt(
            "SELECT pid FROM pg_locks
             WHERE locktype = 'advisory' AND granted AND objsubid = 1
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
               AND ((classid::bigint << 32) | objid::bigint) = $1",
            &[&recordshop_events::RELAY_LOCK_KEY],
        )
        .await
        .unwrap()
        .map(|row| row.get(0))
}
