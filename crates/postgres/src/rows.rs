//! The database's shape of a disc and a customer, and their conversion to
//! and from the domain's types.
//!
//! The same structs read table rows and serialise the order snapshots
//! (jsonb), so a snapshot and a row of the same entity cannot drift apart.
//! A stored value the domain refuses is a broken invariant: it surfaces as
//! [`StoreError::Unexpected`], never as a panic.

use anyhow::{Context, anyhow};
use chrono::{DateTime, NaiveDate, Utc};
use recordshop_domain::customer::{
    BirthDate, Customer, CustomerId, Document, Email, PersonName, Phone,
};
use recordshop_domain::disc::{Disc, DiscId, DiscRecord};
use recordshop_domain::order::{OrderEvent, OrderQuantity, PurchaseOrder, PurchaseOrderId};
use recordshop_domain::{InvalidValue, StoreError};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, Json};
use uuid::Uuid;

/// Reads column `name`; a missing column or a type mismatch is a bug.
fn column<'a, T: FromSql<'a>>(row: &'a Row, name: &str) -> Result<T, StoreError> {
    row.try_get(name)
        .with_context(|| format!("reading column {name}"))
        .map_err(StoreError::Unexpected)
}

/// Accepts a stored value the domain considers valid.
fn stored<T>(value: Result<T, InvalidValue>, what: &str) -> Result<T, StoreError> {
    value.map_err(|invalid| StoreError::Unexpected(anyhow!("stored {what} is invalid: {invalid}")))
}

/// A disc as the `discs` table and the orders' `disc_snapshot` hold it
/// (the snapshot is `to_jsonb` of the row: the same field names).
pub(crate) type StoredDisc = DiscRecord;

fn disc_record(row: &Row) -> Result<DiscRecord, StoreError> {
    Ok(DiscRecord {
        id: column(row, "id")?,
        name: column(row, "name")?,
        artist: column(row, "artist")?,
        year_of_release: column(row, "year_of_release")?,
        genre: column(row, "genre")?,
        quantity: column(row, "quantity")?,
        created_at: column(row, "created_at")?,
        updated_at: column(row, "updated_at")?,
    })
}

fn disc_from_record(record: DiscRecord) -> Result<Disc, StoreError> {
    stored(Disc::from_record(record), "disc")
}

/// A customer as the `customers` table and the orders' `customer_snapshot`
/// hold it.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct StoredCustomer {
    id: Uuid,
    document: String,
    name: String,
    birth_date: NaiveDate,
    email: String,
    phone: String,
    is_active: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl StoredCustomer {
    fn from_row(row: &Row) -> Result<Self, StoreError> {
        Ok(Self {
            id: column(row, "id")?,
            document: column(row, "document")?,
            name: column(row, "name")?,
            birth_date: column(row, "birth_date")?,
            email: column(row, "email")?,
            phone: column(row, "phone")?,
            is_active: column(row, "is_active")?,
            created_at: column(row, "created_at")?,
            updated_at: column(row, "updated_at")?,
        })
    }

    fn into_domain(self) -> Result<Customer, StoreError> {
        let today = Utc::now().date_naive();
        Ok(Customer {
            id: CustomerId::from_uuid(self.id),
            document: stored(Document::parse(&self.document), "document")?,
            name: stored(PersonName::parse(&self.name), "customer name")?,
            birth_date: stored(BirthDate::new(self.birth_date, today), "birth date")?,
            email: stored(Email::parse(&self.email), "email")?,
            phone: stored(Phone::parse(&self.phone), "phone")?,
            is_active: self.is_active,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

impl From<&Customer> for StoredCustomer {
    fn from(customer: &Customer) -> Self {
        Self {
            id: customer.id.as_uuid(),
            document: customer.document.as_str().to_owned(),
            name: customer.name.as_str().to_owned(),
            birth_date: customer.birth_date.get(),
            email: customer.email.as_str().to_owned(),
            phone: customer.phone.as_str().to_owned(),
            is_active: customer.is_active,
            created_at: customer.created_at,
            updated_at: customer.updated_at,
        }
    }
}

/// A disc from a row with the `discs` columns.
pub(crate) fn disc(row: &Row) -> Result<Disc, StoreError> {
    disc_from_record(disc_record(row)?)
}

/// A disc from its jsonb form: `to_jsonb` of a row with the `discs`
/// columns, as a snapshot holds it too.
pub(crate) fn disc_from_json(Json(stored): Json<StoredDisc>) -> Result<Disc, StoreError> {
    disc_from_record(stored)
}

/// A customer from its jsonb form (see [`disc_from_json`]).
pub(crate) fn customer_from_json(
    Json(stored): Json<StoredCustomer>,
) -> Result<Customer, StoreError> {
    stored.into_domain()
}

/// A customer from a row with the `customers` columns.
pub(crate) fn customer(row: &Row) -> Result<Customer, StoreError> {
    StoredCustomer::from_row(row)?.into_domain()
}

/// An order from a row with the `purchase_orders` columns.
pub(crate) fn order(row: &Row) -> Result<PurchaseOrder, StoreError> {
    let status: String = column(row, "status")?;
    let rejection_reason: Option<String> = column(row, "rejection_reason")?;
    let quantity: i32 = column(row, "quantity")?;
    let Json(customer): Json<StoredCustomer> = column(row, "customer_snapshot")?;
    let Json(disc): Json<StoredDisc> = column(row, "disc_snapshot")?;
    Ok(PurchaseOrder {
        id: PurchaseOrderId::from_uuid(column(row, "id")?),
        customer_id: CustomerId::from_uuid(column(row, "customer_id")?),
        disc_id: DiscId::from_uuid(column(row, "disc_id")?),
        quantity: stored(OrderQuantity::parse(i64::from(quantity)), "order quantity")?,
        status: stored(status.parse(), "order status")?,
        rejection_reason: rejection_reason
            .map(|reason| stored(reason.parse(), "rejection reason"))
            .transpose()?,
        created_at: column(row, "created_at")?,
        decided_at: column(row, "decided_at")?,
        canceled_at: column(row, "canceled_at")?,
        customer: customer.into_domain()?,
        disc: disc_from_record(disc)?,
    })
}

/// An event from a row of `order_events` (with the rejection reason taken
/// out of its data).
pub(crate) fn order_event(row: &Row) -> Result<OrderEvent, StoreError> {
    let kind: String = column(row, "type")?;
    let status = kind
        .strip_prefix("order.")
        .ok_or_else(|| StoreError::Unexpected(anyhow!("stored event type {kind:?}")))?;
    let rejection_reason: Option<String> = column(row, "rejection_reason")?;
    Ok(OrderEvent {
        id: column(row, "id")?,
        order_id: PurchaseOrderId::from_uuid(column(row, "order_id")?),
        status: stored(status.parse(), "event status")?,
        rejection_reason: rejection_reason
            .map(|reason| stored(reason.parse(), "rejection reason"))
            .transpose()?,
        occurred_at: column(row, "occurred_at")?,
    })
}

/// Turns a list of rows into domain values with `convert`.
pub(crate) fn all<T>(
    rows: &[Row],
    convert: fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(convert).collect()
}
