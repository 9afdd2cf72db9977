//! The transactional outbox: everything Platica sends to WhatsApp, written in the transaction
//! that decides to send it, then sent by one worker per channel account (platica-whatsapp).
//!
//! A row's life: `pending` → (claimed) `sending` → `done` | `failed`, or back to `pending` with a
//! later `not_before` for a retry. A `sending` row whose lease lapsed belongs to a worker that
//! died between sending and recording: [`recover_lapsed`] resends it only to implementations
//! that honour `Idempotency-Key`; otherwise it fails as `interrupted` (never sent twice).

use std::time::Duration;

use chrono::{DateTime, Utc};
use platica_domain::{ConversationId, TenantId};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};

/// WhatsApp's customer service window: free text is allowed this long after the prospect's
/// last message.
pub const SERVICE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The prefix of `biz_opaque_callback_data`: WhatsApp echoes it in status webhooks, which then
/// find their message even before the send's answer was recorded.
pub const CALLBACK_PREFIX: &str = "platica:m:";

/// Where a conversation's outbound messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub channel_account_id: i64,
    /// The prospect's WhatsApp id: the E.164 number without `+`.
    pub recipient: String,
}

/// The account a conversation's outbound messages use (the one its prospect last wrote to, else
/// the tenant's first account) and its recipient. `None` when the tenant has no account.
pub async fn route(
    conn: &mut PgConnection,
    tenant: TenantId,
    conversation: ConversationId,
) -> StoreResult<Option<Route>> {
    let row: Option<(Option<i64>, String)> = sqlx::query_as(
        "SELECT coalesce(
                (SELECT w.channel_account_id FROM messages m
                   JOIN whatsapp_messages w ON w.tenant_id = m.tenant_id AND w.message_id = m.message_id
                  WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id AND m.direction = 'in'
                    AND w.channel_account_id IS NOT NULL
                  ORDER BY m.created_at DESC, m.message_id DESC LIMIT 1),
                (SELECT a.channel_account_id FROM channel_accounts a WHERE a.tenant_id = c.tenant_id
                  ORDER BY a.channel_account_id LIMIT 1)),
                substr(p.phone, 2)
         FROM conversations c JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
         WHERE c.tenant_id = $1 AND c.conversation_id = $2",
    )
    .bind(tenant.0)
    .bind(conversation.0)
    .fetch_optional(conn)
    .await?;
    let Some((account, recipient)) = row else { return Err(StoreError::not_found("conversation")) };
    Ok(account.map(|channel_account_id| Route { channel_account_id, recipient }))
}

/// When the prospect last wrote, if ever.
pub async fn last_inbound_at(
    conn: &mut PgConnection,
    tenant: TenantId,
    conversation: ConversationId,
) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT max(created_at) FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'in'",
    )
    .bind(tenant.0)
    .bind(conversation.0)
    .fetch_one(conn)
    .await?)
}

/// Whether free text may be sent now, given the prospect's last message.
pub fn window_open(last_inbound: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    last_inbound.is_some_and(|t| now.signed_duration_since(t).to_std().map_or(true, |d| d < SERVICE_WINDOW))
}

/// A template to send, validated against the tenant's approved templates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateSend {
    pub name: String,
    pub language: String,
    pub params: Vec<String>,
}

/// The request body for a text message.
pub fn text_payload(recipient: &str, body: &str, message_id: i64) -> Value {
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient,
        "type": "text",
        "text": {"body": body, "preview_url": false},
        "biz_opaque_callback_data": format!("{CALLBACK_PREFIX}{message_id}"),
    })
}

/// The request body for a template message.
pub fn template_payload(recipient: &str, t: &TemplateSend, message_id: i64) -> Value {
    let mut template = json!({"name": t.name, "language": {"code": t.language}});
    if !t.params.is_empty() {
        let params: Vec<Value> = t.params.iter().map(|p| json!({"type": "text", "text": p})).collect();
        template["components"] = json!([{"type": "body", "parameters": params}]);
    }
    json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient,
        "type": "template",
        "template": template,
        "biz_opaque_callback_data": format!("{CALLBACK_PREFIX}{message_id}"),
    })
}

/// Queues `payload` for `message_id` (or a receipt when `None`), not before `not_before`.
pub async fn enqueue(
    conn: &mut PgConnection,
    tenant: TenantId,
    route: &Route,
    message_id: Option<i64>,
    kind: &str,
    payload: &Value,
    not_before: Option<DateTime<Utc>>,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO outbox (tenant_id, channel_account_id, message_id, kind, payload, not_before)
         VALUES ($1, $2, $3, $4, $5, coalesce($6, now())) RETURNING outbox_id",
    )
    .bind(tenant.0)
    .bind(route.channel_account_id)
    .bind(message_id)
    .bind(kind)
    .bind(payload)
    .bind(not_before)
    .fetch_one(conn)
    .await?)
}

/// Queues a read receipt for the conversation's newest inbound WhatsApp message, if any.
pub async fn enqueue_read_receipt(
    conn: &mut PgConnection,
    tenant: TenantId,
    conversation: ConversationId,
) -> StoreResult<Option<i64>> {
    let Some(route) = route(conn, tenant, conversation).await? else { return Ok(None) };
    let newest: Option<String> = sqlx::query_scalar(
        "SELECT external_id FROM messages
         WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'in' AND external_id IS NOT NULL
         ORDER BY created_at DESC, message_id DESC LIMIT 1",
    )
    .bind(tenant.0)
    .bind(conversation.0)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(wamid) = newest else { return Ok(None) };
    let payload = json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid});
    enqueue(conn, tenant, &route, None, "mark_read", &payload, None).await.map(Some)
}

/// Queues a typing indicator answering inbound `message_id` (WhatsApp shows "typing…" until the
/// reply comes or 25 s pass; it also marks that message read).
pub async fn enqueue_typing(
    conn: &mut PgConnection,
    tenant: TenantId,
    conversation: i64,
    message_id: i64,
) -> StoreResult<()> {
    let Some(route) = route(conn, tenant, ConversationId(conversation)).await? else { return Ok(()) };
    let wamid: Option<String> = sqlx::query_scalar(
        "SELECT external_id FROM messages WHERE tenant_id = $1 AND message_id = $2 AND direction = 'in'",
    )
    .bind(tenant.0)
    .bind(message_id)
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    let Some(wamid) = wamid else { return Ok(()) };
    let payload = json!({"messaging_product": "whatsapp", "status": "read", "message_id": wamid,
        "typing_indicator": {"type": "text"}});
    enqueue(conn, tenant, &route, None, "mark_read", &payload, None).await?;
    Ok(())
}

/// A claimed row, ready to send.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Claimed {
    pub tenant_id: i64,
    pub outbox_id: i64,
    pub channel_account_id: i64,
    pub message_id: Option<i64>,
    pub kind: String,
    pub payload: Value,
    /// Including this one.
    pub attempts: i32,
}

impl Claimed {
    /// The key a retry of this row carries, so an implementation that honours it sends once.
    pub fn idempotency_key(&self) -> String {
        format!("platica-{}-{}", self.tenant_id, self.outbox_id)
    }

    /// The recipient (`to`), for ordering sends per recipient; receipts have none.
    pub fn recipient(&self) -> Option<&str> {
        self.payload.get("to").and_then(Value::as_str)
    }
}

/// Claims up to `limit` due rows of one account for `lease`, oldest first.
pub async fn claim(
    pool: &PgPool,
    tenant: TenantId,
    account: i64,
    limit: i64,
    lease: Duration,
) -> StoreResult<Vec<Claimed>> {
    let mut rows: Vec<Claimed> = sqlx::query_as(
        "UPDATE outbox o SET state = 'sending', attempts = o.attempts + 1, updated_at = now(),
                lease_until = now() + make_interval(secs => $4)
         FROM (SELECT tenant_id, outbox_id FROM outbox
               WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'pending' AND not_before <= now()
               ORDER BY not_before, outbox_id LIMIT $3 FOR UPDATE SKIP LOCKED) due
         WHERE o.tenant_id = due.tenant_id AND o.outbox_id = due.outbox_id
         RETURNING o.tenant_id, o.outbox_id, o.channel_account_id, o.message_id, o.kind, o.payload, o.attempts",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await?;
    rows.sort_by_key(|r| r.outbox_id);
    Ok(rows)
}

/// When the account next has work: the earliest pending `not_before` or lapsing lease.
pub async fn next_due(pool: &PgPool, tenant: TenantId, account: i64) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(
        "SELECT min(CASE state WHEN 'pending' THEN not_before ELSE lease_until END) FROM outbox
         WHERE tenant_id = $1 AND channel_account_id = $2 AND state IN ('pending', 'sending')",
    )
    .bind(tenant.0)
    .bind(account)
    .fetch_one(pool)
    .await?)
}

/// Records a successful send: the row is done and its message learns WhatsApp's id.
pub async fn complete(pool: &PgPool, row: &Claimed, external_id: Option<&str>, http_status: u16) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE outbox SET state = 'done', external_id = $3, last_http_status = $4, lease_until = NULL,
                finished_at = now(), updated_at = now()
         WHERE tenant_id = $1 AND outbox_id = $2",
    )
    .bind(row.tenant_id)
    .bind(row.outbox_id)
    .bind(external_id)
    .bind(i32::from(http_status))
    .execute(&mut *tx)
    .await?;
    if let (Some(message), Some(wamid)) = (row.message_id, external_id) {
        // A status webhook may have named the message first (callback data): keep what it set.
        sqlx::query(
            "UPDATE messages SET external_id = $3
             WHERE tenant_id = $1 AND message_id = $2 AND external_id IS NULL",
        )
        .bind(row.tenant_id)
        .bind(message)
        .bind(wamid)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Puts a row back for another attempt after `delay`.
pub async fn retry_later(
    pool: &PgPool,
    row: &Claimed,
    delay: Duration,
    http_status: Option<u16>,
    error: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE outbox SET state = 'pending', not_before = now() + make_interval(secs => $3), lease_until = NULL,
                last_http_status = $4, last_error = $5, updated_at = now()
         WHERE tenant_id = $1 AND outbox_id = $2",
    )
    .bind(row.tenant_id)
    .bind(row.outbox_id)
    .bind(delay.as_secs_f64())
    .bind(http_status.map(i32::from))
    .bind(truncate(error))
    .execute(pool)
    .await?;
    Ok(())
}

/// Puts a row back untried (its attempt is not counted): an earlier message to the same
/// recipient is being retried, and order matters more than speed.
pub async fn postpone(pool: &PgPool, row: &Claimed, delay: Duration) -> StoreResult<()> {
    sqlx::query(
        "UPDATE outbox SET state = 'pending', not_before = now() + make_interval(secs => $3), lease_until = NULL,
                attempts = greatest(attempts - 1, 0), updated_at = now()
         WHERE tenant_id = $1 AND outbox_id = $2",
    )
    .bind(row.tenant_id)
    .bind(row.outbox_id)
    .bind(delay.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// Why a send failed for good, as WhatsApp (or the worker) said.
#[derive(Clone, Debug, Default)]
pub struct Failure {
    pub http_status: Option<u16>,
    pub code: Option<i32>,
    pub title: String,
    pub detail: Option<String>,
}

/// Fails a row for good: its message becomes `failed`, with the reason kept in message_statuses.
pub async fn fail(pool: &PgPool, row: &Claimed, f: &Failure) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    fail_in(&mut tx, row.tenant_id, row.outbox_id, row.message_id, f).await?;
    tx.commit().await?;
    Ok(())
}

async fn fail_in(
    conn: &mut PgConnection,
    tenant: i64,
    outbox_id: i64,
    message_id: Option<i64>,
    f: &Failure,
) -> StoreResult<()> {
    let error = match &f.detail {
        Some(d) => format!("{}: {d}", f.title),
        None => f.title.clone(),
    };
    sqlx::query(
        "UPDATE outbox SET state = 'failed', last_http_status = coalesce($3, last_http_status), last_error = $4,
                lease_until = NULL, finished_at = now(), updated_at = now()
         WHERE tenant_id = $1 AND outbox_id = $2",
    )
    .bind(tenant)
    .bind(outbox_id)
    .bind(f.http_status.map(i32::from))
    .bind(truncate(&error))
    .execute(&mut *conn)
    .await?;
    if let Some(message) = message_id {
        let applied = sqlx::query(
            "UPDATE messages SET status = 'failed'
             WHERE tenant_id = $1 AND message_id = $2 AND status IN ('queued', 'sent')",
        )
        .bind(tenant)
        .bind(message)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        sqlx::query(
            "INSERT INTO message_statuses (tenant_id, message_id, status, occurred_at, applied, error_code, error_title, error_detail)
             VALUES ($1, $2, 'failed', now(), $3, $4, $5, $6)
             ON CONFLICT (tenant_id, message_id, status) DO NOTHING",
        )
        .bind(tenant)
        .bind(message)
        .bind(applied)
        .bind(f.code)
        .bind(truncate(&f.title))
        .bind(f.detail.as_deref().map(truncate))
        .execute(&mut *conn)
        .await?;
    }
    tracing::warn!(tenant_id = tenant, outbox_id, message_id = ?message_id, code = ?f.code, error = %error,
        "outbound message failed");
    Ok(())
}

/// Rows of one account left `sending` by a worker that died. With `idempotent` (the endpoint
/// honours Idempotency-Key) they are sent again with the same key; otherwise they fail as
/// `interrupted`, because WhatsApp may already have them. Returns (requeued, failed).
pub async fn recover_lapsed(
    pool: &PgPool,
    tenant: TenantId,
    account: i64,
    idempotent: bool,
) -> StoreResult<(u64, u64)> {
    if idempotent {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', lease_until = NULL, updated_at = now(),
                    last_error = 'resent after an interrupted attempt (same idempotency key)'
             WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'sending' AND lease_until < now()",
        )
        .bind(tenant.0)
        .bind(account)
        .execute(pool)
        .await?;
        return Ok((done.rows_affected(), 0));
    }
    let mut tx = pool.begin().await?;
    let lapsed: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT outbox_id, message_id FROM outbox
         WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'sending' AND lease_until < now()
         FOR UPDATE SKIP LOCKED",
    )
    .bind(tenant.0)
    .bind(account)
    .fetch_all(&mut *tx)
    .await?;
    let f = Failure {
        title: "interrupted".to_owned(),
        detail: Some("the server stopped while sending; not resent, since WhatsApp may already have it".to_owned()),
        ..Failure::default()
    };
    for (outbox_id, message_id) in &lapsed {
        fail_in(&mut tx, tenant.0, *outbox_id, *message_id, &f).await?;
    }
    tx.commit().await?;
    Ok((0, lapsed.len() as u64))
}

/// A status webhook named a message by its callback data before the send's answer was recorded
/// (or after a crash): attach WhatsApp's id to it and finish its outbox row. Returns the message.
pub async fn link_by_callback(
    conn: &mut PgConnection,
    tenant: TenantId,
    callback: &str,
    external_id: &str,
) -> StoreResult<Option<i64>> {
    let Some(message) = callback.strip_prefix(CALLBACK_PREFIX).and_then(|s| s.parse::<i64>().ok()) else {
        return Ok(None);
    };
    let linked: Option<i64> = sqlx::query_scalar(
        "UPDATE messages SET external_id = $3
         WHERE tenant_id = $1 AND message_id = $2 AND direction = 'out' AND external_id IS NULL
         RETURNING message_id",
    )
    .bind(tenant.0)
    .bind(message)
    .bind(external_id)
    .fetch_optional(&mut *conn)
    .await?;
    if linked.is_some() {
        sqlx::query(
            "UPDATE outbox SET state = 'done', external_id = $3, lease_until = NULL, finished_at = now(), updated_at = now()
             WHERE tenant_id = $1 AND message_id = $2 AND state = 'sending'",
        )
        .bind(tenant.0)
        .bind(message)
        .bind(external_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(linked)
}

/// Queue depth per state, for metrics and readiness: (state, rows).
pub async fn depth(pool: &PgPool) -> StoreResult<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT state, count(*) FROM outbox WHERE state IN ('pending', 'sending') GROUP BY state ORDER BY state",
    )
    .fetch_all(pool)
    .await?)
}

fn truncate(s: &str) -> String {
    s.chars().take(1000).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_24_hours_after_the_last_inbound_message() {
        let now = Utc::now();
        assert!(!window_open(None, now));
        assert!(window_open(Some(now - chrono::Duration::hours(23)), now));
        assert!(!window_open(Some(now - chrono::Duration::hours(24)), now));
        assert!(!window_open(Some(now - chrono::Duration::days(3)), now));
        // A clock slightly behind the database's: a message "from the future" is inside.
        assert!(window_open(Some(now + chrono::Duration::seconds(2)), now));
    }

    #[test]
    fn payloads_carry_the_callback_data() {
        let p = text_payload("5215512345678", "hola", 42);
        assert_eq!(p["to"], "5215512345678");
        assert_eq!(p["text"]["body"], "hola");
        assert_eq!(p["biz_opaque_callback_data"], "platica:m:42");
        let t = TemplateSend { name: "promo".into(), language: "es_MX".into(), params: vec!["Ana".into()] };
        let p = template_payload("5215512345678", &t, 7);
        assert_eq!(p["template"]["language"]["code"], "es_MX");
        assert_eq!(p["template"]["components"][0]["parameters"][0]["text"], "Ana");
        let t = TemplateSend { params: vec![], ..t };
        assert!(template_payload("1", &t, 7)["template"].get("components").is_none());
    }
}
