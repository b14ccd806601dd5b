//! One request to send, as both the catalog and a parsed Insomnia export
//! describe it: templates not yet rendered.

use crate::catalog::Request;

/// A request to send and the status it should answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The request's id; response tags refer to it.
    pub id: String,
    /// For people and failure messages.
    pub name: String,
    /// `GET`, `POST`, …
    pub method: String,
    /// The URL template.
    pub url: String,
    /// The body template, if any.
    pub body: Option<String>,
    /// The body's media type, if any.
    pub content_type: Option<String>,
    /// The documented status.
    pub expected_status: u16,
    /// The bearer token template, if the request sends one.
    pub token: Option<String>,
    /// Further headers, in order, each value a template; never
    /// `Content-Type` (see `content_type`) or the bearer token.
    pub headers: Vec<(String, String)>,
}

impl From<&Request> for Step {
    fn from(request: &Request) -> Self {
        Self {
            id: request.id.to_owned(),
            name: request.name.to_owned(),
            method: request.method.to_owned(),
            url: request.url.clone(),
            body: request.body.clone(),
            content_type: request.body.as_ref().map(|_| "application/json".to_owned()),
            expected_status: request.expected_status,
            token: request.token.clone(),
            headers: request
                .headers
                .iter()
                .map(|(name, value)| ((*name).to_owned(), value.clone()))
                .collect(),
        }
    }
}
