//! Messages of a conversation: reading pages, sending, marking read, inbound ingestion and
//! delivery status.

use chrono::{DateTime, Utc};
use platica_domain::cursor::Cursor;
use platica_domain::{ConversationId, MessageId, TenantId, UserId, Viewer};
use serde::Serialize;
use sqlx::{PgPool, QueryBuilder};

use crate::error::{StoreError, StoreResult};
use crate::inbox::conversations;
use crate::whatsapp::media::{self, MediaRef};
use crate::whatsapp::outbox::{self, TemplateSend};
use crate::whatsapp::{bot, templates};

#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Message {
    pub message_id: i64,
    pub conversation_id: i64,
    /// `in` (from the prospect) or `out`.
    pub direction: String,
    /// `prospect`, `bot`, `executive` or `system`.
    pub sender_kind: String,
    /// `message`, or `note`: a private note of the team (`POST /conversations/{id}/notes`), shown
    /// to everyone who sees the conversation and never sent to WhatsApp.
    #[sqlx(default)]
    pub kind: String,
    pub sender_user_id: Option<i64>,
    pub body: String,
    pub external_id: Option<String>,
    /// `queued`, `sent`, `delivered`, `read`, `played` (a voice message listened to) or `failed`.
    pub status: String,
    /// The send's outcome is unknown (WhatsApp's answer was lost: a timeout, a cut connection, a
    /// 5xx) and no status has come since: WhatsApp may or may not have the message. It is not
    /// sent again until a reconciliation window passes without a status. The web app shows "not
    /// confirmed yet".
    pub unconfirmed: bool,
    /// Why the message failed (`null` unless `status` is `failed`).
    #[schema(value_type = Option<MessageError>)]
    pub error: Option<sqlx::types::Json<MessageError>>,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    /// The prospect's reaction to this message (an emoji); `null` when none or removed. A
    /// reaction is not a message: it arrives as this message's update.
    #[sqlx(default)]
    pub reaction: Option<String>,
    /// The WhatsApp type of an inbound message (`text`, `image`, `audio`, `location`, `contacts`,
    /// `interactive`, `button`, `order`, `system`, or a type Platica does not know); `null` for
    /// messages that did not come from WhatsApp. Filled in message pages.
    #[sqlx(default)]
    pub wa_type: Option<String>,
    /// The message's structure beyond `body`, by `wa_type`: media (`id`, `mime_type`, `caption`,
    /// `filename`), a location (`latitude`, `longitude`, `name`, `address`), `contacts` (as
    /// shared), `interactive` (`type`, `id`, `title`, `description`; a flow reply `nfm_reply`
    /// with `name`, `body` and its `response` fields), `order` (`catalog_id`, `text`, `items`
    /// with `product_retailer_id`, `quantity`, `item_price`, `currency`, and `total` `{amount,
    /// currency}`), `system` (`type`, `body`, `new_wa_id`); an unknown type `{"raw": <the message
    /// object as received>}`. `null` for plain text. Filled in message pages.
    #[sqlx(default)]
    #[schema(value_type = Option<Object>)]
    pub content: Option<serde_json::Value>,
    /// The message this one replies to (WhatsApp's `context.id`), when Platica has it. Filled in
    /// message pages.
    #[sqlx(default)]
    pub reply_to_message_id: Option<i64>,
    /// WhatsApp's id of the message this one replies to (even one Platica does not have).
    #[sqlx(default)]
    pub reply_to_external_id: Option<String>,
    /// The message's media file (an inbound image, a document...; an outbound attachment):
    /// `state` `pending` while it is fetched from WhatsApp, `stored` (then `url` serves it, and
    /// `thumbnail_url` an image's thumbnail) or `unavailable` (with `reason`). `null` without
    /// media. Filled in message pages and in the answer to a send.
    #[sqlx(default)]
    #[schema(value_type = Option<MediaRef>)]
    pub media: Option<sqlx::types::Json<MediaRef>>,
    /// The campaign this message was sent for (live message rows carry it too); the chat shows
    /// `Campaign: <name>` on it rather than a sender.
    #[sqlx(default)]
    pub campaign_id: Option<i64>,
    /// That campaign's name. Filled in message pages.
    #[sqlx(default)]
    pub campaign_name: Option<String>,
}

/// Why an outbound message failed: WhatsApp's error code and text, or Platica's own reason
/// ("gave up after N attempts", "interrupted"). Clients show a reason mapped from `code` in the
/// user's language, not `title`, which is WhatsApp's English.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MessageError {
    /// WhatsApp's error code (131047 outside the 24-hour window, 131026 undeliverable, 190 access
    /// token, 130429 throughput, 131056 pair rate limit, ...); `null` for Platica's own reasons.
    pub code: Option<i64>,
    pub title: String,
    pub detail: Option<String>,
    /// A retry may work (`POST /messages/{id}/retry`).
    pub retryable: bool,
    /// The attempts made, when Platica gave up after several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<i32>,
}

/// Whether a message that failed with WhatsApp's `code` may succeed when sent again: temporary
/// errors, rate limits and an access token that can be fixed; not a closed window, an
/// undeliverable number or a refused template.
pub fn retryable_code(code: Option<i64>) -> bool {
    matches!(code, Some(1 | 2 | 4 | 190 | 80007 | 130429 | 131000 | 131016 | 131056 | 133004))
}

const COLUMNS: &str = "m.message_id, m.conversation_id, m.direction, m.sender_kind, m.sender_user_id, m.body, m.external_id, m.status, m.unconfirmed, m.error, m.created_at, m.read_at, m.reaction, m.kind";

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MessagePage {
    /// Newest first.
    pub items: Vec<Message>,
    pub next_cursor: Option<String>,
    /// When WhatsApp's 24-hour customer service window closes: the prospect's last message plus
    /// 24 hours (`null` when the prospect has never written). Free text and attachments are
    /// accepted before it; after it only an approved template.
    pub service_window_closes_at: Option<DateTime<Utc>>,
}

/// A page of a visible conversation's messages, newest first.
pub async fn list(
    pool: &PgPool,
    viewer: &Viewer,
    conversation: ConversationId,
    after: Option<Cursor>,
    limit: i64,
) -> StoreResult<MessagePage> {
    let mut conn = pool.acquire().await?;
    conversations::get(&mut conn, viewer, conversation).await?;
    // With each WhatsApp message's type, structure and the message it replies to.
    let mut qb = QueryBuilder::new(format!(
        "SELECT {COLUMNS}, w.wa_type, w.content, w.context_external_id AS reply_to_external_id,
                coalesce(m.reply_to_message_id, q.message_id) AS reply_to_message_id, {media} AS media,
                m.campaign_id, cg.name AS campaign_name
         FROM messages m
         LEFT JOIN whatsapp_messages w ON w.tenant_id = m.tenant_id AND w.message_id = m.message_id
         LEFT JOIN messages q ON q.tenant_id = m.tenant_id AND q.external_id = w.context_external_id
         LEFT JOIN campaigns cg ON cg.tenant_id = m.tenant_id AND cg.campaign_id = m.campaign_id
         WHERE m.tenant_id = ",
        media = media::MEDIA_JSON
    ));
    qb.push_bind(viewer.tenant_id.0).push(" AND m.conversation_id = ").push_bind(conversation.0);
    if let Some(c) = after {
        qb.push(" AND (m.created_at, m.message_id) < (").push_bind(c.at).push(", ").push_bind(c.id).push(")");
    }
    qb.push(" ORDER BY m.created_at DESC, m.message_id DESC LIMIT ").push_bind(limit + 1);
    let mut items: Vec<Message> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|m| Cursor { at: m.created_at, id: m.message_id }.encode())
    } else {
        None
    };
    let service_window_closes_at = outbox::last_inbound_at(&mut conn, viewer.tenant_id, conversation)
        .await?
        .map(|t| t + chrono::TimeDelta::seconds(outbox::SERVICE_WINDOW.as_secs() as i64));
    Ok(MessagePage { items, next_cursor, service_window_closes_at })
}

/// What an executive sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// Free text: allowed within WhatsApp's 24-hour customer service window.
    Text(String),
    /// An approved template: allowed at any time.
    Template(TemplateSend),
    /// The viewer's upload (`POST /media`), with an optional caption: within the 24-hour window,
    /// like free text. The sender uploads it to WhatsApp once and sends it by WhatsApp's media id.
    Media { media_id: i64, caption: Option<String> },
}

/// Stores an outbound message from the viewer, `queued`, and in the same transaction its outbox
/// row, so it is sent exactly when it is committed. Free text outside the 24-hour window is
/// refused (`outside_service_window`); a tenant without a WhatsApp number cannot send
/// (`no_channel`). An executive's message pauses the bot when the tenant's bot is set to.
/// Sending opens a closed conversation again; a snoozed one stays snoozed (its snooze waits for
/// the prospect).
pub async fn send(
    pool: &PgPool,
    viewer: &Viewer,
    conversation: ConversationId,
    what: &Outbound,
) -> StoreResult<Message> {
    send_replying(pool, viewer, conversation, what, None).await
}

/// [`send`], quoting `reply_to` (a message of the same conversation that WhatsApp knows, i.e.
/// with a WhatsApp id): the send carries WhatsApp's `context.message_id`, so the prospect sees
/// the quote. A message of another conversation (or none) is `not_found` on `reply_to`; one not
/// sent to WhatsApp (a note, a message still queued) is refused as `not_quotable`.
pub async fn send_replying(
    pool: &PgPool,
    viewer: &Viewer,
    conversation: ConversationId,
    what: &Outbound,
    reply_to: Option<MessageId>,
) -> StoreResult<Message> {
    let tenant = viewer.tenant_id;
    let mut tx = pool.begin().await?;
    conversations::get(&mut tx, viewer, conversation).await?;
    let route = outbox::route(&mut tx, tenant, conversation).await?.ok_or_else(|| StoreError::Refused {
        code: "no_channel",
        message: "this tenant has no WhatsApp number to send from: an admin adds one (POST /api/v1/channels)"
            .to_owned(),
        field: None,
        params: vec![],
    })?;
    let body = match what {
        Outbound::Text(_) | Outbound::Media { .. } => {
            let last = outbox::last_inbound_at(&mut tx, tenant, conversation).await?;
            if !outbox::window_open(last, Utc::now()) {
                return Err(StoreError::Refused {
                    code: "outside_service_window",
                    message: match last {
                        Some(_) => "the prospect's last message is more than 24 hours old: WhatsApp only accepts an approved template now".to_owned(),
                        None => "the prospect has not written yet: WhatsApp only accepts an approved template to open a conversation".to_owned(),
                    },
                    field: Some(if matches!(what, Outbound::Text(_)) { "body" } else { "media" }),
                    params: vec![],
                });
            }
            match what {
                Outbound::Text(text) => text.clone(),
                Outbound::Media { caption: Some(c), .. } => c.clone(),
                _ => String::new(),
            }
        }
        Outbound::Template(t) => templates::prepare(&mut tx, tenant, t).await?,
    };
    let quoted = match reply_to {
        None => None,
        Some(q) => {
            let found: Option<(Option<String>, String)> = sqlx::query_as(
                "SELECT external_id, kind FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND message_id = $3",
            )
            .bind(tenant.0)
            .bind(conversation.0)
            .bind(q.0)
            .fetch_optional(&mut *tx)
            .await?;
            match found {
                None => {
                    return Err(StoreError::NotFound {
                        message: "no such message in this conversation".to_owned(),
                        field: Some("reply_to"),
                    });
                }
                Some((Some(wamid), kind)) if kind == "message" => Some((q.0, wamid)),
                Some(_) => {
                    return Err(StoreError::Refused {
                        code: "not_quotable",
                        message: "only a message WhatsApp has (received, or sent and accepted) can be quoted"
                            .to_owned(),
                        field: Some("reply_to"),
                        params: vec![],
                    });
                }
            }
        }
    };
    let sql = format!(
        "INSERT INTO messages AS m (tenant_id, conversation_id, direction, sender_kind, sender_user_id, body, status, reply_to_message_id)
         VALUES ($1, $2, 'out', 'executive', $3, $4, 'queued', $5) RETURNING {COLUMNS}"
    );
    let mut msg: Message = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(conversation.0)
        .bind(viewer.user_id.0)
        .bind(&body)
        .bind(quoted.as_ref().map(|q| q.0))
        .fetch_one(&mut *tx)
        .await?;
    if let Some((id, wamid)) = &quoted {
        msg.reply_to_message_id = Some(*id);
        msg.reply_to_external_id = Some(wamid.clone());
    }
    let (kind, payload) = match what {
        Outbound::Text(text) => ("text", outbox::text_payload(&route.recipient, text)),
        Outbound::Template(t) => ("template", outbox::template_payload(&route.recipient, t)),
        Outbound::Media { media_id, caption } => {
            let row = media::attach(&mut tx, viewer, *media_id, msg.message_id).await?;
            if body.is_empty() {
                // A readable body for previews: "[image] photo.jpg", like inbound media.
                let label = match &row.filename {
                    Some(f) => format!("[{}] {f}", row.kind),
                    None => format!("[{}]", row.kind),
                };
                sqlx::query("UPDATE messages SET body = $3 WHERE tenant_id = $1 AND message_id = $2")
                    .bind(tenant.0)
                    .bind(msg.message_id)
                    .bind(&label)
                    .execute(&mut *tx)
                    .await?;
                msg.body = label;
            }
            let payload = outbox::media_payload(&route.recipient, &row, caption.as_deref());
            msg.media = Some(sqlx::types::Json(row.to_ref()));
            ("media", payload)
        }
    };
    let mut payload = payload;
    if let (Some((_, wamid)), Some(obj)) = (&quoted, payload.as_object_mut()) {
        obj.insert("context".to_owned(), serde_json::json!({ "message_id": wamid }));
    }
    outbox::enqueue(&mut tx, tenant, &route, Some(msg.message_id), kind, &payload, None).await?;
    sqlx::query("UPDATE conversations SET status = 'open', updated_at = now() WHERE tenant_id = $1 AND conversation_id = $2 AND status = 'closed'")
        .bind(tenant.0)
        .bind(conversation.0)
        .execute(&mut *tx)
        .await?;
    bot::pause_for_human(&mut tx, tenant, conversation.0, viewer.user_id.0).await?;
    tx.commit().await?;
    Ok(msg)
}

/// Sends a failed outbound message of a visible conversation again, when its failure says a
/// retry may work (`error.retryable`): the message goes back to `queued` (its error cleared) and
/// its outbox row to `pending` with fresh attempts, in one transaction. A message that is not a
/// failed outbound one is a `Conflict` (409); one whose failure is final (a closed 24-hour
/// window, an undeliverable number...) is refused as `not_retryable` (422).
pub async fn retry(pool: &PgPool, viewer: &Viewer, message: MessageId) -> StoreResult<Message> {
    let tenant = viewer.tenant_id;
    let mut tx = pool.begin().await?;
    let found: Option<(i64, String, String, Option<sqlx::types::Json<MessageError>>)> = sqlx::query_as(
        "SELECT conversation_id, direction, status, error FROM messages
         WHERE tenant_id = $1 AND message_id = $2 FOR UPDATE",
    )
    .bind(tenant.0)
    .bind(message.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((conversation, direction, status, error)) = found else { return Err(StoreError::not_found("message")) };
    // Visibility: the conversation's (a message of an invisible one does not exist to the viewer).
    conversations::get(&mut tx, viewer, ConversationId(conversation))
        .await
        .map_err(|_| StoreError::not_found("message"))?;
    if direction != "out" || status != "failed" {
        return Err(StoreError::Conflict {
            message: format!("only a failed outbound message can be retried; this one is {direction} and {status}"),
            field: None,
        });
    }
    if !error.as_ref().is_some_and(|e| e.0.retryable) {
        return Err(StoreError::Refused {
            code: "not_retryable",
            message: "this failure is final: sending the message again would fail the same way".to_owned(),
            field: None,
            params: vec![],
        });
    }
    let account: Option<i64> = sqlx::query_scalar(
        "UPDATE outbox SET state = 'pending', attempts = 0, not_before = now(), lease_until = NULL, finished_at = NULL,
                last_error = left('retried by a user; before: ' || coalesce(last_error, ''), 1000), updated_at = now()
         WHERE tenant_id = $1 AND message_id = $2 AND state = 'failed'
         RETURNING channel_account_id",
    )
    .bind(tenant.0)
    .bind(message.0)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(account) = account else {
        return Err(StoreError::Conflict {
            message: "the message has no failed send to retry (it was not sent through WhatsApp)".to_owned(),
            field: None,
        });
    };
    let sql = format!(
        "UPDATE messages m SET status = 'queued', error = NULL, unconfirmed = false
         WHERE m.tenant_id = $1 AND m.message_id = $2 RETURNING {COLUMNS}"
    );
    let msg: Message =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(message.0).fetch_one(&mut *tx).await?;
    // message_statuses keeps the first failure as history; `error` shows the latest.
    sqlx::query("SELECT pg_notify('platica_outbox', $1::text || ':' || $2::text)")
        .bind(tenant.0)
        .bind(account)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(msg)
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MarkedRead {
    pub conversation_id: i64,
    /// Inbound messages marked read by this call.
    pub marked: u64,
    pub unread_count: i64,
    /// The caller is not the conversation's owner (the executive its prospect is assigned to):
    /// its unread messages stay unread for the owner, and WhatsApp is not told they were read.
    pub kept_for_owner: bool,
}

/// Marks every unread inbound message of a visible conversation read, when the viewer is its
/// owner or it has none ([`platica_domain::policy::reading_marks_read`]); otherwise changes
/// nothing and says so.
pub async fn mark_read(pool: &PgPool, viewer: &Viewer, conversation: ConversationId) -> StoreResult<MarkedRead> {
    let mut tx = pool.begin().await?;
    let row = conversations::get(&mut tx, viewer, conversation).await?;
    if !platica_domain::policy::reading_marks_read(viewer, row.executive_id.map(UserId)) {
        return Ok(MarkedRead {
            conversation_id: conversation.0,
            marked: 0,
            unread_count: row.unread_count,
            kept_for_owner: true,
        });
    }
    let done = sqlx::query(
        "UPDATE messages SET read_at = now()
         WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'in' AND read_at IS NULL",
    )
    .bind(viewer.tenant_id.0)
    .bind(conversation.0)
    .execute(&mut *tx)
    .await?;
    // Tell WhatsApp too (blue ticks on the prospect's phone), with the same commit.
    if done.rows_affected() > 0 {
        outbox::enqueue_read_receipt(&mut tx, viewer.tenant_id, conversation).await?;
    }
    tx.commit().await?;
    Ok(MarkedRead {
        conversation_id: conversation.0,
        marked: done.rows_affected(),
        unread_count: 0,
        kept_for_owner: false,
    })
}

/// An inbound message from a channel. Idempotent on `external_id`: `Ok(None)` when it was
/// already stored. A closed or snoozed conversation is opened again.
pub async fn ingest_inbound(
    pool: &PgPool,
    tenant: TenantId,
    conversation: ConversationId,
    external_id: &str,
    body: &str,
) -> StoreResult<Option<Message>> {
    let sql = format!(
        "INSERT INTO messages AS m (tenant_id, conversation_id, direction, sender_kind, body, external_id, status)
         SELECT $1, c.conversation_id, 'in', 'prospect', $4, $3, 'delivered'
         FROM conversations c WHERE c.tenant_id = $1 AND c.conversation_id = $2
         ON CONFLICT (tenant_id, external_id) DO NOTHING
         RETURNING {COLUMNS}"
    );
    let mut tx = pool.begin().await?;
    let row: Option<Message> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(conversation.0)
        .bind(external_id)
        .bind(body)
        .fetch_optional(&mut *tx)
        .await?;
    if row.is_some() {
        sqlx::query(
            "UPDATE conversations SET status = 'open', updated_at = now()
             WHERE tenant_id = $1 AND conversation_id = $2 AND status <> 'open'",
        )
        .bind(tenant.0)
        .bind(conversation.0)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    if row.is_none() {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM conversations WHERE tenant_id = $1 AND conversation_id = $2)",
        )
        .bind(tenant.0)
        .bind(conversation.0)
        .fetch_one(pool)
        .await?;
        if !exists {
            return Err(StoreError::not_found("conversation"));
        }
    }
    Ok(row)
}

/// Delivery progress of an outbound message. Status only moves forward
/// (queued → sent → delivered → read → played; `failed` only before delivery): a late `delivered` never
/// overwrites `read`. Returns whether the status changed.
pub async fn advance_status(pool: &PgPool, tenant: TenantId, message: MessageId, status: &str) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE messages SET status = $3
         WHERE tenant_id = $1 AND message_id = $2 AND direction = 'out'
           AND CASE $3 WHEN 'sent' THEN status = 'queued'
                       WHEN 'delivered' THEN status IN ('queued', 'sent')
                       WHEN 'read' THEN status IN ('queued', 'sent', 'delivered')
                       WHEN 'played' THEN status IN ('queued', 'sent', 'delivered', 'read')
                       WHEN 'failed' THEN status IN ('queued', 'sent')
                       ELSE false END",
    )
    .bind(tenant.0)
    .bind(message.0)
    .bind(status)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A teammate who may be mentioned in a conversation's notes: one who sees the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Mentionable {
    pub user_id: i64,
    pub display_name: String,
}

/// The active users of the tenant who see `conversation` (the visibility rule, applied to each),
/// by name. The caller has checked the viewer sees it.
async fn who_sees(
    conn: &mut sqlx::PgConnection,
    tenant: TenantId,
    row: &platica_domain::inbox::InboxRow,
) -> StoreResult<Vec<(Mentionable, bool)>> {
    let users: Vec<(i64, String, String, bool, Vec<i64>)> = sqlx::query_as(
        "SELECT u.user_id, u.display_name, u.role, u.active,
                ARRAY(SELECT ct.team_id FROM coordinator_teams ct
                      WHERE ct.tenant_id = u.tenant_id AND ct.user_id = u.user_id ORDER BY 1)
         FROM users u WHERE u.tenant_id = $1 ORDER BY lower(u.display_name), u.user_id",
    )
    .bind(tenant.0)
    .fetch_all(&mut *conn)
    .await?;
    let placement = platica_domain::visibility::Placement {
        tenant_id: tenant,
        team_id: platica_domain::TeamId(row.team_id),
        executive_id: row.executive_id.map(UserId),
    };
    Ok(users
        .into_iter()
        .map(|(user_id, display_name, role, active, teams)| {
            let sees = active
                && platica_domain::Role::parse(&role).is_some_and(|role| {
                    let viewer = Viewer {
                        tenant_id: tenant,
                        user_id: UserId(user_id),
                        role,
                        teams: if platica_domain::policy::coordinates_teams(role) {
                            teams.into_iter().map(platica_domain::TeamId).collect()
                        } else {
                            Default::default()
                        },
                    };
                    platica_domain::visibility::can_see(&viewer, &placement)
                });
            (Mentionable { user_id, display_name }, sees)
        })
        .collect())
}

/// The teammates who may be mentioned in a visible conversation's notes: the active users who
/// see it, by name.
pub async fn mentionable(
    pool: &PgPool,
    viewer: &Viewer,
    conversation: ConversationId,
) -> StoreResult<Vec<Mentionable>> {
    let mut conn = pool.acquire().await?;
    let row = conversations::get(&mut conn, viewer, conversation).await?;
    Ok(who_sees(&mut conn, viewer.tenant_id, &row)
        .await?
        .into_iter()
        .filter(|(_, sees)| *sees)
        .map(|(m, _)| m)
        .collect())
}

/// Writes a private note in a visible conversation: a message of kind `note`, shown to everyone
/// who sees the conversation and never handed to the outbox (the database refuses it there too).
/// It is allowed whether or not the 24-hour window is open, and changes neither the window nor
/// the unread count. Each mentioned teammate must see the conversation, else the note is refused
/// (`mention_not_visible`, naming them); each is told by a notification (`note_mention`).
pub async fn note(
    pool: &PgPool,
    viewer: &Viewer,
    conversation: ConversationId,
    body: &str,
    mentions: &[i64],
) -> StoreResult<Message> {
    let tenant = viewer.tenant_id;
    let mut tx = pool.begin().await?;
    let row = conversations::get(&mut tx, viewer, conversation).await?;
    let mut mentions = mentions.to_vec();
    mentions.sort_unstable();
    mentions.dedup();
    if !mentions.is_empty() {
        let people = who_sees(&mut tx, tenant, &row).await?;
        let mut unknown = Vec::new();
        let mut blind = Vec::new();
        for id in &mentions {
            match people.iter().find(|(m, _)| m.user_id == *id) {
                None => unknown.push(id.to_string()),
                Some((m, false)) => blind.push(m.display_name.clone()),
                Some((_, true)) => {}
            }
        }
        if !unknown.is_empty() {
            return Err(StoreError::Refused {
                code: "unknown_user",
                message: format!("no such user in this organisation: {}", unknown.join(", ")),
                field: Some("mentions"),
                params: vec![],
            });
        }
        if !blind.is_empty() {
            return Err(StoreError::Refused {
                code: "mention_not_visible",
                message: format!("cannot mention who does not see this conversation: {}", blind.join(", ")),
                field: Some("mentions"),
                params: vec![("names", blind.join(", "))],
            });
        }
    }
    let sql = format!(
        "INSERT INTO messages AS m (tenant_id, conversation_id, direction, sender_kind, sender_user_id, body, status, kind)
         VALUES ($1, $2, 'out', 'executive', $3, $4, 'sent', 'note') RETURNING {COLUMNS}"
    );
    let msg: Message = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(conversation.0)
        .bind(viewer.user_id.0)
        .bind(body)
        .fetch_one(&mut *tx)
        .await?;
    if !mentions.is_empty() {
        sqlx::query(
            "INSERT INTO message_mentions (tenant_id, message_id, user_id) SELECT $1, $2, unnest($3::bigint[])",
        )
        .bind(tenant.0)
        .bind(msg.message_id)
        .bind(&mentions)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    tracing::debug!(tenant = tenant.0, conversation = conversation.0, mentions = mentions.len(), "note written");
    Ok(msg)
}
