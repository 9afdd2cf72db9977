//! API tokens for integrations (admin). A token acts as one user of the tenant.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use platica_domain::{UserId, validate};
use platica_store::org::auth::ApiToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(revoke))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// What the token is for, e.g. "CRM sync".
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The user the token acts as (default: the admin creating it).
    pub user_id: Option<i64>,
    /// When it stops working (default: never).
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// The secret, shown only this once.
    pub token: String,
    pub api_token: ApiToken,
}

/// Every API token of the tenant (never their secrets).
#[utoipa::path(get, path = "/api-tokens", tag = "api tokens", responses((status = 200, body = Vec<ApiToken>), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<Vec<ApiToken>>> {
    Ok(Json(platica_store::org::auth::list_api_tokens(&state.pool, admin.viewer().tenant_id).await?))
}

/// Creates an API token; the answer holds its secret, shown once.
#[utoipa::path(post, path = "/api-tokens", tag = "api tokens", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<CreateToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let name = validate::name("name", &input.name)?;
    if input.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::invalid("expires_at", "expires_at must be in the future"));
    }
    let user = input.user_id.map(UserId).unwrap_or(admin.viewer().user_id);
    let (api_token, token) =
        platica_store::org::auth::create_api_token(&state.pool, admin.viewer(), &name, user, input.expires_at).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, api_token })))
}

/// Revokes an API token at once.
#[utoipa::path(delete, path = "/api-tokens/{token_id}", tag = "api tokens", params(("token_id" = i64, Path)),
    responses((status = 200, body = ApiToken), (status = 404, body = ErrorBody)))]
async fn revoke(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<Json<ApiToken>> {
    let tenant = admin.viewer().tenant_id;
    let revoked = platica_store::org::auth::revoke_api_token(&state.pool, tenant, id).await?;
    state.credentials.forget_credential(tenant, platica_store::org::auth::TokenKind::Api, id);
    Ok(Json(revoked))
}
