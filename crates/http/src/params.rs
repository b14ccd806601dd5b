//! Path ids, query parameters and the list envelope.
//!
//! Query parameters arrive as strings and are parsed here by hand rather
//! than by serde, so a bad one answers 400 with a message that names the
//! parameter and what it accepts.

use std::future::{Ready, ready};
use std::str::FromStr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use chrono::{DateTime, NaiveTime, Utc};
use recordshop_domain::customer::CustomerId;
use recordshop_domain::disc::DiscId;
use recordshop_domain::order::PurchaseOrderId;
use recordshop_domain::{Page, calendar};
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;

/// Query strings that cannot even be split into parameters are malformed.
pub(crate) fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| {
        ApiError::Malformed(format!("the query string is malformed: {error}")).into()
    })
}

/// An id type that can appear in a path, and the noun for its 404.
pub(crate) trait Identifier: FromStr {
    /// What the id identifies, for messages.
    const NOUN: &'static str;
}

impl Identifier for DiscId {
    const NOUN: &'static str = "disc";
}

impl Identifier for CustomerId {
    const NOUN: &'static str = "customer";
}

impl Identifier for PurchaseOrderId {
    const NOUN: &'static str = "purchase order";
}

/// The `{id}` segment of a path. An id that is not a UUID names nothing,
/// so it answers 404 exactly like an unknown one.
pub(crate) struct PathId<T>(pub T);

impl<T: Identifier + 'static> FromRequest for PathId<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let raw = request.match_info().get("id").unwrap_or_default();
        ready(
            raw.parse()
                .map(PathId)
                .map_err(|_| ApiError::NotFound(format!("{} {raw} not found", T::NOUN))),
        )
    }
}

/// `limit` and `offset`: integers, not negative; `limit` capped by [`Page`].
pub(crate) fn page(limit: Option<&str>, offset: Option<&str>) -> Result<Page, ApiError> {
    let limit = integer("limit", limit)?;
    let offset = integer("offset", offset)?;
    Page::new(limit, offset).map_err(|error| ApiError::Malformed(error.0))
}

/// An optional integer parameter.
pub(crate) fn integer<T: FromStr>(name: &str, raw: Option<&str>) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        raw.parse()
            .map_err(|_| ApiError::Malformed(format!("{name} must be an integer, got {raw:?}")))
    })
    .transpose()
}

/// An optional free-text parameter (a substring or exact-match filter),
/// taken as sent. A control character (`char::is_control`: NUL, tabs, line
/// breaks, DEL, C1) is refused: no stored text holds one, and PostgreSQL
/// refuses NUL in text outright.
pub(crate) fn text(name: &str, raw: Option<String>) -> Result<Option<String>, ApiError> {
    match raw {
        Some(raw) if raw.chars().any(char::is_control) => Err(ApiError::Malformed(format!(
            "{name} must not contain control characters, got {raw:?}"
        ))),
        raw => Ok(raw),
    }
}

/// An optional `true` / `false` parameter.
pub(crate) fn boolean(name: &str, raw: Option<&str>) -> Result<Option<bool>, ApiError> {
    raw.map(|raw| match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::Malformed(format!(
            "{name} must be true or false, got {raw:?}"
        ))),
    })
    .transpose()
}

/// An optional id parameter; unlike a path id, a malformed one is a bad
/// request, since it filters rather than names a resource.
pub(crate) fn id<T: Identifier>(name: &str, raw: Option<&str>) -> Result<Option<T>, ApiError> {
    raw.map(|raw| {
        raw.parse()
            .map_err(|_| ApiError::Malformed(format!("{name} must be a UUID, got {raw:?}")))
    })
    .transpose()
}

/// Which end of a day a bare date stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DayEdge {
    /// Midnight at its start: a date as a lower bound.
    Start,
    /// Its last representable instant: a date as an inclusive upper bound.
    End,
    /// The first instant after it: a date as an exclusive upper bound.
    After,
}

/// An optional instant: an RFC 3339 timestamp, or a `YYYY-MM-DD` date (UTC)
/// standing for one edge of that day; four-digit years only (see
/// `recordshop_domain::calendar`), so every instant read lies within what
/// PostgreSQL stores.
pub(crate) fn instant(
    name: &str,
    raw: Option<&str>,
    edge: DayEdge,
) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.map(|raw| {
        parse_instant(raw, edge).ok_or_else(|| {
            ApiError::Malformed(format!(
                "{name} must be an RFC 3339 timestamp or a YYYY-MM-DD date, with a four-digit \
                 year, got {raw:?}"
            ))
        })
    })
    .transpose()
}

fn parse_instant(raw: &str, edge: DayEdge) -> Option<DateTime<Utc>> {
    if let Some(at) = calendar::parse_instant(raw) {
        return Some(at);
    }
    // An unencoded `+` in a query string decodes to a space, which turns a
    // positive offset (`…T10:00:00+02:00`) into `…T10:00:00 02:00`; read it
    // as the client meant it.
    if let Some((time, offset)) = raw.rsplit_once(' ')
        && let Some(at) = calendar::parse_instant(&format!("{time}+{offset}"))
    {
        return Some(at);
    }
    let date = calendar::parse_date(raw)?;
    let (date, time) = match edge {
        DayEdge::Start => (date, NaiveTime::MIN),
        // Microseconds: the finest instant PostgreSQL stores.
        DayEdge::End => (date, NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999)?),
        DayEdge::After => (date.succ_opt()?, NaiveTime::MIN),
    };
    Some(date.and_time(time).and_utc())
}

/// The list envelope: one page of items and the page that was served.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Listing<T> {
    /// The page's items, in the list's order.
    data: Vec<T>,
    /// The page size applied (the requested one, capped at 100).
    #[schema(example = 100)]
    limit: i64,
    /// Items skipped.
    #[schema(example = 0)]
    offset: i64,
}

impl<T> Listing<T> {
    pub(crate) fn new(data: Vec<T>, page: Page) -> Self {
        Self {
            data,
            limit: page.limit(),
            offset: page.offset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_as_upper_bound_covers_the_whole_day() {
        let end = parse_instant("2026-11-22", DayEdge::End).map(|at| at.to_rfc3339());
        assert_eq!(end.as_deref(), Some("2026-11-22T23:59:59.999999+00:00"));
        let start = parse_instant("2026-11-22", DayEdge::Start).map(|at| at.to_rfc3339());
        assert_eq!(start.as_deref(), Some("2026-11-22T00:00:00+00:00"));
    }

    #[test]
    fn timestamps_are_converted_to_utc_even_with_a_decoded_plus() {
        for raw in ["2026-11-22T12:00:00+02:00", "2026-11-22T12:00:00 02:00"] {
            let at = parse_instant(raw, DayEdge::Start).map(|at| at.to_rfc3339());
            assert_eq!(at.as_deref(), Some("2026-11-22T10:00:00+00:00"), "{raw}");
        }
        assert_eq!(parse_instant("2026-02-30", DayEdge::Start), None);
        assert_eq!(parse_instant("yesterday", DayEdge::End), None);
    }

    #[test]
    fn years_have_four_digits_so_every_instant_fits_postgresql() {
        for raw in [
            "-5000-01-01",
            "-5000-01-01T00:00:00Z",
            "26-01-01",
            "2026-1-1",
            "300000-01-01T00:00:00Z",
        ] {
            assert_eq!(parse_instant(raw, DayEdge::End), None, "{raw}");
        }
        let Err(ApiError::Malformed(message)) = instant("to", Some("-5000-01-01"), DayEdge::End)
        else {
            panic!("a five-digit year must be refused");
        };
        assert!(message.starts_with("to must be"), "{message}");
    }

    #[test]
    fn text_refuses_control_characters_and_names_the_parameter() {
        for raw in [
            "\u{d9}\u{0}",
            "EP\u{fe}\u{0}",
            "a\tb",
            "trailing\n",
            "\u{7f}",
            "\u{85}",
        ] {
            let Err(ApiError::Malformed(message)) = text("genre", Some(raw.to_owned())) else {
                panic!("{raw:?} should be refused");
            };
            assert!(
                message.starts_with("genre must not contain control characters"),
                "{message}"
            );
        }
        assert!(matches!(text("genre", None), Ok(None)));
        assert_eq!(
            text("genre", Some(" Côte d'Ivoire ".to_owned()))
                .ok()
                .flatten()
                .as_deref(),
            Some(" Côte d'Ivoire ")
        );
    }

    #[test]
    fn page_parameters() {
        assert!(matches!(
            page(Some("-1"), None),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            page(Some("ten"), None),
            Err(ApiError::Malformed(_))
        ));
        assert!(matches!(
            page(None, Some("1.5")),
            Err(ApiError::Malformed(_))
        ));
        let capped = page(Some("1000"), Some("3")).map(|p| (p.limit(), p.offset()));
        assert!(matches!(capped, Ok((100, 3))));
    }
}
