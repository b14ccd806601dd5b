//! The relay against a real PostgreSQL (a fresh database per test,
//! `recordshop-testdb`) and a real RabbitMQ: the one `cargo xtask test`
//! starts ([`support::AMQP_URL_VAR`]), or one a test starts for itself
//! through the harness when it stops and restarts it.

// clippy.toml lets `#[test]` functions unwrap; the helpers of this binary
// are test code as well, where a panic is a failure.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod delivery;
mod outage;
mod support;
