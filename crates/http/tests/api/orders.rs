use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use chrono::{Duration, Utc};
use recordshop_postgres::ConcurrencyStrategy;
use serde_json::{Value, json};

use crate::helpers::{TestApp, is_contract_timestamp};

fn id(resource: &Value) -> &str {
    resource["id"].as_str().expect("id")
}

async fn shop(strategy: ConcurrencyStrategy) -> (TestApp, Value, Value) {
    let app = TestApp::spawn_with(strategy).await;
    let customer = app.create_customer("ana", "Ana").await;
    let disc = app
        .create_disc("Kind of Blue", "Miles Davis", 1959, "Jazz", 3)
        .await;
    (app, customer, disc)
}

#[actix_web::test]
async fn placing_answers_201_with_snapshots_and_decrements_the_stock() {
    for strategy in ConcurrencyStrategy::SYNCHRONOUS {
        let (app, customer, disc) = shop(strategy).await;
        let reply = app
            .post(
                "/purchase-orders",
                json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 2}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{strategy}: {}",
            reply.body
        );
        let order = &reply.body;
        assert_eq!(
            reply.header("location"),
            Some(format!("/purchase-orders/{}", id(order)).as_str())
        );
        assert_eq!(order["customer_id"], customer["id"]);
        assert_eq!(order["disc_id"], disc["id"]);
        assert_eq!(order["quantity"], 2);
        assert_eq!(order["status"], "confirmed");
        assert!(order["canceled_at"].is_null());
        assert!(is_contract_timestamp(&order["created_at"]));
        assert_eq!(order["customer"], customer, "the customer as they were");
        assert_eq!(order["disc"]["id"], disc["id"]);
        assert_eq!(
            order["disc"]["quantity"], 1,
            "the disc right after this sale"
        );

        let stock = app.get(&format!("/discs/{}", id(&disc))).await;
        assert_eq!(stock.body["quantity"], 1);
        let fetched = app.get(&format!("/purchase-orders/{}", id(order))).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(&fetched.body, order);
    }
}

#[actix_web::test]
async fn buying_more_than_the_stock_is_out_of_stock() {
    let (app, customer, disc) = shop(ConcurrencyStrategy::Pessimistic).await;
    let reply = app
        .post(
            "/purchase-orders",
            json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 5}),
        )
        .await;
    reply.assert_problem(StatusCode::CONFLICT, "out_of_stock");
    assert_eq!(
        reply.body["detail"],
        format!("disc {} has 3 units left, 5 requested", id(&disc))
    );
    assert_eq!(
        app.get(&format!("/discs/{}", id(&disc))).await.body["quantity"],
        3
    );
}

#[actix_web::test]
async fn ids_in_the_body_that_name_nothing_are_specific_404s() {
    let (app, customer, disc) = shop(ConcurrencyStrategy::Pessimistic).await;
    let unknown = "6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f";
    app.post(
        "/purchase-orders",
        json!({"customer_id": unknown, "disc_id": id(&disc), "quantity": 1}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "customer_not_found");
    app.post(
        "/purchase-orders",
        json!({"customer_id": id(&customer), "disc_id": unknown, "quantity": 1}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "disc_not_found");

    app.delete(&format!("/discs/{}", id(&disc))).await;
    app.post(
        "/purchase-orders",
        json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 1}),
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "disc_not_found");
}

#[actix_web::test]
async fn an_inactive_customer_cannot_buy() {
    let (app, customer, disc) = shop(ConcurrencyStrategy::Pessimistic).await;
    app.delete(&format!("/customers/{}", id(&customer))).await;
    app.post(
        "/purchase-orders",
        json!({"customer_id": id(&customer), "disc_id": id(&disc), "quantity": 1}),
    )
    .await
    .assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "customer_inactive");
}

#[actix_web::test]
async fn an_invalid_purchase_lists_every_failing_field() {
    let app = TestApp::spawn().await;
    let reply = app.post("/purchase-orders", json!({})).await;
    reply.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(
        reply.failing_fields(),
        ["customer_id", "disc_id", "quantity"]
    );

    let reply = app
        .post(
            "/purchase-orders",
            json!({"customer_id": "nope", "disc_id": "6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f", "quantity": 0}),
        )
        .await;
    assert_eq!(reply.failing_fields(), ["customer_id", "quantity"]);

    let reply = app
        .post(
            "/purchase-orders",
            json!({"customer_id": "6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f",
                   "disc_id": "6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f", "quantity": 2_147_483_648_i64}),
        )
        .await;
    assert_eq!(reply.failing_fields(), ["quantity"]);

    app.post("/purchase-orders", json!({"quantity": "1"}))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
}

#[actix_web::test]
async fn unknown_or_malformed_order_ids_are_not_found() {
    let app = TestApp::spawn().await;
    let unknown = "/purchase-orders/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f";
    app.get(unknown)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.send(TestRequest::post().uri(&format!("{unknown}/cancel")))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.get("/purchase-orders/42")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    app.send(TestRequest::post().uri("/purchase-orders/42/cancel"))
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}

#[actix_web::test]
async fn cancel_restocks_once_and_is_idempotent() {
    let (app, customer, disc) = shop(ConcurrencyStrategy::Pessimistic).await;
    let order = app.place_order(&customer, &disc, 2).await;
    let cancel = format!("/purchase-orders/{}/cancel", id(&order));

    let first = app.send(TestRequest::post().uri(&cancel)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["status"], "canceled");
    assert!(is_contract_timestamp(&first.body["canceled_at"]));
    assert_eq!(
        app.get(&format!("/discs/{}", id(&disc))).await.body["quantity"],
        3
    );

    let second = app.send(TestRequest::post().uri(&cancel)).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["status"], "canceled");
    assert_eq!(second.body["canceled_at"], first.body["canceled_at"]);
    assert_eq!(
        app.get(&format!("/discs/{}", id(&disc))).await.body["quantity"],
        3
    );

    let wrong_method = app.get(&cancel).await;
    wrong_method.assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert_eq!(wrong_method.header("allow"), Some("POST"));
}

#[actix_web::test]
async fn list_filters_orders_newest_first() {
    let app = TestApp::spawn().await;
    let ana = app.create_customer("ana", "Ana").await;
    let bia = app.create_customer("bia", "Bia").await;
    let blue = app
        .create_disc("Kind of Blue", "Miles Davis", 1959, "Jazz", 10)
        .await;
    let road = app
        .create_disc("Abbey Road", "The Beatles", 1969, "Rock", 10)
        .await;
    let first = app.place_order(&ana, &blue, 1).await;
    let second = app.place_order(&bia, &blue, 2).await;
    let third = app.place_order(&ana, &road, 3).await;
    app.send(TestRequest::post().uri(&format!("/purchase-orders/{}/cancel", id(&second))))
        .await;

    let ids = |reply: &crate::helpers::Reply| -> Vec<String> {
        reply.body["data"]
            .as_array()
            .map(|orders| orders.iter().map(|o| id(o).to_owned()).collect())
            .unwrap_or_default()
    };
    let [first, second, third] = [id(&first), id(&second), id(&third)];
    let today = Utc::now().date_naive();
    let yesterday = today - Duration::days(1);
    let tomorrow = today + Duration::days(1);
    let cases: Vec<(String, Vec<&str>)> = vec![
        (String::new(), vec![third, second, first]),
        (format!("customer_id={}", id(&ana)), vec![third, first]),
        (format!("disc_id={}", id(&blue)), vec![second, first]),
        ("status=canceled".to_owned(), vec![second]),
        ("status=confirmed".to_owned(), vec![third, first]),
        (
            format!("from={today}&to={today}"),
            vec![third, second, first],
        ),
        (format!("to={yesterday}"), vec![]),
        (format!("from={tomorrow}"), vec![]),
        (
            "from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00%2B02:00".to_owned(),
            vec![third, second, first],
        ),
        (
            format!("customer_id={}&status=confirmed&limit=1", id(&ana)),
            vec![third],
        ),
        ("limit=2&offset=1".to_owned(), vec![second, first]),
    ];
    for (query, expected) in cases {
        let reply = app.get(&format!("/purchase-orders?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        assert_eq!(ids(&reply), expected, "{query}");
    }

    for query in [
        "customer_id=nope",
        "disc_id=123",
        "status=shipped",
        "from=yesterday",
        "to=2026-13-01",
        "limit=-1",
        "offset=abc",
    ] {
        app.get(&format!("/purchase-orders?{query}"))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
    }
}

#[actix_web::test]
async fn the_sales_report_sums_what_sold_in_the_window() {
    let app = TestApp::spawn().await;
    let disc = app
        .create_disc("Selling Fast", "The Counters", 2024, "pop", 10)
        .await;
    let customer = app.create_customer("report", "Rhea Report").await;
    app.place_order(&customer, &disc, 2).await;
    let canceled = app.place_order(&customer, &disc, 3).await;
    let cancel = format!(
        "/purchase-orders/{}/cancel",
        canceled["id"].as_str().unwrap()
    );
    assert_eq!(
        app.post(&cancel, serde_json::json!({})).await.status,
        StatusCode::OK
    );

    let reply = app.get("/reports/sales?bucket=1d").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rows = reply.body["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", reply.body);
    let today = &rows[0];
    assert_eq!(today["disc_id"], disc["id"]);
    assert_eq!(today["units_confirmed"], 5);
    assert_eq!(today["orders_confirmed"], 2);
    assert_eq!(today["units_canceled"], 3);
    assert_eq!(today["net_units"], 2);
    let start = today["bucket_start"].as_str().unwrap();
    assert!(start.ends_with("T00:00:00.000Z"), "{start}");

    for bad in [
        "bucket=2m",
        "from=2026-12-01&to=2026-11-01",
        "from=2020-01-01&to=2026-01-01",
        "disc_id=nope",
        "to=26-01-01",
    ] {
        app.get(&format!("/reports/sales?{bad}"))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "malformed_request");
    }
}
