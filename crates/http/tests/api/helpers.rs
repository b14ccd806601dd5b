//! Starting the app and talking to it.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::test::{self, TestRequest};
use recordshop_domain::RetryPolicy;
use recordshop_domain::customer::CustomerService;
use recordshop_domain::disc::DiscService;
use recordshop_domain::order::PurchaseOrderService;
use recordshop_http::AppState;
use recordshop_postgres::{
    ConcurrencyStrategy, PgCustomerRepository, PgDiscRepository, PgPurchaseOrderRepository,
    PgStoreHealth, PoolSettings, create_pool,
};
use recordshop_testdb::TestDatabase;
use serde_json::{Value, json};

/// The app over a fresh database of its own.
pub struct TestApp {
    // Held so the database outlives the app; dropped (and removed) with it.
    _db: TestDatabase,
    state: AppState,
}

impl TestApp {
    /// The app with the default (pessimistic) strategy.
    pub async fn spawn() -> Self {
        Self::spawn_with(ConcurrencyStrategy::Pessimistic).await
    }

    pub async fn spawn_with(strategy: ConcurrencyStrategy) -> Self {
        let db = TestDatabase::create().await.expect("test database");
        let settings = PoolSettings {
            max_size: 4,
            wait_timeout: Duration::from_secs(5),
        };
        let pool = create_pool(db.config().clone(), settings).expect("pool");
        let state = AppState {
            discs: DiscService::new(
                Arc::new(PgDiscRepository::new(pool.clone(), strategy)),
                RetryPolicy::default(),
            ),
            customers: CustomerService::new(Arc::new(PgCustomerRepository::new(pool.clone()))),
            orders: PurchaseOrderService::new(
                Arc::new(PgPurchaseOrderRepository::new(pool.clone(), strategy)),
                RetryPolicy::default(),
            ),
            health: Arc::new(PgStoreHealth::new(pool)),
            strategy: strategy.to_string(),
        };
        Self { _db: db, state }
    }

    pub async fn send(&self, request: TestRequest) -> Reply {
        send(&self.state, request).await
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(TestRequest::get().uri(uri)).await
    }

    pub async fn post(&self, uri: &str, body: Value) -> Reply {
        self.send(TestRequest::post().uri(uri).set_json(body)).await
    }

    pub async fn put(&self, uri: &str, body: Value) -> Reply {
        self.send(TestRequest::put().uri(uri).set_json(body)).await
    }

    pub async fn patch(&self, uri: &str, body: Value) -> Reply {
        self.send(TestRequest::patch().uri(uri).set_json(body))
            .await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.send(TestRequest::delete().uri(uri)).await
    }

    /// Creates a disc and returns it as the API showed it.
    pub async fn create_disc(
        &self,
        name: &str,
        artist: &str,
        year: i64,
        genre: &str,
        quantity: i64,
    ) -> Value {
        let reply = self
            .post(
                "/discs",
                json!({"name": name, "artist": artist, "year_of_release": year, "genre": genre, "quantity": quantity}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Registers a customer whose document and email derive from `tag`.
    pub async fn create_customer(&self, tag: &str, name: &str) -> Value {
        let reply = self.post("/customers", customer_body(tag, name)).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Places an order and returns it.
    pub async fn place_order(&self, customer: &Value, disc: &Value, quantity: i64) -> Value {
        let reply = self
            .post(
                "/purchase-orders",
                json!({"customer_id": customer["id"], "disc_id": disc["id"], "quantity": quantity}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }
}

pub fn customer_body(tag: &str, name: &str) -> Value {
    json!({
        "document": format!("doc-{tag}"),
        "name": name,
        "birth_date": "1990-05-17",
        "email": format!("{tag}@example.com"),
        "phone": "+55 (11) 91234-5678",
    })
}

/// Sends `request` through the whole app (middleware included) over `state`.
pub async fn send(state: &AppState, request: TestRequest) -> Reply {
    let app = test::init_service(recordshop_http::app(state.clone())).await;
    let response = test::call_service(&app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = test::read_body(response).await;
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            panic!(
                "body is not JSON ({error}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// Asserts a problem+json answer with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert_eq!(self.body["code"], code, "{}", self.body);
        assert_eq!(self.body["status"], status.as_u16());
        assert_eq!(self.body["type"], "about:blank");
        assert!(self.body["title"].is_string());
        assert!(self.body["detail"].is_string());
        assert!(
            self.header("x-request-id").is_some(),
            "every response carries a request id"
        );
    }

    /// The `field`s of a validation error, in order.
    pub fn failing_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The `name`s (or `id`s) of a list answer, in order.
    pub fn names(&self) -> Vec<String> {
        self.body["data"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// True when `raw` looks like `2026-11-22T10:15:30.123Z`.
pub fn is_contract_timestamp(raw: &Value) -> bool {
    let Some(raw) = raw.as_str() else {
        return false;
    };
    raw.len() == 24
        && raw.ends_with('Z')
        && raw.as_bytes()[10] == b'T'
        && raw.as_bytes()[19] == b'.'
}
