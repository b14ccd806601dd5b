//! The queued strategy over HTTP: 202 and the pending order, `Prefer`
//! (RFC 7240) to wait for the outcome, the order's events, and what cannot
//! be canceled; the hybrid strategy's open breaker and `/health`.

use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use recordshop_domain::order::breaker::BreakerSettings;
use recordshop_postgres::ConcurrencyStrategy;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, customer_token};

async fn shop(stock: i64) -> (TestApp, Value, Value) {
    let app = TestApp::spawn_with(ConcurrencyStrategy::Queued).await;
    let customer = app.create_customer("queued", "Queued Buyer").await;
    let disc = app
        .create_disc("A Love Supreme", "John Coltrane", 1965, "Jazz", stock)
        .await;
    (app, customer, disc)
}

async fn buy(app: &TestApp, customer: &Value, disc: &Value, prefer: Option<&str>) -> Reply {
    let mut request = TestRequest::post()
        .uri("/purchase-orders")
        .set_json(json!({"customer_id": customer["id"], "disc_id": disc["id"], "quantity": 1}));
    if let Some(prefer) = prefer {
        request = request.insert_header(("Prefer", prefer));
    }
    app.send(request).await
}

/// The disc's row held as an allocation holds it, until the returned
/// client's `ROLLBACK`: intake goes on, the workers skip the disc.
async fn hold(app: &TestApp, disc: &Value) -> tokio_postgres::Client {
    let holder = app.database_client().await;
    holder.batch_execute("BEGIN").await.unwrap();
    holder
        .execute(
            "SELECT 1 FROM discs WHERE id = $1::text::uuid FOR NO KEY UPDATE",
            &[&disc["id"].as_str().unwrap()],
        )
        .await
        .unwrap();
    holder
}

async fn get_waiting(app: &TestApp, location: &str, seconds: u64) -> Reply {
    app.send(
        TestRequest::get()
            .uri(location)
            .insert_header(("Prefer", format!("wait={seconds}"))),
    )
    .await
}

#[actix_web::test]
async fn a_purchase_is_accepted_pending_and_then_confirmed() {
    let (app, customer, disc) = shop(1).await;
    // Held so that the order is still pending when the GET below starts
    // waiting (the workers skip a held disc).
    let holder = hold(&app, &disc).await;
    let accepted = buy(&app, &customer, &disc, None).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "pending");
    assert!(accepted.body["decided_at"].is_null());
    assert!(accepted.body["rejection_reason"].is_null());
    let location = accepted.header("location").unwrap().to_owned();
    assert_eq!(
        location,
        format!("/purchase-orders/{}", accepted.body["id"].as_str().unwrap())
    );

    let (decided, ()) = tokio::join!(get_waiting(&app, &location, 10), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        holder.batch_execute("ROLLBACK").await.unwrap();
    });
    assert_eq!(decided.status, StatusCode::OK);
    assert_eq!(decided.body["status"], "confirmed", "{}", decided.body);
    assert_eq!(decided.header("preference-applied"), Some("wait=10"));
    assert_eq!(
        decided.body["disc"]["quantity"], 0,
        "the disc after the sale"
    );

    let events = app.get(&format!("{location}/events")).await;
    assert_eq!(events.status, StatusCode::OK);
    let kinds: Vec<&str> = events.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["order.pending", "order.confirmed"]);
    assert_eq!(events.body["data"][1]["data"]["status"], "confirmed");
}

#[actix_web::test]
async fn prefer_wait_answers_the_outcome_and_respond_async_answers_at_once() {
    let (app, customer, disc) = shop(2).await;
    let confirmed = buy(&app, &customer, &disc, Some("wait=10")).await;
    assert_eq!(confirmed.status, StatusCode::CREATED, "{}", confirmed.body);
    assert_eq!(confirmed.body["status"], "confirmed");
    assert_eq!(confirmed.header("preference-applied"), Some("wait=10"));

    let started = Instant::now();
    let at_once = buy(&app, &customer, &disc, Some("respond-async, wait=10")).await;
    assert_eq!(at_once.status, StatusCode::ACCEPTED, "{}", at_once.body);
    assert_eq!(at_once.body["status"], "pending");
    assert_eq!(at_once.header("preference-applied"), Some("respond-async"));
    assert!(started.elapsed() < Duration::from_secs(5));
    let location = at_once.header("location").unwrap().to_owned();
    let decided = get_waiting(&app, &location, 10).await;
    assert_eq!(decided.body["status"], "confirmed", "{}", decided.body);
    assert!(decided.body["decided_at"].is_string());

    // Sold out now: refused as a synchronous purchase would be.
    buy(&app, &customer, &disc, Some("wait=10"))
        .await
        .assert_problem(StatusCode::CONFLICT, "out_of_stock");
}

#[actix_web::test]
async fn intake_refuses_at_once_what_it_can_check() {
    let (app, customer, disc) = shop(0).await;
    buy(&app, &customer, &disc, None)
        .await
        .assert_problem(StatusCode::CONFLICT, "out_of_stock");
    let unknown = json!({"id": "00000000-0000-4000-8000-000000000000"});
    buy(&app, &customer, &unknown, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "disc_not_found");
}

#[actix_web::test]
async fn a_rejected_order_cannot_be_canceled_and_its_events_follow_the_order_rules() {
    let (app, customer, disc) = shop(1).await;
    // Both orders are pending before either is decided.
    let holder = hold(&app, &disc).await;
    let first = buy(&app, &customer, &disc, None).await;
    let second = buy(&app, &customer, &disc, None).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.body);
    assert_eq!(second.status, StatusCode::ACCEPTED, "{}", second.body);
    holder.batch_execute("ROLLBACK").await.unwrap();
    let first = first.header("location").unwrap().to_owned();
    let second = second.header("location").unwrap().to_owned();
    assert_eq!(
        get_waiting(&app, &first, 10).await.body["status"],
        "confirmed"
    );
    let rejected = get_waiting(&app, &second, 10).await;
    assert_eq!(rejected.body["status"], "rejected", "{}", rejected.body);
    assert_eq!(rejected.body["rejection_reason"], "out_of_stock");
    app.post(&format!("{second}/cancel"), json!({}))
        .await
        .assert_problem(StatusCode::CONFLICT, "order_not_cancelable");
    let canceled = app.post(&format!("{first}/cancel"), json!({})).await;
    assert_eq!(canceled.body["status"], "canceled", "{}", canceled.body);

    let stranger = app.create_customer("stranger", "Stranger").await;
    let token = customer_token(stranger["id"].as_str().unwrap());
    app.send_with(TestRequest::get().uri(&format!("{second}/events")), &token)
        .await
        .assert_problem(StatusCode::FORBIDDEN, "forbidden");
    let owner = customer_token(customer["id"].as_str().unwrap());
    let own = app
        .send_with(TestRequest::get().uri(&format!("{second}/events")), &owner)
        .await;
    assert_eq!(own.status, StatusCode::OK);
    assert_eq!(own.body["data"][1]["type"], "order.rejected");
    assert_eq!(
        own.body["data"][1]["data"]["rejection_reason"],
        "out_of_stock"
    );
}

/// `hybrid` with a breaker that opens on its first purchase (no purchase
/// is within a zero budget): the first purchase is decided at once (201),
/// `/health` then shows the breaker open, and the next purchase is queued
/// (202) and confirmed by the workers.
#[actix_web::test]
async fn a_hybrid_purchase_is_queued_while_the_breaker_is_open() {
    let app = TestApp::spawn_hybrid(BreakerSettings {
        budget: Duration::ZERO,
        trip_after: 1,
        open_for: Duration::from_secs(3_600),
        probes: 1,
    })
    .await;
    let customer = app.create_customer("hybrid", "Hybrid Buyer").await;
    let disc = app
        .create_disc("Blue Train", "John Coltrane", 1957, "Jazz", 5)
        .await;
    let health = app.send(TestRequest::get().uri("/health")).await;
    assert_eq!(health.body["strategy"], "hybrid");
    assert_eq!(health.body["breaker"]["state"], "closed", "{}", health.body);

    let at_once = buy(&app, &customer, &disc, None).await;
    assert_eq!(at_once.status, StatusCode::CREATED, "{}", at_once.body);
    assert_eq!(at_once.body["status"], "confirmed");
    let health = app.send(TestRequest::get().uri("/health")).await;
    assert_eq!(health.body["breaker"]["state"], "open", "{}", health.body);
    assert_eq!(health.body["breaker"]["trips"], 1);

    let queued = buy(&app, &customer, &disc, Some("wait=10")).await;
    assert_eq!(queued.status, StatusCode::CREATED, "{}", queued.body);
    assert_eq!(queued.header("preference-applied"), Some("wait=10"));
    let queued = buy(&app, &customer, &disc, Some("respond-async")).await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    let location = queued.header("location").unwrap().to_owned();
    let decided = get_waiting(&app, &location, 10).await;
    assert_eq!(decided.body["status"], "confirmed", "{}", decided.body);
}

#[actix_web::test]
async fn other_strategies_show_no_breaker() {
    let app = TestApp::spawn_with(ConcurrencyStrategy::Batched).await;
    let health = app.send(TestRequest::get().uri("/health")).await;
    assert_eq!(health.status, StatusCode::OK);
    assert!(health.body.get("breaker").is_none(), "{}", health.body);
}
