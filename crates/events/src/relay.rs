//! The relay's loop: take the lock, connect, read a batch, publish it,
//! await the confirms, mark what was confirmed, and wait when the outbox is
//! empty; every failure logged once per outage and retried with a backoff.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use deadpool_postgres::Pool;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

use crate::broker::{BrokerError, Publisher};
use crate::lock::Locked;
use crate::outbox::{self, DatabaseError};
use crate::retry::{Backoff, Health};
use crate::{BrokerUrl, metric};

/// The advisory lock key of the relay: an arbitrary constant ("relay" in
/// ASCII), the same in every instance.
pub const RELAY_LOCK_KEY: i64 = 0x72_656c_6179;

/// How the relay works; [`RelaySettings::default`] is what the server uses.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// The durable topic exchange events go to: `orders`.
    pub exchange: String,
    /// Events read, published and confirmed together: 256.
    pub batch: u32,
    /// How often an idle relay looks at the outbox without being woken
    /// ([`RelayHandle::wake`]): 200 ms.
    pub poll_interval: Duration,
    /// How often an instance without the lock tries to take it: 1 s.
    pub lock_retry: Duration,
    /// The first pause after a failure, doubled at every further one: 250 ms.
    pub backoff_min: Duration,
    /// The longest pause between retries: 5 s.
    pub backoff_max: Duration,
    /// How long connecting, or a batch's confirms, may take before the
    /// connection is given up as broken: 10 s.
    pub broker_timeout: Duration,
    /// How often the backlog gauge is counted: 5 s.
    pub backlog_every: Duration,
    /// The advisory lock that elects the one relay: [`RELAY_LOCK_KEY`].
    pub lock_key: i64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            exchange: "orders".to_owned(),
            batch: 256,
            poll_interval: Duration::from_millis(200),
            lock_retry: Duration::from_secs(1),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(5),
            broker_timeout: Duration::from_secs(10),
            backlog_every: Duration::from_secs(5),
            lock_key: RELAY_LOCK_KEY,
        }
    }
}

/// The outbox relay of one server instance; see the crate's documentation.
pub struct Relay {
    pool: Pool,
    url: BrokerUrl,
    settings: RelaySettings,
    wake: Arc<Notify>,
}

/// Wakes the relay when an event was just committed, so it need not wait
/// for its next poll. Cheap to clone; waking a busy relay makes it look
/// again right after its batch, waking a stopped one does nothing.
#[derive(Debug, Clone)]
pub struct RelayHandle {
    wake: Arc<Notify>,
}

impl RelayHandle {
    /// Asks the relay to look at the outbox now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// A relay running on a task of its own ([`Relay::spawn`]).
pub struct RunningRelay {
    handle: RelayHandle,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl RunningRelay {
    #[must_use]
    pub fn handle(&self) -> RelayHandle {
        self.handle.clone()
    }

    /// Stops the relay and waits until it has closed its broker connection
    /// and released the lock. Events it published but had not yet marked
    /// are published again by the next relay (at least once).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the event relay's task failed");
        }
    }
}

impl Relay {
    /// A relay publishing the outbox of the database behind `pool` to the
    /// broker at `url`. It takes one connection of `pool` while it holds
    /// the lock. Nothing happens until [`Relay::run`] or [`Relay::spawn`].
    #[must_use]
    pub fn new(pool: Pool, url: BrokerUrl, settings: RelaySettings) -> Self {
        Self {
            pool,
            url,
            settings,
            wake: Arc::new(Notify::new()),
        }
    }

    /// The handle that wakes this relay.
    #[must_use]
    pub fn handle(&self) -> RelayHandle {
        RelayHandle {
            wake: Arc::clone(&self.wake),
        }
    }

    /// Relays until `shutdown` completes, then closes the broker connection
    /// and releases the lock. Never fails: database and broker errors are
    /// logged and retried until they pass.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let mut worker = Worker::new(self);
        tokio::select! {
            () = shutdown => {}
            () = worker.run_forever() => {}
        }
        worker.close().await;
    }

    /// [`Relay::run`] on a task of its own, until [`RunningRelay::stop`]
    /// (or until the returned value is dropped). Must be called inside a
    /// tokio runtime.
    #[must_use]
    pub fn spawn(self) -> RunningRelay {
        let handle = self.handle();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async {
            // A dropped sender stops the relay as well.
            let _ = stopped.await;
        }));
        RunningRelay { handle, stop, task }
    }
}

/// The relay's state between iterations.
struct Worker {
    pool: Pool,
    url: BrokerUrl,
    settings: RelaySettings,
    wake: Arc<Notify>,
    lock: Option<Locked>,
    publisher: Option<Publisher>,
    broker: Health,
    database: Health,
    standing_by: bool,
    backlog_counted: Option<Instant>,
}

/// Which dependency failed an iteration.
enum Failure {
    Database(DatabaseError),
    Broker(BrokerError),
}

impl From<DatabaseError> for Failure {
    fn from(error: DatabaseError) -> Self {
        Self::Database(error)
    }
}

/// What the batch left behind: more events (read again at once) or an
/// empty outbox (wait).
enum Batch {
    Full,
    Drained,
}

impl Worker {
    fn new(relay: Relay) -> Self {
        let backoff = Backoff::new(relay.settings.backoff_min, relay.settings.backoff_max);
        metrics::gauge!(metric::BROKER_CONNECTED).set(0.0);
        Self {
            pool: relay.pool,
            url: relay.url,
            settings: relay.settings,
            wake: relay.wake,
            lock: None,
            publisher: None,
            broker: Health::new(backoff.clone()),
            database: Health::new(backoff),
            standing_by: false,
            backlog_counted: None,
        }
    }

    async fn run_forever(&mut self) {
        loop {
            if self.lock.is_none() {
                self.lock = Some(self.acquire_lock().await);
            }
            if let Err(error) = self.count_backlog().await {
                self.database_failed(&error).await;
                continue;
            }
            if !self.publisher.as_ref().is_some_and(Publisher::is_connected)
                && !self.connect().await
            {
                continue;
            }
            match self.relay_batch().await {
                Ok(Batch::Full) => {}
                Ok(Batch::Drained) => self.idle().await,
                Err(Failure::Database(error)) => self.database_failed(&error).await,
                Err(Failure::Broker(error)) => self.broker_failed(&error).await,
            }
        }
    }

    /// Takes the lock, retrying every `lock_retry` while another instance
    /// holds it, and with the backoff while the database fails.
    async fn acquire_lock(&mut self) -> Locked {
        loop {
            let attempt = match self.pool.get().await {
                Ok(client) => Locked::try_take(client, self.settings.lock_key).await,
                Err(error) => Err(DatabaseError::pool(&error)),
            };
            match attempt {
                Ok(Some(locked)) => {
                    self.database_recovered();
                    tracing::info!(
                        broker = %self.url,
                        exchange = self.settings.exchange,
                        "this instance relays the order events"
                    );
                    self.standing_by = false;
                    return locked;
                }
                Ok(None) => {
                    self.database_recovered();
                    if !self.standing_by {
                        tracing::info!("another instance relays the order events; standing by");
                        self.standing_by = true;
                    }
                    tokio::time::sleep(self.settings.lock_retry).await;
                }
                Err(error) => self.database_failed(&error).await,
            }
        }
    }

    /// Connects to the broker; on failure logs (once per outage) and
    /// pauses. Returns whether it is connected.
    async fn connect(&mut self) -> bool {
        if self.publisher.take().is_some() {
            // Noticed between batches (the heartbeat, a broker that closed
            // the connection).
            self.broker_failed(&"the connection was closed").await;
            return false;
        }
        let connected = Publisher::connect(
            &self.url,
            &self.settings.exchange,
            self.settings.broker_timeout,
        )
        .await;
        match connected {
            Ok(publisher) => {
                metrics::gauge!(metric::BROKER_CONNECTED).set(1.0);
                match self.broker.recovered() {
                    Some(outage) => tracing::info!(
                        broker = %self.url,
                        outage_s = outage.as_secs_f64(),
                        "reconnected to the broker; publishing the events that waited"
                    ),
                    None => tracing::info!(broker = %self.url, "connected to the broker"),
                }
                self.publisher = Some(publisher);
                true
            }
            Err(error) => {
                self.broker_failed(&error).await;
                false
            }
        }
    }

    async fn relay_batch(&mut self) -> Result<Batch, Failure> {
        let (Some(lock), Some(publisher)) = (&self.lock, &self.publisher) else {
            return Ok(Batch::Drained);
        };
        let client = lock.client()?;
        let events = outbox::unpublished(client, i64::from(self.settings.batch)).await?;
        if events.is_empty() {
            metrics::gauge!(metric::OUTBOX_BACKLOG).set(0.0);
            return Ok(Batch::Drained);
        }
        let published = publisher
            .publish(&events, self.settings.broker_timeout)
            .await;
        if !published.confirmed.is_empty() {
            let marked = outbox::mark_published(client, &published.confirmed).await?;
            metrics::counter!(metric::PUBLISHED).increment(marked);
        }
        tracing::debug!(
            read = events.len(),
            confirmed = published.confirmed.len(),
            "relayed a batch"
        );
        if let Some(error) = published.failure {
            return Err(Failure::Broker(error));
        }
        self.broker.backoff.reset();
        self.database.backoff.reset();
        let full = u32::try_from(events.len()).is_ok_and(|read| read >= self.settings.batch);
        if full {
            return Ok(Batch::Full);
        }
        // All of a short batch is published: nothing was left when it was
        // read.
        metrics::gauge!(metric::OUTBOX_BACKLOG).set(0.0);
        Ok(Batch::Drained)
    }

    /// Until woken, or the poll interval passes.
    async fn idle(&self) {
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(self.settings.poll_interval) => {}
        }
    }

    /// Counts the unpublished events every `backlog_every`, broker up or
    /// down (while it is down is when the number matters).
    async fn count_backlog(&mut self) -> Result<(), DatabaseError> {
        let due = self
            .backlog_counted
            .is_none_or(|counted| counted.elapsed() >= self.settings.backlog_every);
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        if due {
            let backlog = outbox::backlog(lock.client()?).await?;
            #[allow(clippy::cast_precision_loss)] // a gauge; exact below 2^53
            metrics::gauge!(metric::OUTBOX_BACKLOG).set(backlog as f64);
            self.backlog_counted = Some(Instant::now());
        }
        Ok(())
    }

    /// Gives up the lock's connection (its session ends, releasing the
    /// lock for any instance) and pauses.
    async fn database_failed(&mut self, error: &DatabaseError) {
        self.lock = None;
        if self.database.failed() {
            tracing::warn!(
                error = %error,
                "the event relay cannot use the database; retrying (events stay in the outbox)"
            );
        } else {
            tracing::debug!(error = %error, "the database still fails");
        }
        tokio::time::sleep(self.database.backoff.next()).await;
    }

    fn database_recovered(&mut self) {
        if let Some(outage) = self.database.recovered() {
            tracing::info!(
                outage_s = outage.as_secs_f64(),
                "the event relay reaches the database again"
            );
        }
    }

    /// Drops the connection and pauses; the events wait in the outbox.
    async fn broker_failed(&mut self, error: &(dyn Display + Sync)) {
        self.publisher = None;
        metrics::gauge!(metric::BROKER_CONNECTED).set(0.0);
        if self.broker.failed() {
            tracing::warn!(
                broker = %self.url,
                error = %error,
                "the broker is unreachable; order events wait in the outbox until it is back"
            );
        } else {
            tracing::debug!(error = %error, "the broker is still unreachable");
        }
        tokio::time::sleep(self.broker.backoff.next()).await;
    }

    /// Closes the broker connection and releases the lock, each within a
    /// bound (a broken peer must not hold up a shutdown).
    async fn close(mut self) {
        const CLOSE_WITHIN: Duration = Duration::from_secs(2);
        if let Some(publisher) = self.publisher.take() {
            let _ = tokio::time::timeout(CLOSE_WITHIN, publisher.close()).await;
        }
        metrics::gauge!(metric::BROKER_CONNECTED).set(0.0);
        if let Some(lock) = self.lock.take() {
            // Dropped on timeout: the connection closes, which releases it.
            let _ = tokio::time::timeout(CLOSE_WITHIN, lock.release()).await;
        }
    }
}
