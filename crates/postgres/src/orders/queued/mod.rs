//! The queued strategy: a purchase is recorded `pending` and answered at
//! once; allocation workers decide pending orders later, per disc, in
//! arrival order, in batches.
//!
//! - Intake is one autocommit statement that checks what it can without
//!   waiting (the customer is active, the disc exists and has at least the
//!   units asked for right now) and inserts the pending order: for many
//!   purchases of a disc at once, group-committed (`batched/intake.rs`),
//!   or for one keyed purchase inside its key's transaction ([`INTAKE`]).
//!   It reads the disc row without locking it, and the order's foreign key
//!   only takes a `KEY SHARE` lock, which the workers' `FOR NO KEY UPDATE`
//!   does not block: intake of a hot disc never waits for its allocation.
//! - Arrival order is commit order, per disc: an intake statement takes
//!   the disc's intake lock, `pg_advisory_xact_lock(1919116371,
//!   hashtext(disc id))` (a transaction-level advisory lock in the two-key
//!   space, which the relay's one-key lock never meets; "rcqu" in ASCII;
//!   two discs whose ids hash alike only share a lock, which costs waiting,
//!   never correctness), before its rows get their `arrival` numbers, and
//!   holds it until its commit. Without it, two processes' intakes of one disc could
//!   commit in the other order than they numbered their orders, and a
//!   worker deciding the first committed would serve a later arrival
//!   before an earlier one (the two-process test caught it once intake was
//!   batched). Only intakes wait for each other there; workers never take
//!   it.
//! - Workers ([`allocate`]) run in every server process. Each takes the disc
//!   whose oldest pending order is oldest, locked `FOR NO KEY UPDATE SKIP
//!   LOCKED` so workers of every process share the discs without ever
//!   deciding one disc twice at once, and decides its pending orders oldest
//!   first: the stock decrement and every status change commit together,
//!   or nothing does (a worker killed mid-batch leaves its orders pending
//!   for the next one). A batch that fails for a reason that is not a rule
//!   is retried order by order; an order that keeps failing alone is the
//!   dead letter (`rejected`, `allocation_failed`), so it never blocks its
//!   disc's queue.
//! - Decisions are announced with `NOTIFY` ([`Decisions`]), which wakes
//!   the requests that prefer to wait for an outcome, in every process.

mod allocate;
mod decisions;

use std::time::Duration;

pub use self::allocate::{AllocationWorkers, QueueSettings};
pub use self::decisions::Decisions;
use crate::sql::Statement;

/// `$1` order id, `$2` customer id, `$3` disc id, `$4` units, as
/// `atomic::PLACE_ATOMICALLY`, whose follow-up read names the reason when
/// no row is inserted. The snapshots are `to_jsonb` of the rows as the
/// placing strategies' `LOOK` reads them: the shapes `rows::StoredCustomer`
/// and `rows::StoredDisc` decode. The disc snapshot is the disc as the
/// order found it; the worker replaces it with the disc after the sale.
pub(super) const INTAKE: Statement = Statement::new(
    "queue_purchase",
    "
    WITH intake_lock AS (
        SELECT pg_advisory_xact_lock(1919116371, hashtext($3::uuid::text))
    ),
    buyer AS (
        SELECT id, document, name, birth_date, email, phone, is_active, created_at, updated_at
        FROM customers
        WHERE id = $2 AND is_active
    ),
    shelf AS (
        SELECT id, name, artist, year_of_release, genre, quantity, created_at, updated_at
        FROM discs
        WHERE id = $3 AND deleted_at IS NULL AND quantity >= $4::integer
    )
    INSERT INTO purchase_orders
        (id, customer_id, disc_id, quantity, status, customer_snapshot, disc_snapshot, decided_at)
    SELECT $1, buyer.id, shelf.id, $4::integer, 'pending', to_jsonb(buyer), to_jsonb(shelf), NULL
    FROM intake_lock, buyer, shelf
    RETURNING id, customer_id, disc_id, quantity, status, rejection_reason, created_at,
              decided_at, canceled_at, customer_snapshot, disc_snapshot",
);

/// The channel decisions are announced on.
const DECIDED_CHANNEL: &str = "recordshop_order_decided";

/// How long a worker with nothing to do sleeps before looking again for
/// orders another process took in (its own intake wakes it at once).
const DEFAULT_POLL: Duration = Duration::from_millis(200);
