//! Channel accounts (admin): a tenant's WhatsApp numbers. Secrets are write-only: they are
//! accepted on create and update, stored encrypted, and never returned.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use platica_domain::validate::{self, Invalid};
use platica_domain::{TeamId, TenantId};
use platica_store::whatsapp::channel_health::{self, ChannelHealth, GraphNumber};
use platica_store::whatsapp::channels::{self, ChannelAccount, ChannelChanges, NewChannelAccount};
use platica_whatsapp::phone::{self, CheckError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, MAX_SECRET_CHARS, PathId, Query};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(health))
        .routes(routes!(get, update, delete))
        .routes(routes!(events))
        .routes(routes!(test))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChannel {
    /// `cloud` (default), `simulator` or `session`.
    #[schema(pattern = "^(cloud|simulator|session)$")]
    pub kind: Option<String>,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    /// The Cloud API's phone number id (digits).
    #[schema(pattern = "^\\s*[0-9]{1,32}\\s*$")]
    pub phone_number_id: String,
    /// The WhatsApp Business Account id (digits) the number belongs to.
    #[schema(pattern = "^\\s*[0-9]{1,32}\\s*$")]
    pub business_account_id: Option<String>,
    /// The Meta app's secret: webhooks are signed with it. Write-only.
    #[schema(min_length = 1, max_length = 4096, pattern = "^\\s*\\S+\\s*$")]
    pub app_secret: String,
    /// The token the webhook verification request must present. Write-only.
    #[schema(min_length = 1, max_length = 4096, pattern = "^\\s*\\S+\\s*$")]
    pub verify_token: String,
    /// The token used to call the Cloud API. Write-only.
    #[schema(min_length = 1, max_length = 4096, pattern = "^\\s*\\S+\\s*$")]
    pub access_token: String,
    /// Team of new prospects writing to this number.
    #[schema(minimum = 1)]
    pub default_team_id: i64,
    /// Where sends go, e.g. the built-in simulator's `http://127.0.0.1:PORT/v21.0` (default: the
    /// server's configured Cloud API base URL).
    #[schema(max_length = 500, pattern = "^https?://")]
    pub base_url: Option<String>,
    /// Messages per second to this number (1 to 1,000; default: the server's configured rate).
    #[schema(minimum = 1, maximum = 1000)]
    pub send_rate_per_sec: Option<i32>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateChannel {
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    #[schema(pattern = "^\\s*[0-9]{1,32}\\s*$")]
    pub phone_number_id: Option<String>,
    /// The WhatsApp Business Account id; `null` clears it.
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    #[schema(value_type = Option<String>, pattern = "^\\s*[0-9]{1,32}\\s*$")]
    pub business_account_id: Option<Option<String>>,
    /// Write-only.
    #[schema(min_length = 1, max_length = 4096, pattern = "^\\s*\\S+\\s*$")]
    pub app_secret: Option<String>,
    /// Write-only.
    #[schema(min_length = 1, max_length = 4096, pattern = "^\\s*\\S+\\s*$")]
    pub verify_token: Option<String>,
    /// Write-only.
    #[schema(min_length = 1, max_length = 4096, pattern = "^\\s*\\S+\\s*$")]
    pub access_token: Option<String>,
    #[schema(minimum = 1)]
    pub default_team_id: Option<i64>,
    /// `null` returns to the server's default.
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    #[schema(value_type = Option<String>)]
    pub base_url: Option<Option<String>>,
    /// `null` returns to the server's default.
    #[serde(default, deserialize_with = "crate::extract::nullable")]
    #[schema(value_type = Option<i32>)]
    pub send_rate_per_sec: Option<Option<i32>>,
}

fn phone_number_id(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new("phone_number_id", "must be the Cloud API's phone number id: 1 to 32 digits"));
    }
    Ok(v.to_owned())
}

fn business_account_id(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new("business_account_id", "must be the WhatsApp Business Account id: 1 to 32 digits"));
    }
    Ok(v.to_owned())
}

fn secret(field: &'static str, raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    if v.is_empty() {
        return Err(Invalid::required(field));
    }
    if v.chars().count() > MAX_SECRET_CHARS {
        return Err(Invalid::new(field, format!("must be at most {MAX_SECRET_CHARS} characters")));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Invalid::new(field, "must not contain spaces or control characters"));
    }
    Ok(v.to_owned())
}

fn base_url(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim().trim_end_matches('/');
    let scheme_ok = v.starts_with("http://") || v.starts_with("https://");
    if !scheme_ok
        || v.len() > 500
        || v.len() <= "https://".len()
        || v.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Invalid::new("base_url", "must be an http:// or https:// URL of at most 500 characters"));
    }
    Ok(v.to_owned())
}

fn send_rate(raw: i32) -> Result<i32, Invalid> {
    if (1..=1000).contains(&raw) { Ok(raw) } else { Err(Invalid::new("send_rate_per_sec", "must be from 1 to 1000")) }
}

fn team(raw: i64) -> Result<TeamId, Invalid> {
    if raw > 0 { Ok(TeamId(raw)) } else { Err(Invalid::new("default_team_id", "must be a positive id")) }
}

fn tenant_of(admin: &Admin) -> TenantId {
    admin.viewer().tenant_id
}

/// The tenant's channel accounts (admin). Secrets are never returned.
#[utoipa::path(get, path = "/channels", tag = "channels",
    responses((status = 200, body = Vec<ChannelAccount>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<Vec<ChannelAccount>>> {
    Ok(Json(channels::list(&state.pool, tenant_of(&admin)).await?))
}

/// Adds a WhatsApp number (admin). Its secrets are stored encrypted and never returned.
#[utoipa::path(post, path = "/channels", tag = "channels", request_body = CreateChannel,
    responses((status = 201, body = ChannelAccount), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<CreateChannel>,
) -> ApiResult<(StatusCode, Json<ChannelAccount>)> {
    let kind = input.kind.as_deref().unwrap_or("cloud");
    if !channels::KINDS.contains(&kind) {
        return Err(Invalid::new("kind", "must be cloud, simulator or session").into());
    }
    let new = NewChannelAccount {
        kind: kind.to_owned(),
        display_name: validate::name("display_name", &input.display_name)?,
        phone_number_id: phone_number_id(&input.phone_number_id)?,
        business_account_id: input.business_account_id.as_deref().map(business_account_id).transpose()?,
        app_secret: secret("app_secret", &input.app_secret)?,
        verify_token: secret("verify_token", &input.verify_token)?,
        access_token: secret("access_token", &input.access_token)?,
        default_team_id: team(input.default_team_id)?,
        base_url: input.base_url.as_deref().map(base_url).transpose()?,
        send_rate_per_sec: input.send_rate_per_sec.map(send_rate).transpose()?,
    };
    let key = state.secret_key()?;
    let created = channels::create(&state.pool, key, tenant_of(&admin), &new).await?;
    state.webhook_accounts.clear();
    Ok((StatusCode::CREATED, Json(created)))
}

/// One channel account (admin).
#[utoipa::path(get, path = "/channels/{channel_account_id}", tag = "channels", params(("channel_account_id" = i64, Path)),
    responses((status = 200, body = ChannelAccount), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<Json<ChannelAccount>> {
    Ok(Json(channels::get(&state.pool, tenant_of(&admin), id).await?))
}

/// Changes a channel account (admin); a secret given replaces the stored one.
#[utoipa::path(patch, path = "/channels/{channel_account_id}", tag = "channels", params(("channel_account_id" = i64, Path)),
    request_body = UpdateChannel,
    responses((status = 200, body = ChannelAccount), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
    Json(input): Json<UpdateChannel>,
) -> ApiResult<Json<ChannelAccount>> {
    let changes = ChannelChanges {
        display_name: input.display_name.as_deref().map(|v| validate::name("display_name", v)).transpose()?,
        phone_number_id: input.phone_number_id.as_deref().map(phone_number_id).transpose()?,
        business_account_id: input
            .business_account_id
            .map(|v| v.as_deref().map(business_account_id).transpose())
            .transpose()?,
        app_secret: input.app_secret.as_deref().map(|v| secret("app_secret", v)).transpose()?,
        verify_token: input.verify_token.as_deref().map(|v| secret("verify_token", v)).transpose()?,
        access_token: input.access_token.as_deref().map(|v| secret("access_token", v)).transpose()?,
        default_team_id: input.default_team_id.map(team).transpose()?,
        base_url: input.base_url.map(|v| v.as_deref().map(base_url).transpose()).transpose()?,
        send_rate_per_sec: input.send_rate_per_sec.map(|v| v.map(send_rate).transpose()).transpose()?,
    };
    let key = state.secret_key()?;
    let updated = channels::update(&state.pool, key, tenant_of(&admin), id, &changes).await;
    state.webhook_accounts.clear();
    Ok(Json(updated?))
}

/// Removes a channel account (admin). Its messages stay.
#[utoipa::path(delete, path = "/channels/{channel_account_id}", tag = "channels", params(("channel_account_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<StatusCode> {
    let deleted = channels::delete(&state.pool, tenant_of(&admin), id).await;
    state.webhook_accounts.clear();
    deleted?;
    Ok(StatusCode::NO_CONTENT)
}

/// The channel's event log, newest first (at most 100): errors WhatsApp reported in webhooks about
/// the account (a 130429 throughput notice) or beside a message.
#[utoipa::path(get, path = "/channels/{channel_account_id}/events", tag = "channels", params(("channel_account_id" = i64, Path)),
    responses((status = 200, body = Vec<platica_store::whatsapp::channel_events::ChannelEvent>), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<platica_store::whatsapp::channel_events::ChannelEvent>>> {
    let tenant = tenant_of(&admin);
    channels::get(&state.pool, tenant, id).await?;
    Ok(Json(platica_store::whatsapp::channel_events::recent(&state.pool, tenant, id, 100).await?))
}

/// What Graph said about the number.
#[derive(Serialize, ToSchema)]
pub struct TestedNumber {
    pub id: Option<String>,
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`.
    pub quality_rating: Option<String>,
    /// Graph's `messaging_limit_tier` (`TIER_250`, `TIER_1K`, ..., `TIER_UNLIMITED`).
    pub messaging_limit: Option<String>,
    pub code_verification_status: Option<String>,
}

/// Why a test did not come back with the number.
#[derive(Serialize, ToSchema)]
pub struct TestFailure {
    /// `graph_refused` (Graph answered with an error: `http_status`, `graph_code`,
    /// `graph_subcode` and `message` are Graph's), `timeout`, `unreachable` or `invalid_answer`.
    #[schema(pattern = "^(graph_refused|timeout|unreachable|invalid_answer)$")]
    pub reason: &'static str,
    pub http_status: Option<u16>,
    /// Graph's error code: 190 a bad or expired access token, 100 an id this token cannot read.
    pub graph_code: Option<i64>,
    pub graph_subcode: Option<i64>,
    /// Graph's message (English), or what went wrong reaching it.
    pub message: String,
}

/// The outcome of "test connection". A failed test is an answer too (200, `ok: false`): the
/// request was fine, Graph was not.
#[derive(Serialize, ToSchema)]
pub struct ConnectionTest {
    pub ok: bool,
    pub checked_at: DateTime<Utc>,
    /// Where the question went (the channel's base URL, else the server's configured one).
    pub base_url: String,
    pub number: Option<TestedNumber>,
    pub error: Option<TestFailure>,
}

fn failure(e: &CheckError) -> TestFailure {
    match e {
        CheckError::Graph { http_status, code, subcode, message } => TestFailure {
            reason: "graph_refused",
            http_status: Some(*http_status),
            graph_code: *code,
            graph_subcode: *subcode,
            message: message.clone(),
        },
        CheckError::Timeout(_) => TestFailure {
            reason: "timeout",
            http_status: None,
            graph_code: None,
            graph_subcode: None,
            message: e.to_string(),
        },
        CheckError::Unreachable(_) => TestFailure {
            reason: "unreachable",
            http_status: None,
            graph_code: None,
            graph_subcode: None,
            message: e.to_string(),
        },
        CheckError::InvalidAnswer(_) => TestFailure {
            reason: "invalid_answer",
            http_status: None,
            graph_code: None,
            graph_subcode: None,
            message: e.to_string(),
        },
    }
}

/// "Test connection" (admin): asks Graph (`GET {base}/{phone_number_id}`, with the number's
/// access token, bounded by a timeout) what it knows about the number, records the answer (or
/// the error) in the number's health, and returns it.
#[utoipa::path(post, path = "/channels/{channel_account_id}/test", tag = "channels", params(("channel_account_id" = i64, Path)),
    responses((status = 200, body = ConnectionTest), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn test(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<Json<ConnectionTest>> {
    let tenant = tenant_of(&admin);
    let channel = channels::get(&state.pool, tenant, id).await?;
    let key = state.secret_key()?;
    let token = channels::access_token(&state.pool, key, tenant, id).await?;
    let base = channel.base_url.clone().unwrap_or_else(|| state.graph_base_url.clone());
    let answer = phone::check(&base, &channel.phone_number_id, &token, state.graph_check_timeout).await;
    let checked_at = Utc::now();
    match answer {
        Ok(n) => {
            let seen = GraphNumber {
                display_phone_number: n.display_phone_number.clone(),
                verified_name: n.verified_name.clone(),
                quality_rating: n.quality_rating.clone(),
                messaging_limit: n.messaging_limit.clone(),
            };
            channel_health::record_check_ok(&state.pool, tenant, id, &seen).await?;
            tracing::info!(tenant_id = tenant.0, channel_account_id = id, quality = ?n.quality_rating, "channel connection test passed");
            let number = TestedNumber {
                id: n.id,
                display_phone_number: n.display_phone_number,
                verified_name: n.verified_name,
                quality_rating: n.quality_rating,
                messaging_limit: n.messaging_limit,
                code_verification_status: n.code_verification_status,
            };
            Ok(Json(ConnectionTest { ok: true, checked_at, base_url: base, number: Some(number), error: None }))
        }
        Err(e) => {
            let f = failure(&e);
            let code = f.graph_code.and_then(|c| i32::try_from(c).ok());
            channel_health::record_check_failed(&state.pool, tenant, id, code, &f.message).await?;
            tracing::warn!(tenant_id = tenant.0, channel_account_id = id, error = %e, "channel connection test failed");
            Ok(Json(ConnectionTest { ok: false, checked_at, base_url: base, number: None, error: Some(f) }))
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HealthQuery {
    /// Start of the period `sent` and `failed` count (e.g. the reader's midnight), at most 31
    /// days ago; default: midnight UTC today.
    pub since: Option<DateTime<Utc>>,
}

/// Every number's health, and what to paste into Meta's console.
#[derive(Serialize, ToSchema)]
pub struct ChannelsHealth {
    /// `{server.public_url}/api/v1/whatsapp/webhook`; absent when the server has no public URL
    /// configured (the web app then shows the address it was opened at).
    pub webhook_url: Option<String>,
    /// Start of the period `sent` and `failed` count.
    pub since: DateTime<Utc>,
    pub channels: Vec<ChannelHealth>,
}

/// The webhook path, under the server's public URL.
pub const WEBHOOK_PATH: &str = "/api/v1/whatsapp/webhook";

/// Each number's health (admin): last webhook received, last error with its code, messages sent
/// and failed since `since`, and what the last connection test learnt (quality rating,
/// messaging limit). Secrets are never part of it.
#[utoipa::path(get, path = "/channels/health", tag = "channels", params(HealthQuery),
    responses((status = 200, body = ChannelsHealth), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn health(
    State(state): State<AppState>,
    admin: Admin,
    Query(q): Query<HealthQuery>,
) -> ApiResult<Json<ChannelsHealth>> {
    let now = Utc::now();
    let since = match q.since {
        Some(s) if s > now || now - s > chrono::Duration::days(31) => {
            return Err(ApiError::invalid("since", "since must be a time in the last 31 days"));
        }
        Some(s) => s,
        None => now.date_naive().and_hms_opt(0, 0, 0).map_or(now, |m| m.and_utc()),
    };
    let channels = channel_health::list(&state.pool, tenant_of(&admin), since).await?;
    let webhook_url = state.public_url.as_deref().map(|u| format!("{}{WEBHOOK_PATH}", u.trim_end_matches('/')));
    Ok(Json(ChannelsHealth { webhook_url, since, channels }))
}
