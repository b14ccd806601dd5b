//! Cancelling an order: one unit of work that marks it canceled and returns
//! its units to the disc's stock.
//!
//! Every strategy but the optimistic one locks the order row first (READ
//! COMMITTED): cancellations are rare next to purchases, so the atomic and
//! batched strategies keep this simple, proven shape; the disc row is then
//! updated under its own lock, the same lock their purchases queue on.

use deadpool_postgres::Object;
use recordshop_domain::StoreError;
use recordshop_domain::order::{OrderStatus, PurchaseOrder, PurchaseOrderId};

use crate::ConcurrencyStrategy;
use crate::error::store_error;
use crate::rows;
use crate::sql::{Statement, begin, execute, query_opt};

const LOCK_ORDER: Statement = Statement::new(
    "lock_order",
    "
    SELECT id, customer_id, disc_id, quantity, status, rejection_reason, created_at, decided_at, canceled_at,
           customer_snapshot, disc_snapshot
    FROM purchase_orders
    WHERE id = $1
    FOR UPDATE",
);
const READ_ORDER: Statement = Statement::new(
    "read_order",
    "
    SELECT id, customer_id, disc_id, quantity, status, rejection_reason, created_at, decided_at, canceled_at,
           customer_snapshot, disc_snapshot
    FROM purchase_orders
    WHERE id = $1",
);

/// The status guard is redundant under either strategy (the row is locked,
/// or a concurrent change fails the update); it keeps a bug from restocking
/// twice.
const MARK_CANCELED: Statement = Statement::new(
    "mark_canceled",
    "
    UPDATE purchase_orders SET status = 'canceled', canceled_at = now()
    WHERE id = $1 AND status = 'confirmed'
    RETURNING canceled_at",
);

/// Deleted discs are restocked too: the units exist, and the disc may be
/// listed again by hand.
const RESTOCK: Statement = Statement::new(
    "restock",
    "
    UPDATE discs SET quantity = quantity + $2, updated_at = now()
    WHERE id = $1",
);

pub(super) async fn cancel(
    client: &mut Object,
    strategy: ConcurrencyStrategy,
    id: PurchaseOrderId,
) -> Result<Option<PurchaseOrder>, StoreError> {
    let tx = begin(client, strategy.isolation_level()).await?;
    let read = if strategy.locks_rows() {
        LOCK_ORDER
    } else {
        READ_ORDER
    };
    let Some(row) = query_opt(&tx, &read, &[&id.as_uuid()])
        .await
        .map_err(store_error)?
    else {
        return Ok(None);
    };
    let mut order = rows::order(&row)?;
    // Canceled already, or never confirmed (pending, rejected): nothing to
    // return to the stock; the domain decides what that answers.
    if order.status != OrderStatus::Confirmed {
        return Ok(Some(order));
    }
    let canceled = query_opt(&tx, &MARK_CANCELED, &[&id.as_uuid()])
        .await
        .map_err(store_error)?;
    let canceled = canceled.ok_or_else(|| {
        StoreError::Unexpected(anyhow::anyhow!("order {id} was no longer confirmed"))
    })?;
    let units = i64::from(order.quantity.get());
    let restocked = execute(&tx, &RESTOCK, &[&order.disc_id.as_uuid(), &units])
        .await
        .map_err(store_error)?;
    if restocked != 1 {
        return Err(StoreError::Unexpected(anyhow::anyhow!(
            "disc {} of order {id} is missing",
            order.disc_id
        )));
    }
    tx.commit().await.map_err(store_error)?;
    order.status = OrderStatus::Canceled;
    order.canceled_at = canceled
        .try_get("canceled_at")
        .map_err(|e| StoreError::Unexpected(e.into()))?;
    Ok(Some(order))
}
