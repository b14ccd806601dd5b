//! Shared set-up: a database, a pool, services over the adapter, sample
//! values, and the stock ledger check.

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use deadpool_postgres::Pool;
use recordshop_domain::RetryPolicy;
use recordshop_domain::customer::{
    BirthDate, Customer, CustomerId, CustomerService, Document, Email, NewCustomer, PersonName,
    Phone,
};
use recordshop_domain::disc::{
    ArtistName, Disc, DiscId, DiscName, DiscService, Genre, NewDisc, ReleaseYear, StockQuantity,
};
use recordshop_domain::idempotency::{IdempotencyKey, IdempotencyRequest, KeyOwner};
use recordshop_domain::order::breaker::BreakerSettings;
use recordshop_domain::order::{OrderQuantity, PurchaseOrderService};
use recordshop_postgres::{
    BatchSettings, ConcurrencyStrategy, PgCustomerRepository, PgDiscRepository,
    PgPurchaseOrderRepository, PoolSettings, create_pool,
};
use recordshop_testdb::TestDatabase;

/// A breaker whose budget no purchase exceeds.
pub const NEVER_OPENS: BreakerSettings = BreakerSettings {
    budget: Duration::from_secs(3_600),
    trip_after: u32::MAX,
    open_for: Duration::from_secs(1),
    probes: 1,
};

/// Connections for tests that race many tasks against one row.
pub const CONCURRENT_POOL: usize = 16;
/// Connections for tests that run one request at a time.
pub const SMALL_POOL: usize = 4;

/// A fresh database and a pool on it; the database is dropped with it.
pub struct Harness {
    pub pool: Pool,
    pub db: TestDatabase,
}

impl Harness {
    pub async fn new(max_size: usize) -> Self {
        let db = TestDatabase::create().await.expect("test database");
        let settings = PoolSettings {
            max_size,
            wait_timeout: Duration::from_secs(10),
        };
        let pool = create_pool(db.config().clone(), settings).expect("pool");
        Self { pool, db }
    }

    pub fn discs(&self, strategy: ConcurrencyStrategy) -> PgDiscRepository {
        PgDiscRepository::new(self.pool.clone(), strategy)
    }

    pub fn customers(&self) -> PgCustomerRepository {
        PgCustomerRepository::new(self.pool.clone())
    }

    /// Orders placed per `strategy`. `hybrid` runs with a breaker that
    /// never opens: the contract suite holds its synchronous path to every
    /// synchronous rule, and `purchases/hybrid.rs` tests the switch.
    pub fn orders(&self, strategy: ConcurrencyStrategy) -> PgPurchaseOrderRepository {
        PgPurchaseOrderRepository::new(self.pool.clone(), strategy)
            .with_breaker_settings(NEVER_OPENS)
    }

    /// A batched repository bounded by `settings`.
    pub fn batched_orders(&self, settings: BatchSettings) -> PgPurchaseOrderRepository {
        PgPurchaseOrderRepository::with_batch_settings(
            self.pool.clone(),
            ConcurrencyStrategy::Batched,
            settings,
        )
    }

    /// Another pool on the same database, as a second server process
    /// would have.
    pub fn another_pool(&self, max_size: usize) -> Pool {
        let settings = PoolSettings {
            max_size,
            wait_timeout: Duration::from_secs(10),
        };
        create_pool(self.db.config().clone(), settings).expect("second pool")
    }

    pub fn disc_service(&self, strategy: ConcurrencyStrategy) -> DiscService {
        DiscService::new(Arc::new(self.discs(strategy)), RetryPolicy::default())
    }

    pub fn customer_service(&self) -> CustomerService {
        CustomerService::new(Arc::new(self.customers()))
    }

    pub fn order_service(&self, strategy: ConcurrencyStrategy) -> PurchaseOrderService {
        PurchaseOrderService::new(Arc::new(self.orders(strategy)), RetryPolicy::default())
    }

    /// A disc with `quantity` units, created through the catalog service so
    /// its initial stock is in the ledger.
    pub async fn stocked_disc(&self, strategy: ConcurrencyStrategy, quantity: i64) -> Disc {
        self.disc_service(strategy)
            .create(stocked_disc(quantity))
            .await
            .expect("create a stocked disc")
    }

    /// An active customer whose document and email derive from `tag`.
    pub async fn registered_customer(&self, tag: &str) -> Customer {
        self.customer_service()
            .register(tagged_customer(tag))
            .await
            .expect("register a customer")
    }

    pub async fn client(&self) -> tokio_postgres::Client {
        self.db.client().await.expect("test client")
    }

    /// Asserts, for every disc, stock + confirmed units = initial stock +
    /// restocks (the sum of its `stock_adjustments`), and returns how many
    /// discs were checked.
    pub async fn assert_ledger_balances(&self) -> usize {
        let ledgers = recordshop_postgres::ledger::read_ledger(&self.client().await)
            .await
            .expect("ledger query");
        for ledger in &ledgers {
            assert!(ledger.holds(), "{ledger}");
        }
        ledgers.len()
    }

    /// Rows of `table` (a name written in the test, never user input).
    pub async fn count(&self, table: &str) -> i64 {
        self.client()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("count")
            .get(0)
    }

    /// Makes every idempotency key expired, as if its TTL had passed.
    pub async fn expire_idempotency_keys(&self) {
        self.client()
            .await
            .execute(
                "UPDATE idempotency_keys SET expires_at = now() - interval '1 second'",
                &[],
            )
            .await
            .expect("expire keys");
    }

    /// The stored stock of a disc, deleted or not.
    pub async fn stock_of(&self, id: DiscId) -> i64 {
        self.client()
            .await
            .query_one("SELECT quantity FROM discs WHERE id = $1", &[&id.as_uuid()])
            .await
            .expect("stock")
            .get(0)
    }
}

pub fn new_disc(name: &str, artist: &str, year: i64, genre: &str, quantity: i64) -> NewDisc {
    NewDisc {
        id: DiscId::generate(),
        name: DiscName::parse(name).unwrap(),
        artist: ArtistName::parse(artist).unwrap(),
        year_of_release: ReleaseYear::parse(year).unwrap(),
        genre: Genre::parse(genre).unwrap(),
        quantity: StockQuantity::parse(quantity).unwrap(),
    }
}

/// A disc with `quantity` units and unremarkable other fields.
pub fn stocked_disc(quantity: i64) -> NewDisc {
    new_disc("Kind of Blue", "Miles Davis", 1959, "Jazz", quantity)
}

pub fn new_customer(name: &str, document: &str, email: &str) -> NewCustomer {
    let born = NaiveDate::from_ymd_opt(1990, 5, 17).unwrap();
    NewCustomer {
        id: CustomerId::generate(),
        document: Document::parse(document).unwrap(),
        name: PersonName::parse(name).unwrap(),
        birth_date: BirthDate::new(born, born).unwrap(),
        email: Email::parse(email).unwrap(),
        phone: Phone::parse("+55 (11) 91234-5678").unwrap(),
    }
}

/// A customer whose document and email derive from `tag`.
pub fn tagged_customer(tag: &str) -> NewCustomer {
    new_customer(
        "John Doe",
        &format!("doc-{tag}"),
        &format!("john.{tag}@example.com"),
    )
}

pub fn units(n: i64) -> OrderQuantity {
    OrderQuantity::parse(n).unwrap()
}

pub fn stock(n: i64) -> StockQuantity {
    StockQuantity::parse(n).unwrap()
}

/// The idempotency key `key` sent by `owner`.
pub fn key_of(owner: &str, key: &str) -> IdempotencyRequest {
    IdempotencyRequest {
        owner: KeyOwner::new(owner),
        key: IdempotencyKey::parse(key).unwrap(),
    }
}
