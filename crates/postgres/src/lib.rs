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

mod customers;
mod discs;
mod error;
mod health;
mod migrate;
mod orders;
mod pool;
mod rows;
mod sql;
mod strategy;

pub use customers::PgCustomerRepository;
pub use discs::PgDiscRepository;
pub use health::PgStoreHealth;
pub use migrate::{migrate, migrations_fingerprint};
pub use orders::{BatchSettings, PgPurchaseOrderRepository};
pub use pool::{PoolSettings, create_pool};
pub use strategy::{ConcurrencyStrategy, UnknownStrategy};
