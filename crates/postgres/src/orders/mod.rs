//! Purchase orders: [`PurchaseOrderRepository`] over `purchase_orders`, with
//! the units of work that place and cancel them under the chosen
//! [`ConcurrencyStrategy`].

mod atomic;
mod batched;
mod cancel;
mod hybrid;
mod place;
mod queued;
mod sales;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use recordshop_domain::StoreError;
use recordshop_domain::disc::DiscId;
use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};
use recordshop_domain::order::breaker::{BreakerSettings, CircuitBreaker};
use recordshop_domain::order::{
    NewPurchaseOrder, OrderEvent, OrderStatus, PlaceOrderError, PurchaseOrder, PurchaseOrderFilter,
    PurchaseOrderId, PurchaseOrderRepository, SalesQuery, SalesWindow,
};
use tokio_postgres::types::Type;

pub use self::batched::BatchSettings;
use self::batched::{Backlog, Batcher, PendingIntake};
use self::hybrid::Hybrid;
pub use self::queued::{AllocationWorkers, Decisions, QueueSettings};
use crate::ConcurrencyStrategy;
use crate::error::store_error;
use crate::idempotency::{IdempotencySettings, unkeyed};
use crate::rows;
use crate::sql::{Statement, connection, query, query_opt, query_planned_for_values};

/// The statements of every strategy's purchase, prepared on every
/// connection before the server says it is ready (see `crate::health`).
pub(crate) fn hot_statements() -> impl Iterator<Item = &'static Statement> {
    place::HOT
        .iter()
        .chain(atomic::HOT)
        .chain(batched::HOT)
        .chain(batched::INTAKE_HOT)
        .chain([&queued::INTAKE, &SELECT_ORDER])
}

/// [`PurchaseOrderRepository`] on PostgreSQL. Placing and cancelling follow
/// the [`ConcurrencyStrategy`]:
///
/// - pessimistic: READ COMMITTED, the disc row (or the order row, to cancel)
///   locked with `SELECT … FOR UPDATE` before deciding;
/// - optimistic: REPEATABLE READ and plain reads; a concurrent writer makes
///   the write fail with a serialization error, reported as
///   [`StoreError::Conflict`] for the domain to retry;
/// - atomic: a purchase is one conditional statement in autocommit (see
///   `orders/atomic.rs`); cancellations as pessimistic;
/// - batched: purchases of one disc arriving together share one
///   transaction (see `orders/batched`), bounded by [`BatchSettings`];
///   cancellations as pessimistic;
/// - queued: a purchase is recorded pending by one statement (see
///   `orders/queued`) and decided by the [`AllocationWorkers`];
///   cancellations as pessimistic;
/// - hybrid: batched, or the queued intake while the [`CircuitBreaker`]
///   is open (see `orders/hybrid.rs`, bounded by [`BreakerSettings`]);
///   cancellations as pessimistic.
///
/// A keyed purchase ([`PurchaseOrderRepository::place_once`]) claims its
/// key first in the same unit of work, under every strategy; the atomic
/// strategy then runs its statement inside a transaction. Keys live for
/// the [`IdempotencySettings`] TTL.
///
/// Clones share the batched strategy's queues; two repositories built
/// separately batch separately, like two server processes.
#[derive(Clone)]
pub struct PgPurchaseOrderRepository {
    pool: Pool,
    strategy: ConcurrencyStrategy,
    placing: Placing,
    idempotency: IdempotencySettings,
    /// Rung when a pending order is taken in; `None` when this process runs
    /// no workers (pending orders then wait for another process's).
    workers: Option<AllocationWorkers>,
    decisions: Decisions,
}

/// How [`PgPurchaseOrderRepository::place`] runs, fixed by the strategy.
#[derive(Clone)]
enum Placing {
    /// One transaction per purchase (pessimistic, optimistic).
    Transaction,
    /// One statement per purchase: the atomic sale.
    Atomic,
    /// Recorded pending, group-committed per disc (keyed purchases one
    /// statement each, as their key's claim needs).
    Queued(PendingIntake),
    /// Purchases of a disc combined by a queue per disc.
    Batched(Batcher),
    /// Batched, or queued while the breaker is open.
    Hybrid(Hybrid),
}

impl PgPurchaseOrderRepository {
    /// Orders stored through `pool`, placed and canceled per `strategy`,
    /// with the default [`BatchSettings`] when it is batched.
    #[must_use]
    pub fn new(pool: Pool, strategy: ConcurrencyStrategy) -> Self {
        Self::with_batch_settings(pool, strategy, BatchSettings::default())
    }

    /// Orders stored through `pool`, placed and canceled per `strategy`;
    /// `batching` bounds the batches of [`ConcurrencyStrategy::Batched`] and
    /// is ignored by the other strategies.
    #[must_use]
    pub fn with_batch_settings(
        pool: Pool,
        strategy: ConcurrencyStrategy,
        batching: BatchSettings,
    ) -> Self {
        let placing = match strategy {
            ConcurrencyStrategy::Pessimistic | ConcurrencyStrategy::Optimistic => {
                Placing::Transaction
            }
            ConcurrencyStrategy::Atomic => Placing::Atomic,
            ConcurrencyStrategy::Queued => {
                Placing::Queued(PendingIntake::new(pool.clone(), batching))
            }
            ConcurrencyStrategy::Batched => {
                Placing::Batched(Batcher::new(pool.clone(), batching, Backlog::Ignore))
            }
            ConcurrencyStrategy::Hybrid => Placing::Hybrid(Hybrid::new(
                pool.clone(),
                batching,
                BreakerSettings::default(),
            )),
        };
        Self {
            pool,
            strategy,
            placing,
            idempotency: IdempotencySettings::default(),
            workers: None,
            decisions: Decisions::default(),
        }
    }

    /// The same repository, waking `workers` when it takes a pending order
    /// in, and waiting for outcomes on their [`Decisions`].
    #[must_use]
    pub fn with_allocation_workers(self, workers: AllocationWorkers) -> Self {
        Self {
            decisions: workers.decisions().clone(),
            workers: Some(workers),
            ..self
        }
    }

    /// The same repository with its breaker bounded by `settings` (the
    /// hybrid strategy; ignored by the others).
    #[must_use]
    pub fn with_breaker_settings(self, settings: BreakerSettings) -> Self {
        let placing = match self.placing {
            Placing::Hybrid(hybrid) => Placing::Hybrid(hybrid.with_breaker_settings(settings)),
            other => other,
        };
        Self { placing, ..self }
    }

    /// The hybrid strategy's breaker, for `/health`; `None` under the
    /// others.
    #[must_use]
    pub fn breaker(&self) -> Option<CircuitBreaker> {
        match &self.placing {
            Placing::Hybrid(hybrid) => Some(hybrid.breaker().clone()),
            _ => None,
        }
    }

    /// The same repository, keeping idempotency keys per `settings`.
    #[must_use]
    pub fn with_idempotency_settings(self, settings: IdempotencySettings) -> Self {
        Self {
            idempotency: settings,
            ..self
        }
    }

    /// Purchases of `disc` waiting for their batch (not counting the batch
    /// in flight); always 0 unless batched. For metrics and tests.
    #[must_use]
    pub fn queued_purchases(&self, disc: DiscId) -> usize {
        match &self.placing {
            Placing::Batched(batcher) => batcher.queued(disc),
            Placing::Transaction | Placing::Atomic | Placing::Queued(_) | Placing::Hybrid(_) => 0,
        }
    }

    /// Discs with a batch worker alive (a worker ends when its disc's queue
    /// is empty); always 0 unless batched. For metrics and tests.
    #[must_use]
    pub fn batching_discs(&self) -> usize {
        match &self.placing {
            Placing::Batched(batcher) => batcher.active_discs(),
            Placing::Transaction | Placing::Atomic | Placing::Queued(_) | Placing::Hybrid(_) => 0,
        }
    }
}

impl PgPurchaseOrderRepository {
    /// One more try at placing an order (`recordshop_purchase_attempts_total`):
    /// the domain retries a unit of work the database aborted, so attempts
    /// over orders is what contention costs each strategy.
    fn count_attempt(&self) {
        metrics::counter!("recordshop_purchase_attempts_total", "strategy" => self.strategy.as_str())
            .increment(1);
    }

    /// Wakes a worker when `placed` is a pending order just taken in.
    fn wake_if_pending(&self, placed: &PurchaseOrder) {
        if let (OrderStatus::Pending, Some(workers)) = (placed.status, &self.workers) {
            workers.wake();
        }
    }

    async fn read_order(&self, id: PurchaseOrderId) -> Result<Option<PurchaseOrder>, StoreError> {
        let client = connection(&self.pool).await?;
        let row = query_opt(&client, &SELECT_ORDER, &[&id.as_uuid()])
            .await
            .map_err(store_error)?;
        row.as_ref().map(rows::order).transpose()
    }
}

const SELECT_EVENTS: Statement = Statement::new(
    "select_order_events",
    "
    SELECT id, order_id, type, occurred_at, data ->> 'rejection_reason' AS rejection_reason
    FROM order_events
    WHERE order_id = $1
    ORDER BY id",
);

const SELECT_ORDER: Statement = Statement::new(
    "select_order",
    "
    SELECT id, customer_id, disc_id, quantity, status, rejection_reason, created_at, decided_at, canceled_at,
           customer_snapshot, disc_snapshot
    FROM purchase_orders
    WHERE id = $1",
);

/// Optional filters as in `discs::LIST_DISCS`; newest first, which the
/// `purchase_orders_*created_idx` indexes serve.
const LIST_ORDERS: Statement = Statement::new(
    "list_orders",
    "
    SELECT id, customer_id, disc_id, quantity, status, rejection_reason, created_at, decided_at, canceled_at,
           customer_snapshot, disc_snapshot
    FROM purchase_orders
    WHERE ($1::uuid IS NULL OR customer_id = $1)
      AND ($2::uuid IS NULL OR disc_id = $2)
      AND ($3::text IS NULL OR status = $3)
      AND ($4::timestamptz IS NULL OR created_at >= $4)
      AND ($5::timestamptz IS NULL OR created_at <= $5)
    ORDER BY created_at DESC, id DESC
    LIMIT $6 OFFSET $7",
);

#[async_trait]
impl PurchaseOrderRepository for PgPurchaseOrderRepository {
    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(order_id = %order.id, disc_id = %order.disc_id, strategy = %self.strategy)
    )]
    async fn place(&self, order: &NewPurchaseOrder) -> Result<PurchaseOrder, PlaceOrderError> {
        self.count_attempt();
        match &self.placing {
            Placing::Transaction => {
                let mut client = connection(&self.pool).await?;
                unkeyed(
                    place::place(&mut client, self.strategy, order, None, self.idempotency).await,
                )
            }
            Placing::Atomic => {
                let client = connection(&self.pool).await?;
                atomic::place(&client, atomic::STATEMENT, order).await
            }
            Placing::Queued(intake) => {
                let placed = intake.place(order).await;
                if let Ok(order) = &placed {
                    self.wake_if_pending(order);
                }
                placed
            }
            Placing::Batched(batcher) => batcher.place(order).await,
            Placing::Hybrid(hybrid) => {
                let placed = hybrid.place(order).await;
                if let Ok(order) = &placed {
                    self.wake_if_pending(order);
                }
                placed
            }
        }
    }

    #[tracing::instrument(
        level = "debug",
        skip_all,
        fields(order_id = %order.id, disc_id = %order.disc_id, strategy = %self.strategy, key = %once.key)
    )]
    async fn place_once(
        &self,
        order: &NewPurchaseOrder,
        once: &IdempotentCreate,
    ) -> Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>> {
        self.count_attempt();
        match &self.placing {
            Placing::Transaction => {
                let mut client = connection(&self.pool).await?;
                place::place(
                    &mut client,
                    self.strategy,
                    order,
                    Some(once),
                    self.idempotency,
                )
                .await
            }
            Placing::Atomic => {
                let mut client = connection(&self.pool).await?;
                atomic::place_once(
                    &mut client,
                    atomic::STATEMENT,
                    order,
                    once,
                    self.idempotency,
                )
                .await
            }
            Placing::Queued(_) => {
                let mut client = connection(&self.pool).await?;
                let placed =
                    atomic::place_once(&mut client, &queued::INTAKE, order, once, self.idempotency)
                        .await;
                if let Ok(Created::New(order)) = &placed {
                    self.wake_if_pending(order);
                }
                placed
            }
            Placing::Batched(batcher) => batcher.place_once(order, once, self.idempotency).await,
            Placing::Hybrid(hybrid) => {
                let placed = hybrid.place_once(order, once, self.idempotency).await;
                if let Ok(Created::New(order)) = &placed {
                    self.wake_if_pending(order);
                }
                placed
            }
        }
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn get(&self, id: PurchaseOrderId) -> Result<Option<PurchaseOrder>, StoreError> {
        self.read_order(id).await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn get_decided(
        &self,
        id: PurchaseOrderId,
        within: Duration,
    ) -> Result<Option<PurchaseOrder>, StoreError> {
        self.decisions
            .wait(id.as_uuid(), within, || self.read_order(id))
            .await
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn events(&self, id: PurchaseOrderId) -> Result<Vec<OrderEvent>, StoreError> {
        let client = connection(&self.pool).await?;
        let rows = query(&client, &SELECT_EVENTS, &[&id.as_uuid()])
            .await
            .map_err(store_error)?;
        rows::all(&rows, rows::order_event)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn list(&self, filter: &PurchaseOrderFilter) -> Result<Vec<PurchaseOrder>, StoreError> {
        let client = connection(&self.pool).await?;
        let rows = query_planned_for_values(
            &client,
            &LIST_ORDERS,
            &[
                (&filter.customer_id.map(|id| id.as_uuid()), Type::UUID),
                (&filter.disc_id.map(|id| id.as_uuid()), Type::UUID),
                (&filter.status.map(|status| status.as_str()), Type::TEXT),
                (&filter.from, Type::TIMESTAMPTZ),
                (&filter.to, Type::TIMESTAMPTZ),
                (&filter.page.limit(), Type::INT8),
                (&filter.page.offset(), Type::INT8),
            ],
        )
        .await
        .map_err(store_error)?;
        rows::all(&rows, rows::order)
    }

    #[tracing::instrument(level = "debug", skip_all)]
    async fn sales(&self, query: &SalesQuery) -> Result<Vec<SalesWindow>, StoreError> {
        let client = connection(&self.pool).await?;
        sales::report(&client, query).await
    }

    #[tracing::instrument(level = "debug", skip(self), fields(strategy = %self.strategy))]
    async fn cancel(&self, id: PurchaseOrderId) -> Result<Option<PurchaseOrder>, StoreError> {
        let mut client = connection(&self.pool).await?;
        cancel::cancel(&mut client, self.strategy, id).await
    }
}
