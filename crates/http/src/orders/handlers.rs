use actix_web::{HttpResponse, web};
use recordshop_domain::StoreError;
use recordshop_domain::idempotency::{Created, IdempotentError};
use recordshop_domain::order::{PlaceOrderError, PurchaseOrder, PurchaseOrderId};
use tracing::field::display;

use super::dto::{OrderQuery, OrderResponse, PlaceOrder};
use crate::auth::{SignedIn, policy};
use crate::credentials::Caller;
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader, created_once};
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::state::AppState;

problems!(
    /// What `POST /purchase-orders` answers besides 201.
    PlaceProblems => [
        malformed_body(),
        unauthenticated(),
        not_for_yourself(),
        unknown_customer_in_body(),
        unknown_disc_in_body(),
        out_of_stock(),
        too_large(),
        compressed_body(),
        invalid(&[
            ("customer_id", "must be a UUID"),
            ("disc_id", "is required"),
            ("quantity", "must be from 1 to 2147483647"),
        ]),
        customer_inactive(),
        key_reused(),
        contention(),
        unavailable(),
        overloaded(),
        internal(),
    ]
);

problems!(
    /// What `GET /purchase-orders/{id}` answers besides 200.
    ItemProblems => [
        unauthenticated(),
        not_your_order(),
        order_not_found(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `GET /purchase-orders` answers besides 200.
    ListProblems => [bad_query(), unauthenticated(), not_your_order(), unavailable(), internal()]
);

problems!(
    /// What `POST /purchase-orders/{id}/cancel` answers besides 200.
    CancelProblems => [
        unauthenticated(),
        not_your_order(),
        order_not_found(),
        contention(),
        unavailable(),
        internal(),
    ]
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
is lost or counted twice, under any load. Staff may buy for any customer; a customer only for \
themselves (`customer_id` must be their own, else 403). Past what the server admits at once, a \
purchase is answered 503 `overloaded` at once, with `Retry-After`: nothing was bought.",
    request_body = PlaceOrder,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, example = "5b3f7c2e-8d41-4a6b-9e0f-1c2d3e4f5a6b", description = "Optional; 1 to 255 \
visible ASCII characters, chosen by the client (a UUID is a good key). A repeat with the same key \
and the same body, by the same caller, within 24 h, answers the first answer again (201, same id \
and body, `Idempotent-Replayed: true`) and creates nothing; a repeat while the first is still \
running waits for it. The same key with another body answers 422 `idempotency_key_reused`. A \
refused create (4xx) is not remembered.")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The order, confirmed.", body = OrderResponse,
            headers(
                ("Location" = String, description = "`/purchase-orders/{id}` of the new order"),
                ("Idempotent-Replayed" = String, description = "`true` when this answer replays an earlier request with the same `Idempotency-Key`; absent otherwise"),
            )),
        PlaceProblems,
    ),
)]
#[tracing::instrument(name = "place_order", skip_all, fields(customer_id, disc_id, order_id))]
pub(super) async fn place(
    caller: SignedIn,
    idempotency: IdempotencyHeader,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject<PlaceOrder>,
) -> Result<HttpResponse, ApiError> {
    let request = body.try_into_domain()?;
    policy::place_order(&caller, request.customer_id)?;
    let span = tracing::Span::current();
    span.record("customer_id", display(request.customer_id));
    span.record("disc_id", display(request.disc_id));
    // Held until the answer is ready; see `admission.rs`.
    let _admitted = match state.admission.admit().await {
        Ok(admitted) => admitted,
        Err(overloaded) => {
            count_purchase(state.strategy, "overloaded");
            return Err(overloaded.into());
        }
    };
    let placed = state
        .orders
        .place_once(
            request.customer_id,
            request.disc_id,
            request.quantity,
            idempotency.for_caller(&caller.0),
        )
        .await;
    idempotency::observe("purchase_order", &placed);
    count_purchase(state.strategy, purchase_outcome(&placed));
    let placed = placed?;
    let order = placed.as_inner();
    span.record("order_id", display(order.id));
    Ok(created_once(
        &placed,
        format!("/purchase-orders/{}", order.id),
        OrderResponse::from(order),
    ))
}

/// One purchase more in `recordshop_purchases_total`.
fn count_purchase(strategy: &'static str, outcome: &'static str) {
    metrics::counter!(
        "recordshop_purchases_total",
        "strategy" => strategy,
        "outcome" => outcome,
    )
    .increment(1);
}

/// How a purchase ended, as the label of `recordshop_purchases_total`
/// (`overloaded`, shed before the store, is counted where it is shed).
fn purchase_outcome(
    placed: &Result<Created<PurchaseOrder>, IdempotentError<PlaceOrderError>>,
) -> &'static str {
    match placed {
        Ok(Created::New(_)) => "confirmed",
        Ok(Created::Replayed(_)) => "replayed",
        Err(IdempotentError::IdempotencyKeyReused(_)) => "key_reused",
        Err(IdempotentError::Create(error)) => match error {
            PlaceOrderError::OutOfStock { .. } => "out_of_stock",
            PlaceOrderError::CustomerInactive(_) => "customer_inactive",
            PlaceOrderError::CustomerNotFound(_) | PlaceOrderError::DiscNotFound(_) => "not_found",
            PlaceOrderError::Store(StoreError::Conflict) => "contention",
            PlaceOrderError::Store(StoreError::Unavailable(_)) => "unavailable",
            PlaceOrderError::Store(StoreError::Unexpected(_)) => "error",
        },
    }
}

/// One order, with the customer and disc as they were at purchase time.
#[utoipa::path(
    get,
    path = "/purchase-orders/{id}",
    tag = "purchase orders",
    operation_id = "get_order",
    summary = "Get an order",
    description = "Staff, or the customer who placed it. To a customer, another customer's \
order and an unknown id both answer 403.",
    params(("id" = Uuid, Path, description = "The order's id; anything else answers 404.", example = "5c6f0d2a-8e4b-4f1a-9d3e-7b2a1c0e9f01")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order.", body = OrderResponse),
        ItemProblems,
    ),
)]
#[tracing::instrument(name = "get_order", skip_all, fields(order_id = %id))]
pub(super) async fn get(
    caller: SignedIn,
    state: web::Data<AppState>,
    PathId(id): PathId<PurchaseOrderId>,
) -> Result<web::Json<OrderResponse>, ApiError> {
    let order = policy::read_order(&caller, state.orders.get(id).await)?;
    Ok(web::Json(OrderResponse::from(&order)))
}

/// Orders matching every filter given, newest first.
#[utoipa::path(
    get,
    path = "/purchase-orders",
    tag = "purchase orders",
    operation_id = "list_orders",
    summary = "List orders",
    description = "Every filter is optional; given ones combine with AND. Newest first. A \
customer sees their own orders only: without `customer_id` the list is narrowed to them, and \
another customer's id answers 403.",
    params(OrderQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of matching orders.", body = Listing<OrderResponse>),
        ListProblems,
    ),
)]
#[tracing::instrument(name = "list_orders", skip_all)]
pub(super) async fn list(
    caller: SignedIn,
    state: web::Data<AppState>,
    web::Query(query): web::Query<OrderQuery>,
) -> Result<web::Json<Listing<OrderResponse>>, ApiError> {
    let filter = policy::list_orders(&caller, query.try_into_domain()?)?;
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
transaction. Canceling a canceled order answers 200 again and restocks nothing. Staff, or the \
customer who placed it; to a customer, another customer's order and an unknown id both answer \
403.",
    params(("id" = Uuid, Path, description = "The order's id.", example = "a3e1b7c4-2d5f-4e6a-8b9c-0d1e2f3a4b5c")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order, canceled.", body = OrderResponse),
        CancelProblems,
    ),
)]
#[tracing::instrument(name = "cancel_order", skip_all, fields(order_id = %id))]
pub(super) async fn cancel(
    caller: SignedIn,
    state: web::Data<AppState>,
    PathId(id): PathId<PurchaseOrderId>,
) -> Result<web::Json<OrderResponse>, ApiError> {
    // An order never changes hands, so checking its owner before the
    // cancel, outside its transaction, cannot let the wrong customer in.
    if matches!(caller.0, Caller::Customer(_)) {
        policy::read_order(&caller, state.orders.get(id).await)?;
    }
    let order = state.orders.cancel(id).await?;
    Ok(web::Json(OrderResponse::from(&order)))
}
