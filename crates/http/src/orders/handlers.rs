use actix_web::{HttpResponse, web};
use recordshop_domain::order::PurchaseOrderId;
use tracing::field::display;

use super::dto::{OrderQuery, OrderResponse, PlaceOrder};
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::{AppState, created};

problems!(
    /// What `POST /purchase-orders` answers besides 201.
    PlaceProblems => [
        malformed_body(),
        unknown_customer_in_body(),
        unknown_disc_in_body(),
        out_of_stock(),
        too_large(),
        invalid(&[
            ("customer_id", "must be a UUID"),
            ("disc_id", "is required"),
            ("quantity", "must be from 1 to 2147483647"),
        ]),
        customer_inactive(),
        contention(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `GET /purchase-orders/{id}` answers besides 200.
    ItemProblems => [order_not_found(), unavailable(), internal()]
);

problems!(
    /// What `GET /purchase-orders` answers besides 200.
    ListProblems => [bad_query(), unavailable(), internal()]
);

problems!(
    /// What `POST /purchase-orders/{id}/cancel` answers besides 200.
    CancelProblems => [order_not_found(), contention(), unavailable(), internal()]
);

/// Places an order: the stock decrement and the order are one atomic step.
#[utoipa::path(
    post,
    path = "/purchase-orders",
    tag = "purchase orders",
    operation_id = "place_order",
    summary = "Buy a disc",
    description = "Succeeds only if the customer exists and is active and the disc exists and \
has at least `quantity` units. The stock decrement and the order are one atomic step: no sale \
is lost or counted twice, under any load.",
    request_body = PlaceOrder,
    responses(
        (status = 201, description = "The order, confirmed.", body = OrderResponse,
            headers(("Location" = String, description = "`/purchase-orders/{id}` of the new order"))),
        PlaceProblems,
    ),
)]
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

/// One order, with the customer and disc as they were at purchase time.
#[utoipa::path(
    get,
    path = "/purchase-orders/{id}",
    tag = "purchase orders",
    operation_id = "get_order",
    summary = "Get an order",
    params(("id" = Uuid, Path, description = "The order's id; anything else answers 404.")),
    responses(
        (status = 200, description = "The order.", body = OrderResponse),
        ItemProblems,
    ),
)]
#[tracing::instrument(name = "get_order", skip_all, fields(order_id = %id))]
pub(super) async fn get(
    state: web::Data<AppState>,
    PathId(id): PathId<PurchaseOrderId>,
) -> Result<web::Json<OrderResponse>, ApiError> {
    let order = state.orders.get(id).await?;
    Ok(web::Json(OrderResponse::from(&order)))
}

/// Orders matching every filter given, newest first.
#[utoipa::path(
    get,
    path = "/purchase-orders",
    tag = "purchase orders",
    operation_id = "list_orders",
    summary = "List orders",
    description = "Every filter is optional; given ones combine with AND. Newest first.",
    params(OrderQuery),
    responses(
        (status = 200, description = "One page of matching orders.", body = Listing<OrderResponse>),
        ListProblems,
    ),
)]
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
#[utoipa::path(
    post,
    path = "/purchase-orders/{id}/cancel",
    tag = "purchase orders",
    operation_id = "cancel_order",
    summary = "Cancel an order",
    description = "Cancels the order and returns its units to the stock in the same \
transaction. Canceling a canceled order answers 200 again and restocks nothing.",
    params(("id" = Uuid, Path, description = "The order's id.")),
    responses(
        (status = 200, description = "The order, canceled.", body = OrderResponse),
        CancelProblems,
    ),
)]
#[tracing::instrument(name = "cancel_order", skip_all, fields(order_id = %id))]
pub(super) async fn cancel(
    state: web::Data<AppState>,
    PathId(id): PathId<PurchaseOrderId>,
) -> Result<web::Json<OrderResponse>, ApiError> {
    let order = state.orders.cancel(id).await?;
    Ok(web::Json(OrderResponse::from(&order)))
}
