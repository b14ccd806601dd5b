use actix_web::{HttpResponse, web};
use recordshop_domain::customer::CustomerId;
use tracing::field::display;

use super::dto::{CustomerQuery, CustomerResponse, RegisterCustomer, UpdateCustomer};
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::{AppState, created};

// Customers are personal data: spans carry their ids and nothing else.

problems!(
    /// What `POST /customers` answers besides 201.
    RegisterProblems => [
        malformed_body(),
        customer_exists(),
        invalid(&[
            ("birth_date", "must be a real date written YYYY-MM-DD"),
            ("email", "must be an address like name@example.com"),
            ("phone", "is required"),
        ]),
        too_large(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `GET` and `DELETE /customers/{id}` answer besides success.
    ItemProblems => [customer_not_found(), unavailable(), internal()]
);

problems!(
    /// What `GET /customers` answers besides 200.
    ListProblems => [bad_query(), unavailable(), internal()]
);

problems!(
    /// What `PUT` / `PATCH /customers/{id}` answer besides 200.
    UpdateProblems => [
        malformed_body(),
        customer_not_found(),
        customer_exists(),
        invalid(&[("birth_date", "must not be in the future")]),
        too_large(),
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
    summary = "Register a customer",
    request_body = RegisterCustomer,
    responses(
        (status = 201, description = "The new customer, active.", body = CustomerResponse,
            headers(("Location" = String, description = "`/customers/{id}` of the new customer"))),
        RegisterProblems,
    ),
)]
#[tracing::instrument(name = "register_customer", skip_all, fields(customer_id))]
pub(super) async fn register(
    state: web::Data<AppState>,
    JsonObject(body): JsonObject<RegisterCustomer>,
) -> Result<HttpResponse, ApiError> {
    let customer = state.customers.register(body.try_into_domain()?).await?;
    tracing::Span::current().record("customer_id", display(customer.id));
    Ok(created(
        format!("/customers/{}", customer.id),
        CustomerResponse::from(&customer),
    ))
}

/// One customer, active or not.
#[utoipa::path(
    get,
    path = "/customers/{id}",
    tag = "customers",
    operation_id = "get_customer",
    summary = "Get a customer",
    params(("id" = Uuid, Path, description = "The customer's id; anything else answers 404.")),
    responses(
        (status = 200, description = "The customer.", body = CustomerResponse),
        ItemProblems,
    ),
)]
#[tracing::instrument(name = "get_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn get(
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
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
    description = "Every filter is optional; given ones combine with AND.",
    params(CustomerQuery),
    responses(
        (status = 200, description = "One page of matching customers.", body = Listing<CustomerResponse>),
        ListProblems,
    ),
)]
#[tracing::instrument(name = "list_customers", skip_all)]
pub(super) async fn list(
    state: web::Data<AppState>,
    web::Query(query): web::Query<CustomerQuery>,
) -> Result<web::Json<Listing<CustomerResponse>>, ApiError> {
    let filter = query.try_into_domain()?;
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
`is_active: true` reactivates a deactivated customer.",
    params(("id" = Uuid, Path, description = "The customer's id.")),
    request_body = UpdateCustomer,
    responses(
        (status = 200, description = "The customer after the update.", body = CustomerResponse),
        UpdateProblems,
    ),
)]
#[tracing::instrument(name = "update_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn update(
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
    JsonObject(body): JsonObject<UpdateCustomer>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    let customer = state.customers.update(id, body.try_into_domain()?).await?;
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
`is_active: true` reactivates a deactivated customer.",
    params(("id" = Uuid, Path, description = "The customer's id.")),
    request_body = UpdateCustomer,
    responses(
        (status = 200, description = "The customer after the update.", body = CustomerResponse),
        UpdateProblems,
    ),
)]
pub(super) async fn patch(
    state: web::Data<AppState>,
    id: PathId<CustomerId>,
    body: JsonObject<UpdateCustomer>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    update(state, id, body).await
}

/// `DELETE` deactivates: the customer and their orders stay.
#[utoipa::path(
    delete,
    path = "/customers/{id}",
    tag = "customers",
    operation_id = "deactivate_customer",
    summary = "Deactivate a customer",
    description = "Sets `is_active` to false; the customer and their orders stay. A deactivated \
customer cannot buy (422 `customer_inactive`) until reactivated with `is_active: true`.",
    params(("id" = Uuid, Path, description = "The customer's id.")),
    responses(
        (status = 204, description = "Deactivated."),
        ItemProblems,
    ),
)]
#[tracing::instrument(name = "deactivate_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn deactivate(
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
) -> Result<HttpResponse, ApiError> {
    state.customers.deactivate(id).await?;
    Ok(HttpResponse::NoContent().finish())
}
