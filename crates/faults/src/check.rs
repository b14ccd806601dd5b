//! What the database says after a scenario, read once its server stopped:
//! the harness's verdict on the stock ledger, whether every order
//! answered 201 is there, confirmed, and, for a load with a key on every
//! purchase, that no purchase made two orders.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Context;
use recordshop_harness::api::Reply;
use recordshop_harness::ledger::{Verdict, confirmed_orders_among};
use recordshop_harness::postgres::{DatabaseUrl, connect};
use uuid::Uuid;

use crate::load::{Record, is_gateway};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Check {
    pub ledger: Verdict,
    /// Distinct orders answered 201: a replay names an order an earlier
    /// answer already named.
    pub answered_orders: usize,
    /// Orders answered 201 that are not in the database as confirmed.
    pub missing: usize,
}

/// Reads the ledger of `database` and looks for the `answered` orders.
pub async fn run(database: &DatabaseUrl, answered: &[Uuid]) -> anyhow::Result<Check> {
    let ledger = Verdict::read(database).await?;
    let mut ids = answered.to_vec();
    ids.sort();
    ids.dedup();
    let found = confirmed_orders_among(database, &ids).await?;
    Ok(Check {
        ledger,
        answered_orders: ids.len(),
        // Ids are unique per order, so a shortfall is a lost order.
        missing: ids.len().saturating_sub(found),
    })
}

/// What the idempotency keys say of the orders, for a load whose every
/// purchase carried a key of its own (a retry its first attempt's): one
/// purchase, one key, at most one order, however many times it was sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Keyed {
    /// Keys the load sent.
    pub keys: usize,
    /// Keys answered 201 or 202 (by either attempt).
    pub placed: usize,
    /// Keys with no 201/202 whose outcome the client could not know (no
    /// answer, or a proxy's 502/504): each may or may not have an order.
    pub unknown: usize,
    /// Orders in the database.
    pub orders: usize,
    /// Orders no key of a purchase names: made by no purchase the load
    /// sent.
    pub orders_without_key: usize,
    /// Keys whose answers named two orders, or another order than the one
    /// their key holds: a purchase executed twice.
    pub duplicated: usize,
    /// Keys answered 201/202 that the database does not hold.
    pub lost: usize,
    /// Keys answered, but never 201/202, whose purchase committed all the
    /// same, and what their attempts were answered.
    pub committed_refused: usize,
    pub committed_refused_answers: BTreeMap<String, usize>,
}

impl Keyed {
    /// Every order one placed or unknown key's, and no key twice.
    pub fn holds(&self) -> bool {
        self.orders_without_key == 0
            && self.duplicated == 0
            && self.lost == 0
            && self.committed_refused == 0
            && self.orders <= self.placed + self.unknown
    }

    /// Whether the only fault is orders committed whose every answer was
    /// a 503 `unavailable`: what a server says when its connection dies
    /// under a COMMIT the database then kept (the primary crashed after its
    /// synchronous standby had the commit, before the server heard back).
    /// The server cannot tell that from a commit that never happened; a
    /// retry with the key is answered from it.
    pub fn only_cut_commits(&self) -> bool {
        self.committed_refused > 0
            && self
                .committed_refused_answers
                .keys()
                .all(|label| label == "503 unavailable")
            && Keyed {
                committed_refused: 0,
                unknown: self.unknown + self.committed_refused,
                ..self.clone()
            }
            .holds()
    }

    /// `orders/keys` in a note.
    pub fn text(&self) -> String {
        format!(
            "keys: {} sent, {} placed, {} of unknown outcome; orders in DB {} (≤ placed + unknown), \
             {} without a key, {} key(s) with two orders, {} placed key(s) missing, \
             {} committed though never answered 201/202{}",
            self.keys,
            self.placed,
            self.unknown,
            self.orders,
            self.orders_without_key,
            self.duplicated,
            self.lost,
            self.committed_refused,
            if self.committed_refused == 0 {
                String::new()
            } else {
                let answers: Vec<String> = self
                    .committed_refused_answers
                    .iter()
                    .map(|(label, count)| format!("{label}×{count}"))
                    .collect();
                format!(" (answered {})", answers.join(", "))
            }
        )
    }
}

/// Reads the purchase keys and the orders of `database` and judges them
/// against `records`.
pub async fn keyed(database: &DatabaseUrl, records: &[Record]) -> anyhow::Result<Keyed> {
    let client = connect(database).await?;
    let rows = client
        .query(
            "SELECT key, resource_id FROM idempotency_keys \
             WHERE operation = 'purchase_order' AND resource_id IS NOT NULL",
            &[],
        )
        .await
        .context("reading the purchase keys")?;
    let mut held = HashMap::with_capacity(rows.len());
    for row in rows {
        held.insert(row.try_get::<_, String>(0)?, row.try_get::<_, Uuid>(1)?);
    }
    let orders = client
        .query("SELECT id FROM purchase_orders", &[])
        .await
        .context("reading the order ids")?
        .iter()
        .map(|row| row.try_get::<_, Uuid>(0))
        .collect::<Result<HashSet<Uuid>, _>>()?;
    Ok(judge_keys(records, &held, &orders))
}

/// [`keyed`]'s verdict on what was read: `held` maps each key to its
/// order.
pub fn judge_keys(
    records: &[Record],
    held: &HashMap<String, Uuid>,
    orders: &HashSet<Uuid>,
) -> Keyed {
    // Per key: the orders its answers named, whether an attempt's outcome
    // is unknown, and every answer.
    let mut sent: HashMap<Uuid, (HashSet<Uuid>, bool, Vec<String>)> = HashMap::new();
    for record in records {
        let (named, unknown, answers) = sent.entry(record.key).or_default();
        answers.push(record.outcome.label());
        match &record.outcome {
            Reply::Answer(answer) => {
                if let Some(id) = answer.created {
                    named.insert(id);
                }
                *unknown |= is_gateway(answer.status);
            }
            Reply::Lost(_) => *unknown = true,
            Reply::NotSent(_) => {}
        }
    }
    let mut verdict = Keyed {
        keys: sent.len(),
        orders: orders.len(),
        ..Keyed::default()
    };
    for (key, (named, unknown, answers)) in &sent {
        let holds = held.get(&key.to_string());
        if named.is_empty() {
            if *unknown {
                verdict.unknown += 1;
            } else if holds.is_some_and(|order| orders.contains(order)) {
                verdict.committed_refused += 1;
                for label in answers {
                    *verdict
                        .committed_refused_answers
                        .entry(label.clone())
                        .or_default() += 1;
                }
            }
            continue;
        }
        verdict.placed += 1;
        match holds {
            None => verdict.lost += 1,
            Some(order) if named.len() > 1 || !named.contains(order) => verdict.duplicated += 1,
            Some(order) if !orders.contains(order) => verdict.lost += 1,
            Some(_) => {}
        }
    }
    let keyed: HashSet<&Uuid> = held.values().collect();
    verdict.orders_without_key = orders.iter().filter(|id| !keyed.contains(id)).count();
    verdict
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use recordshop_harness::api::{Answer, Failure};

    use super::*;

    fn record(key: u128, outcome: Reply) -> Record {
        Record {
            sent: Duration::ZERO,
            done: Duration::ZERO,
            outcome,
            key: Uuid::from_u128(key),
            attempt: 1,
        }
    }

    fn created(order: u128) -> Reply {
        Reply::Answer(Answer {
            status: 201,
            code: None,
            retry_after: false,
            created: Some(Uuid::from_u128(order)),
            replayed: false,
        })
    }

    fn held(pairs: &[(u128, u128)]) -> (HashMap<String, Uuid>, HashSet<Uuid>) {
        let held = pairs
            .iter()
            .map(|(key, order)| (Uuid::from_u128(*key).to_string(), Uuid::from_u128(*order)))
            .collect();
        let orders = pairs
            .iter()
            .map(|(_, order)| Uuid::from_u128(*order))
            .collect();
        (held, orders)
    }

    #[test]
    fn a_retried_purchase_is_one_order() {
        // Key 1: 502, then replayed 201; key 2: lost, then 201; key 3: 502
        // twice, committed by the dead instance; key 4: 503, nothing.
        let records = [
            record(1, Reply::answered(502, None)),
            record(1, created(10)),
            record(2, Reply::Lost(Failure::Io)),
            record(2, created(20)),
            record(3, Reply::answered(502, None)),
            record(3, Reply::answered(502, None)),
            record(4, Reply::answered(503, Some("unavailable"))),
        ];
        let (held, orders) = held(&[(1, 10), (2, 20), (3, 30)]);
        let verdict = judge_keys(&records, &held, &orders);
        assert!(verdict.holds(), "{verdict:?}");
        assert_eq!((verdict.keys, verdict.placed, verdict.unknown), (4, 2, 1));
        assert_eq!(verdict.orders, 3);
    }

    #[test]
    fn two_orders_for_a_key_or_a_stray_order_break_it() {
        let records = [record(1, created(10)), record(1, created(11))];
        let (held, mut orders) = held(&[(1, 10)]);
        orders.insert(Uuid::from_u128(11));
        let verdict = judge_keys(&records, &held, &orders);
        assert_eq!((verdict.duplicated, verdict.orders_without_key), (1, 1));
        assert!(!verdict.holds());
    }

    #[test]
    fn an_order_answered_unavailable_is_a_cut_commit_and_nothing_else() {
        let records = [
            record(1, created(10)),
            record(2, Reply::answered(503, Some("unavailable"))),
        ];
        let (held, orders) = held(&[(1, 10), (2, 20)]);
        let verdict = judge_keys(&records, &held, &orders);
        assert_eq!(verdict.committed_refused, 1);
        assert!(!verdict.holds());
        assert!(verdict.only_cut_commits(), "{verdict:?}");
        assert!(
            verdict.text().ends_with(
                "1 committed though never answered 201/202 (answered 503 unavailable×1)"
            )
        );
        // Answered 409, or a duplicate besides: a fault of its own.
        let refused = [record(2, Reply::answered(409, Some("out_of_stock")))];
        assert!(!judge_keys(&refused, &held, &orders).only_cut_commits());
        let twice = [
            record(1, created(10)),
            record(1, created(11)),
            record(2, Reply::answered(503, Some("unavailable"))),
        ];
        assert!(!judge_keys(&twice, &held, &orders).only_cut_commits());
    }

    #[test]
    fn a_placed_key_missing_from_the_database_is_lost() {
        let records = [record(1, created(10)), record(2, created(20))];
        let (held, orders) = held(&[(1, 10)]);
        let verdict = judge_keys(&records, &held, &orders);
        assert_eq!(verdict.lost, 1);
        assert!(!verdict.holds());
    }
}
