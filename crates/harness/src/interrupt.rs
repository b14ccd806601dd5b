//! Ctrl-C only records that it happened.
//!
//! A Ctrl-C in the terminal reaches the whole foreground process group: a
//! server or `cargo test` a tool started in that group gets it and shuts
//! down by itself. The tool must outlive it, so that it can still stop the
//! clusters and servers it started in groups of their own and clean up.
//!
//! SIGTERM and SIGHUP (`timeout`, a closed terminal) are treated alike, so
//! a tool never dies leaving a cluster behind; a child that did not get the
//! signal itself is stopped by [`process::wait`](crate::process::wait).
//! Synchronous code asks [`interrupted`]; async code awaits [`wait`].

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use tokio::sync::Notify;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static SIGNALLED: Notify = Notify::const_new();

/// Replaces the default "die at once" behaviour of SIGINT, SIGTERM and
/// SIGHUP with setting the flag. Once per process.
///
/// # Errors
/// When a handler is installed already.
pub fn install() -> anyhow::Result<()> {
    ctrlc::set_handler(|| {
        if !INTERRUPTED.swap(true, Ordering::SeqCst) {
            crate::say!("interrupted; stopping what was started, then cleaning up");
        }
        SIGNALLED.notify_waiters();
    })
    .context("installing the Ctrl-C handler")
}

/// Whether one of those signals arrived since start.
#[must_use]
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// Completes once a signal has arrived (at once if one already has).
pub async fn wait() {
    loop {
        // Registered before the check, so a signal in between still wakes us.
        let signalled = SIGNALLED.notified();
        if interrupted() {
            return;
        }
        signalled.await;
    }
}
