//! `Prefer` (RFC 7240) on purchases: `respond-async` and `wait`.
//!
//! - `POST /purchase-orders` under the queued strategy answers 202 with the
//!   pending order at once by default, and with `respond-async`. With
//!   `wait=N` it holds the answer until the order is decided or N seconds
//!   pass: 201 or the refusal when decided, else 202. A synchronous
//!   strategy decides within the request anyway and ignores both.
//! - `GET /purchase-orders/{id}` with `wait=N` holds the answer until the
//!   order leaves `pending` or N seconds pass.
//!
//! A preference honoured is echoed in `Preference-Applied`. As the RFC
//! asks, what is not understood (another preference, a `wait` that is not
//! a number of seconds) is ignored, never refused. Waits are capped at
//! [`MAX_WAIT`]: a held request costs a connection, not a database one.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse};

/// The longest a request is held for its outcome.
pub const MAX_WAIT: Duration = Duration::from_secs(30);

/// `Preference-Applied`.
pub(crate) const PREFERENCE_APPLIED: HeaderName = HeaderName::from_static("preference-applied");

/// The preferences of a request this API acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Prefer {
    /// `respond-async`: answer 202 at once.
    pub(crate) respond_async: bool,
    /// `wait=N`, capped at [`MAX_WAIT`].
    pub(crate) wait: Option<Duration>,
}

impl Prefer {
    fn parse<'a>(values: impl Iterator<Item = &'a HeaderValue>) -> Self {
        let mut prefer = Self::default();
        let preferences = values
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','));
        for preference in preferences {
            // Parameters after `;` mean nothing to either preference.
            let head = preference.split(';').next().unwrap_or_default();
            let (token, value) = match head.split_once('=') {
                Some((token, value)) => (token.trim(), Some(value.trim().trim_matches('"'))),
                None => (head.trim(), None),
            };
            if token.eq_ignore_ascii_case("respond-async") {
                prefer.respond_async = true;
            } else if token.eq_ignore_ascii_case("wait")
                && let Some(seconds) = value.and_then(|value| value.parse::<u64>().ok())
            {
                prefer.wait = Some(Duration::from_secs(seconds).min(MAX_WAIT));
            }
        }
        prefer
    }

    /// The wait to apply: none when `respond-async` is preferred too (the
    /// client asked to be answered at once).
    pub(crate) fn wait(self) -> Option<Duration> {
        if self.respond_async { None } else { self.wait }
    }

    /// Says in `response` which preference shaped it.
    pub(crate) fn applied(applied: Applied, response: &mut HttpResponse) {
        let value = match applied {
            Applied::RespondAsync => "respond-async".to_owned(),
            Applied::Wait(wait) => format!("wait={}", wait.as_secs()),
        };
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(PREFERENCE_APPLIED, value);
        }
    }
}

/// A preference an answer honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    RespondAsync,
    Wait(Duration),
}

impl FromRequest for Prefer {
    type Error = Infallible;
    type Future = Ready<Result<Self, Infallible>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(Self::parse(request.headers().get_all("prefer"))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> Prefer {
        let values: Vec<HeaderValue> = values
            .iter()
            .map(|value| HeaderValue::from_str(value).unwrap())
            .collect();
        Prefer::parse(values.iter())
    }

    #[test]
    fn reads_both_preferences_in_any_case_and_spacing() {
        let prefer = parse(&["Respond-Async, WAIT = 5"]);
        assert!(prefer.respond_async);
        assert_eq!(prefer.wait, Some(Duration::from_secs(5)));
        assert_eq!(prefer.wait(), None, "respond-async wins over wait");
        assert_eq!(
            parse(&["handling=lenient", "wait=\"3\"; x=y"]).wait(),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn ignores_what_it_does_not_understand_and_caps_the_wait() {
        assert_eq!(
            parse(&["wait=soon", "wait=-1", "return=minimal"]),
            Prefer::default()
        );
        assert_eq!(parse(&["wait=99999999999999999999"]).wait, None);
        assert_eq!(parse(&["wait=3600"]).wait(), Some(MAX_WAIT));
    }
}
