//! Bounded retries of units of work that the store aborted for contention.
//!
//! Only the optimistic strategy makes conflicts routine, but any strategy
//! can meet a deadlock, so every service that writes goes through here.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::StoreError;

/// How many times, and for how long, a conflicting unit of work is retried.
///
/// Delays grow exponentially from `base_delay` up to `max_delay` and each is
/// drawn uniformly from zero to that ceiling ("full jitter"), so retries of
/// transactions that collided once do not collide again in lock-step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; at least 1.
    pub max_attempts: u32,
    /// Ceiling of the first delay.
    pub base_delay: Duration,
    /// Ceiling of any single delay.
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub budget: Duration,
}

/// The defaults let a launch-day burst on one disc (90 buyers arriving at
/// once, the original service's siege shape) drain under the optimistic
/// strategy without a single `contention` answer: with 10 attempts a few
/// unlucky buyers lost every race; 30 keeps the bound while the time budget
/// is what really limits a request's wait.
impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 30,
            base_delay: Duration::from_millis(2),
            max_delay: Duration::from_millis(100),
            budget: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// One attempt, never a retry.
    pub const NEVER: Self = Self {
        max_attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        budget: Duration::ZERO,
    };

    /// Ceiling of the delay before retry number `retry` (1-based).
    fn delay_ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Errors that may mean "a concurrent unit of work won; try again".
pub trait MaybeConflict {
    /// True when retrying the same unit of work may succeed.
    fn is_conflict(&self) -> bool;
}

impl MaybeConflict for StoreError {
    fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict)
    }
}

/// Runs `attempt` until it succeeds, fails with a non-conflict error, or the
/// policy is exhausted; then returns its last result.
pub(crate) async fn retry_on_conflict<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut attempt: F,
) -> Result<T, E>
where
    E: MaybeConflict,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let started = Instant::now();
    let mut attempts = 1;
    loop {
        let result = attempt().await;
        match &result {
            Err(error) if error.is_conflict() && attempts < policy.max_attempts => {
                let ceiling = policy.delay_ceiling(attempts);
                // Whole milliseconds: what tokio's timer sleeps (it rounds a
                // deadline up to its next millisecond), so the budget check
                // below counts the wait that will really happen.
                let jittered = ceiling.mul_f64(fastrand::f64());
                let delay = Duration::from_millis(
                    u64::try_from(jittered.as_micros().div_ceil(1000)).unwrap_or(u64::MAX),
                );
                if started.elapsed() + delay >= policy.budget {
                    tracing::debug!(attempts, "conflict retry budget spent");
                    return result;
                }
                tracing::debug!(attempts, ?delay, "unit of work conflicted; retrying");
                tokio::time::sleep(delay).await;
                attempts += 1;
            }
            _ => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn conflicts_then_ok(
        failures: u32,
        calls: &AtomicU32,
    ) -> impl Future<Output = Result<u32, StoreError>> + '_ {
        let call = calls.fetch_add(1, Ordering::SeqCst) + 1;
        async move {
            if call <= failures {
                Err(StoreError::Conflict)
            } else {
                Ok(call)
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_within_the_policy() {
        let calls = AtomicU32::new(0);
        let result =
            retry_on_conflict(&RetryPolicy::default(), || conflicts_then_ok(3, &calls)).await;
        assert_eq!(result.ok(), Some(4));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let result = retry_on_conflict(&policy, || conflicts_then_ok(u32::MAX, &calls)).await;
        assert!(matches!(result, Err(StoreError::Conflict)));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_the_time_budget_is_spent() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy {
            max_attempts: u32::MAX,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(50),
            budget: Duration::from_millis(200),
        };
        let started = Instant::now();
        let result = retry_on_conflict(&policy, || conflicts_then_ok(u32::MAX, &calls)).await;
        assert!(matches!(result, Err(StoreError::Conflict)));
        assert!(started.elapsed() < Duration::from_millis(200));
        assert!(calls.load(Ordering::SeqCst) >= 2);
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let result: Result<(), StoreError> = retry_on_conflict(&RetryPolicy::default(), || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(StoreError::Unavailable(anyhow::anyhow!("down"))) }
        })
        .await;
        assert!(matches!(result, Err(StoreError::Unavailable(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn delay_ceiling_grows_then_caps() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay_ceiling(1), Duration::from_millis(2));
        assert_eq!(policy.delay_ceiling(3), Duration::from_millis(8));
        assert_eq!(policy.delay_ceiling(40), Duration::from_millis(100));
    }
}
