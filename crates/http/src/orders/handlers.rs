use actix_web::{HttpResponse, web};
use recordshop_domain::StoreError;
use recordshop_domain::idempotency::{Created, IdempotentError};
use recordshop_domain::order::{OrderStatus, PlaceOrderError, PurchaseOrder, PurchaseOrderId};
use tracing::field::display;

use super::dto::{EventList, OrderQuery, OrderResponse, PlaceOrder};
use crate::auth::{SignedIn, policy};
use crate::credentials::Caller;
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader, created_once};
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::prefer::{Applied, Prefer};
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
    /// What `GET /purchase-orders/{id}/events` answers besides 200.
    EventProblems => [
        unauthenticated(),
        not_your_order(),
        order_not_found(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `POST /purchase-orders/{id}/cancel` answers besides 200.
    CancelProblems => [
        unauthenticated(),
        not_your_order(),
        order_not_found(),
        order_not_cancelable(),
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
purchase is answered 503 `overloaded` at once, with `Retry-After`: nothing was bought.\n\n\
Under the `queued` strategy the purchase is recorded `pending` after the checks that need no \
wait (the same refusals as above, when they already hold) and answered 202 with the pending \
order; it is decided later, in arrival order per disc: `GET` it (with `Prefer: wait=N` to be \
answered once it is decided) or read its events. `Prefer: wait=N` (seconds, at most 30) on this \
request answers the outcome instead when it is known within N seconds: 201 with the confirmed \
order, or the refusal (409 `out_of_stock`, 422 `customer_inactive`, 404 …), else 202. \
`Prefer: respond-async` answers 202 at once. `Preference-Applied` names the preference an \
answer honoured. Synchronous strategies answer 201 or the refusal, whatever `Prefer` says.",
    request_body = PlaceOrder,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, example = "5b3f7c2e-8d41-4a6b-9e0f-1c2d3e4f5a6b", description = "Optional; 1 to 255 \
visible ASCII characters, chosen by the client (a UUID is a good key). A repeat with the same key \
and the same body, by the same caller, within 24 h, answers the first answer again (201, same id \
and body, `Idempotent-Replayed: true`) and creates nothing; a repeat while the first is still \
running waits for it. The same key with another body answers 422 `idempotency_key_reused`. A \
refused create (4xx) is not remembered."),
        ("Prefer" = Option<String>, Header, nullable = false, example = "wait=5", description = "RFC 7240; \
`wait=N` or `respond-async`, acted on by the `queued` strategy only. Anything else is ignored.")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The order, confirmed.", body = OrderResponse,
            headers(
                ("Location" = String, description = "`/purchase-orders/{id}` of the new order"),
                ("Idempotent-Replayed" = String, description = "`true` when this answer replays an earlier request with the same `Idempotency-Key`; absent otherwise"),
                ("Preference-Applied" = String, description = "`wait=N` when the answer waited for the outcome"),
            )),
        (status = 202, description = "`queued` strategy: the order, pending; it is decided later.", body = OrderResponse,
            headers(
                ("Location" = String, description = "`/purchase-orders/{id}` of the pending order"),
                ("Idempotent-Replayed" = String, description = "as for 201"),
                ("Preference-Applied" = String, description = "`respond-async`, or `wait=N` when the outcome was not known in time"),
            )),
        PlaceProblems,
    ),
)]
#[tracing::instrument(name = "place_order", skip_all, fields(customer_id, disc_id, order_id))]
pub(super) async fn place(
    caller: SignedIn,
    idempotency: IdempotencyHeader,
    prefer: Prefer,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject<PlaceOrder>,
) -> Result<HttpResponse, ApiError> {
    let request = body.try_into_domain()?;
    policy::place_order(&caller, request.customer_id)?;
    let span = tracing::Span::current();
    span.record("customer_id", display(request.customer_id));
    span.record("disc_id", display(request.disc_id));
    let placed = {
        // Held while the purchase is placed (see `admission.rs`), not while
        // a client waits for a pending order's outcome.
        let _admitted = match state.admission.admit().await {
            Ok(admitted) => admitted,
            Err(overloaded) => {
                count_purchase(state.strategy, "overloaded");
                return Err(overloaded.into());
            }
        };
        state
            .orders
            .place_once(
                request.customer_id,
                request.disc_id,
                request.quantity,
                idempotency.for_caller(&caller.0),
            )
            .await
    };
    idempotency::observe("purchase_order", &placed);
    count_purchase(state.strategy, purchase_outcome(&placed));
    let placed = placed?;
    let order = placed.as_inner();
    span.record("order_id", display(order.id));
    let location = format!("/purchase-orders/{}", order.id);
    if order.status != OrderStatus::Pending {
        return Ok(created_once(&placed, location, OrderResponse::from(order)));
    }
    let Some(wait) = prefer.wait() else {
        let applied = prefer.respond_async.then_some(Applied::RespondAsync);
        return Ok(accepted_once(&placed, location, order, applied));
    };
    let now = state.orders.get_decided(order.id, wait).await?;
    if now.status == OrderStatus::Pending {
        return Ok(accepted_once(
            &placed,
            location,
            &now,
            Some(Applied::Wait(wait)),
        ));
    }
    let outcome = now.into_outcome()?;
    let mut response = created_once(&placed, location, OrderResponse::from(&outcome));
    Prefer::applied(Applied::Wait(wait), &mut response);
    Ok(response)
}

/// 202 with `Location` and the pending order, marked as a replay like a
/// 201 is (see `created_once`).
fn accepted_once(
    placed: &Created<PurchaseOrder>,
    location: String,
    order: &PurchaseOrder,
    applied: Option<Applied>,
) -> HttpResponse {
    let mut response = created_once(placed, location, OrderResponse::from(order));
    *response.status_mut() = actix_web::http::StatusCode::ACCEPTED;
    if let Some(applied) = applied {
        Prefer::applied(applied, &mut response);
    }
    response
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
        Ok(Created::New(order)) if order.status == OrderStatus::Pending => "pending",
        Ok(Created::New(_)) => "confirmed",
        Ok(Created::Replayed(_)) => "replayed",
        Err(IdempotentError::IdempotencyKeyReused(_)) => "key_reused",
        Err(IdempotentError::Create(error)) => match error {
            PlaceOrderError::OutOfStock { .. } => "out_of_stock",
            PlaceOrderError::CustomerInactive(_) => "customer_inactive",
            PlaceOrderError::CustomerNotFound(_) | PlaceOrderError::DiscNotFound(_) => "not_found",
            // Only a waiting request meets a rejection, after it was counted.
            PlaceOrderError::Rejected { .. } => "rejected",
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
order and an unknown id both answer 403. With `Prefer: wait=N` (seconds, at most 30), a \
pending order is answered once it is decided, or as it is after N seconds; \
`Preference-Applied: wait=N` says the answer waited.",
    params(
        ("id" = Uuid, Path, description = "The order's id; anything else answers 404.", example = "5c6f0d2a-8e4b-4f1a-9d3e-7b2a1c0e9f01"),
        ("Prefer" = Option<String>, Header, nullable = false, example = "wait=5", description = "RFC 7240 `wait=N`; anything else is ignored."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order.", body = OrderResponse,
            headers(("Preference-Applied" = String, description = "`wait=N` when the answer waited for a pending order"))),
        ItemProblems,
    ),
)]
#[tracing::instrument(name = "get_order", skip_all, fields(order_id = %id))]
pub(super) async fn get(
    caller: SignedIn,
    prefer: Prefer,
    state: web::Data<AppState>,
    PathId(id): PathId<PurchaseOrderId>,
) -> Result<HttpResponse, ApiError> {
    let order = policy::read_order(&caller, state.orders.get(id).await)?;
    let wait = prefer
        .wait()
        .filter(|_| order.status == OrderStatus::Pending);
    let Some(wait) = wait else {
        return Ok(HttpResponse::Ok().json(OrderResponse::from(&order)));
    };
    let order = state.orders.get_decided(id, wait).await?;
    let mut response = HttpResponse::Ok().json(OrderResponse::from(&order));
    Prefer::applied(Applied::Wait(wait), &mut response);
    Ok(response)
}

/// The order's history: every status change, oldest first.
#[utoipa::path(
    get,
    path = "/purchase-orders/{id}/events",
    tag = "purchase orders",
    operation_id = "list_order_events",
    summary = "An order's history",
    description = "Every status change of the order, oldest first, each recorded in the \
transaction that made it: `order.pending` (queued intake), `order.confirmed`, \
`order.rejected` (with its reason), `order.canceled`. The same events, with the same ids, are \
published to the broker when one is configured. Access as for the order.",
    params(("id" = Uuid, Path, description = "The order's id.", example = "5c6f0d2a-8e4b-4f1a-9d3e-7b2a1c0e9f01")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The order's events.", body = EventList),
        EventProblems,
    ),
)]
#[tracing::instrument(name = "list_order_events", skip_all, fields(order_id = %id))]
pub(super) async fn events(
    caller: SignedIn,
    state: web::Data<AppState>,
    PathId(id): PathId<PurchaseOrderId>,
) -> Result<web::Json<EventList>, ApiError> {
    policy::read_order(&caller, state.orders.get(id).await)?;
    let events = state.orders.events(id).await?;
    Ok(web::Json(EventList::new(&events)))
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
transaction. Canceling a canceled order answers 200 again and restocks nothing; a pending or \
rejected order answers 409 `order_not_cancelable`. Staff, or the \
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
