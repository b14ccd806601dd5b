//! The batched strategy: purchases of the same disc that arrive together
//! are placed by one transaction, so a burst pays for one row lock hand-off
//! and one commit instead of one per order.
//!
//! Scheduling is group commit ([`queue`]): a purchase of an idle disc
//! starts a batch at once; purchases arriving meanwhile queue and form the
//! next batch, bounded by [`BatchSettings`]. The batch itself ([`sale`])
//! locks the disc row with `SELECT … FOR UPDATE`, so batches of the same
//! disc from several server processes (or repositories) queue on the lock
//! like any other writer and never oversell.
//!
//! Keyed purchases ride in the same batches: their keys are claimed in one
//! statement before the disc row is locked, and purchases of one batch that
//! share a key are settled without a second claim ([`keys`]).
//!
//! # Callers that go away
//! The caller's future may be dropped while it waits (the HTTP client
//! disconnected). A purchase whose caller left before its batch started is
//! skipped: nothing is placed. Once its batch has started, it is placed or
//! refused like the others and the answer is discarded. So, as with any
//! strategy when a client disconnects after the commit, confirmed orders
//! can outnumber the 201 answers sent, by at most the number of callers
//! that left while their batch was in flight; a load tool counts those as
//! requests in flight, and the order is real (it can be read and canceled).

mod failure;
mod intake;
mod keys;
mod purchase;
mod queue;
mod sale;

pub(super) use intake::HOT as INTAKE_HOT;
pub(super) use sale::{Backlog, HOT};

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use deadpool_postgres::Pool;
use recordshop_domain::StoreError;
use recordshop_domain::disc::DiscId;
use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};
use recordshop_domain::order::{NewPurchaseOrder, PlaceOrderError, PurchaseOrder};
use tokio::sync::oneshot;

use crate::idempotency::{IdempotencySettings, unkeyed};
use intake::Intake;
use purchase::{Keyed, Outcome, Purchase};
use queue::{GroupCommit, Runner};
use sale::Sale;

/// Bounds of the batched strategy's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Purchases at most in one transaction (0 counts as 1); more waiting
    /// purchases form the following batches.
    pub max_batch: usize,
    /// The longest a purchase of a busy disc (whose last batch held several
    /// purchases) waits for more purchases to join its batch, counted from
    /// its arrival and including the time it spent behind the batch in
    /// flight. A full batch starts without waiting; a purchase of an idle
    /// disc, or a lone client buying again, never waits. `Duration::ZERO`
    /// is pure group commit.
    pub max_wait: Duration,
}

impl Default for BatchSettings {
    /// 256 purchases and 2 ms: a batch of 256 is one multi-row insert of
    /// well under a megabyte, and 2 ms is a small fraction of the latency
    /// budget while a commit (fsync) costs about 0.1–0.2 ms.
    fn default() -> Self {
        Self {
            max_batch: 256,
            max_wait: Duration::from_millis(2),
        }
    }
}

/// The batched placing of one repository (one "server instance"): a queue
/// per disc and the workers that drain them. Clones share the queues.
#[derive(Clone)]
pub(crate) struct Batcher {
    queues: Arc<GroupCommit<Sale>>,
}

impl Batcher {
    pub(crate) fn new(pool: Pool, settings: BatchSettings, backlog: Backlog) -> Self {
        Self {
            queues: Arc::new(GroupCommit::new(Sale::new(pool, backlog), settings)),
        }
    }

    /// Queues `order` for the next batch of its disc and waits for its own
    /// answer.
    pub(crate) async fn place(
        &self,
        order: &NewPurchaseOrder,
    ) -> Result<PurchaseOrder, PlaceOrderError> {
        unkeyed(self.submit(order, None).await)
    }

    /// As [`place`](Self::place), at most once per key of `once`.
    pub(crate) async fn place_once(
        &self,
        order: &NewPurchaseOrder,
        once: &IdempotentCreate,
        settings: IdempotencySettings,
    ) -> Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>> {
        let key = Keyed {
            once: once.clone(),
            settings,
        };
        self.submit(order, Some(key)).await
    }

    async fn submit(&self, order: &NewPurchaseOrder, key: Option<Keyed>) -> Outcome {
        submit(&self.queues, order, key).await
    }

    /// Purchases of `disc` waiting for a batch.
    pub(crate) fn queued(&self, disc: DiscId) -> usize {
        self.queues.queued(disc)
    }

    /// Discs with a batch worker alive.
    pub(crate) fn active_discs(&self) -> usize {
        self.queues.active_keys()
    }
}

/// The queued strategy's intake of one repository, group-committed per
/// disc (see `intake.rs`), bounded by the same [`BatchSettings`]. Clones
/// share the queues.
#[derive(Clone)]
pub(crate) struct PendingIntake {
    queues: Arc<GroupCommit<Intake>>,
}

impl PendingIntake {
    pub(crate) fn new(pool: Pool, settings: BatchSettings) -> Self {
        Self {
            queues: Arc::new(GroupCommit::new(Intake::new(pool), settings)),
        }
    }

    /// Records `order` pending in the next intake batch of its disc, or
    /// says why not.
    pub(crate) async fn place(
        &self,
        order: &NewPurchaseOrder,
    ) -> Result<PurchaseOrder, PlaceOrderError> {
        unkeyed(submit(&self.queues, order, None).await)
    }
}

/// Queues `order` for the next batch of its disc in `queues` and waits for
/// its own answer.
async fn submit<R>(
    queues: &Arc<GroupCommit<R>>,
    order: &NewPurchaseOrder,
    key: Option<Keyed>,
) -> Outcome
where
    R: Runner<Key = DiscId, Item = Purchase>,
{
    let (reply, answer) = oneshot::channel();
    queues.submit(
        order.disc_id,
        Purchase {
            order: order.clone(),
            key,
            reply,
            queued_at: std::time::Instant::now(),
            caller: tracing::Span::current(),
        },
    );
    answer.await.unwrap_or_else(|_| {
        // The worker dropped the purchase unanswered: it panicked or the
        // runtime is shutting down. Whether the order was placed is unknown
        // to this caller, like a lost connection.
        Err(StoreError::Unexpected(anyhow!(
            "the batch of disc {} stopped before answering order {}",
            order.disc_id,
            order.id
        ))
        .into())
    })
}
