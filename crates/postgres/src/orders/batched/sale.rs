//! One batch of purchases of one disc: one customers read, then one READ
//! COMMITTED transaction with one row lock, one multi-row insert and one
//! stock update, one commit, and an answer per purchase. Keyed purchases
//! add one statement claiming their keys before the lock and one recording
//! the keyed sales (see [`super::keys`]); a batch without keys runs as if
//! keys did not exist.

use std::collections::HashMap;

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Object, Pool};
use recordshop_domain::StoreError;
use recordshop_domain::customer::{Customer, CustomerId};
use recordshop_domain::disc::{Disc, DiscId};
use recordshop_domain::idempotency::{Created, IdempotentError};
use recordshop_domain::order::{NewPurchaseOrder, OrderStatus, PlaceOrderError, PurchaseOrder};
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::Json;
use tracing::Instrument;
use uuid::Uuid;

use super::failure::fail_all;
use super::keys::{self, KeyRole};
use super::purchase::{Outcome, Purchase, still_awaited};
use super::queue::Runner;
use crate::ConcurrencyStrategy;
use crate::error::store_error;
use crate::orders::place::read_disc;
use crate::rows::{self, StoredCustomer, StoredDisc};
use crate::sql::{Statement, begin, connection, query};

const SELECT_CUSTOMERS: Statement = Statement::new(
    "select_customers",
    "
    SELECT id, document, name, birth_date, email, phone, is_active, created_at, updated_at
    FROM customers
    WHERE id = ANY($1)",
);

/// The new stock and every order of the batch in one statement (one round
/// trip), under the row lock taken by `read_disc`. `now()` is the
/// transaction's start, read with the lock as `sold_at`: it is the disc
/// snapshots' `updated_at` and every order's `created_at`.
const RECORD_SALES: Statement = Statement::new(
    "record_sales",
    "
    WITH sold AS (
        UPDATE discs SET quantity = $2, updated_at = now()
        WHERE id = $1
        RETURNING id
    )
    INSERT INTO purchase_orders
        (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot)
    SELECT o.id, o.customer_id, sold.id, o.quantity, 'confirmed',
           o.customer_snapshot, o.disc_snapshot
    FROM sold,
         UNNEST($3::uuid[], $4::uuid[], $5::integer[], $6::jsonb[], $7::jsonb[])
             AS o (id, customer_id, quantity, customer_snapshot, disc_snapshot)
    RETURNING id, created_at",
);

/// Whether `$1` has orders waiting for the allocation workers; asked under
/// the disc's row lock by a batch that defers to them (the hybrid
/// strategy). The partial index of pending orders answers it.
const HAS_BACKLOG: Statement = Statement::new(
    "disc_has_backlog",
    "
    SELECT EXISTS (SELECT FROM purchase_orders WHERE disc_id = $1 AND status = 'pending')",
);

/// The orders of a batch that queues behind its disc's backlog, pending,
/// in the batch's order (`arrival` is assigned as the rows are inserted),
/// under the disc's intake lock as every intake (see `orders/queued`), so
/// that arrival order is commit order.
const RECORD_PENDING: Statement = Statement::new(
    "record_pending",
    "
    WITH intake_lock AS (
        SELECT pg_advisory_xact_lock(1919116371, hashtext($1::uuid::text))
    )
    INSERT INTO purchase_orders
        (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot, decided_at)
    SELECT o.id, o.customer_id, $1, o.quantity, 'pending', o.customer_snapshot, o.disc_snapshot,
           NULL
    FROM UNNEST($2::uuid[], $3::uuid[], $4::integer[], $5::jsonb[], $6::jsonb[])
             WITH ORDINALITY AS o (id, customer_id, quantity, customer_snapshot, disc_snapshot, turn)
    CROSS JOIN intake_lock
    ORDER BY o.turn
    RETURNING id, created_at",
);

/// What a batch runs, prepared on every connection before the server says
/// it is ready (see `crate::health`).
pub(in crate::orders) const HOT: &[Statement] =
    &[SELECT_CUSTOMERS, RECORD_SALES, HAS_BACKLOG, RECORD_PENDING];

/// A purchase of the batch (by index) whose customer may buy, with the
/// customer as read.
struct Buyer<'a> {
    index: usize,
    order: &'a NewPurchaseOrder,
    customer: &'a Customer,
}

/// What a batch does with its disc's pending orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backlog {
    /// Ignores them: only the queued and hybrid strategies create pending
    /// orders, so a batched server never finds any of its own.
    Ignore,
    /// Queues the whole batch behind them (pending, for the allocation
    /// workers), so that no purchase decided now takes a unit an earlier
    /// pending order of the disc may still get: the hybrid strategy, whose
    /// open breaker leaves pending orders behind.
    Defer,
}

/// Runs batches on connections of `pool`.
pub(super) struct Sale {
    pool: Pool,
    backlog: Backlog,
}

impl Sale {
    pub(super) fn new(pool: Pool, backlog: Backlog) -> Self {
        Self { pool, backlog }
    }
}

impl Runner for Sale {
    type Key = DiscId;
    type Item = Purchase;

    async fn run(&self, disc_id: DiscId, batch: Vec<Purchase>) {
        let batch = still_awaited(batch);
        if batch.is_empty() {
            return;
        }
        metrics::histogram!("recordshop_batch_size").record(batch.len() as f64);
        for purchase in &batch {
            metrics::histogram!("recordshop_batch_queue_seconds")
                .record(purchase.queued_at.elapsed());
        }
        // A batch starts work of its own for many callers: an entry point
        // of traces (`trace.entry`, see `recordshop_http::telemetry::sampling`) that
        // follows from each caller's span.
        let span = tracing::info_span!(
            "batch",
            trace.entry = tracing::field::Empty,
            otel.kind = "consumer",
            %disc_id,
            size = batch.len(),
            confirmed = tracing::field::Empty,
            refused = tracing::field::Empty,
        );
        for purchase in &batch {
            span.follows_from(&purchase.caller);
        }
        self.run_batch(disc_id, batch).instrument(span).await;
    }
}

impl Sale {
    async fn run_batch(&self, disc_id: DiscId, batch: Vec<Purchase>) {
        let mut client = match connection(&self.pool).await {
            Ok(client) => client,
            Err(error) => return fail_all(batch, error),
        };
        let customers = match read_customers(&client, &batch).await {
            Ok(customers) => customers,
            Err(error) => return fail_all(batch, error),
        };
        let batch = refuse_early(batch, &customers);
        if batch.is_empty() {
            return;
        }
        match sell(&mut client, disc_id, &batch, &customers, self.backlog).await {
            Ok(answers) => {
                let confirmed = answers
                    .iter()
                    .filter(|answer| matches!(answer, Ok(Created::New(_))))
                    .count();
                let span = tracing::Span::current();
                span.record("confirmed", confirmed);
                span.record(
                    "refused",
                    answers.iter().filter(|answer| answer.is_err()).count(),
                );
                tracing::debug!(%disc_id, size = batch.len(), "batch decided");
                for (purchase, answer) in batch.into_iter().zip(answers) {
                    purchase.answer(answer);
                }
            }
            Err(error) => fail_all(batch, error),
        }
    }
}

/// Every customer of the batch, in one query.
pub(super) async fn read_customers(
    client: &impl GenericClient,
    batch: &[Purchase],
) -> Result<HashMap<CustomerId, Customer>, StoreError> {
    let mut ids: Vec<Uuid> = batch
        .iter()
        .map(|p| p.order.customer_id.as_uuid())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = query(client, &SELECT_CUSTOMERS, &[&ids])
        .await
        .map_err(store_error)?;
    rows.iter()
        .map(|row| rows::customer(row).map(|customer| (customer.id, customer)))
        .collect()
}

/// Answers, before the lock, the purchases without a key whose customer
/// may not buy; a request's own rule violation fails only that request.
/// Keyed purchases stay, whatever their customer: their key may hold an
/// earlier answer, which only their claim can tell.
fn refuse_early(batch: Vec<Purchase>, customers: &HashMap<CustomerId, Customer>) -> Vec<Purchase> {
    let mut kept = Vec::with_capacity(batch.len());
    for purchase in batch {
        match (&purchase.key, admission(&purchase.order, customers)) {
            (None, Err(refused)) => purchase.answer(Err(refused.into())),
            _ => kept.push(purchase),
        }
    }
    kept
}

/// The customer of `order` when they may buy.
///
/// Given no disc, [`NewPurchaseOrder::check`] reports the customer's
/// violations first and `DiscNotFound` only when the customer may buy, so
/// the domain's precedence holds without restating its rules.
fn admission<'a>(
    order: &NewPurchaseOrder,
    customers: &'a HashMap<CustomerId, Customer>,
) -> Result<&'a Customer, PlaceOrderError> {
    let customer = customers.get(&order.customer_id);
    match (order.check(customer, None), customer) {
        (Err(PlaceOrderError::DiscNotFound(_)), Some(customer)) => Ok(customer),
        (Err(refused), _) => Err(refused),
        (Ok(_), _) => Err(StoreError::Unexpected(anyhow!(
            "a purchase passed its check without a disc"
        ))
        .into()),
    }
}

/// Allocates the locked stock to `buyers` in arrival order, **first fit**:
/// each purchase is judged by [`NewPurchaseOrder::check`] against the stock
/// the earlier purchases of the batch left. One that no longer fits is
/// refused (`out_of_stock`, with the units left at its turn) and the next
/// ones are still judged, so a smaller later purchase may still be sold.
///
/// Why first fit: every purchase gets exactly the answer it would get if
/// the batch were placed one purchase at a time in arrival order, as the
/// other strategies do, so batching changes throughput and never outcomes.
/// Stopping at the first misfit would refuse later purchases while the
/// units they asked for are still on the shelf (a 409 no serial execution
/// would give); reordering (smallest first, best fit) would sell more units
/// per batch but let later arrivals overtake earlier ones. Under first fit
/// a refusal always means the stock at its turn, and hence the stock ever
/// after within the batch, was below what it asked.
///
/// Returns, per buyer, the disc snapshot right after its sale, or why not.
fn allocate(
    disc: Option<&Disc>,
    sold_at: DateTime<Utc>,
    buyers: &[Buyer<'_>],
) -> Vec<Result<PurchaseOrder, PlaceOrderError>> {
    let mut shelf = disc.map(|disc| Disc {
        updated_at: sold_at,
        ..disc.clone()
    });
    buyers
        .iter()
        .map(|buyer| {
            let order = buyer.order;
            let left = order.check(Some(buyer.customer), shelf.as_ref())?;
            let Some(shelf) = shelf.as_mut() else {
                return Err(StoreError::Unexpected(anyhow!("a sale passed without a disc")).into());
            };
            shelf.quantity = left;
            Ok(PurchaseOrder {
                id: order.id,
                customer_id: order.customer_id,
                disc_id: order.disc_id,
                quantity: order.quantity,
                status: OrderStatus::Confirmed,
                rejection_reason: None,
                created_at: sold_at,
                decided_at: Some(sold_at),
                canceled_at: None,
                customer: buyer.customer.clone(),
                disc: shelf.clone(),
            })
        })
        .collect()
}

/// The batch's transaction; `Err` only when it failed as a whole. Returns
/// an answer per purchase of `batch`, in order.
async fn sell(
    client: &mut Object,
    disc_id: DiscId,
    batch: &[Purchase],
    customers: &HashMap<CustomerId, Customer>,
    backlog: Backlog,
) -> Result<Vec<Outcome>, StoreError> {
    let roles = keys::roles(batch);
    let tx = begin(client, IsolationLevel::ReadCommitted).await?;
    let taken = keys::claim(&tx, batch, &roles).await?;
    let mut answers: Vec<Option<Outcome>> = batch.iter().map(|_| None).collect();
    let mut buyers = Vec::with_capacity(batch.len());
    // Candidates whose claim must not outlive the batch.
    let mut refused_keys = Vec::new();
    for (index, purchase) in batch.iter().enumerate() {
        let role = roles.get(index).copied().unwrap_or(KeyRole::Unkeyed);
        if let KeyRole::Follower(_) = role {
            continue;
        }
        if let (Some(recorded), Some(keyed)) = (taken.get(&index), &purchase.key) {
            answers[index] = Some(recorded.answer(&keyed.once, rows::order));
            continue;
        }
        match admission(&purchase.order, customers) {
            Ok(customer) => buyers.push(Buyer {
                index,
                order: &purchase.order,
                customer,
            }),
            Err(refused) => {
                if role == KeyRole::Candidate {
                    refused_keys.push(index);
                }
                answers[index] = Some(Err(refused.into()));
            }
        }
    }
    if buyers.is_empty() {
        // Nothing written but claims, which this rolls back.
        drop(tx);
    } else {
        let sold = sell_to(&tx, disc_id, &buyers, backlog).await?;
        let mut keyed_sales: Vec<(usize, Uuid)> = Vec::new();
        for (buyer, sale) in buyers.iter().zip(&sold) {
            if roles.get(buyer.index) != Some(&KeyRole::Candidate) {
                continue;
            }
            match sale {
                Ok(order) => keyed_sales.push((buyer.index, order.id.as_uuid())),
                Err(_) => refused_keys.push(buyer.index),
            }
        }
        keys::record(&tx, batch, &keyed_sales).await?;
        keys::release(&tx, batch, &refused_keys).await?;
        // Also when nothing sold: the refusals were decided under the lock.
        tx.commit().await.map_err(store_error)?;
        for (buyer, sale) in buyers.iter().zip(sold) {
            answers[buyer.index] = Some(sale.map(Created::New).map_err(IdempotentError::Create));
        }
    }
    // Followers last: they take their candidate's outcome.
    for (index, purchase) in batch.iter().enumerate() {
        if let (Some(KeyRole::Follower(candidate)), Some(follower)) =
            (roles.get(index), &purchase.key)
        {
            let leader = batch.get(*candidate).and_then(|c| c.key.as_ref());
            answers[index] = leader.map(|leader| {
                keys::follow(
                    follower,
                    leader,
                    taken.get(candidate),
                    answers.get(*candidate).and_then(Option::as_ref),
                )
            });
        }
    }
    Ok(answers
        .into_iter()
        .map(|answer| {
            answer.unwrap_or_else(|| {
                Err(
                    StoreError::Unexpected(anyhow!("a purchase of the batch was left unanswered"))
                        .into(),
                )
            })
        })
        .collect())
}

/// Locks the disc, allocates its stock to `buyers`, and writes the sales;
/// returns, per buyer, its order as stored or why it was refused. When
/// `backlog` says to defer and the disc has pending orders, the buyers
/// join them instead ([`queue_behind`]).
async fn sell_to(
    tx: &impl GenericClient,
    disc_id: DiscId,
    buyers: &[Buyer<'_>],
    backlog: Backlog,
) -> Result<Vec<Result<PurchaseOrder, PlaceOrderError>>, StoreError> {
    // The hybrid's batches lock the disc without blocking its intake.
    let strategy = match backlog {
        Backlog::Ignore => ConcurrencyStrategy::Batched,
        Backlog::Defer => ConcurrencyStrategy::Hybrid,
    };
    let on_sale = read_disc(tx, strategy, disc_id).await?;
    if let (Backlog::Defer, Some(on_sale)) = (backlog, &on_sale)
        && has_backlog(tx, disc_id).await?
    {
        return queue_behind(tx, &on_sale.disc, buyers).await;
    }
    let sold_at = on_sale.as_ref().map_or_else(Utc::now, |on| on.sold_at);
    let mut sales = allocate(on_sale.as_ref().map(|on| &on.disc), sold_at, buyers);
    let sold: Vec<&PurchaseOrder> = sales.iter().filter_map(|a| a.as_ref().ok()).collect();
    if let Some(last) = sold.last() {
        let stock_left = last.disc.quantity.get();
        let created = insert_orders(
            tx,
            &RECORD_SALES,
            &[&disc_id.as_uuid(), &stock_left],
            &sold,
            disc_id,
        )
        .await?;
        stamp_created(&mut sales, &created)?;
    }
    Ok(sales)
}

async fn has_backlog(tx: &impl GenericClient, disc_id: DiscId) -> Result<bool, StoreError> {
    let rows = query(tx, &HAS_BACKLOG, &[&disc_id.as_uuid()])
        .await
        .map_err(store_error)?;
    rows.first()
        .map_or(Ok(false), |row| row.try_get(0))
        .map_err(|e| StoreError::Unexpected(e.into()))
}

/// Records `buyers` pending behind the disc's backlog, as the queued
/// intake would: each is refused now only if the stock is already short
/// of what it asks (the disc as the batch found it), and the allocation
/// workers decide the rest in arrival order.
async fn queue_behind(
    tx: &impl GenericClient,
    disc: &Disc,
    buyers: &[Buyer<'_>],
) -> Result<Vec<Result<PurchaseOrder, PlaceOrderError>>, StoreError> {
    let mut waiting: Vec<Result<PurchaseOrder, PlaceOrderError>> = buyers
        .iter()
        .map(|buyer| {
            let order = buyer.order;
            order.check(Some(buyer.customer), Some(disc))?;
            Ok(PurchaseOrder {
                id: order.id,
                customer_id: order.customer_id,
                disc_id: order.disc_id,
                quantity: order.quantity,
                status: OrderStatus::Pending,
                rejection_reason: None,
                created_at: disc.updated_at,
                decided_at: None,
                canceled_at: None,
                customer: buyer.customer.clone(),
                disc: disc.clone(),
            })
        })
        .collect();
    let pending: Vec<&PurchaseOrder> = waiting.iter().filter_map(|a| a.as_ref().ok()).collect();
    if pending.is_empty() {
        return Ok(waiting);
    }
    let created = insert_orders(
        tx,
        &RECORD_PENDING,
        &[&disc.id.as_uuid()],
        &pending,
        disc.id,
    )
    .await?;
    stamp_created(&mut waiting, &created)?;
    Ok(waiting)
}

/// Runs `statement` (`RECORD_SALES`, `RECORD_PENDING`) with `leading`
/// parameters, then the columns of `orders` as arrays: ids, customer ids,
/// units, customer snapshots, disc snapshots. Returns each order's
/// `created_at`.
async fn insert_orders(
    client: &impl GenericClient,
    statement: &Statement,
    leading: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    orders: &[&PurchaseOrder],
    disc_id: DiscId,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    let ids: Vec<Uuid> = orders.iter().map(|o| o.id.as_uuid()).collect();
    let customer_ids: Vec<Uuid> = orders.iter().map(|o| o.customer_id.as_uuid()).collect();
    let quantities: Vec<i32> = orders.iter().map(|o| o.quantity.get()).collect();
    let customers: Vec<_> = orders
        .iter()
        .map(|o| Json(StoredCustomer::from(&o.customer)))
        .collect();
    let discs: Vec<_> = orders
        .iter()
        .map(|o| Json(StoredDisc::from(&o.disc)))
        .collect();
    let mut params = leading.to_vec();
    params.extend([
        &ids as &(dyn tokio_postgres::types::ToSql + Sync),
        &customer_ids,
        &quantities,
        &customers,
        &discs,
    ]);
    let rows = query(client, statement, &params)
        .await
        .map_err(store_error)?;
    created_at_by_id(&rows, orders.len(), disc_id)
}

/// Gives each stored order of `answers` the `created_at` the database gave
/// it.
fn stamp_created(
    answers: &mut [Result<PurchaseOrder, PlaceOrderError>],
    created: &HashMap<Uuid, DateTime<Utc>>,
) -> Result<(), StoreError> {
    for order in answers.iter_mut().filter_map(|a| a.as_mut().ok()) {
        order.created_at = *created.get(&order.id.as_uuid()).ok_or_else(|| {
            StoreError::Unexpected(anyhow!("order {} of the batch was not stored", order.id))
        })?;
    }
    Ok(())
}

/// The `id, created_at` rows of a batch's insert of `expected` orders.
fn created_at_by_id(
    rows: &[tokio_postgres::Row],
    expected: usize,
    disc_id: DiscId,
) -> Result<HashMap<Uuid, DateTime<Utc>>, StoreError> {
    if rows.len() != expected {
        return Err(StoreError::Unexpected(anyhow!(
            "the batch stored {} of {expected} orders for disc {disc_id}",
            rows.len(),
        )));
    }
    rows.iter()
        .map(|row| {
            let id = row
                .try_get("id")
                .map_err(|e| StoreError::Unexpected(e.into()))?;
            let created_at = row
                .try_get("created_at")
                .map_err(|e| StoreError::Unexpected(e.into()))?;
            Ok((id, created_at))
        })
        .collect()
}
