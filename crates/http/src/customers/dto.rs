//! The JSON shapes of `/customers`, and their translation to and from the
//! domain.

use recordshop_domain::customer::{
    BirthDate, Customer, CustomerFilter, CustomerId, CustomerPatch, Document, Email, NewCustomer,
    PersonName, Phone,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;
use crate::json::timestamp;
use crate::params;
use crate::validation::Fields;

/// Body of `POST /customers`. `birth_date` is taken as text so that an
/// impossible date (`2023-02-30`) is a field error, not a malformed body.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(
    description = "A customer to register; starts active. Text is stored trimmed. No two customers share a document, nor an email compared case-insensitively.",
    example = json!({"document": "REC-2026-0001", "name": "Ada Lovelace", "birth_date": "1990-12-10", "email": "ada.lovelace@example.com", "phone": "+44 20 7946 0000"})
)]
pub(super) struct RegisterCustomer {
    /// A national document number, 1 to 32 characters; unique.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 32, example = "REC-2026-0001")]
    document: Option<String>,
    /// 1 to 200 characters.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 200, example = "Ada Lovelace")]
    name: Option<String>,
    /// A real date, `YYYY-MM-DD`, from 1900-01-01 to today.
    #[schema(value_type = String, format = Date, required = true, example = "1990-12-10")]
    birth_date: Option<String>,
    /// `local@domain.tld`, at most 254 characters; unique, case-insensitively.
    #[schema(value_type = String, format = Email, required = true, max_length = 254, example = "ada.lovelace@example.com")]
    email: Option<String>,
    /// 3 to 32 characters of digits, spaces and `+-()`.
    #[schema(value_type = String, required = true, min_length = 3, max_length = 32, pattern = r"^[0-9 +()\-]+$", example = "+44 20 7946 0000")]
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
#[derive(Debug, Deserialize, ToSchema)]
#[schema(
    description = "Any subset of a customer's fields and `is_active`, same rules as on registration; an absent or `null` field keeps its value. `is_active: true` reactivates.",
    example = json!({"phone": "+44 20 7946 0001"})
)]
pub(super) struct UpdateCustomer {
    /// 1 to 32 characters; unique.
    #[schema(min_length = 1, max_length = 32)]
    document: Option<String>,
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    name: Option<String>,
    /// `YYYY-MM-DD`, from 1900-01-01 to today.
    #[schema(format = Date)]
    birth_date: Option<String>,
    /// `local@domain.tld`, at most 254 characters; unique.
    #[schema(format = Email, max_length = 254)]
    email: Option<String>,
    /// 3 to 32 characters of digits, spaces and `+-()`.
    #[schema(min_length = 3, max_length = 32, pattern = r"^[0-9 +()\-]+$")]
    phone: Option<String>,
    /// `false` deactivates, `true` reactivates.
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

/// Query of `GET /customers`; like `DiscQuery`, the documented types are
/// what the text must parse as.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct CustomerQuery {
    /// Exact document.
    #[param(example = "12345678911")]
    document: Option<String>,
    /// Exact email.
    #[param(example = "johndoe@gmail.com")]
    email: Option<String>,
    /// Case-insensitive substring of the name.
    name: Option<String>,
    /// `true`: active customers only; `false`: deactivated ones only.
    #[param(value_type = Option<bool>)]
    is_active: Option<String>,
    /// Page size, 0 to 100 (larger values are capped at 100); default 100.
    #[param(value_type = Option<i64>, minimum = 0)]
    limit: Option<String>,
    /// Items to skip; default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
    offset: Option<String>,
}

impl CustomerQuery {
    /// The filter, or a 400 naming the first bad parameter.
    pub(super) fn try_into_domain(self) -> Result<CustomerFilter, ApiError> {
        Ok(CustomerFilter {
            is_active: params::boolean("is_active", self.is_active.as_deref())?,
            page: params::page(self.limit.as_deref(), self.offset.as_deref())?,
            document: params::text("document", self.document)?,
            email: params::text("email", self.email)?,
            name_contains: params::text("name", self.name)?,
        })
    }
}

/// A customer as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Customer, description = "A customer. Customers are never removed, only deactivated.")]
pub(crate) struct CustomerResponse {
    #[schema(example = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb")]
    id: Uuid,
    #[schema(example = "12345678911")]
    document: String,
    #[schema(example = "John Doe")]
    name: String,
    #[schema(format = Date, example = "2000-01-01")]
    birth_date: String,
    #[schema(format = Email, example = "johndoe@gmail.com")]
    email: String,
    #[schema(example = "5511123456789")]
    phone: String,
    /// `false` once deactivated; an inactive customer cannot buy.
    #[schema(example = true)]
    is_active: bool,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime, example = "2026-11-22T10:15:30.123Z")]
    created_at: String,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime, example = "2026-11-22T10:15:30.123Z")]
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
