//! Retrying a failing dependency: a backoff, and an outage logged when it
//! begins and when it ends rather than at every retry.

use std::time::{Duration, Instant};

/// Whether a dependency is failing, so that an outage is logged when it
/// begins and when it ends, not at every retry; and the backoff of its
/// retries.
pub(crate) struct Health {
    failing_since: Option<Instant>,
    pub(crate) backoff: Backoff,
}

impl Health {
    pub(crate) fn new(backoff: Backoff) -> Self {
        Self {
            failing_since: None,
            backoff,
        }
    }

    /// Records a failure; true when it begins an outage.
    pub(crate) fn failed(&mut self) -> bool {
        let began = self.failing_since.is_none();
        self.failing_since.get_or_insert_with(Instant::now);
        began
    }

    /// Ends an outage; returns how long it lasted, if there was one.
    pub(crate) fn recovered(&mut self) -> Option<Duration> {
        self.backoff.reset();
        self.failing_since.take().map(|since| since.elapsed())
    }
}

/// Pauses between retries: `min`, doubling up to `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            next: min,
        }
    }

    pub(crate) fn next(&mut self) -> Duration {
        let pause = self.next;
        self.next = (pause * 2).min(self.max);
        pause
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_ceiling_and_resets() {
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(1));
        let pauses: Vec<_> = (0..4).map(|_| backoff.next().as_millis()).collect();
        assert_eq!(pauses, [250, 500, 1000, 1000]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(250));
    }

    #[test]
    fn an_outage_is_reported_when_it_begins_and_ends() {
        let mut health = Health::new(Backoff::new(Duration::ZERO, Duration::ZERO));
        assert!(health.recovered().is_none());
        assert!(health.failed());
        assert!(!health.failed());
        assert!(health.recovered().is_some());
        assert!(health.failed());
    }
}
