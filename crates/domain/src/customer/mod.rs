//! Customers: registered once, edited, deactivated, never removed.

mod error;
mod port;
mod service;
mod values;

use chrono::{DateTime, Utc};

use crate::Page;
pub use crate::id::CustomerId;
use crate::idempotency::{Canonical, Fingerprint};
pub use error::CustomerError;
pub use port::CustomerRepository;
#[cfg(any(test, feature = "mocks"))]
pub use port::MockCustomerRepository;
pub use service::CustomerService;
pub use values::{BirthDate, Document, Email, PersonName, Phone};

/// A customer of the shop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub id: CustomerId,
    /// A national document number; unique among customers.
    pub document: Document,
    pub name: PersonName,
    pub birth_date: BirthDate,
    /// Unique among customers, compared case-insensitively.
    pub email: Email,
    pub phone: Phone,
    /// Only active customers may buy.
    pub is_active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A customer about to register; starts active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCustomer {
    pub id: CustomerId,
    pub document: Document,
    pub name: PersonName,
    pub birth_date: BirthDate,
    pub email: Email,
    pub phone: Phone,
}

impl NewCustomer {
    /// What the registration asks for: every field as validated (trimmed,
    /// email as written). Not the id, which each request generates anew.
    #[must_use]
    pub fn fingerprint(&self) -> Fingerprint {
        Canonical::new("customer")
            .field("document", self.document.as_str())
            .field("name", self.name.as_str())
            .field("birth_date", self.birth_date.get().format("%Y-%m-%d"))
            .field("email", self.email.as_str())
            .field("phone", self.phone.as_str())
            .fingerprint()
    }
}

/// A partial update: `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerPatch {
    pub document: Option<Document>,
    pub name: Option<PersonName>,
    pub birth_date: Option<BirthDate>,
    pub email: Option<Email>,
    pub phone: Option<Phone>,
    /// `Some(true)` reactivates, `Some(false)` deactivates.
    pub is_active: Option<bool>,
}

impl CustomerPatch {
    /// True when the patch changes nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Which customers a listing returns; set filters combine with AND.
/// Results are ordered by name, then id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerFilter {
    /// Exact document.
    pub document: Option<String>,
    /// Exact email, compared case-insensitively like the uniqueness rule.
    pub email: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    pub is_active: Option<bool>,
    pub page: Page,
}
