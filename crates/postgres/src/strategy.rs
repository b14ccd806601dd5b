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
}

impl ConcurrencyStrategy {
    /// Every strategy, in the order they are documented.
    pub const ALL: [Self; 2] = [Self::Pessimistic, Self::Optimistic];

    /// The isolation level of the units of work that write stock.
    pub(crate) const fn isolation_level(self) -> IsolationLevel {
        match self {
            // Row locks make READ COMMITTED safe: a locked row is re-read at
            // its latest committed version.
            Self::Pessimistic => IsolationLevel::ReadCommitted,
            // REPEATABLE READ turns a concurrent write to a row this unit of
            // work read into a serialization failure instead of a lost update.
            Self::Optimistic => IsolationLevel::RepeatableRead,
        }
    }

    /// The name used in configuration and reports.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pessimistic => "pessimistic",
            Self::Optimistic => "optimistic",
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
#[error("unknown concurrency strategy {0:?}; accepted: pessimistic, optimistic")]
pub struct UnknownStrategy(String);

impl FromStr for ConcurrencyStrategy {
    type Err = UnknownStrategy;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|strategy| strategy.as_str() == raw)
            .ok_or_else(|| UnknownStrategy(raw.to_owned()))
    }
}
