//! The JSON shapes of `/purchase-orders`, and their translation to and from
//! the domain.

use recordshop_domain::InvalidValue;
use recordshop_domain::customer::CustomerId;
use recordshop_domain::disc::DiscId;
use recordshop_domain::order::{
    OrderEvent, OrderQuantity, OrderStatus as DomainStatus, PurchaseOrder, PurchaseOrderFilter,
    RejectionReason as DomainReason,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::customers::CustomerResponse;
use crate::discs::DiscResponse;
use crate::error::ApiError;
use crate::json::timestamp;
use crate::params::{self, DayEdge};
use crate::validation::Fields;

/// Body of `POST /purchase-orders`. Ids are taken as text so that a
/// malformed one is a field error, listed with the others.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(
    description = "A purchase: the customer must exist and be active, the disc must exist and have at least `quantity` units.",
    example = json!({"customer_id": "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb", "disc_id": "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39", "quantity": 2})
)]
pub(super) struct PlaceOrder {
    /// The buyer.
    #[schema(value_type = Uuid, required = true, example = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb")]
    customer_id: Option<String>,
    /// The disc bought.
    #[schema(value_type = Uuid, required = true, example = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39")]
    disc_id: Option<String>,
    /// Units, 1 to 2,147,483,647.
    #[schema(value_type = i32, required = true, minimum = 1, example = 2)]
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

/// Query of `GET /purchase-orders`; like `DiscQuery`, the documented
/// types are what the text must parse as.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct OrderQuery {
    /// Orders of this customer.
    #[param(value_type = Option<Uuid>, example = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb")]
    customer_id: Option<String>,
    /// Orders of this disc.
    #[param(value_type = Option<Uuid>)]
    disc_id: Option<String>,
    /// `pending`, `confirmed`, `rejected` or `canceled`.
    #[param(value_type = Option<OrderStatus>)]
    status: Option<String>,
    /// Placed at or after: an RFC 3339 timestamp, or a `YYYY-MM-DD` date
    /// (its start, UTC). Encode a `+` offset as `%2B`.
    #[param(example = "2026-01-01")]
    from: Option<String>,
    /// Placed at or before: an RFC 3339 timestamp, or a `YYYY-MM-DD` date
    /// (its whole day, UTC).
    #[param(example = "2026-12-31")]
    to: Option<String>,
    /// Page size, 0 to 100 (larger values are capped at 100); default 100.
    #[param(value_type = Option<i64>, minimum = 0)]
    limit: Option<String>,
    /// Items to skip; default 0.
    #[param(value_type = Option<i64>, minimum = 0)]
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

/// Where an order stands, as the API spells it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum OrderStatus {
    /// Taken in (202), waiting for its turn: no units left the stock yet.
    Pending,
    /// Placed: its units left the stock.
    Confirmed,
    /// Refused when its turn came (`rejection_reason` says why): nothing
    /// was sold. Final.
    Rejected,
    /// Canceled: its units went back to the stock. Final.
    Canceled,
}

impl From<DomainStatus> for OrderStatus {
    fn from(status: DomainStatus) -> Self {
        match status {
            DomainStatus::Pending => Self::Pending,
            DomainStatus::Confirmed => Self::Confirmed,
            DomainStatus::Rejected => Self::Rejected,
            DomainStatus::Canceled => Self::Canceled,
        }
    }
}

/// Why a pending order was rejected.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum RejectionReason {
    CustomerNotFound,
    /// The customer was deactivated before the order's turn.
    CustomerInactive,
    /// The disc was deleted before the order's turn.
    DiscNotFound,
    /// The orders before it took the stock.
    OutOfStock,
    /// The dead letter: allocating it kept failing on the server's side;
    /// nothing was sold. Staff find these with `status=rejected`.
    AllocationFailed,
}

impl From<DomainReason> for RejectionReason {
    fn from(reason: DomainReason) -> Self {
        match reason {
            DomainReason::CustomerNotFound => Self::CustomerNotFound,
            DomainReason::CustomerInactive => Self::CustomerInactive,
            DomainReason::DiscNotFound => Self::DiscNotFound,
            DomainReason::OutOfStock => Self::OutOfStock,
            DomainReason::AllocationFailed => Self::AllocationFailed,
        }
    }
}

/// An order as the API shows it, with the customer and the disc as they
/// were at purchase time.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = PurchaseOrder,
    description = "A purchase order, with snapshots of the customer and the disc as they were at purchase time (the disc snapshot shows the stock right after this sale)."
)]
pub(super) struct OrderResponse {
    #[schema(example = "5f0c2a8e-41a9-4c1e-9d57-0b1d3f6f4a21")]
    id: Uuid,
    #[schema(example = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb")]
    customer_id: Uuid,
    #[schema(example = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39")]
    disc_id: Uuid,
    #[schema(example = 2)]
    quantity: i32,
    status: OrderStatus,
    /// Why it was rejected; `null` unless `status` is `rejected`.
    #[schema(example = json!(null))]
    rejection_reason: Option<RejectionReason>,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime, example = "2026-11-22T10:15:30.123Z")]
    created_at: String,
    /// When it left `pending` (confirmed or rejected); `null` while
    /// pending. Equal to `created_at` for a purchase decided at once.
    #[schema(format = DateTime, example = "2026-11-22T10:15:30.123Z")]
    decided_at: Option<String>,
    /// When it was canceled; `null` unless canceled.
    #[schema(format = DateTime, example = json!(null))]
    canceled_at: Option<String>,
    /// The customer at purchase time.
    customer: CustomerResponse,
    /// The disc right after this sale; for an order not confirmed, as the
    /// order found it when it was taken in.
    disc: DiscResponse,
}

impl From<&PurchaseOrder> for OrderResponse {
    fn from(order: &PurchaseOrder) -> Self {
        Self {
            id: order.id.as_uuid(),
            customer_id: order.customer_id.as_uuid(),
            disc_id: order.disc_id.as_uuid(),
            quantity: order.quantity.get(),
            status: order.status.into(),
            rejection_reason: order.rejection_reason.map(RejectionReason::from),
            created_at: timestamp(&order.created_at),
            decided_at: order.decided_at.as_ref().map(timestamp),
            canceled_at: order.canceled_at.as_ref().map(timestamp),
            customer: CustomerResponse::from(&order.customer),
            disc: DiscResponse::from(&order.disc),
        }
    }
}

/// One status change of an order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(
    as = OrderEvent,
    description = "One status change of a purchase order. The same event, with the same `id`, is what the broker carries (see the README's \"Events on a broker\")."
)]
pub(super) struct EventResponse {
    /// Increasing in the order events were recorded; stable.
    #[schema(example = 42)]
    id: i64,
    #[schema(example = "5f0c2a8e-41a9-4c1e-9d57-0b1d3f6f4a21")]
    order_id: Uuid,
    /// `order.` and the status entered.
    #[serde(rename = "type")]
    #[schema(example = "order.confirmed")]
    kind: String,
    /// RFC 3339, UTC, milliseconds.
    #[schema(format = DateTime, example = "2026-11-22T10:15:30.123Z")]
    occurred_at: String,
    data: EventData,
}

/// What an event says about its order.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderEventData)]
pub(super) struct EventData {
    /// The status the order entered.
    status: OrderStatus,
    /// Set for `order.rejected` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection_reason: Option<RejectionReason>,
}

impl From<&OrderEvent> for EventResponse {
    fn from(event: &OrderEvent) -> Self {
        Self {
            id: event.id,
            order_id: event.order_id.as_uuid(),
            kind: event.kind(),
            occurred_at: timestamp(&event.occurred_at),
            data: EventData {
                status: event.status.into(),
                rejection_reason: event.rejection_reason.map(RejectionReason::from),
            },
        }
    }
}

/// `GET /purchase-orders/{id}/events`: the order's history, oldest first.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = OrderEventList)]
pub(super) struct EventList {
    data: Vec<EventResponse>,
}

impl EventList {
    pub(super) fn new(events: &[OrderEvent]) -> Self {
        Self {
            data: events.iter().map(EventResponse::from).collect(),
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
