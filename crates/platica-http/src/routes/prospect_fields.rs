//! Contact fields a tenant defines for its prospects: everyone in the tenant lists them (the
//! contact panel edits their values); admins create, change and delete them. Values are read and
//! written with the prospect (`GET`/`PATCH /prospects/{id}`, its `custom` object).

use axum::extract::State;
use axum::http::StatusCode;
use platica_domain::fields;
use platica_store::inbox::fields::{self as store, FieldDef, FieldInput};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(update, delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateField {
    /// How values are named in a prospect's `custom` object: lower-case letters, digits, `_`.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,39}$")]
    pub key: String,
    #[schema(min_length = 1, max_length = 100)]
    pub label: String,
    #[schema(pattern = "^(text|number|date|select)$")]
    pub kind: String,
    /// A select's options (1 to 50); other kinds take none.
    #[serde(default)]
    pub options: Vec<String>,
    /// Display order (default 0; ties by creation).
    pub position: Option<i32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateField {
    #[schema(min_length = 1, max_length = 100)]
    pub label: Option<String>,
    /// A select's new options; prospects' values no longer among them are removed.
    pub options: Option<Vec<String>>,
    pub position: Option<i32>,
}

/// The tenant's contact fields, in display order.
#[utoipa::path(get, path = "/prospect-fields", tag = "prospect_fields",
    responses((status = 200, body = Vec<FieldDef>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<FieldDef>>> {
    Ok(Json(store::list(&state.pool, auth.viewer().tenant_id).await?))
}

/// Defines a contact field (admin).
#[utoipa::path(post, path = "/prospect-fields", tag = "prospect_fields", request_body = CreateField,
    responses((status = 201, body = FieldDef), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<CreateField>,
) -> ApiResult<(StatusCode, Json<FieldDef>)> {
    let kind = fields::kind("kind", &input.kind)?;
    let f = FieldInput {
        key: fields::key("key", &input.key)?,
        label: fields::label("label", &input.label)?,
        options: fields::options("options", &kind, &input.options)?,
        kind,
        position: input.position.unwrap_or(0),
    };
    Ok((StatusCode::CREATED, Json(store::create(&state.pool, admin.viewer().tenant_id, &f).await?)))
}

/// Changes a contact field's label, options or position (admin); its key and kind stay.
#[utoipa::path(patch, path = "/prospect-fields/{field_id}", tag = "prospect_fields", params(("field_id" = i64, Path)), request_body = UpdateField,
    responses((status = 200, body = FieldDef), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
    Json(input): Json<UpdateField>,
) -> ApiResult<Json<FieldDef>> {
    let tenant = admin.viewer().tenant_id;
    let label = input.label.as_deref().map(|l| fields::label("label", l)).transpose()?;
    let options = match &input.options {
        Some(o) => {
            let def = store::get(&state.pool, tenant, id).await?;
            Some(fields::options("options", &def.kind, o)?)
        }
        None => None,
    };
    Ok(Json(store::update(&state.pool, tenant, id, label.as_deref(), options.as_deref(), input.position).await?))
}

/// Deletes a contact field with every prospect's value for it (admin).
#[utoipa::path(delete, path = "/prospect-fields/{field_id}", tag = "prospect_fields", params(("field_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<StatusCode> {
    store::delete(&state.pool, admin.viewer().tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
