//! The atomic strategy's purchase: one statement in READ COMMITTED, sent in
//! autocommit, with no explicit transaction around it.
//!
//! The statement checks the customer, decrements the stock only if enough
//! is left (`… WHERE quantity >= $n`), and inserts the order with both
//! snapshots built in SQL. There is no read-modify-write window: a
//! concurrent purchase of the same disc waits on the row lock the UPDATE
//! takes, and PostgreSQL then re-evaluates `quantity >= $n` against the
//! row's latest committed version before writing. Stock can therefore never
//! go negative, and a purchase never fails with a constraint error or a
//! serialization failure; it either sells or matches no row.
//!
//! When it matches no row, one follow-up read (the customer and the disc,
//! pipelined on the connection) lets [`NewPurchaseOrder::check`] name the
//! reason, so the errors and their precedence are the domain's, exactly as
//! for the other strategies.
//!
//! A keyed purchase cannot be one autocommit statement: the key's claim
//! must commit with the sale or not at all. It runs claim, the same
//! statement and the record in one READ COMMITTED transaction; purchases
//! without a key keep the single round trip.

use deadpool_postgres::{GenericClient, Object};
use recordshop_domain::StoreError;
use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};
use recordshop_domain::order::{NewPurchaseOrder, PlaceOrderError, PurchaseOrder};
use tokio_postgres::IsolationLevel;

use crate::customers::find_customer;
use crate::discs::find_disc;
use crate::error::store_error;
use crate::idempotency::{Claim, IdempotencySettings, PURCHASE_ORDERS, claim, record};
use crate::rows;
use crate::sql::{Statement, begin, query_opt};

/// `$1` order id, `$2` customer id, `$3` disc id, `$4` units.
///
/// The snapshots have the keys and formats of `rows::StoredCustomer` and
/// `rows::StoredDisc`, which decode every order whatever strategy placed
/// it: uuids and text as strings, the birth date as `YYYY-MM-DD`, numbers
/// as numbers, and timestamps as RFC 3339 in UTC with microseconds (what
/// PostgreSQL stores), written with `to_char` so the session's `TimeZone`
/// cannot change them.
///
/// `now()` is the statement's transaction start, so the order's
/// `created_at` and the disc snapshot's `updated_at` are the same instant,
/// as with the other strategies. The order is returned with the columns
/// `rows::order` reads, so a placed order and the same order read back
/// later are decoded by the same code.
const PLACE_ATOMICALLY: Statement = Statement::new(
    "place_atomically",
    r#"
    WITH buyer AS (
        SELECT id, document, name, birth_date, email, phone, is_active, created_at, updated_at
        FROM customers
        WHERE id = $2 AND is_active
    ),
    sold AS (
        UPDATE discs SET quantity = quantity - $4::integer, updated_at = now()
        WHERE id = $3 AND deleted_at IS NULL AND quantity >= $4::integer
          AND EXISTS (SELECT FROM buyer)
        RETURNING id, name, artist, year_of_release, genre, quantity, created_at, updated_at
    )
    INSERT INTO purchase_orders
        (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot)
    SELECT $1, buyer.id, sold.id, $4::integer, 'confirmed',
           jsonb_build_object(
               'id', buyer.id,
               'document', buyer.document,
               'name', buyer.name,
               'birth_date', to_char(buyer.birth_date, 'YYYY-MM-DD'),
               'email', buyer.email,
               'phone', buyer.phone,
               'is_active', buyer.is_active,
               'created_at', to_char(buyer.created_at AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'updated_at', to_char(buyer.updated_at AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
           jsonb_build_object(
               'id', sold.id,
               'name', sold.name,
               'artist', sold.artist,
               'year_of_release', sold.year_of_release,
               'genre', sold.genre,
               'quantity', sold.quantity,
               'created_at', to_char(sold.created_at AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'updated_at', to_char(sold.updated_at AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
    FROM buyer, sold
    RETURNING id, customer_id, disc_id, quantity, status, rejection_reason, created_at, decided_at, canceled_at,
              customer_snapshot, disc_snapshot"#,
);

/// What a purchase runs, prepared on every connection before the server
/// says it is ready (see `crate::health`).
pub(super) const HOT: &[Statement] = &[PLACE_ATOMICALLY];

/// The atomic strategy's statement, for [`place`] and [`place_once`].
pub(super) const STATEMENT: &Statement = &PLACE_ATOMICALLY;

/// Places `order` with `statement` ([`PLACE_ATOMICALLY`], or the queued
/// intake, which takes the same parameters) at most once per key of
/// `once`: claim, the statement and the record in one transaction. A
/// refusal drops the transaction, and the claim with it.
pub(super) async fn place_once(
    client: &mut Object,
    statement: &Statement,
    order: &NewPurchaseOrder,
    once: &IdempotentCreate,
    settings: IdempotencySettings,
) -> Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>> {
    let tx = begin(client, IsolationLevel::ReadCommitted).await?;
    if let Claim::Taken(recorded) = claim(&tx, &PURCHASE_ORDERS, once, settings).await? {
        return recorded.answer(once, rows::order);
    }
    let placed = place(&tx, statement, order).await?;
    record(&tx, &PURCHASE_ORDERS, once, placed.id.as_uuid()).await?;
    tx.commit().await.map_err(store_error)?;
    Ok(Created::New(placed))
}

/// `statement` (see [`place_once`]), and the reason when it matched no
/// row: alone in autocommit, or inside a keyed purchase's transaction.
pub(super) async fn place(
    client: &impl GenericClient,
    statement: &Statement,
    order: &NewPurchaseOrder,
) -> Result<PurchaseOrder, PlaceOrderError> {
    let placed = query_opt(
        client,
        statement,
        &[
            &order.id.as_uuid(),
            &order.customer_id.as_uuid(),
            &order.disc_id.as_uuid(),
            &order.quantity.get(),
        ],
    )
    .await
    .map_err(store_error)?;
    if let Some(row) = placed {
        return Ok(rows::order(&row)?);
    }
    Err(why_not_placed(client, order).await)
}

/// Why the statement matched no row: the customer and the disc as they are
/// now, judged by the domain's rules. Both reads are sent before either
/// answer is awaited, so they cost one round trip.
///
/// If the rules now pass, a concurrent unit of work changed the state in
/// between (a restock or a cancellation returned units, the customer was
/// reactivated): that is a lost race, reported as [`StoreError::Conflict`]
/// so the domain service places the order again.
async fn why_not_placed(client: &impl GenericClient, order: &NewPurchaseOrder) -> PlaceOrderError {
    let read = tokio::try_join!(
        find_customer(client, order.customer_id),
        find_disc(client, order.disc_id),
    );
    match read {
        Ok((customer, disc)) => match order.check(customer.as_ref(), disc.as_ref()) {
            Err(refused) => refused,
            Ok(_) => {
                tracing::debug!(order_id = %order.id, "the state changed since the purchase failed");
                StoreError::Conflict.into()
            }
        },
        Err(error) => error.into(),
    }
}
