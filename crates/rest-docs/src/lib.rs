//! The API's `rest-docs/`, generated so that it cannot drift.
//!
//! [`catalog`] describes the documented requests once. From it come the
//! Insomnia v4 export ([`insomnia`]) and, by sending every request to the
//! real service on a freshly seeded database ([`service`], [`runner`]), the
//! HAR 1.2 recording ([`har`]). The OpenAPI document comes from the code
//! (`recordshop_http::openapi`). [`files`] writes all three and checks the
//! committed ones; the crate's tests run that check and replay the
//! committed Insomnia export against the service.

pub mod catalog;
pub mod files;
pub mod har;
pub mod insomnia;
pub mod runner;
pub mod service;
pub mod step;
pub mod template;
