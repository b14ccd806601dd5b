//! The record shop's HTTP API as the tools call it: the set-up calls
//! (create a disc, create a customer), health, and the requests loads are
//! made of, each answer reduced to a [`Reply`].
//!
//! Writes carry the client's bearer token; catalog reads and health go
//! without one, as a shopper browsing would.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// A plain-HTTP client for one server.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<HeaderValue>,
}

/// How the client connects.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// Idle keep-alive connections kept, at most (one per load client).
    pub connections: usize,
    pub connect_timeout: Duration,
    /// The longest wait for a whole answer; a purchase still unanswered
    /// then has an unknown outcome.
    pub request_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            connections: 16,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// One request of a load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `POST /purchase-orders`, with an `Idempotency-Key` when `key` is set.
    Purchase {
        customer: Uuid,
        disc: Uuid,
        quantity: i64,
        key: Option<Uuid>,
    },
    /// `GET /discs?…`, the query string without its `?`.
    ListDiscs { query: String },
    /// `GET /discs/{id}`.
    GetDisc { disc: Uuid },
}

impl Request {
    /// One unit of `disc` for `customer`, without a key.
    #[must_use]
    pub fn purchase(customer: Uuid, disc: Uuid) -> Self {
        Self::Purchase {
            customer,
            disc,
            quantity: 1,
            key: None,
        }
    }

    /// As [`Request::purchase`], with an `Idempotency-Key`.
    #[must_use]
    pub fn keyed_purchase(customer: Uuid, disc: Uuid, key: Uuid) -> Self {
        Self::Purchase {
            customer,
            disc,
            quantity: 1,
            key: Some(key),
        }
    }
}

/// What came of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// An HTTP answer.
    Answer(Answer),
    /// The connection could not be opened: the request never left.
    NotSent(Failure),
    /// Sent, but no (complete) answer came: the server may or may not have
    /// done it.
    Lost(Failure),
}

/// An HTTP answer, as much of it as the tools look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// The problem+json `code` of an error answer.
    pub code: Option<String>,
    pub retry_after: bool,
    /// The created resource's id, on a 201 (or a 202: a purchase taken in
    /// pending, whose body is the pending order).
    pub created: Option<Uuid>,
    /// `Idempotent-Replayed: true`: the answer of an earlier request with
    /// the same key.
    pub replayed: bool,
}

/// Why no answer came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    Body,
    Io,
}

impl Failure {
    fn of(error: &reqwest::Error) -> Self {
        if error.is_timeout() {
            Self::Timeout
        } else if error.is_connect() {
            Self::Connect
        } else if error.is_body() || error.is_decode() {
            Self::Body
        } else {
            Self::Io
        }
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Timeout => "timeout",
            Self::Body => "body",
            Self::Io => "io",
        }
    }
}

impl Reply {
    /// How answers are counted: `201`, `409 out_of_stock`, `error timeout`.
    #[must_use]
    pub fn label(&self) -> String {
        match self {
            Self::Answer(Answer {
                status, code: None, ..
            }) => status.to_string(),
            Self::Answer(Answer {
                status,
                code: Some(code),
                ..
            }) => format!("{status} {code}"),
            Self::NotSent(failure) | Self::Lost(failure) => format!("error {}", failure.as_str()),
        }
    }

    /// The HTTP status, or 0 when there was none.
    #[must_use]
    pub fn status(&self) -> u16 {
        self.answer().map_or(0, |answer| answer.status)
    }

    #[must_use]
    pub fn answer(&self) -> Option<&Answer> {
        match self {
            Self::Answer(answer) => Some(answer),
            Self::NotSent(_) | Self::Lost(_) => None,
        }
    }

    /// Whether it answered 201.
    #[must_use]
    pub fn is_created(&self) -> bool {
        self.status() == 201
    }

    /// 202: a purchase taken in pending (`queued`, or `hybrid` with its
    /// breaker open).
    #[must_use]
    pub fn is_accepted(&self) -> bool {
        self.status() == 202
    }

    /// An answer with `status` and problem `code` and nothing else, as
    /// tests of what the tools make of answers need them.
    #[must_use]
    pub fn answered(status: u16, code: Option<&str>) -> Self {
        Reply::Answer(Answer {
            status,
            code: code.map(str::to_owned),
            retry_after: status == 503,
            created: None,
            replayed: false,
        })
    }

    /// Whether the server shed it: 503 `overloaded` (admission control),
    /// nothing done.
    #[must_use]
    pub fn is_overloaded(&self) -> bool {
        self.answer().is_some_and(|answer| {
            answer.status == 503 && answer.code.as_deref() == Some("overloaded")
        })
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

/// The fields of `POST /discs`.
#[derive(Clone, Debug, Serialize)]
pub struct NewDisc {
    pub name: String,
    pub artist: String,
    pub year_of_release: i32,
    pub genre: String,
    pub quantity: i64,
}

/// The fields of `POST /customers`.
#[derive(Clone, Debug, Serialize)]
pub struct NewCustomer {
    pub document: String,
    pub name: String,
    pub birth_date: String,
    pub email: String,
    pub phone: String,
}

impl Api {
    /// A client for the server at `base` (`http://127.0.0.1:8080`).
    ///
    /// # Errors
    /// When the client cannot be built.
    pub fn new(base: &str, options: ClientOptions) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(options.connections)
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: None,
        })
    }

    /// The same client, sending `token` with every write.
    ///
    /// # Errors
    /// When the token cannot be a header value.
    pub fn with_token(self, token: &str) -> anyhow::Result<Self> {
        let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token is not a valid header value")?;
        value.set_sensitive(true);
        Ok(Self {
            token: Some(value),
            ..self
        })
    }

    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => builder.header(AUTHORIZATION, token.clone()),
            None => builder,
        }
    }

    /// True when `GET /health/ready` answers 200 within 2 s.
    pub async fn ready(&self) -> bool {
        self.status("/health/ready").await == Some(200)
    }

    /// The status of `GET path` (no token), or `None` without an answer
    /// within 3 s.
    pub async fn status(&self, path: &str) -> Option<u16> {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .ok()?;
        Some(response.status().as_u16())
    }

    /// `GET /health` as JSON (no token), or `None` without an answer
    /// within 3 s: the strategy, and the hybrid's breaker.
    pub async fn health(&self) -> Option<serde_json::Value> {
        let response = self
            .client
            .get(format!("{}/health", self.base))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .ok()?;
        response.json().await.ok()
    }

    /// Creates a disc; returns its id.
    ///
    /// # Errors
    /// When the answer is not 201.
    pub async fn create_disc(&self, disc: &NewDisc) -> anyhow::Result<Uuid> {
        self.create("/discs", disc).await
    }

    /// Creates a customer; returns its id.
    ///
    /// # Errors
    /// When the answer is not 201.
    pub async fn create_customer(&self, customer: &NewCustomer) -> anyhow::Result<Uuid> {
        self.create("/customers", customer).await
    }

    async fn create(&self, path: &str, body: &impl Serialize) -> anyhow::Result<Uuid> {
        let response = self
            .authorized(self.client.post(format!("{}{path}", self.base)))
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

    /// Any other call: `method path` with a JSON `body`, with the token.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Reply {
        let mut builder =
            self.authorized(self.client.request(method, format!("{}{path}", self.base)));
        if let Some(body) = body {
            builder = builder.json(body);
        }
        Self::reply(builder).await
    }

    /// Sends one request and reads its whole answer (so the connection goes
    /// back to the pool).
    pub async fn send(&self, request: &Request) -> Reply {
        let builder = match request {
            Request::Purchase {
                customer,
                disc,
                quantity,
                key,
            } => {
                let builder = self
                    .authorized(self.client.post(format!("{}/purchase-orders", self.base)))
                    .json(&json!({"customer_id": customer, "disc_id": disc, "quantity": quantity}));
                match key {
                    Some(key) => builder.header("Idempotency-Key", key.to_string()),
                    None => builder,
                }
            }
            Request::ListDiscs { query } => self.client.get(format!("{}/discs?{query}", self.base)),
            Request::GetDisc { disc } => self.client.get(format!("{}/discs/{disc}", self.base)),
        };
        Self::reply(builder).await
    }

    async fn reply(builder: reqwest::RequestBuilder) -> Reply {
        let response = match builder.send().await {
            Ok(response) => response,
            Err(error) if error.is_connect() => return Reply::NotSent(Failure::Connect),
            Err(error) => return Reply::Lost(Failure::of(&error)),
        };
        let status = response.status().as_u16();
        let headers = response.headers();
        let retry_after = headers.contains_key(RETRY_AFTER);
        let replayed = headers
            .get("idempotent-replayed")
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"true"));
        let body = match response.bytes().await {
            Ok(body) => body,
            // The head came, the body did not: the status tells the outcome,
            // except for a 201 or 202, whose order the client cannot know.
            Err(error) if status == 201 || status == 202 => {
                return Reply::Lost(Failure::of(&error));
            }
            Err(_) => Default::default(),
        };
        let created = (status == 201 || status == 202)
            .then(|| serde_json::from_slice::<Created>(&body).ok())
            .flatten()
            .map(|created| created.id);
        let code = (status >= 400)
            .then(|| serde_json::from_slice::<Problem>(&body).ok())
            .flatten()
            .and_then(|problem| problem.code);
        Reply::Answer(Answer {
            status,
            code,
            retry_after,
            created,
            replayed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, code: Option<&str>) -> Reply {
        Reply::answered(status, code)
    }

    #[test]
    fn labels_name_status_and_problem_code() {
        assert_eq!(answer(201, None).label(), "201");
        assert_eq!(
            answer(409, Some("out_of_stock")).label(),
            "409 out_of_stock"
        );
        assert_eq!(Reply::Lost(Failure::Timeout).label(), "error timeout");
        assert_eq!(Reply::NotSent(Failure::Connect).label(), "error connect");
        assert_eq!(Reply::Lost(Failure::Io).status(), 0);
        assert!(answer(201, None).is_created());
    }
}
