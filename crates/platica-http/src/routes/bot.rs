//! The auto-reply bot: per conversation, whether it answers (anyone who sees the conversation
//! may pause or resume it); per tenant, its settings and rules (admin).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, NaiveTime, Utc};
use platica_domain::ConversationId;
use platica_domain::validate::{self, Invalid};
use platica_store::whatsapp::bot::{self, BotRule, BotSettings, PauseState, PausedConversation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_pause, put_pause))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(update_rule, delete_rule))
        .routes(routes!(reorder_rules))
        .routes(routes!(try_message))
        .routes(routes!(list_paused))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PauseInput {
    pub paused: bool,
}

/// Whether the bot answers this conversation.
#[utoipa::path(get, path = "/conversations/{conversation_id}/bot", tag = "bot", params(("conversation_id" = i64, Path)),
    responses((status = 200, body = PauseState), (status = 404, body = ErrorBody)))]
async fn get_pause(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<PauseState>> {
    Ok(Json(bot::pause_state(&state.pool, auth.viewer(), ConversationId(id)).await?))
}

/// Pauses or resumes the bot for this conversation by hand (a manual pause stays until resumed).
/// Pausing withdraws bot replies not yet sent.
#[utoipa::path(put, path = "/conversations/{conversation_id}/bot", tag = "bot", params(("conversation_id" = i64, Path)),
    request_body = PauseInput, responses((status = 200, body = PauseState), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_pause(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<PauseInput>,
) -> ApiResult<Json<PauseState>> {
    Ok(Json(bot::set_paused(&state.pool, auth.viewer(), ConversationId(id), input.paused).await?))
}

/// The tenant's bot settings (admin).
#[utoipa::path(get, path = "/bot/settings", tag = "bot",
    responses((status = 200, body = BotSettings), (status = 403, body = ErrorBody)))]
async fn get_settings(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<BotSettings>> {
    let mut conn = state.pool.acquire().await.map_err(platica_store::StoreError::from)?;
    Ok(Json(bot::settings(&mut conn, admin.viewer().tenant_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub enabled: bool,
    #[schema(min_length = 1, max_length = 4096)]
    pub greeting: Option<String>,
    #[schema(min_length = 1, max_length = 4096)]
    pub out_of_hours_reply: Option<String>,
    /// IANA time zone (default America/Mexico_City).
    pub time_zone: Option<String>,
    /// ISO weekdays, 1 = Monday (default Monday to Friday).
    pub office_days: Option<Vec<i32>>,
    /// `HH:MM` (default 09:00).
    pub office_open: Option<String>,
    /// `HH:MM` (default 18:00), after `office_open`.
    pub office_close: Option<String>,
    #[schema(min_length = 1, max_length = 4096)]
    pub fallback_reply: Option<String>,
    /// Default true.
    pub pause_on_human_reply: Option<bool>,
    /// At least 60; null: a paused bot stays paused.
    #[schema(minimum = 60, maximum = 2592000)]
    pub resume_after_idle_secs: Option<i64>,
    pub typing_base_ms: Option<i32>,
    pub typing_ms_per_char: Option<i32>,
    /// 0 to 1.
    #[schema(minimum = 0, maximum = 1)]
    pub typing_jitter: Option<f32>,
    pub typing_min_ms: Option<i32>,
    pub typing_max_ms: Option<i32>,
}

fn reply_text(field: &'static str, v: Option<String>) -> Result<Option<String>, Invalid> {
    v.map(|t| validate::body(field, &t)).transpose()
}

fn time(field: &'static str, v: Option<String>, default: NaiveTime) -> Result<NaiveTime, Invalid> {
    match v {
        None => Ok(default),
        Some(t) => NaiveTime::parse_from_str(t.trim(), "%H:%M")
            .or_else(|_| NaiveTime::parse_from_str(t.trim(), "%H:%M:%S"))
            .map_err(|_| Invalid::new(field, "must be a time of day as HH:MM")),
    }
}

fn millis(field: &'static str, v: Option<i32>, default: i32) -> Result<i32, Invalid> {
    let v = v.unwrap_or(default);
    if (0..=120_000).contains(&v) { Ok(v) } else { Err(Invalid::new(field, "must be from 0 to 120000 milliseconds")) }
}

/// Replaces the tenant's bot settings (admin); absent fields take their defaults.
#[utoipa::path(put, path = "/bot/settings", tag = "bot", request_body = SettingsInput,
    responses((status = 200, body = BotSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn put_settings(
    State(state): State<AppState>,
    admin: Admin,
    Json(i): Json<SettingsInput>,
) -> ApiResult<Json<BotSettings>> {
    let d = BotSettings::default();
    let office_days = i.office_days.unwrap_or(d.office_days);
    if office_days.iter().any(|day| !(1..=7).contains(day)) {
        return Err(Invalid::new("office_days", "days are 1 (Monday) to 7 (Sunday)").into());
    }
    let office_open = time("office_open", i.office_open, d.office_open)?;
    let office_close = time("office_close", i.office_close, d.office_close)?;
    if office_close <= office_open {
        return Err(Invalid::new("office_close", "must be after office_open").into());
    }
    if i.resume_after_idle_secs.is_some_and(|s| !(60..=30 * 86_400).contains(&s)) {
        return Err(Invalid::new("resume_after_idle_secs", "must be from 60 to 2592000 seconds (30 days)").into());
    }
    let typing_jitter = i.typing_jitter.unwrap_or(d.typing_jitter);
    if !(0.0..=1.0).contains(&typing_jitter) {
        return Err(Invalid::new("typing_jitter", "must be from 0 to 1").into());
    }
    let typing_min_ms = millis("typing_min_ms", i.typing_min_ms, d.typing_min_ms)?;
    let typing_max_ms = millis("typing_max_ms", i.typing_max_ms, d.typing_max_ms)?;
    if typing_max_ms < typing_min_ms {
        return Err(Invalid::new("typing_max_ms", "must not be less than typing_min_ms").into());
    }
    let s = BotSettings {
        enabled: i.enabled,
        greeting: reply_text("greeting", i.greeting)?,
        out_of_hours_reply: reply_text("out_of_hours_reply", i.out_of_hours_reply)?,
        time_zone: i.time_zone.map(|t| t.trim().to_owned()).unwrap_or(d.time_zone),
        office_days,
        office_open,
        office_close,
        fallback_reply: reply_text("fallback_reply", i.fallback_reply)?,
        pause_on_human_reply: i.pause_on_human_reply.unwrap_or(d.pause_on_human_reply),
        resume_after_idle_secs: i.resume_after_idle_secs,
        typing_base_ms: millis("typing_base_ms", i.typing_base_ms, d.typing_base_ms)?,
        typing_ms_per_char: millis("typing_ms_per_char", i.typing_ms_per_char, d.typing_ms_per_char)?,
        typing_jitter,
        typing_min_ms,
        typing_max_ms,
    };
    Ok(Json(bot::put_settings(&state.pool, admin.viewer().tenant_id, &s).await?))
}

/// The tenant's bot rules, in the order they are tried (admin).
#[utoipa::path(get, path = "/bot/rules", tag = "bot",
    responses((status = 200, body = Vec<BotRule>), (status = 403, body = ErrorBody)))]
async fn list_rules(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<Vec<BotRule>>> {
    let mut conn = state.pool.acquire().await.map_err(platica_store::StoreError::from)?;
    Ok(Json(bot::rules(&mut conn, admin.viewer().tenant_id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    /// Lower is tried first (default: after the last rule).
    pub position: Option<i32>,
    /// `keyword` (comma-separated words or phrases, case- and accent-insensitive) or `regex`.
    #[schema(pattern = "^(keyword|regex)$")]
    pub match_kind: String,
    #[schema(min_length = 1, max_length = 1000)]
    pub pattern: String,
    #[schema(min_length = 1, max_length = 4096)]
    pub reply: String,
}

/// Adds a rule (admin).
#[utoipa::path(post, path = "/bot/rules", tag = "bot", request_body = RuleInput,
    responses((status = 201, body = BotRule), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create_rule(
    State(state): State<AppState>,
    admin: Admin,
    Json(i): Json<RuleInput>,
) -> ApiResult<(StatusCode, Json<BotRule>)> {
    check_rule(&i.match_kind, &i.pattern)?;
    let reply = validate::body("reply", &i.reply)?;
    let rule =
        bot::create_rule(&state.pool, admin.viewer().tenant_id, i.position, &i.match_kind, &i.pattern, &reply).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

/// A rule's kind and pattern, checked as the bot will compile them.
fn check_rule(match_kind: &str, pattern: &str) -> Result<(), Invalid> {
    if !["keyword", "regex"].contains(&match_kind) {
        return Err(Invalid::new("match_kind", "must be keyword or regex"));
    }
    if pattern.trim().is_empty() || pattern.chars().count() > 1000 {
        return Err(Invalid::new("pattern", "must be 1 to 1,000 characters"));
    }
    // PostgreSQL's text cannot hold NUL: refused here rather than failing in the database.
    if pattern.contains('\0') {
        return Err(Invalid::new("pattern", "must not contain NUL characters"));
    }
    platica_whatsapp::bot::compile(match_kind, pattern).map_err(|e| Invalid::new("pattern", e))?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    #[schema(pattern = "^(keyword|regex)$")]
    pub match_kind: Option<String>,
    #[schema(min_length = 1, max_length = 1000)]
    pub pattern: Option<String>,
    #[schema(min_length = 1, max_length = 4096)]
    pub reply: Option<String>,
    /// An inactive rule is kept but never answers.
    pub active: Option<bool>,
}

/// Changes a rule's kind, pattern, reply or whether it is active (admin); absent fields stay.
/// The order changes through `PUT /bot/rules/order`.
#[utoipa::path(patch, path = "/bot/rules/{bot_rule_id}", tag = "bot", params(("bot_rule_id" = i64, Path)), request_body = RulePatch,
    responses((status = 200, body = BotRule), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update_rule(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
    Json(i): Json<RulePatch>,
) -> ApiResult<Json<BotRule>> {
    let tenant = admin.viewer().tenant_id;
    let reply = i.reply.as_deref().map(|r| validate::body("reply", r)).transpose()?;
    if i.match_kind.is_some() || i.pattern.is_some() {
        let current = {
            let mut conn = state.pool.acquire().await.map_err(platica_store::StoreError::from)?;
            bot::rule(&mut conn, tenant, id).await?
        };
        check_rule(
            i.match_kind.as_deref().unwrap_or(&current.match_kind),
            i.pattern.as_deref().unwrap_or(&current.pattern),
        )?;
    }
    let change = bot::RuleChange { match_kind: i.match_kind, pattern: i.pattern, reply, active: i.active };
    Ok(Json(bot::update_rule(&state.pool, tenant, id, &change).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleOrder {
    /// Every rule of the tenant once, in the order they are to be tried.
    pub bot_rule_ids: Vec<i64>,
}

/// Puts the rules in a new order (admin): the first rule that matches answers.
#[utoipa::path(put, path = "/bot/rules/order", tag = "bot", request_body = RuleOrder,
    responses((status = 200, body = Vec<BotRule>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn reorder_rules(
    State(state): State<AppState>,
    admin: Admin,
    Json(i): Json<RuleOrder>,
) -> ApiResult<Json<Vec<BotRule>>> {
    Ok(Json(bot::reorder_rules(&state.pool, admin.viewer().tenant_id, &i.bot_rule_ids).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryInput {
    /// The message a prospect would send.
    #[schema(min_length = 1, max_length = 4096)]
    pub text: String,
    /// As the first message of a new conversation (the greeting answers too). Default false.
    pub new_conversation: Option<bool>,
    /// When it arrives (default now): office hours are checked at this moment.
    pub at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct TryReply {
    pub text: String,
    /// After this reply the bot pauses and a human takes over.
    pub handover: bool,
}

/// What the bot would answer, from the same decision the bot makes for an inbound message.
#[derive(Serialize, ToSchema)]
pub struct TryResult {
    /// `rule` (a rule matched), `greeting` (only the greeting of a new conversation),
    /// `fallback` (no rule matched: the fallback reply hands over), `no_match` (nothing answers),
    /// `out_of_hours` (the out-of-hours reply) or `bot_off`.
    pub outcome: String,
    /// The rule that answers (`rule`).
    pub bot_rule_id: Option<i64>,
    /// The replies, in the order they would be sent.
    pub replies: Vec<TryReply>,
    /// Whether `at` falls within office hours.
    pub in_office_hours: bool,
    pub at: DateTime<Utc>,
}

/// Tries a message against the tenant's bot as configured (admin): which rule would answer and
/// what, or why nothing would. Nothing is sent or stored.
#[utoipa::path(post, path = "/bot/try", tag = "bot", request_body = TryInput,
    responses((status = 200, body = TryResult), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn try_message(
    State(state): State<AppState>,
    admin: Admin,
    Json(i): Json<TryInput>,
) -> ApiResult<Json<TryResult>> {
    let text = validate::body("text", &i.text)?;
    let at = i.at.unwrap_or_else(Utc::now);
    let d = platica_whatsapp::bot::try_message(
        &state.pool,
        admin.viewer().tenant_id,
        &text,
        i.new_conversation.unwrap_or(false),
        at,
    )
    .await?;
    Ok(Json(TryResult {
        outcome: d.outcome.code().to_owned(),
        bot_rule_id: match d.outcome {
            platica_whatsapp::bot::Outcome::Rule(id) => Some(id),
            _ => None,
        },
        replies: d.replies.into_iter().map(|r| TryReply { text: r.text, handover: r.handover }).collect(),
        in_office_hours: d.in_office_hours,
        at,
    }))
}

/// The conversations the reader sees where the bot is paused, most recently paused first (at
/// most 500). Resume one with `PUT /conversations/{id}/bot`.
#[utoipa::path(get, path = "/bot/paused", tag = "bot",
    responses((status = 200, body = Vec<PausedConversation>), (status = 401, body = ErrorBody)))]
async fn list_paused(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<PausedConversation>>> {
    Ok(Json(bot::paused_conversations(&state.pool, auth.viewer()).await?))
}

/// Removes a rule (admin).
#[utoipa::path(delete, path = "/bot/rules/{bot_rule_id}", tag = "bot", params(("bot_rule_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_rule(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<StatusCode> {
    bot::delete_rule(&state.pool, admin.viewer().tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
