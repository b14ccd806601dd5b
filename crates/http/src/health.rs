//! `/health` (the process serves) and `/health/ready` (the store answers).

use actix_web::http::Method;
use actix_web::web;
use recordshop_domain::order::breaker::{BreakerSnapshot, BreakerState};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use crate::error::ApiError;
use crate::resource;
use crate::state::AppState;

/// The health routes, for the API's document.
#[derive(OpenApi)]
#[openapi(paths(live, ready))]
pub(crate) struct ApiDoc;

problems!(
    /// What `GET /health/ready` answers besides 200.
    NotReady => [bad_token(), unavailable()]
);

problems!(
    /// What `GET /health` answers besides 200: only a refused token.
    LiveProblems => [bad_token()]
);

const GET: &[Method] = &[Method::GET];

pub(crate) fn routes(config: &mut web::ServiceConfig) {
    config
        .service(resource("/health", GET).route(web::get().to(live)))
        .service(resource("/health/ready", GET).route(web::get().to(ready)));
}

/// The process serves.
#[derive(Serialize, ToSchema)]
struct Live {
    /// Always `ok`.
    #[schema(example = "ok")]
    status: &'static str,
    /// The concurrency strategy purchases use (`CONCURRENCY_STRATEGY`).
    #[schema(example = "pessimistic")]
    strategy: &'static str,
    /// `enabled`, or `disabled` when the server runs with
    /// `AUTH_DISABLED=true` and treats every caller as staff.
    #[schema(example = "enabled")]
    auth: AuthStatus,
    /// The `hybrid` strategy's circuit breaker in this instance; absent
    /// under the other strategies.
    #[serde(skip_serializing_if = "Option::is_none")]
    breaker: Option<Breaker>,
}

/// Where the `hybrid` strategy's breaker is.
#[derive(Serialize, ToSchema)]
struct Breaker {
    /// `closed`: purchases are decided within their request; `open`: they
    /// are queued (202); `half_open`: a few probes are decided within
    /// their request, the rest queued.
    #[schema(example = "closed")]
    state: BreakerStateName,
    /// When it entered that state (RFC 3339, UTC, milliseconds).
    #[schema(format = DateTime, example = "2026-12-01T17:00:00.000Z")]
    since: String,
    /// Times it opened since the instance started.
    #[schema(example = 0)]
    trips: u64,
}

/// The breaker's states, as `Breaker.state` names them.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum BreakerStateName {
    Closed,
    Open,
    HalfOpen,
}

impl From<BreakerSnapshot> for Breaker {
    fn from(snapshot: BreakerSnapshot) -> Self {
        Self {
            state: match snapshot.state {
                BreakerState::Closed => BreakerStateName::Closed,
                BreakerState::Open => BreakerStateName::Open,
                BreakerState::HalfOpen => BreakerStateName::HalfOpen,
            },
            since: crate::json::timestamp(&snapshot.since),
            trips: snapshot.trips,
        }
    }
}

/// Whether bearer tokens are checked.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
enum AuthStatus {
    /// Tokens are checked; anonymous callers reach the public routes only.
    Enabled,
    /// `AUTH_DISABLED=true`: every caller is staff. Never in production.
    Disabled,
}

/// The store answers.
#[derive(Serialize, ToSchema)]
struct Ready {
    /// Always `ready`.
    #[schema(example = "ready")]
    status: &'static str,
}

/// Answers while the process serves; never touches the store, so an
/// orchestrator does not restart a healthy process during a database outage.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    operation_id = "health",
    summary = "Liveness",
    description = "200 while the process serves; never touches the database. Says which \
concurrency strategy purchases use, whether authentication is enabled and, under `hybrid`, \
where this instance's circuit breaker is.",
    responses(
        (status = 200, description = "The process serves.", body = Live),
        LiveProblems,
    ),
)]
async fn live(state: web::Data<AppState>) -> web::Json<Live> {
    web::Json(Live {
        status: "ok",
        strategy: state.strategy,
        auth: if state.authenticator.is_enabled() {
            AuthStatus::Enabled
        } else {
            AuthStatus::Disabled
        },
        breaker: state
            .breaker
            .as_ref()
            .map(|breaker| breaker.snapshot().into()),
    })
}

/// 200 when the store answers a ping.
#[utoipa::path(
    get,
    path = "/health/ready",
    tag = "health",
    operation_id = "ready",
    summary = "Readiness",
    description = "200 when the database answers, else 503 `unavailable`.",
    responses(
        (status = 200, description = "The database answers.", body = Ready),
        NotReady,
    ),
)]
#[tracing::instrument(name = "readiness", skip_all)]
async fn ready(state: web::Data<AppState>) -> Result<web::Json<Ready>, ApiError> {
    state.health.ping().await?;
    Ok(web::Json(Ready { status: "ready" }))
}
