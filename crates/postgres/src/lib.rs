//! PostgreSQL adapter: implements the domain's repository ports over
//! tokio-postgres and a deadpool pool.
//!
//! Every query is written out in SQL, parameterised, and prepared through
//! the pool's statement cache. A restock and a cancellation are each one
//! explicit transaction whose isolation and locking follow the
//! [`ConcurrencyStrategy`] chosen at start; a purchase is one transaction
//! (pessimistic, optimistic), one statement (atomic), or one transaction
//! shared with the other purchases of its disc that arrived with it
//! (batched, bounded by [`BatchSettings`]).
//!
//! Creates sent with an idempotency key claim the key in the same unit of
//! work as their effect and record the created row with it (see
//! `idempotency.rs`); [`purge_expired_idempotency_keys`] removes expired
//! keys. Every connection runs under [`DatabaseTimeouts`].

mod customers;
mod discs;
mod error;
mod health;
mod idempotency;
pub mod ledger;
mod migrate;
mod orders;
mod pool;
mod replica;
mod rows;
mod sql;
mod strategy;

pub use customers::PgCustomerRepository;
pub use discs::PgDiscRepository;
pub use health::PgStoreHealth;
pub use idempotency::{IdempotencySettings, purge_expired_idempotency_keys};
pub use migrate::{migrate, migrations_fingerprint};
pub use orders::{
    AllocationWorkers, BatchSettings, Decisions, PgPurchaseOrderRepository, QueueSettings,
};
pub use pool::{
    DatabaseTimeouts, PoolSettings, create_pool, create_pool_with_timeouts, record_pool_metrics,
};
pub use replica::{ReadReplica, ReplicaSettings};
pub use strategy::{ConcurrencyStrategy, UnknownStrategy};
