//! `system_config`: everyone may read it (clients read `app_version`); admins write it.

use axum::extract::State;
use platica_store::config::{self, ConfigEntry};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get, put))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigInput {
    /// Any JSON; `app_version` must be `{"version": "...", "force_update": bool}`.
    pub value: serde_json::Value,
}

fn check_key(key: &str) -> ApiResult<()> {
    if config::valid_key(key) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid config key {key:?}: use lower-case letters, digits, '_' and '.', starting with a letter"
        ))
        .with_field("key"))
    }
}

/// Every setting of the tenant.
#[utoipa::path(get, path = "/system-config", tag = "system config", responses((status = 200, body = Vec<ConfigEntry>)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<ConfigEntry>>> {
    Ok(Json(config::list(&state.pool, auth.viewer().tenant_id).await?))
}

/// One setting.
#[utoipa::path(get, path = "/system-config/{key}", tag = "system config", params(("key" = String, Path)),
    responses((status = 200, body = ConfigEntry), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, auth: Auth, Path(key): Path<String>) -> ApiResult<Json<ConfigEntry>> {
    check_key(&key)?;
    Ok(Json(config::get(&state.pool, auth.viewer().tenant_id, &key).await?))
}

/// Sets a setting (admin).
#[utoipa::path(put, path = "/system-config/{key}", tag = "system config", params(("key" = String, Path)), request_body = ConfigInput,
    responses((status = 200, body = ConfigEntry), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put(
    State(state): State<AppState>,
    admin: Admin,
    Path(key): Path<String>,
    Json(input): Json<ConfigInput>,
) -> ApiResult<Json<ConfigEntry>> {
    check_key(&key)?;
    config::validate_value(&key, &input.value).map_err(|m| ApiError::invalid("value", m))?;
    let v = admin.viewer();
    Ok(Json(config::put(&state.pool, v.tenant_id, &key, &input.value, Some(v.user_id)).await?))
}
