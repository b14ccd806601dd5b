//! Failures a real database does not produce on demand, over the domain's
//! mocked repositories.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use recordshop_domain::customer::{CustomerService, MockCustomerRepository};
use recordshop_domain::disc::{DiscService, MockDiscRepository};
use recordshop_domain::health::MockStoreHealth;
use recordshop_domain::order::{
    MockPurchaseOrderRepository, PlaceOrderError, PurchaseOrderService,
};
use recordshop_domain::{RetryPolicy, StoreError};
use recordshop_http::AppState;
use recordshop_http::admission::{Admission, AdmissionSettings};
use serde_json::json;

use crate::helpers::{authenticator, send};

struct Mocks {
    discs: MockDiscRepository,
    customers: MockCustomerRepository,
    orders: MockPurchaseOrderRepository,
    health: MockStoreHealth,
}

impl Mocks {
    fn new() -> Self {
        Self {
            discs: MockDiscRepository::new(),
            customers: MockCustomerRepository::new(),
            orders: MockPurchaseOrderRepository::new(),
            health: MockStoreHealth::new(),
        }
    }

    /// Services that never retry, so an exhausted policy is one call away.
    fn state(self) -> AppState {
        AppState {
            discs: DiscService::new(Arc::new(self.discs), RetryPolicy::NEVER),
            customers: CustomerService::new(Arc::new(self.customers)),
            orders: PurchaseOrderService::new(Arc::new(self.orders), RetryPolicy::NEVER),
            health: Arc::new(self.health),
            strategy: "optimistic",
            breaker: None,
            authenticator: authenticator(),
            admission: Admission::new(AdmissionSettings::UNLIMITED),
        }
    }
}

fn down() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!(
        "error connecting to server: Connection refused (os error 111)"
    ))
}

#[actix_web::test]
async fn an_unreachable_database_is_503_unavailable_with_retry_after() {
    let mut mocks = Mocks::new();
    mocks.discs.expect_list().returning(|_| Err(down()));
    mocks.customers.expect_get().returning(|_| Err(down()));
    let state = mocks.state();

    for uri in ["/discs", "/customers/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f"] {
        let reply = send(&state, TestRequest::get().uri(uri)).await;
        reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
        assert!(reply.header("retry-after").is_some());
        assert!(
            !reply.body["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("111")
        );
    }
}

#[actix_web::test]
async fn exhausted_retries_are_503_contention_with_retry_after_1() {
    let mut mocks = Mocks::new();
    mocks
        .orders
        .expect_place()
        .times(1)
        .returning(|_| Err(PlaceOrderError::Store(StoreError::Conflict)));
    mocks
        .orders
        .expect_cancel()
        .returning(|_| Err(StoreError::Conflict));
    mocks
        .discs
        .expect_update()
        .returning(|_, _| Err(StoreError::Conflict));
    let state = mocks.state();

    let body = json!({"customer_id": "6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f",
                      "disc_id": "0f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f", "quantity": 1});
    let requests = [
        TestRequest::post().uri("/purchase-orders").set_json(body),
        TestRequest::post().uri("/purchase-orders/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f/cancel"),
        TestRequest::patch()
            .uri("/discs/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f")
            .set_json(json!({"quantity": 10})),
    ];
    for request in requests {
        let reply = send(&state, request).await;
        reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "contention");
        assert_eq!(reply.header("retry-after"), Some("1"));
    }
}

#[actix_web::test]
async fn past_the_admission_limit_a_purchase_is_503_overloaded_and_reaches_no_store() {
    let mut mocks = Mocks::new();
    // Called once: by the purchase sent after the place is given back.
    mocks.orders.expect_place().times(1).returning(|order| {
        Err(PlaceOrderError::OutOfStock {
            disc_id: order.disc_id,
            available: 0,
            requested: order.quantity.get(),
        })
    });
    let mut state = mocks.state();
    state.admission = Admission::new(AdmissionSettings {
        limit: 1,
        queue_wait: Duration::from_millis(10),
    });
    let body = json!({"customer_id": "6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f",
                      "disc_id": "0f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f", "quantity": 1});
    let held = state.admission.admit().await.unwrap();
    let reply = send(
        &state,
        TestRequest::post().uri("/purchase-orders").set_json(&body),
    )
    .await;
    reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
    assert_eq!(reply.header("retry-after"), Some("1"));
    drop(held);
    let reply = send(
        &state,
        TestRequest::post().uri("/purchase-orders").set_json(&body),
    )
    .await;
    reply.assert_problem(StatusCode::CONFLICT, "out_of_stock");
}

#[actix_web::test]
async fn a_bug_is_an_opaque_500() {
    let mut mocks = Mocks::new();
    mocks.discs.expect_get().returning(|_| {
        let driver = anyhow::anyhow!("db error: ERROR: column \"secret_column\" does not exist");
        Err(StoreError::Unexpected(
            driver.context("SELECT secret_column FROM discs WHERE id = $1"),
        ))
    });
    let state = mocks.state();

    let reply = send(
        &state,
        TestRequest::get().uri("/discs/6f1c4f7e-8d7a-4c55-9d3e-2a1b0c9d8e7f"),
    )
    .await;
    reply.assert_problem(StatusCode::INTERNAL_SERVER_ERROR, "internal");
    let body = reply.body.to_string();
    for leak in ["SELECT", "secret_column", "db error", "discs WHERE"] {
        assert!(!body.contains(leak), "{leak} leaked: {body}");
    }
    assert!(reply.header("retry-after").is_none());
}

#[actix_web::test]
async fn readiness_is_503_when_the_store_does_not_answer() {
    let mut mocks = Mocks::new();
    mocks.health.expect_ping().returning(|| Err(down()));
    let state = mocks.state();

    let reply = send(&state, TestRequest::get().uri("/health/ready")).await;
    reply.assert_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(reply.header("retry-after").is_some());

    // Liveness does not depend on the store.
    let live = send(&state, TestRequest::get().uri("/health")).await;
    assert_eq!(live.status, StatusCode::OK);
    assert_eq!(
        live.body,
        json!({"status": "ok", "strategy": "optimistic", "auth": "enabled"})
    );
}
