//! Request ids and access logs.
//!
//! Every request runs inside a `request` span carrying its id, so every
//! log line it causes (handlers, services, repositories, errors) carries the
//! id too; the response returns the id in `X-Request-Id`, and one access line
//! per request records method, route, caller, status and latency.
//!
//! What never reaches the logs: the path as sent (`/customers/victim%40
//! example.com` would put an email in them) — the route's pattern is
//! logged instead (`/customers/{id}`), with `id` when the path's id is a
//! UUID, and `route="<unmatched>"` for a path no route knows; the query
//! string (filters such as `email` or `document` are personal data); any
//! header (`Authorization` carries the token); and the caller beyond its
//! role and id (`caller` is recorded by the authentication middleware as
//! `staff:alice` or `customer:<id>`).

use std::time::Instant;

use actix_web::HttpRequest;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

use crate::telemetry;

/// The header that carries the request id both ways.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-supplied id kept; a longer one is replaced.
const MAX_LEN: usize = 128;

/// Tags the request with an id, logs it, and echoes the id on the response;
/// mount it with [`actix_web::middleware::from_fn`].
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = id_for(&request);
    let method = method_label(request.method());
    // Route and id are known once routing has run; see the module's docs.
    // The `otel.*` and `http.*` fields name the span as OpenTelemetry does
    // when traces are exported (see `telemetry.rs`).
    let span = telemetry::request_span(request.headers(), || {
        tracing::info_span!(
            "request",
            request_id = id.to_str().unwrap_or_default(),
            method = %request.method(),
            route = tracing::field::Empty,
            id = tracing::field::Empty,
            caller = tracing::field::Empty,
            trace.entry = tracing::field::Empty,
            otel.kind = "server",
            http.request.method = method,
            http.route = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        )
    });
    let started = Instant::now();
    // Handler and extractor errors are responses by the time they get here;
    // an `Err` would mean a failing inner middleware, and there is none. The
    // request cannot be kept to build a response from it: routing needs to
    // own it exclusively.
    let mut response = match next.call(request).instrument(span.clone()).await {
        Ok(response) => response,
        Err(error) => {
            span.in_scope(|| tracing::error!(%error, "request failed before a response"));
            return Err(error);
        }
    };
    let route = record_route(&span, response.request());
    response.headers_mut().insert(REQUEST_ID_HEADER, id);
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    telemetry::rename(&span, || format!("{method} {route}"));
    span.record("http.response.status_code", status);
    metrics::counter!(
        "recordshop_http_requests_total",
        "method" => method,
        "route" => route.clone(),
        "status" => status_label(status),
    )
    .increment(1);
    metrics::histogram!(
        "recordshop_http_request_duration_seconds",
        "method" => method,
        "route" => route,
    )
    .record(elapsed);
    // Microsecond resolution is plenty, and keeps the log line short.
    let latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
    span.in_scope(|| tracing::info!(status, latency_ms, "request handled"));
    Ok(response)
}

/// The status as a label: the codes this service answers with as static
/// text (a request's label would otherwise be a fresh string), any other
/// as its digits.
fn status_label(status: u16) -> metrics::SharedString {
    let known = match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        406 => "406",
        408 => "408",
        409 => "409",
        411 => "411",
        413 => "413",
        414 => "414",
        415 => "415",
        422 => "422",
        429 => "429",
        431 => "431",
        500 => "500",
        503 => "503",
        504 => "504",
        _ => return status.to_string().into(),
    };
    metrics::SharedString::const_str(known)
}

/// The method as a label: the standard ones by name, anything else (a
/// client may send any token) as `OTHER`, so the label set stays small.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

/// Records the route's pattern and, when the path's `{id}` is a UUID, the
/// id: never text the client chose. Returns the pattern.
fn record_route(span: &tracing::Span, request: &HttpRequest) -> String {
    let route = request
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED.to_owned());
    span.record("route", route.as_str());
    span.record("http.route", route.as_str());
    if let Some(id) = request
        .match_info()
        .get("id")
        .and_then(|raw| uuid::Uuid::parse_str(raw).ok())
    {
        span.record("id", tracing::field::display(id));
    }
    route
}

/// The route of a path no route matched.
const UNMATCHED: &str = "<unmatched>";

/// The id of `request`: the client's when it is sane, else a fresh one.
/// Also what answers given before this middleware runs echo.
pub(crate) fn id_for(request: &ServiceRequest) -> HeaderValue {
    client_id(request).unwrap_or_else(|| {
        HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"))
    })
}

/// The client's id when it is sane: 1 to 128 printable ASCII characters.
/// Anything else could forge log lines or bloat them, and is replaced.
fn client_id(request: &ServiceRequest) -> Option<HeaderValue> {
    let value = request.headers().get(&REQUEST_ID_HEADER)?;
    let bytes = value.as_bytes();
    let sane = !bytes.is_empty()
        && bytes.len() <= MAX_LEN
        && bytes
            .iter()
            .all(|byte| byte.is_ascii_graphic() || *byte == b' ');
    sane.then(|| value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_labels_are_the_digits() {
        for status in [200, 201, 304, 415, 503, 299, 599] {
            assert_eq!(status_label(status).as_ref(), status.to_string());
        }
    }
    use actix_web::test::TestRequest;

    fn id_of(header: &[u8]) -> Option<HeaderValue> {
        let value = HeaderValue::from_bytes(header).unwrap();
        client_id(
            &TestRequest::default()
                .insert_header((REQUEST_ID_HEADER, value))
                .to_srv_request(),
        )
    }

    #[test]
    fn keeps_sane_ids_and_refuses_the_rest() {
        assert!(id_of(b"abc-123 / trace:7").is_some());
        assert!(id_of(&[b'a'; MAX_LEN]).is_some());
        assert!(id_of(&[b'a'; MAX_LEN + 1]).is_none());
        assert!(id_of(b"").is_none());
        assert!(id_of("caf\u{e9}".as_bytes()).is_none());
        assert!(id_of(b"tab\there").is_none());
    }
}
