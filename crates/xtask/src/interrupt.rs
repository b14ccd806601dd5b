//! Ctrl-C only records that it happened.
//!
//! A Ctrl-C in the terminal reaches the whole foreground process group: the
//! server or `cargo test` we started gets it and shuts down by itself. xtask
//! must outlive it, so that it can still stop the cluster and clean up; the
//! cluster runs in a process group of its own and never sees the signal.
//!
//! SIGTERM and SIGHUP (`timeout`, a closed terminal) are treated alike, so
//! xtask never dies leaving a cluster behind; a child that did not get the
//! signal itself is killed after a grace period (see `process::wait`).

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Replaces the default "die at once" behaviour of SIGINT, SIGTERM and
/// SIGHUP.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        if !INTERRUPTED.swap(true, Ordering::SeqCst) {
            crate::say!("interrupted; waiting for the child to finish, then cleaning up");
        }
    })
    .context("installing the Ctrl-C handler")
}

/// Whether one of those signals arrived since start.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
