//! Inbound WhatsApp traffic, already authenticated and parsed: messages (creating the prospect,
//! its conversation and its round-robin assignment when the number is new), delivery statuses
//! (monotonic), and the log of payloads that were not turned into domain rows.
//!
//! One webhook is one transaction: either everything it carries is stored or nothing is (and the
//! Cloud API retries). Redeliveries change nothing: messages are unique on
//! `(tenant_id, external_id)`, statuses on `(tenant_id, message_id, status)`.

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use sqlx::{PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};
use crate::whatsapp::channels::WebhookAccount;

/// The name of a prospect known only by its business-scoped user id, without a profile name.
pub const UNNAMED: &str = "WhatsApp user";

/// Most payload bytes kept in `webhook_events`.
pub const MAX_LOGGED_PAYLOAD: usize = 64 * 1024;

/// An inbound message, parsed.
#[derive(Clone, Debug)]
pub struct InboundMessage {
    /// WhatsApp's message id (`wamid...`).
    pub external_id: String,
    /// The sender's phone number in E.164 (`+<wa_id>`), when WhatsApp shows it.
    pub phone: Option<String>,
    /// The sender's business-scoped user id (`US.1349…`), when the payload has one. A message
    /// has a phone, a BSUID or both.
    pub bsuid: Option<String>,
    /// The sender's profile name (or username), when the payload has one.
    pub profile_name: Option<String>,
    /// The Cloud API type (`text`, `image`, `interactive`...).
    pub wa_type: String,
    /// The text, or a typed placeholder (`[image] caption`).
    pub body: String,
    pub media_id: Option<String>,
    pub mime_type: Option<String>,
    pub caption: Option<String>,
    pub filename: Option<String>,
    /// The message this one replies to.
    pub context_external_id: Option<String>,
    /// The message object as received (type-specific part, timestamp, errors).
    pub details: serde_json::Value,
    /// Its structure beyond the text, as the API shows it (`None` for plain text).
    pub content: Option<serde_json::Value>,
}

/// Delivery statuses WhatsApp reports for outbound messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    /// A voice message was played (after `read`).
    Played,
    Failed,
}

impl DeliveryStatus {
    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        Some(match s {
            "sent" => DeliveryStatus::Sent,
            "delivered" => DeliveryStatus::Delivered,
            "read" => DeliveryStatus::Read,
            "played" => DeliveryStatus::Played,
            "failed" => DeliveryStatus::Failed,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Read => "read",
            DeliveryStatus::Played => "played",
            DeliveryStatus::Failed => "failed",
        }
    }
}

/// A status update, parsed.
#[derive(Clone, Debug)]
pub struct StatusUpdate {
    /// The outbound message's WhatsApp id.
    pub external_id: String,
    pub status: DeliveryStatus,
    pub occurred_at: Option<DateTime<Utc>>,
    pub error_code: Option<i32>,
    pub error_title: Option<String>,
    pub error_detail: Option<String>,
    /// `biz_opaque_callback_data` as sent: names the message before its WhatsApp id is known.
    pub callback: Option<String>,
}

/// An inbound message that was stored (not a redelivery): what the bot answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredInbound {
    pub conversation_id: i64,
    pub message_id: i64,
    pub body: String,
    /// Its conversation was created by this message.
    pub new_conversation: bool,
}

/// What one ingestion did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestReport {
    pub messages_stored: u32,
    pub messages_duplicate: u32,
    pub prospects_created: u32,
    pub statuses_applied: u32,
    /// Recorded but not applied: late (`delivered` after `read`) or repeated.
    pub statuses_stale: u32,
    /// About messages Platica does not know (e.g. sent from another client of the number).
    pub statuses_unknown: u32,
    /// The messages stored, in payload order.
    pub stored: Vec<StoredInbound>,
}

/// What the lookup knows of one message before anything is written.
struct Known {
    /// Stored by an earlier delivery.
    seen: bool,
    prospect: bool,
    /// The prospect has its WhatsApp conversation.
    conversation: bool,
}

/// Stores a webhook's messages and statuses for `account`, in one transaction.
///
/// Most webhooks carry one message from a known prospect, or one status: that is a single
/// statement, its own transaction. Anything else (a batch, a new sender, a status that names its
/// message only by callback data) runs in an explicit transaction; the single statement, when it
/// was tried first, wrote nothing in those cases.
pub async fn ingest(
    pool: &PgPool,
    account: &WebhookAccount,
    messages: &[InboundMessage],
    statuses: &[StatusUpdate],
) -> StoreResult<IngestReport> {
    let tenant = account.tenant_id;
    let mut report = IngestReport::default();
    match (messages, statuses) {
        ([m], []) => {
            if let Some(report) = store_known(pool, account, m).await? {
                return Ok(report);
            }
        }
        ([], [s]) => {
            let outcome = status_by(pool, tenant, s).await?;
            if outcome.is_some() || s.callback.is_none() {
                report.status_outcome(tenant, s, outcome);
                return Ok(report);
            }
        }
        _ => {}
    }
    ingest_in_transaction(pool, account, messages, statuses, report).await
}

/// [`ingest`] without its single-statement attempt, for a caller that already made it (the
/// webhook's batches): new senders, redeliveries and statuses, in one explicit transaction.
/// `report` is what was counted before (nothing written).
pub async fn ingest_in_transaction(
    pool: &PgPool,
    account: &WebhookAccount,
    messages: &[InboundMessage],
    statuses: &[StatusUpdate],
    mut report: IngestReport,
) -> StoreResult<IngestReport> {
    let tenant = account.tenant_id;
    let mut tx = pool.begin().await?;
    let mut known = Vec::with_capacity(messages.len());
    for m in messages {
        known.push(lookup(&mut tx, tenant, m).await?);
    }
    // New senders need the account's round-robin cursor: take its lock before any other write,
    // so concurrent webhooks of one number queue here instead of deadlocking.
    if known.iter().any(|k| !k.seen && !k.prospect) {
        lock_account(&mut tx, account).await?;
    }
    for (m, k) in messages.iter().zip(&known) {
        store_message(&mut tx, account, m, k, &mut report).await?;
    }
    for s in statuses {
        apply_status(&mut tx, tenant, s, &mut report).await?;
    }
    tx.commit().await?;
    Ok(report)
}

impl IngestReport {
    fn stored_one(&mut self, m: &InboundMessage, conversation_id: i64, message_id: i64, new_conversation: bool) {
        self.messages_stored += 1;
        self.stored.push(StoredInbound { conversation_id, message_id, body: m.body.clone(), new_conversation });
    }
}

/// Whether a message is a redelivery, and whether its sender's prospect and conversation exist.
///
/// The sender's prospect is the one whose identity holds the sender's (`$2` phone, `$3` BSUID)
/// whole: the one with the phone (and the BSUID too, when the message has one), else, for a
/// sender without a phone, the one with the BSUID. A sender that adds a key the prospect lacks
/// (or whose keys name two prospects) has none here: [`resolve_prospect`] completes or merges
/// them first. The single-statement paths ([`insert_known`], [`store_known_batch`]) match the
/// same way.
async fn lookup(conn: &mut PgConnection, tenant: TenantId, m: &InboundMessage) -> StoreResult<Known> {
    let (seen, prospect, conversation): (bool, bool, bool) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM messages m WHERE m.tenant_id = $1 AND m.external_id = $4),
                p.prospect_id IS NOT NULL, c.conversation_id IS NOT NULL
         FROM (SELECT) AS one
         LEFT JOIN prospects p ON p.tenant_id = $1
               AND ((p.phone = $2 AND ($3::text IS NULL OR p.bsuid = $3)) OR ($2::text IS NULL AND p.bsuid = $3))
         LEFT JOIN conversations c ON c.tenant_id = $1 AND c.prospect_id = p.prospect_id AND c.channel = 'whatsapp'",
    )
    .bind(tenant.0)
    .bind(&m.phone)
    .bind(&m.bsuid)
    .bind(&m.external_id)
    .fetch_one(conn)
    .await?;
    Ok(Known { seen, prospect, conversation })
}

/// What [`insert_known`] did.
enum Inserted {
    Stored {
        conversation_id: i64,
        message_id: i64,
    },
    /// Stored before (a redelivery).
    Duplicate,
    /// The sender has no prospect or no WhatsApp conversation yet: nothing was written.
    UnknownSender,
}

/// Stores a message from a sender whose prospect and WhatsApp conversation exist, in one
/// statement: the message, its WhatsApp details (their foreign key is checked at the statement's
/// end, when the message exists) and the reopening of a closed conversation.
async fn insert_known<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    account: &WebhookAccount,
    m: &InboundMessage,
) -> StoreResult<Inserted> {
    // Two arms, at most one of which can match (the second only for a sender without a phone),
    // each a probe of one unique index.
    let row: Option<(i64, Option<i64>)> = sqlx::query_as(
        "WITH k AS (
             SELECT c.conversation_id FROM prospects p
             JOIN conversations c ON c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id AND c.channel = 'whatsapp'
             WHERE p.tenant_id = $1 AND p.phone = $2 AND ($14::text IS NULL OR p.bsuid = $14)
             UNION ALL
             SELECT c.conversation_id FROM prospects p
             JOIN conversations c ON c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id AND c.channel = 'whatsapp'
             WHERE $2::text IS NULL AND p.tenant_id = $1 AND p.bsuid = $14
         ), m AS (
             INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, external_id, status)
             SELECT $1, conversation_id, 'in', 'prospect', $3, $4, 'delivered' FROM k
             ON CONFLICT (tenant_id, external_id) DO NOTHING RETURNING message_id, conversation_id
         ), w AS (
             INSERT INTO whatsapp_messages (tenant_id, message_id, channel_account_id, wa_type, media_id, mime_type,
                 caption, filename, context_external_id, details, content)
             SELECT $1, message_id, $5, $6, $7, $8, $9, $10, $11, $12, $13 FROM m
         ), reopened AS (
             UPDATE conversations SET status = 'open', updated_at = now()
             WHERE tenant_id = $1 AND conversation_id IN (SELECT conversation_id FROM m) AND status <> 'open'
         )
         SELECT k.conversation_id, (SELECT message_id FROM m) FROM k",
    )
    .bind(account.tenant_id.0)
    .bind(&m.phone)
    .bind(&m.body)
    .bind(&m.external_id)
    .bind(account.channel_account_id)
    .bind(&m.wa_type)
    .bind(&m.media_id)
    .bind(&m.mime_type)
    .bind(&m.caption)
    .bind(&m.filename)
    .bind(&m.context_external_id)
    .bind(&m.details)
    .bind(&m.content)
    .bind(&m.bsuid)
    .fetch_optional(ex)
    .await?;
    Ok(match row {
        None => Inserted::UnknownSender,
        Some((conversation_id, Some(message_id))) => Inserted::Stored { conversation_id, message_id },
        // The same id twice in one batch, or stored meanwhile by a concurrent delivery.
        Some((_, None)) => Inserted::Duplicate,
    })
}

/// Stores one message from a sender that is probably known, in one statement (the single-job
/// case of [`store_known_batch`], whose statement is costlier to plan). `None`: the sender has no
/// prospect or WhatsApp conversation yet, nothing was written.
pub async fn store_known(
    pool: &PgPool,
    account: &WebhookAccount,
    m: &InboundMessage,
) -> StoreResult<Option<IngestReport>> {
    let mut report = IngestReport::default();
    match insert_known(pool, account, m).await? {
        Inserted::Stored { conversation_id, message_id } => report.stored_one(m, conversation_id, message_id, false),
        Inserted::Duplicate => report.messages_duplicate += 1,
        Inserted::UnknownSender => return Ok(None),
    }
    Ok(Some(report))
}

/// A webhook's messages, from senders that are probably known (see [`store_known_batch`]).
pub struct KnownJob<'a> {
    pub account: &'a WebhookAccount,
    pub messages: &'a [InboundMessage],
}

/// Stores the messages of several webhooks (of any accounts and tenants) together, in one
/// statement and so one transaction: group commit. Returns, for each job in order, its report, or
/// `None` when one of its senders has no prospect or WhatsApp conversation yet: then nothing of
/// that job was written (pass it to [`ingest`]), so a webhook is still stored whole or not at all.
/// A WhatsApp id repeated within the batch is stored once: its first occurrence.
///
/// One failing row (a database error) fails the whole statement: the caller then stores each job
/// alone, so a bad webhook cannot fail the others.
pub async fn store_known_batch(pool: &PgPool, jobs: &[KnownJob<'_>]) -> StoreResult<Vec<Option<IngestReport>>> {
    // One row per message, with its job's index.
    let rows: Vec<(usize, &WebhookAccount, &InboundMessage)> =
        jobs.iter().enumerate().flat_map(|(i, j)| j.messages.iter().map(move |m| (i, j.account, m))).collect();
    if rows.is_empty() {
        return Ok(jobs.iter().map(|_| None).collect());
    }
    let text = |f: &dyn Fn(&InboundMessage) -> Option<String>| rows.iter().map(|r| f(r.2)).collect::<Vec<_>>();
    let job_ids: Vec<i64> = rows.iter().map(|r| r.0 as i64).collect();
    let tenants: Vec<i64> = rows.iter().map(|r| r.1.tenant_id.0).collect();
    let accounts: Vec<i64> = rows.iter().map(|r| r.1.channel_account_id).collect();
    let details: Vec<serde_json::Value> = rows.iter().map(|r| r.2.details.clone()).collect();
    let contents: Vec<Option<serde_json::Value>> = rows.iter().map(|r| r.2.content.clone()).collect();
    // (ordinal, conversation, message) for the messages of the jobs whose senders are all known.
    let stored: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(
        "WITH x AS (
             SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[],
                                  $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::jsonb[],
                                  $13::bigint[], $14::jsonb[], $15::text[])
                 WITH ORDINALITY AS x(tenant_id, phone, body, external_id, channel_account_id, wa_type,
                                      media_id, mime_type, caption, filename, context_external_id, details, job,
                                      content, bsuid, ord)
         ), looked_up AS (
             -- A correlated subquery, not a join: whatever the plan (PostgreSQL's generic plan
             -- guesses ten rows per array and would hash-join whole tables), each sender is two
             -- index lookups.
             -- The sender is the prospect with its phone (and its BSUID, when it has one), or,
             -- without a phone, the one with its BSUID (see `lookup`).
             SELECT x.*, coalesce(
                     (SELECT c.conversation_id FROM prospects p
                      JOIN conversations c
                        ON c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id AND c.channel = 'whatsapp'
                      WHERE p.tenant_id = x.tenant_id AND p.phone = x.phone
                        AND (x.bsuid IS NULL OR p.bsuid = x.bsuid)),
                     (SELECT c.conversation_id FROM prospects p
                      JOIN conversations c
                        ON c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id AND c.channel = 'whatsapp'
                      WHERE x.phone IS NULL AND p.tenant_id = x.tenant_id AND p.bsuid = x.bsuid)) AS conversation_id
             FROM x
         ), k AS (
             -- Only jobs whose every sender is known: the others are written not at all.
             SELECT * FROM looked_up l
             WHERE NOT EXISTS (SELECT 1 FROM looked_up u WHERE u.job = l.job AND u.conversation_id IS NULL)
         ), m AS (
             INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, external_id, status)
             SELECT tenant_id, conversation_id, 'in', 'prospect', body, external_id, 'delivered' FROM k ORDER BY ord
             ON CONFLICT (tenant_id, external_id) DO NOTHING
             RETURNING tenant_id, message_id, conversation_id, external_id
         ), first AS (
             SELECT DISTINCT ON (tenant_id, external_id) * FROM k ORDER BY tenant_id, external_id, ord
         ), w AS (
             INSERT INTO whatsapp_messages (tenant_id, message_id, channel_account_id, wa_type, media_id, mime_type,
                 caption, filename, context_external_id, details, content)
             SELECT m.tenant_id, m.message_id, f.channel_account_id, f.wa_type, f.media_id, f.mime_type, f.caption,
                    f.filename, f.context_external_id, f.details, f.content
             FROM m JOIN first f USING (tenant_id, external_id)
         ), reopened AS (
             UPDATE conversations SET status = 'open', updated_at = now()
             WHERE (tenant_id, conversation_id) IN (SELECT tenant_id, conversation_id FROM m) AND status <> 'open'
         )
         SELECT k.ord, k.conversation_id, CASE WHEN k.ord = f.ord THEN m.message_id END
         FROM k JOIN first f USING (tenant_id, external_id)
         LEFT JOIN m USING (tenant_id, external_id)
         ORDER BY k.ord",
    )
    .bind(&tenants)
    .bind(text(&|m| m.phone.clone()))
    .bind(rows.iter().map(|r| r.2.body.as_str()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.2.external_id.as_str()).collect::<Vec<_>>())
    .bind(&accounts)
    .bind(rows.iter().map(|r| r.2.wa_type.as_str()).collect::<Vec<_>>())
    .bind(text(&|m| m.media_id.clone()))
    .bind(text(&|m| m.mime_type.clone()))
    .bind(text(&|m| m.caption.clone()))
    .bind(text(&|m| m.filename.clone()))
    .bind(text(&|m| m.context_external_id.clone()))
    .bind(&details)
    .bind(&job_ids)
    .bind(&contents)
    .bind(text(&|m| m.bsuid.clone()))
    .fetch_all(pool)
    .await?;
    let mut out: Vec<Option<IngestReport>> = jobs.iter().map(|_| None).collect();
    for (ord, conversation_id, message_id) in stored {
        let Some((job, _, message)) =
            usize::try_from(ord).ok().and_then(|o| o.checked_sub(1)).and_then(|i| rows.get(i))
        else {
            continue;
        };
        let report = out[*job].get_or_insert_with(IngestReport::default);
        match message_id {
            Some(message_id) => report.stored_one(message, conversation_id, message_id, false),
            None => report.messages_duplicate += 1,
        }
    }
    Ok(out)
}

async fn lock_account(conn: &mut PgConnection, account: &WebhookAccount) -> StoreResult<()> {
    // NO KEY UPDATE, not UPDATE: creators of new prospects queue here, but webhooks checking the
    // foreign key of whatsapp_messages (KEY SHARE on the same row) do not wait for them, nor they
    // for those.
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT channel_account_id FROM channel_accounts WHERE tenant_id = $1 AND channel_account_id = $2
         FOR NO KEY UPDATE",
    )
    .bind(account.tenant_id.0)
    .bind(account.channel_account_id)
    .fetch_optional(conn)
    .await?;
    found.map(|_| ()).ok_or_else(|| StoreError::not_found("channel account"))
}

/// The sender's prospect and conversation, created (with a round-robin assignment) when new.
async fn conversation_for(
    conn: &mut PgConnection,
    account: &WebhookAccount,
    m: &InboundMessage,
    report: &mut IngestReport,
) -> StoreResult<(i64, bool)> {
    let prospect = resolve_prospect(conn, account, m, report).await?;
    crate::inbox::conversations::ensure_whatsapp(conn, account.tenant_id, prospect).await
}

/// The prospect a sender is, made to hold every key the message names:
/// - none has its phone or its BSUID: a new prospect (round-robin assigned);
/// - one has one of them: it takes the other too (the BSUID WhatsApp now gives the number, or
///   the number it now shows for the BSUID: the newest wins);
/// - one has the phone and another the BSUID: they are one person, and [`merge`] makes them one
///   prospect.
async fn resolve_prospect(
    conn: &mut PgConnection,
    account: &WebhookAccount,
    m: &InboundMessage,
    report: &mut IngestReport,
) -> StoreResult<i64> {
    let tenant = account.tenant_id.0;
    let (by_phone, by_bsuid): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT (SELECT prospect_id FROM prospects WHERE tenant_id = $1 AND phone = $2),
                (SELECT prospect_id FROM prospects WHERE tenant_id = $1 AND bsuid = $3)",
    )
    .bind(tenant)
    .bind(&m.phone)
    .bind(&m.bsuid)
    .fetch_one(&mut *conn)
    .await?;
    let prospect = match (by_phone, by_bsuid) {
        (None, None) => return create_prospect(conn, account, m, report).await,
        (Some(a), Some(b)) if a == b => return Ok(a),
        (Some(a), Some(b)) => merge(conn, account.tenant_id, a, b).await?,
        (Some(p), None) | (None, Some(p)) => p,
    };
    // Nobody else holds either key now: the prospect takes both.
    sqlx::query(
        "UPDATE prospects SET phone = coalesce($3, phone), bsuid = coalesce($4, bsuid), updated_at = now()
         WHERE tenant_id = $1 AND prospect_id = $2",
    )
    .bind(tenant)
    .bind(prospect)
    .bind(&m.phone)
    .bind(&m.bsuid)
    .execute(&mut *conn)
    .await?;
    Ok(prospect)
}

/// Makes two prospects that turned out to be one person (one known by the phone, the other by the
/// BSUID) one prospect: the older one (the smaller id) stays, with its name, team, assignee and
/// stage. The other's messages move into its conversation of the same channel (or the whole
/// conversation, where it has none), its calls, scheduled calls, assignment history and campaign
/// places (where not already its) become the older one's, and the other prospect is deleted.
/// Returns the prospect that stays, which then has neither key: the caller gives it both.
pub async fn merge(conn: &mut PgConnection, tenant: TenantId, a: i64, b: i64) -> StoreResult<i64> {
    let (keep, gone) = (a.min(b), a.max(b));
    let t = tenant.0;
    let statements = [
        // Messages of a channel both have: into the kept conversation.
        "UPDATE messages m SET conversation_id = k.conversation_id
         FROM conversations g JOIN conversations k
           ON k.tenant_id = g.tenant_id AND k.prospect_id = $2 AND k.channel = g.channel
         WHERE g.tenant_id = $1 AND g.prospect_id = $3 AND m.tenant_id = $1 AND m.conversation_id = g.conversation_id",
        // A conversation of a channel only the other has: the kept prospect's now.
        "UPDATE conversations g SET prospect_id = $2, updated_at = now()
         WHERE g.tenant_id = $1 AND g.prospect_id = $3
           AND NOT EXISTS (SELECT 1 FROM conversations k WHERE k.tenant_id = $1 AND k.prospect_id = $2
                           AND k.channel = g.channel)",
        // A kept conversation that received the other's messages reopens if either was open.
        "UPDATE conversations k SET status = 'open', updated_at = now()
         FROM conversations g
         WHERE k.tenant_id = $1 AND k.prospect_id = $2 AND g.tenant_id = $1 AND g.prospect_id = $3
           AND g.channel = k.channel AND g.status = 'open' AND k.status <> 'open'",
        "UPDATE calls SET prospect_id = $2 WHERE tenant_id = $1 AND prospect_id = $3",
        "UPDATE scheduled_calls SET prospect_id = $2 WHERE tenant_id = $1 AND prospect_id = $3",
        "UPDATE assignment_history SET prospect_id = $2 WHERE tenant_id = $1 AND prospect_id = $3",
        "UPDATE campaign_recipients r SET prospect_id = $2
         WHERE r.tenant_id = $1 AND r.prospect_id = $3
           AND NOT EXISTS (SELECT 1 FROM campaign_recipients k WHERE k.tenant_id = $1
                           AND k.campaign_id = r.campaign_id AND k.prospect_id = $2)",
        // What is left (emptied conversations, campaign places it already had) goes with it.
        "DELETE FROM prospects WHERE tenant_id = $1 AND prospect_id = $3",
    ];
    for sql in statements {
        sqlx::query(sql).bind(t).bind(keep).bind(gone).execute(&mut *conn).await?;
    }
    tracing::info!(
        tenant_id = t,
        kept = keep,
        merged = gone,
        "one person known by phone and by business-scoped user id: two prospects merged"
    );
    Ok(keep)
}

async fn create_prospect(
    conn: &mut PgConnection,
    account: &WebhookAccount,
    m: &InboundMessage,
    report: &mut IngestReport,
) -> StoreResult<i64> {
    let tenant = account.tenant_id.0;
    // The lock is held (taken in `ingest`): the cursor and the choice are consistent.
    let cursor: Option<i64> = sqlx::query_scalar(
        "SELECT last_assigned_user_id FROM channel_accounts WHERE tenant_id = $1 AND channel_account_id = $2",
    )
    .bind(tenant)
    .bind(account.channel_account_id)
    .fetch_one(&mut *conn)
    .await?;
    // The next operational, active executive after the cursor, by id, wrapping around.
    let executive: Option<i64> = sqlx::query_scalar(
        "SELECT user_id FROM users
         WHERE tenant_id = $1 AND role = 'executive' AND operational AND active
         ORDER BY user_id <= coalesce($2, 0), user_id LIMIT 1",
    )
    .bind(tenant)
    .bind(cursor)
    .fetch_optional(&mut *conn)
    .await?;
    // A name to show: the profile's, else the number; a sender known only by its BSUID and
    // without a profile name is "WhatsApp user" until it tells more.
    let name = m.profile_name.clone().or_else(|| m.phone.clone()).unwrap_or_else(|| UNNAMED.to_owned());
    let created: Option<i64> = sqlx::query_scalar(
        "INSERT INTO prospects (tenant_id, name, phone, bsuid, team_id, executive_id) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT DO NOTHING RETURNING prospect_id",
    )
    .bind(tenant)
    .bind(&name)
    .bind(&m.phone)
    .bind(&m.bsuid)
    .bind(account.default_team_id.0)
    .bind(executive)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = created else {
        // Created meanwhile by someone else (the API, another number's webhook): use it.
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT prospect_id FROM prospects WHERE tenant_id = $1 AND (phone = $2 OR bsuid = $3)
             ORDER BY prospect_id LIMIT 1",
        )
        .bind(tenant)
        .bind(&m.phone)
        .bind(&m.bsuid)
        .fetch_optional(&mut *conn)
        .await?;
        return found.ok_or_else(|| StoreError::not_found("the sender's prospect"));
    };
    sqlx::query(
        "INSERT INTO assignment_history (tenant_id, prospect_id, to_team_id, to_executive_id, kind)
         VALUES ($1, $2, $3, $4, 'single')",
    )
    .bind(tenant)
    .bind(id)
    .bind(account.default_team_id.0)
    .bind(executive)
    .execute(&mut *conn)
    .await?;
    if executive.is_some() {
        sqlx::query(
            "UPDATE channel_accounts SET last_assigned_user_id = $3 WHERE tenant_id = $1 AND channel_account_id = $2",
        )
        .bind(tenant)
        .bind(account.channel_account_id)
        .bind(executive)
        .execute(&mut *conn)
        .await?;
    } else {
        tracing::warn!(
            tenant_id = tenant,
            channel_account_id = account.channel_account_id,
            "no operational executive: the new prospect is unassigned"
        );
    }
    report.prospects_created += 1;
    tracing::info!(tenant_id = tenant, channel_account_id = account.channel_account_id, prospect_id = id,
        executive_id = ?executive, "new prospect from WhatsApp");
    Ok(id)
}

async fn store_message(
    conn: &mut PgConnection,
    account: &WebhookAccount,
    m: &InboundMessage,
    known: &Known,
    report: &mut IngestReport,
) -> StoreResult<()> {
    if known.seen {
        report.messages_duplicate += 1;
        return Ok(());
    }
    // A new sender (or one created by an earlier message of this batch, or meanwhile by someone
    // else): its prospect and conversation first.
    let new_conversation = !known.conversation && conversation_for(conn, account, m, report).await?.1;
    match insert_known(&mut *conn, account, m).await? {
        Inserted::Stored { conversation_id, message_id } => {
            report.stored_one(m, conversation_id, message_id, new_conversation)
        }
        Inserted::Duplicate => report.messages_duplicate += 1,
        // Deleted by someone else between the two statements: the Cloud API retries.
        Inserted::UnknownSender => return Err(StoreError::not_found("the sender's conversation")),
    }
    Ok(())
}

/// Moves an outbound message's status forward (queued → sent → delivered → read; `failed` only
/// before delivery) and records the report once per (message, status).
async fn apply_status(
    conn: &mut PgConnection,
    tenant: TenantId,
    s: &StatusUpdate,
    report: &mut IngestReport,
) -> StoreResult<()> {
    let mut outcome = status_by(&mut *conn, tenant, s).await?;
    // Not known by its id yet: the send's answer may still be on its way (or was lost in a
    // crash), but the callback data names the message, which then takes this id.
    if outcome.is_none()
        && let Some(cb) = &s.callback
        && crate::whatsapp::outbox::resolve_by_callback(conn, tenant, cb, &s.external_id).await?.is_some()
    {
        outcome = status_by(&mut *conn, tenant, s).await?;
    }
    report.status_outcome(tenant, s, outcome);
    Ok(())
}

impl IngestReport {
    /// Counts what [`status_by`] did with `s` (and logs failed deliveries).
    fn status_outcome(&mut self, tenant: TenantId, s: &StatusUpdate, outcome: Option<(i64, bool)>) {
        let Some((message, applied)) = outcome else {
            self.statuses_unknown += 1;
            tracing::debug!(tenant_id = tenant.0, external_id = %s.external_id, "status of an unknown message");
            return;
        };
        if applied {
            self.statuses_applied += 1;
        } else {
            self.statuses_stale += 1;
        }
        if s.status == DeliveryStatus::Failed {
            tracing::warn!(tenant_id = tenant.0, message_id = message, code = ?s.error_code, title = ?s.error_title,
                applied, "WhatsApp reports a failed delivery");
        }
    }
}

/// Applies `s` to its outbound message (by WhatsApp id) when it moves the status forward, and
/// records the report once per (message, status), in one statement. Concurrent reports of one
/// message serialise on its row: the update re-checks the status it finds. Returns the message
/// and whether the status was applied; `None` (and nothing written) when no such message exists.
async fn status_by<'e>(
    ex: impl sqlx::PgExecutor<'e>,
    tenant: TenantId,
    s: &StatusUpdate,
) -> StoreResult<Option<(i64, bool)>> {
    Ok(sqlx::query_as(
        "WITH m AS (
             SELECT message_id FROM messages WHERE tenant_id = $1 AND external_id = $2 AND direction = 'out'
         ), u AS (
             UPDATE messages x SET status = $3, error = CASE WHEN $3 = 'failed' THEN $8 ELSE x.error END FROM m
             WHERE x.tenant_id = $1 AND x.message_id = m.message_id
               AND CASE $3 WHEN 'sent' THEN x.status = 'queued'
                           WHEN 'delivered' THEN x.status IN ('queued', 'sent')
                           WHEN 'read' THEN x.status IN ('queued', 'sent', 'delivered')
                           WHEN 'played' THEN x.status IN ('queued', 'sent', 'delivered', 'read')
                           WHEN 'failed' THEN x.status IN ('queued', 'sent')
                           ELSE false END
             RETURNING x.message_id
         ), r AS (
             INSERT INTO message_statuses (tenant_id, message_id, status, occurred_at, applied, error_code,
                 error_title, error_detail)
             SELECT $1, m.message_id, $3, $4, EXISTS (SELECT 1 FROM u), $5, $6, $7 FROM m
             ON CONFLICT (tenant_id, message_id, status) DO NOTHING
         )
         SELECT m.message_id, EXISTS (SELECT 1 FROM u) FROM m",
    )
    .bind(tenant.0)
    .bind(&s.external_id)
    .bind(s.status.as_str())
    .bind(s.occurred_at)
    .bind(s.error_code)
    .bind(&s.error_title)
    .bind(&s.error_detail)
    .bind((s.status == DeliveryStatus::Failed).then(|| {
        sqlx::types::Json(crate::inbox::messages::MessageError {
            code: s.error_code.map(i64::from),
            title: s.error_title.clone().unwrap_or_else(|| "failed".to_owned()),
            detail: s.error_detail.clone(),
            retryable: crate::inbox::messages::retryable_code(s.error_code.map(i64::from)),
            attempts: None,
        })
    }))
    .fetch_optional(ex)
    .await?)
}

/// A prospect's reaction to a message, parsed: not a message of its own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reaction {
    /// The reaction's own WhatsApp id.
    pub external_id: String,
    /// Who reacted: its number (E.164) and/or its business-scoped user id.
    pub phone: Option<String>,
    pub bsuid: Option<String>,
    /// The message reacted to.
    pub target_external_id: String,
    /// `None`: the reaction was removed.
    pub emoji: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

/// A prospect's new number (`system` message `user_changed_number`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberChange {
    /// The number the prospect had, E.164.
    pub from: String,
    /// Its new number, E.164.
    pub to: String,
}

/// Sets (or removes) each reaction on the message it reacts to, when that message is in the
/// reacting prospect's conversation; one statement per reaction. The message row's update is
/// what the change stream carries: no unread count or preview changes. Returns how many messages
/// changed.
pub async fn react(pool: &PgPool, tenant: TenantId, reactions: &[Reaction]) -> StoreResult<u32> {
    let mut changed = 0;
    for r in reactions {
        let done = sqlx::query(
            "UPDATE messages m SET reaction = $4
             FROM conversations c JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
             WHERE m.tenant_id = $1 AND m.external_id = $2
               AND c.tenant_id = $1 AND c.conversation_id = m.conversation_id AND (p.phone = $3 OR p.bsuid = $5)
               AND m.reaction IS DISTINCT FROM $4",
        )
        .bind(tenant.0)
        .bind(&r.target_external_id)
        .bind(&r.phone)
        .bind(&r.emoji)
        .bind(&r.bsuid)
        .execute(pool)
        .await?;
        if done.rows_affected() == 0 {
            tracing::debug!(tenant_id = tenant.0, target = %r.target_external_id, "reaction changes no known message");
        }
        changed += done.rows_affected() as u32;
    }
    Ok(changed)
}

/// Moves a prospect to its new number: the prospect (and so its one conversation and history)
/// keeps its identity and takes the number. Nothing changes when no prospect has the old number
/// or another prospect already has the new one (logged). Returns whether it moved.
pub async fn change_number(pool: &PgPool, tenant: TenantId, change: &NumberChange) -> StoreResult<bool> {
    let moved: Option<i64> = sqlx::query_scalar(
        "UPDATE prospects SET phone = $3
         WHERE tenant_id = $1 AND phone = $2
           AND NOT EXISTS (SELECT 1 FROM prospects q WHERE q.tenant_id = $1 AND q.phone = $3)
         RETURNING prospect_id",
    )
    .bind(tenant.0)
    .bind(&change.from)
    .bind(&change.to)
    .fetch_optional(pool)
    .await?;
    match moved {
        Some(p) => tracing::info!(tenant_id = tenant.0, prospect_id = p, "a prospect changed its WhatsApp number"),
        None => tracing::warn!(tenant_id = tenant.0, "a number change names no prospect, or its new number is taken"),
    }
    Ok(moved.is_some())
}

/// A webhook payload that was authenticated but not (entirely) stored as domain rows.
pub struct WebhookEvent<'a> {
    pub tenant: TenantId,
    pub channel_account_id: Option<i64>,
    /// What the payload was (`malformed_json`, `unknown_object`, ...).
    pub kind: &'a str,
    /// `ignored` or `partial`.
    pub outcome: &'a str,
    pub error: Option<&'a str>,
    pub payload: &'a [u8],
}

/// Logs a webhook payload (its first [`MAX_LOGGED_PAYLOAD`] bytes).
pub async fn log_event(pool: &PgPool, e: &WebhookEvent<'_>) -> StoreResult<i64> {
    let truncated = e.payload.len() > MAX_LOGGED_PAYLOAD;
    let payload = &e.payload[..e.payload.len().min(MAX_LOGGED_PAYLOAD)];
    let error = e.error.map(|s| s.chars().take(1000).collect::<String>());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_events (tenant_id, channel_account_id, kind, outcome, error, payload, payload_truncated)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING webhook_event_id",
    )
    .bind(e.tenant.0)
    .bind(e.channel_account_id)
    .bind(e.kind)
    .bind(e.outcome)
    .bind(error)
    .bind(payload)
    .bind(truncated)
    .fetch_one(pool)
    .await?;
    tracing::warn!(tenant_id = e.tenant.0, channel_account_id = ?e.channel_account_id, webhook_event_id = id,
        kind = e.kind, outcome = e.outcome, error = ?e.error, "webhook payload logged, not stored");
    Ok(id)
}

/// Deletes a tenant's logged webhook payloads older than `days`. Returns how many.
pub async fn purge_webhook_events(pool: &PgPool, tenant: TenantId, days: i32) -> StoreResult<u64> {
    Ok(sqlx::query(
        "DELETE FROM webhook_events WHERE tenant_id = $1 AND received_at < now() - make_interval(days => $2)",
    )
    .bind(tenant.0)
    .bind(days)
    .execute(pool)
    .await?
    .rows_affected())
}
