//! Integration tests of the PostgreSQL adapter against a real server: each
//! test gets a fresh migrated database (`recordshop-testdb`).
//!
//! Run with `RECORDSHOP_TEST_DATABASE_URL` set, or through `cargo xtask test`.

// clippy.toml lets `#[test]` functions unwrap; the helpers and contract
// bodies of this binary are test code as well, where a panic is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod customers;
mod discs;
mod health;
mod idempotency;
mod pool;
mod purchases;
mod sales;
mod support;
