//! The order events' outbox relay: what the triggers of
//! `migrations/V4__order_lifecycle_and_events.sql` append to `order_events`
//! in the transaction of each status change is published to RabbitMQ.
//!
//! - **Where.** A durable topic exchange (`orders` by default, declared by
//!   the relay when it connects), routing key = the event's type
//!   (`order.pending`, `order.confirmed`, `order.rejected`,
//!   `order.canceled`), so a consumer binds `order.#` or just
//!   `order.canceled`. Messages are persistent JSON (`application/json`,
//!   `delivery_mode` 2) carrying `{"id", "order_id", "type", "occurred_at"
//!   (RFC 3339), "data"}`, with `message_id` = the event's id in decimal and
//!   `timestamp` = when it occurred.
//! - **At least once.** The channel is in publisher-confirm mode; an event
//!   is marked published (`published_at`) only after the broker confirmed
//!   it. A nack, a timeout or a lost connection leaves it unpublished, and
//!   it is sent again. A crash between the confirm and the `UPDATE` sends
//!   it twice: that is why the message id is the event's id, stable across
//!   retries, so consumers drop what they have seen.
//! - **In order per order.** One relay publishes at a time, across every
//!   server instance sharing the database: the one holding a session-level
//!   advisory lock ([`RELAY_LOCK_KEY`]); the others retry every second
//!   and take over when its session ends. It publishes in id order, only
//!   marks a confirmed prefix of each batch, and an order's later event is
//!   only created (with a larger id) after its earlier one committed, since
//!   both change the same row. After a nack a consumer may meet an event
//!   again after a later one of the same order; ids increase along an
//!   order's history, so it can tell.
//! - **Outages.** A broker that is down or unreachable is logged once
//!   (and once when it is back), retried with a backoff (250 ms doubling to
//!   5 s); the events wait in the outbox, and the API that creates them is
//!   not affected. Database failures likewise, giving up the lock's
//!   connection. The relay never panics and never gives up.
//! - **Watching it.** `recordshop_events_published_total`,
//!   `recordshop_events_outbox_backlog` (unpublished events, counted every
//!   5 s and after a draining batch) and
//!   `recordshop_events_broker_connected` (0/1), with the `metrics` facade.
//!   The broker URL is a [`BrokerUrl`], which never prints its password.
//!
//! ```no_run
//! # async fn example(pool: deadpool_postgres::Pool) -> Result<(), recordshop_events::InvalidBrokerUrl> {
//! use recordshop_events::{BrokerUrl, Relay, RelaySettings};
//!
//! let url = BrokerUrl::parse("amqp://guest:guest@127.0.0.1:5672/%2f")?;
//! let relay = Relay::new(pool, url, RelaySettings::default()).spawn();
//! relay.handle().wake(); // after a commit that appended events
//! relay.stop().await;
//! # Ok(()) }
//! ```

mod broker;
mod lock;
mod outbox;
mod relay;
mod retry;
mod url;

pub use relay::{RELAY_LOCK_KEY, Relay, RelayHandle, RelaySettings, RunningRelay};
pub use url::{BrokerUrl, InvalidBrokerUrl};

/// The relay's metric names.
pub mod metric {
    /// Counter: events the broker confirmed and the relay marked published.
    pub const PUBLISHED: &str = "recordshop_events_published_total";
    /// Gauge: unpublished events in the outbox.
    pub const OUTBOX_BACKLOG: &str = "recordshop_events_outbox_backlog";
    /// Gauge: 1 while the relay is connected to the broker, else 0.
    pub const BROKER_CONNECTED: &str = "recordshop_events_broker_connected";

    /// Registers the descriptions with the installed recorder (the
    /// server's Prometheus exporter prints them as `# HELP`).
    pub fn describe() {
        metrics::describe_counter!(
            PUBLISHED,
            "Order events the broker confirmed and the relay marked published."
        );
        metrics::describe_gauge!(OUTBOX_BACKLOG, "Order events not yet published.");
        metrics::describe_gauge!(
            BROKER_CONNECTED,
            "1 while the event relay is connected to the broker, else 0."
        );
    }
}
