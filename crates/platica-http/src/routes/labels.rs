//! Conversation labels: everyone in the tenant lists them; admins create, rename, recolour and
//! delete them (`policy::Capability::ManageLabels`, checked by the store). Putting one on a
//! conversation is `PATCH /conversations/{conversation_id}` (`labels_add`, `labels_remove`).

use axum::extract::State;
use axum::http::StatusCode;
use platica_store::inbox::labels::{self, Label};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(update, delete))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLabel {
    #[schema(min_length = 1, max_length = 40)]
    pub name: String,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub colour: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelChanges {
    #[schema(min_length = 1, max_length = 40)]
    pub name: Option<String>,
    /// `#rrggbb`.
    #[schema(pattern = "^#[0-9a-fA-F]{6}$")]
    pub colour: Option<String>,
}

/// Every label of the tenant, by name.
#[utoipa::path(get, path = "/labels", tag = "labels", responses((status = 200, body = Vec<Label>)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Label>>> {
    Ok(Json(labels::list(&state.pool, auth.viewer().tenant_id).await?))
}

/// Creates a label (admins). Names are unique per tenant regardless of case.
#[utoipa::path(post, path = "/labels", tag = "labels", request_body = NewLabel,
    responses((status = 201, body = Label), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<NewLabel>,
) -> ApiResult<(StatusCode, Json<Label>)> {
    let label = labels::create(&state.pool, auth.viewer(), &input.name, &input.colour).await?;
    Ok((StatusCode::CREATED, Json(label)))
}

/// Renames and/or recolours a label (admins).
#[utoipa::path(patch, path = "/labels/{label_id}", tag = "labels", params(("label_id" = i64, Path)), request_body = LabelChanges,
    responses((status = 200, body = Label), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<LabelChanges>,
) -> ApiResult<Json<Label>> {
    if input.name.is_none() && input.colour.is_none() {
        return Err(ApiError::invalid("name", "nothing to change: give name or colour"));
    }
    Ok(Json(labels::update(&state.pool, auth.viewer(), id, input.name.as_deref(), input.colour.as_deref()).await?))
}

/// Deletes a label (admins); it leaves every conversation it was on.
#[utoipa::path(delete, path = "/labels/{label_id}", tag = "labels", params(("label_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<StatusCode> {
    labels::delete(&state.pool, auth.viewer(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
