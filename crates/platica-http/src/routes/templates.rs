//! Approved WhatsApp message templates: everyone lists them (to send one), admins manage them.

use axum::extract::State;
use axum::http::StatusCode;
use platica_domain::validate::Invalid;
use platica_store::templates::{self, Template};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    /// The name approved in WhatsApp Manager: lowercase letters, digits and `_`.
    #[schema(max_length = 512, pattern = "^\\s*[a-z0-9_]+\\s*$")]
    pub name: String,
    /// e.g. `es_MX`.
    #[schema(pattern = "^\\s*[a-z]{2,3}(_[A-Z]{2})?\\s*$")]
    pub language: String,
    /// The template's text with `{{1}}`, `{{2}}`... placeholders (up to 1,024 characters).
    #[schema(min_length = 1, max_length = 1024)]
    pub body: String,
}

/// The tenant's templates.
#[utoipa::path(get, path = "/templates", tag = "templates",
    responses((status = 200, body = Vec<Template>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Template>>> {
    Ok(Json(templates::list(&state.pool, auth.viewer().tenant_id).await?))
}

/// Records an approved template (admin).
#[utoipa::path(post, path = "/templates", tag = "templates", request_body = CreateTemplate,
    responses((status = 201, body = Template), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<CreateTemplate>,
) -> ApiResult<(StatusCode, Json<Template>)> {
    let name = input.name.trim();
    if name.is_empty()
        || name.len() > 512
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Invalid::new("name", "must be lowercase letters, digits and _ (1 to 512)").into());
    }
    let language = input.language.trim();
    let lang_ok = match language.split_once('_') {
        Some((l, r)) => {
            (2..=3).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_lowercase())
                && r.len() == 2
                && r.bytes().all(|b| b.is_ascii_uppercase())
        }
        None => (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase()),
    };
    if !lang_ok {
        return Err(Invalid::new("language", "must be a language code such as es or es_MX").into());
    }
    let body = input.body.trim();
    if body.is_empty() || body.chars().count() > 1024 || body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new("body", "must be 1 to 1,024 characters without control characters").into());
    }
    let t = templates::create(&state.pool, admin.viewer().tenant_id, name, language, body).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Removes a template (admin).
#[utoipa::path(delete, path = "/templates/{template_id}", tag = "templates", params(("template_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<StatusCode> {
    templates::delete(&state.pool, admin.viewer().tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
