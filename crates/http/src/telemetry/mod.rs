//! The HTTP side of tracing: a request's span continues the trace its
//! caller started, when the request carries a W3C `traceparent` (and
//! `tracestate`), and traces are sampled at their head ([`sampling`]).
//!
//! Whether spans go anywhere is the binary's choice; with no exporter
//! installed the global propagator is a no-op and this costs a header
//! lookup.

pub mod sampling;

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Creates the request's span with `make` and makes it a child of the
/// caller's span named in `headers`, if any; the caller's sampling decision
/// reaches the sampling while `make` runs.
pub(crate) fn request_span(
    headers: &HeaderMap,
    make: impl FnOnce() -> tracing::Span,
) -> tracing::Span {
    if !headers.contains_key("traceparent") {
        return make();
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(headers))
    });
    let caller = parent.span().span_context().clone();
    let span = if caller.is_valid() {
        sampling::with_caller_decision(caller.is_sampled(), make)
    } else {
        make()
    };
    // Fails when the span is not traced (no OpenTelemetry layer, or a trace
    // not kept): nothing to join.
    let _ = span.set_parent(parent);
    span
}

/// actix's header map (of `http` 0.2) as OpenTelemetry reads carriers.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|name| name.as_str()).collect()
    }
}

/// Names `span` once its name is known (`GET /discs/{id}`, after routing).
/// The OpenTelemetry span may have started already (children start it), so
/// it is renamed directly; a span that does not exist (a trace not kept,
/// no exporter) is not even named.
pub(crate) fn rename(span: &tracing::Span, name: impl FnOnce() -> String) {
    if !span.is_disabled() {
        span.context().span().update_name(name());
    }
}
