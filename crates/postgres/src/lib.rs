//! PostgreSQL adapter: implements the domain's repository ports over
//! tokio-postgres and a deadpool pool.
//!
//! Every query is written out in SQL, parameterised, and prepared through
//! the pool's statement cache. A purchase, a restock and a cancellation are
//! each one explicit transaction whose isolation and locking follow the
//! [`ConcurrencyStrategy`] chosen at start.

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
pub use orders::PgPurchaseOrderRepository;
pub use pool::{PoolSettings, create_pool};
pub use strategy::{ConcurrencyStrategy, UnknownStrategy};
