//! `/reports`: what sold, for the shop's staff.

mod dto;
mod handlers;

use actix_web::http::Method;
use actix_web::web;
use utoipa::OpenApi;

use crate::resource;

/// The operations of `/reports`, for the API's document.
#[derive(OpenApi)]
#[openapi(paths(handlers::sales))]
pub(crate) struct ApiDoc;

const GET: &[Method] = &[Method::GET];

pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config.service(resource("/reports/sales", GET).route(web::get().to(handlers::sales)));
}
