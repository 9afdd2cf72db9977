//! Canned replies: the tenant's (admins manage them) and each user's own, typed after `/` in the
//! composer.

use axum::extract::State;
use axum::http::StatusCode;
use platica_domain::validate::{self, Invalid};
use platica_store::inbox::canned::{self, CannedReply};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(update, delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCannedReply {
    /// `tenant` (shared with everyone; admins only) or `personal` (default: the caller's own).
    #[schema(pattern = "^(tenant|personal)$")]
    pub scope: Option<String>,
    /// Typed after `/`: 1 to 32 of lowercase letters, digits, `-` and `_`.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub shortcut: String,
    #[schema(min_length = 1, max_length = 4096)]
    pub body: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedReplyChange {
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub shortcut: Option<String>,
    #[schema(min_length = 1, max_length = 4096)]
    pub body: Option<String>,
}

fn shortcut(s: &str) -> Result<String, Invalid> {
    let s = s.trim().trim_start_matches('/').to_lowercase();
    if canned::valid_shortcut(&s) {
        Ok(s)
    } else {
        Err(Invalid::new("shortcut", "1 to 32 of a-z, 0-9, - and _, starting with a letter or digit"))
    }
}

/// The canned replies the caller may use: the organisation's and their own.
#[utoipa::path(get, path = "/canned-replies", tag = "canned replies",
    responses((status = 200, body = Vec<CannedReply>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<CannedReply>>> {
    Ok(Json(canned::list(&state.pool, auth.viewer()).await?))
}

/// Creates a canned reply: the caller's own, or (`scope` `tenant`, admins) the organisation's.
/// 409 when the shortcut is taken in that scope.
#[utoipa::path(post, path = "/canned-replies", tag = "canned replies", request_body = NewCannedReply,
    responses((status = 201, body = CannedReply), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<NewCannedReply>,
) -> ApiResult<(StatusCode, Json<CannedReply>)> {
    let tenant_wide = match input.scope.as_deref() {
        None | Some("personal") => false,
        Some("tenant") => true,
        Some(_) => return Err(Invalid::new("scope", "must be tenant or personal").into()),
    };
    let shortcut = shortcut(&input.shortcut)?;
    let body = validate::body("body", &input.body)?;
    let made = canned::create(&state.pool, auth.viewer(), tenant_wide, &shortcut, &body).await?;
    Ok((StatusCode::CREATED, Json(made)))
}

/// Changes a canned reply (the organisation's: admins; a personal one: its owner).
#[utoipa::path(patch, path = "/canned-replies/{canned_reply_id}", tag = "canned replies", params(("canned_reply_id" = i64, Path)),
    request_body = CannedReplyChange,
    responses((status = 200, body = CannedReply), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<CannedReplyChange>,
) -> ApiResult<Json<CannedReply>> {
    let shortcut = input.shortcut.as_deref().map(shortcut).transpose()?;
    let body = input.body.as_deref().map(|b| validate::body("body", b)).transpose()?;
    Ok(Json(canned::update(&state.pool, auth.viewer(), id, shortcut.as_deref(), body.as_deref()).await?))
}

/// Deletes a canned reply (the organisation's: admins; a personal one: its owner).
#[utoipa::path(delete, path = "/canned-replies/{canned_reply_id}", tag = "canned replies", params(("canned_reply_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<StatusCode> {
    canned::delete(&state.pool, auth.viewer(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
