//! `/customers`: registered, edited, deactivated, never removed.

mod dto;
mod handlers;

use actix_web::http::Method;
use actix_web::web;
use utoipa::OpenApi;

pub(crate) use dto::CustomerResponse;

use crate::resource;

/// The operations of `/customers`, for the API's document.
#[derive(OpenApi)]
#[openapi(paths(
    handlers::register,
    handlers::list,
    handlers::get,
    handlers::update,
    handlers::patch,
    handlers::deactivate
))]
pub(crate) struct ApiDoc;

const COLLECTION: &[Method] = &[Method::POST, Method::GET];
const ITEM: &[Method] = &[Method::GET, Method::PUT, Method::PATCH, Method::DELETE];

pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            resource("/customers", COLLECTION)
                .route(web::post().to(handlers::register))
                .route(web::get().to(handlers::list)),
        )
        .service(
            resource("/customers/{id}", ITEM)
                .route(web::get().to(handlers::get))
                .route(web::put().to(handlers::update))
                .route(web::patch().to(handlers::patch))
                .route(web::delete().to(handlers::deactivate)),
        );
}
