//! The HTTP calls the suite makes, with the staff token on every one, and
//! what a purchase's answer says for the checks.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// Longest wait for any one answer; a purchase still unanswered then has an
/// unknown outcome.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: HeaderValue,
}

/// What came of one purchase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Answered(Answer),
    /// The connection could not be opened: the request never left.
    NotSent,
    /// Sent, but no answer came (reset, timeout): the server may or may not
    /// have made the order.
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The problem+json `code` of an error.
    pub code: Option<String>,
    pub retry_after: bool,
    /// The order's id, on a 201.
    pub order: Option<Uuid>,
    /// `Idempotent-Replayed: true`: the answer of an earlier request with
    /// the same key.
    pub replayed: bool,
}

impl Answer {
    /// `201`, `503 unavailable`: how answers are counted in the notes.
    pub fn label(&self) -> String {
        match &self.code {
            Some(code) => format!("{} {code}", self.status),
            None => self.status.to_string(),
        }
    }
}

#[derive(Deserialize)]
struct Created {
    id: Uuid,
}

#[derive(Deserialize)]
struct Problem {
    code: Option<String>,
}

impl Api {
    pub fn new(port: u16, token: &str, connections: usize) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(connections)
            .connect_timeout(Duration::from_secs(2))
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        let token = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the staff token is not a valid header value")?;
        Ok(Self {
            client,
            base: format!("http://127.0.0.1:{port}"),
            token,
        })
    }

    /// The status of `GET path`, or `None` without an answer within 3 s.
    pub async fn status(&self, path: &str) -> Option<u16> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.token.clone())
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .ok()?;
        Some(response.status().as_u16())
    }

    /// A disc with `quantity` units; returns its id.
    pub async fn create_disc(&self, quantity: i64) -> anyhow::Result<Uuid> {
        self.create(
            "/discs",
            &json!({"name": "Fault Lines", "artist": "The Chaos Monkeys",
                    "year_of_release": 2024, "genre": "noise", "quantity": quantity}),
        )
        .await
    }

    /// A customer whose document and email are unique to `tag`.
    pub async fn create_customer(&self, tag: &str) -> anyhow::Result<Uuid> {
        self.create(
            "/customers",
            &json!({"document": format!("flt-{tag}"), "name": "Rita Retry",
                    "birth_date": "1985-05-05", "email": format!("rita.{tag}@example.com"),
                    "phone": "+55 11 5555-0100"}),
        )
        .await
    }

    async fn create(&self, path: &str, body: &serde_json::Value) -> anyhow::Result<Uuid> {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header(AUTHORIZATION, self.token.clone())
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        if status.as_u16() != 201 {
            let text = response.text().await.unwrap_or_default();
            bail!("POST {path} answered {status}: {text}");
        }
        let created: Created = response
            .json()
            .await
            .with_context(|| format!("reading the answer of POST {path}"))?;
        Ok(created.id)
    }

    /// One unit of `disc` for `customer`, under `key` (`Idempotency-Key`).
    pub async fn purchase(&self, customer: Uuid, disc: Uuid, key: Uuid) -> Outcome {
        let sent = self
            .client
            .post(format!("{}/purchase-orders", self.base))
            .header(AUTHORIZATION, self.token.clone())
            .header("Idempotency-Key", key.to_string())
            .json(&json!({"customer_id": customer, "disc_id": disc, "quantity": 1}))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(error) if error.is_connect() => return Outcome::NotSent,
            Err(_) => return Outcome::Unknown,
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        let retry_after = headers.contains_key(RETRY_AFTER);
        let replayed = headers
            .get("idempotent-replayed")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true"));
        let Ok(body) = response.bytes().await else {
            // The head arrived, the body did not: the status tells the outcome.
            return if status == 201 {
                Outcome::Unknown
            } else {
                Outcome::Answered(Answer {
                    status,
                    code: None,
                    retry_after,
                    order: None,
                    replayed,
                })
            };
        };
        let order = (status == 201)
            .then(|| serde_json::from_slice::<Created>(&body).ok())
            .flatten()
            .map(|created| created.id);
        let code = (status >= 400)
            .then(|| serde_json::from_slice::<Problem>(&body).ok())
            .flatten()
            .and_then(|problem| problem.code);
        Outcome::Answered(Answer {
            status,
            code,
            retry_after,
            order,
            replayed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_carry_the_problem_code() {
        let answer = Answer {
            status: 503,
            code: Some("unavailable".into()),
            retry_after: true,
            order: None,
            replayed: false,
        };
        assert_eq!(answer.label(), "503 unavailable");
        let created = Answer {
            status: 201,
            code: None,
            ..answer
        };
        assert_eq!(created.label(), "201");
    }
}
