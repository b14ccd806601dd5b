//! `/openapi.json` and Swagger UI at `/docs`, served from the binary: no
//! database, no network.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use recordshop_domain::RetryPolicy;
use recordshop_domain::customer::{CustomerService, MockCustomerRepository};
use recordshop_domain::disc::{DiscService, MockDiscRepository};
use recordshop_domain::health::MockStoreHealth;
use recordshop_domain::order::{MockPurchaseOrderRepository, PurchaseOrderService};
use recordshop_http::AppState;
use recordshop_http::admission::{Admission, AdmissionSettings};

use crate::helpers::{authenticator, bearer, staff_token};

/// Services that must not be called: documentation touches no store.
fn state() -> AppState {
    AppState {
        discs: DiscService::new(Arc::new(MockDiscRepository::new()), RetryPolicy::NEVER),
        customers: CustomerService::new(Arc::new(MockCustomerRepository::new())),
        orders: PurchaseOrderService::new(
            Arc::new(MockPurchaseOrderRepository::new()),
            RetryPolicy::NEVER,
        ),
        health: Arc::new(MockStoreHealth::new()),
        strategy: "pessimistic",
        breaker: None,
        authenticator: authenticator(),
        admission: Admission::new(AdmissionSettings::UNLIMITED),
    }
}

async fn get(uri: &str) -> (StatusCode, Option<String>, Option<String>, Vec<u8>) {
    let app = test::init_service(recordshop_http::app(state())).await;
    let response = test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (content_type, location) = (header("content-type"), header("location"));
    let status = response.status();
    let body = test::read_body(response).await.to_vec();
    (status, content_type, location, body)
}

#[actix_web::test]
async fn the_openapi_document_is_served_as_generated() {
    let (status, content_type, _, body) = get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let served: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let generated = serde_json::to_value(recordshop_http::openapi()).unwrap();
    assert_eq!(served, generated);
    assert_eq!(served["openapi"], "3.1.0");
}

#[actix_web::test]
async fn swagger_ui_is_served_with_its_assets_and_points_at_the_document() {
    let (status, _, location, _) = get("/docs").await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(location.as_deref(), Some("/docs/"));

    let (status, content_type, _, page) = get("/docs/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.unwrap_or_default().starts_with("text/html"));
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("swagger-ui"), "{page}");

    let (status, _, _, initializer) = get("/docs/swagger-initializer.js").await;
    assert_eq!(status, StatusCode::OK);
    let initializer = String::from_utf8_lossy(&initializer);
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    assert!(
        initializer.contains(r#""validatorUrl": "none""#),
        "{initializer}"
    );

    for asset in ["swagger-ui.css", "swagger-ui-bundle.js"] {
        let (status, _, _, body) = get(&format!("/docs/{asset}")).await;
        assert_eq!(status, StatusCode::OK, "{asset}");
        assert!(!body.is_empty(), "{asset}");
    }
}

/// Every documented operation reaches a handler: a typo in a documented
/// path or method would answer the unknown-route 404 or a 405.
#[actix_web::test]
async fn every_documented_operation_is_routed() {
    let document = serde_json::to_value(recordshop_http::openapi()).unwrap();
    let app = test::init_service(recordshop_http::app(state())).await;
    for (path, item) in document["paths"].as_object().unwrap() {
        // A malformed id answers 404 before any store is asked, from the
        // route's own extractor: its message names the resource, not the route.
        let uri = path.replace("{id}", "not-a-uuid");
        if path == "/health/ready" {
            // Readiness asks the (unprimed) store; it is tested elsewhere.
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            // `limit=-1` makes lists answer 400 before any store is asked;
            // as staff, no route stops at authentication.
            let request = TestRequest::default()
                .method(method.to_uppercase().parse().unwrap())
                .uri(&format!("{uri}?limit=-1"))
                .set_payload("not json");
            let request = bearer(request, &staff_token()).to_request();
            let response = test::call_service(&app, request).await;
            let status = response.status();
            let body: serde_json::Value =
                serde_json::from_slice(&test::read_body(response).await).unwrap();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            let detail = body["detail"].as_str().unwrap_or_default();
            assert!(
                !detail.starts_with("no route matches"),
                "{method} {path}: {detail}"
            );
        }
    }
}
