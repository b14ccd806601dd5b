use std::fmt;
use std::str::FromStr;

use tokio_postgres::IsolationLevel;

/// How concurrent writers to the same disc row are kept from overselling or
/// losing updates. Chosen once at start; it changes how the adapter runs its
/// units of work, never what the domain decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcurrencyStrategy {
    /// READ COMMITTED, and `SELECT … FOR UPDATE` on the disc row before
    /// deciding: writers queue on the row lock and never conflict.
    Pessimistic,
    /// REPEATABLE READ with plain reads: the first writer wins and the others
    /// fail with a serialization error, which the domain retries.
    Optimistic,
    /// A purchase is one statement in READ COMMITTED (autocommit): the
    /// customer check, a conditional decrement (`… WHERE quantity >= $n`)
    /// and the order insert in one CTE. No read-modify-write window and one
    /// round trip; a failed purchase costs one more read to name the reason.
    /// Restocks and cancellations follow the pessimistic discipline.
    Atomic,
    /// Purchases of the same disc that arrive together are combined into one
    /// READ COMMITTED transaction: one row lock, units allocated in arrival
    /// order, one multi-row insert, one commit, each caller answered on its
    /// own. The row lock keeps several server processes correct. Restocks
    /// and cancellations follow the pessimistic discipline.
    Batched,
    /// A purchase is recorded `pending` by one statement that takes no lock
    /// on the disc, and answered at once (202); allocation workers in every
    /// server process decide pending orders per disc in arrival order, in
    /// batches (`FOR NO KEY UPDATE SKIP LOCKED` on the disc). Restocks and
    /// cancellations follow the pessimistic discipline.
    Queued,
    /// `batched` while it answers within a latency budget; past it, a
    /// circuit breaker sends purchases to the `queued` intake until probes
    /// are fast again (see `orders/hybrid.rs`). A batch that finds pending
    /// orders of its disc queues behind them, so the two paths keep one
    /// arrival order. Restocks and cancellations follow the pessimistic
    /// discipline.
    Hybrid,
}

impl ConcurrencyStrategy {
    /// Every strategy, in the order they are documented.
    pub const ALL: [Self; 6] = [
        Self::Pessimistic,
        Self::Optimistic,
        Self::Atomic,
        Self::Batched,
        Self::Queued,
        Self::Hybrid,
    ];

    /// The strategies that always decide a purchase within its request (201
    /// or the refusal), unlike [`ConcurrencyStrategy::Queued`] and, when its
    /// breaker is open, [`ConcurrencyStrategy::Hybrid`].
    pub const SYNCHRONOUS: [Self; 4] = [
        Self::Pessimistic,
        Self::Optimistic,
        Self::Atomic,
        Self::Batched,
    ];

    /// Whether a purchase is always decided within its request.
    #[must_use]
    pub const fn is_synchronous(self) -> bool {
        !matches!(self, Self::Queued | Self::Hybrid)
    }

    /// The isolation level of the units of work that write stock.
    pub(crate) const fn isolation_level(self) -> IsolationLevel {
        match self {
            // REPEATABLE READ turns a concurrent write to a row this unit of
            // work read into a serialization failure instead of a lost update.
            Self::Optimistic => IsolationLevel::RepeatableRead,
            // Row locks (or a single conditional UPDATE) make READ COMMITTED
            // safe: a locked row is re-read at its latest committed version.
            Self::Pessimistic | Self::Atomic | Self::Batched | Self::Queued | Self::Hybrid => {
                IsolationLevel::ReadCommitted
            }
        }
    }

    /// Whether multi-statement units of work (restocks, cancellations, the
    /// pessimistic and batched purchases) lock the rows they read with
    /// `SELECT … FOR UPDATE`. Only the optimistic strategy reads without.
    pub(crate) const fn locks_rows(self) -> bool {
        !matches!(self, Self::Optimistic)
    }

    /// The name used in configuration and reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pessimistic => "pessimistic",
            Self::Optimistic => "optimistic",
            Self::Atomic => "atomic",
            Self::Batched => "batched",
            Self::Queued => "queued",
            Self::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for ConcurrencyStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A strategy name that is not one of [`ConcurrencyStrategy::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown concurrency strategy {0:?}; accepted: {accepted}", accepted = accepted_names())]
pub struct UnknownStrategy(String);

/// "pessimistic, optimistic, …", from [`ConcurrencyStrategy::ALL`] so the
/// message cannot fall behind the enum.
fn accepted_names() -> String {
    ConcurrencyStrategy::ALL
        .map(ConcurrencyStrategy::as_str)
        .join(", ")
}

/// As its name, so reports and results files read like the configuration.
impl serde::Serialize for ConcurrencyStrategy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl FromStr for ConcurrencyStrategy {
    type Err = UnknownStrategy;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == raw)
            .ok_or_else(|| UnknownStrategy(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_strategy_round_trips_through_its_name() {
        for strategy in ConcurrencyStrategy::ALL {
            assert_eq!(
                strategy.as_str().parse::<ConcurrencyStrategy>().ok(),
                Some(strategy)
            );
        }
    }

    #[test]
    fn an_unknown_name_lists_every_accepted_one() {
        let error = "yolo"
            .parse::<ConcurrencyStrategy>()
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some(
                "unknown concurrency strategy \"yolo\"; accepted: pessimistic, optimistic, atomic, batched, queued, hybrid"
            )
        );
    }
}
