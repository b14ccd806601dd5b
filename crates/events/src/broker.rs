//! The broker side: one connection and one channel in publisher-confirm
//! mode, the exchange declared at connect, and a batch published and
//! confirmed.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::{FieldTable, ShortString};
use lapin::{
    BasicProperties, Channel, Confirmation, Connection, ConnectionProperties, ExchangeKind,
};

use crate::BrokerUrl;
use crate::outbox::OutboxEvent;

/// AMQP's `delivery_mode` for a message the broker writes to disk (in a
/// durable queue), so it survives a broker restart.
const PERSISTENT: u8 = 2;

/// What can go wrong on the broker's side.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BrokerError {
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error("no answer from the broker within {0:?}")]
    Timeout(Duration),
    #[error("the broker refused (nacked) event {0}")]
    Nacked(i64),
    #[error("the channel is not in confirm mode")]
    NoConfirms,
}

/// A connected channel that publishes to the exchange and waits for the
/// broker's confirms.
pub(crate) struct Publisher {
    connection: Connection,
    channel: Channel,
    exchange: ShortString,
}

/// What a batch achieved: the events the broker confirmed, a prefix of the
/// batch in id order, and what stopped it short of the whole batch.
pub(crate) struct Published {
    pub(crate) confirmed: Vec<i64>,
    pub(crate) failure: Option<BrokerError>,
}

impl Publisher {
    /// Connects, opens a channel, declares the durable topic `exchange`
    /// (idempotent: the same declaration by every relay) and turns on
    /// publisher confirms, all within `within`.
    pub(crate) async fn connect(
        url: &BrokerUrl,
        exchange: &str,
        within: Duration,
    ) -> Result<Self, BrokerError> {
        let connect = async {
            let properties =
                ConnectionProperties::default().with_connection_name("recordshop-events".into());
            let connection = Connection::connect_uri(url.uri().clone(), properties).await?;
            let channel = connection.create_channel().await?;
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
                .await?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            Ok::<_, BrokerError>(Self {
                connection,
                channel,
                exchange: exchange.into(),
            })
        };
        tokio::time::timeout(within, connect)
            .await
            .map_err(|_| BrokerError::Timeout(within))?
    }

    /// Whether the connection and the channel still work, as far as the
    /// client knows (a broker that vanished is noticed by the next publish
    /// or the heartbeat).
    pub(crate) fn is_connected(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    /// Publishes `events` in order, then awaits every confirm (within
    /// `within` in all). Stops counting at the first event not acked: a
    /// later one is reported only if everything before it was, so what is
    /// marked published is always a prefix and a retry keeps the order.
    pub(crate) async fn publish(&self, events: &[OutboxEvent], within: Duration) -> Published {
        let mut confirmed = Vec::with_capacity(events.len());
        let failure = tokio::time::timeout(within, self.publish_all(events, &mut confirmed))
            .await
            .unwrap_or(Err(BrokerError::Timeout(within)))
            .err();
        Published { confirmed, failure }
    }

    async fn publish_all(
        &self,
        events: &[OutboxEvent],
        confirmed: &mut Vec<i64>,
    ) -> Result<(), BrokerError> {
        let mut pending = Vec::with_capacity(events.len());
        for event in events {
            let confirm = self
                .channel
                .basic_publish(
                    self.exchange.clone(),
                    event.kind.as_str().into(),
                    // Not mandatory: an event nobody subscribed to yet is
                    // still published, not returned.
                    BasicPublishOptions::default(),
                    &event.body(),
                    properties(event),
                )
                .await?;
            pending.push((event.id, confirm));
        }
        for (id, confirm) in pending {
            match confirm.await? {
                Confirmation::Ack(_) => confirmed.push(id),
                Confirmation::Nack(_) => return Err(BrokerError::Nacked(id)),
                Confirmation::NotRequested => return Err(BrokerError::NoConfirms),
            }
        }
        Ok(())
    }

    /// Closes the channel and the connection politely (best effort).
    pub(crate) async fn close(self) {
        let _ = self.channel.close(200, "relay stopping".into()).await;
        let _ = self.connection.close(200, "relay stopping".into()).await;
    }
}

/// Persistent JSON, identified by the event's id so that a consumer can
/// drop the duplicates at-least-once delivery brings.
fn properties(event: &OutboxEvent) -> BasicProperties {
    BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_content_type("application/json".into())
        .with_message_id(event.id.to_string().into())
        .with_type(event.kind.as_str().into())
        .with_app_id("recordshop".into())
        .with_timestamp(u64::try_from(event.occurred_at.timestamp()).unwrap_or_default())
}
