//! What an attacker or a careless client sends at the edge: instants past
//! PostgreSQL's range, sloppy dates, compressed bodies, unknown assets,
//! personal data in paths, replayed anonymous sign-ups, HEAD. Each answers
//! a clear 4xx problem (or the right 2xx), never a 500.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use serde_json::Value;

use crate::helpers::{LogCapture, TestApp, customer_body};

#[actix_web::test]
async fn instants_outside_postgresqls_range_are_bad_requests_naming_the_parameter() {
    let app = TestApp::spawn().await;
    for (query, parameter) in [
        ("to=-5000-01-01", "to"),
        ("from=-5000-01-01", "from"),
        ("from=-4714-01-01T00:00:00Z", "from"),
        ("to=294277-01-01T00:00:00Z", "to"),
        ("to=%2B275760-09-13T00:00:00Z", "to"),
    ] {
        let reply = app.get(&format!("/purchase-orders?{query}")).await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(detail.starts_with(parameter), "{query}: {detail}");
    }
}

#[actix_web::test]
async fn dates_take_four_digit_years_and_two_digit_months_and_days() {
    let app = TestApp::spawn().await;
    for query in [
        "from=26-01-01",
        "from=2026-1-1",
        "to=2026-01-1",
        "to=0026-1-01",
    ] {
        let reply = app.get(&format!("/purchase-orders?{query}")).await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
    }
    let reply = app
        .get("/purchase-orders?from=2026-01-01&to=2026-12-31T23:59:59%2B02:00")
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let mut sloppy = customer_body("sloppy", "Sloppy Date");
    sloppy["birth_date"] = Value::from("90-05-17");
    let reply = app.post("/customers", sloppy).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.failing_fields(), ["birth_date"]);
}

/// A few KiB of gzip that inflate to 16 MiB of zeros: what a careless or
/// hostile client can make the server hold if it inflates bodies first.
fn gzip_bomb() -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0_u8; 1 << 20];
    for _ in 0..16 {
        encoder.write_all(&zeros).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    bomb
}

#[actix_web::test]
async fn compressed_request_bodies_are_refused_before_they_are_read() {
    let app = TestApp::spawn().await;
    for encoding in ["gzip", "deflate", "br", "zstd", "GZIP", "gzip, identity"] {
        let reply = app
            .send_anonymous(
                TestRequest::post()
                    .uri("/customers")
                    .insert_header(("content-type", "application/json"))
                    .insert_header(("content-encoding", encoding))
                    .set_payload(gzip_bomb()),
            )
            .await;
        reply.assert_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_encoding");
    }
    // `identity` is no compression: taken as sent.
    let reply = app
        .send(
            TestRequest::post()
                .uri("/customers")
                .insert_header(("content-encoding", "identity"))
                .set_json(customer_body("plain", "Plain Body")),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

#[actix_web::test]
async fn unknown_documentation_assets_are_problems_like_every_other_404() {
    let app = TestApp::spawn().await;
    for uri in ["/docs/nope.js", "/docs/../../etc/passwd", "/docs/a/b/c.css"] {
        let reply = app.send_anonymous(TestRequest::get().uri(uri)).await;
        reply.assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    let reply = app
        .send_anonymous(TestRequest::post().uri("/docs/index.html"))
        .await;
    assert_eq!(reply.status.as_u16() / 100, 4, "{}", reply.body);
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json")
    );
}

#[actix_web::test]
async fn logs_name_the_route_and_uuid_ids_never_the_path_as_sent() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("logged", "Logged Person").await;
    let id = customer["id"].as_str().unwrap().to_owned();
    let capture = LogCapture::start();
    app.get("/customers/victim%40example.com").await;
    app.get("/customers/victim@example.com").await;
    app.get(&format!("/customers/{id}")).await;
    app.get("/no/such/route/jane.doe@example.org").await;
    let logged = capture.finish();

    for leaked in ["victim", "jane.doe", "example.org", "%40"] {
        assert!(!logged.contains(leaked), "{leaked} was logged:\n{logged}");
    }
    assert!(logged.contains(r#"route="/customers/{id}""#), "{logged}");
    assert!(logged.contains(&format!("id={id}")), "{logged}");
    assert!(logged.contains(r#"route="<unmatched>""#), "{logged}");
}

#[actix_web::test]
async fn an_anonymous_key_reused_with_another_body_tells_a_prober_nothing() {
    let app = TestApp::spawn().await;
    let sign_up = |body: Value| {
        TestRequest::post()
            .uri("/customers")
            .insert_header(("idempotency-key", "signup-1"))
            .set_json(body)
    };
    let first = app
        .send_anonymous(sign_up(customer_body("anon", "Anne Onymous")))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    // Anonymous keys are scoped by the request: another body under the same
    // key is a request of its own, not a 422 saying the key was used.
    let other = app
        .send_anonymous(sign_up(customer_body("other", "Otto Other")))
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    assert_ne!(other.body["id"], first.body["id"]);
    assert_eq!(other.header("idempotent-replayed"), None);
    // Signed-in callers keep the strict rule.
    let staff = |body: Value| {
        TestRequest::post()
            .uri("/customers")
            .insert_header(("idempotency-key", "staff-1"))
            .set_json(body)
    };
    let made = app.send(staff(customer_body("s1", "Staff Made"))).await;
    assert_eq!(made.status, StatusCode::CREATED);
    app.send(staff(customer_body("s2", "Staff Other")))
        .await
        .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused");
}

#[actix_web::test]
async fn head_is_answered_wherever_get_is() {
    let app = TestApp::spawn().await;
    let disc = app
        .create_disc("Head Lines", "The Headers", 2001, "rock", 3)
        .await;
    let id = disc["id"].as_str().unwrap();
    for uri in [
        "/health".to_owned(),
        "/discs".to_owned(),
        format!("/discs/{id}"),
        "/openapi.json".to_owned(),
    ] {
        let reply = app
            .send_anonymous(
                TestRequest::default()
                    .method(actix_web::http::Method::HEAD)
                    .uri(&uri),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "HEAD {uri}: {}", reply.body);
    }
    let unknown = app
        .send_anonymous(
            TestRequest::default()
                .method(actix_web::http::Method::HEAD)
                .uri("/discs/00000000-0000-4000-8000-000000000000"),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let refused = app
        .send_anonymous(TestRequest::delete().uri("/health"))
        .await;
    refused.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(refused.header("allow"), Some("GET, HEAD"));
}
