//! Graceful shutdown of the real application, started by its
//! [`ShutdownTrigger`](recordshop::ShutdownTrigger) (what SIGTERM does,
//! without signalling the test process): a purchase in flight completes,
//! requests on open connections are refused with 503 and the connection
//! closed, no new connection is served, and the wait is bounded.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::hostile::{serve, status_of};

/// One answer on a kept-alive connection: the head, then as many body
/// bytes as `Content-Length` says.
async fn read_answer(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())
                        .flatten()
                })
                .unwrap_or(0);
            if received.len() >= end + 4 + length {
                return text;
            }
        }
        let read = stream.read(&mut buffer).await.expect("read");
        assert_ne!(read, 0, "closed before a whole answer: {text}");
        received.extend_from_slice(&buffer[..read]);
    }
}

async fn stocked_disc_and_customer(client: &Client) -> (Uuid, Uuid) {
    let (disc, customer) = (Uuid::new_v4(), Uuid::new_v4());
    client
        .execute(
            "INSERT INTO discs (id, name, artist, year_of_release, genre, quantity)
             VALUES ($1, 'Drain', 'The Testers', 2020, 'rock', 10)",
            &[&disc],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO stock_adjustments (disc_id, delta, reason) VALUES ($1, 10, 'initial')",
            &[&disc],
        )
        .await
        .unwrap();
    client
        .execute(
            "INSERT INTO customers (id, document, name, birth_date, email, phone)
             VALUES ($1, '123', 'Ada', DATE '1990-01-01', 'ada@example.com', '555 0100')",
            &[&customer],
        )
        .await
        .unwrap();
    (disc, customer)
}

fn purchase(disc: Uuid, customer: Uuid, token: &str) -> String {
    let body = format!(r#"{{"customer_id":"{customer}","disc_id":"{disc}","quantity":1}}"#);
    format!(
        "POST /purchase-orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

const HEALTH: &[u8] =
    b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Request-Id: drain-test\r\n\r\n";

/// Polls `condition` every 10 ms for 5 s at most.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        sleep(Duration::from_millis(10)).await;
    }
}

#[actix_web::test]
async fn shutdown_finishes_the_purchase_in_flight_and_refuses_the_rest() {
    let served = serve(2).await;
    let mut client = served.db.client().await.unwrap();
    let (disc, customer) = stocked_disc_and_customer(&client).await;

    // A kept-alive connection that has been served once already.
    let mut idle = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    idle.write_all(HEALTH).await.unwrap();
    assert_eq!(status_of(&read_answer(&mut idle).await), 200);

    // A purchase held in flight by a lock on its disc's row.
    let lock = client.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM discs WHERE id = $1 FOR UPDATE", &[&disc])
        .await
        .unwrap();
    let mut buyer = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    buyer
        .write_all(purchase(disc, customer, &served.token).as_bytes())
        .await
        .unwrap();
    eventually("the purchase to be in flight", || {
        served.drain.in_flight() == 1
    })
    .await;

    served.trigger.trigger();
    eventually("the drain to begin", || served.drain.is_draining()).await;

    // A request on the open connection is refused, and the connection closed.
    idle.write_all(HEALTH).await.unwrap();
    let refused = read_answer(&mut idle).await;
    let lower = refused.to_ascii_lowercase();
    assert_eq!(status_of(&refused), 503, "{refused}");
    assert!(refused.contains(r#""code":"unavailable""#), "{refused}");
    assert!(lower.contains("retry-after:"), "{refused}");
    assert!(lower.contains("connection: close"), "{refused}");
    assert!(lower.contains("x-request-id: drain-test"), "{refused}");

    // A new connection is not served.
    let mut late = TcpStream::connect(("127.0.0.1", served.port)).await;
    if let Ok(late) = late.as_mut() {
        let _ = late.write_all(HEALTH).await;
        let mut buffer = [0_u8; 64];
        let answered = timeout(Duration::from_millis(300), late.read(&mut buffer)).await;
        assert!(
            !matches!(answered, Ok(Ok(read)) if read > 0),
            "a connection opened while draining was served"
        );
    }

    // Still waiting for the purchase.
    sleep(Duration::from_millis(200)).await;
    assert!(!served.server.is_finished());
    lock.commit().await.unwrap();

    let bought = timeout(Duration::from_secs(5), read_answer(&mut buyer))
        .await
        .expect("the purchase in flight was answered");
    assert_eq!(status_of(&bought), 201, "{bought}");
    assert!(
        bought.to_ascii_lowercase().contains("connection: close"),
        "{bought}"
    );
    let stopped = timeout(Duration::from_secs(3), served.server)
        .await
        .expect("the server stopped once idle")
        .unwrap();
    assert!(stopped.is_ok(), "{stopped:?}");

    let row = client
        .query_one(
            "SELECT d.quantity, count(o.id)
               FROM discs d LEFT JOIN purchase_orders o ON o.disc_id = d.id AND o.status = 'confirmed'
              WHERE d.id = $1 GROUP BY d.quantity",
            &[&disc],
        )
        .await
        .unwrap();
    assert_eq!((row.get::<_, i64>(0), row.get::<_, i64>(1)), (9, 1));
}

#[actix_web::test]
async fn shutdown_stops_waiting_after_the_grace_period() {
    let served = serve(1).await;
    let mut client = served.db.client().await.unwrap();
    let (disc, customer) = stocked_disc_and_customer(&client).await;
    let lock = client.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM discs WHERE id = $1 FOR UPDATE", &[&disc])
        .await
        .unwrap();
    let mut buyer = TcpStream::connect(("127.0.0.1", served.port))
        .await
        .unwrap();
    buyer
        .write_all(purchase(disc, customer, &served.token).as_bytes())
        .await
        .unwrap();
    eventually("the purchase to be in flight", || {
        served.drain.in_flight() == 1
    })
    .await;

    let started = Instant::now();
    served.trigger.trigger();
    let stopped = timeout(Duration::from_secs(10), served.server)
        .await
        .expect("the server stopped despite a stuck request")
        .unwrap();
    let took = started.elapsed();
    assert!(stopped.is_ok(), "{stopped:?}");
    // The 5 s grace, and not actix's own shutdown timeout on top of it.
    assert!(
        took >= Duration::from_millis(4900) && took < Duration::from_secs(7),
        "stopped after {took:?}"
    );
    // The stuck purchase is cut off, or — when the stop closes its database
    // connection before its HTTP one — answered 503; never made.
    let mut buffer = [0_u8; 512];
    let answer = timeout(Duration::from_secs(2), buyer.read(&mut buffer)).await;
    let text = String::from_utf8_lossy(&buffer);
    assert!(
        matches!(answer, Ok(Ok(0) | Err(_))) || status_of(&text) == 503,
        "the stuck purchase should have been cut off: {answer:?} {text}"
    );
    lock.rollback().await.unwrap();
}
