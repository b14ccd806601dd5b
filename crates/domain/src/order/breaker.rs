//! The hybrid strategy's circuit breaker: purchases are decided within
//! their request while that is fast, and queued (answered 202, decided by
//! the allocation workers) while it is slow.
//!
//! The breaker only routes; it never touches the store. Its input is the
//! time each synchronous purchase took, the lock wait and the batch queue
//! included, against a budget:
//!
//! - **closed**: every purchase goes synchronous. `trip_after` slow ones in
//!   a row (each over the budget) open it; a purchase within the budget
//!   resets the count.
//! - **open**: every purchase goes to the queue, for `open_for`.
//! - **half-open**: then the next `probes` purchases go synchronous as
//!   probes, and the ones arriving meanwhile still go to the queue. All
//!   probes within the budget close the breaker; one slow probe (or one
//!   whose caller left, which says nothing good) opens it again.
//!
//! Why not a crate: `failsafe` 1.3 and `recloser` 1.4, the well-kept ones,
//! both let *every* call through while half-open and close on the first
//! success (or a window of them). Under a launch the calls arriving while
//! half-open are the very burst that tripped it, so the probe would be the
//! whole burst on the slow path. Neither reports its state either (only
//! transition callbacks or tracing events), which `/health` needs. The
//! machine is small and pure, and tested here with a clock of its own.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// The breaker's bounds (`HYBRID_*` settings of the server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// A synchronous purchase slower than this counts against the path.
    pub budget: Duration,
    /// Slow purchases in a row that open the breaker (0 counts as 1).
    pub trip_after: u32,
    /// How long an open breaker sends every purchase to the queue.
    pub open_for: Duration,
    /// Probes let through while half-open; all of them within the budget
    /// close the breaker (0 counts as 1).
    pub probes: u32,
}

impl Default for BreakerSettings {
    /// 100 ms, 32 in a row, open for 1 s, 8 probes: the budget is twice the
    /// flood's p99 target for `batched`, so a healthy launch never trips it;
    /// 32 slow answers in a row are a fraction of one slow batch under
    /// overload but more than a stray fsync stall produces; a second open
    /// is long against a purchase and short against a launch.
    fn default() -> Self {
        Self {
            budget: Duration::from_millis(100),
            trip_after: 32,
            open_for: Duration::from_secs(1),
            probes: 8,
        }
    }
}

/// Where the breaker is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Purchases are decided within their request.
    Closed,
    /// Purchases are queued.
    Open,
    /// A few probes are decided within their request; the rest are queued.
    HalfOpen,
}

impl BreakerState {
    /// The name in `/health` and the metrics.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// The breaker as `/health` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSnapshot {
    pub state: BreakerState,
    /// When it entered `state`.
    pub since: DateTime<Utc>,
    /// Times it opened since the process started.
    pub trips: u64,
}

/// Which path a purchase takes.
#[derive(Debug)]
pub enum Route {
    /// Decide it now; report its time with [`SyncTicket::finish`].
    Synchronous(SyncTicket),
    /// Queue it.
    Asynchronous,
}

/// Called with (from, to) on every change of state, outside the breaker's
/// lock: the adapter counts and logs transitions with it.
pub type TransitionHook = Arc<dyn Fn(BreakerState, BreakerState) + Send + Sync>;

/// A circuit breaker over the synchronous purchase path. Clones share the
/// state (one per server process).
#[derive(Clone)]
pub struct CircuitBreaker {
    shared: Arc<Shared>,
}

struct Shared {
    settings: BreakerSettings,
    machine: Mutex<Machine>,
    on_transition: Option<TransitionHook>,
}

impl std::fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("settings", &self.shared.settings)
            .field("state", &self.snapshot().state)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct Machine {
    phase: Phase,
    /// Bumped on every transition: a ticket from an earlier phase reports
    /// into nothing (a purchase started while closed that ends while open
    /// says nothing about the probes).
    epoch: u64,
    since: DateTime<Utc>,
    trips: u64,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed { slow_in_a_row: u32 },
    Open { until: Instant },
    HalfOpen { admitted: u32, passed: u32 },
}

impl Phase {
    const fn state(self) -> BreakerState {
        match self {
            Self::Closed { .. } => BreakerState::Closed,
            Self::Open { .. } => BreakerState::Open,
            Self::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker.
    #[must_use]
    pub fn new(settings: BreakerSettings) -> Self {
        Self::build(settings, None)
    }

    /// A closed breaker that calls `hook` on every transition.
    #[must_use]
    pub fn with_transition_hook(settings: BreakerSettings, hook: TransitionHook) -> Self {
        Self::build(settings, Some(hook))
    }

    fn build(settings: BreakerSettings, on_transition: Option<TransitionHook>) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                machine: Mutex::new(Machine {
                    phase: Phase::Closed { slow_in_a_row: 0 },
                    epoch: 0,
                    since: Utc::now(),
                    trips: 0,
                }),
                on_transition,
            }),
        }
    }

    /// The bounds it runs with.
    #[must_use]
    pub fn settings(&self) -> BreakerSettings {
        self.shared.settings
    }

    /// Where it is now.
    #[must_use]
    pub fn snapshot(&self) -> BreakerSnapshot {
        let machine = self.lock();
        BreakerSnapshot {
            state: machine.phase.state(),
            since: machine.since,
            trips: machine.trips,
        }
    }

    /// The path for the next purchase.
    #[must_use]
    pub fn route(&self) -> Route {
        self.route_at(Instant::now())
    }

    fn route_at(&self, now: Instant) -> Route {
        let mut machine = self.lock();
        let mut changed = None;
        if let Phase::Open { until } = machine.phase
            && now >= until
        {
            changed = machine.enter(Phase::HalfOpen {
                admitted: 0,
                passed: 0,
            });
        }
        let route = match &mut machine.phase {
            Phase::Closed { .. } => Some(false),
            Phase::Open { .. } => None,
            Phase::HalfOpen { admitted, .. } if *admitted < self.shared.settings.probes.max(1) => {
                *admitted += 1;
                Some(true)
            }
            Phase::HalfOpen { .. } => None,
        };
        let epoch = machine.epoch;
        drop(machine);
        self.announce(changed);
        match route {
            Some(probe) => Route::Synchronous(SyncTicket {
                breaker: Some(self.clone()),
                epoch,
                probe,
                started: now,
            }),
            None => Route::Asynchronous,
        }
    }

    /// Takes in how a synchronous purchase went.
    fn report(&self, epoch: u64, probe: bool, slow: bool, now: Instant) {
        let settings = self.shared.settings;
        let mut machine = self.lock();
        if machine.epoch != epoch {
            return;
        }
        let next = match &mut machine.phase {
            Phase::Closed { slow_in_a_row } if slow => {
                *slow_in_a_row += 1;
                (*slow_in_a_row >= settings.trip_after.max(1)).then_some(Phase::Open {
                    until: now + settings.open_for,
                })
            }
            Phase::Closed { slow_in_a_row } => {
                *slow_in_a_row = 0;
                None
            }
            Phase::HalfOpen { .. } if probe && slow => Some(Phase::Open {
                until: now + settings.open_for,
            }),
            Phase::HalfOpen { passed, .. } if probe => {
                *passed += 1;
                (*passed >= settings.probes.max(1)).then_some(Phase::Closed { slow_in_a_row: 0 })
            }
            Phase::HalfOpen { .. } | Phase::Open { .. } => None,
        };
        let changed = next.and_then(|next| machine.enter(next));
        drop(machine);
        self.announce(changed);
    }

    fn announce(&self, changed: Option<(BreakerState, BreakerState)>) {
        if let (Some((from, to)), Some(hook)) = (changed, &self.shared.on_transition) {
            hook(from, to);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        // Nothing panics while holding it; were it poisoned, the state is
        // still a valid one.
        self.shared
            .machine
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Machine {
    /// Moves to `next`; returns (from, to) when the state changed.
    fn enter(&mut self, next: Phase) -> Option<(BreakerState, BreakerState)> {
        let from = self.phase.state();
        self.phase = next;
        self.epoch += 1;
        self.since = Utc::now();
        if let Phase::Open { .. } = next {
            self.trips += 1;
        }
        let to = next.state();
        (from != to).then_some((from, to))
    }
}

/// A synchronous purchase under way. Dropped without
/// [`finish`](Self::finish) (its caller left), it counts as slow.
#[derive(Debug)]
#[must_use = "report the purchase's time with `finish`"]
pub struct SyncTicket {
    /// `None` once reported.
    breaker: Option<CircuitBreaker>,
    epoch: u64,
    probe: bool,
    started: Instant,
}

impl SyncTicket {
    /// Whether this purchase is a half-open probe.
    #[must_use]
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// Reports that the purchase is done (sold, refused or failed: what
    /// counts is how long the path took).
    pub fn finish(mut self) {
        self.finish_at(Instant::now());
    }

    fn finish_at(&mut self, now: Instant) {
        if let Some(breaker) = self.breaker.take() {
            let slow = now.saturating_duration_since(self.started) > breaker.settings().budget;
            breaker.report(self.epoch, self.probe, slow, now);
        }
    }
}

impl Drop for SyncTicket {
    fn drop(&mut self) {
        if let Some(breaker) = self.breaker.take() {
            breaker.report(self.epoch, self.probe, true, Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: Duration = Duration::from_millis(100);
    const FAST: Duration = Duration::from_millis(5);
    const SLOW: Duration = Duration::from_millis(150);

    fn settings() -> BreakerSettings {
        BreakerSettings {
            budget: BUDGET,
            trip_after: 3,
            open_for: Duration::from_secs(1),
            probes: 2,
        }
    }

    /// Routes one purchase at `at` and reports it `took` later; whether it
    /// went synchronous.
    fn purchase(breaker: &CircuitBreaker, at: Instant, took: Duration) -> bool {
        match breaker.route_at(at) {
            Route::Synchronous(mut ticket) => {
                ticket.finish_at(at + took);
                true
            }
            Route::Asynchronous => false,
        }
    }

    fn trip(breaker: &CircuitBreaker, at: Instant) {
        for _ in 0..3 {
            assert!(purchase(breaker, at, SLOW));
        }
        assert_eq!(breaker.snapshot().state, BreakerState::Open);
    }

    #[test]
    fn slow_purchases_in_a_row_open_it_and_a_fast_one_resets_the_count() {
        let breaker = CircuitBreaker::new(settings());
        let t0 = Instant::now();
        assert!(purchase(&breaker, t0, SLOW));
        assert!(purchase(&breaker, t0, SLOW));
        assert!(purchase(&breaker, t0, FAST));
        assert!(purchase(&breaker, t0, SLOW));
        assert!(purchase(&breaker, t0, SLOW));
        assert_eq!(breaker.snapshot().state, BreakerState::Closed);
        assert!(purchase(&breaker, t0, SLOW));
        let snapshot = breaker.snapshot();
        assert_eq!(snapshot.state, BreakerState::Open);
        assert_eq!(snapshot.trips, 1);
    }

    #[test]
    fn open_it_queues_everything_until_its_time_is_up() {
        let breaker = CircuitBreaker::new(settings());
        let t0 = Instant::now();
        trip(&breaker, t0);
        // It opened when the third slow purchase ended.
        let opened = t0 + SLOW;
        assert!(!purchase(
            &breaker,
            opened + Duration::from_millis(999),
            FAST
        ));
        assert!(purchase(&breaker, opened + Duration::from_secs(1), FAST));
        assert_eq!(breaker.snapshot().state, BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_lets_only_its_probes_through_and_closes_when_they_all_pass() {
        let breaker = CircuitBreaker::new(settings());
        let t0 = Instant::now();
        trip(&breaker, t0);
        let later = t0 + Duration::from_secs(2);
        let (Route::Synchronous(mut first), Route::Synchronous(mut second)) =
            (breaker.route_at(later), breaker.route_at(later))
        else {
            panic!("the first two purchases after the wait must be probes");
        };
        assert!(first.is_probe() && second.is_probe());
        assert!(matches!(breaker.route_at(later), Route::Asynchronous));
        first.finish_at(later + FAST);
        assert_eq!(breaker.snapshot().state, BreakerState::HalfOpen);
        second.finish_at(later + FAST);
        assert_eq!(breaker.snapshot().state, BreakerState::Closed);
        assert!(purchase(&breaker, later, FAST));
    }

    #[test]
    fn a_slow_probe_opens_it_again() {
        let breaker = CircuitBreaker::new(settings());
        let t0 = Instant::now();
        trip(&breaker, t0);
        let later = t0 + Duration::from_secs(2);
        assert!(purchase(&breaker, later, SLOW));
        let snapshot = breaker.snapshot();
        assert_eq!(snapshot.state, BreakerState::Open);
        assert_eq!(snapshot.trips, 2);
        assert!(!purchase(
            &breaker,
            later + Duration::from_millis(500),
            FAST
        ));
    }

    #[test]
    fn a_probe_whose_caller_left_counts_as_slow() {
        let breaker = CircuitBreaker::new(settings());
        let t0 = Instant::now();
        trip(&breaker, t0);
        let probe = breaker.route_at(t0 + Duration::from_secs(2));
        assert!(matches!(probe, Route::Synchronous(_)));
        drop(probe);
        assert_eq!(breaker.snapshot().state, BreakerState::Open);
    }

    #[test]
    fn a_purchase_from_before_a_transition_does_not_count_after_it() {
        let breaker = CircuitBreaker::new(settings());
        let t0 = Instant::now();
        let Route::Synchronous(mut old) = breaker.route_at(t0) else {
            panic!("a closed breaker routes synchronously");
        };
        trip(&breaker, t0);
        let later = t0 + Duration::from_secs(2);
        assert!(purchase(&breaker, later, FAST));
        // Slow, but started while closed: no verdict on the probes.
        old.finish_at(later + SLOW);
        assert_eq!(breaker.snapshot().state, BreakerState::HalfOpen);
    }

    #[test]
    fn every_transition_reaches_the_hook() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hook: TransitionHook = {
            let seen = Arc::clone(&seen);
            Arc::new(move |from, to| {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((from, to));
            })
        };
        let breaker = CircuitBreaker::with_transition_hook(settings(), hook);
        let t0 = Instant::now();
        trip(&breaker, t0);
        let later = t0 + Duration::from_secs(2);
        assert!(purchase(&breaker, later, FAST));
        assert!(purchase(&breaker, later, FAST));
        use BreakerState::{Closed, HalfOpen, Open};
        assert_eq!(
            *seen.lock().unwrap_or_else(PoisonError::into_inner),
            vec![(Closed, Open), (Open, HalfOpen), (HalfOpen, Closed)]
        );
    }
}
