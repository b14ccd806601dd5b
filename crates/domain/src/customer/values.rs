//! Values a customer is made of; each exists only when valid.

use chrono::{NaiveDate, Utc};

use crate::InvalidValue;
use crate::text::bounded_text;

bounded_text!(
    /// A national document number: 1 to 32 characters, trimmed.
    Document,
    1,
    32
);
bounded_text!(
    /// A person's name: 1 to 200 characters, trimmed.
    PersonName,
    1,
    200
);

/// A date of birth: a real date from 1900-01-01 up to today.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BirthDate(NaiveDate);

impl BirthDate {
    /// Earliest accepted date of birth.
    pub const EARLIEST: NaiveDate = match NaiveDate::from_ymd_opt(1900, 1, 1) {
        Some(date) => date,
        None => panic!("1900-01-01 is a date"),
    };

    /// Parses `YYYY-MM-DD` and checks the range against today's date (UTC).
    ///
    /// # Errors
    /// [`InvalidValue`] when it is not a real date or out of range.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let date = crate::calendar::parse_date(raw.trim())
            .ok_or_else(|| InvalidValue::new("must be a real date written YYYY-MM-DD"))?;
        Self::new(date, Utc::now().date_naive())
    }

    /// Checks `date` against the range ending `today`.
    ///
    /// # Errors
    /// [`InvalidValue`] before 1900-01-01 or after `today`.
    pub fn new(date: NaiveDate, today: NaiveDate) -> Result<Self, InvalidValue> {
        if date < Self::EARLIEST {
            Err(InvalidValue::new("must not be before 1900-01-01"))
        } else if date > today {
            Err(InvalidValue::new("must not be in the future"))
        } else {
            Ok(Self(date))
        }
    }

    /// The date.
    #[must_use]
    pub const fn get(self) -> NaiveDate {
        self.0
    }
}

/// A plausible email address: `local@domain.tld`, at most 254 characters,
/// no white space. Kept as written (trimmed); compared case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The longest address SMTP can carry.
    pub const MAX_CHARS: usize = 254;

    /// Trims `raw` and checks its shape.
    ///
    /// # Errors
    /// [`InvalidValue`] when it does not look like `local@domain.tld` or
    /// holds a control character.
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let email = raw.trim();
        let invalid = || InvalidValue::new("must be an address like name@example.com");
        if email.chars().count() > Self::MAX_CHARS {
            return Err(InvalidValue::new(format!(
                "must be at most {} characters",
                Self::MAX_CHARS
            )));
        }
        if email.chars().any(char::is_control) {
            return Err(InvalidValue::new(crate::text::NO_CONTROL_CHARACTERS));
        }
        if email.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let labels: Vec<&str> = domain.split('.').collect();
        let plausible = !local.is_empty()
            && !domain.contains('@')
            && labels.len() >= 2
            && labels.iter().all(|label| !label.is_empty());
        if plausible {
            Ok(Self(email.to_owned()))
        } else {
            Err(invalid())
        }
    }

    /// The address, as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A phone number: 3 to 32 characters of digits, spaces and `+-()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Trims `raw` and checks length and characters.
    ///
    /// # Errors
    /// [`InvalidValue`] when too short, too long, or with other characters
    /// (control characters included).
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let phone = crate::text::bounded_trimmed(raw, 3, 32)?;
        let allowed = |c: char| c.is_ascii_digit() || " +-()".contains(c);
        if phone.chars().all(allowed) {
            Ok(Self(phone))
        } else {
            Err(InvalidValue::new(
                "may hold only digits, spaces and + - ( )",
            ))
        }
    }

    /// The number, as stored.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn date(raw: &str) -> NaiveDate {
        NaiveDate::parse_from_str(raw, "%Y-%m-%d").unwrap_or(NaiveDate::MIN)
    }

    #[test]
    fn birth_date_rules() {
        let today = date("2026-11-22");
        assert!(BirthDate::new(date("1899-12-31"), today).is_err());
        assert!(BirthDate::new(date("1900-01-01"), today).is_ok());
        assert!(BirthDate::new(today, today).is_ok());
        assert!(BirthDate::new(date("2026-11-23"), today).is_err());
        assert!(BirthDate::parse("2023-02-30").is_err());
        assert!(BirthDate::parse("01/02/2000").is_err());
        assert!(BirthDate::parse("2000-1-1").is_err());
        assert!(BirthDate::parse("95-01-01").is_err());
    }

    #[test]
    fn emails() {
        for good in ["johndoe@gmail.com", "a.b+c@sub.example.org", " x@y.io "] {
            assert!(Email::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@b.",
            "a@.com",
            "a b@c.com",
            "a@b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn control_characters_are_refused_in_every_text_value() {
        let rule = Err(InvalidValue::new(crate::text::NO_CONTROL_CHARACTERS));
        assert_eq!(Document::parse("EP\u{fe}\u{0}1").map(|_| ()), rule);
        assert_eq!(PersonName::parse("\u{0}?WBt").map(|_| ()), rule);
        assert_eq!(PersonName::parse("Ada\tLovelace").map(|_| ()), rule);
        assert_eq!(Email::parse("ada\u{0}@example.com").map(|_| ()), rule);
        assert_eq!(Email::parse("ada@exa\u{7f}mple.com").map(|_| ()), rule);
        assert_eq!(Phone::parse("555\u{0}1234").map(|_| ()), rule);
        // Trimmed first: a trailing newline goes, it is not refused.
        assert_eq!(
            PersonName::parse("Ada Lovelace\n").map(|n| n.as_str().to_owned()),
            Ok("Ada Lovelace".to_owned())
        );
        assert!(Email::parse("ada@example.com\r\n").is_ok());
        assert!(Phone::parse("\t555 1234\n").is_ok());
    }

    #[test]
    fn phones() {
        assert!(Phone::parse("+55 (11) 12345-6789").is_ok());
        assert!(Phone::parse("12").is_err());
        assert!(Phone::parse("555-CALL-NOW").is_err());
        assert!(Phone::parse(&"1".repeat(33)).is_err());
    }

    proptest! {
        #[test]
        fn accepted_emails_have_one_at_and_a_dotted_domain(raw in "\\PC{0,60}") {
            if let Ok(email) = Email::parse(&raw) {
                let (local, domain) = email.as_str().split_once('@').ok_or_else(|| TestCaseError::fail("no @"))?;
                prop_assert!(!local.is_empty());
                prop_assert!(domain.contains('.') && !domain.contains('@'));
                prop_assert!(!email.as_str().chars().any(char::is_whitespace));
            }
        }

        #[test]
        fn customer_text_with_a_control_character_inside_is_refused(
            text in "[a-z0-9]{1,8}",
            control in "\\p{Cc}",
        ) {
            let raw = format!("1{text}{control}{text}1");
            prop_assert!(Document::parse(&raw).is_err());
            prop_assert!(PersonName::parse(&raw).is_err());
            prop_assert!(Phone::parse(&raw).is_err());
            let email = format!("{raw}@example.com");
            prop_assert!(Email::parse(&email).is_err());
        }

        #[test]
        fn accepted_phones_use_only_the_allowed_characters(raw in "[0-9a-z +()\\-]{0,40}") {
            if let Ok(phone) = Phone::parse(&raw) {
                prop_assert!(phone.as_str().chars().all(|c| c.is_ascii_digit() || " +-()".contains(c)));
                prop_assert!((3..=32).contains(&phone.as_str().chars().count()));
            }
        }
    }
}
