//! The auto-reply bot's data: a tenant's settings and rules, and per conversation whether the bot
//! is paused (a human took over). The bot's decisions live in platica-whatsapp; every pause or
//! resume is a row change in `bot_pause`, so it reaches inboxes and realtime clients.

use chrono::{DateTime, NaiveTime, Utc};
use platica_domain::{ConversationId, TenantId, Viewer};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};
use crate::inbox::conversations;

/// A tenant's bot settings (defaults when never set: the bot is off).
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BotSettings {
    pub enabled: bool,
    /// Sent on a new conversation's first message.
    pub greeting: Option<String>,
    /// Sent outside office hours instead of the rules.
    pub out_of_hours_reply: Option<String>,
    /// IANA time zone of the office hours.
    pub time_zone: String,
    /// ISO weekdays (1 = Monday ... 7 = Sunday).
    pub office_days: Vec<i32>,
    #[schema(value_type = String, example = "09:00:00")]
    pub office_open: NaiveTime,
    #[schema(value_type = String, example = "18:00:00")]
    pub office_close: NaiveTime,
    /// Sent when no rule matches; the bot then pauses and a human takes over.
    pub fallback_reply: Option<String>,
    /// An executive's reply pauses the bot for that conversation.
    pub pause_on_human_reply: bool,
    /// A paused bot resumes after this many seconds without human replies (null: never).
    pub resume_after_idle_secs: Option<i64>,
    pub typing_base_ms: i32,
    pub typing_ms_per_char: i32,
    pub typing_jitter: f32,
    pub typing_min_ms: i32,
    pub typing_max_ms: i32,
}

const SETTINGS_COLUMNS: &str = "enabled, greeting, out_of_hours_reply, time_zone, office_days, office_open,
    office_close, fallback_reply, pause_on_human_reply,
    extract(epoch FROM resume_after_idle)::bigint AS resume_after_idle_secs,
    typing_base_ms, typing_ms_per_char, typing_jitter, typing_min_ms, typing_max_ms";

impl Default for BotSettings {
    /// The bot of a tenant that never configured it: off (the migration's column defaults).
    fn default() -> Self {
        BotSettings {
            enabled: false,
            greeting: None,
            out_of_hours_reply: None,
            time_zone: "America/Mexico_City".to_owned(),
            office_days: vec![1, 2, 3, 4, 5],
            office_open: NaiveTime::from_hms_opt(9, 0, 0).unwrap_or_default(),
            office_close: NaiveTime::from_hms_opt(18, 0, 0).unwrap_or_default(),
            fallback_reply: None,
            pause_on_human_reply: true,
            resume_after_idle_secs: None,
            typing_base_ms: 800,
            typing_ms_per_char: 35,
            typing_jitter: 0.25,
            typing_min_ms: 1000,
            typing_max_ms: 12000,
        }
    }
}

/// The settings of a tenant (defaults, bot off, when it has none).
pub async fn settings(conn: &mut PgConnection, tenant: TenantId) -> StoreResult<BotSettings> {
    let sql = format!("SELECT {SETTINGS_COLUMNS} FROM bot_settings WHERE tenant_id = $1");
    let row: Option<BotSettings> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_optional(conn).await?;
    Ok(row.unwrap_or_default())
}

/// Writes a tenant's settings whole. The database checks the bounds; a bad time zone is refused
/// here, naming the field.
pub async fn put_settings(pool: &PgPool, tenant: TenantId, s: &BotSettings) -> StoreResult<BotSettings> {
    let tz_ok: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1)")
        .bind(&s.time_zone)
        .fetch_one(pool)
        .await?;
    if !tz_ok {
        return Err(platica_domain::validate::Invalid::new("time_zone", "not a known IANA time zone").into());
    }
    let sql = format!(
        "INSERT INTO bot_settings AS b (tenant_id, enabled, greeting, out_of_hours_reply, time_zone, office_days,
             office_open, office_close, fallback_reply, pause_on_human_reply, resume_after_idle,
             typing_base_ms, typing_ms_per_char, typing_jitter, typing_min_ms, typing_max_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, make_interval(secs => $11), $12, $13, $14, $15, $16)
         ON CONFLICT (tenant_id) DO UPDATE SET enabled = EXCLUDED.enabled, greeting = EXCLUDED.greeting,
             out_of_hours_reply = EXCLUDED.out_of_hours_reply, time_zone = EXCLUDED.time_zone,
             office_days = EXCLUDED.office_days, office_open = EXCLUDED.office_open,
             office_close = EXCLUDED.office_close, fallback_reply = EXCLUDED.fallback_reply,
             pause_on_human_reply = EXCLUDED.pause_on_human_reply, resume_after_idle = EXCLUDED.resume_after_idle,
             typing_base_ms = EXCLUDED.typing_base_ms, typing_ms_per_char = EXCLUDED.typing_ms_per_char,
             typing_jitter = EXCLUDED.typing_jitter, typing_min_ms = EXCLUDED.typing_min_ms,
             typing_max_ms = EXCLUDED.typing_max_ms, updated_at = now()
         RETURNING {SETTINGS_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(s.enabled)
        .bind(&s.greeting)
        .bind(&s.out_of_hours_reply)
        .bind(&s.time_zone)
        .bind(&s.office_days)
        .bind(s.office_open)
        .bind(s.office_close)
        .bind(&s.fallback_reply)
        .bind(s.pause_on_human_reply)
        .bind(s.resume_after_idle_secs.map(|v| v as f64))
        .bind(s.typing_base_ms)
        .bind(s.typing_ms_per_char)
        .bind(s.typing_jitter)
        .bind(s.typing_min_ms)
        .bind(s.typing_max_ms)
        .fetch_one(pool)
        .await?)
}

#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct BotRule {
    pub bot_rule_id: i64,
    /// Lower runs first.
    pub position: i32,
    /// `keyword` (comma-separated words, case- and accent-insensitive) or `regex`.
    pub match_kind: String,
    pub pattern: String,
    pub reply: String,
    pub active: bool,
}

const RULE_COLUMNS: &str = "bot_rule_id, position, match_kind, pattern, reply, active";

pub async fn rules(conn: &mut PgConnection, tenant: TenantId) -> StoreResult<Vec<BotRule>> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM bot_rules WHERE tenant_id = $1 ORDER BY position, bot_rule_id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_all(conn).await?)
}

/// Adds a rule (its pattern already validated by the caller), at `position`, or after the last
/// rule when `None`.
pub async fn create_rule(
    pool: &PgPool,
    tenant: TenantId,
    position: Option<i32>,
    match_kind: &str,
    pattern: &str,
    reply: &str,
) -> StoreResult<BotRule> {
    let sql = format!(
        "INSERT INTO bot_rules (tenant_id, position, match_kind, pattern, reply)
         VALUES ($1, coalesce($2, (SELECT max(position) + 1 FROM bot_rules WHERE tenant_id = $1), 0), $3, $4, $5)
         RETURNING {RULE_COLUMNS}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(position)
        .bind(match_kind)
        .bind(pattern)
        .bind(reply)
        .fetch_one(pool)
        .await?)
}

/// A change to a rule: absent fields stay (the pattern already validated by the caller against
/// the resulting kind).
#[derive(Clone, Debug, Default)]
pub struct RuleChange {
    pub match_kind: Option<String>,
    pub pattern: Option<String>,
    pub reply: Option<String>,
    pub active: Option<bool>,
}

/// The rule `id` of the tenant.
pub async fn rule(conn: &mut PgConnection, tenant: TenantId, id: i64) -> StoreResult<BotRule> {
    let sql = format!("SELECT {RULE_COLUMNS} FROM bot_rules WHERE tenant_id = $1 AND bot_rule_id = $2");
    let row: Option<BotRule> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(id).fetch_optional(conn).await?;
    row.ok_or_else(|| StoreError::not_found("bot rule"))
}

/// Changes a rule's kind, pattern, reply or whether it is active.
pub async fn update_rule(pool: &PgPool, tenant: TenantId, id: i64, c: &RuleChange) -> StoreResult<BotRule> {
    let sql = format!(
        "UPDATE bot_rules SET match_kind = coalesce($3, match_kind), pattern = coalesce($4, pattern),
             reply = coalesce($5, reply), active = coalesce($6, active)
         WHERE tenant_id = $1 AND bot_rule_id = $2 RETURNING {RULE_COLUMNS}"
    );
    let row: Option<BotRule> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(id)
        .bind(&c.match_kind)
        .bind(&c.pattern)
        .bind(&c.reply)
        .bind(c.active)
        .fetch_optional(pool)
        .await?;
    row.ok_or_else(|| StoreError::not_found("bot rule"))
}

/// Puts the tenant's rules in this order (`ids` names every rule once); returns them in order.
pub async fn reorder_rules(pool: &PgPool, tenant: TenantId, ids: &[i64]) -> StoreResult<Vec<BotRule>> {
    let mut tx = pool.begin().await?;
    let mut current: Vec<i64> =
        sqlx::query_scalar("SELECT bot_rule_id FROM bot_rules WHERE tenant_id = $1 ORDER BY bot_rule_id FOR UPDATE")
            .bind(tenant.0)
            .fetch_all(&mut *tx)
            .await?;
    current.sort_unstable();
    let mut given = ids.to_vec();
    given.sort_unstable();
    if given != current {
        return Err(platica_domain::validate::Invalid::new(
            "bot_rule_ids",
            "must name every rule of the tenant exactly once",
        )
        .into());
    }
    sqlx::query(
        "UPDATE bot_rules r SET position = o.ord::int - 1 FROM unnest($2::bigint[]) WITH ORDINALITY AS o(id, ord)
         WHERE r.tenant_id = $1 AND r.bot_rule_id = o.id",
    )
    .bind(tenant.0)
    .bind(ids)
    .execute(&mut *tx)
    .await?;
    let list = rules(&mut tx, tenant).await?;
    tx.commit().await?;
    Ok(list)
}

pub async fn delete_rule(pool: &PgPool, tenant: TenantId, id: i64) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM bot_rules WHERE tenant_id = $1 AND bot_rule_id = $2")
        .bind(tenant.0)
        .bind(id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("bot rule"));
    }
    Ok(())
}

/// Whether the bot answers a conversation.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PauseState {
    pub paused: bool,
    /// `manual`, `human_reply`, `handover` (no rule matched) or `idle` (resumed after idle).
    pub reason: Option<String>,
    pub changed_by: Option<i64>,
    pub changed_at: Option<DateTime<Utc>>,
    /// When an automatic pause lapses.
    pub resumes_at: Option<DateTime<Utc>>,
    /// Whether the tenant's bot is on at all (when off, nothing answers either way).
    #[sqlx(default)]
    pub bot_enabled: bool,
}

async fn pause_row(conn: &mut PgConnection, tenant: TenantId, conversation: i64) -> StoreResult<PauseState> {
    let row: Option<PauseState> = sqlx::query_as(
        "SELECT paused, reason, changed_by, updated_at AS changed_at, resumes_at FROM bot_pause
         WHERE tenant_id = $1 AND conversation_id = $2",
    )
    .bind(tenant.0)
    .bind(conversation)
    .fetch_optional(&mut *conn)
    .await?;
    let mut state = row.unwrap_or(PauseState {
        paused: false,
        reason: None,
        changed_by: None,
        changed_at: None,
        resumes_at: None,
        bot_enabled: false,
    });
    state.bot_enabled =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM bot_settings WHERE tenant_id = $1 AND enabled)")
            .bind(tenant.0)
            .fetch_one(&mut *conn)
            .await?;
    Ok(state)
}

/// The bot state of a visible conversation.
pub async fn pause_state(pool: &PgPool, viewer: &Viewer, conversation: ConversationId) -> StoreResult<PauseState> {
    let mut conn = pool.acquire().await?;
    conversations::get(&mut conn, viewer, conversation).await?;
    pause_row(&mut conn, viewer.tenant_id, conversation.0).await
}

/// A conversation where the bot is paused.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PausedConversation {
    pub conversation_id: i64,
    pub prospect_id: i64,
    pub prospect_name: String,
    /// Null for a prospect known only by its WhatsApp user id.
    pub prospect_phone: Option<String>,
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    /// `manual`, `human_reply` or `handover` (no rule matched).
    pub reason: Option<String>,
    pub changed_by: Option<i64>,
    pub paused_at: DateTime<Utc>,
    /// When an automatic pause lapses (null: until resumed by hand).
    pub resumes_at: Option<DateTime<Utc>>,
}

/// Most paused conversations listed at once.
pub const PAUSED_LIMIT: i64 = 500;

/// The visible conversations where the bot is paused, most recently paused first.
pub async fn paused_conversations(pool: &PgPool, viewer: &Viewer) -> StoreResult<Vec<PausedConversation>> {
    let mut qb = sqlx::QueryBuilder::new(
        "SELECT c.conversation_id, p.prospect_id, p.name AS prospect_name, p.phone AS prospect_phone, p.team_id,
                p.executive_id, bp.reason, bp.changed_by, bp.updated_at AS paused_at, bp.resumes_at
         FROM bot_pause bp
         JOIN conversations c ON c.tenant_id = bp.tenant_id AND c.conversation_id = bp.conversation_id
         JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
         WHERE bp.tenant_id = ",
    );
    qb.push_bind(viewer.tenant_id.0).push(" AND bp.paused");
    crate::inbox::prospects::push_visible(&mut qb, viewer, "p");
    qb.push(" ORDER BY bp.updated_at DESC, c.conversation_id DESC LIMIT ").push_bind(PAUSED_LIMIT);
    Ok(qb.build_query_as::<PausedConversation>().fetch_all(pool).await?)
}

/// Whether the bot is paused for a conversation (for the bot itself).
pub async fn is_paused(conn: &mut PgConnection, tenant: TenantId, conversation: i64) -> StoreResult<bool> {
    let paused: Option<bool> =
        sqlx::query_scalar("SELECT paused FROM bot_pause WHERE tenant_id = $1 AND conversation_id = $2")
            .bind(tenant.0)
            .bind(conversation)
            .fetch_optional(conn)
            .await?;
    Ok(paused.unwrap_or(false))
}

/// Pauses or resumes the bot of a visible conversation by hand. A manual pause stays until
/// resumed by hand.
pub async fn set_paused(
    pool: &PgPool,
    viewer: &Viewer,
    conversation: ConversationId,
    paused: bool,
) -> StoreResult<PauseState> {
    let mut tx = pool.begin().await?;
    conversations::get(&mut tx, viewer, conversation).await?;
    write_pause(&mut tx, viewer.tenant_id, conversation.0, paused, "manual", Some(viewer.user_id.0), None).await?;
    if paused {
        cancel_pending_replies(&mut tx, viewer.tenant_id, conversation.0).await?;
    }
    let state = pause_row(&mut tx, viewer.tenant_id, conversation.0).await?;
    tx.commit().await?;
    Ok(state)
}

async fn write_pause(
    conn: &mut PgConnection,
    tenant: TenantId,
    conversation: i64,
    paused: bool,
    reason: &str,
    by: Option<i64>,
    resume_after_secs: Option<i64>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO bot_pause (tenant_id, conversation_id, paused, changed_by, reason, resumes_at)
         VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
         ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET paused = EXCLUDED.paused,
             changed_by = EXCLUDED.changed_by, reason = EXCLUDED.reason, resumes_at = EXCLUDED.resumes_at,
             updated_at = now()",
    )
    .bind(tenant.0)
    .bind(conversation)
    .bind(paused)
    .bind(by)
    .bind(reason)
    .bind(resume_after_secs.filter(|_| paused).map(|s| s as f64))
    .execute(conn)
    .await?;
    Ok(())
}

/// An executive replied: when the tenant's bot is on and set to, it pauses for this conversation
/// (until `resume_after_idle` passes without another human reply), and bot replies still waiting
/// to be sent are withdrawn. Returns whether it paused.
pub async fn pause_for_human(
    conn: &mut PgConnection,
    tenant: TenantId,
    conversation: i64,
    user: i64,
) -> StoreResult<bool> {
    let s = settings(conn, tenant).await?;
    if !s.enabled || !s.pause_on_human_reply {
        return Ok(false);
    }
    write_pause(conn, tenant, conversation, true, "human_reply", Some(user), s.resume_after_idle_secs).await?;
    cancel_pending_replies(conn, tenant, conversation).await?;
    Ok(true)
}

/// Bot replies not yet sent are withdrawn (deleted with their outbox rows): a human overtook them.
async fn cancel_pending_replies(conn: &mut PgConnection, tenant: TenantId, conversation: i64) -> StoreResult<u64> {
    let done = sqlx::query(
        "DELETE FROM messages m USING outbox o
         WHERE m.tenant_id = $1 AND m.conversation_id = $2 AND m.sender_kind = 'bot' AND m.status = 'queued'
           AND o.tenant_id = m.tenant_id AND o.message_id = m.message_id AND o.state = 'pending'",
    )
    .bind(tenant.0)
    .bind(conversation)
    .execute(conn)
    .await?;
    Ok(done.rows_affected())
}

/// Resumes a tenant's automatic pauses whose idle time has passed. Returns how many.
pub async fn resume_idle_in(pool: &PgPool, tenant: TenantId) -> StoreResult<u64> {
    let resumed = sqlx::query(
        "UPDATE bot_pause SET paused = false, reason = 'idle', changed_by = NULL, resumes_at = NULL, updated_at = now()
         WHERE tenant_id = $1 AND paused AND resumes_at <= now()",
    )
    .bind(tenant.0)
    .execute(pool)
    .await?
    .rows_affected();
    if resumed > 0 {
        tracing::info!(tenant_id = tenant.0, resumed, "bots resumed after idle");
    }
    Ok(resumed)
}

/// Stores a bot reply and queues it, unless the bot was paused meanwhile or a newer inbound
/// message arrived after `answering` (whose own turn answers). Returns the message id.
pub async fn store_reply(
    pool: &PgPool,
    tenant: TenantId,
    conversation: i64,
    answering: i64,
    reply: &str,
    handover: bool,
) -> StoreResult<Option<i64>> {
    let mut tx = pool.begin().await?;
    // Serialise with human replies and pauses of this conversation.
    sqlx::query("SELECT 1 FROM conversations WHERE tenant_id = $1 AND conversation_id = $2 FOR UPDATE")
        .bind(tenant.0)
        .bind(conversation)
        .fetch_optional(&mut *tx)
        .await?;
    if is_paused(&mut tx, tenant, conversation).await? {
        return Ok(None);
    }
    let newest: Option<i64> = sqlx::query_scalar(
        "SELECT message_id FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'in'
         ORDER BY created_at DESC, message_id DESC LIMIT 1",
    )
    .bind(tenant.0)
    .bind(conversation)
    .fetch_optional(&mut *tx)
    .await?;
    if newest != Some(answering) {
        return Ok(None);
    }
    let Some(route) = crate::whatsapp::outbox::route(&mut tx, tenant, ConversationId(conversation)).await? else {
        return Ok(None);
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
         VALUES ($1, $2, 'out', 'bot', $3, 'queued') RETURNING message_id",
    )
    .bind(tenant.0)
    .bind(conversation)
    .bind(reply)
    .fetch_one(&mut *tx)
    .await?;
    let payload = crate::whatsapp::outbox::text_payload(&route.recipient, reply);
    crate::whatsapp::outbox::enqueue(&mut tx, tenant, &route, Some(id), "text", &payload, None).await?;
    if handover {
        let s = settings(&mut tx, tenant).await?;
        write_pause(&mut tx, tenant, conversation, true, "handover", None, s.resume_after_idle_secs).await?;
    }
    tx.commit().await?;
    Ok(Some(id))
}
