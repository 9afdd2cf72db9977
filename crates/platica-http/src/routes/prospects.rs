//! Prospects: search, CRUD, reassignment one by one and in bulk, assignment history.

use axum::extract::State;
use axum::http::StatusCode;
use std::collections::BTreeMap;

use platica_domain::inbox::InboxRow;
use platica_domain::{ProspectId, TeamId, UserId, fields, validate};
use platica_store::inbox::conversations;
use platica_store::inbox::prospects::{
    self, Assignment, BulkOutcome, NewProspect, Prospect, ProspectChanges, ProspectFilter, Selection, Target,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, PathId, Query, limit, nullable};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, update, delete))
        .routes(routes!(reassign))
        .routes(routes!(bulk_reassign))
        .routes(routes!(history))
        .routes(routes!(prospect_conversations))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Words that start words of the name (accents and case aside), or a phone number (local or
    /// international form, separators allowed).
    pub q: Option<String>,
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    pub stage: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ProspectPage {
    pub items: Vec<Prospect>,
    pub next_cursor: Option<String>,
}

fn check_stage(stage: &str) -> ApiResult<()> {
    if prospects::STAGES.contains(&stage) {
        Ok(())
    } else {
        Err(ApiError::invalid("stage", format!("stage must be one of {}", prospects::STAGES.join(", "))))
    }
}

pub(crate) fn filter(
    q: Option<&str>,
    team_id: Option<i64>,
    executive_id: Option<i64>,
    stage: Option<String>,
) -> ApiResult<ProspectFilter> {
    if let Some(s) = &stage {
        check_stage(s)?;
    }
    Ok(ProspectFilter { q: validate::search_prefix("q", q)?, team_id, executive_id, stage })
}

/// Visible prospects, newest first, with optional search and filters.
#[utoipa::path(get, path = "/prospects", tag = "prospects", params(ListQuery),
    responses((status = 200, body = ProspectPage), (status = 400, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<ListQuery>) -> ApiResult<Json<ProspectPage>> {
    let limit = limit(q.limit, 50, 200)?;
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n > 0).map(ProspectId).ok_or_else(|| {
            ApiError::bad_request("invalid cursor: pass next_cursor from the previous page").with_field("cursor")
        })?),
    };
    let f = filter(q.q.as_deref(), q.team_id, q.executive_id, q.stage)?;
    let mut items = prospects::list(&state.pool, auth.viewer(), &f, after, limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|p| p.prospect_id.to_string())
    } else {
        None
    };
    Ok(Json(ProspectPage { items, next_cursor }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProspect {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// E.164, e.g. +5215512345678 (spaces, dashes, dots and parentheses are removed).
    #[schema(pattern = "^\\+[1-9][0-9 .()-]{7,40}$")]
    pub phone: String,
    pub team_id: i64,
    /// Executives may leave it out: the prospect is assigned to them.
    pub executive_id: Option<i64>,
    /// Default `new`.
    #[schema(pattern = "^(new|contacted|interested|negotiating|won|lost)$")]
    pub stage: Option<String>,
}

/// Creates a prospect and its WhatsApp conversation.
#[utoipa::path(post, path = "/prospects", tag = "prospects", request_body = CreateProspect,
    responses((status = 201, body = Prospect), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<CreateProspect>,
) -> ApiResult<(StatusCode, Json<Prospect>)> {
    let v = auth.viewer();
    let stage = input.stage.unwrap_or_else(|| "new".to_owned());
    check_stage(&stage)?;
    let executive_id = match (input.executive_id, v.role) {
        (None, platica_domain::Role::Executive) => Some(v.user_id),
        (e, _) => e.map(UserId),
    };
    let new = NewProspect {
        name: validate::name("name", &input.name)?,
        phone: validate::phone("phone", &input.phone)?,
        team_id: TeamId(input.team_id),
        executive_id,
        stage,
    };
    Ok((StatusCode::CREATED, Json(prospects::create(&state.pool, v, &new).await?)))
}

/// One visible prospect.
#[utoipa::path(get, path = "/prospects/{prospect_id}", tag = "prospects", params(("prospect_id" = i64, Path)),
    responses((status = 200, body = Prospect), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<Prospect>> {
    let mut conn = state.pool.acquire().await.map_err(platica_store::StoreError::from)?;
    Ok(Json(prospects::get(&mut conn, auth.viewer(), ProspectId(id)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProspect {
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    #[schema(pattern = "^\\+[1-9][0-9 .()-]{7,40}$")]
    pub phone: Option<String>,
    #[schema(pattern = "^(new|contacted|interested|negotiating|won|lost)$")]
    pub stage: Option<String>,
    /// Contact e-mail; `null` or `""` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 254)]
    pub email: Option<Option<String>>,
    /// Free notes (at most 4,000 characters); `null` or blank clears them.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 4000)]
    pub notes: Option<Option<String>>,
    /// Contact field values by key (`GET /prospect-fields`): a string (a number or a date as text
    /// too: `"1500"`, `"2026-12-31"`), or `null` to clear. Keys not given stay as they are.
    #[schema(value_type = Option<std::collections::BTreeMap<String, Option<String>>>)]
    pub custom: Option<BTreeMap<String, Option<serde_json::Value>>>,
}

/// The stored text of one custom value as sent (a JSON string or number), or the 422.
fn custom_text(key: &str, v: &serde_json::Value) -> ApiResult<String> {
    match v {
        serde_json::Value::String(s) => Ok(s.clone()),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        _ => Err(ApiError::invalid(&format!("custom.{key}"), format!("custom.{key}: must be a string or a number"))),
    }
}

/// Checks the custom values against the tenant's definitions: `(field id, normalised value or
/// None to clear)`, or a 422 naming the field (`custom.<key>`).
async fn custom_changes(
    state: &AppState,
    tenant: platica_domain::TenantId,
    custom: Option<BTreeMap<String, Option<serde_json::Value>>>,
) -> ApiResult<Vec<(i64, Option<String>)>> {
    let Some(custom) = custom.filter(|c| !c.is_empty()) else { return Ok(Vec::new()) };
    let defs = platica_store::inbox::fields::list(&state.pool, tenant).await?;
    let mut out = Vec::with_capacity(custom.len());
    for (key, value) in custom {
        let field = format!("custom.{key}");
        let Some(def) = defs.iter().find(|d| d.key == key) else {
            return Err(ApiError::invalid(&field, format!("{field}: no contact field has this key")));
        };
        let value = match value.as_ref().map(|v| custom_text(&key, v)).transpose()? {
            None => None,
            Some(t) if t.trim().is_empty() => None,
            Some(t) => Some(
                platica_domain::fields::value(&def.kind, &def.options, &t)
                    .map_err(|m| ApiError::invalid(&field, format!("{field}: {m}")))?,
            ),
        };
        out.push((def.field_id, value));
    }
    Ok(out)
}

/// Changes a visible prospect's name, phone, stage, e-mail, notes or contact field values
/// (placement changes go through reassign). Whoever sees the prospect may edit its contact.
#[utoipa::path(patch, path = "/prospects/{prospect_id}", tag = "prospects", params(("prospect_id" = i64, Path)), request_body = UpdateProspect,
    responses((status = 200, body = Prospect), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<UpdateProspect>,
) -> ApiResult<Json<Prospect>> {
    if let Some(s) = &input.stage {
        check_stage(s)?;
    }
    let changes = ProspectChanges {
        name: input.name.as_deref().map(|n| validate::name("name", n)).transpose()?,
        phone: input.phone.as_deref().map(|p| validate::phone("phone", p)).transpose()?,
        stage: input.stage,
        email: input
            .email
            .map(|e| match e.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(e) => validate::email("email", e).map(Some),
            })
            .transpose()?,
        notes: input
            .notes
            .map(|n| n.as_deref().map(|n| fields::notes("notes", n)).transpose())
            .transpose()?
            .map(Option::flatten),
        custom: custom_changes(&state, auth.viewer().tenant_id, input.custom).await?,
    };
    Ok(Json(prospects::update(&state.pool, auth.viewer(), ProspectId(id), &changes).await?))
}

/// Deletes a visible prospect with its conversations and messages (admins, coordinators).
#[utoipa::path(delete, path = "/prospects/{prospect_id}", tag = "prospects", params(("prospect_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<StatusCode> {
    prospects::delete(&state.pool, auth.viewer(), ProspectId(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignInput {
    /// The new team (default: unchanged).
    pub team_id: Option<i64>,
    /// The new executive; `null` unassigns (default: unchanged).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub executive_id: Option<Option<i64>>,
}

impl ReassignInput {
    fn target(&self) -> Target {
        Target { team_id: self.team_id.map(TeamId), executive_id: self.executive_id.map(|e| e.map(UserId)) }
    }
}

/// Moves one prospect to another team and/or executive; writes a history row.
#[utoipa::path(post, path = "/prospects/{prospect_id}/reassign", tag = "prospects", params(("prospect_id" = i64, Path)), request_body = ReassignInput,
    responses((status = 200, body = Prospect), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reassign(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<ReassignInput>,
) -> ApiResult<Json<Prospect>> {
    Ok(Json(prospects::reassign(&state.pool, auth.viewer(), ProspectId(id), &input.target()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkFilter {
    pub q: Option<String>,
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    pub stage: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkReassignInput {
    /// Exactly these prospects (at most 50,000); all must be visible, else nothing moves.
    pub prospect_ids: Option<Vec<i64>>,
    /// Or: every visible prospect matching this filter.
    pub filter: Option<BulkFilter>,
    pub team_id: Option<i64>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub executive_id: Option<Option<i64>>,
}

/// Moves many prospects in one transaction (all or nothing); one history row per moved prospect.
#[utoipa::path(post, path = "/prospects/bulk-reassign", tag = "prospects", request_body = BulkReassignInput,
    responses((status = 200, body = BulkOutcome), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn bulk_reassign(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<BulkReassignInput>,
) -> ApiResult<Json<BulkOutcome>> {
    let selection = match (input.prospect_ids, input.filter) {
        (Some(ids), None) => {
            if ids.is_empty() {
                return Err(ApiError::invalid("prospect_ids", "prospect_ids must not be empty"));
            }
            if ids.len() > prospects::BULK_MAX {
                return Err(ApiError::invalid(
                    "prospect_ids",
                    format!("at most {} prospects at once", prospects::BULK_MAX),
                ));
            }
            Selection::Ids(ids.into_iter().map(ProspectId).collect())
        }
        (None, Some(f)) => Selection::Filter(filter(f.q.as_deref(), f.team_id, f.executive_id, f.stage)?),
        _ => return Err(ApiError::invalid("prospect_ids", "give either prospect_ids or filter")),
    };
    let target = Target { team_id: input.team_id.map(TeamId), executive_id: input.executive_id.map(|e| e.map(UserId)) };
    Ok(Json(prospects::bulk_reassign(&state.pool, auth.viewer(), &selection, &target).await?))
}

/// The assignment history of a visible prospect, newest first.
#[utoipa::path(get, path = "/prospects/{prospect_id}/assignments", tag = "prospects", params(("prospect_id" = i64, Path)),
    responses((status = 200, body = Vec<Assignment>), (status = 404, body = ErrorBody)))]
async fn history(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<Vec<Assignment>>> {
    Ok(Json(prospects::history(&state.pool, auth.viewer(), ProspectId(id)).await?))
}

/// Every conversation of a visible prospect (one per channel), newest activity first, as inbox
/// rows: the contact panel's past conversations. Its calls: `GET /calls?prospect_id=`.
#[utoipa::path(get, path = "/prospects/{prospect_id}/conversations", tag = "prospects", params(("prospect_id" = i64, Path)),
    responses((status = 200, body = Vec<InboxRow>), (status = 404, body = ErrorBody)))]
async fn prospect_conversations(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<InboxRow>>> {
    Ok(Json(conversations::of_prospect(&state.pool, auth.viewer(), ProspectId(id)).await?))
}
