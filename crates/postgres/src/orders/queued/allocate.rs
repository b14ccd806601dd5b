//! The allocation workers: pending orders decided per disc, oldest first,
//! in batches (see the module above for the locking discipline).

use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Pool, Transaction};
use recordshop_domain::StoreError;
use recordshop_domain::customer::{Customer, CustomerId};
use recordshop_domain::disc::{Disc, DiscId};
use recordshop_domain::order::{
    NewPurchaseOrder, OrderQuantity, OrderStatus, PurchaseOrderId, RejectionReason,
};
use tokio::sync::Notify;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::Json;
use uuid::Uuid;

use super::decisions::{Decisions, payloads};
use super::{DECIDED_CHANNEL, DEFAULT_POLL};
use crate::error::store_error;
use crate::rows::{self, StoredCustomer, StoredDisc};
use crate::sql::{Statement, begin, connection, execute, query, query_opt};

/// How the allocation workers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueSettings {
    /// Workers in this process (at least 1): discs decided at once.
    pub workers: usize,
    /// Pending orders decided in one transaction at most.
    pub max_batch: usize,
    /// How often an idle worker looks for orders that another process took
    /// in; this process's own intake wakes a worker at once.
    pub poll: Duration,
    /// Failed attempts after which an order alone is the dead letter.
    pub max_failures: i32,
}

/// Discs decided in one transaction at most (see `AllocationWorkers::allocate`).
const DISCS_PER_BATCH: usize = 16;

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            workers: 4,
            max_batch: 256,
            poll: DEFAULT_POLL,
            max_failures: 3,
        }
    }
}

/// The disc whose oldest pending order is oldest among the head of the
/// queue (the [`QUEUE_HEAD`] oldest pending orders of every disc; `$1`
/// NULL), or disc `$1`, locked so no other worker decides it meanwhile; one
/// that is already being decided is skipped. Deleted discs too: their
/// orders are rejected. `now()` is the decision's time, in the snapshots
/// and the stock's `updated_at`.
///
/// Only the head is grouped (an index scan of `arrival` over pending
/// orders, migration V5): grouping the whole backlog for every disc decided
/// made the workers fall behind a spread intake. A disc whose orders are
/// all behind a head held by discs being decided waits until those are:
/// the head moves as they are.
const NEXT_DISC: Statement = Statement::new(
    "next_disc_to_allocate",
    "
    WITH head AS (
        SELECT disc_id, arrival
        FROM purchase_orders
        WHERE status = 'pending' AND ($1::uuid IS NULL OR disc_id = $1)
        ORDER BY arrival
        LIMIT $2
    ),
    waiting AS (
        SELECT disc_id, min(arrival) AS first_arrival
        FROM head
        GROUP BY disc_id
    )
    SELECT d.id, d.name, d.artist, d.year_of_release, d.genre, d.quantity, d.created_at,
           d.updated_at, d.deleted_at IS NOT NULL AS deleted, now() AS decided_at
    FROM discs d JOIN waiting w ON w.disc_id = d.id
    ORDER BY w.first_arrival
    LIMIT 1
    FOR NO KEY UPDATE OF d SKIP LOCKED",
);

/// Pending orders [`NEXT_DISC`] looks at (`$2`): the head of the queue.
const QUEUE_HEAD: i64 = 1024;

/// The disc's oldest pending orders, with each buyer as it is now.
const PENDING_ORDERS: Statement = Statement::new(
    "pending_orders_of_disc",
    "
    SELECT o.id, o.customer_id, o.quantity,
           (SELECT to_jsonb(c) FROM (
                SELECT id, document, name, birth_date, email, phone, is_active, created_at,
                       updated_at
                FROM customers WHERE id = o.customer_id) c) AS customer
    FROM purchase_orders o
    WHERE o.disc_id = $1 AND o.status = 'pending'
    ORDER BY o.arrival
    LIMIT $2",
);

const SET_STOCK: Statement = Statement::new(
    "set_allocated_stock",
    "UPDATE discs SET quantity = $2, updated_at = $3 WHERE id = $1",
);

/// Each order's decision; a confirmed order's disc snapshot becomes the disc
/// right after its sale. The status guard keeps a bug from deciding twice.
const DECIDE: Statement = Statement::new(
    "decide_pending_orders",
    "
    UPDATE purchase_orders o
    SET status = d.status, rejection_reason = d.reason, decided_at = now(),
        disc_snapshot = COALESCE(d.disc_snapshot, o.disc_snapshot)
    FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::jsonb[])
         AS d (id, status, reason, disc_snapshot)
    WHERE o.id = d.id AND o.status = 'pending'",
);

const ANNOUNCE: Statement = Statement::new("announce_decided_orders", "SELECT pg_notify($1, $2)");

/// One more failed attempt of an order; its count after it.
const COUNT_FAILURE: Statement = Statement::new(
    "count_allocation_failure",
    "
    UPDATE purchase_orders SET allocation_failures = allocation_failures + 1
    WHERE id = $1 AND status = 'pending'
    RETURNING allocation_failures",
);

/// The dead letter: rejected, nothing sold, and announced like any
/// decision.
const DEAD_LETTER: Statement = Statement::new(
    "dead_letter_order",
    "
    WITH dead AS (
        UPDATE purchase_orders
        SET status = 'rejected', rejection_reason = 'allocation_failed', decided_at = now()
        WHERE id = $1 AND status = 'pending'
        RETURNING id
    )
    SELECT pg_notify($2, dead.id::text) FROM dead",
);

/// The allocation workers of one process, and the bell its intake rings.
#[derive(Clone)]
pub struct AllocationWorkers {
    pool: Pool,
    settings: QueueSettings,
    wake: Arc<Notify>,
    decisions: Decisions,
}

/// A pending order and what deciding it needs.
struct Pending {
    order: NewPurchaseOrder,
    customer: Option<Customer>,
}

/// What became of one order.
struct Decision {
    id: PurchaseOrderId,
    status: OrderStatus,
    reason: Option<RejectionReason>,
    disc_after: Option<Disc>,
}

/// Why a batch did not commit.
enum BatchFailure {
    /// The database is away or busy: try again later, counting nothing.
    Transient(StoreError),
    /// Something unexpected: the orders are suspects.
    Unexpected(StoreError),
}

impl From<StoreError> for BatchFailure {
    fn from(error: StoreError) -> Self {
        match error {
            error @ StoreError::Unexpected(_) => Self::Unexpected(error),
            error @ (StoreError::Conflict | StoreError::Unavailable(_)) => Self::Transient(error),
        }
    }
}

impl AllocationWorkers {
    /// Workers over `pool`, announcing their decisions on `decisions`; none
    /// runs until [`AllocationWorkers::start`].
    #[must_use]
    pub fn new(pool: Pool, settings: QueueSettings, decisions: Decisions) -> Self {
        Self {
            pool,
            settings,
            wake: Arc::new(Notify::new()),
            decisions,
        }
    }

    /// Where the workers announce what they decide.
    #[must_use]
    pub fn decisions(&self) -> &Decisions {
        &self.decisions
    }

    /// Wakes one idle worker: an order was just taken in.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Starts the workers, for as long as the process runs. A process that
    /// stops (or is killed) mid-batch rolls its batch back, and the orders
    /// stay pending for the next worker. Must be called inside a Tokio
    /// runtime.
    pub fn start(&self) {
        for _ in 0..self.settings.workers.max(1) {
            let workers = self.clone();
            tokio::spawn(async move { workers.work().await });
        }
    }

    async fn work(&self) {
        let mut failing = false;
        loop {
            match self.allocate(None, self.settings.max_batch).await {
                Ok(Some(_)) => {
                    failing = false;
                    continue;
                }
                Ok(None) => {}
                Err((Some(disc), BatchFailure::Unexpected(error))) => {
                    tracing::warn!(%disc, error = format!("{error:#}"), "an allocation batch failed; deciding its orders one by one");
                    self.isolate_failure(disc).await;
                    continue;
                }
                // Before any disc was taken, nothing is suspect: wait as for
                // an outage rather than retry at once.
                Err(
                    (None, BatchFailure::Unexpected(error)) | (_, BatchFailure::Transient(error)),
                ) => {
                    if !failing {
                        tracing::warn!(
                            error = format!("{error:#}"),
                            "allocation is waiting for the database"
                        );
                    }
                    failing = true;
                }
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.poll) => {}
            }
        }
    }

    /// Decides the head of `disc`'s queue alone; if that fails unexpectedly
    /// too, the head is a suspect: one failure more, and past the bound the
    /// dead letter.
    async fn isolate_failure(&self, disc: DiscId) {
        let Err((_, BatchFailure::Unexpected(error))) = self.allocate(Some(disc), 1).await else {
            return;
        };
        if let Err(error) = self.count_failure(disc, &error).await {
            tracing::warn!(%disc, error = format!("{error:#}"), "could not count an allocation failure");
        }
    }

    async fn count_failure(&self, disc: DiscId, cause: &StoreError) -> Result<(), StoreError> {
        let client = connection(&self.pool).await?;
        let head = query(&client, &PENDING_ORDERS, &[&disc.as_uuid(), &1_i64])
            .await
            .map_err(store_error)?;
        let Some(head) = head.first() else {
            return Ok(());
        };
        let id: Uuid = head
            .try_get("id")
            .map_err(|e| StoreError::Unexpected(e.into()))?;
        let failures: Option<i32> = query_opt(&client, &COUNT_FAILURE, &[&id])
            .await
            .map_err(store_error)?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(|e| StoreError::Unexpected(e.into()))?;
        if failures.is_some_and(|failures| failures >= self.settings.max_failures) {
            query(&client, &DEAD_LETTER, &[&id, &DECIDED_CHANNEL])
                .await
                .map_err(store_error)?;
            metrics::counter!("recordshop_orders_dead_lettered_total").increment(1);
            tracing::error!(order_id = %id, %disc, error = format!("{cause:#}"), "order dead-lettered: its allocation kept failing");
            self.decisions.announce(Arc::from([id]));
        }
        Ok(())
    }

    /// One batch, in one transaction: up to `limit` pending orders of the
    /// next discs, disc after disc (at most [`DISCS_PER_BATCH`]), each
    /// disc's oldest first; or of `disc` alone. `Ok(None)` when there was
    /// nothing to decide; a failure names the disc it happened on, when one
    /// was taken.
    ///
    /// Why several discs: when demand is spread, each disc has a few orders
    /// waiting, and a transaction per disc paid a commit for each few
    /// orders; measured under `spread` (1,000 discs), the workers fell
    /// behind intake and the backlog took 14.9 s to drain.
    async fn allocate(
        &self,
        disc: Option<DiscId>,
        limit: usize,
    ) -> Result<Option<usize>, (Option<DiscId>, BatchFailure)> {
        let before_a_disc = |error: StoreError| (disc, BatchFailure::from(error));
        let mut client = connection(&self.pool).await.map_err(before_a_disc)?;
        let tx = begin(&mut client, IsolationLevel::ReadCommitted)
            .await
            .map_err(before_a_disc)?;
        let mut decided = Vec::new();
        let mut discs = 0;
        let mut last = disc;
        while discs < DISCS_PER_BATCH && decided.len() < limit.max(1) {
            // A failure to find the next disc names none: nothing of the
            // discs decided so far is suspect.
            let next = next_disc(&tx, disc).await.map_err(before_a_disc)?;
            let Some((shelf, decided_at)) = next else {
                break;
            };
            last = Some(shelf.disc.id);
            let left = limit.max(1) - decided.len();
            let mine = decide_batch(&tx, shelf, decided_at, left)
                .await
                .map_err(|error| (last, error))?;
            decided.extend(mine);
            discs += 1;
            if disc.is_some() {
                break;
            }
        }
        if discs == 0 {
            return Ok(None);
        }
        tx.commit()
            .await
            .map_err(|error| (last, store_error(error).into()))?;
        let count = decided.len();
        metrics::histogram!("recordshop_allocation_batch_size").record(count as f64);
        self.decisions.announce(decided.into());
        Ok(Some(count))
    }
}

/// A disc to allocate, as locked.
struct Shelf {
    disc: Disc,
    deleted: bool,
}

async fn next_disc(
    tx: &Transaction<'_>,
    disc: Option<DiscId>,
) -> Result<Option<(Shelf, DateTime<Utc>)>, StoreError> {
    let row = query_opt(
        tx,
        &NEXT_DISC,
        &[&disc.map(|disc| disc.as_uuid()), &QUEUE_HEAD],
    )
    .await
    .map_err(store_error)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let unexpected = |error: tokio_postgres::Error| StoreError::Unexpected(error.into());
    let deleted = row.try_get("deleted").map_err(unexpected)?;
    let decided_at = row.try_get("decided_at").map_err(unexpected)?;
    Ok(Some((
        Shelf {
            disc: rows::disc(&row)?,
            deleted,
        },
        decided_at,
    )))
}

/// Decides the disc's oldest pending orders in arrival order, each against
/// the stock the earlier ones left, and writes it all: the stock, every
/// status, and the announcement. Returns the decided ids.
async fn decide_batch(
    tx: &Transaction<'_>,
    shelf: Shelf,
    decided_at: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<Uuid>, BatchFailure> {
    let disc_id = shelf.disc.id;
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let pending = query(tx, &PENDING_ORDERS, &[&disc_id.as_uuid(), &limit])
        .await
        .map_err(store_error)?
        .iter()
        .map(|row| pending_order(row, disc_id))
        .collect::<Result<Vec<_>, _>>()?;
    let mut disc = shelf.disc;
    let stock_before = disc.quantity;
    let decisions: Vec<Decision> = pending
        .into_iter()
        .map(|pending| {
            let on_shelf = (!shelf.deleted).then_some(&disc);
            match pending.order.check(pending.customer.as_ref(), on_shelf) {
                Ok(left) => {
                    disc.quantity = left;
                    disc.updated_at = decided_at;
                    Decision {
                        id: pending.order.id,
                        status: OrderStatus::Confirmed,
                        reason: None,
                        disc_after: Some(disc.clone()),
                    }
                }
                Err(refusal) => Decision {
                    id: pending.order.id,
                    status: OrderStatus::Rejected,
                    reason: Some(
                        RejectionReason::of(&refusal).unwrap_or(RejectionReason::AllocationFailed),
                    ),
                    disc_after: None,
                },
            }
        })
        .collect();
    let ids: Vec<Uuid> = decisions.iter().map(|d| d.id.as_uuid()).collect();
    let statuses: Vec<&str> = decisions.iter().map(|d| d.status.as_str()).collect();
    let reasons: Vec<Option<&str>> = decisions
        .iter()
        .map(|d| d.reason.map(RejectionReason::as_str))
        .collect();
    let snapshots: Vec<Option<Json<StoredDisc>>> = decisions
        .iter()
        .map(|d| {
            d.disc_after
                .as_ref()
                .map(|disc| Json(StoredDisc::from(disc)))
        })
        .collect();
    let stock = disc.quantity.get();
    let sold = stock != stock_before.get();
    let announcements = payloads(&ids);
    // Sent together: one round trip for the writes of the batch.
    let set_stock = async {
        if sold {
            execute(tx, &SET_STOCK, &[&disc_id.as_uuid(), &stock, &decided_at])
                .await
                .map(|_| ())
        } else {
            Ok(())
        }
    };
    let decide_params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&ids, &statuses, &reasons, &snapshots];
    let decide = execute(tx, &DECIDE, &decide_params);
    let announce_params: Vec<[&(dyn tokio_postgres::types::ToSql + Sync); 2]> = announcements
        .iter()
        .map(|payload| {
            [
                &DECIDED_CHANNEL as &(dyn tokio_postgres::types::ToSql + Sync),
                payload,
            ]
        })
        .collect();
    let announce = futures_util::future::try_join_all(
        announce_params
            .iter()
            .map(|params| query(tx, &ANNOUNCE, params)),
    );
    let ((), written, _) = tokio::try_join!(set_stock, decide, announce).map_err(store_error)?;
    if written != ids.len() as u64 {
        return Err(BatchFailure::Unexpected(StoreError::Unexpected(anyhow!(
            "{} of {} pending orders of disc {disc_id} were decided",
            written,
            ids.len()
        ))));
    }
    Ok(ids)
}

fn pending_order(row: &tokio_postgres::Row, disc_id: DiscId) -> Result<Pending, StoreError> {
    let unexpected = |error: tokio_postgres::Error| StoreError::Unexpected(error.into());
    let quantity: i32 = row.try_get("quantity").map_err(unexpected)?;
    let customer: Option<Json<StoredCustomer>> = row.try_get("customer").map_err(unexpected)?;
    Ok(Pending {
        order: NewPurchaseOrder {
            id: PurchaseOrderId::from_uuid(row.try_get("id").map_err(unexpected)?),
            customer_id: CustomerId::from_uuid(row.try_get("customer_id").map_err(unexpected)?),
            disc_id,
            quantity: OrderQuantity::parse(i64::from(quantity))
                .map_err(|invalid| StoreError::Unexpected(anyhow!("stored quantity: {invalid}")))?,
        },
        customer: customer.map(rows::customer_from_json).transpose()?,
    })
}
