//! What each caller may do: one function per rule, called by a handler
//! once its input is parsed and before it acts.
//!
//! Staff may do everything. A customer may:
//! - read and update their own record (`/customers/{own id}`), but not
//!   change `is_active` (only staff activate and deactivate);
//! - place orders for themselves;
//! - list their own orders (a list without `customer_id` is narrowed to
//!   them), read them, and cancel them.
//!
//! Everything else answers 403 `forbidden`. A customer asking for another
//! customer's record gets 403 without the id being looked up, and a
//! customer asking for an order that is not theirs gets the same 403
//! whether the order belongs to someone else or does not exist at all: a
//! customer can never learn which ids exist.

use recordshop_domain::customer::{CustomerId, CustomerPatch};
use recordshop_domain::order::{OrderError, PurchaseOrder, PurchaseOrderFilter};

use super::SignedIn;
use crate::credentials::Caller;
use crate::error::ApiError;

/// Staff only: the catalog's writes, listing and deactivating customers.
/// `action` completes "only staff may …".
pub(crate) fn staff_only(caller: &SignedIn, action: &str) -> Result<(), ApiError> {
    match &caller.0 {
        Caller::Staff { .. } => Ok(()),
        _ => Err(staff_only_refusal(action)),
    }
}

/// `GET /customers/{id}`: staff, or the customer themselves.
pub(crate) fn read_customer(caller: &SignedIn, id: CustomerId) -> Result<(), ApiError> {
    match &caller.0 {
        Caller::Staff { .. } => Ok(()),
        Caller::Customer(own) if *own == id => Ok(()),
        _ => Err(not_your_record()),
    }
}

/// `PUT` / `PATCH /customers/{id}`: staff, or the customer themselves
/// leaving `is_active` alone (absent or `null`, which keeps it).
pub(crate) fn update_customer(
    caller: &SignedIn,
    id: CustomerId,
    patch: &CustomerPatch,
) -> Result<(), ApiError> {
    read_customer(caller, id)?;
    match &caller.0 {
        Caller::Customer(_) if patch.is_active.is_some() => Err(ApiError::Forbidden(
            "only staff may activate or deactivate a customer".to_owned(),
        )),
        _ => Ok(()),
    }
}

/// `POST /purchase-orders`: staff for anyone, a customer for themselves.
pub(crate) fn place_order(caller: &SignedIn, buyer: CustomerId) -> Result<(), ApiError> {
    match &caller.0 {
        Caller::Staff { .. } => Ok(()),
        Caller::Customer(own) if *own == buyer => Ok(()),
        _ => Err(not_for_yourself()),
    }
}

/// `GET /purchase-orders`: staff as asked; a customer's list is narrowed
/// to their own orders, and asking for someone else's is refused.
pub(crate) fn list_orders(
    caller: &SignedIn,
    mut filter: PurchaseOrderFilter,
) -> Result<PurchaseOrderFilter, ApiError> {
    if let Caller::Customer(own) = &caller.0 {
        match filter.customer_id {
            None => filter.customer_id = Some(*own),
            Some(asked) if asked == *own => {}
            Some(_) => return Err(not_your_order()),
        }
    }
    Ok(filter)
}

/// `GET /purchase-orders/{id}` and the check before a cancel: the order as
/// looked up, if the caller may see it. For a customer, someone else's
/// order and a missing one are the same 403.
pub(crate) fn read_order(
    caller: &SignedIn,
    lookup: Result<PurchaseOrder, OrderError>,
) -> Result<PurchaseOrder, ApiError> {
    match (&caller.0, lookup) {
        (Caller::Customer(own), Ok(order)) if order.customer_id == *own => Ok(order),
        (Caller::Customer(_), Ok(_) | Err(OrderError::NotFound(_))) => Err(not_your_order()),
        (_, lookup) => Ok(lookup?),
    }
}

/// The 403 of [`staff_only`].
pub(crate) fn staff_only_refusal(action: &str) -> ApiError {
    ApiError::Forbidden(format!("only staff may {action}"))
}

/// The 403 for buying in another customer's name.
pub(crate) fn not_for_yourself() -> ApiError {
    ApiError::Forbidden("customers may only buy for themselves".to_owned())
}

/// The 403 for another customer's record.
pub(crate) fn not_your_record() -> ApiError {
    ApiError::Forbidden("customers may only see and change their own record".to_owned())
}

/// The 403 for another customer's order, or one that does not exist.
pub(crate) fn not_your_order() -> ApiError {
    ApiError::Forbidden("customers may only see and cancel their own orders".to_owned())
}
