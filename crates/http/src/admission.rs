//! Admission control for purchases: past capacity, an immediate 503
//! `overloaded` with `Retry-After` instead of queues that grow until
//! buyers time out.
//!
//! The policy: at most `limit` purchases are in flight in this instance.
//! A purchase that finds them all taken joins a queue only if the queue is
//! shorter than what this instance has recently turned over within half of
//! `queue_wait` (its completion rate over the last 100 ms, times half the
//! wait, never less than `limit`; four times `limit` while no recent rate
//! is known, as at a cold start); otherwise it is refused at once. Half, so
//! that a queued purchase is normally admitted well within its wait. A queued purchase not
//! admitted within `queue_wait` is refused then. So under a flood the
//! excess is answered within microseconds, the queued ones wait about
//! `queue_wait` at most, and the admitted ones keep the database busy:
//! goodput stays at capacity while latency stays bounded.
//!
//! Why bound the queue by the rate and not by a fixed length: the rate
//! differs by two orders of magnitude between a row lock held per purchase
//! (about a thousand a second on one disc here) and `batched` on many discs,
//! and a closed loop of a hundred clients must never be refused (they wait
//! for their answers, so they cannot overload). Little's law turns the
//! wait a buyer may face into the queue that produces it.
//!
//! Why a fixed in-flight limit and not an adaptive one: the limits worth
//! having differ by strategy far more than they drift with load (one at a
//! time on a row lock wants a few dozen in flight, `batched` a few
//! batches' worth), a fixed limit is predictable at a launch, and it is
//! measured (`cargo xtask experiment`, the `overload` and `flood` studies).
//! The defaults are the binary's (`ADMISSION_LIMIT`, `ADMISSION_QUEUE_MS`).
//!
//! Why not a library: `tower`'s `ConcurrencyLimit` and `LoadShed` belong
//! to tower's service stack, which actix does not use; a semaphore with a
//! bounded queue is all this needs.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How purchases are admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AdmissionSettings {
    /// Purchases in flight at most; 0 admits every purchase.
    pub limit: usize,
    /// The longest a purchase waits for a place before it is refused; the
    /// queue is as long as the recent completion rate serves within it.
    pub queue_wait: Duration,
}

impl AdmissionSettings {
    /// No admission control: every purchase goes to the store.
    pub const UNLIMITED: Self = Self {
        limit: 0,
        queue_wait: Duration::ZERO,
    };
}

/// How often the completion rate is re-estimated.
const RATE_WINDOW: Duration = Duration::from_millis(100);
/// A window longer than this saw no queue for a while: its rate says
/// nothing about now.
const STALE_WINDOW: Duration = Duration::from_secs(1);

/// The places for purchases in flight; cheap to clone.
#[derive(Clone, Debug)]
pub struct Admission {
    places: Option<Arc<Semaphore>>,
    limit: usize,
    queue_wait: Duration,
    /// Purchases waiting for a place.
    waiting: Arc<AtomicUsize>,
    /// Purchases that held a place and finished, ever.
    completed: Arc<AtomicU64>,
    rate: Arc<Mutex<Rate>>,
}

/// Completions per second, measured over the last [`RATE_WINDOW`].
#[derive(Debug)]
struct Rate {
    since: Instant,
    completed_then: u64,
    /// `None` until a window of recent traffic was measured.
    per_second: Option<f64>,
}

/// A purchase's place; the place frees when it is dropped.
#[derive(Debug)]
pub struct Admitted {
    place: Option<(OwnedSemaphorePermit, Arc<AtomicU64>)>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some((_, completed)) = &self.place {
            completed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Every place was taken and the queue full, or the wait ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{limit} purchases are in flight already; retry in a moment")]
pub struct Overloaded {
    pub limit: usize,
}

impl Admission {
    #[must_use]
    pub fn new(settings: AdmissionSettings) -> Self {
        Self {
            places: (settings.limit > 0).then(|| Arc::new(Semaphore::new(settings.limit))),
            limit: settings.limit,
            queue_wait: settings.queue_wait,
            waiting: Arc::new(AtomicUsize::new(0)),
            completed: Arc::new(AtomicU64::new(0)),
            rate: Arc::new(Mutex::new(Rate {
                since: Instant::now(),
                completed_then: 0,
                per_second: None,
            })),
        }
    }

    /// A place for one purchase, or [`Overloaded`].
    ///
    /// # Errors
    /// [`Overloaded`] when the queue is full or no place freed in time.
    pub async fn admit(&self) -> Result<Admitted, Overloaded> {
        let Some(places) = &self.places else {
            return Ok(Admitted { place: None });
        };
        let refused = Overloaded { limit: self.limit };
        if let Ok(permit) = Arc::clone(places).try_acquire_owned() {
            return Ok(self.admitted(permit));
        }
        if self.queue_wait.is_zero() {
            return Err(refused);
        }
        let queued = self.waiting.fetch_add(1, Ordering::Relaxed);
        if queued >= self.queue_capacity() {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(refused);
        }
        let waited =
            tokio::time::timeout(self.queue_wait, Arc::clone(places).acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::Relaxed);
        match waited {
            Ok(Ok(permit)) => Ok(self.admitted(permit)),
            // Timed out, or closed (never: the semaphore is never closed).
            Ok(Err(_)) | Err(_) => Err(refused),
        }
    }

    fn admitted(&self, permit: OwnedSemaphorePermit) -> Admitted {
        Admitted {
            place: Some((permit, Arc::clone(&self.completed))),
        }
    }

    /// Purchases that may wait: what the recent rate serves within half
    /// the wait, at least `limit`; `4 × limit` while no rate is known.
    fn queue_capacity(&self) -> usize {
        let now = Instant::now();
        let completed = self.completed.load(Ordering::Relaxed);
        let mut rate = self.rate.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(rate.since);
        if elapsed >= RATE_WINDOW {
            let done = completed.saturating_sub(rate.completed_then);
            #[allow(clippy::cast_precision_loss)] // counts far below 2^52
            let measured = done as f64 / elapsed.as_secs_f64();
            rate.per_second = (elapsed <= STALE_WINDOW).then_some(measured);
            rate.since = now;
            rate.completed_then = completed;
        }
        match rate.per_second {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(per_second) => {
                let served = (per_second * self.queue_wait.as_secs_f64() / 2.0) as usize;
                served.max(self.limit)
            }
            None => self.limit.saturating_mul(4),
        }
    }

    /// Places in all; 0 when unlimited.
    #[must_use]
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Purchases holding a place now.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.places
            .as_ref()
            .map_or(0, |places| self.limit - places.available_permits())
    }

    /// Purchases waiting for a place now.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_limit_a_purchase_waits_then_is_refused() {
        let admission = Admission::new(AdmissionSettings {
            limit: 2,
            queue_wait: Duration::from_millis(20),
        });
        let first = admission.admit().await.unwrap();
        let _second = admission.admit().await.unwrap();
        assert_eq!(admission.in_flight(), 2);
        assert_eq!(
            admission.admit().await.unwrap_err(),
            Overloaded { limit: 2 }
        );
        // A place that frees within the wait is taken.
        let waiting = {
            let admission = admission.clone();
            tokio::spawn(async move { admission.admit().await.is_ok() })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(first);
        assert!(waiting.await.unwrap());
        assert_eq!(admission.waiting(), 0);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once_without_waiting() {
        let admission = Admission::new(AdmissionSettings {
            limit: 1,
            queue_wait: Duration::from_secs(30),
        });
        let _held = admission.admit().await.unwrap();
        // With no rate measured yet the queue holds 4 × `limit` purchases.
        let queued: Vec<_> = (0..4)
            .map(|_| {
                let admission = admission.clone();
                tokio::spawn(async move { admission.admit().await.is_ok() })
            })
            .collect();
        while admission.waiting() < 4 {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        assert!(admission.admit().await.is_err());
        assert!(started.elapsed() < Duration::from_secs(1));
        for waiting in queued {
            waiting.abort();
        }
    }

    #[tokio::test]
    async fn without_a_wait_the_excess_is_refused_at_once() {
        let admission = Admission::new(AdmissionSettings {
            limit: 1,
            queue_wait: Duration::ZERO,
        });
        let _held = admission.admit().await.unwrap();
        assert!(admission.admit().await.is_err());
    }

    #[tokio::test]
    async fn unlimited_admits_everything() {
        let admission = Admission::new(AdmissionSettings::UNLIMITED);
        let held: Vec<Admitted> =
            futures_util::future::join_all((0..1_000).map(|_| admission.admit()))
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
        assert_eq!(held.len(), 1_000);
        assert_eq!(admission.in_flight(), 0);
    }
}
