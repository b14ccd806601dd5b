use actix_web::{HttpResponse, web};
use recordshop_domain::customer::CustomerId;
use tracing::field::display;

use super::dto::{CustomerQuery, CustomerResponse, RegisterCustomer, UpdateCustomer};
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::{AppState, created};

// Customers are personal data: spans carry their ids and nothing else.

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

#[tracing::instrument(name = "get_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn get(
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    let customer = state.customers.get(id).await?;
    Ok(web::Json(CustomerResponse::from(&customer)))
}

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
#[tracing::instrument(name = "update_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn update(
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
    JsonObject(body): JsonObject<UpdateCustomer>,
) -> Result<web::Json<CustomerResponse>, ApiError> {
    let customer = state.customers.update(id, body.try_into_domain()?).await?;
    Ok(web::Json(CustomerResponse::from(&customer)))
}

/// `DELETE` deactivates: the customer and their orders stay.
#[tracing::instrument(name = "deactivate_customer", skip_all, fields(customer_id = %id))]
pub(super) async fn deactivate(
    state: web::Data<AppState>,
    PathId(id): PathId<CustomerId>,
) -> Result<HttpResponse, ApiError> {
    state.customers.deactivate(id).await?;
    Ok(HttpResponse::NoContent().finish())
}
