use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::{HttpResponse, web};
use recordshop_auth::Principal;
use recordshop_domain::customer::CustomerId;
use tracing::field::display;

use super::dto::{CustomerQuery, CustomerResponse, RegisterCustomer, UpdateCustomer};
use crate::auth::{SignedIn, policy};
use crate::credentials::{Authenticator, Caller};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader, created_once};
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::state::AppState;

// Customers are personal data: spans carry their ids and nothing else.

/// The header of a sign-up's answer that carries the new customer's token.
const ACCESS_TOKEN: HeaderName = HeaderName::from_static("x-access-token");

/// How long a sign-up's token lasts: long enough to shop, short enough
/// that a leaked one soon stops mattering.
const SIGN_UP_TOKEN_TTL: Duration = Duration::from_secs(60 * 60);

problems!(
    /// What `POST /customers` answers besides 201.
    RegisterProblems => [
        malformed_body(),
        bad_token(),
        customer_exists(),
        key_reused(),
        invalid(&[
            ("birth_date", "must be a real date written YYYY-MM-DD"),
            ("email", "must be an address like name@example.com"),
            ("phone", "is required"),
        ]),
        too_large(),
        compressed_body(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `GET /customers/{id}` answers besides 200.
    GetProblems => [
        unauthenticated(),
        not_your_record(),
        customer_not_found(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `DELETE /customers/{id}` answers besides 204.
    DeactivateProblems => [
        unauthenticated(),
        staff_only_refusal(DEACTIVATE),
        customer_not_found(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `GET /customers` answers besides 200.
    ListProblems => [
        bad_query(),
        unauthenticated(),
        staff_only_refusal(LIST),
        unavailable(),
        internal(),
    ]
);

/// Complete "only staff may …".
const LIST: &str = "list customers";
const DEACTIVATE: &str = "deactivate a customer";

problems!(
    /// What `PUT` / `PATCH /customers/{id}` answer besides 200.
    UpdateProblems => [
        malformed_body(),
        unauthenticated(),
        not_your_record(),
        customer_not_found(),
        customer_exists(),
        invalid(&[("birth_date", "must not be in the future")]),
        too_large(),
        compressed_body(),
        unavailable(),
        internal(),
    ]
);

/// Registers a customer, active.
#[utoipa::path(
    post,
    path = "/customers",
    tag = "customers",
    operation_id = "register_customer",
    summary = "Register a customer (sign-up)",
    description = "Open to anyone: no token needed. The answer carries a customer token for \
the new customer in `X-Access-Token`, valid for an hour, so they can buy right away.",
    request_body = RegisterCustomer,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, example = "5b3f7c2e-8d41-4a6b-9e0f-1c2d3e4f5a6b", description = "Optional: makes a \
repeat of this create safe (see `POST /purchase-orders`).")),
    responses(
        (status = 201, description = "The new customer, active.", body = CustomerResponse,
            headers(
                ("Location" = String, description = "`/customers/{id}` of the new customer"),
                ("X-Access-Token" = String, description = "A bearer token (JWT) for the new \
customer, valid for one hour: `Authorization: Bearer <it>`. Only on the answer that created \
the customer, never on a replay; absent when the server runs with authentication disabled."),
                ("Idempotent-Replayed" = String, description = "`true` on a replay"),
            )),
        RegisterProblems,
    ),
)]
#[tracing::instrument(name = "register_customer", skip_all, fields(customer_id))]
pub(super) async fn register(
    caller: Caller,
    idempotency: IdempotencyHeader,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject<RegisterCustomer>,
) -> Result<HttpResponse, ApiError> {
    let outcome = state
        .customers
        .register_once(body.try_into_domain()?, idempotency.for_caller(&caller))
        .await;
    idempotency::observe("customer", &outcome);
    let outcome = outcome?;
    let customer = outcome.as_inner();
    tracing::Span::current().record("customer_id", display(customer.id));
    let mut response = created_once(
        &outcome,
        format!("/customers/{}", customer.id),
        CustomerResponse::from(customer),
    );
    // Only the answer that created the customer hands out its token: a
    // replay may come from anyone who repeats the key and the body.
    if !outcome.is_replayed()
        && let Some(token) = sign_up_token(&state.authenticator, customer.id)
    {
        response.headers_mut().insert(ACCESS_TOKEN, token);
    }
    Ok(response)
}

/// The new customer's token. Should minting fail (a clock before 1970),
/// the customer exists all the same: the answer stays 201, without the
/// token, rather than a 500 that would hide a completed sign-up.
fn sign_up_token(authenticator: &Authenticator, id: CustomerId) -> Option<HeaderValue> {
    let Authenticator::Enabled(keys) = authenticator else {
        return None;
    };
    let minted = keys
        .mint(&Principal::Customer(id), SIGN_UP_TOKEN_TTL)
        .map_err(anyhow::Error::from)
        .and_then(|token| Ok(HeaderValue::from_str(&token)?));
    match minted {
        Ok(token) => Some(token),
        Err(error) => {
            tracing::error!(
                error = format!("{error:#}"),
                "could not mint the sign-up token"
            );
            None
        }
    }
}

/// One customer, active or not.
#[utoipa::path(
    get,
    path = "/customers/{id}",
    tag = "customers",
    operation_id = "get_customer",
    summary = "Get a customer",
    description = "Staff, or the customer themselves; another customer's id answers 403, \
whether it exists or not.",
    params(("id" = Uuid, Path, description = "The customer's id; anything else answers 404.", example = "0e92cf1e-7bc4-4f9e-8eb6-3c88627efecb")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The customer.", body = CustomerResponse),
        GetProblems,
    ),
)]
#[tracing::instrument(name = "get_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn get(
    caller: SignedIn,
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    policy::read_customer(&caller, id)?;
    let customer = state.customers.get(id).await?;
    Ok(web::Json(CustomerResponse::from(&customer)))
}

/// Customers matching every filter given.
#[utoipa::path(
    get,
    path = "/customers",
    tag = "customers",
    operation_id = "list_customers",
    summary = "List and find customers",
    description = "Staff only. Every filter is optional; given ones combine with AND.",
    params(CustomerQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of matching customers.", body = Listing<CustomerResponse>),
        ListProblems,
    ),
)]
#[tracing::instrument(name = "list_customers", skip_all)]
pub(super) async fn list(
    caller: SignedIn,
    state: web::Data<AppState>,
    web::Query(query): web::Query<CustomerQuery>,
) -> Result<web::Json<Listing<CustomerResponse>>, ApiError> {
    let filter = query.try_into_domain()?;
    policy::staff_only(&caller, LIST)?;
    let customers = state.customers.list(&filter).await?;
    let data = customers.iter().map(CustomerResponse::from).collect();
    Ok(web::Json(Listing::new(data, filter.page)))
}

/// `PUT` and `PATCH` alike: a partial update; `is_active: true` reactivates.
#[utoipa::path(
    put,
    path = "/customers/{id}",
    tag = "customers",
    operation_id = "update_customer",
    summary = "Update a customer (partial; same as PATCH)",
    description = "Any subset of the fields and `is_active`; absent ones keep their value. \
`is_active: true` reactivates a deactivated customer. Staff, or the customer themselves without \
`is_active` (only staff activate and deactivate).",
    params(("id" = Uuid, Path, description = "The customer's id.", example = "351460e9-e221-43a5-b739-7fadd97813d6")),
    request_body = UpdateCustomer,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The customer after the update.", body = CustomerResponse),
        UpdateProblems,
    ),
)]
#[tracing::instrument(name = "update_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn update(
    caller: SignedIn,
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
    JsonObject(body): JsonObject<UpdateCustomer>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    let patch = body.try_into_domain()?;
    policy::update_customer(&caller, id, &patch)?;
    let customer = state.customers.update(id, patch).await?;
    Ok(web::Json(CustomerResponse::from(&customer)))
}

/// `PATCH` is `PUT`; a handler of its own gives the document an operation
/// (and an operation id) per method.
#[utoipa::path(
    patch,
    path = "/customers/{id}",
    tag = "customers",
    operation_id = "patch_customer",
    summary = "Update a customer (partial; same as PUT)",
    description = "Any subset of the fields and `is_active`; absent ones keep their value. \
`is_active: true` reactivates a deactivated customer. Staff, or the customer themselves without \
`is_active` (only staff activate and deactivate).",
    params(("id" = Uuid, Path, description = "The customer's id.", example = "7e9b4efd-57ee-48d2-b1bc-0423e4f7a203")),
    request_body = UpdateCustomer,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The customer after the update.", body = CustomerResponse),
        UpdateProblems,
    ),
)]
pub(super) async fn patch(
    caller: SignedIn,
    state: web::Data<AppState>,
    id: PathId<CustomerId>,
    body: JsonObject<UpdateCustomer>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    update(caller, state, id, body).await
}

/// `DELETE` deactivates: the customer and their orders stay.
#[utoipa::path(
    delete,
    path = "/customers/{id}",
    tag = "customers",
    operation_id = "deactivate_customer",
    summary = "Deactivate a customer",
    description = "Sets `is_active` to false; the customer and their orders stay. A deactivated \
customer cannot buy (422 `customer_inactive`) until reactivated with `is_active: true`. Staff \
only.",
    params(("id" = Uuid, Path, description = "The customer's id.", example = "0287afc6-6cc8-42b7-a081-bcb483fae3d5")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deactivated."),
        DeactivateProblems,
    ),
)]
#[tracing::instrument(name = "deactivate_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn deactivate(
    caller: SignedIn,
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
) -> Result<HttpResponse, ApiError> {
    policy::staff_only(&caller, DEACTIVATE)?;
    state.customers.deactivate(id).await?;
    Ok(HttpResponse::NoContent().finish())
}
