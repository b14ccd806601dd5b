//! `standby`: the synchronous standby's node crashes under the load. Every
//! commit then waits for a standby that is gone, until the monitor puts
//! the primary in `wait_primary` (synchronous replication off; see the
//! formation's documentation for what that risks); from then on writes go
//! on, on the primary alone. Measured: that stall, as the longest time
//! without a placed order (beside the longest before the kill), and when
//! the monitor switched. Then the standby is started again and must be the
//! streaming, synchronous secondary within [`BACK_BOUND`]. Passes when
//! writes went on (no stretch past [`STALL_BOUND`] without an order), no
//! answer was other than placed or a 503 `unavailable`, and nothing
//! answered 201 is lost.

use std::time::Duration;

use anyhow::Context;
use recordshop_harness::postgres::Formation;
use tokio::time::sleep;

use super::window::{answered_within, describe, longest_gap, unexpected};
use super::{Bench, Shop, wait_synchronous};
use crate::load::Load;
use crate::report::Row;
use crate::scenario::{Gateway, fail};

/// How long the standby stays down: past the stall, so the load shows the
/// primary writing alone.
const DOWN_FOR: Duration = Duration::from_secs(8);
/// Writes blocked longer than this: they did not go on.
const STALL_BOUND: Duration = Duration::from_secs(10);
/// The monitor's switch to `wait_primary`, and the standby's return.
const MONITOR_BOUND: Duration = Duration::from_secs(20);
const BACK_BOUND: Duration = Duration::from_secs(60);

pub(super) async fn standby(
    shop: &Shop<'_>,
    bench: Bench,
    formation: &mut Formation,
    row: &mut Row,
) -> anyhow::Result<()> {
    let load = bench.load(shop);
    let outage = take_standby_down(shop, &load, formation).await;
    sleep(shop.suite.timing.after).await;
    let records = load.finish().await;
    let outage = outage?;
    bench
        .finish(shop, &records, Gateway::UnknownOutcome, false, row)
        .await?;

    let stall = longest_gap(&records, outage.killed_at, outage.restarted_at);
    let before = longest_gap(&records, shop.suite.timing.warmup / 3, outage.killed_at);
    let down = answered_within(&records, outage.killed_at, outage.restarted_at);
    let back = answered_within(&records, outage.restarted_at, outage.ended);
    row.notes.push(format!(
        "{} killed at {:.1} s; primary in wait_primary after {}",
        outage.standby,
        outage.killed_at.as_secs_f64(),
        outage.wait_primary.map_or_else(
            || "NOT within the bound".to_owned(),
            |took| format!("{:.1} s", took.as_secs_f64())
        )
    ));
    row.notes.push(format!(
        "STALL {:.2} s without an order (longest before the kill {:.2} s)",
        stall.as_secs_f64(),
        before.as_secs_f64()
    ));
    row.notes
        .push(format!("answers while it was down: {}", describe(&down)));
    row.notes.push(format!(
        "started again after {:.1} s down: secondary in {:.1} s, synchronous after {}; answers meanwhile: {}",
        outage.restarted_at.saturating_sub(outage.killed_at).as_secs_f64(),
        outage.secondary.as_secs_f64(),
        outage.synchronous.map_or_else(
            || "NOT within the bound".to_owned(),
            |took| format!("{:.1} s", took.as_secs_f64())
        ),
        describe(&back)
    ));
    if stall > STALL_BOUND {
        fail(
            row,
            format!("writes did not go on: {stall:?} without an order"),
        );
    }
    let odd: Vec<_> = unexpected(&down)
        .into_iter()
        .chain(unexpected(&back))
        .collect();
    if !odd.is_empty() {
        fail(
            row,
            format!(
                "answers neither placed nor a 503 with Retry-After: {}",
                describe(&odd)
            ),
        );
    }
    if outage.synchronous.is_none() {
        fail(
            row,
            format!("the standby was not synchronous again within {BACK_BOUND:?}"),
        );
    }
    Ok(())
}

/// The standby's outage, on the load's clock.
struct Outage {
    standby: String,
    killed_at: Duration,
    /// From the kill to the primary's `wait_primary`.
    wait_primary: Option<Duration>,
    restarted_at: Duration,
    /// From the restart to the monitor's secondary, and to streaming in
    /// the quorum.
    secondary: Duration,
    synchronous: Option<Duration>,
    ended: Duration,
}

async fn take_standby_down(
    shop: &Shop<'_>,
    load: &Load,
    formation: &mut Formation,
) -> anyhow::Result<Outage> {
    sleep(shop.suite.timing.warmup).await;
    let standby = formation
        .states()
        .await?
        .into_iter()
        .find(|node| node.is("secondary"))
        .context("the formation has no secondary before the kill")?
        .name;
    let killed_at = load.elapsed();
    formation.kill_node(&standby)?;
    let mut wait_primary = None;
    while load.elapsed().saturating_sub(killed_at) < DOWN_FOR.max(MONITOR_BOUND) {
        if wait_primary.is_none()
            && let Ok(states) = formation.states().await
            && states.iter().any(|node| node.is("wait_primary"))
        {
            wait_primary = Some(load.elapsed().saturating_sub(killed_at));
        }
        if wait_primary.is_some() && load.elapsed().saturating_sub(killed_at) >= DOWN_FOR {
            break;
        }
        sleep(Duration::from_millis(50)).await;
    }
    let restarted_at = load.elapsed();
    formation.start_node(&standby)?;
    let secondary = formation.wait_ready_async(BACK_BOUND).await?;
    let synchronous = wait_synchronous(shop.url, BACK_BOUND)
        .await
        .map(|_| load.elapsed().saturating_sub(restarted_at));
    Ok(Outage {
        standby,
        killed_at,
        wait_primary,
        restarted_at,
        secondary,
        synchronous,
        ended: load.elapsed(),
    })
}
