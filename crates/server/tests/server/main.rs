//! Tests of the server crate: configuration parsing, the real application
//! started on port 0, and the `token` subcommand through the binary.

// clippy.toml allows these in #[test] functions; the helpers beside them
// are test code too, where a panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod config;
mod hostile;
mod observability;
mod shutdown;
mod standby;
mod startup;
mod token;
