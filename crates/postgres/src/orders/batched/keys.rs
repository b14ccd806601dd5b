//! Idempotency keys of the purchases in one batch.
//!
//! A batch is one transaction for many purchases, so its keys are claimed
//! together, in one statement, before the disc row is locked (key → disc,
//! the lock order of every keyed purchase). Purchases of the batch that
//! share an owner and key are settled here, not by the database: the first
//! one (the candidate) claims the key, the later ones (followers) get the
//! candidate's outcome once the batch is decided, as they would have had
//! after waiting for it. A candidate whose key holds a live record takes no
//! part in the allocation and answers from the record.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use anyhow::anyhow;
use deadpool_postgres::GenericClient;
use recordshop_domain::StoreError;
use recordshop_domain::idempotency::{Created, IdempotentError};
use uuid::Uuid;

use super::purchase::{Keyed, Outcome, Purchase};
use crate::error::store_error;
use crate::idempotency::{PURCHASE_ORDERS, Recorded};
use crate::rows;
use crate::sql::{Statement, execute, query};

/// How a purchase of the batch stands with respect to keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyRole {
    Unkeyed,
    /// The first purchase of the batch with its owner and key.
    Candidate,
    /// A later purchase with the same owner and key as the candidate at
    /// this index.
    Follower(usize),
}

/// The role of each purchase of `batch`, in order.
pub(super) fn roles(batch: &[Purchase]) -> Vec<KeyRole> {
    let mut candidates: HashMap<(&str, &str), usize> = HashMap::new();
    batch
        .iter()
        .enumerate()
        .map(|(index, purchase)| {
            let Some(keyed) = &purchase.key else {
                return KeyRole::Unkeyed;
            };
            let id = (keyed.once.owner.as_str(), keyed.once.key.as_str());
            match candidates.entry(id) {
                Entry::Occupied(candidate) => KeyRole::Follower(*candidate.get()),
                Entry::Vacant(vacant) => {
                    vacant.insert(index);
                    KeyRole::Candidate
                }
            }
        })
        .collect()
}

/// Inserts each candidate's key or takes over its expired record; returns
/// those it got. Rows go in (owner, key) order, so two batches sharing keys
/// take their locks in the same order and cannot deadlock. `$1` owners,
/// `$2` keys, `$3` fingerprints, `$4` TTLs in seconds, `$5` operation.
const CLAIM_KEYS: Statement = Statement::new(
    "claim_keys",
    "
    INSERT INTO idempotency_keys (owner, operation, key, fingerprint, expires_at)
    SELECT c.owner, $5, c.key, c.fingerprint, now() + make_interval(secs => c.ttl)
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::float8[])
             WITH ORDINALITY AS c (owner, key, fingerprint, ttl, position)
    ORDER BY c.position
    ON CONFLICT (owner, operation, key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint,
            resource_id = NULL,
            response_status = NULL,
            resource = NULL,
            created_at = now(),
            expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at <= now()
    RETURNING owner, key",
);

/// The live records of the keys the claim did not get (and locked), with
/// the order columns `rows::order` reads. `$1` owners, `$2` keys, `$3`
/// operation.
const READ_RECORDS: Statement = Statement::new(
    "read_records",
    "
    SELECT k.owner, k.key, k.fingerprint,
           r.id, r.customer_id, r.disc_id, r.quantity, r.status, r.rejection_reason,
           r.created_at, r.decided_at, r.canceled_at, r.customer_snapshot, r.disc_snapshot
    FROM UNNEST($1::text[], $2::text[]) AS t (owner, key)
    JOIN idempotency_keys k ON k.owner = t.owner AND k.operation = $3 AND k.key = t.key
    CROSS JOIN LATERAL jsonb_populate_record(NULL::purchase_orders, k.resource) AS r",
);

/// Each keyed sale's order, as stored, with its key. `$1` owners, `$2`
/// keys, `$3` order ids, `$4` operation.
const RECORD_SALES: Statement = Statement::new(
    "record_sales",
    "
    UPDATE idempotency_keys k
    SET resource_id = o.id, response_status = 201, resource = to_jsonb(o)
    FROM UNNEST($1::text[], $2::text[], $3::uuid[]) AS s (owner, key, order_id)
    JOIN purchase_orders o ON o.id = s.order_id
    WHERE k.owner = s.owner AND k.operation = $4 AND k.key = s.key",
);

/// The claims of refused candidates, which must not outlive the batch.
/// `$1` owners, `$2` keys, `$3` operation.
const RELEASE_KEYS: Statement = Statement::new(
    "release_keys",
    "
    DELETE FROM idempotency_keys k
    USING UNNEST($1::text[], $2::text[]) AS r (owner, key)
    WHERE k.owner = r.owner AND k.operation = $3 AND k.key = r.key",
);

/// The key of the keyed purchase at `index`.
fn keyed(batch: &[Purchase], index: usize) -> Result<&Keyed, StoreError> {
    batch
        .get(index)
        .and_then(|purchase| purchase.key.as_ref())
        .ok_or_else(|| StoreError::Unexpected(anyhow!("purchase {index} of the batch has no key")))
}

/// Owners and keys of the purchases at `indexes`, as two arrays.
fn owners_and_keys<'a>(
    batch: &'a [Purchase],
    indexes: &[usize],
) -> Result<(Vec<&'a str>, Vec<&'a str>), StoreError> {
    let mut owners = Vec::with_capacity(indexes.len());
    let mut keys = Vec::with_capacity(indexes.len());
    for &index in indexes {
        let once = &keyed(batch, index)?.once;
        owners.push(once.owner.as_str());
        keys.push(once.key.as_str());
    }
    Ok((owners, keys))
}

/// Claims the candidates' keys in the caller's transaction, which must not
/// have locked the disc yet. Returns the records of the keys that were
/// taken, by candidate index; the other candidates hold their keys now.
pub(super) async fn claim(
    tx: &impl GenericClient,
    batch: &[Purchase],
    roles: &[KeyRole],
) -> Result<HashMap<usize, Recorded>, StoreError> {
    let mut candidates = Vec::new();
    for (index, role) in roles.iter().enumerate() {
        if *role == KeyRole::Candidate {
            let Keyed { once, settings } = keyed(batch, index)?;
            candidates.push((once, *settings, index));
        }
    }
    if candidates.is_empty() {
        return Ok(HashMap::new());
    }
    candidates.sort_unstable_by(|(a, ..), (b, ..)| {
        (a.owner.as_str(), a.key.as_str()).cmp(&(b.owner.as_str(), b.key.as_str()))
    });
    let owners: Vec<&str> = candidates
        .iter()
        .map(|(once, ..)| once.owner.as_str())
        .collect();
    let keys: Vec<&str> = candidates
        .iter()
        .map(|(once, ..)| once.key.as_str())
        .collect();
    let fingerprints: Vec<&str> = candidates
        .iter()
        .map(|(once, ..)| once.fingerprint.as_str())
        .collect();
    let ttls: Vec<f64> = candidates
        .iter()
        .map(|(_, settings, _)| settings.ttl_seconds())
        .collect();
    let claimed = query(
        tx,
        &CLAIM_KEYS,
        &[
            &owners,
            &keys,
            &fingerprints,
            &ttls,
            &PURCHASE_ORDERS.operation,
        ],
    )
    .await
    .map_err(store_error)?;
    // Candidates whose key was not claimed: a live record holds it.
    let mut taken_by: HashMap<(String, String), usize> = candidates
        .iter()
        .map(|(once, _, index)| {
            let id = (once.owner.as_str().to_owned(), once.key.as_str().to_owned());
            (id, *index)
        })
        .collect();
    for row in &claimed {
        taken_by.remove(&owner_and_key(row)?);
    }
    if taken_by.is_empty() {
        return Ok(HashMap::new());
    }
    let (owners, keys): (Vec<&str>, Vec<&str>) = taken_by
        .keys()
        .map(|(owner, key)| (owner.as_str(), key.as_str()))
        .unzip();
    let records = query(
        tx,
        &READ_RECORDS,
        &[&owners, &keys, &PURCHASE_ORDERS.operation],
    )
    .await
    .map_err(store_error)?;
    let mut taken = HashMap::with_capacity(records.len());
    for row in records {
        if let Some(&index) = taken_by.get(&owner_and_key(&row)?) {
            taken.insert(index, Recorded::from_row(row)?);
        }
    }
    if taken.len() == taken_by.len() {
        Ok(taken)
    } else {
        // The claim locked every record it met, so none can be gone; should
        // one be, the domain retrying the batch's purchases claims again.
        Err(StoreError::Conflict)
    }
}

fn owner_and_key(row: &tokio_postgres::Row) -> Result<(String, String), StoreError> {
    let owner = row
        .try_get("owner")
        .map_err(|e| StoreError::Unexpected(e.into()))?;
    let key = row
        .try_get("key")
        .map_err(|e| StoreError::Unexpected(e.into()))?;
    Ok((owner, key))
}

/// Stores each sold candidate's order (`(index, order id)`) with its key.
pub(super) async fn record(
    tx: &impl GenericClient,
    batch: &[Purchase],
    sold: &[(usize, Uuid)],
) -> Result<(), StoreError> {
    if sold.is_empty() {
        return Ok(());
    }
    let indexes: Vec<usize> = sold.iter().map(|&(index, _)| index).collect();
    let (owners, keys) = owners_and_keys(batch, &indexes)?;
    let orders: Vec<Uuid> = sold.iter().map(|&(_, id)| id).collect();
    let recorded = execute(
        tx,
        &RECORD_SALES,
        &[&owners, &keys, &orders, &PURCHASE_ORDERS.operation],
    )
    .await
    .map_err(store_error)?;
    if recorded == u64::try_from(sold.len()).unwrap_or(u64::MAX) {
        Ok(())
    } else {
        Err(StoreError::Unexpected(anyhow!(
            "the batch recorded {recorded} of {} keyed sales",
            sold.len()
        )))
    }
}

/// Deletes the claims of the refused candidates at `indexes`.
pub(super) async fn release(
    tx: &impl GenericClient,
    batch: &[Purchase],
    indexes: &[usize],
) -> Result<(), StoreError> {
    if indexes.is_empty() {
        return Ok(());
    }
    let (owners, keys) = owners_and_keys(batch, indexes)?;
    execute(
        tx,
        &RELEASE_KEYS,
        &[&owners, &keys, &PURCHASE_ORDERS.operation],
    )
    .await
    .map_err(store_error)?;
    Ok(())
}

/// A follower's answer, given its candidate's key record (when the key was
/// taken) or the candidate's own answer.
pub(super) fn follow(
    follower: &Keyed,
    candidate: &Keyed,
    recorded: Option<&Recorded>,
    candidate_answer: Option<&Outcome>,
) -> Outcome {
    if let Some(recorded) = recorded {
        return recorded.answer(&follower.once, rows::order);
    }
    match candidate_answer {
        Some(Ok(placed)) if candidate.once.fingerprint == follower.once.fingerprint => {
            Ok(Created::Replayed(placed.as_inner().clone()))
        }
        Some(Ok(_)) => Err(IdempotentError::IdempotencyKeyReused(
            follower.once.key.clone(),
        )),
        // The candidate was refused (its claim is gone) or failed: the key
        // is free, and this purchase must be judged on its own. A conflict
        // makes the service retry it, in a later batch.
        _ => Err(StoreError::Conflict.into()),
    }
}
