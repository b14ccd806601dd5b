//! `/health` (the process serves) and `/health/ready` (the store answers).

use actix_web::http::Method;
use actix_web::web;
use serde::Serialize;

use crate::error::ApiError;
use crate::{AppState, resource};

const GET: &[Method] = &[Method::GET];

pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/health", GET).route(web::get().to(live)))
        .service(resource("/health/ready", GET).route(web::get().to(ready)));
}

#[derive(Serialize)]
struct Live {
    status: &'static str,
    strategy: String,
}

#[derive(Serialize)]
struct Ready {
    status: &'static str,
}

/// Answers while the process serves; never touches the store, so an
/// orchestrator does not restart a healthy process during a database outage.
async fn live(state: web::Data<AppState>) -> web::Json<Live> {
    web::Json(Live {
        status: "ok",
        strategy: state.strategy.clone(),
    })
}

#[tracing::instrument(name = "readiness", skip_all)]
async fn ready(state: web::Data<AppState>) -> Result<web::Json<Ready>, ApiError> {
    state.health.ping().await?;
    Ok(web::Json(Ready { status: "ready" }))
}
