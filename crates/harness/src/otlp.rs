//! An OTLP/HTTP trace receiver: what a server under test exports its spans
//! to when `OTEL_EXPORTER_OTLP_ENDPOINT` points here. It takes
//! `POST /v1/traces` (protobuf), keeps every span it decodes, and answers
//! as a collector does. For tests of the traces, and for experiments that
//! measure what exporting them costs; not a collector to run a shop on.

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use prost::Message;

/// One span as received, ids in lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedSpan {
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    pub name: String,
    /// String, integer and boolean attributes, as text.
    pub attributes: BTreeMap<String, String>,
    /// `service.name` of the resource that sent it.
    pub service: String,
    /// The spans it links to (a batch's callers), as `(trace id, span id)`.
    pub links: Vec<(String, String)>,
}

type Received = Arc<Mutex<Vec<ReceivedSpan>>>;

/// A running receiver; stopped when dropped.
pub struct Receiver {
    port: u16,
    spans: Received,
    handle: ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    /// Listens on 127.0.0.1 and a free port, on a thread of its own.
    ///
    /// # Errors
    /// When no port can be bound.
    pub fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).context("binding the OTLP receiver")?;
        let port = listener.local_addr()?.port();
        let spans = Received::default();
        let kept = Arc::clone(&spans);
        let (sender, handle) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let system = actix_web::rt::System::new();
            system.block_on(async move {
                let server = HttpServer::new(move || {
                    App::new()
                        .app_data(web::Data::new(Arc::clone(&kept)))
                        .app_data(web::PayloadConfig::new(64 << 20))
                        .route("/v1/traces", web::post().to(export))
                })
                .workers(1)
                .disable_signals()
                .listen(listener);
                match server {
                    Ok(server) => {
                        let server = server.run();
                        let _ = sender.send(Some(server.handle()));
                        let _ = server.await;
                    }
                    Err(_) => {
                        let _ = sender.send(None);
                    }
                }
            });
        });
        let handle = handle
            .recv()
            .ok()
            .flatten()
            .context("the OTLP receiver did not start")?;
        Ok(Self {
            port,
            spans,
            handle,
            thread: Some(thread),
        })
    }

    /// What to put in `OTEL_EXPORTER_OTLP_ENDPOINT`.
    #[must_use]
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every span received so far.
    #[must_use]
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many spans have arrived.
    #[must_use]
    pub fn count(&self) -> usize {
        self.spans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Waits until `done` holds of the spans received, for `within` at most;
    /// returns them either way.
    pub async fn wait_for(
        &self,
        within: Duration,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        let _ = crate::process::wait_until_async(within, Duration::from_millis(50), || {
            Ok(done(&self.spans()).then_some(()))
        })
        .await;
        self.spans()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        // The server's own runtime stops it; this thread only asks.
        std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(handle.stop(false));
        })
        .join()
        .ok();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn export(spans: web::Data<Received>, body: web::Bytes) -> HttpResponse {
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return HttpResponse::BadRequest().finish();
    };
    let mut received = Vec::new();
    for resource in request.resource_spans {
        let service = resource
            .resource
            .map(|resource| attributes(&resource.attributes))
            .and_then(|attributes| attributes.get("service.name").cloned())
            .unwrap_or_default();
        for scope in resource.scope_spans {
            for span in scope.spans {
                received.push(ReceivedSpan {
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    name: span.name,
                    attributes: attributes(&span.attributes),
                    service: service.clone(),
                    links: span
                        .links
                        .iter()
                        .map(|link| (hex(&link.trace_id), hex(&link.span_id)))
                        .collect(),
                });
            }
        }
    }
    spans
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .extend(received);
    HttpResponse::Ok()
        .content_type("application/x-protobuf")
        .body(ExportTraceServiceResponse::default().encode_to_vec())
}

fn attributes(
    pairs: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> BTreeMap<String, String> {
    pairs
        .iter()
        .filter_map(|pair| {
            let value = match pair.value.as_ref()?.value.as_ref()? {
                Value::StringValue(text) => text.clone(),
                Value::IntValue(number) => number.to_string(),
                Value::BoolValue(flag) => flag.to_string(),
                Value::DoubleValue(number) => number.to_string(),
                _ => return None,
            };
            Some((pair.key.clone(), value))
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut text, byte| {
        let _ = write!(text, "{byte:02x}");
        text
    })
}
