//! Logs and traces.
//!
//! Logs go to stdout, filtered by `RUST_LOG`. Traces are exported with
//! OTLP over HTTP (protobuf) when the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, and cost nothing
//! otherwise: no exporter, no OpenTelemetry layer, and the spans below the
//! log filter's level are disabled at their call sites. The other standard
//! variables apply as the SDK reads them (`OTEL_SERVICE_NAME`, default
//! `recordshop`; `OTEL_RESOURCE_ATTRIBUTES`; `OTEL_TRACES_SAMPLER` and its
//! argument; `OTEL_BSP_*` for batching).
//!
//! What a trace holds: a span per request (continuing the caller's trace
//! when it sends a W3C `traceparent`; the request id on it), per handler,
//! per domain service call, per repository call, per SQL statement (the
//! statement's name, never its parameters) and per batch of the batched
//! strategy (its size and outcome counts).

use std::io::IsTerminal;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The spans exported when traces are on, whatever `RUST_LOG` says of the
/// logs: this crate's, the HTTP layer's and the domain's at info, the
/// adapter's repository calls and statements at debug.
const EXPORTED_SPANS: &str = "warn,recordshop=info,recordshop_http=info,recordshop_domain=info,\
                              recordshop_postgres=debug";

/// Keeps the exporter running; dropping it flushes the spans still queued.
pub struct Telemetry(Option<SdkTracerProvider>);

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("recordshop: flushing traces at exit failed: {error}");
        }
    }
}

/// Whether the environment asks for traces.
fn traces_requested() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|value| !value.trim().is_empty()))
}

/// Installs logging (filtered by `filter`, validated by `Config`) and, when
/// asked for, trace export. Does nothing when a subscriber is installed
/// already, as in tests.
#[must_use]
pub fn init(filter: &str) -> Telemetry {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, not for log collectors.
    let ansi = std::io::stdout().is_terminal();
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_filter(filter);
    let (provider, traces) = match traces_requested().then(exporter).transpose() {
        Ok(Some(provider)) => {
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("recordshop"))
                .with_filter(EnvFilter::new(EXPORTED_SPANS));
            (Some(provider), Some(layer))
        }
        Ok(None) => (None, None),
        Err(error) => {
            eprintln!("recordshop: traces are not exported: {error:#}");
            (None, None)
        }
    };
    // Failing means a subscriber is installed already; keep that one.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
    Telemetry(provider)
}

fn exporter() -> anyhow::Result<SdkTracerProvider> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()?;
    let mut resource = Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("recordshop");
    }
    Ok(SdkTracerProvider::builder()
        .with_resource(resource.build())
        .with_batch_exporter(exporter)
        .build())
}
