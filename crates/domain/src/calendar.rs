//! Dates and instants as the contract writes them: a date is exactly
//! `YYYY-MM-DD` (four-digit year, two-digit month and day), an instant is
//! RFC 3339 with a four-digit year (`2026-11-22T10:00:00Z`,
//! `…+02:00`). Chrono alone also reads `26-01-01` (the year 26) and
//! `2026-1-1`; neither is what a client means.
//!
//! Every value read this way lies within PostgreSQL's range (4713 BC to
//! 294276 AD), so nothing a client sends reaches the database only to be
//! refused there; [`within_storage_range`] says so for values made
//! otherwise.

use chrono::{DateTime, NaiveDate, Utc};

/// A `YYYY-MM-DD` date, or `None`.
#[must_use]
pub fn parse_date(raw: &str) -> Option<NaiveDate> {
    let bytes = raw.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(index, byte)| index == 4 || index == 7 || byte.is_ascii_digit());
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()
}

/// An RFC 3339 instant with a four-digit year, in UTC, or `None`.
#[must_use]
pub fn parse_instant(raw: &str) -> Option<DateTime<Utc>> {
    let date = raw.get(..10)?;
    let separator = raw.as_bytes().get(10)?;
    if parse_date(date).is_none() || !matches!(separator, b'T' | b't' | b' ') {
        return None;
    }
    let at = DateTime::parse_from_rfc3339(raw).ok()?.with_timezone(&Utc);
    within_storage_range(at).then_some(at)
}

/// Whether PostgreSQL's `timestamptz` can hold `at`: from 4713 BC (year
/// -4712 in ISO numbering) to 294276 AD.
#[must_use]
pub fn within_storage_range(at: DateTime<Utc>) -> bool {
    use chrono::Datelike;
    (-4712..=294_276).contains(&at.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_four_digit_years_and_two_digit_months_and_days() {
        assert_eq!(
            parse_date("2026-11-22"),
            NaiveDate::from_ymd_opt(2026, 11, 22)
        );
        assert_eq!(parse_date("0001-01-01"), NaiveDate::from_ymd_opt(1, 1, 1));
        for bad in [
            "26-01-01",
            "2026-1-1",
            "2026-01-1",
            "+2026-01-01",
            "-5000-01-01",
            "20260-01-01",
            "2026-02-30",
            "2026/01/01",
            " 2026-01-01",
            "2026-01-01 ",
            "",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn instants_are_rfc3339_with_four_digit_years() {
        let at = parse_instant("2026-11-22T12:00:00+02:00").map(|at| at.to_rfc3339());
        assert_eq!(at.as_deref(), Some("2026-11-22T10:00:00+00:00"));
        assert!(parse_instant("2026-11-22t10:00:00.123456z").is_some());
        assert!(parse_instant("0000-01-01T00:00:00+14:00").is_some());
        assert!(parse_instant("9999-12-31T23:59:59-23:59").is_some());
        for bad in [
            "-5000-01-01T00:00:00Z",
            "26-01-01T00:00:00Z",
            "+275760-09-13T00:00:00Z",
            "2026-11-22",
            "2026-11-22T10:00:00",
            "2026-13-01T00:00:00Z",
            "yesterday",
        ] {
            assert_eq!(parse_instant(bad), None, "{bad:?}");
        }
    }
}
