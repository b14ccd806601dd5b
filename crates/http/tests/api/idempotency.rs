//! `Idempotency-Key` on the creates, over the real stack: a repeat replays
//! the first answer and creates nothing; another request under the same key
//! is refused; keys are the caller's own.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use futures_util::future::join_all;
use recordshop_auth::Principal;
use recordshop_domain::customer::CustomerId;
use recordshop_postgres::ConcurrencyStrategy;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp, customer_body, token_for};

fn keyed(uri: &str, key: &str, body: &Value) -> TestRequest {
    TestRequest::post()
        .uri(uri)
        .insert_header(("Idempotency-Key", key))
        .set_json(body)
}

fn id(resource: &Value) -> &str {
    resource["id"].as_str().expect("id")
}

async fn stock_of(app: &TestApp, disc: &Value) -> i64 {
    let reply = app.get(&format!("/discs/{}", id(disc))).await;
    reply.body["quantity"].as_i64().expect("quantity")
}

async fn orders_of(app: &TestApp, customer: &Value) -> usize {
    let reply = app
        .get(&format!("/purchase-orders?customer_id={}", id(customer)))
        .await;
    reply.body["data"].as_array().expect("data").len()
}

#[actix_web::test]
async fn a_repeated_purchase_replays_the_first_answer_under_every_strategy() {
    for strategy in ConcurrencyStrategy::SYNCHRONOUS {
        let app = TestApp::spawn_with(strategy).await;
        let customer = app.create_customer("kim", "Kim").await;
        let disc = app
            .create_disc("Blue Train", "John Coltrane", 1957, "Jazz", 5)
            .await;
        let body = json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 2});

        let first = app.send(keyed("/purchase-orders", "buy-1", &body)).await;
        let again = app.send(keyed("/purchase-orders", "buy-1", &body)).await;

        assert_eq!(
            first.status,
            StatusCode::CREATED,
            "{strategy}: {}",
            first.body
        );
        assert_eq!(first.header("idempotent-replayed"), None);
        assert_eq!(
            again.status,
            StatusCode::CREATED,
            "{strategy}: {}",
            again.body
        );
        assert_eq!(again.header("idempotent-replayed"), Some("true"));
        assert_eq!(again.body, first.body, "{strategy}: the same body");
        assert_eq!(again.header("location"), first.header("location"));
        assert_eq!(stock_of(&app, &disc).await, 3, "{strategy}: sold once");
        assert_eq!(orders_of(&app, &customer).await, 1, "{strategy}");
    }
}

#[actix_web::test]
async fn concurrent_repeats_make_one_order() {
    let app = TestApp::spawn_with(ConcurrencyStrategy::Batched).await;
    let customer = app.create_customer("lee", "Lee").await;
    let disc = app
        .create_disc("Mingus Ah Um", "Charles Mingus", 1959, "Jazz", 50)
        .await;
    let body = json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 1});

    let replies: Vec<Reply> =
        join_all((0..20).map(|_| app.send(keyed("/purchase-orders", "storm", &body)))).await;

    let ids: std::collections::BTreeSet<_> = replies
        .iter()
        .map(|reply| {
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            id(&reply.body).to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "every answer names the same order");
    let fresh = replies
        .iter()
        .filter(|reply| reply.header("idempotent-replayed").is_none())
        .count();
    assert_eq!(
        fresh, 1,
        "one answer made the order, the others replayed it"
    );
    assert_eq!(stock_of(&app, &disc).await, 49);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("max", "Max").await;
    let disc = app
        .create_disc("Ege Bamyasi", "Can", 1972, "Krautrock", 5)
        .await;
    let one = json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 1});
    let two = json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 2});

    let first = app.send(keyed("/purchase-orders", "k-1", &one)).await;
    let other = app.send(keyed("/purchase-orders", "k-1", &two)).await;

    assert_eq!(first.status, StatusCode::CREATED);
    other.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
    assert_eq!(stock_of(&app, &disc).await, 4);
}

#[actix_web::test]
async fn a_refused_purchase_is_not_remembered() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("noa", "Noa").await;
    let disc = app
        .create_disc("Tago Mago", "Can", 1971, "Krautrock", 1)
        .await;
    let body = json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 2});

    let short = app.send(keyed("/purchase-orders", "later", &body)).await;
    short.assert_problem(StatusCode::CONFLICT, "out_of_stock");
    let restock = app
        .put(&format!("/discs/{}", id(&disc)), json!({"quantity": 5}))
        .await;
    assert_eq!(restock.status, StatusCode::OK);
    let retried = app.send(keyed("/purchase-orders", "later", &body)).await;

    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.body);
    assert_eq!(retried.header("idempotent-replayed"), None);
    assert_eq!(stock_of(&app, &disc).await, 3);
}

#[actix_web::test]
async fn keys_belong_to_their_caller() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("oli", "Oli").await;
    let disc = app
        .create_disc("Future Days", "Can", 1973, "Krautrock", 5)
        .await;
    let body = json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 1});
    let customer_id: CustomerId = id(&customer).parse().expect("customer id");
    let own_token = token_for(&Principal::Customer(customer_id));

    let by_staff = app.send(keyed("/purchase-orders", "shared", &body)).await;
    let by_customer = app
        .send_with(keyed("/purchase-orders", "shared", &body), &own_token)
        .await;

    assert_eq!(by_staff.status, StatusCode::CREATED);
    assert_eq!(by_customer.status, StatusCode::CREATED);
    assert_eq!(by_customer.header("idempotent-replayed"), None);
    assert_ne!(id(&by_staff.body), id(&by_customer.body));
    assert_eq!(stock_of(&app, &disc).await, 3);
}

#[actix_web::test]
async fn a_repeated_sign_up_replays_the_customer_but_no_token() {
    let app = TestApp::spawn().await;
    let body = customer_body("pat", "Pat");
    let sign_up = || {
        TestRequest::post()
            .uri("/customers")
            .insert_header(("Idempotency-Key", "\"sign-up-pat\""))
            .set_json(&body)
    };

    let first = app.send_anonymous(sign_up()).await;
    let again = app.send_anonymous(sign_up()).await;

    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(
        again.status,
        StatusCode::CREATED,
        "not 409 customer_exists: {}",
        again.body
    );
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert!(first.header("x-access-token").is_some());
    // Whoever repeats the key and the body gets the answer, not a token
    // acting for the customer: only the request that created it does.
    assert!(again.header("x-access-token").is_none());
}

#[actix_web::test]
async fn a_repeated_disc_create_replays_it() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Monster Movie", "artist": "Can", "year_of_release": 1969,
        "genre": "Krautrock", "quantity": 3});

    let first = app.send(keyed("/discs", "disc-1", &body)).await;
    let again = app.send(keyed("/discs", "disc-1", &body)).await;

    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    let listed = app.get("/discs?name_exact=Monster%20Movie").await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(1));
}

#[actix_web::test]
async fn a_malformed_key_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let body = json!({"name": "Soundtracks", "artist": "Can", "year_of_release": 1970,
        "genre": "Krautrock", "quantity": 3});
    for key in ["", "two words", "é"] {
        let request = TestRequest::post()
            .uri("/discs")
            .insert_header(("Idempotency-Key", key))
            .set_json(&body);
        app.send(request)
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
    }
    let listed = app.get("/discs?name_exact=Soundtracks").await;
    assert_eq!(listed.body["data"].as_array().map(Vec::len), Some(0));
}
