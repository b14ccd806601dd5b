//! A purchase waiting for its batch: the order, its idempotency key if it
//! has one, and where its outcome goes.

use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};
use recordshop_domain::order::{NewPurchaseOrder, PlaceOrderError, PurchaseOrder};
use tokio::sync::oneshot;

use crate::idempotency::IdempotencySettings;

/// What a caller gets back; a purchase without a key is never replayed and
/// never meets a reused key.
pub(super) type Outcome = Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>>;

/// A keyed purchase's key, and how long its record is to live.
pub(crate) struct Keyed {
    pub(crate) once: IdempotentCreate,
    pub(crate) settings: IdempotencySettings,
}

/// A purchase waiting in a batch, and where its outcome goes.
pub(super) struct Purchase {
    pub(super) order: NewPurchaseOrder,
    pub(super) key: Option<Keyed>,
    pub(super) reply: oneshot::Sender<Outcome>,
    /// When it was queued, for the time it waited for its batch.
    pub(super) queued_at: std::time::Instant,
    /// The caller's span, which the batch's span follows from: a trace
    /// holding both links them.
    pub(super) caller: tracing::Span,
}

impl Purchase {
    /// A caller that went away no longer listens; nothing to do then.
    pub(super) fn answer(self, outcome: Outcome) {
        let _ = self.reply.send(outcome);
    }
}

/// The purchases of `batch` whose callers still wait: one whose caller left
/// before its batch started is skipped, nothing placed.
pub(super) fn still_awaited(batch: Vec<Purchase>) -> Vec<Purchase> {
    batch.into_iter().filter(|p| !p.reply.is_closed()).collect()
}
