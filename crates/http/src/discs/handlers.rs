use actix_web::{HttpResponse, web};
use recordshop_domain::disc::DiscId;
use tracing::field::display;

use super::dto::{CreateDisc, DiscQuery, DiscResponse, UpdateDisc};
use crate::error::ApiError;
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::{AppState, created};

#[tracing::instrument(name = "create_disc", skip_all, fields(disc_id))]
pub(super) async fn create(
    state: web::Data<AppState>,
    JsonObject(body): JsonObject<CreateDisc>,
) -> Result<HttpResponse, ApiError> {
    let disc = state.discs.create(body.try_into_domain()?).await?;
    tracing::Span::current().record("disc_id", display(disc.id));
    Ok(created(
        format!("/discs/{}", disc.id),
        DiscResponse::from(&disc),
    ))
}

#[tracing::instrument(name = "get_disc", skip_all, fields(disc_id = %id))]
pub(super) async fn get(
    state: web::Data<AppState>,
    PathId(id): PathId<DiscId>,
) -> Result<web::Json<DiscResponse>, ApiError> {
    let disc = state.discs.get(id).await?;
    Ok(web::Json(DiscResponse::from(&disc)))
}

#[tracing::instrument(name = "list_discs", skip_all)]
pub(super) async fn list(
    state: web::Data<AppState>,
    web::Query(query): web::Query<DiscQuery>,
) -> Result<web::Json<Listing<DiscResponse>>, ApiError> {
    let filter = query.try_into_domain()?;
    let discs = state.discs.list(&filter).await?;
    let data = discs.iter().map(DiscResponse::from).collect();
    Ok(web::Json(Listing::new(data, filter.page)))
}

/// `PUT` and `PATCH` alike: a partial update.
#[tracing::instrument(name = "update_disc", skip_all, fields(disc_id = %id))]
pub(super) async fn update(
    state: web::Data<AppState>,
    PathId(id): PathId<DiscId>,
    JsonObject(body): JsonObject<UpdateDisc>,
) -> Result<web::Json<DiscResponse>, ApiError> {
    let disc = state.discs.update(id, body.try_into_domain()?).await?;
    Ok(web::Json(DiscResponse::from(&disc)))
}

#[tracing::instrument(name = "delete_disc", skip_all, fields(disc_id = %id))]
pub(super) async fn delete(
    state: web::Data<AppState>,
    PathId(id): PathId<DiscId>,
) -> Result<HttpResponse, ApiError> {
    state.discs.delete(id).await?;
    Ok(HttpResponse::NoContent().finish())
}
