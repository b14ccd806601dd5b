//! Sends steps to a running service, in order, rendering each one's
//! templates against the environment and the responses so far.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::Value;

use crate::step::Step;
use crate::template::Context;

/// One request as sent and the response as received.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// What was meant.
    pub step: Step,
    /// The URL as sent.
    pub url: String,
    /// The body as sent.
    pub body: Option<String>,
    /// When the request started.
    pub started: DateTime<Utc>,
    /// Until the whole response was read.
    pub elapsed: Duration,
    /// The response's status.
    pub status: u16,
    /// Its reason phrase.
    pub status_text: String,
    /// Headers sent, besides those the client adds itself: a bearer token
    /// as its template (`Bearer {{ _.staff_token }}`), never the token;
    /// `Content-Type`; the step's further headers as sent (rendered).
    pub request_headers: Vec<(String, String)>,
    /// Headers received, in order.
    pub response_headers: Vec<(String, String)>,
    /// The response body.
    pub response_body: String,
}

impl Exchange {
    /// Whether the service answered the documented status.
    #[must_use]
    pub fn as_documented(&self) -> bool {
        self.status == self.step.expected_status
    }
}

/// What a run produced: the exchanges made, and why it stopped early if it
/// did.
#[derive(Debug)]
pub struct Run {
    /// In order.
    pub exchanges: Vec<Exchange>,
    /// Set when a step could not be rendered or sent.
    pub stopped: Option<anyhow::Error>,
}

impl Run {
    /// One line per request that did not answer its documented status, and
    /// one for an early stop; empty when all went as documented.
    #[must_use]
    pub fn failures(&self) -> Vec<String> {
        let mut failures: Vec<String> = self
            .exchanges
            .iter()
            .filter(|exchange| !exchange.as_documented())
            .map(|exchange| {
                format!(
                    "{} ({} {}): expected {}, got {} {}",
                    exchange.step.name,
                    exchange.step.method,
                    exchange.url,
                    exchange.step.expected_status,
                    exchange.status,
                    exchange.response_body
                )
            })
            .collect();
        if let Some(error) = &self.stopped {
            failures.push(format!("stopped: {error:#}"));
        }
        failures
    }
}

/// A client for runs: no proxy (the service is local), bounded waits.
///
/// # Errors
/// When the TLS-less client cannot be built.
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the HTTP client")
}

/// Sends `steps` in order. Every response whose body is JSON becomes
/// available to later response tags under its step's id.
pub async fn run(client: &reqwest::Client, steps: &[Step], mut context: Context) -> Run {
    let mut exchanges = Vec::with_capacity(steps.len());
    for step in steps {
        match send(client, step, &context).await {
            Ok(exchange) => {
                if let Ok(json) = serde_json::from_str::<Value>(&exchange.response_body) {
                    context.responses.insert(step.id.clone(), json);
                }
                exchanges.push(exchange);
            }
            Err(error) => {
                return Run {
                    exchanges,
                    stopped: Some(error.context(format!("at {} ({})", step.name, step.id))),
                };
            }
        }
    }
    Run {
        exchanges,
        stopped: None,
    }
}

async fn send(
    client: &reqwest::Client,
    step: &Step,
    context: &Context,
) -> anyhow::Result<Exchange> {
    let url = context.render(&step.url)?;
    let body = step
        .body
        .as_deref()
        .map(|body| context.render(body))
        .transpose()?;
    let method: reqwest::Method = step
        .method
        .parse()
        .with_context(|| format!("{:?} is not an HTTP method", step.method))?;
    let mut request = client.request(method, &url);
    let mut request_headers = Vec::new();
    if let Some(token) = &step.token {
        request = request.header(AUTHORIZATION, format!("Bearer {}", context.render(token)?));
        request_headers.push(("Authorization".to_owned(), format!("Bearer {token}")));
    }
    if let Some(body) = &body {
        let content_type = step.content_type.as_deref().unwrap_or("application/json");
        request = request
            .header(CONTENT_TYPE, content_type)
            .body(body.clone());
        request_headers.push(("Content-Type".to_owned(), content_type.to_owned()));
    }
    for (name, template) in &step.headers {
        let value = context
            .render(template)
            .with_context(|| format!("the {name} header"))?;
        request = request.header(name.as_str(), value.as_str());
        request_headers.push((name.clone(), value));
    }
    let started = Utc::now();
    let clock = Instant::now();
    let response = request
        .send()
        .await
        .with_context(|| format!("sending {} {url}", step.method))?;
    let status = response.status();
    let response_headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let response_body = response
        .text()
        .await
        .with_context(|| format!("reading the response to {} {url}", step.method))?;
    Ok(Exchange {
        step: step.clone(),
        url,
        body,
        started,
        elapsed: clock.elapsed(),
        status: status.as_u16(),
        status_text: status.canonical_reason().unwrap_or_default().to_owned(),
        request_headers,
        response_headers,
        response_body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(expected: u16, status: u16) -> Exchange {
        Exchange {
            step: Step {
                id: "req_1".to_owned(),
                name: "Get a disc".to_owned(),
                method: "GET".to_owned(),
                url: "{{ _.base_url }}/discs".to_owned(),
                body: None,
                content_type: None,
                expected_status: expected,
                token: None,
                headers: Vec::new(),
            },
            url: "http://x/discs".to_owned(),
            body: None,
            started: Utc::now(),
            elapsed: Duration::ZERO,
            status,
            status_text: String::new(),
            request_headers: Vec::new(),
            response_headers: Vec::new(),
            response_body: String::new(),
        }
    }

    #[test]
    fn a_status_other_than_the_documented_one_is_a_failure() {
        let run = Run {
            exchanges: vec![exchange(200, 200), exchange(201, 200)],
            stopped: None,
        };
        let failures = run.failures();
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0].contains("expected 201, got 200"),
            "{failures:?}"
        );
    }

    #[test]
    fn an_early_stop_is_a_failure() {
        let run = Run {
            exchanges: vec![exchange(200, 200)],
            stopped: Some(anyhow::anyhow!("no response yet")),
        };
        assert_eq!(run.failures().len(), 1);
    }
}
