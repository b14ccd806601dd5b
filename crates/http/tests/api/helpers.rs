//! Starting the app and talking to it. Requests go as staff unless they
//! carry an `Authorization` header of their own or are sent with
//! [`TestApp::send_anonymous`].

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime};

use actix_web::HttpMessage;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::test::{self, TestRequest};
use recordshop_auth::{Principal, TokenKeys};
use recordshop_domain::RetryPolicy;
use recordshop_domain::customer::CustomerService;
use recordshop_domain::disc::DiscService;
use recordshop_domain::order::PurchaseOrderService;
use recordshop_domain::order::breaker::BreakerSettings;
use recordshop_http::admission::{Admission, AdmissionSettings};
use recordshop_http::{AppState, Authenticator};
use recordshop_postgres::{
    AllocationWorkers, ConcurrencyStrategy, Decisions, PgCustomerRepository, PgDiscRepository,
    PgPurchaseOrderRepository, PgStoreHealth, PoolSettings, QueueSettings, create_pool,
};
use recordshop_testdb::TestDatabase;
use serde_json::{Value, json};

/// What this thread logs from [`LogCapture::start`] on. Every test runs
/// its app on its own thread, so the buffer is per test.
///
/// One global subscriber, installed by the first app, writes here: a
/// subscriber set per thread misses events when other tests' threads hit
/// the same callsites first (tracing caches interest per callsite).
pub struct LogCapture(());

thread_local! {
    static CAPTURED: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
}

struct ThreadBuffer;

impl Write for ThreadBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|captured| {
            if let Some(buffer) = captured.borrow_mut().as_mut() {
                buffer.extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn install_log_subscriber() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ThreadBuffer)
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
    });
}

impl LogCapture {
    pub fn start() -> Self {
        install_log_subscriber();
        CAPTURED.with(|captured| *captured.borrow_mut() = Some(Vec::new()));
        Self(())
    }

    /// Everything logged on this thread since [`LogCapture::start`].
    pub fn finish(self) -> String {
        let bytes = CAPTURED.with(|captured| captured.borrow_mut().take().unwrap_or_default());
        String::from_utf8(bytes).unwrap()
    }
}

/// The tests' signing secret.
const SECRET: &[u8] = b"the HTTP tests' signing secret, over 32 bytes";

/// The keys the test apps verify tokens with.
pub fn keys() -> TokenKeys {
    TokenKeys::from_secret(SECRET).unwrap()
}

/// Authentication as the test apps have it, unless a test says otherwise.
pub fn authenticator() -> Authenticator {
    Authenticator::Enabled(keys())
}

/// A valid token for `principal`, for an hour.
pub fn token_for(principal: &Principal) -> String {
    keys().mint(principal, Duration::from_secs(3600)).unwrap()
}

pub fn staff_token() -> String {
    token_for(&Principal::staff())
}

/// A customer token for the customer whose id is `id`.
pub fn customer_token(id: &str) -> String {
    token_for(&Principal::Customer(id.parse().unwrap()))
}

/// A staff token that expired an hour ago, well beyond the leeway.
pub fn expired_token() -> String {
    let minted = SystemTime::now() - Duration::from_secs(2 * 3600);
    keys()
        .mint_at(&Principal::staff(), minted, Duration::from_secs(3600))
        .unwrap()
}

/// A staff token signed with another secret.
pub fn foreign_token() -> String {
    TokenKeys::from_secret(b"some other service's secret, also 32+ bytes")
        .unwrap()
        .mint(&Principal::staff(), Duration::from_secs(3600))
        .unwrap()
}

/// `request` with `Authorization: Bearer {token}`.
pub fn bearer(request: TestRequest, token: &str) -> TestRequest {
    request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")))
}

/// The app over a fresh database of its own.
pub struct TestApp {
    // Held so the database outlives the app; dropped (and removed) with it.
    db: TestDatabase,
    state: AppState,
}

impl TestApp {
    /// The app with the default (pessimistic) strategy.
    pub async fn spawn() -> Self {
        Self::spawn_with(ConcurrencyStrategy::Pessimistic).await
    }

    pub async fn spawn_with(strategy: ConcurrencyStrategy) -> Self {
        Self::spawn_with_auth(strategy, authenticator()).await
    }

    pub async fn spawn_with_auth(
        strategy: ConcurrencyStrategy,
        authenticator: Authenticator,
    ) -> Self {
        Self::spawn_configured(strategy, authenticator, BreakerSettings::default()).await
    }

    /// A hybrid app whose breaker runs with `breaker`.
    pub async fn spawn_hybrid(breaker: BreakerSettings) -> Self {
        Self::spawn_configured(ConcurrencyStrategy::Hybrid, authenticator(), breaker).await
    }

    async fn spawn_configured(
        strategy: ConcurrencyStrategy,
        authenticator: Authenticator,
        breaker: BreakerSettings,
    ) -> Self {
        install_log_subscriber();
        let db = TestDatabase::create().await.expect("test database");
        let settings = PoolSettings {
            max_size: 4,
            wait_timeout: Duration::from_secs(5),
        };
        let pool = create_pool(db.config().clone(), settings).expect("pool");
        // As the server runs them: every strategy's app decides pending
        // orders, and hears decisions through the database.
        let decisions = Decisions::default();
        decisions.listen(db.config().clone());
        let workers = AllocationWorkers::new(pool.clone(), QueueSettings::default(), decisions);
        workers.start();
        let orders = PgPurchaseOrderRepository::new(pool.clone(), strategy)
            .with_breaker_settings(breaker)
            .with_allocation_workers(workers);
        let state = AppState {
            discs: DiscService::new(
                Arc::new(PgDiscRepository::new(pool.clone(), strategy)),
                RetryPolicy::default(),
            ),
            customers: CustomerService::new(Arc::new(PgCustomerRepository::new(pool.clone()))),
            breaker: orders.breaker(),
            orders: PurchaseOrderService::new(Arc::new(orders), RetryPolicy::default()),
            health: Arc::new(PgStoreHealth::new(pool)),
            strategy: strategy.as_str(),
            authenticator,
            admission: Admission::new(AdmissionSettings::UNLIMITED),
        };
        Self { db, state }
    }

    /// A plain client of the app's database, to arrange what the API cannot.
    pub async fn database_client(&self) -> tokio_postgres::Client {
        self.db.client().await.expect("database client")
    }

    /// Sends `request` as staff, unless it carries credentials of its own.
    pub async fn send(&self, request: TestRequest) -> Reply {
        send(&self.state, request).await
    }

    /// Sends `request` as it is: with no credentials, anonymously.
    pub async fn send_anonymous(&self, request: TestRequest) -> Reply {
        send_as_is(&self.state, request).await
    }

    /// Sends `request` with the bearer `token`.
    pub async fn send_with(&self, request: TestRequest, token: &str) -> Reply {
        send_as_is(&self.state, bearer(request, token)).await
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

/// Sends `request` through the whole app (middleware included) over
/// `state`, as staff unless it carries an `Authorization` header already.
pub async fn send(state: &AppState, request: TestRequest) -> Reply {
    call(state, request, Some(&staff_token())).await
}

/// Sends `request` through the whole app with exactly its own headers.
pub async fn send_as_is(state: &AppState, request: TestRequest) -> Reply {
    call(state, request, None).await
}

async fn call(state: &AppState, request: TestRequest, default_token: Option<&str>) -> Reply {
    let mut request = request.to_request();
    if let Some(token) = default_token
        && !request.headers().contains_key(header::AUTHORIZATION)
    {
        let value = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let app = test::init_service(recordshop_http::app(state.clone())).await;
    let response = test::call_service(&app, request).await;
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
