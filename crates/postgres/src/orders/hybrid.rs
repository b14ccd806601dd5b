//! The hybrid strategy: `batched` while it is fast, the `queued` intake
//! while it is not, switched per process by the domain's
//! [`CircuitBreaker`] on the time each synchronous purchase took.
//!
//! Why `batched` is the synchronous path: it is the fastest one on a hot
//! disc by measurement (README "Results": several times `atomic` and
//! `pessimistic` under 128 clients), and a hot disc is where the breaker
//! matters.
//!
//! One arrival order across both paths: a batch that finds pending orders
//! of its disc (left by an open breaker, here or in another process)
//! queues behind them instead of selling ([`Backlog::Defer`]), and the
//! allocation workers decide them all oldest first. So after the breaker
//! closes, a disc goes back to being sold synchronously only once its
//! backlog is drained, and no buyer decided now takes a unit an earlier
//! pending buyer may still get.

use std::sync::Arc;

use deadpool_postgres::Pool;
use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};
use recordshop_domain::order::breaker::{
    BreakerSettings, BreakerState, CircuitBreaker, Route, TransitionHook,
};
use recordshop_domain::order::{NewPurchaseOrder, PlaceOrderError, PurchaseOrder};

use super::batched::{Backlog, BatchSettings, Batcher, PendingIntake};
use super::{atomic, queued};
use crate::idempotency::IdempotencySettings;
use crate::sql::connection;

/// The two paths and the breaker between them (one per repository, like
/// the batched strategy's queues).
#[derive(Clone)]
pub(super) struct Hybrid {
    pool: Pool,
    batcher: Batcher,
    intake: PendingIntake,
    breaker: CircuitBreaker,
}

impl Hybrid {
    pub(super) fn new(pool: Pool, batching: BatchSettings, settings: BreakerSettings) -> Self {
        Self {
            batcher: Batcher::new(pool.clone(), batching, Backlog::Defer),
            intake: PendingIntake::new(pool.clone(), batching),
            breaker: CircuitBreaker::with_transition_hook(settings, observe_transitions()),
            pool,
        }
    }

    pub(super) fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// The same paths under a breaker with `settings`.
    pub(super) fn with_breaker_settings(self, settings: BreakerSettings) -> Self {
        Self {
            breaker: CircuitBreaker::with_transition_hook(settings, observe_transitions()),
            ..self
        }
    }

    pub(super) async fn place(
        &self,
        order: &NewPurchaseOrder,
    ) -> Result<PurchaseOrder, PlaceOrderError> {
        match self.breaker.route() {
            Route::Synchronous(ticket) => {
                let placed = self.batcher.place(order).await;
                ticket.finish();
                placed
            }
            Route::Asynchronous => self.intake.place(order).await,
        }
    }

    pub(super) async fn place_once(
        &self,
        order: &NewPurchaseOrder,
        once: &IdempotentCreate,
        settings: IdempotencySettings,
    ) -> Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>> {
        match self.breaker.route() {
            Route::Synchronous(ticket) => {
                let placed = self.batcher.place_once(order, once, settings).await;
                ticket.finish();
                placed
            }
            Route::Asynchronous => {
                let mut client = connection(&self.pool).await?;
                atomic::place_once(&mut client, &queued::INTAKE, order, once, settings).await
            }
        }
    }
}

/// Transitions as metrics (`recordshop_breaker_state`: 0 closed, 1
/// half-open, 2 open; `recordshop_breaker_transitions_total` by the state
/// entered) and as a log line: opening is a warning, an operator wants to
/// know purchases are being queued.
fn observe_transitions() -> TransitionHook {
    metrics::gauge!("recordshop_breaker_state").set(0.0);
    Arc::new(|from: BreakerState, to: BreakerState| {
        let level = match to {
            BreakerState::Closed => 0.0,
            BreakerState::HalfOpen => 1.0,
            BreakerState::Open => 2.0,
        };
        metrics::gauge!("recordshop_breaker_state").set(level);
        metrics::counter!("recordshop_breaker_transitions_total", "to" => to.as_str()).increment(1);
        match to {
            BreakerState::Open => tracing::warn!(
                from = from.as_str(),
                "purchase breaker open: purchases are queued (202) while the synchronous path is slow"
            ),
            BreakerState::HalfOpen | BreakerState::Closed => {
                tracing::info!(from = from.as_str(), to = to.as_str(), "purchase breaker")
            }
        }
    })
}
