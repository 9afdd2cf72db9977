//! A channel's event log: the webhook-level `errors` WhatsApp reports about an account (a 130429
//! throughput notice in a change's `value.errors`) or beside an inbound message (an unsupported
//! message's `errors`), which concern no one message's delivery. Shown in the admin channel
//! screen and in `/ready`'s detail; the webhook counts them in
//! `platica_whatsapp_webhook_errors_total{code}`.

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use serde::Serialize;
use serde_json::Value;
use sqlx::PgPool;

use crate::error::StoreResult;

/// An error object from a webhook, to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewChannelEvent {
    /// `webhook_error` (a change value's `errors`) or `message_error` (beside a message).
    pub kind: &'static str,
    pub code: Option<i32>,
    pub title: String,
    pub detail: Option<String>,
    pub raw: Value,
}

impl NewChannelEvent {
    /// One entry of a Cloud API `errors` array: `{code, title, message, error_data: {details}}`.
    pub fn from_error(kind: &'static str, raw: Value) -> NewChannelEvent {
        let code = raw.get("code").and_then(Value::as_i64).and_then(|c| i32::try_from(c).ok());
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(|s| s.chars().take(1000).collect::<String>());
        let title = text(raw.get("title"))
            .or_else(|| text(raw.get("message")))
            .unwrap_or_else(|| code.map_or_else(|| "unknown error".to_owned(), |c| format!("error {c}")));
        let detail =
            text(raw.pointer("/error_data/details")).or_else(|| text(raw.get("message")).filter(|m| *m != title));
        NewChannelEvent { kind, code, title, detail, raw }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChannelEvent {
    pub channel_event_id: i64,
    pub channel_account_id: i64,
    pub occurred_at: DateTime<Utc>,
    /// `webhook_error` or `message_error`.
    pub kind: String,
    /// WhatsApp's error code (e.g. 130429 throughput exceeded).
    pub code: Option<i32>,
    pub title: String,
    pub detail: Option<String>,
}

/// Records a webhook's channel events, in one statement.
pub async fn record(pool: &PgPool, tenant: TenantId, account: i64, events: &[NewChannelEvent]) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let kinds: Vec<&str> = events.iter().map(|e| e.kind).collect();
    let codes: Vec<Option<i32>> = events.iter().map(|e| e.code).collect();
    let titles: Vec<&str> = events.iter().map(|e| e.title.as_str()).collect();
    let details: Vec<Option<&str>> = events.iter().map(|e| e.detail.as_deref()).collect();
    let raws: Vec<sqlx::types::Json<&Value>> = events.iter().map(|e| sqlx::types::Json(&e.raw)).collect();
    sqlx::query(
        "INSERT INTO channel_events (tenant_id, channel_account_id, kind, code, title, detail, raw)
         SELECT $1, $2, k, c, t, d, r FROM unnest($3::text[], $4::int[], $5::text[], $6::text[], $7::jsonb[]) AS u(k, c, t, d, r)",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(&kinds)
    .bind(&codes)
    .bind(&titles)
    .bind(&details)
    .bind(&raws)
    .execute(pool)
    .await?;
    Ok(())
}

/// A channel's newest events, newest first.
pub async fn recent(pool: &PgPool, tenant: TenantId, account: i64, limit: i64) -> StoreResult<Vec<ChannelEvent>> {
    Ok(sqlx::query_as(
        "SELECT channel_event_id, channel_account_id, occurred_at, kind, code, title, detail FROM channel_events
         WHERE tenant_id = $1 AND channel_account_id = $2 ORDER BY occurred_at DESC, channel_event_id DESC LIMIT $3",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(limit)
    .fetch_all(pool)
    .await?)
}

/// A channel account's errors of the last hour, for `/ready`.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct LastHour {
    pub tenant_id: i64,
    pub channel_account_id: i64,
    pub errors_last_hour: i64,
    pub last_code: Option<i32>,
    pub last_title: String,
    pub last_at: DateTime<Utc>,
}

/// Per channel account with events in the last hour: how many, and the newest. One index probe
/// per account (the keys lead with tenant_id).
pub async fn last_hour(pool: &PgPool) -> StoreResult<Vec<LastHour>> {
    Ok(sqlx::query_as(
        "SELECT a.tenant_id, a.channel_account_id,
                (SELECT count(*) FROM channel_events c WHERE c.tenant_id = a.tenant_id
                   AND c.channel_account_id = a.channel_account_id
                   AND c.occurred_at > now() - interval '1 hour') AS errors_last_hour,
                e.code AS last_code, e.title AS last_title, e.occurred_at AS last_at
         FROM channel_accounts a
         CROSS JOIN LATERAL (SELECT code, title, occurred_at FROM channel_events c
                             WHERE c.tenant_id = a.tenant_id AND c.channel_account_id = a.channel_account_id
                             ORDER BY occurred_at DESC LIMIT 1) e
         WHERE e.occurred_at > now() - interval '1 hour'
         ORDER BY e.occurred_at DESC LIMIT 50",
    )
    .fetch_all(pool)
    .await?)
}
