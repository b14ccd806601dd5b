//! `failover`: the primary's node crashes (keeper and PostgreSQL killed
//! at once, as a machine's crash) under the load through nginx;
//! pg_auto_failover promotes the standby. Measured: the monitor's
//! promotion and the write-unavailability window, from the kill to the
//! first order placed by a purchase sent after it, against the 10 s target,
//! with every answer meanwhile. Passes when no order answered 201 is lost
//! (the standby was synchronous), every answer meanwhile is a 503 with
//! `Retry-After` (`unavailable`: measured, nothing else came, and no 502
//! from nginx: the servers answer, they have no database) within the
//! answer bound, writes are back within [`WRITES_BACK_BOUND`], and each of
//! the three servers takes a purchase sent straight to it afterwards,
//! without a restart.
//!
//! A purchase whose COMMIT was in flight when the primary died may be kept
//! (the synchronous standby had it) though its server, its connection
//! gone, answered 503 `unavailable`: measured in 2 of 12 failovers, one
//! order each. Such an order is counted as of unknown outcome, and noted
//! (`CUT COMMITS`); its key answers a retry with the order.
//!
//! `rejoin`: the same failover, then the old primary's node started again
//! under the load; passes when it is the secondary again, streaming in the
//! primary's quorum, within [`REJOIN_BOUND`] (the time is reported), and
//! writes went on meanwhile: no answer but placed orders and 503s with
//! `Retry-After` (`optimistic` answers a hot disc's `contention` at any
//! time), no stretch past [`REJOIN_STALL_BOUND`] without an order.

use std::time::Duration;

use anyhow::Context;
use recordshop_harness::postgres::{Formation, connect};
use tokio::time::sleep;

use super::window::{
    answered_within, describe, failing_span, longest_gap, unexpected, writes_back,
};
use super::{Bench, Shop, wait_synchronous};
use crate::load::{Load, Record};
use crate::report::Row;
use crate::scenario::{Gateway, fail};

/// The target of the write-unavailability window.
const WINDOW_TARGET: Duration = Duration::from_secs(10);
/// Past this without an order, the failover failed.
const WRITES_BACK_BOUND: Duration = Duration::from_secs(30);
/// The old primary must be the streaming, synchronous standby again
/// within this long of its start.
const REJOIN_BOUND: Duration = Duration::from_secs(60);
/// Writes must go on while it does: the primary waits for no standby
/// until the monitor has it back in the quorum.
const REJOIN_STALL_BOUND: Duration = Duration::from_secs(2);

/// What a failover under load showed, on the load's clock.
struct Failover {
    killed_at: Duration,
    old_primary: String,
    /// The monitor named a new writable primary, from the kill.
    promoted: Option<Duration>,
}

pub(super) async fn failover(
    shop: &Shop<'_>,
    bench: Bench,
    formation: &mut Formation,
    row: &mut Row,
) -> anyhow::Result<()> {
    let load = bench.load(shop);
    let crash = crash_primary(shop, &load, formation).await;
    let (direct, refused) = if crash.is_ok() {
        sleep(shop.suite.timing.after).await;
        bench.each_server_takes_writes(load.clock()).await
    } else {
        (Vec::new(), Vec::new())
    };
    let mut records = load.finish().await;
    let crash = crash?;
    records.extend(direct);
    bench
        .finish(shop, &records, Gateway::UnknownOutcome, true, row)
        .await?;
    judge_failover(&records, &crash, row);
    if refused.is_empty() {
        row.notes.push(
            "each of the 3 servers placed a purchase sent straight to it after the failover"
                .to_owned(),
        );
    } else {
        fail(
            row,
            format!("server(s) {refused:?} took no purchase after the failover"),
        );
    }
    Ok(())
}

pub(super) async fn rejoin(
    shop: &Shop<'_>,
    bench: Bench,
    formation: &mut Formation,
    row: &mut Row,
) -> anyhow::Result<()> {
    let load = bench.load(shop);
    let crash = crash_primary(shop, &load, formation).await;
    let rejoined = match &crash {
        Ok(crash) => Some(bring_back(shop, &load, formation, &crash.old_primary).await),
        Err(_) => None,
    };
    sleep(shop.suite.timing.after).await;
    let records = load.finish().await;
    let crash = crash?;
    bench
        .finish(shop, &records, Gateway::UnknownOutcome, true, row)
        .await?;
    judge_failover(&records, &crash, row);
    let rejoined = rejoined.context("no rejoin without a failover")??;
    let during = answered_within(&records, rejoined.started, rejoined.ended);
    row.notes.push(format!(
        "{} started again {:.1} s after the kill: secondary in {:.1} s, streaming in the quorum after {}; answers meanwhile: {}",
        crash.old_primary,
        rejoined.started.saturating_sub(crash.killed_at).as_secs_f64(),
        rejoined.secondary.as_secs_f64(),
        rejoined.synchronous.map_or_else(
            || "NOT within the bound".to_owned(),
            |took| format!("{:.1} s", took.as_secs_f64())
        ),
        describe(&during)
    ));
    if !rejoined.in_recovery {
        fail(
            row,
            format!("{} is not in recovery: not a standby", crash.old_primary),
        );
    }
    match rejoined.synchronous {
        Some(took) if took <= REJOIN_BOUND => {}
        _ => fail(
            row,
            format!("the old primary was not the synchronous standby within {REJOIN_BOUND:?}"),
        ),
    }
    let stall = longest_gap(&records, rejoined.started, rejoined.ended);
    row.notes.push(format!(
        "longest time without an order while it rejoined: {:.2} s",
        stall.as_secs_f64()
    ));
    let odd = unexpected(&during);
    if !odd.is_empty() {
        fail(
            row,
            format!(
                "answers while the old primary rejoined neither placed nor a 503 with Retry-After: {}",
                describe(&odd)
            ),
        );
    }
    if stall > REJOIN_STALL_BOUND {
        fail(
            row,
            format!("writes stalled {stall:?} while the old primary rejoined"),
        );
    }
    Ok(())
}

/// Load for the warm-up, then the primary's node killed; returns once a
/// purchase sent after the kill was placed and the monitor names the new
/// primary (or [`WRITES_BACK_BOUND`] passed).
async fn crash_primary(
    shop: &Shop<'_>,
    load: &Load,
    formation: &mut Formation,
) -> anyhow::Result<Failover> {
    sleep(shop.suite.timing.warmup).await;
    let old_primary = formation
        .primary()
        .await?
        .context("the formation has no primary before the kill")?
        .name;
    let killed_at = load.elapsed();
    formation.kill_node(&old_primary)?;
    let mut promoted = None;
    while load.elapsed().saturating_sub(killed_at) < WRITES_BACK_BOUND {
        if promoted.is_none()
            && let Ok(states) = formation.states().await
            && states.iter().any(|node| {
                node.name != old_primary && node.goal_is_writable() && node.reported == node.goal
            })
        {
            promoted = Some(load.elapsed().saturating_sub(killed_at));
        }
        if promoted.is_some() && load.created_sent_after(killed_at) {
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    Ok(Failover {
        killed_at,
        old_primary,
        promoted,
    })
}

/// The failover's figures and verdicts, in the row.
fn judge_failover(records: &[Record], crash: &Failover, row: &mut Row) {
    let at = crash.killed_at;
    let back = writes_back(records, at);
    let ended = back.map_or(at + WRITES_BACK_BOUND, |back| at + back);
    let during = answered_within(records, at, ended);
    let odd = unexpected(&during);
    row.notes.push(format!(
        "{} killed at {:.1} s; monitor promoted the standby after {}",
        crash.old_primary,
        at.as_secs_f64(),
        crash.promoted.map_or_else(
            || "NOT within the bound".to_owned(),
            |took| format!("{:.1} s", took.as_secs_f64())
        )
    ));
    match back {
        Some(window) => row.notes.push(format!(
            "WINDOW {:.2} s to the first order sent after the kill (target {} s: {})",
            window.as_secs_f64(),
            WINDOW_TARGET.as_secs(),
            if window <= WINDOW_TARGET {
                "MET"
            } else {
                "MISSED"
            }
        )),
        None => fail(
            row,
            format!("no order placed within {WRITES_BACK_BOUND:?} of the kill"),
        ),
    }
    if let Some((first, last)) = failing_span(records, at) {
        row.notes.push(format!(
            "purchases not placed from +{:.2} s to +{:.2} s",
            first.as_secs_f64(),
            last.as_secs_f64()
        ));
    }
    row.notes
        .push(format!("answers in the window: {}", describe(&during)));
    if !odd.is_empty() {
        fail(
            row,
            format!(
                "answers in the window neither placed nor a 503 with Retry-After: {}",
                describe(&odd)
            ),
        );
    }
}

/// What bringing the old primary back showed.
struct Rejoined {
    /// When its node was started and when it was synchronous again (or
    /// the bound passed), on the load's clock.
    started: Duration,
    ended: Duration,
    /// From the start to the monitor's secondary (and a read-only session
    /// there).
    secondary: Duration,
    /// From the start to streaming in the primary's quorum.
    synchronous: Option<Duration>,
    in_recovery: bool,
}

async fn bring_back(
    shop: &Shop<'_>,
    load: &Load,
    formation: &mut Formation,
    old_primary: &str,
) -> anyhow::Result<Rejoined> {
    sleep(shop.suite.timing.after).await;
    let started = load.elapsed();
    formation.start_node(old_primary)?;
    let secondary = formation.wait_ready_async(REJOIN_BOUND).await?;
    let synchronous = wait_synchronous(
        shop.url,
        REJOIN_BOUND.saturating_sub(load.elapsed().saturating_sub(started)),
    )
    .await
    .map(|_| load.elapsed().saturating_sub(started));
    let ended = load.elapsed();
    let node = connect(&formation.node_url(old_primary, "postgres")?).await?;
    let in_recovery: bool = node
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .context("asking the old primary whether it is a standby")?
        .try_get(0)?;
    Ok(Rejoined {
        started,
        ended,
        secondary,
        synchronous,
        in_recovery,
    })
}
