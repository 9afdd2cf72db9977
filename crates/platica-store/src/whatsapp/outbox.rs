//! The transactional outbox: everything Platica sends to WhatsApp, written in the transaction
//! that decides to send it, then sent by one worker per channel account (platica-whatsapp).
//!
//! A row's life: `pending` → (claimed) `sending` → `done` | `failed`, or back to `pending` with a
//! later `not_before` for a retry. A `sending` row whose lease lapsed belongs to a worker that
//! died between sending and recording: [`recover_lapsed`] resends it only to implementations
//! that honour `Idempotency-Key`; otherwise it fails as `interrupted` (never sent twice).
//!
//! **Outcome unknown** (a timeout, a connection cut after the request was written, a 5xx): to an
//! endpoint that ignores `Idempotency-Key` the row goes `unconfirmed` ([`mark_unconfirmed`]) and
//! its message says so (`messages.unconfirmed`). Every send carries its row's
//! `biz_opaque_callback_data` ([`Claimed::payload_to_send`]); a status webhook naming it
//! ([`resolve_by_callback`]) finishes the row, cancelling any retry, and its message takes the id
//! WhatsApp reports. Only a row that no status named within the reconciliation window is sent
//! again ([`reconcile_unconfirmed`]). Every write that records an outcome applies only to a row
//! still `sending`, so a status that came first is never overwritten.

use std::time::Duration;

use chrono::{DateTime, Utc};
use platica_domain::{ConversationId, TenantId};
use serde_json::{Value, json};
use sqlx::{PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};

/// WhatsApp's customer service window: free text is allowed this long after the prospect's
/// last message.
pub const SERVICE_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The prefix of `biz_opaque_callback_data`, followed by the outbox id: WhatsApp echoes it in
/// status webhooks, which then find their row and message even when the send's answer was never
/// recorded.
pub const CALLBACK_PREFIX: &str = "platica:o:";

/// The prefix earlier versions tagged sends with, followed by the message id; still understood in
/// status webhooks of sends made before an upgrade.
pub const LEGACY_CALLBACK_PREFIX: &str = "platica:m:";

/// What a callback names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Callback {
    Outbox(i64),
    /// [`LEGACY_CALLBACK_PREFIX`].
    Message(i64),
}

impl Callback {
    pub fn parse(s: &str) -> Option<Callback> {
        if let Some(id) = s.strip_prefix(CALLBACK_PREFIX) {
            return id.parse().ok().map(Callback::Outbox);
        }
        s.strip_prefix(LEGACY_CALLBACK_PREFIX).and_then(|id| id.parse().ok()).map(Callback::Message)
    }
}

/// Where a conversation's outbound messages go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub channel_account_id: i64,
    /// The prospect's WhatsApp id (the E.164 number without `+`), or, for a prospect WhatsApp
    /// shows without a number, its business-scoped user id (see [`addressed`]).
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
                coalesce(substr(p.phone, 2), p.bsuid)
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
    /// The body's parameters (`{{1}}`, `{{2}}`...).
    pub params: Vec<String>,
    /// The text header's parameter (`{{1}}` of the header), when it has one.
    pub header_params: Vec<String>,
}

/// A request body's recipient field: `to` for a phone number (digits), `recipient` for a
/// business-scoped user id (`US.1349…`, recognisable by its dot), as the Cloud API addresses a
/// user it shows without a number. The number is preferred whenever it is known (it is what
/// [`route`] gives then), which keeps WhatsApp showing it in later webhooks.
pub fn addressed(recipient: &str) -> (&'static str, &str) {
    if recipient.contains('.') { ("recipient", recipient) } else { ("to", recipient) }
}

fn message_payload(recipient: &str, kind: &str, object: Value) -> Value {
    let (field, value) = addressed(recipient);
    let mut payload = json!({"messaging_product": "whatsapp", "recipient_type": "individual", "type": kind});
    payload[field] = json!(value);
    payload[kind] = object;
    payload
}

/// The request body for a text message (the sender adds its `biz_opaque_callback_data`).
pub fn text_payload(recipient: &str, body: &str) -> Value {
    message_payload(recipient, "text", json!({"body": body, "preview_url": false}))
}

/// The request body for a template message (the sender adds its `biz_opaque_callback_data`).
pub fn template_payload(recipient: &str, t: &TemplateSend) -> Value {
    let mut template = json!({"name": t.name, "language": {"code": t.language}});
    let text = |ps: &[String]| -> Vec<Value> { ps.iter().map(|p| json!({"type": "text", "text": p})).collect() };
    let mut components = Vec::new();
    if !t.header_params.is_empty() {
        components.push(json!({"type": "header", "parameters": text(&t.header_params)}));
    }
    if !t.params.is_empty() {
        components.push(json!({"type": "body", "parameters": text(&t.params)}));
    }
    if !components.is_empty() {
        template["components"] = Value::Array(components);
    }
    message_payload(recipient, "template", template)
}

/// The request body for a media message, naming Platica's media row (`platica_media_id`): the
/// sender uploads the file to WhatsApp (once) and replaces it with WhatsApp's media `id` before
/// sending. A caption is kept for images, videos and documents (WhatsApp takes none for audio or
/// stickers), a document's file name too.
pub fn media_payload(recipient: &str, media: &crate::whatsapp::media::MediaRow, caption: Option<&str>) -> Value {
    let mut object = json!({});
    if let Some(c) = caption.filter(|_| matches!(media.kind.as_str(), "image" | "video" | "document")) {
        object["caption"] = json!(c);
    }
    if let Some(f) = media.filename.as_deref().filter(|_| media.kind == "document") {
        object["filename"] = json!(f);
    }
    let mut payload = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": recipient,
        "type": media.kind,
        "platica_media_id": media.media_id,
    });
    payload[media.kind.as_str()] = object;
    payload
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

    /// The recipient (`to`, or `recipient` for a business-scoped user id), for ordering sends
    /// per recipient; receipts have none.
    pub fn recipient(&self) -> Option<&str> {
        self.payload.get("to").or_else(|| self.payload.get("recipient")).and_then(Value::as_str)
    }

    /// The request body as sent: a message carries its row as `biz_opaque_callback_data`, which
    /// WhatsApp echoes in the message's status webhooks (whatever tag an older version stored).
    /// Receipts carry none (WhatsApp reports no status for them).
    pub fn payload_to_send(&self) -> Value {
        let mut payload = self.payload.clone();
        if self.message_id.is_some()
            && let Some(obj) = payload.as_object_mut()
        {
            obj.insert("biz_opaque_callback_data".to_owned(), json!(format!("{CALLBACK_PREFIX}{}", self.outbox_id)));
        }
        payload
    }

    /// Whether sending it twice would be seen twice: a message would, a read receipt would not.
    pub fn is_message(&self) -> bool {
        self.message_id.is_some()
    }
}

/// The rows a claim may take: due, pending, and the head of their recipient's queue (no earlier
/// pending row and no row in flight to the same recipient). Read receipts have no recipient and
/// no order. `o` is the candidate.
const HEAD_OF_RECIPIENT: &str = "NOT EXISTS (
             SELECT 1 FROM outbox e
             WHERE e.tenant_id = o.tenant_id AND e.channel_account_id = o.channel_account_id
               AND e.recipient = o.recipient AND e.state IN ('pending', 'sending')
               AND (e.state = 'sending' OR e.outbox_id < o.outbox_id))";

/// Claims up to `limit` due rows of one account for `lease`, oldest first, at most one per
/// recipient and none for a recipient with a row in flight or an earlier row waiting (see
/// `HEAD_OF_RECIPIENT`): whoever sends them all at once still sends each recipient's messages
/// in order.
pub async fn claim(
    pool: &PgPool,
    tenant: TenantId,
    account: i64,
    limit: i64,
    lease: Duration,
) -> StoreResult<Vec<Claimed>> {
    let mut rows: Vec<Claimed> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE outbox x SET state = 'sending', attempts = x.attempts + 1, updated_at = now(),
                lease_until = now() + make_interval(secs => $4)
         FROM (SELECT o.tenant_id, o.outbox_id FROM outbox o
               WHERE o.tenant_id = $1 AND o.channel_account_id = $2 AND o.state = 'pending'
                 AND o.not_before <= now() AND {HEAD_OF_RECIPIENT}
               ORDER BY o.not_before, o.outbox_id LIMIT $3 FOR UPDATE SKIP LOCKED) due
         WHERE x.tenant_id = due.tenant_id AND x.outbox_id = due.outbox_id
         RETURNING x.tenant_id, x.outbox_id, x.channel_account_id, x.message_id, x.kind, x.payload, x.attempts"
    )))
    .bind(tenant.0)
    .bind(account)
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await?;
    rows.sort_by_key(|r| r.outbox_id);
    Ok(rows)
}

/// When the account next has work: the earliest `not_before` of a head of its recipient's queue
/// (rows behind one in flight wait for it, not for a clock) or end of an unconfirmed row's
/// window. (Lapsed leases are looked for on a timer of their own.)
pub async fn next_due(pool: &PgPool, tenant: TenantId, account: i64) -> StoreResult<Option<DateTime<Utc>>> {
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT least(
             (SELECT min(o.not_before) FROM outbox o
              WHERE o.tenant_id = $1 AND o.channel_account_id = $2 AND o.state = 'pending' AND {HEAD_OF_RECIPIENT}),
             (SELECT min(not_before) FROM outbox
              WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'unconfirmed'))"
    )))
    .bind(tenant.0)
    .bind(account)
    .fetch_one(pool)
    .await?)
}

/// Records a successful send: the row is done and its message learns WhatsApp's id (and is no
/// longer unconfirmed). Nothing changes when a status webhook finished the row first.
pub async fn complete(pool: &PgPool, row: &Claimed, external_id: Option<&str>, http_status: u16) -> StoreResult<()> {
    // A status webhook may have named the message first (callback data): keep the id it set.
    sqlx::query(
        "WITH o AS (
             UPDATE outbox SET state = 'done', external_id = $3, last_http_status = $4, lease_until = NULL,
                    finished_at = now(), updated_at = now()
             WHERE tenant_id = $1 AND outbox_id = $2 AND state = 'sending'
             RETURNING message_id
         )
         UPDATE messages m SET external_id = coalesce(m.external_id, $3), unconfirmed = false FROM o
         WHERE m.tenant_id = $1 AND m.message_id = o.message_id
           AND ((m.external_id IS NULL AND $3 IS NOT NULL) OR m.unconfirmed)",
    )
    .bind(row.tenant_id)
    .bind(row.outbox_id)
    .bind(external_id)
    .bind(i32::from(http_status))
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a send whose outcome is unknown (WhatsApp may have it): the row waits `unconfirmed`
/// for a status webhook to name it, and may be sent again after `window` without one; its message
/// shows "not confirmed yet" while no status has come. Nothing changes when a status webhook
/// finished the row first. Returns whether the row went `unconfirmed`.
pub async fn mark_unconfirmed(
    pool: &PgPool,
    row: &Claimed,
    window: Duration,
    http_status: Option<u16>,
    error: &str,
) -> StoreResult<bool> {
    let marked: Option<bool> = sqlx::query_scalar(
        "WITH o AS (
             UPDATE outbox SET state = 'unconfirmed', not_before = now() + make_interval(secs => $3),
                    lease_until = NULL, last_http_status = $4, last_error = $5, updated_at = now()
             WHERE tenant_id = $1 AND outbox_id = $2 AND state = 'sending'
             RETURNING message_id
         ), m AS (
             UPDATE messages m SET unconfirmed = true FROM o
             WHERE m.tenant_id = $1 AND m.message_id = o.message_id AND m.status = 'queued' AND NOT m.unconfirmed
         )
         SELECT true FROM o",
    )
    .bind(row.tenant_id)
    .bind(row.outbox_id)
    .bind(window.as_secs_f64())
    .bind(http_status.map(i32::from))
    .bind(truncate(error))
    .fetch_optional(pool)
    .await?;
    Ok(marked.is_some())
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
         WHERE tenant_id = $1 AND outbox_id = $2 AND state = 'sending'",
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

/// Why a send failed for good, as WhatsApp (or the worker) said.
#[derive(Clone, Debug, Default)]
pub struct Failure {
    pub http_status: Option<u16>,
    pub code: Option<i32>,
    pub title: String,
    pub detail: Option<String>,
    /// Sending it again may work (a retry the user asks for): it was not refused for good.
    pub retryable: bool,
    /// The attempts made.
    pub attempts: i32,
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
    // Only a row still in flight: a status webhook that finished it first wins.
    let failed = sqlx::query(
        "UPDATE outbox SET state = 'failed', last_http_status = coalesce($3, last_http_status), last_error = $4,
                lease_until = NULL, finished_at = now(), updated_at = now()
         WHERE tenant_id = $1 AND outbox_id = $2 AND state IN ('sending', 'unconfirmed')",
    )
    .bind(tenant)
    .bind(outbox_id)
    .bind(f.http_status.map(i32::from))
    .bind(truncate(&error))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if failed == 0 {
        return Ok(());
    }
    if let Some(message) = message_id {
        let reason = crate::inbox::messages::MessageError {
            code: f.code.map(i64::from),
            title: truncate(&f.title),
            detail: f.detail.as_deref().map(truncate),
            retryable: f.retryable,
            attempts: (f.attempts > 1 || f.title.starts_with("gave up")).then_some(f.attempts),
        };
        let applied = sqlx::query(
            "UPDATE messages SET status = 'failed', unconfirmed = false, error = $3
             WHERE tenant_id = $1 AND message_id = $2 AND status IN ('queued', 'sent')",
        )
        .bind(tenant)
        .bind(message)
        .bind(sqlx::types::Json(&reason))
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

/// Rows of one account left `sending` by a worker that died (not those in `in_flight`, which the
/// calling worker is still sending: a slow answer is not a crash). With `idempotent` (the endpoint
/// honours Idempotency-Key) they are sent again with the same key; otherwise they fail as
/// `interrupted`, because WhatsApp may already have them. Returns (requeued, failed).
pub async fn recover_lapsed(
    pool: &PgPool,
    tenant: TenantId,
    account: i64,
    idempotent: bool,
    in_flight: &[i64],
) -> StoreResult<(u64, u64)> {
    if idempotent {
        let done = sqlx::query(
            "UPDATE outbox SET state = 'pending', lease_until = NULL, updated_at = now(),
                    last_error = 'resent after an interrupted attempt (same idempotency key)'
             WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'sending' AND lease_until < now()
               AND outbox_id <> ALL($3)",
        )
        .bind(tenant.0)
        .bind(account)
        .bind(in_flight)
        .execute(pool)
        .await?;
        return Ok((done.rows_affected(), 0));
    }
    let mut tx = pool.begin().await?;
    let lapsed: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT outbox_id, message_id FROM outbox
         WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'sending' AND lease_until < now()
           AND outbox_id <> ALL($3)
         FOR UPDATE SKIP LOCKED",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(in_flight)
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

/// Unconfirmed rows of one account whose reconciliation window passed with no status: sent
/// again (back to `pending`; the attempt is counted when it is claimed), or failed when they have
/// had `max_attempts` already. Returns (requeued, failed).
pub async fn reconcile_unconfirmed(
    pool: &PgPool,
    tenant: TenantId,
    account: i64,
    max_attempts: i32,
) -> StoreResult<(u64, u64)> {
    let requeued = sqlx::query(
        "UPDATE outbox SET state = 'pending', not_before = now(), updated_at = now(),
                last_error = left('no status within the window: sent again; before: ' || coalesce(last_error, ''), 1000)
         WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'unconfirmed' AND not_before <= now()
           AND attempts < $3",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(max_attempts)
    .execute(pool)
    .await?
    .rows_affected();
    // What is left due has had its attempts: usually nothing, so look before opening a
    // transaction (this runs every poll of every account's sender).
    let any_spent: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM outbox
         WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'unconfirmed' AND not_before <= now())",
    )
    .bind(tenant.0)
    .bind(account)
    .fetch_one(pool)
    .await?;
    if !any_spent {
        return Ok((requeued, 0));
    }
    let mut tx = pool.begin().await?;
    let spent: Vec<(i64, Option<i64>, i32, Option<String>)> = sqlx::query_as(
        "SELECT outbox_id, message_id, attempts, last_error FROM outbox
         WHERE tenant_id = $1 AND channel_account_id = $2 AND state = 'unconfirmed' AND not_before <= now()
         FOR UPDATE SKIP LOCKED",
    )
    .bind(tenant.0)
    .bind(account)
    .fetch_all(&mut *tx)
    .await?;
    for (outbox_id, message_id, attempts, last_error) in &spent {
        let f = Failure {
            title: format!("not confirmed after {attempts} attempts"),
            attempts: *attempts,
            detail: Some(format!(
                "WhatsApp never answered nor reported a status; the last attempt: {}",
                last_error.as_deref().unwrap_or("unknown")
            )),
            ..Failure::default()
        };
        fail_in(&mut tx, tenant.0, *outbox_id, *message_id, &f).await?;
    }
    tx.commit().await?;
    Ok((requeued, spent.len() as u64))
}

/// A status webhook named a row by its callback data (see [`Callback`]): WhatsApp has the
/// message. Its row is finished (any pending retry cancelled, whatever answer the send got or
/// did not get), and its message takes the id WhatsApp reports — so statuses of whichever copy
/// WhatsApp delivered attach to the one message the user sees — and is no longer unconfirmed.
/// Returns the message; `None` when the callback names no message of this tenant.
pub async fn resolve_by_callback(
    conn: &mut PgConnection,
    tenant: TenantId,
    callback: &str,
    external_id: &str,
) -> StoreResult<Option<i64>> {
    let (outbox_id, message_id) = match Callback::parse(callback) {
        Some(Callback::Outbox(o)) => (Some(o), None),
        Some(Callback::Message(m)) => (None, Some(m)),
        None => return Ok(None),
    };
    Ok(sqlx::query_scalar(
        "WITH o AS (
             SELECT outbox_id, message_id FROM outbox
             WHERE tenant_id = $1 AND message_id IS NOT NULL AND (outbox_id = $2 OR message_id = $3)
         ), finished AS (
             UPDATE outbox x SET state = 'done', external_id = $4, lease_until = NULL, finished_at = now(),
                    updated_at = now()
             FROM o WHERE x.tenant_id = $1 AND x.outbox_id = o.outbox_id
               AND x.state IN ('pending', 'sending', 'unconfirmed')
         ), m AS (
             UPDATE messages y SET external_id = $4, unconfirmed = false FROM o
             WHERE y.tenant_id = $1 AND y.message_id = o.message_id AND y.direction = 'out'
               AND (y.external_id IS DISTINCT FROM $4 OR y.unconfirmed)
         )
         SELECT o.message_id FROM o",
    )
    .bind(tenant.0)
    .bind(outbox_id)
    .bind(message_id)
    .bind(external_id)
    .fetch_optional(conn)
    .await?)
}

/// Queue depth per state, for metrics and readiness: (state, rows).
pub async fn depth(pool: &PgPool) -> StoreResult<Vec<(String, i64)>> {
    Ok(sqlx::query_as(
        "SELECT state, count(*) FROM outbox WHERE state IN ('pending', 'sending', 'unconfirmed')
         GROUP BY state ORDER BY state",
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
    fn payloads_and_the_callback_data_that_names_their_row() {
        let p = text_payload("5215512345678", "hola");
        assert_eq!(p["to"], "5215512345678");
        let by_user = text_payload("US.13491208655302741918", "hola");
        assert_eq!((by_user.get("to"), &by_user["recipient"]), (None, &json!("US.13491208655302741918")));
        assert_eq!(by_user["text"]["body"], "hola");
        assert_eq!(p["text"]["body"], "hola");
        let t = TemplateSend {
            name: "promo".into(),
            language: "es_MX".into(),
            params: vec!["Ana".into()],
            header_params: vec![],
        };
        let p = template_payload("5215512345678", &t);
        assert_eq!(p["template"]["language"]["code"], "es_MX");
        assert_eq!(p["template"]["components"][0]["parameters"][0]["text"], "Ana");
        let t = TemplateSend { params: vec![], ..t };
        assert!(template_payload("1", &t)["template"].get("components").is_none());
        let t = TemplateSend { params: vec!["Ana".into()], header_params: vec!["Oferta".into()], ..t };
        let p = template_payload("1", &t);
        assert_eq!(
            p["template"]["components"][0],
            json!({"type": "header", "parameters": [{"type": "text", "text": "Oferta"}]})
        );
        assert_eq!(p["template"]["components"][1]["type"], "body");

        // What is sent names the outbox row, whatever tag the stored payload had.
        let mut row = Claimed {
            tenant_id: 1,
            outbox_id: 9,
            channel_account_id: 1,
            message_id: Some(42),
            kind: "text".into(),
            payload: json!({"to": "1", "biz_opaque_callback_data": "platica:m:42"}),
            attempts: 1,
        };
        let sent = row.payload_to_send();
        assert_eq!(sent["biz_opaque_callback_data"], "platica:o:9");
        assert_eq!(Callback::parse("platica:o:9"), Some(Callback::Outbox(9)));
        assert_eq!(Callback::parse("platica:m:42"), Some(Callback::Message(42)));
        assert_eq!(Callback::parse("platica:o:x"), None);
        assert_eq!(Callback::parse("someone else's"), None);
        // A read receipt has no status to echo it.
        row.message_id = None;
        row.payload = json!({"status": "read", "message_id": "wamid.X"});
        assert!(row.payload_to_send().get("biz_opaque_callback_data").is_none());
    }
}
