//! Who a verified token speaks for.

use std::fmt;
use std::str::FromStr;

use recordshop_domain::customer::CustomerId;

/// The subject of staff tokens minted without `--subject`.
const DEFAULT_STAFF_SUBJECT: &str = "staff";

/// Longest staff subject accepted.
const MAX_SUBJECT_CHARS: usize = 64;

/// A role a token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Everything.
    Staff,
    /// One customer's own record and orders.
    Customer,
}

impl Role {
    /// The role as the `role` claim spells it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Staff => "staff",
            Self::Customer => "customer",
        }
    }
}

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw {
            "staff" => Ok(Self::Staff),
            "customer" => Ok(Self::Customer),
            _ => Err(UnknownRole),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `role` other than `staff` or `customer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the role must be staff or customer")]
pub struct UnknownRole;

/// A staff subject that could not be logged safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a staff subject must be 1 to {MAX_SUBJECT_CHARS} letters, digits or . _ @ - characters, got {0:?}"
)]
pub struct InvalidSubject(pub String);

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// An operator of the shop, allowed everything; `subject` names them in
    /// logs.
    Staff {
        /// Who, for the logs: letters, digits and `._@-` only, so it can
        /// neither forge a log line nor hide in one.
        subject: String,
    },
    /// A customer, acting for themselves only.
    Customer(CustomerId),
}

impl Principal {
    /// Staff under the default subject, `staff`.
    #[must_use]
    pub fn staff() -> Self {
        Self::Staff {
            subject: DEFAULT_STAFF_SUBJECT.to_owned(),
        }
    }

    /// Staff named `subject`.
    ///
    /// # Errors
    /// [`InvalidSubject`] unless `subject` is 1 to 64 letters, digits or
    /// `._@-`.
    pub fn staff_named(subject: &str) -> Result<Self, InvalidSubject> {
        let valid = (1..=MAX_SUBJECT_CHARS).contains(&subject.chars().count())
            && subject
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '@' | '-'));
        if valid {
            Ok(Self::Staff {
                subject: subject.to_owned(),
            })
        } else {
            Err(InvalidSubject(subject.to_owned()))
        }
    }

    /// The role this principal holds.
    #[must_use]
    pub const fn role(&self) -> Role {
        match self {
            Self::Staff { .. } => Role::Staff,
            Self::Customer(_) => Role::Customer,
        }
    }

    /// The `sub` claim: the staff subject, or the customer's id.
    #[must_use]
    pub fn subject(&self) -> String {
        match self {
            Self::Staff { subject } => subject.clone(),
            Self::Customer(id) => id.to_string(),
        }
    }
}

/// `staff:alice` or `customer:<id>`: ids only, fit for logs.
impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Staff { subject } => write!(f, "staff:{subject}"),
            Self::Customer(id) => write!(f, "customer:{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_subjects_are_short_and_plain() {
        assert!(Principal::staff_named("alice").is_ok());
        assert!(Principal::staff_named("ops.bot-2@shop").is_ok());
        assert!(Principal::staff_named(&"a".repeat(64)).is_ok());
        for bad in ["", "a b", "line\nbreak", "caf\u{e9}", &"a".repeat(65)] {
            assert_eq!(
                Principal::staff_named(bad),
                Err(InvalidSubject(bad.to_owned()))
            );
        }
        assert_eq!(Principal::staff().subject(), "staff");
    }

    #[test]
    fn roles_round_trip_and_display_ids_only() {
        for role in [Role::Staff, Role::Customer] {
            assert_eq!(role.as_str().parse(), Ok(role));
        }
        assert_eq!("admin".parse::<Role>(), Err(UnknownRole));
        assert_eq!("Staff".parse::<Role>(), Err(UnknownRole));
        let id: CustomerId = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb".parse().unwrap();
        assert_eq!(
            Principal::Customer(id).to_string(),
            "customer:0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb"
        );
        assert_eq!(Principal::staff().to_string(), "staff:staff");
    }
}
