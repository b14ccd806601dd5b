//! The JSON shapes of `/purchase-orders`, and their translation to and from
//! the domain.

use recordshop_domain::InvalidValue;
use recordshop_domain::customer::CustomerId;
use recordshop_domain::disc::DiscId;
use recordshop_domain::order::{OrderQuantity, PurchaseOrder, PurchaseOrderFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::customers::CustomerResponse;
use crate::discs::DiscResponse;
use crate::error::ApiError;
use crate::json::timestamp;
use crate::params::{self, DayEdge};
use crate::validation::Fields;

/// Body of `POST /purchase-orders`.
#[derive(Debug, Deserialize)]
pub(super) struct PlaceOrder {
    customer_id: Option<String>,
    disc_id: Option<String>,
    quantity: Option<i64>,
}

/// A purchase the service may now try to place.
#[derive(Debug)]
pub(super) struct OrderRequest {
    pub(super) customer_id: CustomerId,
    pub(super) disc_id: DiscId,
    pub(super) quantity: OrderQuantity,
}

fn uuid<T: std::str::FromStr>(raw: &str) -> Result<T, InvalidValue> {
    raw.trim()
        .parse()
        .map_err(|_| InvalidValue("must be a UUID".to_owned()))
}

impl PlaceOrder {
    /// The purchase, or a 422 listing every missing or invalid field.
    pub(super) fn try_into_domain(self) -> Result<OrderRequest, ApiError> {
        let mut fields = Fields::default();
        let customer_id = fields.required("customer_id", self.customer_id, |raw| uuid(&raw));
        let disc_id = fields.required("disc_id", self.disc_id, |raw| uuid(&raw));
        let quantity = fields.required("quantity", self.quantity, OrderQuantity::parse);
        let (Some(customer_id), Some(disc_id), Some(quantity)) = (customer_id, disc_id, quantity)
        else {
            return Err(fields.into_error());
        };
        Ok(OrderRequest {
            customer_id,
            disc_id,
            quantity,
        })
    }
}

/// Query of `GET /purchase-orders`.
#[derive(Debug, Deserialize)]
pub(super) struct OrderQuery {
    customer_id: Option<String>,
    disc_id: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
}

impl OrderQuery {
    /// The filter, or a 400 naming the first bad parameter.
    pub(super) fn try_into_domain(self) -> Result<PurchaseOrderFilter, ApiError> {
        let status = self
            .status
            .as_deref()
            .map(|raw| {
                raw.parse().map_err(|InvalidValue(rule)| {
                    ApiError::Malformed(format!("status {rule}, got {raw:?}"))
                })
            })
            .transpose()?;
        Ok(PurchaseOrderFilter {
            customer_id: params::id("customer_id", self.customer_id.as_deref())?,
            disc_id: params::id("disc_id", self.disc_id.as_deref())?,
            status,
            from: params::instant("from", self.from.as_deref(), DayEdge::Start)?,
            to: params::instant("to", self.to.as_deref(), DayEdge::End)?,
            page: params::page(self.limit.as_deref(), self.offset.as_deref())?,
        })
    }
}

/// An order as the API shows it, with the customer and the disc as they
/// were at purchase time.
#[derive(Debug, Serialize)]
pub(super) struct OrderResponse {
    id: Uuid,
    customer_id: Uuid,
    disc_id: Uuid,
    quantity: i32,
    status: &'static str,
    created_at: String,
    canceled_at: Option<String>,
    customer: CustomerResponse,
    disc: DiscResponse,
}

impl From<&PurchaseOrder> for OrderResponse {
    fn from(order: &PurchaseOrder) -> Self {
        Self {
            id: order.id.as_uuid(),
            customer_id: order.customer_id.as_uuid(),
            disc_id: order.disc_id.as_uuid(),
            quantity: order.quantity.get(),
            status: order.status.as_str(),
            created_at: timestamp(&order.created_at),
            canceled_at: order.canceled_at.as_ref().map(timestamp),
            customer: CustomerResponse::from(&order.customer),
            disc: DiscResponse::from(&order.disc),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_are_not_uuids_are_field_errors() {
        let body: PlaceOrder =
            serde_json::from_str(r#"{"customer_id": "x", "quantity": 0}"#).unwrap();
        let Err(ApiError::Validation(errors)) = body.try_into_domain() else {
            panic!("expected a validation error");
        };
        let listed: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field, e.message.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("customer_id", "must be a UUID"),
                ("disc_id", "is required"),
                ("quantity", "must be from 1 to 2147483647"),
            ]
        );
    }

    #[test]
    fn a_bad_status_is_a_bad_request() {
        let query: OrderQuery = serde_json::from_str(r#"{"status": "shipped"}"#).unwrap();
        assert!(matches!(
            query.try_into_domain(),
            Err(ApiError::Malformed(_))
        ));
    }
}
