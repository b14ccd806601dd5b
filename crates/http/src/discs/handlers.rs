use actix_web::{HttpResponse, web};
use recordshop_domain::disc::DiscId;
use tracing::field::display;

use super::dto::{CreateDisc, DiscQuery, DiscResponse, UpdateDisc};
use crate::auth::{SignedIn, policy};
use crate::error::ApiError;
use crate::idempotency::{self, IdempotencyHeader, created_once};
use crate::json::JsonObject;
use crate::params::{Listing, PathId};
use crate::state::AppState;

/// Completes "only staff may …" for the catalog's writes.
const CHANGE_THE_CATALOG: &str = "change the catalog";

problems!(
    /// What `POST /discs` answers besides 201.
    CreateProblems => [
        malformed_body(),
        unauthenticated(),
        staff_only_refusal(CHANGE_THE_CATALOG),
        invalid(&[
            ("name", "must be 1 to 200 characters after trimming, got 0"),
            ("year_of_release", "must be a year from 1877 to 2027"),
            ("quantity", "is required"),
        ]),
        key_reused(),
        too_large(),
        compressed_body(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `GET /discs/{id}` answers besides 200.
    GetProblems => [bad_token(), disc_not_found(), unavailable(), internal()]
);

problems!(
    /// What `DELETE /discs/{id}` answers besides 204.
    DeleteProblems => [
        unauthenticated(),
        staff_only_refusal(CHANGE_THE_CATALOG),
        disc_not_found(),
        unavailable(),
        internal(),
    ]
);

problems!(
    /// What `GET /discs` answers besides 200.
    ListProblems => [bad_query(), bad_token(), unavailable(), internal()]
);

problems!(
    /// What `PUT` / `PATCH /discs/{id}` answer besides 200.
    UpdateProblems => [
        malformed_body(),
        unauthenticated(),
        staff_only_refusal(CHANGE_THE_CATALOG),
        disc_not_found(),
        invalid(&[("quantity", "must be from 0 to 1000000000")]),
        too_large(),
        compressed_body(),
        contention(),
        unavailable(),
        internal(),
    ]
);

/// Adds a disc to the catalog.
#[utoipa::path(
    post,
    path = "/discs",
    tag = "discs",
    operation_id = "create_disc",
    summary = "Add a disc",
    description = "Staff only.",
    request_body = CreateDisc,
    params(("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255, example = "5b3f7c2e-8d41-4a6b-9e0f-1c2d3e4f5a6b", description = "Optional: makes a \
repeat of this create safe (see `POST /purchase-orders`).")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new disc.", body = DiscResponse,
            headers(
                ("Location" = String, description = "`/discs/{id}` of the new disc"),
                ("Idempotent-Replayed" = String, description = "`true` on a replay"),
            )),
        CreateProblems,
    ),
)]
#[tracing::instrument(name = "create_disc", skip_all, fields(disc_id))]
pub(super) async fn create(
    caller: SignedIn,
    idempotency: IdempotencyHeader,
    state: web::Data<AppState>,
    JsonObject(body): JsonObject<CreateDisc>,
) -> Result<HttpResponse, ApiError> {
    let new = body.try_into_domain()?;
    policy::staff_only(&caller, CHANGE_THE_CATALOG)?;
    let outcome = state
        .discs
        .create_once(new, idempotency.for_caller(&caller.0))
        .await;
    idempotency::observe("disc", &outcome);
    let outcome = outcome?;
    let disc = outcome.as_inner();
    tracing::Span::current().record("disc_id", display(disc.id));
    Ok(created_once(
        &outcome,
        format!("/discs/{}", disc.id),
        DiscResponse::from(disc),
    ))
}

/// One disc of the catalog.
#[utoipa::path(
    get,
    path = "/discs/{id}",
    tag = "discs",
    operation_id = "get_disc",
    summary = "Get a disc",
    description = "Public: no token needed.",
    params(("id" = Uuid, Path, description = "The disc's id; anything else answers 404.", example = "bcd8a0e9-dc0a-4ae7-a783-458542e2cc39")),
    responses(
        (status = 200, description = "The disc.", body = DiscResponse),
        GetProblems,
    ),
)]
#[tracing::instrument(name = "get_disc", skip_all, fields(disc_id = %id))]
pub(super) async fn get(
    state: web::Data<AppState>,
    PathId(id): PathId<DiscId>,
) -> Result<web::Json<DiscResponse>, ApiError> {
    let disc = state.discs.get(id).await?;
    Ok(web::Json(DiscResponse::from(&disc)))
}

/// Discs matching every filter given, ordered by name, then id.
#[utoipa::path(
    get,
    path = "/discs",
    tag = "discs",
    operation_id = "list_discs",
    summary = "List and search discs",
    description = "Public: no token needed. Every filter is optional; given ones combine with \
AND. Ordered by `name`, then `id`.",
    params(DiscQuery),
    responses(
        (status = 200, description = "One page of matching discs.", body = Listing<DiscResponse>),
        ListProblems,
    ),
)]
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
#[utoipa::path(
    put,
    path = "/discs/{id}",
    tag = "discs",
    operation_id = "update_disc",
    summary = "Update a disc (partial; same as PATCH)",
    description = "Staff only. Any subset of the fields; absent ones keep their value. Setting \
`quantity` sets the stock (a restock), safely against purchases in flight.",
    params(("id" = Uuid, Path, description = "The disc's id.", example = "d2dd6015-2dc7-4570-af17-2480c9fdf86a")),
    request_body = UpdateDisc,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The disc after the update.", body = DiscResponse),
        UpdateProblems,
    ),
)]
#[tracing::instrument(name = "update_disc", skip_all, fields(disc_id = %id))]
pub(super) async fn update(
    caller: SignedIn,
    state: web::Data<AppState>,
    PathId(id): PathId<DiscId>,
    JsonObject(body): JsonObject<UpdateDisc>,
) -> Result<web::Json<DiscResponse>, ApiError> {
    let patch = body.try_into_domain()?;
    policy::staff_only(&caller, CHANGE_THE_CATALOG)?;
    let disc = state.discs.update(id, patch).await?;
    Ok(web::Json(DiscResponse::from(&disc)))
}

/// `PATCH` is `PUT`; a handler of its own gives the document an operation
/// (and an operation id) per method.
#[utoipa::path(
    patch,
    path = "/discs/{id}",
    tag = "discs",
    operation_id = "patch_disc",
    summary = "Update a disc (partial; same as PUT)",
    description = "Staff only. Any subset of the fields; absent ones keep their value. Setting \
`quantity` sets the stock (a restock), safely against purchases in flight.",
    params(("id" = Uuid, Path, description = "The disc's id.", example = "d81e538b-bf92-49f8-a4bf-9f33e8708a92")),
    request_body = UpdateDisc,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The disc after the update.", body = DiscResponse),
        UpdateProblems,
    ),
)]
pub(super) async fn patch(
    caller: SignedIn,
    state: web::Data<AppState>,
    id: PathId<DiscId>,
    body: JsonObject<UpdateDisc>,
) -> Result<web::Json<DiscResponse>, ApiError> {
    update(caller, state, id, body).await
}

/// Removes a disc from the catalog; its orders keep their history.
#[utoipa::path(
    delete,
    path = "/discs/{id}",
    tag = "discs",
    operation_id = "delete_disc",
    summary = "Remove a disc",
    description = "The disc leaves the catalog: later GET, list and purchases answer 404. Its \
purchase orders keep their history. A second DELETE answers 404. Staff only.",
    params(("id" = Uuid, Path, description = "The disc's id.", example = "3986e41d-eca3-47dc-ae69-6ed8463d494f")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Removed."),
        DeleteProblems,
    ),
)]
#[tracing::instrument(name = "delete_disc", skip_all, fields(disc_id = %id))]
pub(super) async fn delete(
    caller: SignedIn,
    state: web::Data<AppState>,
    PathId(id): PathId<DiscId>,
) -> Result<HttpResponse, ApiError> {
    policy::staff_only(&caller, CHANGE_THE_CATALOG)?;
    state.discs.delete(id).await?;
    Ok(HttpResponse::NoContent().finish())
}
