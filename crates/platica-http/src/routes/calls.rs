//! Calls and scheduled calls: the call provider's signed webhook, the provider secret (admin),
//! reading calls (visible ones only: a call is visible when its prospect is), and scheduling.
//!
//! The webhook names its tenant in `X-Platica-Tenant` (the tenant's slug) and is authenticated by
//! `X-Platica-Signature: sha256=<hex>`, the HMAC-SHA256 of the raw body with the tenant's call
//! provider secret. Without a valid signature nothing is read or stored (401).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use platica_domain::{signature, validate};
use platica_store::inbox::calls::{
    self, CALL_STATUSES, Call, CallEvent, CallFilter, CallSummary, IngestOutcome, NewScheduled, SCHEDULED_STATUSES,
    ScheduledCall, ScheduledChanges, ScheduledFilter,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, MAX_SECRET_CHARS, PathId, Query, limit, nullable};
use crate::state::AppState;

/// The signature header of call provider webhooks.
pub const SIGNATURE_HEADER: &str = "x-platica-signature";
/// The header naming the tenant (its slug).
pub const TENANT_HEADER: &str = "x-platica-tenant";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(summary))
        .routes(routes!(get))
        .routes(routes!(webhook))
        .routes(routes!(set_provider_secret))
        .routes(routes!(list_scheduled, create_scheduled))
        .routes(routes!(get_scheduled, update_scheduled, delete_scheduled))
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> ApiResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid(field, format!("{field} must be one of {}", allowed.join(", "))))
    }
}

/// An RFC 3339 timestamp from the query string (`since`), else 400 naming the parameter.
fn instant(field: &str, raw: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim()).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        ApiError::bad_request(format!(
            "{field} must be an RFC 3339 timestamp such as 2026-11-01T06:00:00Z (URL-encode a + offset as %2B)"
        ))
        .with_field(field)
    })
}

fn cursor(raw: Option<&str>) -> ApiResult<Option<i64>> {
    raw.map(|c| {
        c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_request("invalid cursor: pass next_cursor from the previous page").with_field("cursor")
        })
    })
    .transpose()
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct CallQuery {
    /// queued, ringing, in_progress, completed, no_answer or failed.
    pub status: Option<String>,
    pub executive_id: Option<i64>,
    /// The prospect's team.
    pub team_id: Option<i64>,
    pub prospect_id: Option<i64>,
    /// Only calls created today (UTC).
    pub today: Option<bool>,
    /// Only calls created at or after this instant (RFC 3339, e.g. the user's local midnight).
    pub since: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct CallPage {
    pub items: Vec<Call>,
    pub next_cursor: Option<String>,
}

/// Visible calls, newest first.
#[utoipa::path(get, path = "/calls", tag = "calls", params(CallQuery),
    responses((status = 200, body = CallPage), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<CallQuery>) -> ApiResult<Json<CallPage>> {
    let limit = limit(q.limit, 100, 500)?;
    if let Some(s) = &q.status {
        one_of("status", s, &CALL_STATUSES)?;
    }
    let f = CallFilter {
        status: q.status,
        executive_id: q.executive_id,
        team_id: q.team_id,
        today: q.today.unwrap_or(false),
        since: q.since.as_deref().map(|s| instant("since", s)).transpose()?,
        prospect_id: q.prospect_id,
    };
    let mut items = calls::list(&state.pool, auth.viewer(), &f, cursor(q.cursor.as_deref())?, limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|c| c.call_id.to_string())
    } else {
        None
    };
    Ok(Json(CallPage { items, next_cursor }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Count the calls created at or after this instant (RFC 3339, e.g. the user's local
    /// midnight: `2026-11-01T06:00:00Z`). Required.
    pub since: Option<String>,
}

/// Exact counts of the visible calls created since an instant: total, active, by status and by
/// outcome (the call monitor's "today").
#[utoipa::path(get, path = "/calls/summary", tag = "calls", params(SummaryQuery),
    responses((status = 200, body = CallSummary), (status = 400, body = ErrorBody)))]
async fn summary(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<SummaryQuery>,
) -> ApiResult<Json<CallSummary>> {
    let raw = q.since.ok_or_else(|| ApiError::bad_request("since is required").with_field("since"))?;
    let since = instant("since", &raw)?;
    Ok(Json(calls::summary(&state.pool, auth.viewer(), since).await?))
}

/// One visible call.
#[utoipa::path(get, path = "/calls/{call_id}", tag = "calls", params(("call_id" = i64, Path)),
    responses((status = 200, body = Call), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<Call>> {
    Ok(Json(calls::get(&state.pool, auth.viewer(), id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderSecret {
    /// The secret the call provider signs webhooks with. Write-only.
    #[schema(min_length = 16, max_length = 4096)]
    pub secret: String,
}

/// Sets the tenant's call provider webhook secret (admin; stored encrypted, never returned).
#[utoipa::path(put, path = "/calls/provider-secret", tag = "calls", request_body = ProviderSecret,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn set_provider_secret(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<ProviderSecret>,
) -> ApiResult<StatusCode> {
    let n = input.secret.chars().count();
    if !(16..=MAX_SECRET_CHARS).contains(&n) {
        return Err(ApiError::invalid("secret", format!("secret must be 16 to {MAX_SECRET_CHARS} characters")));
    }
    let v = admin.viewer();
    calls::set_provider_secret(&state.pool, state.secret_key()?, v.tenant_id, &input.secret, v.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct CallReceipt {
    pub call_id: i64,
    pub outcome: IngestOutcome,
}

fn text(field: &str, v: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match v {
        Some(s) if s.chars().count() > max => {
            Err(ApiError::invalid(field, format!("{field} is at most {max} characters")))
        }
        other => Ok(other.filter(|s| !s.trim().is_empty())),
    }
}

/// The event checked and normalised (blank texts dropped, the phone in E.164).
fn validated(e: CallEvent) -> ApiResult<CallEvent> {
    if e.provider.is_empty()
        || e.provider.len() > 40
        || !e.provider.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    {
        return Err(ApiError::invalid("provider", "provider must be 1 to 40 lowercase letters, digits, _ . or -"));
    }
    if e.provider_call_id.is_empty() || e.provider_call_id.len() > 200 {
        return Err(ApiError::invalid("call_id", "call_id must be 1 to 200 bytes"));
    }
    one_of("status", &e.status, &CALL_STATUSES)?;
    if e.duration_secs.is_some_and(|d| d < 0) {
        return Err(ApiError::invalid("duration_secs", "duration_secs must not be negative"));
    }
    let recording_url = text("recording_url", e.recording_url, 2000)?;
    if let Some(u) = &recording_url
        && !(u.starts_with("https://") || u.starts_with("http://"))
    {
        return Err(ApiError::invalid("recording_url", "recording_url must be an http(s) URL"));
    }
    Ok(CallEvent {
        prospect_phone: e.prospect_phone.map(|p| validate::phone("prospect_phone", &p)).transpose()?,
        outcome: text("outcome", e.outcome, 200)?,
        summary: text("summary", e.summary, 20_000)?,
        recording_url,
        ..e
    })
}

/// The 32 bytes of `X-Platica-Signature: sha256=<64 hex digits>`.
fn signature(headers: &HeaderMap) -> ApiResult<[u8; 32]> {
    let raw = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| ApiError::unauthorized("the X-Platica-Signature header is missing"))?;
    signature::parse(raw.to_str().unwrap_or_default())
        .map_err(|e| ApiError::unauthorized(format!("X-Platica-Signature {e}")))
}

/// Receives a call event from the call provider (signed; idempotent by the provider's call id;
/// a status older than the call's changes nothing).
#[utoipa::path(post, path = "/calls/webhook", tag = "calls", security(()), request_body = CallEvent,
    params(
        ("X-Platica-Tenant" = String, Header, description = "the tenant's slug"),
        ("X-Platica-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body with the tenant's call provider secret>")),
    responses((status = 200, body = CallReceipt), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<axum::Json<CallReceipt>> {
    let sig = signature(&headers)?;
    let slug = headers
        .get(TENANT_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized("the X-Platica-Tenant header is missing"))?;
    let body = body?;
    let wrong = || ApiError::unauthorized("the X-Platica-Signature signature does not match");
    let (tenant, secret) = calls::provider_secret(&state.pool, state.secret_key()?, slug).await?.ok_or_else(wrong)?;
    if !signature::verify(&secret, &body, &sig) {
        tracing::warn!(tenant_id = tenant.0, "call webhook with a wrong signature");
        return Err(wrong());
    }
    tracing::Span::current().record("tenant_id", tenant.0);
    let axum::Json(event) = axum::Json::<CallEvent>::from_bytes(&body)?;
    let (call_id, outcome) = calls::ingest(&state.pool, tenant, &validated(event)?).await?;
    Ok(axum::Json(CallReceipt { call_id, outcome }))
}

// ---- scheduled calls ----

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ScheduledQuery {
    /// pending, done, missed or cancelled.
    pub status: Option<String>,
    pub executive_id: Option<i64>,
    pub prospect_id: Option<i64>,
    /// 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Visible scheduled calls, soonest first.
#[utoipa::path(get, path = "/scheduled-calls", tag = "calls", params(ScheduledQuery),
    responses((status = 200, body = Vec<ScheduledCall>), (status = 422, body = ErrorBody)))]
async fn list_scheduled(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<ScheduledQuery>,
) -> ApiResult<Json<Vec<ScheduledCall>>> {
    let limit = limit(q.limit, 100, 500)?;
    if let Some(s) = &q.status {
        one_of("status", s, &SCHEDULED_STATUSES)?;
    }
    let f = ScheduledFilter { status: q.status, executive_id: q.executive_id, prospect_id: q.prospect_id };
    Ok(Json(calls::list_scheduled(&state.pool, auth.viewer(), &f, limit).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateScheduled {
    pub prospect_id: i64,
    /// Executives leave it out (or name themselves); default the prospect's executive.
    pub executive_id: Option<i64>,
    pub due_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// Schedules a call with a visible prospect.
#[utoipa::path(post, path = "/scheduled-calls", tag = "calls", request_body = CreateScheduled,
    responses((status = 201, body = ScheduledCall), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_scheduled(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<CreateScheduled>,
) -> ApiResult<(StatusCode, Json<ScheduledCall>)> {
    let new = NewScheduled {
        prospect_id: input.prospect_id,
        executive_id: input.executive_id,
        due_at: input.due_at,
        note: text("note", input.note, 2000)?,
    };
    Ok((StatusCode::CREATED, Json(calls::create_scheduled(&state.pool, auth.viewer(), &new).await?)))
}

/// One visible scheduled call.
#[utoipa::path(get, path = "/scheduled-calls/{scheduled_call_id}", tag = "calls", params(("scheduled_call_id" = i64, Path)),
    responses((status = 200, body = ScheduledCall), (status = 404, body = ErrorBody)))]
async fn get_scheduled(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> ApiResult<Json<ScheduledCall>> {
    Ok(Json(calls::get_scheduled(&state.pool, auth.viewer(), id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateScheduled {
    pub due_at: Option<DateTime<Utc>>,
    /// pending, done, missed or cancelled.
    pub status: Option<String>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub note: Option<Option<String>>,
    pub executive_id: Option<i64>,
}

/// Reschedules, completes or cancels a visible scheduled call.
#[utoipa::path(patch, path = "/scheduled-calls/{scheduled_call_id}", tag = "calls", params(("scheduled_call_id" = i64, Path)),
    request_body = UpdateScheduled,
    responses((status = 200, body = ScheduledCall), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_scheduled(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<UpdateScheduled>,
) -> ApiResult<Json<ScheduledCall>> {
    if let Some(s) = &input.status {
        one_of("status", s, &SCHEDULED_STATUSES)?;
    }
    let note = match input.note {
        Some(n) => Some(text("note", n, 2000)?),
        None => None,
    };
    let ch = ScheduledChanges { due_at: input.due_at, status: input.status, note, executive_id: input.executive_id };
    Ok(Json(calls::update_scheduled(&state.pool, auth.viewer(), id, &ch).await?))
}

/// Deletes a visible scheduled call.
#[utoipa::path(delete, path = "/scheduled-calls/{scheduled_call_id}", tag = "calls", params(("scheduled_call_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn delete_scheduled(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<StatusCode> {
    calls::delete_scheduled(&state.pool, auth.viewer(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}
