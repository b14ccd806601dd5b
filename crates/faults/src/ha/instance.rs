//! `instance`: one of the three servers killed with SIGKILL under the load
//! through nginx. nginx must route around it: a purchase it had passed to
//! the dead server is answered 502 (nginx never passes a sent POST on), the
//! buyer sends it again with its key, and the key decides: replayed when
//! the dead server had committed it, made now when it had not. New
//! purchases meant for the dead server are passed to the others (its
//! connection is refused before anything is sent). Passes when every
//! purchase ended with a definite answer, every order answered 201 is in
//! the database exactly once, key by key, and the database holds no more
//! orders than placed and unknown keys.

use std::collections::HashMap;
use std::time::Duration;

use recordshop_harness::api::Reply;
use tokio::time::sleep;
use uuid::Uuid;

use super::window::{answered_within, describe};
use super::{Bench, Shop};
use crate::load::{Record, is_gateway};
use crate::report::Row;
use crate::scenario::{Gateway, fail};

/// Which server dies: the middle one, so nginx's round robin meets it
/// between two live ones.
const VICTIM: usize = 1;
/// Load after the kill: past nginx's 5 s rest of a failed server, so the
/// dead one is tried (and refused) again.
const AFTER_KILL: Duration = Duration::from_secs(7);

pub(super) async fn instance(
    shop: &Shop<'_>,
    mut bench: Bench,
    row: &mut Row,
) -> anyhow::Result<()> {
    let load = bench.load(shop);
    sleep(shop.suite.timing.warmup).await;
    let killed_at = load.elapsed();
    let killed = bench.fleet.kill9(VICTIM);
    if killed.is_ok() {
        sleep(AFTER_KILL).await;
    }
    let records = load.finish().await;
    killed?;
    let dead = format!("127.0.0.1:{}", bench.fleet.launches()[VICTIM].port());
    let routing = bench
        .fleet
        .proxy()
        .map(|proxy| Routing::read(&proxy.access_log(), &dead));
    let (_, keyed) = bench
        .finish(shop, &records, Gateway::UnknownOutcome, false, row)
        .await?;

    let after = answered_within(&records, killed_at, Duration::MAX);
    row.notes.push(format!(
        "server {} ({dead}) killed at {:.1} s; answers after: {}",
        VICTIM + 1,
        killed_at.as_secs_f64(),
        describe(&after)
    ));
    let retries = Retries::of(&records);
    row.notes.push(retries.text());
    if let Some(Ok(routing)) = &routing {
        row.notes.push(routing.text());
    }
    row.notes.push(keyed.text());
    if retries.unresolved > 0 {
        fail(
            row,
            format!(
                "LOST: {} purchase(s) without a definite answer after their retry",
                retries.unresolved
            ),
        );
    }
    let placed_after = after
        .iter()
        .filter(|record| record.outcome.is_created() || record.outcome.is_accepted())
        .count();
    if placed_after == 0 {
        fail(row, "no order placed after the kill".to_owned());
    }
    Ok(())
}

/// What the retries did.
#[derive(Debug, Default, PartialEq, Eq)]
struct Retries {
    /// First attempts answered 502/504 or not at all.
    failed_first: usize,
    /// Retries answered from the key: the dead server had committed them.
    replayed: usize,
    /// Retries that placed the purchase now.
    made_now: usize,
    /// Keys whose last attempt still had no definite answer.
    unresolved: usize,
}

impl Retries {
    fn of(records: &[Record]) -> Self {
        let mut last: HashMap<Uuid, &Record> = HashMap::new();
        let mut retries = Self::default();
        for record in records {
            if record.attempt == 1 && unknown(&record.outcome) {
                retries.failed_first += 1;
            }
            if record.attempt == 2 {
                match &record.outcome {
                    Reply::Answer(answer) if answer.created.is_some() && answer.replayed => {
                        retries.replayed += 1;
                    }
                    Reply::Answer(answer) if answer.created.is_some() => retries.made_now += 1,
                    _ => {}
                }
            }
            let newest = last.entry(record.key).or_insert(record);
            if record.attempt > newest.attempt {
                *newest = record;
            }
        }
        retries.unresolved = last
            .values()
            .filter(|record| unknown(&record.outcome))
            .count();
        retries
    }

    fn text(&self) -> String {
        format!(
            "first attempts answered 502/504 or not at all: {}; their retries with the key: {} replayed (committed by the dead server), {} placed now; unresolved: {}",
            self.failed_first, self.replayed, self.made_now, self.unresolved
        )
    }
}

/// A purchase whose outcome its buyer cannot know: no answer, or a 502 or
/// 504 from the proxy.
fn unknown(outcome: &Reply) -> bool {
    match outcome {
        Reply::Answer(answer) => is_gateway(answer.status),
        Reply::Lost(_) => true,
        Reply::NotSent(_) => false,
    }
}

/// What nginx's access log says of the dead server.
#[derive(Debug, Default, PartialEq, Eq)]
struct Routing {
    /// Requests nginx tried on it first and passed to another server.
    passed_on: usize,
    /// Requests answered 502 by nginx.
    bad_gateway: usize,
    /// Requests it answered (before the kill).
    served: usize,
}

impl Routing {
    fn read(log: &std::path::Path, dead: &str) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(log)?;
        Ok(Self::parse(&text, dead))
    }

    /// Lines as the harness's nginx writes them: `… METHOD URI STATUS TIME
    /// upstream="a, b" upstream_status="502, 201"`.
    fn parse(text: &str, dead: &str) -> Self {
        let mut routing = Self::default();
        for line in text.lines() {
            let Some(upstreams) = quoted(line, "upstream=\"") else {
                continue;
            };
            let tried: Vec<&str> = upstreams.split(", ").collect();
            let bad_gateway = line.contains(" 502 ");
            routing.bad_gateway += usize::from(bad_gateway);
            if tried.first() == Some(&dead) {
                if tried.len() > 1 {
                    routing.passed_on += 1;
                } else if !bad_gateway {
                    routing.served += 1;
                }
            }
        }
        routing
    }

    fn text(&self) -> String {
        format!(
            "nginx: {} request(s) answered by the killed server before, {} tried on it after and passed on, {} answered 502",
            self.served, self.passed_on, self.bad_gateway
        )
    }
}

/// The text between `prefix` and the next `"` in `line`.
fn quoted<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let start = line.find(prefix)? + prefix.len();
    let rest = &line[start..];
    Some(&rest[..rest.find('"')?])
}

#[cfg(test)]
mod tests {
    use recordshop_harness::api::{Answer, Failure};

    use super::*;

    fn record(key: u128, attempt: u8, outcome: Reply) -> Record {
        Record {
            sent: Duration::ZERO,
            done: Duration::ZERO,
            outcome,
            key: Uuid::from_u128(key),
            attempt,
        }
    }

    fn created(replayed: bool) -> Reply {
        Reply::Answer(Answer {
            status: 201,
            code: None,
            retry_after: false,
            created: Some(Uuid::nil()),
            replayed,
        })
    }

    #[test]
    fn retries_are_told_apart_by_what_the_key_answered() {
        let records = [
            record(1, 1, Reply::answered(502, None)),
            record(1, 2, created(true)),
            record(2, 1, Reply::Lost(Failure::Io)),
            record(2, 2, created(false)),
            record(3, 1, Reply::answered(502, None)),
            record(3, 2, Reply::answered(502, None)),
            record(4, 1, created(false)),
        ];
        assert_eq!(
            Retries::of(&records),
            Retries {
                failed_first: 3,
                replayed: 1,
                made_now: 1,
                unresolved: 1,
            }
        );
    }

    #[test]
    fn the_access_log_tells_what_nginx_did_with_the_dead_server() {
        let log = "\
127.0.0.1 [t] POST /purchase-orders 201 0.003 upstream=\"127.0.0.1:2\" upstream_status=\"201\"
127.0.0.1 [t] POST /purchase-orders 502 0.003 upstream=\"127.0.0.1:2\" upstream_status=\"502\"
127.0.0.1 [t] POST /purchase-orders 201 0.003 upstream=\"127.0.0.1:2, 127.0.0.1:3\" upstream_status=\"502, 201\"
127.0.0.1 [t] POST /purchase-orders 201 0.003 upstream=\"127.0.0.1:3\" upstream_status=\"201\"
";
        assert_eq!(
            Routing::parse(log, "127.0.0.1:2"),
            Routing {
                passed_on: 1,
                bad_gateway: 1,
                served: 1,
            }
        );
    }
}
