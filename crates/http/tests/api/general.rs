//! What every route shares: request ids, unknown routes and methods, body
//! parsing, and health.

use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::test::TestRequest;
use serde_json::json;

use crate::helpers::TestApp;

const DISC: &str = r#"{"name": "Kind of Blue", "artist": "Miles Davis", "year_of_release": 1959, "genre": "Jazz", "quantity": 5}"#;

#[actix_web::test]
async fn a_sane_request_id_is_echoed_and_others_are_replaced() {
    let app = TestApp::spawn().await;
    let echoed = app
        .send(
            TestRequest::get()
                .uri("/health")
                .insert_header(("X-Request-Id", "trace-42 / abc")),
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("trace-42 / abc"));

    let generated = app.get("/health").await;
    let id = generated.header("x-request-id").expect("generated id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_ne!(Some(id), app.get("/health").await.header("x-request-id"));

    let too_long = "x".repeat(129);
    let replaced = app
        .send(
            TestRequest::get()
                .uri("/health")
                .insert_header(("X-Request-Id", too_long.as_str())),
        )
        .await;
    let id = replaced.header("x-request-id").expect("replacement id");
    assert!(uuid::Uuid::parse_str(id).is_ok());

    // Errors carry it too.
    let not_found = app
        .send(
            TestRequest::get()
                .uri("/discs/nope")
                .insert_header(("X-Request-Id", "req-1")),
        )
        .await;
    not_found.assert_problem(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(not_found.header("x-request-id"), Some("req-1"));
}

#[actix_web::test]
async fn unknown_routes_are_problem_404s() {
    let app = TestApp::spawn().await;
    for uri in [
        "/",
        "/nope",
        "/discs/",
        "/discs/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f/tracks",
    ] {
        app.get(uri)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    app.send(TestRequest::post().uri("/orders"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn a_wrong_method_is_405_with_allow() {
    let app = TestApp::spawn().await;
    let cases = [
        (TestRequest::delete().uri("/discs"), "POST, GET, HEAD"),
        (
            TestRequest::post().uri("/discs/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f"),
            "GET, PUT, PATCH, DELETE, HEAD",
        ),
        (TestRequest::put().uri("/customers"), "POST, GET, HEAD"),
        (
            TestRequest::post().uri("/customers/x"),
            "GET, PUT, PATCH, DELETE, HEAD",
        ),
        (TestRequest::delete().uri("/purchase-orders/x"), "GET, HEAD"),
        (
            TestRequest::patch().uri("/purchase-orders"),
            "POST, GET, HEAD",
        ),
        (TestRequest::post().uri("/health"), "GET, HEAD"),
        (TestRequest::delete().uri("/health/ready"), "GET, HEAD"),
    ];
    for (request, allowed) in cases {
        let reply = app.send(request).await;
        reply.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
        assert_eq!(reply.header("allow"), Some(allowed));
    }
}

#[actix_web::test]
async fn json_is_read_whatever_the_content_type() {
    let app = TestApp::spawn().await;
    let bare = app
        .send(TestRequest::post().uri("/discs").set_payload(DISC))
        .await;
    assert_eq!(bare.status, StatusCode::CREATED, "{}", bare.body);

    let form = app
        .send(
            TestRequest::post()
                .uri("/discs")
                .insert_header((CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(DISC),
        )
        .await;
    assert_eq!(form.status, StatusCode::CREATED, "{}", form.body);

    let text = app
        .send(
            TestRequest::post()
                .uri("/discs")
                .insert_header((CONTENT_TYPE, "text/plain"))
                .set_payload(DISC),
        )
        .await;
    assert_eq!(text.status, StatusCode::CREATED, "{}", text.body);
}

#[actix_web::test]
async fn bodies_that_are_not_json_objects_are_malformed() {
    let app = TestApp::spawn().await;
    for body in [
        "",
        "not json",
        "{\"name\": ",
        "[]",
        "[\"A\", \"B\", 1959, \"C\", 1]",
        "\"disc\"",
        "42",
        "null",
    ] {
        let reply = app
            .send(TestRequest::post().uri("/discs").set_payload(body))
            .await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
    }
    let customer = app.post("/customers", json!([1])).await;
    customer.assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
}

#[actix_web::test]
async fn a_body_over_64_kib_is_413() {
    let app = TestApp::spawn().await;
    let huge = json!({"name": "x".repeat(64 * 1024), "artist": "A", "year_of_release": 2000, "genre": "G", "quantity": 1});
    let reply = app.post("/discs", huge).await;
    reply.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let customer = app
        .post("/customers", json!({"name": "y".repeat(70_000)}))
        .await;
    customer.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // Just under the limit is parsed (and then refused for its content).
    let under = json!({"name": "x".repeat(60 * 1024)});
    let reply = app.post("/discs", under).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[actix_web::test]
async fn health_reports_the_strategy_and_readiness() {
    let app = TestApp::spawn().await;
    let live = app.get("/health").await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(
        live.body,
        json!({"status": "ok", "strategy": "pessimistic", "auth": "enabled"})
    );

    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body, json!({"status": "ready"}));
}
