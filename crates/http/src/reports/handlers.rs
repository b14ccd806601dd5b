use actix_web::web;

use super::dto::{SalesParams, SalesWindowResponse};
use crate::auth::{SignedIn, policy};
use crate::error::ApiError;
use crate::params::Listing;
use crate::state::AppState;

problems!(
    /// What `GET /reports/sales` answers besides 200.
    SalesProblems => [
        bad_query(),
        unauthenticated(),
        staff_only_refusal(READ),
        unavailable(),
        internal(),
    ]
);

/// Complete "only staff may …".
const READ: &str = "read sales reports";

/// Units sold per disc and time bucket: the launch-day view.
#[utoipa::path(
    get,
    path = "/reports/sales",
    tag = "reports",
    operation_id = "sales_report",
    summary = "Sales per disc and time bucket",
    description = "Staff only. Per disc and bucket of the window `[from, to)`: the units and \
orders placed (each confirmed when placed), the units canceled back to stock, and the net. \
Buckets are aligned to UTC (`1d` runs from midnight UTC); a bucket where a disc neither sold \
nor had a cancellation is left out. Newest bucket first, then by disc id. A window is at most \
366 days long.",
    params(SalesParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "One page of the report.", body = Listing<SalesWindowResponse>),
        SalesProblems,
    ),
)]
#[tracing::instrument(name = "sales_report", skip_all)]
pub(super) async fn sales(
    caller: SignedIn,
    state: web::Data<AppState>,
    web::Query(params): web::Query<SalesParams>,
) -> Result<web::Json<Listing<SalesWindowResponse>>, ApiError> {
    let query = params.try_into_domain()?;
    policy::staff_only(&caller, READ)?;
    let windows = state.orders.sales(&query).await?;
    let data = windows
        .iter()
        .map(|window| SalesWindowResponse::new(window, query.bucket()))
        .collect();
    Ok(web::Json(Listing::new(data, query.page())))
}
