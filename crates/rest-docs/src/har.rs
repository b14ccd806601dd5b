//! The HAR 1.2 file: the catalog's requests and the real responses of a
//! run, and the check that a committed HAR still matches the catalog.

use std::collections::HashMap;

use anyhow::{anyhow, bail, ensure};
use reqwest::Url;
use serde_json::{Value, json};

use crate::catalog;
use crate::runner::Exchange;
use crate::step::Step;
use crate::template::Context;

/// The HAR of `exchanges`, made against a server at `served_at`, written
/// as if made against `documented_base` (the collection's `base_url`), so
/// the file matches the collection and not a throwaway port.
#[must_use]
pub fn document(exchanges: &[Exchange], served_at: &str, documented_base: &str) -> Value {
    let entries: Vec<Value> = exchanges
        .iter()
        .map(|exchange| entry(exchange, served_at, documented_base))
        .collect();
    json!({
        "log": {
            "version": "1.2",
            "creator": {
                "name": "recordshop-rest-docs",
                "version": env!("CARGO_PKG_VERSION"),
            },
            "comment": format!(
                "{}: every request of rest-docs/insomnia.json, in order, with the responses of a \
                 real run against a freshly seeded service.",
                catalog::TITLE
            ),
            "entries": entries,
        }
    })
}

fn entry(exchange: &Exchange, served_at: &str, documented_base: &str) -> Value {
    let url = rebase(&exchange.url, served_at, documented_base);
    let query: Vec<Value> = Url::parse(&url)
        .map(|parsed| {
            parsed
                .query_pairs()
                .map(|(name, value)| json!({"name": name, "value": value}))
                .collect()
        })
        .unwrap_or_default();
    let headers = |pairs: &[(String, String)]| -> Vec<Value> {
        pairs
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect()
    };
    let mut request = json!({
        "method": exchange.step.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": headers(&exchange.request_headers),
        "queryString": query,
        "headersSize": -1,
        "bodySize": exchange.body.as_ref().map_or(0, String::len),
    });
    if let Some(body) = &exchange.body {
        request["postData"] = json!({
            "mimeType": exchange.step.content_type.as_deref().unwrap_or("application/json"),
            "text": body,
        });
    }
    let mime_type = exchange
        .response_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map_or("", |(_, value)| value.as_str());
    let redirect = exchange
        .response_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("location"))
        .map_or("", |(_, value)| value.as_str());
    let elapsed_ms = exchange.elapsed.as_secs_f64() * 1e3;
    // Whole milliseconds to three decimals: enough, and stable to read.
    let elapsed_ms = (elapsed_ms * 1e3).round() / 1e3;
    json!({
        "startedDateTime": exchange.started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "time": elapsed_ms,
        "request": request,
        "response": {
            "status": exchange.status,
            "statusText": exchange.status_text,
            "httpVersion": "HTTP/1.1",
            "cookies": [],
            "headers": headers(&redacted(&exchange.response_headers)),
            "content": {
                "size": exchange.response_body.len(),
                "mimeType": mime_type,
                "text": exchange.response_body,
            },
            "redirectURL": redirect,
            "headersSize": -1,
            "bodySize": exchange.response_body.len(),
        },
        "cache": {},
        "timings": {"send": 0, "wait": elapsed_ms, "receive": 0},
        "comment": format!(
            "{}. {}",
            exchange.step.name,
            catalog_description(&exchange.step.id)
        ),
        "_requestId": exchange.step.id,
    })
}

/// The response headers with the sign-up's token replaced: the HAR is
/// committed, and a token, even of a throwaway server, does not belong in
/// a repository.
fn redacted(headers: &[(String, String)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            if name.eq_ignore_ascii_case("x-access-token") {
                (name.clone(), "<the new customer's bearer token>".to_owned())
            } else {
                (name.clone(), value.clone())
            }
        })
        .collect()
}

fn catalog_description(id: &str) -> String {
    catalog::requests()
        .into_iter()
        .find(|request| request.id == id)
        .map(|request| request.description().replace("\n\n", " "))
        .unwrap_or_default()
}

fn rebase(url: &str, from: &str, to: &str) -> String {
    url.strip_prefix(from)
        .map_or_else(|| url.to_owned(), |rest| format!("{to}{rest}"))
}

/// Checks a HAR against `steps`: one entry per step, in order, each with
/// the step's method, its URL, body and further headers as rendered
/// against the collection's environment and the HAR's own earlier
/// responses, and its documented status. The HAR's timings, dates and generated ids may differ from run
/// to run; what was asked and what was answered may not.
///
/// # Errors
/// Naming the first entry that differs.
pub fn check(har: &Value, steps: &[Step]) -> anyhow::Result<()> {
    ensure!(har["log"]["version"] == "1.2", "not a HAR 1.2 file");
    let entries = har["log"]["entries"]
        .as_array()
        .ok_or_else(|| anyhow!("the HAR has no entries"))?;
    ensure!(
        entries.len() == steps.len(),
        "the HAR has {} entries, the catalog {} requests",
        entries.len(),
        steps.len()
    );
    let mut context = Context {
        environment: catalog::environment()
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
        responses: HashMap::new(),
    };
    for (index, (entry, step)) in entries.iter().zip(steps).enumerate() {
        let at = format!("entry {index} ({})", step.name);
        let request = &entry["request"];
        ensure!(
            entry["_requestId"] == step.id.as_str(),
            "{at}: recorded for {}",
            entry["_requestId"]
        );
        ensure!(
            request["method"] == step.method.as_str(),
            "{at}: method {}",
            request["method"]
        );
        let url = context.render(&step.url)?;
        ensure!(
            request["url"] == url.as_str(),
            "{at}: url {} instead of {url}",
            request["url"]
        );
        let body = step
            .body
            .as_deref()
            .map(|body| context.render(body))
            .transpose()?;
        let recorded = request["postData"]["text"].as_str();
        if recorded != body.as_deref() {
            bail!("{at}: body {recorded:?} instead of {body:?}");
        }
        for (name, template) in &step.headers {
            let value = context.render(template)?;
            let sent = request["headers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|h| {
                    h["name"]
                        .as_str()
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                        && h["value"] == value.as_str()
                });
            ensure!(sent, "{at}: no header {name}: {value}");
        }
        let status = &entry["response"]["status"];
        ensure!(
            status == step.expected_status,
            "{at}: recorded status {status}, documented {}",
            step.expected_status
        );
        let text = entry["response"]["content"]["text"]
            .as_str()
            .unwrap_or_default();
        if let Ok(json) = serde_json::from_str::<Value>(text) {
            context.responses.insert(step.id.clone(), json);
        }
    }
    Ok(())
}
