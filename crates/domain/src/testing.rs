//! Sample values for tests of this crate and of the crates above it (with
//! the `mocks` feature).

use chrono::{NaiveDate, TimeZone, Utc};

use crate::customer::{
    BirthDate, Customer, CustomerId, Document, Email, NewCustomer, PersonName, Phone,
};
use crate::disc::{ArtistName, Disc, DiscId, DiscName, Genre, ReleaseYear, StockQuantity};
use crate::idempotency::{IdempotencyKey, IdempotencyRequest, KeyOwner};
use crate::order::{NewPurchaseOrder, OrderStatus, PurchaseOrder};

fn valid<T, E: std::fmt::Display>(result: Result<T, E>) -> T {
    result.unwrap_or_else(|error| panic!("sample value is invalid: {error}"))
}

/// A disc with `quantity` units in stock.
#[must_use]
pub fn sample_disc(quantity: i64) -> Disc {
    let at = Utc
        .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default();
    Disc {
        id: DiscId::generate(),
        name: valid(DiscName::parse("We are Reactive")),
        artist: valid(ArtistName::parse("Hohpe")),
        year_of_release: valid(ReleaseYear::parse_in(2022, 2026)),
        genre: valid(Genre::parse("Indie")),
        quantity: valid(StockQuantity::parse(quantity)),
        created_at: at,
        updated_at: at,
    }
}

/// A new customer whose document and email derive from `tag`.
#[must_use]
pub fn sample_new_customer(tag: &str) -> NewCustomer {
    let born = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap_or_default();
    NewCustomer {
        id: CustomerId::generate(),
        document: valid(Document::parse(&format!("doc-{tag}"))),
        name: valid(PersonName::parse("John Doe")),
        birth_date: valid(BirthDate::new(born, born)),
        email: valid(Email::parse(&format!("john.{tag}@example.com"))),
        phone: valid(Phone::parse("5511123456789")),
    }
}

/// An active customer.
#[must_use]
pub fn sample_customer() -> Customer {
    let new = sample_new_customer("sample");
    let at = Utc
        .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
        .single()
        .unwrap_or_default();
    Customer {
        id: new.id,
        document: new.document,
        name: new.name,
        birth_date: new.birth_date,
        email: new.email,
        phone: new.phone,
        is_active: true,
        created_at: at,
        updated_at: at,
    }
}

/// The confirmed order a store would return for `order`.
#[must_use]
pub fn sample_order(order: &NewPurchaseOrder) -> PurchaseOrder {
    let mut customer = sample_customer();
    customer.id = order.customer_id;
    let mut disc = sample_disc(100);
    disc.id = order.disc_id;
    let now = Utc::now();
    PurchaseOrder {
        id: order.id,
        customer_id: order.customer_id,
        disc_id: order.disc_id,
        quantity: order.quantity,
        status: OrderStatus::Confirmed,
        rejection_reason: None,
        created_at: now,
        decided_at: Some(now),
        canceled_at: None,
        customer,
        disc,
    }
}

/// The idempotency key `key` of `owner`.
#[must_use]
pub fn idempotency_request(owner: &str, key: &str) -> IdempotencyRequest {
    IdempotencyRequest {
        owner: KeyOwner::new(owner),
        key: valid(IdempotencyKey::parse(key)),
    }
}
