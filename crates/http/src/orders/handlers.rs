use actix_web::{HttpResponse, web};
use recordshop_domain::order::PurchaseOrderId;
use tracing::field::display;

use super::dto::{OrderQuery, OrderResponse, PlaceOrder};
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::{AppState, created};

#[tracing::instrument(name = "place_order", skip_all, fields(customer_id, disc_id, order_id))]
pub(super) async fn place(
    state: web::Data<AppState>,
    JsonObject(body): JsonObject<PlaceOrder>,
) -> Result<HttpResponse, ApiError> {
    let request = body.try_into_domain()?;
    let span = tracing::Span::current();
    span.record("customer_id", display(request.customer_id));
    span.record("disc_id", display(request.disc_id));
    let order = state
        .orders
        .place(request.customer_id, request.disc_id, request.quantity)
        .await?;
    span.record("order_id", display(order.id));
    Ok(created(
        format!("/purchase-orders/{}", order.id),
        OrderResponse::from(&order),
    ))
}

#[tracing::instrument(name = "get_order", skip_all, fields(order_id = %id))]
pub(super) async fn get(
    state: web::Data<AppState>,
    PathId(id): PathId<PurchaseOrderId>,
) -> Result<web::Json<OrderResponse>, ApiError> {
    let order = state.orders.get(id).await?;
    Ok(web::Json(OrderResponse::from(&order)))
}

#[tracing::instrument(name = "list_orders", skip_all)]
pub(super) async fn list(
    state: web::Data<AppState>,
    web::Query(query): web::Query<OrderQuery>,
) -> Result<web::Json<Listing<OrderResponse>>, ApiError> {
    let filter = query.try_into_domain()?;
    let orders = state.orders.list(&filter).await?;
    let data = orders.iter().map(OrderResponse::from).collect();
    Ok(web::Json(Listing::new(data, filter.page)))
}

/// Idempotent: canceling a canceled order answers it again, restocking
/// nothing.
#[tracing::instrument(name = "cancel_order", skip_all, fields(order_id = %id))]
pub(super) async fn cancel(
    state: web::Data<AppState>,
    PathId(id): PathId<PurchaseOrderId>,
) -> Result<web::Json<OrderResponse>, ApiError> {
    let order = state.orders.cancel(id).await?;
    Ok(web::Json(OrderResponse::from(&order)))
}
