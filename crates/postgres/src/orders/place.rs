//! Placing an order: one unit of work that reads the customer and the disc
//! (one round trip, no lock), lets the domain decide, locks the disc when
//! the strategy does and lets the domain decide again, then writes the new
//! stock and the order together. A keyed purchase claims its key first and records
//! the order with it before committing (see `crate::idempotency`).

use anyhow::anyhow;
use chrono::{DateTime, Utc};
use deadpool_postgres::{GenericClient, Object};
use recordshop_domain::StoreError;
use recordshop_domain::customer::Customer;
use recordshop_domain::disc::{Disc, DiscId};
use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};
use recordshop_domain::order::{NewPurchaseOrder, OrderStatus, PlaceOrderError, PurchaseOrder};
use tokio_postgres::types::Json;

use crate::ConcurrencyStrategy;
use crate::error::store_error;
use crate::idempotency::{Claim, IdempotencySettings, PURCHASE_ORDERS, claim, record};
use crate::rows::{self, StoredCustomer, StoredDisc};
use crate::sql::{Statement, begin, query_opt};

/// `now()` is the transaction's start time, so it is also the `updated_at`
/// the sale will write: reading it here lets the disc snapshot be complete
/// before the write.
const LOCK_DISC: Statement = Statement::new(
    "lock_disc",
    "
    SELECT id, name, artist, year_of_release, genre, quantity, created_at, updated_at,
           now() AS sold_at
    FROM discs
    WHERE id = $1 AND deleted_at IS NULL
    FOR UPDATE",
);
/// As [`LOCK_DISC`], but `FOR NO KEY UPDATE`, which is all a stock write
/// needs and, unlike `FOR UPDATE`, does not block the `KEY SHARE` lock an
/// order's foreign key takes: the hybrid strategy's synchronous path, so
/// that the queued intake of the same disc never waits for its batch (and
/// the batch, which may wait for the intake's advisory lock when it queues
/// behind a backlog, cannot deadlock with it).
const LOCK_DISC_FOR_STOCK: Statement = Statement::new(
    "lock_disc_for_stock",
    "
    SELECT id, name, artist, year_of_release, genre, quantity, created_at, updated_at,
           now() AS sold_at
    FROM discs
    WHERE id = $1 AND deleted_at IS NULL
    FOR NO KEY UPDATE",
);
const READ_DISC: Statement = Statement::new(
    "read_disc",
    "
    SELECT id, name, artist, year_of_release, genre, quantity, created_at, updated_at,
           now() AS sold_at
    FROM discs
    WHERE id = $1 AND deleted_at IS NULL",
);

/// The buyer and the disc as committed right now, in one round trip and
/// without a lock: enough to refuse a purchase (no such customer, inactive,
/// no such disc, too little stock), which is then a correct answer at that
/// instant and never waits for the disc's row lock, and for `optimistic`
/// the disc the sale is made from. Always one row; a column is NULL when
/// its entity does not exist.
const LOOK: Statement = Statement::new(
    "look_at_buyer_and_disc",
    "
    SELECT
        (SELECT to_jsonb(c) FROM (
            SELECT id, document, name, birth_date, email, phone, is_active, created_at, updated_at
            FROM customers WHERE id = $1) c) AS customer,
        (SELECT to_jsonb(d) FROM (
            SELECT id, name, artist, year_of_release, genre, quantity, created_at, updated_at
            FROM discs WHERE id = $2 AND deleted_at IS NULL) d) AS disc,
        now() AS sold_at",
);

/// The stock decrement and the order in one statement: one round trip while
/// the disc row is locked (pessimistic) or exposed to a concurrent writer
/// (optimistic, where the UPDATE then fails with a serialization error).
const RECORD_SALE: Statement = Statement::new(
    "record_sale",
    "
    WITH sold AS (
        UPDATE discs SET quantity = $2, updated_at = now()
        WHERE id = $1
        RETURNING id
    )
    INSERT INTO purchase_orders
        (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot)
    SELECT $3::uuid, $4::uuid, sold.id, $5::integer, 'confirmed', $6::jsonb, $7::jsonb
    FROM sold
    RETURNING created_at",
);

/// What a purchase runs, prepared on every connection before the server
/// says it is ready (see `crate::health`).
pub(super) const HOT: &[Statement] =
    &[LOOK, LOCK_DISC, LOCK_DISC_FOR_STOCK, READ_DISC, RECORD_SALE];

/// The disc as the sale finds it, and the time the sale will bear.
pub(super) struct DiscOnSale {
    pub(super) disc: Disc,
    pub(super) sold_at: DateTime<Utc>,
}

/// The disc `id` as the sale finds it: locked (`SELECT … FOR UPDATE`; `FOR
/// NO KEY UPDATE` under `hybrid`) unless the strategy is optimistic. `None`
/// when unknown or deleted.
pub(super) async fn read_disc(
    client: &impl GenericClient,
    strategy: ConcurrencyStrategy,
    id: DiscId,
) -> Result<Option<DiscOnSale>, StoreError> {
    let sql = match strategy {
        ConcurrencyStrategy::Hybrid => LOCK_DISC_FOR_STOCK,
        _ if strategy.locks_rows() => LOCK_DISC,
        _ => READ_DISC,
    };
    let started = std::time::Instant::now();
    let row = query_opt(client, &sql, &[&id.as_uuid()]).await;
    if strategy.locks_rows() {
        // Mostly the wait for the row lock (a wait cut by the statement
        // timeout included): the read itself is an index lookup.
        metrics::histogram!("recordshop_lock_wait_seconds", "strategy" => strategy.as_str())
            .record(started.elapsed());
    }
    let Some(row) = row.map_err(store_error)? else {
        return Ok(None);
    };
    let sold_at = row
        .try_get("sold_at")
        .map_err(|e| StoreError::Unexpected(e.into()))?;
    Ok(Some(DiscOnSale {
        disc: rows::disc(&row)?,
        sold_at,
    }))
}

/// Writes the sale; returns the order's creation time.
async fn record_sale(
    client: &impl GenericClient,
    order: &NewPurchaseOrder,
    customer: &Customer,
    disc_after: &Disc,
) -> Result<DateTime<Utc>, StoreError> {
    let row = query_opt(
        client,
        &RECORD_SALE,
        &[
            &order.disc_id.as_uuid(),
            &disc_after.quantity.get(),
            &order.id.as_uuid(),
            &order.customer_id.as_uuid(),
            &order.quantity.get(),
            &Json(StoredCustomer::from(customer)),
            &Json(StoredDisc::from(disc_after)),
        ],
    )
    .await
    .map_err(store_error)?;
    let row = row.ok_or_else(|| {
        StoreError::Unexpected(anyhow!("the sold disc {} vanished", order.disc_id))
    })?;
    row.try_get("created_at")
        .map_err(|e| StoreError::Unexpected(e.into()))
}

/// Places `order` in a transaction of its own; with `once`, at most once
/// per key. Without a key it costs no more round trips than it always did.
pub(super) async fn place(
    client: &mut Object,
    strategy: ConcurrencyStrategy,
    order: &NewPurchaseOrder,
    once: Option<&IdempotentCreate>,
    settings: IdempotencySettings,
) -> Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>> {
    let tx = begin(client, strategy.isolation_level()).await?;
    if let Some(once) = once {
        // Before the disc row is locked: keyed purchases all lock key, then
        // disc. Returning drops the transaction, which rolls it back.
        if let Claim::Taken(recorded) = claim(&tx, &PURCHASE_ORDERS, once, settings).await? {
            return recorded.answer(once, rows::order);
        }
    }
    let placed = sell(&tx, strategy, order).await?;
    if let Some(once) = once {
        record(&tx, &PURCHASE_ORDERS, once, order.id.as_uuid()).await?;
    }
    tx.commit().await.map_err(store_error)?;
    Ok(Created::New(placed))
}

/// The sale itself, inside the caller's transaction.
async fn sell(
    tx: &impl GenericClient,
    strategy: ConcurrencyStrategy,
    order: &NewPurchaseOrder,
) -> Result<PurchaseOrder, PlaceOrderError> {
    let (customer, seen) = look(tx, order).await?;
    // A refusal needs no lock: what was just read is what this purchase
    // found. Past this point the disc had enough stock a moment ago.
    order.check(customer.as_ref(), seen.as_ref().map(|seen| &seen.disc))?;
    let on_sale = if strategy.locks_rows() {
        read_disc(tx, strategy, order.disc_id).await?
    } else {
        seen
    };
    let left = order.check(
        customer.as_ref(),
        on_sale.as_ref().map(|on_sale| &on_sale.disc),
    )?;
    let (Some(customer), Some(DiscOnSale { disc, sold_at })) = (customer, on_sale) else {
        return Err(StoreError::Unexpected(anyhow!(
            "the order passed its check without a customer or a disc"
        ))
        .into());
    };
    let disc_after = Disc {
        quantity: left,
        updated_at: sold_at,
        ..disc
    };
    let created_at = record_sale(tx, order, &customer, &disc_after).await?;
    Ok(PurchaseOrder {
        id: order.id,
        customer_id: order.customer_id,
        disc_id: order.disc_id,
        quantity: order.quantity,
        status: OrderStatus::Confirmed,
        rejection_reason: None,
        created_at,
        decided_at: Some(created_at),
        canceled_at: None,
        customer,
        disc: disc_after,
    })
}

/// The buyer and the disc, unlocked ([`LOOK`]).
async fn look(
    tx: &impl GenericClient,
    order: &NewPurchaseOrder,
) -> Result<(Option<Customer>, Option<DiscOnSale>), StoreError> {
    let row = query_opt(
        tx,
        &LOOK,
        &[&order.customer_id.as_uuid(), &order.disc_id.as_uuid()],
    )
    .await
    .map_err(store_error)?
    .ok_or_else(|| StoreError::Unexpected(anyhow!("{} returned no row", LOOK.name)))?;
    let unexpected = |error: tokio_postgres::Error| StoreError::Unexpected(error.into());
    let customer: Option<Json<StoredCustomer>> = row.try_get("customer").map_err(unexpected)?;
    let disc: Option<Json<StoredDisc>> = row.try_get("disc").map_err(unexpected)?;
    let sold_at = row.try_get("sold_at").map_err(unexpected)?;
    let customer = customer.map(rows::customer_from_json).transpose()?;
    let disc = disc
        .map(rows::disc_from_json)
        .transpose()?
        .map(|disc| DiscOnSale { disc, sold_at });
    Ok((customer, disc))
}
