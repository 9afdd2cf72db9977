//! Teams: everyone in the tenant may list them; admins create, rename and delete.

use axum::extract::State;
use axum::http::StatusCode;
use platica_domain::{TeamId, validate};
use platica_store::org::teams::{self, Team};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get, rename, delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
}

/// Every team of the tenant.
#[utoipa::path(get, path = "/teams", tag = "teams", responses((status = 200, body = Vec<Team>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Team>>> {
    Ok(Json(teams::list(&state.pool, auth.viewer().tenant_id).await?))
}

/// Creates a team (admin).
#[utoipa::path(post, path = "/teams", tag = "teams", request_body = TeamInput,
    responses((status = 201, body = Team), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<TeamInput>,
) -> ApiResult<(StatusCode, Json<Team>)> {
    let name = validate::name("name", &input.name)?;
    Ok((StatusCode::CREATED, Json(teams::create(&state.pool, admin.viewer().tenant_id, &name).await?)))
}

/// One team.
#[utoipa::path(get, path = "/teams/{team_id}", tag = "teams", params(("team_id" = i64, Path)),
    responses((status = 200, body = Team), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<Team>> {
    Ok(Json(teams::get(&state.pool, auth.viewer().tenant_id, TeamId(id)).await?))
}

/// Renames a team (admin).
#[utoipa::path(patch, path = "/teams/{team_id}", tag = "teams", params(("team_id" = i64, Path)), request_body = TeamInput,
    responses((status = 200, body = Team), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn rename(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
    Json(input): Json<TeamInput>,
) -> ApiResult<Json<Team>> {
    let name = validate::name("name", &input.name)?;
    Ok(Json(teams::rename(&state.pool, admin.viewer().tenant_id, TeamId(id), &name).await?))
}

/// Deletes an empty team (admin). A team with prospects is a conflict.
#[utoipa::path(delete, path = "/teams/{team_id}", tag = "teams", params(("team_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn delete(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<StatusCode> {
    teams::delete(&state.pool, admin.viewer().tenant_id, TeamId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
