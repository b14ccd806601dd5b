//! Announcing decided orders, and waiting for one.
//!
//! A worker announces the orders it decided to its own process at once and,
//! with `NOTIFY` in the deciding transaction, to every process (delivered
//! at commit, never for a rolled-back batch). Each process keeps one
//! connection of its own `LISTEN`ing and hands the ids to the requests that
//! wait. A waiter subscribes before it reads the order, so a decision
//! cannot slip between the read and the wait; when announcements may have
//! been missed (the listening connection was lost, the waiter fell behind),
//! waiters read the order again instead.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use recordshop_domain::StoreError;
use recordshop_domain::order::PurchaseOrder;
use tokio::sync::broadcast;
use tokio::time::Instant;
use tokio_postgres::{AsyncMessage, NoTls};
use uuid::Uuid;

use super::DECIDED_CHANNEL;

/// What a waiter hears.
#[derive(Debug, Clone)]
enum Decided {
    Orders(Arc<[Uuid]>),
    /// Announcements may have been lost: everyone reads again.
    MaybeMissed,
}

/// Decisions of this process's workers and, once [`Decisions::listen`] runs,
/// of every process's. Clones share the channel.
#[derive(Clone)]
pub struct Decisions {
    sender: broadcast::Sender<Decided>,
}

impl Default for Decisions {
    fn default() -> Self {
        // Room for bursts of announcements; a waiter that falls further
        // behind reads its order again.
        let (sender, _) = broadcast::channel(4096);
        Self { sender }
    }
}

/// The ids of a `NOTIFY` payload (comma-separated); what does not parse is
/// ignored, as any other process's noise on the channel would be.
fn parse_ids(payload: &str) -> Arc<[Uuid]> {
    payload
        .split(',')
        .filter_map(|id| id.trim().parse().ok())
        .collect()
}

/// `ids` as `NOTIFY` payloads: comma-separated, each well under the 8,000
/// bytes PostgreSQL allows.
pub(super) fn payloads(ids: &[Uuid]) -> Vec<String> {
    const IDS_PER_PAYLOAD: usize = 150;
    ids.chunks(IDS_PER_PAYLOAD)
        .map(|chunk| {
            chunk
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

impl Decisions {
    /// Tells this process's waiters that `ids` were decided.
    pub(super) fn announce(&self, ids: Arc<[Uuid]>) {
        // No receiver is no waiter: nothing to do.
        let _ = self.sender.send(Decided::Orders(ids));
    }

    /// Listens for every process's decisions on a connection of its own,
    /// reconnecting (after 1 s) whenever it is lost, for as long as the
    /// process runs. Must be called inside a Tokio runtime.
    pub fn listen(&self, config: tokio_postgres::Config) {
        let sender = self.sender.clone();
        tokio::spawn(async move {
            let mut lost = false;
            loop {
                match listen_once(&config, &sender).await {
                    Ok(()) => {}
                    Err(error) if !lost => tracing::warn!(
                        error = format!("{error:#}"),
                        "lost the connection that listens for order decisions; reconnecting"
                    ),
                    Err(_) => {}
                }
                lost = true;
                let _ = sender.send(Decided::MaybeMissed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// The order `read` returns, once it is decided or once `within` has
    /// passed (read once more then), whichever comes first; `None` when
    /// there is no such order.
    ///
    /// # Errors
    /// What `read` returns.
    pub(crate) async fn wait<F, R>(
        &self,
        id: Uuid,
        within: Duration,
        read: F,
    ) -> Result<Option<PurchaseOrder>, StoreError>
    where
        F: Fn() -> R,
        R: Future<Output = Result<Option<PurchaseOrder>, StoreError>>,
    {
        let deadline = Instant::now() + within;
        let mut decisions = self.sender.subscribe();
        loop {
            let order = read().await?;
            let waiting = order
                .as_ref()
                .is_some_and(|order| !order.status.is_decided());
            if !waiting {
                return Ok(order);
            }
            loop {
                match tokio::time::timeout_at(deadline, decisions.recv()).await {
                    // One last look: the decision may have been announced
                    // where this process could not hear it.
                    Err(_elapsed) => return read().await,
                    Ok(Ok(Decided::Orders(ids))) if !ids.contains(&id) => {}
                    Ok(Ok(_) | Err(broadcast::error::RecvError::Lagged(_))) => break,
                    Ok(Err(broadcast::error::RecvError::Closed)) => {
                        tokio::time::sleep_until(deadline).await;
                        return read().await;
                    }
                }
            }
        }
    }
}

/// One listening connection, until it fails.
async fn listen_once(
    config: &tokio_postgres::Config,
    sender: &broadcast::Sender<Decided>,
) -> anyhow::Result<()> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
    let command = format!("LISTEN {DECIDED_CHANNEL}");
    {
        // The connection must be polled for the LISTEN to complete.
        let mut listen = std::pin::pin!(client.batch_execute(&command));
        loop {
            tokio::select! {
                done = &mut listen => { done?; break; }
                message = messages.next() => match message {
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error.into()),
                    None => anyhow::bail!("the connection closed"),
                },
            }
        }
    }
    // Listening from here: whatever was decided before is read by waiters.
    let _ = sender.send(Decided::MaybeMissed);
    while let Some(message) = messages.next().await {
        if let AsyncMessage::Notification(notification) = message?
            && notification.channel() == DECIDED_CHANNEL
        {
            let _ = sender.send(Decided::Orders(parse_ids(notification.payload())));
        }
    }
    drop(client);
    anyhow::bail!("the connection closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_stay_small() {
        let ids: Vec<Uuid> = (0..400).map(|_| Uuid::new_v4()).collect();
        let payloads = payloads(&ids);
        assert!(payloads.iter().all(|payload| payload.len() < 8000));
        let parsed: Vec<Uuid> = payloads
            .iter()
            .flat_map(|payload| parse_ids(payload).to_vec())
            .collect();
        assert_eq!(parsed, ids);
    }
}
