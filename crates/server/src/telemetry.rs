//! Logs and traces.
//!
//! Logs go to stdout, filtered by `RUST_LOG`. Traces are exported with
//! OTLP over HTTP (protobuf) when the standard `OTEL_EXPORTER_OTLP_ENDPOINT`
//! (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, and cost nothing
//! otherwise: no exporter, no OpenTelemetry layer, and the spans below the
//! log filter's level are disabled at their call sites. The other standard
//! variables apply as the SDK reads them (`OTEL_SERVICE_NAME`, default
//! `recordshop`; `OTEL_RESOURCE_ATTRIBUTES`; `OTEL_BSP_*` for batching),
//! except the sampler: `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`
//! are read here with the SDK's meanings (`parentbased_traceidratio` with
//! `0.01` keeps one trace in a hundred and every trace a caller kept) and
//! applied at each trace's head, before any span exists (see
//! `recordshop_http::telemetry::sampling`). The default keeps every trace.
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
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use recordshop_http::telemetry::sampling::{HeadSampling, KeptOnly};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::FilterExt;
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
    // Twice: the log layer's and the trace gate's copy (see below).
    let log_filter = || EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, not for log collectors.
    let ansi = std::io::stdout().is_terminal();
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_filter(log_filter());
    let (provider, traces, gate) = match traces_requested().then(exporter).transpose() {
        Ok(Some(provider)) => {
            // A kept span costs on every poll of its future, so the layer
            // records only what a trace reader uses: no source locations or
            // thread names, no busy/idle clocks, and no OpenTelemetry
            // context attached at every poll (nothing in the process reads
            // it; parents come from the tracing span tree).
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer("recordshop"))
                .with_location(false)
                .with_threads(false)
                .with_tracked_inactivity(false)
                .with_context_activation(false)
                .with_filter(EnvFilter::new(EXPORTED_SPANS).and(KeptOnly));
            // Outermost, so that it decides on each span before the layers'
            // own filters are asked.
            let gate = head_sampling().gate(log_filter(), EnvFilter::new(EXPORTED_SPANS));
            (Some(provider), Some(layer), Some(gate))
        }
        Ok(None) => (None, None, None),
        Err(error) => {
            eprintln!("recordshop: traces are not exported: {error:#}");
            (None, None, None)
        }
    };
    // Failing means a subscriber is installed already; keep that one.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .with(gate)
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
        // Decided at the head already; see the module's documentation.
        .with_sampler(Sampler::AlwaysOn)
        .with_batch_exporter(exporter)
        .build())
}

/// The sampler the environment names, as OpenTelemetry's SDKs read
/// `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
fn head_sampling() -> HeadSampling {
    let sampler = std::env::var("OTEL_TRACES_SAMPLER").ok();
    let argument = std::env::var("OTEL_TRACES_SAMPLER_ARG").ok();
    sampling_from(sampler.as_deref(), argument.as_deref()).unwrap_or_else(|problem| {
        eprintln!("recordshop: {problem}; every trace is kept");
        HeadSampling::ALWAYS
    })
}

fn sampling_from(sampler: Option<&str>, argument: Option<&str>) -> Result<HeadSampling, String> {
    let ratio = || -> Result<f64, String> {
        match argument.map(str::trim) {
            None | Some("") => Ok(1.0),
            Some(text) => text
                .parse::<f64>()
                .ok()
                .filter(|ratio| (0.0..=1.0).contains(ratio))
                .ok_or_else(|| {
                    format!("OTEL_TRACES_SAMPLER_ARG={text:?} is not a ratio between 0 and 1")
                }),
        }
    };
    match sampler.map(str::trim) {
        None | Some("" | "parentbased_always_on") => Ok(HeadSampling::ALWAYS),
        Some("always_on") => Ok(HeadSampling::new(1.0, false)),
        Some("always_off") => Ok(HeadSampling::new(0.0, false)),
        Some("parentbased_always_off") => Ok(HeadSampling::new(0.0, true)),
        Some("traceidratio") => Ok(HeadSampling::new(ratio()?, false)),
        Some("parentbased_traceidratio") => Ok(HeadSampling::new(ratio()?, true)),
        Some(other) => Err(format!(
            "OTEL_TRACES_SAMPLER={other:?} is not one of always_on, always_off, traceidratio, \
             parentbased_always_on, parentbased_always_off, parentbased_traceidratio"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplers_read_as_the_sdk_reads_them() {
        assert_eq!(sampling_from(None, None), Ok(HeadSampling::ALWAYS));
        assert_eq!(
            sampling_from(Some("parentbased_traceidratio"), Some("0.01")),
            Ok(HeadSampling::new(0.01, true))
        );
        assert_eq!(
            sampling_from(Some("traceidratio"), Some("0.5")),
            Ok(HeadSampling::new(0.5, false))
        );
        assert_eq!(
            sampling_from(Some("always_off"), None),
            Ok(HeadSampling::new(0.0, false))
        );
        assert!(sampling_from(Some("traceidratio"), Some("1.5")).is_err());
        assert!(sampling_from(Some("jaeger_remote"), None).is_err());
    }
}
