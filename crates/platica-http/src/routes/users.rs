//! Users: everyone may read the directory; admins create and change users.

use axum::extract::State;
use axum::http::StatusCode;
use platica_domain::{Role, TeamId, UserId, validate};
use platica_store::org::users::{self, NewUser, User, UserChanges};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, PathId, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get, update))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Only users of this role.
    pub role: Option<Role>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(min_length = 3, max_length = 254)]
    pub email: String,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    pub role: Role,
    /// Available for new assignments (default true).
    pub operational: Option<bool>,
    /// At least 8 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// Teams a coordinator coordinates.
    #[serde(default)]
    pub team_ids: Vec<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    pub role: Option<Role>,
    pub operational: Option<bool>,
    pub active: Option<bool>,
    /// Sets a new password, ends the user's sessions and revokes their API tokens (unless
    /// `keep_api_tokens`); their open WebSockets are closed within a second.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: Option<String>,
    /// With `password`: keep the user's API tokens (default `false`: a password reset revokes
    /// them too).
    pub keep_api_tokens: Option<bool>,
    /// Replaces the teams a coordinator coordinates.
    pub team_ids: Option<Vec<i64>>,
}

/// The tenant's users.
#[utoipa::path(get, path = "/users", tag = "users", params(UserQuery),
    responses((status = 200, body = Vec<User>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<UserQuery>) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(users::list(&state.pool, auth.viewer().tenant_id, q.role).await?))
}

/// Creates a user (admin).
#[utoipa::path(post, path = "/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<User>)> {
    let email = validate::email("email", &input.email)?;
    let display_name = validate::name("display_name", &input.display_name)?;
    validate::password("password", &input.password)?;
    let team_ids: Vec<TeamId> = input.team_ids.iter().copied().map(TeamId).collect();
    let new = NewUser {
        email: &email,
        display_name: &display_name,
        role: input.role,
        operational: input.operational.unwrap_or(true),
        password: &input.password,
        team_ids: &team_ids,
    };
    Ok((StatusCode::CREATED, Json(users::create(&state.pool, admin.viewer().tenant_id, &new).await?)))
}

/// One user.
#[utoipa::path(get, path = "/users/{user_id}", tag = "users", params(("user_id" = i64, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<User>> {
    let mut conn = state.pool.acquire().await.map_err(platica_store::StoreError::from)?;
    Ok(Json(users::get(&mut conn, auth.viewer().tenant_id, UserId(id)).await?))
}

/// Changes a user (admin): name, role, operational flag, active flag, password, coordinated teams.
#[utoipa::path(patch, path = "/users/{user_id}", tag = "users", params(("user_id" = i64, Path)), request_body = UpdateUser,
    responses((status = 200, body = User), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
    Json(input): Json<UpdateUser>,
) -> ApiResult<Json<User>> {
    let me = admin.viewer();
    if id == me.user_id.0 {
        if input.active == Some(false) {
            return Err(ApiError::invalid("active", "you cannot deactivate yourself"));
        }
        if input.role.is_some_and(|r| r != Role::Admin) {
            return Err(ApiError::invalid("role", "you cannot remove your own admin role"));
        }
    }
    let display_name = input.display_name.as_deref().map(|n| validate::name("display_name", n)).transpose()?;
    if let Some(p) = &input.password {
        validate::password("password", p)?;
    } else if input.keep_api_tokens.is_some() {
        return Err(ApiError::invalid("keep_api_tokens", "only with a new password"));
    }
    let team_ids: Option<Vec<TeamId>> = input.team_ids.as_ref().map(|t| t.iter().copied().map(TeamId).collect());
    let changes = UserChanges {
        display_name: display_name.as_deref(),
        role: input.role,
        operational: input.operational,
        active: input.active,
        password: input.password.as_deref(),
        keep_api_tokens: input.keep_api_tokens.unwrap_or(false),
        team_ids: team_ids.as_deref(),
    };
    let updated = users::update(&state.pool, me.tenant_id, UserId(id), &changes).await?;
    // Role, teams, password or the active flag may have changed: verify their tokens afresh.
    state.credentials.forget_user(me.tenant_id, UserId(id));
    Ok(Json(updated))
}
