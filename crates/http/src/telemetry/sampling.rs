//! Head sampling: which traces are kept, decided once per trace at its
//! entry point, before any of its spans exists.
//!
//! Why not the OpenTelemetry SDK's sampler: it decides when a span is
//! built, after `tracing` has created the span, filled in its attributes
//! and tracked it through every poll; at a few thousand purchases a second
//! on two cores, spans built only to be dropped cost a tenth of the
//! throughput. Why not a per-layer filter on the OpenTelemetry layer
//! alone: `tracing-subscriber` creates a span that every per-layer filter
//! refused whenever one of them decides per call (its registry counts a
//! span disabled only when all 64 filter slots refuse it), so the spans
//! would exist anyway. Hence two parts:
//!
//! - [`TraceGate`], a global filter, outermost in the subscriber: a span
//!   exists when the log filter wants it or when it belongs to a kept
//!   trace, and nothing else does;
//! - [`KeptOnly`], the OpenTelemetry layer's filter: it sees the spans of
//!   kept traces only (the others may exist for the logs' sake).
//!
//! A trace starts at an entry point only: a span that declares the field
//! [`ENTRY`] (a request's, a batch's). A span with a kept span around it
//! is kept; one without, that is no entry point, belongs to a trace not
//! kept or to none, and is not traced. The binary gives the SDK an
//! always-on sampler, so the decision is made once.

use std::cell::Cell;

use tracing::subscriber::Interest;
use tracing::{Metadata, Subscriber, span};
use tracing_subscriber::layer::{self, Filter};
use tracing_subscriber::registry::LookupSpan;

/// The field that marks a span as a trace's entry point: declared as
/// `trace.entry = tracing::field::Empty` and never recorded, so it is no
/// attribute of the exported span.
pub const ENTRY: &str = "trace.entry";

/// Which traces are kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadSampling {
    /// Share of traces kept when nobody upstream decided, in `0.0..=1.0`.
    ratio: f64,
    /// Whether a caller's decision (the `traceparent` sampled flag) is
    /// followed, as OpenTelemetry's `parentbased_*` samplers do.
    follow_caller: bool,
}

impl HeadSampling {
    /// Every trace kept, callers' decisions followed (OpenTelemetry's
    /// default sampler, `parentbased_always_on`).
    pub const ALWAYS: Self = Self {
        ratio: 1.0,
        follow_caller: true,
    };

    /// Keeps `ratio` of the traces (clamped to `0.0..=1.0`; NaN keeps none).
    #[must_use]
    pub fn new(ratio: f64, follow_caller: bool) -> Self {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        Self {
            ratio,
            follow_caller,
        }
    }

    #[must_use]
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The global filter that applies this sampling; `logs` is the log
    /// layer's filter and `exported` the spans worth exporting, both as
    /// given to their layers.
    #[must_use]
    pub fn gate<L, E>(self, logs: L, exported: E) -> TraceGate<L, E> {
        TraceGate {
            sampling: self,
            logs,
            exported,
        }
    }

    fn keeps_root(&self) -> bool {
        if self.follow_caller
            && let Some(kept) = CALLER_KEPT.get()
        {
            return kept;
        }
        self.ratio >= 1.0 || (self.ratio > 0.0 && fastrand::f64() < self.ratio)
    }
}

thread_local! {
    /// The caller's sampling decision, while the request span that carries
    /// it is being created (on this thread, synchronously: see
    /// [`super::request_span`]); `None` when the caller decided nothing.
    static CALLER_KEPT: Cell<Option<bool>> = const { Cell::new(None) };
    /// The gate's decision on the span being created, from its `enabled`
    /// to its `on_new_span` (called back to back on the creating thread).
    static DECIDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs `make` with the caller's decision visible to the sampling.
pub(super) fn with_caller_decision<T>(kept: bool, make: impl FnOnce() -> T) -> T {
    CALLER_KEPT.set(Some(kept));
    let made = make();
    CALLER_KEPT.set(None);
    made
}

/// Marks a span of a kept trace.
struct Kept;

/// The global filter; see the module's documentation.
pub struct TraceGate<L, E> {
    sampling: HeadSampling,
    logs: L,
    exported: E,
}

impl<S, L, E> tracing_subscriber::Layer<S> for TraceGate<L, E>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    L: Filter<S> + 'static,
    E: Filter<S> + 'static,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        // Both filters learn of every call site (an `EnvFilter` keeps its
        // own per-call-site state).
        let _ = self.logs.callsite_enabled(metadata);
        let exported = self.exported.callsite_enabled(metadata);
        if !metadata.is_span() || exported.is_never() {
            // Not this gate's business: the layers' own filters decide.
            return Interest::always();
        }
        // Decided per span: `enabled` must run for `DECIDED` to be fresh.
        Interest::sometimes()
    }

    /// The most verbose level either filter wants, so that `tracing` and
    /// `log` skip anything more verbose before any filter is asked.
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(std::cmp::max(
            self.logs.max_level_hint()?,
            self.exported.max_level_hint()?,
        ))
    }

    fn enabled(&self, metadata: &Metadata<'_>, context: layer::Context<'_, S>) -> bool {
        if !metadata.is_span() {
            return true;
        }
        // Cheapest first: most spans belong to traces not kept, and the
        // span stack says so before any directive is matched.
        let kept = self.keeps(metadata, &context) && self.exported.enabled(metadata, &context);
        DECIDED.set(kept);
        kept || (self.logs_could_want(metadata) && self.logs.enabled(metadata, &context))
    }

    fn on_new_span(&self, _: &span::Attributes<'_>, id: &span::Id, context: layer::Context<'_, S>) {
        if DECIDED.replace(false)
            && let Some(span) = context.span(id)
        {
            span.extensions_mut().insert(Kept);
        }
    }
}

impl<L, E> TraceGate<L, E> {
    /// Whether the log filter's most verbose level reaches this span's.
    fn logs_could_want<S>(&self, metadata: &Metadata<'_>) -> bool
    where
        L: Filter<S>,
    {
        self.logs
            .max_level_hint()
            .is_none_or(|most| metadata.level() <= &most)
    }

    /// Whether a span about to be created belongs to a kept trace.
    fn keeps<S>(&self, metadata: &Metadata<'_>, context: &layer::Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        match context.lookup_current() {
            Some(around) => around.extensions().get::<Kept>().is_some(),
            None => metadata.fields().field(ENTRY).is_some() && self.sampling.keeps_root(),
        }
    }
}

/// The OpenTelemetry layer's filter: the spans of kept traces, and events
/// inside them.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeptOnly;

impl<S> Filter<S> for KeptOnly
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &Metadata<'_>, context: &layer::Context<'_, S>) -> bool {
        if metadata.is_span() {
            // The gate, outermost, has just decided on this very span.
            DECIDED.get()
        } else {
            context.lookup_current().is_some()
        }
    }

    fn callsite_enabled(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::{EnvFilter, Layer};

    use super::*;

    #[test]
    fn ratios_are_kept_in_range() {
        assert_eq!(HeadSampling::new(2.0, true).ratio(), 1.0);
        assert_eq!(HeadSampling::new(-1.0, true).ratio(), 0.0);
        assert_eq!(HeadSampling::new(f64::NAN, true).ratio(), 0.0);
    }

    #[test]
    fn a_caller_decides_only_when_followed() {
        let never = HeadSampling::new(0.0, true);
        let ignoring = HeadSampling::new(0.0, false);
        assert!(!never.keeps_root());
        with_caller_decision(true, || {
            assert!(never.keeps_root());
            assert!(!ignoring.keeps_root());
        });
        with_caller_decision(false, || assert!(!HeadSampling::ALWAYS.keeps_root()));
        assert!(HeadSampling::ALWAYS.keeps_root());
    }

    #[test]
    fn a_ratio_keeps_about_that_share() {
        let tenth = HeadSampling::new(0.1, true);
        let kept = (0..20_000).filter(|_| tenth.keeps_root()).count();
        assert!((1_500..2_500).contains(&kept), "kept {kept} of 20000");
    }

    /// Records the names of the spans it sees.
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Vec<String>>>);

    impl<S: Subscriber> tracing_subscriber::Layer<S> for Seen {
        fn on_new_span(
            &self,
            attrs: &span::Attributes<'_>,
            _: &span::Id,
            _: layer::Context<'_, S>,
        ) {
            self.0
                .lock()
                .unwrap()
                .push(attrs.metadata().name().to_owned());
        }
    }

    /// A request with a child, a child's child and an event, under logs
    /// at `logs`; what the traces saw, and whether the spans existed.
    fn request(sampling: HeadSampling, logs: &str, caller: Option<bool>) -> (Vec<String>, bool) {
        let traced = Seen::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_subscriber::layer::Identity::new().with_filter(EnvFilter::new(logs)))
            .with(traced.clone().with_filter(KeptOnly))
            .with(sampling.gate(EnvFilter::new(logs), EnvFilter::new("debug")));
        let existed = tracing::subscriber::with_default(subscriber, || {
            let make = || tracing::info_span!("request", trace.entry = tracing::field::Empty);
            let root = match caller {
                Some(kept) => with_caller_decision(kept, make),
                None => make(),
            };
            let _in_root = root.enter();
            let child = tracing::info_span!("service");
            let _in_child = child.enter();
            let grandchild = tracing::debug_span!("sql");
            // Not an entry point: with nothing around it, it is no trace.
            drop(_in_child);
            drop(_in_root);
            let orphan = tracing::debug_span!("orphan");
            assert!(orphan.is_disabled() || logs.contains("debug"));
            !root.is_disabled() && !child.is_disabled() && !grandchild.is_disabled()
        });
        let seen = traced.0.lock().unwrap().clone();
        (seen, existed)
    }

    #[test]
    fn a_kept_trace_is_traced_whole() {
        let (seen, existed) = request(HeadSampling::ALWAYS, "warn", None);
        assert_eq!(seen, ["request", "service", "sql"]);
        assert!(existed);
    }

    #[test]
    fn a_trace_not_kept_creates_no_span_when_the_logs_want_none() {
        let (seen, existed) = request(HeadSampling::new(0.0, true), "warn", None);
        assert!(seen.is_empty(), "{seen:?}");
        assert!(!existed);
    }

    #[test]
    fn spans_the_logs_want_exist_but_are_not_traced() {
        let (seen, _) = request(HeadSampling::new(0.0, true), "info", None);
        assert!(seen.is_empty(), "{seen:?}");
        let (seen, _) = request(HeadSampling::ALWAYS, "info", Some(false));
        assert!(seen.is_empty(), "a caller's declined trace: {seen:?}");
    }

    #[test]
    fn a_callers_kept_trace_is_kept_whatever_the_ratio() {
        let (seen, _) = request(HeadSampling::new(0.0, true), "warn", Some(true));
        assert_eq!(seen, ["request", "service", "sql"]);
    }
}
