//! `/purchase-orders`: placing, finding and canceling purchases.

mod dto;
mod handlers;

use actix_web::http::Method;
use actix_web::web;
use utoipa::OpenApi;

use crate::resource;

/// The operations of `/purchase-orders`, for the API's document.
#[derive(OpenApi)]
#[openapi(paths(
    handlers::place,
    handlers::list,
    handlers::get,
    handlers::events,
    handlers::cancel
))]
pub(crate) struct ApiDoc;

const COLLECTION: &[Method] = &[Method::POST, Method::GET];
const ITEM: &[Method] = &[Method::GET];
const CANCEL: &[Method] = &[Method::POST];
const EVENTS: &[Method] = &[Method::GET];

pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .service(
            resource("/purchase-orders", COLLECTION)
                .route(web::post().to(handlers::place))
                .route(web::get().to(handlers::list)),
        )
        .service(resource("/purchase-orders/{id}", ITEM).route(web::get().to(handlers::get)))
        .service(
            resource("/purchase-orders/{id}/events", EVENTS).route(web::get().to(handlers::events)),
        )
        .service(
            resource("/purchase-orders/{id}/cancel", CANCEL)
                .route(web::post().to(handlers::cancel)),
        );
}
