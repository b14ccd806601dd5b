//! The HTTP side of tracing: a request's span continues the trace its
//! caller started, when the request carries a W3C `traceparent` (and
//! `tracestate`). Whether spans go anywhere is the binary's choice; with no
//! exporter installed the global propagator is a no-op and this costs a
//! header lookup.

use actix_web::http::header::HeaderMap;
use opentelemetry::propagation::Extractor;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Makes `span` a child of the caller's span named in `headers`, if any.
pub(crate) fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if !headers.contains_key("traceparent") {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&Headers(headers))
    });
    // Fails only when no OpenTelemetry layer is installed: nothing to join.
    let _ = span.set_parent(parent);
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
/// it is renamed directly; without an exporter this does nothing.
pub(crate) fn rename(span: &tracing::Span, name: String) {
    use opentelemetry::trace::TraceContextExt;
    span.context().span().update_name(name);
}
