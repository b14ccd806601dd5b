//! The JSON shapes of `/customers`, and their translation to and from the
//! domain.

use recordshop_domain::customer::{
    BirthDate, Customer, CustomerFilter, CustomerId, CustomerPatch, Document, Email, NewCustomer,
    PersonName, Phone,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::timestamp;
use crate::params;
use crate::validation::Fields;

/// Body of `POST /customers`. `birth_date` is taken as text so that an
/// impossible date (`2023-02-30`) is a field error, not a malformed body.
#[derive(Debug, Deserialize)]
pub(super) struct RegisterCustomer {
    document: Option<String>,
    name: Option<String>,
    birth_date: Option<String>,
    email: Option<String>,
    phone: Option<String>,
}

impl RegisterCustomer {
    /// A new, active customer under a fresh id, or a 422 listing every
    /// missing or invalid field.
    pub(super) fn try_into_domain(self) -> Result<NewCustomer, ApiError> {
        let mut fields = Fields::default();
        let document = fields.required("document", self.document, |raw| Document::parse(&raw));
        let name = fields.required("name", self.name, |raw| PersonName::parse(&raw));
        let birth_date =
            fields.required("birth_date", self.birth_date, |raw| BirthDate::parse(&raw));
        let email = fields.required("email", self.email, |raw| Email::parse(&raw));
        let phone = fields.required("phone", self.phone, |raw| Phone::parse(&raw));
        let (Some(document), Some(name), Some(birth_date), Some(email), Some(phone)) =
            (document, name, birth_date, email, phone)
        else {
            return Err(fields.into_error());
        };
        Ok(NewCustomer {
            id: CustomerId::generate(),
            document,
            name,
            birth_date,
            email,
            phone,
        })
    }
}

/// Body of `PUT` / `PATCH /customers/{id}`: any subset of the create fields
/// and `is_active`; absent or `null` keeps the current value.
#[derive(Debug, Deserialize)]
pub(super) struct UpdateCustomer {
    document: Option<String>,
    name: Option<String>,
    birth_date: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    is_active: Option<bool>,
}

impl UpdateCustomer {
    /// The patch, or a 422 listing every invalid field.
    pub(super) fn try_into_domain(self) -> Result<CustomerPatch, ApiError> {
        let mut fields = Fields::default();
        let patch = CustomerPatch {
            document: fields.optional("document", self.document, |raw| Document::parse(&raw)),
            name: fields.optional("name", self.name, |raw| PersonName::parse(&raw)),
            birth_date: fields
                .optional("birth_date", self.birth_date, |raw| BirthDate::parse(&raw)),
            email: fields.optional("email", self.email, |raw| Email::parse(&raw)),
            phone: fields.optional("phone", self.phone, |raw| Phone::parse(&raw)),
            is_active: self.is_active,
        };
        fields.finish().map(|()| patch)
    }
}

/// Query of `GET /customers`.
#[derive(Debug, Deserialize)]
pub(super) struct CustomerQuery {
    document: Option<String>,
    email: Option<String>,
    name: Option<String>,
    is_active: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

impl CustomerQuery {
    /// The filter, or a 400 naming the first bad parameter.
    pub(super) fn try_into_domain(self) -> Result<CustomerFilter, ApiError> {
        Ok(CustomerFilter {
            is_active: params::boolean("is_active", self.is_active.as_deref())?,
            page: params::page(self.limit.as_deref(), self.offset.as_deref())?,
            document: self.document,
            email: self.email,
            name_contains: self.name,
        })
    }
}

/// A customer as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct CustomerResponse {
    id: Uuid,
    document: String,
    name: String,
    birth_date: String,
    email: String,
    phone: String,
    is_active: bool,
    created_at: String,
    updated_at: String,
}

impl From<&Customer> for CustomerResponse {
    fn from(customer: &Customer) -> Self {
        Self {
            id: customer.id.as_uuid(),
            document: customer.document.as_str().to_owned(),
            name: customer.name.as_str().to_owned(),
            birth_date: customer.birth_date.get().format("%Y-%m-%d").to_string(),
            email: customer.email.as_str().to_owned(),
            phone: customer.phone.as_str().to_owned(),
            is_active: customer.is_active,
            created_at: timestamp(&customer.created_at),
            updated_at: timestamp(&customer.updated_at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_invalid_field_is_listed_with_its_rule() {
        let body: RegisterCustomer = serde_json::from_str(
            r#"{"document": "", "name": "Ana", "birth_date": "2023-02-30", "email": "nope", "phone": "call me"}"#,
        )
        .unwrap();
        let Err(ApiError::Validation(errors)) = body.try_into_domain() else {
            panic!("expected a validation error");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field).collect();
        assert_eq!(fields, ["document", "birth_date", "email", "phone"]);
    }
}
