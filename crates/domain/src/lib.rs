//! The record shop's domain: what a disc, a customer and a purchase order
//! are, the rules they obey, the services that apply those rules, and the
//! ports (repository traits) through which the services reach storage.
//!
//! Nothing here knows about HTTP or PostgreSQL. Values that reach a service
//! have already been parsed into types that cannot hold an invalid value
//! ([`disc::DiscName`], [`customer::Email`], [`order::OrderQuantity`], …), so
//! services deal with state-dependent rules only: existence, uniqueness,
//! stock, and retrying units of work the store aborted for contention.
//!
//! Creates may carry an idempotency key, so a client can repeat them safely;
//! see [`idempotency`].

pub mod calendar;
pub mod customer;
pub mod disc;
pub mod error;
pub mod health;
pub mod id;
pub mod idempotency;
pub mod order;
pub mod page;
pub mod retry;
#[cfg(any(test, feature = "mocks"))]
pub mod testing;
mod text;

pub use error::{InvalidValue, StoreError};
pub use page::Page;
pub use retry::RetryPolicy;
