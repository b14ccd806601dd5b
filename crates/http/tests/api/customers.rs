use actix_web::http::StatusCode;
use serde_json::json;

use crate::helpers::{TestApp, customer_body, is_contract_timestamp};

#[actix_web::test]
async fn register_answers_201_with_location_and_an_active_customer() {
    let app = TestApp::spawn().await;
    let mut body = customer_body("ana", "  Ana Souza ");
    body["birth_date"] = json!(" 1990-05-17 ");
    let reply = app.post("/customers", body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().expect("id");
    assert_eq!(
        reply.header("location"),
        Some(format!("/customers/{id}").as_str())
    );
    assert_eq!(reply.body["name"], "Ana Souza");
    assert_eq!(reply.body["birth_date"], "1990-05-17");
    assert_eq!(reply.body["email"], "ana@example.com");
    assert_eq!(reply.body["document"], "doc-ana");
    assert_eq!(reply.body["phone"], "+55 (11) 91234-5678");
    assert_eq!(reply.body["is_active"], true);
    assert!(is_contract_timestamp(&reply.body["created_at"]));

    let fetched = app.get(&format!("/customers/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, reply.body);
}

#[actix_web::test]
async fn register_lists_every_failing_field() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/customers",
            json!({"document": "", "birth_date": "2023-02-30", "email": "nope", "phone": "call me"}),
        )
        .await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        reply.failing_fields(),
        ["document", "name", "birth_date", "email", "phone"]
    );

    let mut future = customer_body("future", "F");
    future["birth_date"] = json!("2999-01-01");
    let reply = app.post("/customers", future).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.failing_fields(), ["birth_date"]);

    let mut ancient = customer_body("ancient", "A");
    ancient["birth_date"] = json!("1899-12-31");
    let reply = app.post("/customers", ancient).await;
    assert_eq!(reply.failing_fields(), ["birth_date"]);

    let mut numeric = customer_body("numeric", "N");
    numeric["birth_date"] = json!(19_900_517);
    app.post("/customers", numeric)
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
}

#[actix_web::test]
async fn a_taken_document_or_email_is_customer_exists() {
    let app = TestApp::spawn().await;
    app.create_customer("ana", "Ana").await;

    let mut same_document = customer_body("other", "Other");
    same_document["document"] = json!("doc-ana");
    app.post("/customers", same_document)
        .await
        .assert_problem(StatusCode::CONFLICT, "customer_exists");

    let mut same_email = customer_body("other", "Other");
    same_email["email"] = json!("ANA@Example.com");
    app.post("/customers", same_email)
        .await
        .assert_problem(StatusCode::CONFLICT, "customer_exists");

    let bia = app.create_customer("bia", "Bia").await;
    let uri = format!("/customers/{}", bia["id"].as_str().unwrap());
    app.patch(&uri, json!({"email": "ana@example.com"}))
        .await
        .assert_problem(StatusCode::CONFLICT, "customer_exists");
}

#[actix_web::test]
async fn put_and_patch_update_and_reactivate() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("ana", "Ana").await;
    let uri = format!("/customers/{}", customer["id"].as_str().unwrap());

    let patched = app
        .patch(&uri, json!({"phone": "555 1234", "name": null}))
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["phone"], "555 1234");
    assert_eq!(patched.body["name"], "Ana");

    let put = app
        .put(
            &uri,
            json!({"is_active": false, "birth_date": "2000-02-29"}),
        )
        .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["is_active"], false);
    assert_eq!(put.body["birth_date"], "2000-02-29");

    let reactivated = app.put(&uri, json!({"is_active": true})).await;
    assert_eq!(reactivated.body["is_active"], true);

    let invalid = app
        .patch(&uri, json!({"email": "x@", "birth_date": "2001-02-29"}))
        .await;
    invalid.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(invalid.failing_fields(), ["birth_date", "email"]);

    app.patch(&uri, json!({"is_active": "yes"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
    app.put(
        "/customers/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f",
        json!({"name": "X"}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn delete_deactivates_and_keeps_the_customer() {
    let app = TestApp::spawn().await;
    let customer = app.create_customer("ana", "Ana").await;
    let uri = format!("/customers/{}", customer["id"].as_str().unwrap());

    let deleted = app.delete(&uri).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let fetched = app.get(&uri).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body["is_active"], false);
    // Deactivating again is harmless.
    assert_eq!(app.delete(&uri).await.status, StatusCode::NO_CONTENT);

    app.delete("/customers/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/customers/123")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn list_filters_customers() {
    let app = TestApp::spawn().await;
    app.create_customer("ana", "Ana Souza").await;
    app.create_customer("bia", "Beatriz Souza").await;
    let carl = app.create_customer("carl", "Carl Sagan").await;
    app.delete(&format!("/customers/{}", carl["id"].as_str().unwrap()))
        .await;

    let all = app.get("/customers").await;
    assert_eq!(all.status, StatusCode::OK);
    assert_eq!(all.names(), ["Ana Souza", "Beatriz Souza", "Carl Sagan"]);
    assert_eq!(
        (all.body["limit"].as_i64(), all.body["offset"].as_i64()),
        (Some(100), Some(0))
    );

    let cases: [(&str, &[&str]); 6] = [
        ("name=souza", &["Ana Souza", "Beatriz Souza"]),
        ("document=doc-bia", &["Beatriz Souza"]),
        ("email=carl@example.com", &["Carl Sagan"]),
        ("is_active=false", &["Carl Sagan"]),
        ("is_active=true&name=SOUZA", &["Ana Souza", "Beatriz Souza"]),
        ("limit=1&offset=1", &["Beatriz Souza"]),
    ];
    for (query, expected) in cases {
        let reply = app.get(&format!("/customers?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        assert_eq!(reply.names(), expected, "{query}");
    }

    for query in ["is_active=1", "limit=-1", "offset=x"] {
        app.get(&format!("/customers?{query}"))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
    }
}

#[actix_web::test]
async fn text_filters_with_control_characters_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    app.create_customer("ana", "Ana Souza").await;
    // Found by the OpenAPI fuzz run: a NUL reached PostgreSQL, which
    // refuses it in text, and the client got a 500.
    for (parameter, value) in [
        ("document", "EP%C3%BE%00%C2%B5x"),
        ("document", "doc-ana%0A"),
        ("email", "ana%00@example.com"),
        ("name", "Ana%09Souza"),
        ("name", "%00"),
    ] {
        let reply = app.get(&format!("/customers?{parameter}={value}")).await;
        reply.assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
        let detail = reply.body["detail"].as_str().unwrap_or_default();
        assert!(
            detail.starts_with(&format!("{parameter} must not contain control characters")),
            "{parameter}={value}: {detail}"
        );
    }
}

#[actix_web::test]
async fn text_with_control_characters_in_a_body_is_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let reply = app
        .post("/customers", customer_body("nul", "\u{0}?WBt"))
        .await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(reply.failing_fields(), ["name"]);
    assert_eq!(
        reply.body["errors"][0]["message"],
        "must not contain control characters"
    );

    let mut every_field = customer_body("every", "Ana");
    every_field["document"] = json!("doc\u{0}1");
    every_field["name"] = json!("Ana\u{7f}");
    every_field["email"] = json!("ana\u{0}@example.com");
    every_field["phone"] = json!("555\u{0}1234");
    let reply = app.post("/customers", every_field).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        reply.failing_fields(),
        ["document", "name", "email", "phone"]
    );

    // Trimming comes first: a trailing newline is trimmed away.
    let customer = app.create_customer("ana", "Ana Souza\n").await;
    assert_eq!(customer["name"], "Ana Souza");

    let uri = format!("/customers/{}", customer["id"].as_str().unwrap());
    for update in [
        json!({"document": "EP\u{fe}\u{0}\u{b5}"}),
        json!({"document": "doc\nana"}),
    ] {
        let reply = app.put(&uri, update).await;
        reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(reply.failing_fields(), ["document"]);
    }
    assert_eq!(app.get(&uri).await.body["document"], "doc-ana");
}
