//! The queued intake, group-committed: purchases of one disc taken in
//! together are recorded pending by one statement and one commit.
//!
//! Why: measured on the hot disc, intake one statement per purchase was
//! about a quarter of `batched`'s rate (2,488 vs 10,308 purchases/s, 128
//! clients, `cargo xtask experiment -- --quick --scenarios hot`): each
//! purchase paid its own commit, which a sale in a batch shares. Intake
//! takes no lock, so nothing but the commit was left to share. Under the
//! same group commit as the sales (a batch starts at once on an idle disc;
//! purchases arriving meanwhile form the next one), intake pays one commit
//! per batch too.
//!
//! The statement checks what the single-purchase intake checks (the
//! customer is active, the disc exists and has at least the units asked
//! for right now), each purchase on its own against the disc as it is,
//! and inserts the pending orders in arrival order. The purchases it did
//! not insert get their reasons from one read of the disc and one of their
//! customers, judged by the domain's rules. Keyed purchases do not come
//! here: their key's claim must commit with their order alone (see
//! `orders/atomic.rs`).

use std::collections::HashMap;

use deadpool_postgres::{GenericClient, Pool};
use recordshop_domain::StoreError;
use recordshop_domain::disc::DiscId;
use recordshop_domain::idempotency::Created;
use recordshop_domain::order::PurchaseOrder;
use uuid::Uuid;

use super::failure::fail_all;
use super::purchase::{Purchase, still_awaited};
use super::queue::Runner;
use super::sale::read_customers;
use crate::discs::find_disc;
use crate::error::store_error;
use crate::rows;
use crate::sql::{Statement, connection, query};

/// `$1` disc id; per purchase, in arrival order: `$2` order ids, `$3`
/// customer ids, `$4` units. The snapshots as `queued::INTAKE` takes them,
/// and the disc's intake lock too (see `orders/queued`), so that arrival
/// order is commit order.
const INTAKE_MANY: Statement = Statement::new(
    "queue_purchases",
    "
    WITH intake_lock AS (
        SELECT pg_advisory_xact_lock(1919116371, hashtext($1::uuid::text))
    ),
    shelf AS (
        SELECT id, name, artist, year_of_release, genre, quantity, created_at, updated_at
        FROM discs
        WHERE id = $1 AND deleted_at IS NULL
    ),
    buyers AS (
        SELECT id, document, name, birth_date, email, phone, is_active, created_at, updated_at
        FROM customers
        WHERE id = ANY($3) AND is_active
    )
    INSERT INTO purchase_orders
        (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot, decided_at)
    SELECT w.id, b.id, shelf.id, w.quantity, 'pending', to_jsonb(b), to_jsonb(shelf), NULL
    FROM UNNEST($2::uuid[], $3::uuid[], $4::integer[])
             WITH ORDINALITY AS w (id, customer_id, quantity, turn)
    JOIN buyers b ON b.id = w.customer_id
    CROSS JOIN shelf
    CROSS JOIN intake_lock
    WHERE shelf.quantity >= w.quantity
    ORDER BY w.turn
    RETURNING id, customer_id, disc_id, quantity, status, rejection_reason, created_at,
              decided_at, canceled_at, customer_snapshot, disc_snapshot",
);

/// What intake runs, prepared on every connection before the server says
/// it is ready (see `crate::health`).
pub(in crate::orders) const HOT: &[Statement] = &[INTAKE_MANY];

/// Runs intake batches on connections of `pool`.
pub(super) struct Intake {
    pool: Pool,
}

impl Intake {
    pub(super) fn new(pool: Pool) -> Self {
        Self { pool }
    }
}

impl Runner for Intake {
    type Key = DiscId;
    type Item = Purchase;

    async fn run(&self, disc_id: DiscId, batch: Vec<Purchase>) {
        let batch = still_awaited(batch);
        if batch.is_empty() {
            return;
        }
        metrics::histogram!("recordshop_intake_batch_size").record(batch.len() as f64);
        let client = match connection(&self.pool).await {
            Ok(client) => client,
            Err(error) => return fail_all(batch, error),
        };
        let ids: Vec<Uuid> = batch.iter().map(|p| p.order.id.as_uuid()).collect();
        let customers: Vec<Uuid> = batch
            .iter()
            .map(|p| p.order.customer_id.as_uuid())
            .collect();
        let units: Vec<i32> = batch.iter().map(|p| p.order.quantity.get()).collect();
        let inserted = query(
            &client,
            &INTAKE_MANY,
            &[&disc_id.as_uuid(), &ids, &customers, &units],
        )
        .await
        .map_err(store_error);
        let rows = match inserted {
            Ok(rows) => rows,
            Err(error) => return fail_all(batch, error),
        };
        let decoded: Result<Vec<PurchaseOrder>, StoreError> =
            rows.iter().map(rows::order).collect();
        let mut taken: HashMap<Uuid, PurchaseOrder> = match decoded {
            Ok(orders) => orders.into_iter().map(|o| (o.id.as_uuid(), o)).collect(),
            Err(error) => return fail_all(batch, error),
        };
        let (placed, refused): (Vec<Purchase>, Vec<Purchase>) = batch
            .into_iter()
            .partition(|p| taken.contains_key(&p.order.id.as_uuid()));
        for purchase in placed {
            if let Some(order) = taken.remove(&purchase.order.id.as_uuid()) {
                purchase.answer(Ok(Created::New(order)));
            }
        }
        if !refused.is_empty() {
            explain(&client, disc_id, refused).await;
        }
    }
}

/// Why each of `refused` was not taken in: the disc and their customers as
/// they are now (two reads, whatever their number), judged by the domain's
/// rules. One whose rules now pass lost a race with a restock, a
/// cancellation or a reactivation: a conflict, which the domain retries.
async fn explain(client: &impl GenericClient, disc_id: DiscId, refused: Vec<Purchase>) {
    let read = tokio::try_join!(find_disc(client, disc_id), read_customers(client, &refused));
    let (disc, customers) = match read {
        Ok(read) => read,
        Err(error) => return fail_all(refused, error),
    };
    for purchase in refused {
        let order = &purchase.order;
        let why = match order.check(customers.get(&order.customer_id), disc.as_ref()) {
            Err(refused) => refused,
            Ok(_) => StoreError::Conflict.into(),
        };
        purchase.answer(Err(why.into()));
    }
}
