//! Orders made with SQL (the triggers append their events), a pool for the
//! relay, and a consumer of our own that records what the broker delivers.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use deadpool_postgres::Pool;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use recordshop_events::{BrokerUrl, Relay, RelaySettings};
use recordshop_harness::process;
use recordshop_postgres::{PoolSettings, create_pool};
use recordshop_testdb::TestDatabase;
use tokio::sync::mpsc;
use tokio_postgres::Client;

/// What `cargo xtask test` points the tests at: its scratch broker.
pub const AMQP_URL_VAR: &str = "RECORDSHOP_TEST_AMQP_URL";

/// How long a test waits for the relay to deliver everything.
pub const DELIVERED_WITHIN: Duration = Duration::from_secs(60);

/// The relay's log in the test's output (shown for failures, or with
/// `--nocapture`); `RUST_LOG` picks the level, info by default.
pub fn log() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("recordshop_events=info"));
    // Only the first test of the binary installs it.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// The broker of `cargo xtask test`; fails (never skips) without it.
pub fn test_broker_url() -> String {
    log();
    std::env::var(AMQP_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "the event tests need RabbitMQ: run them with `cargo xtask test`, which starts a \
             throwaway broker, or set {AMQP_URL_VAR} to one (amqp://guest:guest@127.0.0.1:5672/%2f)"
        )
    })
}

/// The relay's pool, as the server makes one.
pub fn pool(database: &TestDatabase) -> Pool {
    let settings = PoolSettings {
        max_size: 4,
        wait_timeout: Duration::from_secs(10),
    };
    create_pool(database.config().clone(), settings).unwrap()
}

/// Settings with an exchange of this test's own (tests share a broker) and
/// short pauses, so an outage ends quickly.
pub fn settings(database: &TestDatabase) -> RelaySettings {
    RelaySettings {
        exchange: format!("orders.{}", database.name()),
        backoff_max: Duration::from_secs(1),
        backlog_every: Duration::from_millis(500),
        ..RelaySettings::default()
    }
}

/// One disc with plenty of stock and one customer; returns their ids.
pub async fn catalog(client: &Client) -> (String, String) {
    let disc = client
        .query_one(
            "INSERT INTO discs (id, name, artist, year_of_release, genre, quantity)
             VALUES (gen_random_uuid(), 'Kind of Blue', 'Miles Davis', 1959, 'jazz', 1000000)
             RETURNING id::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let customer = client
        .query_one(
            "INSERT INTO customers (id, document, name, birth_date, email, phone)
             VALUES (gen_random_uuid(), '12345678900', 'Ada Lovelace', '1990-12-10',
                     'ada@example.com', '+44 20 7946 0000')
             RETURNING id::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    (disc, customer)
}

/// A new order in `status` (`pending` or `confirmed`); returns its id.
pub async fn place(client: &Client, (disc, customer): &(String, String), status: &str) -> String {
    client
        .query_one(
            "INSERT INTO purchase_orders
                 (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot,
                  decided_at)
             VALUES (gen_random_uuid(), $1::text::uuid, $2::text::uuid, 1, $3, '{}', '{}',
                     CASE WHEN $3 = 'pending' THEN NULL ELSE now() END)
             RETURNING id::text",
            &[customer, disc, &status],
        )
        .await
        .unwrap()
        .get(0)
}

pub async fn confirm(client: &Client, order: &str) {
    update(
        client,
        "UPDATE purchase_orders SET status = 'confirmed', decided_at = now()
         WHERE id = $1::text::uuid AND status = 'pending'",
        order,
    )
    .await;
}

pub async fn reject(client: &Client, order: &str) {
    update(
        client,
        "UPDATE purchase_orders
         SET status = 'rejected', rejection_reason = 'out_of_stock', decided_at = now()
         WHERE id = $1::text::uuid AND status = 'pending'",
        order,
    )
    .await;
}

pub async fn cancel(client: &Client, order: &str) {
    update(
        client,
        "UPDATE purchase_orders SET status = 'canceled', canceled_at = now()
         WHERE id = $1::text::uuid AND status = 'confirmed'",
        order,
    )
    .await;
}

async fn update(client: &Client, sql: &str, order: &str) {
    let changed = client.execute(sql, &[&order]).await.unwrap();
    assert_eq!(changed, 1, "{sql} changed nothing for {order}");
}

/// An event as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: i64,
    pub order_id: String,
    pub kind: String,
    pub published: bool,
}

pub async fn stored_events(client: &Client) -> Vec<Stored> {
    client
        .query(
            "SELECT id, order_id::text, type, published_at IS NOT NULL
             FROM order_events ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| Stored {
            id: row.get(0),
            order_id: row.get(1),
            kind: row.get(2),
            published: row.get(3),
        })
        .collect()
}

/// A message as our consumer got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub routing_key: String,
    pub content_type: String,
    pub delivery_mode: u8,
    pub body: serde_json::Value,
}

/// A consumer on its own connection, its queue bound to the exchange with
/// `order.#`, acking and forwarding every delivery.
pub struct Consumer {
    connection: Connection,
    pub deliveries: mpsc::UnboundedReceiver<Received>,
}

/// What every delivery test starts from: a database of its own with a disc
/// and a customer to order, relay settings of its own (its own exchange),
/// and a consumer listening before anything is published.
pub struct Bench {
    pub url: String,
    pub database: TestDatabase,
    pub client: Client,
    pub settings: RelaySettings,
    pub queue: QueueKind,
    pub consumer: Consumer,
    pub catalog: (String, String),
}

impl Bench {
    /// Set up against the broker at `url`, the consumer reading the queue
    /// `queue` names for the test database's name.
    pub async fn start(url: String, queue: impl FnOnce(&str) -> QueueKind) -> Self {
        let database = TestDatabase::create().await.unwrap();
        let client = database.client().await.unwrap();
        let settings = settings(&database);
        let queue = queue(database.name());
        let consumer = Consumer::start(&url, &settings.exchange, &queue).await;
        let catalog = catalog(&client).await;
        Self {
            url,
            database,
            client,
            settings,
            queue,
            consumer,
            catalog,
        }
    }

    /// A relay over a pool of its own, as each server instance runs one.
    pub fn relay(&self) -> Relay {
        Relay::new(
            pool(&self.database),
            broker_url(&self.url),
            self.settings.clone(),
        )
    }
}

/// Which queue a [`Consumer`] reads.
#[derive(Clone)]
pub enum QueueKind {
    /// Server-named, gone with the connection.
    Exclusive,
    /// Named and durable: persistent messages in it survive a broker
    /// restart.
    Durable(String),
}

impl Consumer {
    pub async fn start(url: &str, exchange: &str, queue: &QueueKind) -> Self {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        // The relay declares it too, the same way; whoever comes first
        // creates it.
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let (name, options) = match queue {
            QueueKind::Exclusive => (
                String::new(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
            ),
            QueueKind::Durable(name) => (name.clone(), QueueDeclareOptions::durable()),
        };
        let declared = channel
            .queue_declare(name.as_str().into(), options, FieldTable::default())
            .await
            .unwrap();
        let queue_name = declared.name().clone();
        channel
            .queue_bind(
                queue_name.clone(),
                exchange.into(),
                "order.#".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let consumer = channel
            .basic_consume(
                queue_name,
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        // The stream, not a delegate: lapin spawns a delegate per delivery,
        // which would reorder them.
        let (sender, deliveries) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut consumer = consumer;
            while let Some(Ok(delivery)) = consumer.next().await {
                let properties = &delivery.properties;
                let received = Received {
                    message_id: properties
                        .message_id()
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    routing_key: delivery.routing_key.to_string(),
                    content_type: properties
                        .content_type()
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                    delivery_mode: properties.delivery_mode().unwrap_or_default(),
                    body: serde_json::from_slice(&delivery.data).unwrap_or_default(),
                };
                let _ = delivery.ack(BasicAckOptions::default()).await;
                if sender.send(received).is_err() {
                    break;
                }
            }
        });
        Self {
            connection,
            deliveries,
        }
    }

    pub async fn close(self) {
        let _ = self.connection.close(200, "test done".into()).await;
    }
}

/// Takes what arrived so far into `received`.
pub fn drain(consumer: &mut Consumer, received: &mut Vec<Received>) {
    while let Ok(message) = consumer.deliveries.try_recv() {
        received.push(message);
    }
}

/// Waits until every stored event is marked published and was received
/// (by message id), collecting into `received`; fails after
/// [`DELIVERED_WITHIN`] naming what is missing.
pub async fn wait_for_all(client: &Client, consumer: &mut Consumer, received: &mut Vec<Received>) {
    let started = std::time::Instant::now();
    loop {
        drain(consumer, received);
        let stored = stored_events(client).await;
        let seen: HashSet<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
        let missing: Vec<i64> = stored
            .iter()
            .filter(|event| !event.published || !seen.contains(event.id.to_string().as_str()))
            .map(|event| event.id)
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < DELIVERED_WITHIN,
            "events not delivered or not marked within {DELIVERED_WITHIN:?}: {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every stored event exactly once after deduplication by message id, with
/// the right routing key, properties and body, and each order's events in
/// the order they were stored.
pub fn assert_delivered_in_order(stored: &[Stored], received: &[Received]) {
    let mut first_seen: Vec<&Received> = Vec::new();
    let mut ids = HashSet::new();
    for message in received {
        if ids.insert(message.message_id.clone()) {
            first_seen.push(message);
        }
    }
    assert_eq!(first_seen.len(), stored.len(), "{received:#?}");
    let by_id: BTreeMap<String, &Stored> = stored.iter().map(|e| (e.id.to_string(), e)).collect();
    let mut per_order: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for message in &first_seen {
        let event = by_id
            .get(&message.message_id)
            .unwrap_or_else(|| panic!("an event that is not stored: {message:?}"));
        assert_eq!(message.routing_key, event.kind);
        assert_eq!(message.content_type, "application/json");
        assert_eq!(message.delivery_mode, 2);
        assert_eq!(message.body["id"], event.id);
        assert_eq!(message.body["order_id"], event.order_id.as_str());
        assert_eq!(message.body["type"], event.kind.as_str());
        assert_eq!(
            message.body["data"]["status"],
            event.kind.trim_start_matches("order.")
        );
        let occurred = message.body["occurred_at"].as_str().unwrap_or_default();
        assert!(
            chrono::DateTime::parse_from_rfc3339(occurred).is_ok(),
            "{occurred:?}"
        );
        per_order
            .entry(event.order_id.as_str())
            .or_default()
            .push(event.id);
    }
    for (order, ids) in per_order {
        let expected: Vec<i64> = stored
            .iter()
            .filter(|e| e.order_id == order)
            .map(|e| e.id)
            .collect();
        assert_eq!(ids, expected, "order {order} out of order");
    }
}

/// The broker URL as the relay takes it.
pub fn broker_url(url: &str) -> BrokerUrl {
    BrokerUrl::parse(url).unwrap()
}

/// Runs a synchronous harness call (a broker start or stop) off the
/// runtime's threads, so the relay and the consumer keep running.
pub async fn blocking<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(call).await.unwrap()
}

/// Whether `pid` still runs (for "nothing left behind").
pub fn is_alive(pid: u32) -> bool {
    process::is_alive(pid)
}
