//! The server's HTTP contract as the experiment uses it: the set-up calls
//! (create a disc, create a customer), readiness, and the requests the load
//! is made of, each reduced to an [`Answer`].

use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

/// A plain-HTTP client for one server on 127.0.0.1.
///
/// Writes (set-up and purchases) carry a staff bearer token; catalog reads
/// go without one, as a shopper browsing would.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// One request of the load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// `POST /purchase-orders` for one unit.
    Purchase { customer: Uuid, disc: Uuid },
    /// `GET /discs?…`, the query string without its `?`.
    ListDiscs { query: String },
    /// `GET /discs/{id}`.
    GetDisc { disc: Uuid },
}

/// What came back for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer; `code` is the problem+json `code` of an error answer.
    Http { status: u16, code: Option<String> },
    /// No HTTP answer: the connection failed, broke or timed out. For a
    /// purchase the outcome is unknown.
    Transport(&'static str),
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
#[derive(Clone, Debug, serde::Serialize)]
pub struct NewDisc {
    pub name: String,
    pub artist: String,
    pub year_of_release: i32,
    pub genre: String,
    pub quantity: i64,
}

/// The fields of `POST /customers`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct NewCustomer {
    pub document: String,
    pub name: String,
    pub birth_date: String,
    pub email: String,
    pub phone: String,
}

impl Api {
    /// A client for the server on `127.0.0.1:port`, keeping up to
    /// `connections` idle keep-alive connections (one per load client).
    pub fn new(port: u16, connections: usize) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(connections)
            .connect_timeout(Duration::from_secs(5))
            // Bounds a request the deadline does not cut (set-up calls).
            .timeout(Duration::from_secs(30))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            base: format!("http://127.0.0.1:{port}"),
            token: None,
        })
    }

    /// The same client, sending `token` with every write.
    #[must_use]
    pub fn with_token(self, token: String) -> Self {
        Self {
            token: Some(token),
            ..self
        }
    }

    fn authorized(&self, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// True when `GET /health/ready` answers 200.
    pub async fn ready(&self) -> bool {
        match self
            .client
            .get(format!("{}/health/ready", self.base))
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(response) => response.status().as_u16() == 200,
            Err(_) => false,
        }
    }

    pub async fn create_disc(&self, disc: &NewDisc) -> anyhow::Result<Uuid> {
        self.create("/discs", disc).await
    }

    pub async fn create_customer(&self, customer: &NewCustomer) -> anyhow::Result<Uuid> {
        self.create("/customers", customer).await
    }

    async fn create(&self, path: &str, body: &impl serde::Serialize) -> anyhow::Result<Uuid> {
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

    /// Sends one load request and reads its whole answer (so the connection
    /// goes back to the pool).
    pub async fn send(&self, request: &Request) -> Answer {
        let builder = match request {
            Request::Purchase { customer, disc } => self
                .authorized(self.client.post(format!("{}/purchase-orders", self.base)))
                .json(&json!({"customer_id": customer, "disc_id": disc, "quantity": 1})),
            Request::ListDiscs { query } => self.client.get(format!("{}/discs?{query}", self.base)),
            Request::GetDisc { disc } => self.client.get(format!("{}/discs/{disc}", self.base)),
        };
        let response = match builder.send().await {
            Ok(response) => response,
            Err(error) => return Answer::Transport(transport_kind(&error)),
        };
        let status = response.status().as_u16();
        let body = match response.bytes().await {
            Ok(body) => body,
            Err(error) => return Answer::Transport(transport_kind(&error)),
        };
        let code = if status >= 400 {
            serde_json::from_slice::<Problem>(&body)
                .ok()
                .and_then(|problem| problem.code)
        } else {
            None
        };
        Answer::Http { status, code }
    }
}

fn transport_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "io"
    }
}

impl Answer {
    /// The key of the status histogram: `201`, `409 out_of_stock`,
    /// `error timeout`.
    pub fn label(&self) -> String {
        match self {
            Answer::Http { status, code: None } => status.to_string(),
            Answer::Http {
                status,
                code: Some(code),
            } => format!("{status} {code}"),
            Answer::Transport(kind) => format!("error {kind}"),
        }
    }

    /// The HTTP status, or 0 when there was none.
    pub fn status(&self) -> u16 {
        match self {
            Answer::Http { status, .. } => *status,
            Answer::Transport(_) => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_status_and_problem_code() {
        let plain = Answer::Http {
            status: 201,
            code: None,
        };
        let problem = Answer::Http {
            status: 409,
            code: Some("out_of_stock".into()),
        };
        assert_eq!(plain.label(), "201");
        assert_eq!(problem.label(), "409 out_of_stock");
        assert_eq!(Answer::Transport("timeout").label(), "error timeout");
        assert_eq!(Answer::Transport("io").status(), 0);
    }
}
