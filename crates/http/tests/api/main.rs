//! HTTP tests of every route and error code, and of access control for
//! every route and kind of caller: the real app over the real
//! PostgreSQL adapter on a fresh database per test, plus a few handler tests
//! over the domain's mocks for failures a real database cannot easily
//! produce (outages, exhausted retries, bugs).

// clippy.toml allows these in #[test] functions; the helpers beside them
// are test code too, where a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod customers;
mod discs;
mod docs;
mod edge;
mod general;
mod helpers;
mod idempotency;
mod mocked;
mod orders;
mod queued;
