//! The broker goes away while the relay runs: orders keep being made, their
//! events wait in the outbox, and once the broker is back on the same port
//! and folder the relay reconnects by itself and nothing is lost.

use std::time::{Duration, Instant};

use recordshop_harness::rabbitmq::Broker;

use crate::support::{
    Bench, Consumer, QueueKind, assert_delivered_in_order, blocking, cancel, confirm, drain,
    is_alive, place, stored_events, wait_for_all,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_made_while_the_broker_is_down_are_delivered_once_it_is_back() {
    crate::support::log();
    // A broker of this test's own: it is stopped and started again.
    let mut broker = blocking(Broker::scratch).await.unwrap();
    // Durable and declared before the outage, so what the relay published
    // before it, and what the consumer had not taken yet, survive it.
    let bench = Bench::start(broker.amqp_url(), |database| {
        QueueKind::Durable(format!("outage.{database}"))
    })
    .await;
    let relay = bench.relay().spawn();
    // The database lives as long as `bench` does; the rest is the test's.
    let Bench {
        url,
        client,
        settings,
        queue,
        mut consumer,
        catalog,
        ..
    } = bench;

    let mut orders = Vec::new();
    for _ in 0..20 {
        orders.push(place(&client, &catalog, "pending").await);
    }
    relay.handle().wake();
    let mut received = Vec::new();
    wait_for_all(&client, &mut consumer, &mut received).await;

    let pid = broker.pid().unwrap();
    broker = blocking(move || {
        broker.stop().unwrap();
        broker
    })
    .await;
    assert!(!is_alive(pid));
    // The API side is unaffected: orders change, events are appended.
    let down_since = Instant::now();
    for order in &orders {
        confirm(&client, order).await;
    }
    for order in orders.iter().step_by(2) {
        cancel(&client, order).await;
    }
    for _ in 0..10 {
        place(&client, &catalog, "confirmed").await;
    }
    relay.handle().wake();
    // Given time to try (and fail) a few times, they are all still there.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = stored_events(&client)
        .await
        .into_iter()
        .filter(|event| !event.published)
        .count();
    assert_eq!(
        waiting,
        20 + 10 + 10,
        "events made while the broker was down"
    );

    drain(&mut consumer, &mut received);
    drop(consumer);
    broker = blocking(move || {
        broker.restart().unwrap();
        broker
    })
    .await;
    let mut consumer = Consumer::start(&url, &settings.exchange, &queue).await;
    wait_for_all(&client, &mut consumer, &mut received).await;
    eprintln!(
        "the outage lasted {:?}; everything delivered after it",
        down_since.elapsed()
    );
    relay.stop().await;

    let stored = stored_events(&client).await;
    assert_eq!(stored.len(), 20 + 40);
    assert_delivered_in_order(&stored, &received);
    consumer.close().await;
    blocking(move || drop(broker)).await;
}
