//! Idempotency keys in `idempotency_keys`: claiming a key inside a create's
//! unit of work, recording the created resource with it, replaying it, and
//! purging expired keys.
//!
//! A keyed create runs, in one transaction:
//!
//! 1. [`claim`]: insert the key, or take over an expired one. A concurrent
//!    transaction holding the same key makes the insert wait until it
//!    commits or rolls back (bounded by `statement_timeout`, and the holder
//!    by its own timeouts). The key is claimed before any other row is
//!    locked, so every keyed unit of work locks key → disc and two requests
//!    with one key cannot deadlock.
//! 2. The create itself, exactly as without a key.
//! 3. [`record`]: the created row, as jsonb, stored with the key.
//!
//! A refused create rolls back, and its claim with it. When the claim finds
//! a live record, the transaction is abandoned and the record answers: a
//! replay when the fingerprints match, `IdempotencyKeyReused` otherwise.
//!
//! Under REPEATABLE READ (the optimistic strategy), a claim that meets a key
//! committed after the transaction's snapshot fails with a serialization
//! error: reported as a conflict, the domain retries, and the retry sees the
//! record.

use std::time::Duration;

use anyhow::anyhow;
use deadpool_postgres::{GenericClient, Pool};
use recordshop_domain::StoreError;
use recordshop_domain::idempotency::{Created, IdempotentCreate, IdempotentError};
use tokio_postgres::Row;

use crate::error::store_error;
use crate::sql::{Statement, connection, execute, query_opt};

/// How long a key's record is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencySettings {
    /// A key answers with its record for this long after its create; then
    /// it is free for a new request, and [`purge_expired_idempotency_keys`]
    /// deletes it.
    pub ttl: Duration,
}

impl Default for IdempotencySettings {
    /// 24 hours: longer than any client's retry schedule, short enough that
    /// the table stays small.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(24 * 60 * 60),
        }
    }
}

impl IdempotencySettings {
    /// The TTL as the seconds `make_interval` takes.
    pub(crate) fn ttl_seconds(&self) -> f64 {
        self.ttl.as_secs_f64()
    }
}

/// A kind of resource a keyed create makes: its `operation` in
/// `idempotency_keys`, and the statements that store and replay its row.
/// Table names cannot be parameters, hence one pair of statements per kind.
pub(crate) struct Resource {
    pub(crate) operation: &'static str,
    /// `$1` owner, `$2` operation, `$3` key, `$4` the created row's id.
    record: Statement,
    /// `$1` owner, `$2` operation, `$3` key; returns `fingerprint` and the
    /// columns the kind's row mapping in `rows` reads.
    replay: Statement,
}

pub(crate) const PURCHASE_ORDERS: Resource = Resource {
    operation: "purchase_order",
    record: Statement::new(
        "record_purchase_order_key",
        "
        UPDATE idempotency_keys k
        SET resource_id = t.id, response_status = 201, resource = to_jsonb(t)
        FROM purchase_orders t
        WHERE t.id = $4 AND k.owner = $1 AND k.operation = $2 AND k.key = $3",
    ),
    replay: Statement::new(
        "replay_purchase_order_key",
        "
        SELECT k.fingerprint,
               r.id, r.customer_id, r.disc_id, r.quantity, r.status, r.rejection_reason,
               r.created_at, r.decided_at, r.canceled_at, r.customer_snapshot, r.disc_snapshot
        FROM idempotency_keys k,
             jsonb_populate_record(NULL::purchase_orders, k.resource) AS r
        WHERE k.owner = $1 AND k.operation = $2 AND k.key = $3",
    ),
};

pub(crate) const CUSTOMERS: Resource = Resource {
    operation: "customer",
    record: Statement::new(
        "record_customer_key",
        "
        UPDATE idempotency_keys k
        SET resource_id = t.id, response_status = 201, resource = to_jsonb(t)
        FROM customers t
        WHERE t.id = $4 AND k.owner = $1 AND k.operation = $2 AND k.key = $3",
    ),
    replay: Statement::new(
        "replay_customer_key",
        "
        SELECT k.fingerprint,
               r.id, r.document, r.name, r.birth_date, r.email, r.phone, r.is_active,
               r.created_at, r.updated_at
        FROM idempotency_keys k,
             jsonb_populate_record(NULL::customers, k.resource) AS r
        WHERE k.owner = $1 AND k.operation = $2 AND k.key = $3",
    ),
};

pub(crate) const DISCS: Resource = Resource {
    operation: "disc",
    record: Statement::new(
        "record_disc_key",
        "
        UPDATE idempotency_keys k
        SET resource_id = t.id, response_status = 201, resource = to_jsonb(t)
        FROM discs t
        WHERE t.id = $4 AND k.owner = $1 AND k.operation = $2 AND k.key = $3",
    ),
    replay: Statement::new(
        "replay_disc_key",
        "
        SELECT k.fingerprint,
               r.id, r.name, r.artist, r.year_of_release, r.genre, r.quantity,
               r.created_at, r.updated_at
        FROM idempotency_keys k,
             jsonb_populate_record(NULL::discs, k.resource) AS r
        WHERE k.owner = $1 AND k.operation = $2 AND k.key = $3",
    ),
};

/// Inserts the key, or takes over an expired record of it; returns a row
/// only then. A live record is left alone and returns nothing, but stays
/// locked by this transaction (`ON CONFLICT DO UPDATE` locks the row it
/// conflicts with even when its `WHERE` refuses the update), so it cannot
/// expire into a purge before it is read. `$5` is the TTL in seconds.
const CLAIM: Statement = Statement::new(
    "claim",
    "
    INSERT INTO idempotency_keys (owner, operation, key, fingerprint, expires_at)
    VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
    ON CONFLICT (owner, operation, key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint,
            resource_id = NULL,
            response_status = NULL,
            resource = NULL,
            created_at = now(),
            expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at <= now()
    RETURNING true AS claimed",
);

/// Expired rows, a chunk at a time, so no single statement holds many row
/// locks or runs into `statement_timeout`. Rows locked by a transaction
/// taking over their key are skipped: that transaction renews them.
const PURGE_CHUNK: Statement = Statement::new(
    "purge_chunk",
    "
    DELETE FROM idempotency_keys
    WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM idempotency_keys
            WHERE expires_at <= now()
            ORDER BY expires_at
            LIMIT $1
            FOR UPDATE SKIP LOCKED))
      AND expires_at <= now()",
);

const PURGE_CHUNK_ROWS: i64 = 10_000;

/// What a claim found.
pub(crate) enum Claim {
    /// The key is this transaction's: make the create, then [`record`] it.
    Acquired,
    /// A live record holds the key; the transaction should go no further.
    Taken(Recorded),
}

/// A live record: the fingerprint of the request that made it, and the
/// resource as a row with the columns of its table.
pub(crate) struct Recorded {
    fingerprint: String,
    row: Row,
}

impl Recorded {
    /// Reads a row of a `replay` statement (or of a batch's own).
    pub(crate) fn from_row(row: Row) -> Result<Self, StoreError> {
        let fingerprint = row
            .try_get("fingerprint")
            .map_err(|e| StoreError::Unexpected(e.into()))?;
        Ok(Self { fingerprint, row })
    }

    /// Whether `once` is the request that made this record.
    pub(crate) fn is_for(&self, once: &IdempotentCreate) -> bool {
        self.fingerprint == once.fingerprint.as_str()
    }

    /// The answer to `once`: the recorded resource, decoded by `decode` (the
    /// same mapping as a normal read), when it is the same request.
    pub(crate) fn answer<T, E>(
        &self,
        once: &IdempotentCreate,
        decode: fn(&Row) -> Result<T, StoreError>,
    ) -> Result<Created<T>, IdempotentError<E>>
    where
        IdempotentError<E>: From<StoreError>,
    {
        if self.is_for(once) {
            Ok(Created::Replayed(decode(&self.row)?))
        } else {
            Err(IdempotentError::IdempotencyKeyReused(once.key.clone()))
        }
    }
}

/// Claims `once`'s key for `resource` in the caller's transaction, which
/// must not have locked any other row yet.
pub(crate) async fn claim(
    tx: &impl GenericClient,
    resource: &Resource,
    once: &IdempotentCreate,
    settings: IdempotencySettings,
) -> Result<Claim, StoreError> {
    let claimed = query_opt(
        tx,
        &CLAIM,
        &[
            &once.owner.as_str(),
            &resource.operation,
            &once.key.as_str(),
            &once.fingerprint.as_str(),
            &settings.ttl_seconds(),
        ],
    )
    .await
    .map_err(store_error)?;
    if claimed.is_some() {
        return Ok(Claim::Acquired);
    }
    let record = query_opt(
        tx,
        &resource.replay,
        &[
            &once.owner.as_str(),
            &resource.operation,
            &once.key.as_str(),
        ],
    )
    .await
    .map_err(store_error)?;
    match record {
        Some(row) => Ok(Claim::Taken(Recorded::from_row(row)?)),
        // The claim locked the record it met, so it cannot be gone; should
        // it be, claiming again is the way out, and a conflict asks for it.
        None => Err(StoreError::Conflict),
    }
}

/// Stores the created row `id` with `once`'s key, claimed by [`claim`] in
/// the same transaction.
pub(crate) async fn record(
    tx: &impl GenericClient,
    resource: &Resource,
    once: &IdempotentCreate,
    id: uuid::Uuid,
) -> Result<(), StoreError> {
    let recorded = execute(
        tx,
        &resource.record,
        &[
            &once.owner.as_str(),
            &resource.operation,
            &once.key.as_str(),
            &id,
        ],
    )
    .await
    .map_err(store_error)?;
    if recorded == 1 {
        Ok(())
    } else {
        Err(StoreError::Unexpected(anyhow!(
            "recording {} {id} under idempotency key {} touched {recorded} rows",
            resource.operation,
            once.key
        )))
    }
}

/// The answer of a create made without a key, from the keyed shape the
/// strategies share: never replayed, and a reused key cannot happen.
pub(crate) fn unkeyed<T, E>(result: Result<Created<T>, IdempotentError<E>>) -> Result<T, E>
where
    E: From<StoreError>,
{
    match result {
        Ok(created) => Ok(created.into_inner()),
        Err(IdempotentError::Create(error)) => Err(error),
        Err(IdempotentError::IdempotencyKeyReused(key)) => Err(StoreError::Unexpected(anyhow!(
            "a create without a key reported key {key} as reused"
        ))
        .into()),
    }
}

/// Deletes every expired idempotency key, in chunks, and returns how many.
/// Meant to run periodically; concurrent runs and concurrent creates are
/// safe.
///
/// # Errors
/// [`StoreError`] when the database fails; the chunks deleted before stay
/// deleted.
#[tracing::instrument(level = "debug", skip_all)]
pub async fn purge_expired_idempotency_keys(pool: &Pool) -> Result<u64, StoreError> {
    let client = connection(pool).await?;
    let mut purged = 0;
    loop {
        let deleted = execute(&client, &PURGE_CHUNK, &[&PURGE_CHUNK_ROWS])
            .await
            .map_err(store_error)?;
        purged += deleted;
        if deleted < PURGE_CHUNK_ROWS.unsigned_abs() {
            tracing::debug!(purged, "expired idempotency keys purged");
            return Ok(purged);
        }
    }
}
