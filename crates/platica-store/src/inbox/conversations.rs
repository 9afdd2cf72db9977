//! Conversations and the inbox computed in SQL.
//!
//! [`list`] is the *reference* inbox: it recomputes every row from `conversations`, `prospects`,
//! `messages` and `bot_pause` on each call. It is always right and gets slower as the tenant
//! grows; the live inbox engine serves the same rows from memory and is verified against it.

use chrono::{DateTime, Utc};
use platica_domain::inbox::{InboxCursor, InboxPage, InboxRow};
use platica_domain::policy;
use platica_domain::validate::Invalid;
use platica_domain::{ConversationId, ProspectId, Role, TenantId, UserId, Viewer};
use serde::Deserialize;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};

use crate::error::{StoreError, StoreResult};
use crate::inbox::prospects::{push_search, push_visible};

/// Characters of the last message shown in a preview.
pub const PREVIEW_CHARS: i32 = 120;

/// The reference inbox query: every visible conversation of the tenant with its derived fields.
/// Callers append filters on the columns of `InboxRow` (as `i.<column>`).
const INBOX: &str = "
    SELECT c.tenant_id, c.conversation_id, c.prospect_id, p.name AS prospect_name, p.phone AS prospect_phone,
           p.team_id, p.executive_id, c.channel, c.status, c.snoozed_until,
           (ARRAY['none', 'low', 'medium', 'high', 'urgent'])[c.priority + 1] AS priority,
           ARRAY(SELECT cl.label_id FROM conversation_labels cl WHERE cl.tenant_id = c.tenant_id
                 AND cl.conversation_id = c.conversation_id ORDER BY cl.label_id) AS label_ids,
           lm.message_id AS last_message_id, left(lm.body, 120) AS last_message_preview,
           lm.created_at AS last_message_at, lm.direction AS last_message_direction,
           lm.sender_kind AS last_message_sender,
           coalesce(lm.created_at, c.created_at) AS last_activity_at,
           (SELECT count(*) FROM messages m WHERE m.tenant_id = c.tenant_id
              AND m.conversation_id = c.conversation_id AND m.kind = 'message' AND m.direction = 'in' AND m.read_at IS NULL) AS unread_count,
           (SELECT count(*) FROM messages m WHERE m.tenant_id = c.tenant_id
              AND m.conversation_id = c.conversation_id AND m.kind = 'message') AS message_count,
           coalesce(bp.paused, false) AS bot_paused,
           c.created_at
    FROM conversations c
    JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
    LEFT JOIN LATERAL (
        SELECT m.message_id, m.body, m.created_at, m.direction, m.sender_kind FROM messages m
        WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id AND m.kind = 'message'
        ORDER BY m.created_at DESC, m.message_id DESC LIMIT 1) lm ON true
    LEFT JOIN bot_pause bp ON bp.tenant_id = c.tenant_id AND bp.conversation_id = c.conversation_id
    WHERE true";

/// The reference inbox as SQL text: every conversation of every tenant with its derived fields
/// (columns of [`InboxRow`] plus `tenant_id`), ending in `WHERE true` so conditions can follow.
/// The benchmarks build their SQL alternatives from it.
pub const REFERENCE_INBOX_SQL: &str = INBOX;

/// Filters of the inbox.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboxFilter {
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    /// Only conversations with unread inbound messages (`true`), or only without (`false`).
    pub unread: Option<bool>,
    /// `open`, `snoozed` or `closed`.
    pub status: Option<String>,
    /// Words starting words of the prospect's name (case and accents aside), or a phone's
    /// digits, in local or international form (see `platica_domain::search`).
    pub q: Option<String>,
    /// `mine` (assigned to the viewer), `unassigned` (no executive) or `all` (the default).
    pub view: Option<String>,
    /// Only conversations with this label.
    pub label_id: Option<i64>,
    /// Only conversations of this priority (`none` ... `urgent`).
    pub priority: Option<String>,
    /// `latest` (default: newest activity first), `waiting` (only conversations whose last
    /// message is inbound, the longest waiting first) or `unread_first`.
    pub sort: Option<String>,
}

/// `SELECT <projection> FROM (<inbox of viewer>) i WHERE <filters>`: callers may append more
/// conditions on `i`, an ORDER BY and a LIMIT.
fn inbox_query(projection: &str, viewer: &Viewer, filter: &InboxFilter) -> QueryBuilder<Postgres> {
    let mut qb = QueryBuilder::new(format!("SELECT {projection} FROM ("));
    qb.push(INBOX);
    push_visible(&mut qb, viewer, "p");
    if let Some(t) = filter.team_id {
        qb.push(" AND p.team_id = ").push_bind(t);
    }
    if let Some(e) = filter.executive_id {
        qb.push(" AND p.executive_id = ").push_bind(e);
    }
    if let Some(s) = &filter.status {
        qb.push(" AND c.status = ").push_bind(s.clone());
    }
    match filter.view.as_deref() {
        Some("mine") => {
            qb.push(" AND p.executive_id = ").push_bind(viewer.user_id.0);
        }
        Some("unassigned") => {
            qb.push(" AND p.executive_id IS NULL");
        }
        _ => {}
    }
    if let Some(l) = filter.label_id {
        qb.push(" AND EXISTS (SELECT 1 FROM conversation_labels cl WHERE cl.tenant_id = c.tenant_id AND cl.conversation_id = c.conversation_id AND cl.label_id = ")
            .push_bind(l)
            .push(")");
    }
    if let Some(rank) = filter.priority.as_deref().and_then(platica_domain::inbox::priority_rank) {
        qb.push(" AND c.priority = ").push_bind(i16::from(rank));
    }
    if let Some(q) = filter.q.as_deref().filter(|q| !q.is_empty()) {
        push_search(&mut qb, q, "p");
    }
    qb.push(") i WHERE true");
    match filter.unread {
        Some(true) => {
            qb.push(" AND i.unread_count > 0");
        }
        Some(false) => {
            qb.push(" AND i.unread_count = 0");
        }
        None => {}
    }
    if filter.sort.as_deref() == Some("waiting") {
        qb.push(" AND i.last_message_direction = 'in'");
    }
    qb
}

/// The reference inbox: one page of visible conversations in `filter.sort`'s order.
pub async fn list(
    pool: &PgPool,
    viewer: &Viewer,
    filter: &InboxFilter,
    after: Option<InboxCursor>,
    limit: i64,
) -> StoreResult<InboxPage> {
    let mut conn = pool.acquire().await?;
    let mut qb = inbox_query("i.*", viewer, filter);
    let sort = filter.sort.as_deref().unwrap_or("latest");
    match (sort, after) {
        (_, None) => {}
        ("waiting", Some(c)) => {
            qb.push(" AND (i.last_activity_at, i.conversation_id) > (")
                .push_bind(c.cursor.at)
                .push(", ")
                .push_bind(c.cursor.id)
                .push(")");
        }
        ("unread_first", Some(c)) => {
            // Unread part first (rest = false), then the rest; each newest first.
            qb.push(" AND ((i.unread_count = 0) > ")
                .push_bind(c.rest)
                .push(" OR ((i.unread_count = 0) = ")
                .push_bind(c.rest)
                .push(" AND (i.last_activity_at, i.conversation_id) < (")
                .push_bind(c.cursor.at)
                .push(", ")
                .push_bind(c.cursor.id)
                .push(")))");
        }
        (_, Some(c)) => {
            qb.push(" AND (i.last_activity_at, i.conversation_id) < (")
                .push_bind(c.cursor.at)
                .push(", ")
                .push_bind(c.cursor.id)
                .push(")");
        }
    }
    qb.push(match sort {
        "waiting" => " ORDER BY i.last_activity_at, i.conversation_id LIMIT ",
        "unread_first" => " ORDER BY i.unread_count = 0, i.last_activity_at DESC, i.conversation_id DESC LIMIT ",
        _ => " ORDER BY i.last_activity_at DESC, i.conversation_id DESC LIMIT ",
    })
    .push_bind(limit + 1);
    let mut items: Vec<InboxRow> = qb.build_query_as().fetch_all(&mut *conn).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items
            .last()
            .map(|r| InboxCursor { cursor: r.cursor(), rest: sort == "unread_first" && r.unread_count == 0 }.encode())
    } else {
        None
    };
    let (total, unread): (i64, i64) =
        inbox_query("count(*), count(*) FILTER (WHERE i.unread_count > 0)", viewer, filter)
            .build_query_as()
            .fetch_one(&mut *conn)
            .await?;
    Ok(InboxPage { items, next_cursor, total, unread, stale_since: None })
}

/// Every inbox row of a tenant in inbox order, recomputed in SQL: the reference the live inbox is
/// verified against. Runs on `conn` so a caller can pin it to a snapshot.
pub async fn reference_rows(conn: &mut PgConnection, tenant: TenantId) -> StoreResult<Vec<InboxRow>> {
    let admin = Viewer { tenant_id: tenant, user_id: UserId(0), role: Role::Admin, teams: Default::default() };
    let mut qb = inbox_query("i.*", &admin, &InboxFilter::default());
    qb.push(" ORDER BY i.last_activity_at DESC, i.conversation_id DESC");
    Ok(qb.build_query_as().fetch_all(conn).await?)
}

/// One visible conversation as an inbox row.
pub async fn get(conn: &mut PgConnection, viewer: &Viewer, id: ConversationId) -> StoreResult<InboxRow> {
    let mut qb = inbox_query("i.*", viewer, &InboxFilter::default());
    qb.push(" AND i.conversation_id = ").push_bind(id.0);
    let row: Option<InboxRow> = qb.build_query_as().fetch_optional(conn).await?;
    row.ok_or_else(|| StoreError::not_found("conversation"))
}

/// Every conversation of a visible prospect (one per channel), as inbox rows, by last activity;
/// a prospect the viewer cannot see is not found.
pub async fn of_prospect(pool: &PgPool, viewer: &Viewer, prospect: ProspectId) -> StoreResult<Vec<InboxRow>> {
    let mut conn = pool.acquire().await?;
    crate::inbox::prospects::get(&mut conn, viewer, prospect).await?;
    let mut qb = QueryBuilder::new("SELECT i.* FROM (");
    qb.push(INBOX);
    push_visible(&mut qb, viewer, "p");
    qb.push(" AND c.prospect_id = ").push_bind(prospect.0);
    qb.push(") i ORDER BY i.last_activity_at DESC, i.conversation_id DESC");
    Ok(qb.build_query_as().fetch_all(&mut *conn).await?)
}

/// A change of a conversation's triage state: each field set is changed, the others are left.
#[derive(Clone, Debug, Default)]
pub struct Triage {
    /// `open`, `snoozed` (then `snoozed_until` is required) or `closed`.
    pub status: Option<String>,
    /// When a snooze ends (with `status: snoozed` only; must be in the future).
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Rank 0 (none) to 4 (urgent).
    pub priority: Option<u8>,
    /// Labels to put on it (already there: nothing happens).
    pub labels_add: Vec<i64>,
    /// Labels to take off it (not there: nothing happens).
    pub labels_remove: Vec<i64>,
}

/// Changes a visible conversation's status (open, snoozed until a time, closed), priority and
/// labels, in one transaction.
pub async fn update(pool: &PgPool, viewer: &Viewer, id: ConversationId, t: &Triage) -> StoreResult<InboxRow> {
    if !policy::may_triage(viewer) {
        return Err(StoreError::Forbidden("your role may not change conversations"));
    }
    match (t.status.as_deref(), t.snoozed_until) {
        (Some("snoozed"), None) => {
            return Err(Invalid::new("snoozed_until", "snoozed_until is required to snooze").into());
        }
        (Some("snoozed"), Some(until)) if until <= Utc::now() => {
            return Err(Invalid::new("snoozed_until", "snoozed_until must be in the future").into());
        }
        (Some("snoozed"), Some(_)) => {}
        (_, Some(_)) => {
            return Err(Invalid::new("snoozed_until", "snoozed_until goes with status snoozed").into());
        }
        _ => {}
    }
    let mut tx = pool.begin().await?;
    get(&mut tx, viewer, id).await?;
    sqlx::query(
        "UPDATE conversations SET status = coalesce($3, status),
                snoozed_until = CASE WHEN $3 IS NULL THEN snoozed_until ELSE $4 END,
                priority = coalesce($5, priority), updated_at = now()
         WHERE tenant_id = $1 AND conversation_id = $2",
    )
    .bind(viewer.tenant_id.0)
    .bind(id.0)
    .bind(t.status.as_deref())
    .bind(t.snoozed_until)
    .bind(t.priority.map(i16::from))
    .execute(&mut *tx)
    .await?;
    let named: Vec<i64> = t.labels_add.iter().chain(&t.labels_remove).copied().collect();
    if !named.is_empty() {
        let known: i64 = sqlx::query_scalar("SELECT count(*) FROM labels WHERE tenant_id = $1 AND label_id = ANY($2)")
            .bind(viewer.tenant_id.0)
            .bind(&named)
            .fetch_one(&mut *tx)
            .await?;
        let distinct: std::collections::BTreeSet<i64> = named.iter().copied().collect();
        if known != distinct.len() as i64 {
            let field = if t.labels_add.is_empty() { "labels_remove" } else { "labels_add" };
            return Err(StoreError::missing_ref("label", field));
        }
    }
    if !t.labels_add.is_empty() {
        sqlx::query(
            "INSERT INTO conversation_labels (tenant_id, conversation_id, label_id)
             SELECT $1, $2, unnest($3::bigint[]) ON CONFLICT DO NOTHING",
        )
        .bind(viewer.tenant_id.0)
        .bind(id.0)
        .bind(&t.labels_add)
        .execute(&mut *tx)
        .await?;
    }
    if !t.labels_remove.is_empty() {
        sqlx::query(
            "DELETE FROM conversation_labels WHERE tenant_id = $1 AND conversation_id = $2 AND label_id = ANY($3)",
        )
        .bind(viewer.tenant_id.0)
        .bind(id.0)
        .bind(&t.labels_remove)
        .execute(&mut *tx)
        .await?;
    }
    let row = get(&mut tx, viewer, id).await?;
    tx.commit().await?;
    Ok(row)
}

/// Opens every snoozed conversation whose time has come, in every tenant (the partial index
/// `conversations_snoozed` holds only snoozed rows); returns how many. The scheduler's loop calls
/// it every tick, so a snooze ends within a tick of its time, in SQL and (through the change
/// stream) in the live inbox alike.
pub async fn wake_snoozed(pool: &PgPool) -> StoreResult<u64> {
    let woken = sqlx::query(
        "UPDATE conversations SET status = 'open', updated_at = now()
         WHERE status = 'snoozed' AND snoozed_until <= now()",
    )
    .execute(pool)
    .await?;
    Ok(woken.rows_affected())
}

/// The prospect's WhatsApp conversation, created when it has none; `true` when it was created.
pub async fn ensure_whatsapp(conn: &mut PgConnection, tenant: TenantId, prospect: i64) -> StoreResult<(i64, bool)> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO conversations (tenant_id, prospect_id) VALUES ($1, $2)
         ON CONFLICT ON CONSTRAINT conversations_one_per_channel DO NOTHING RETURNING conversation_id",
    )
    .bind(tenant.0)
    .bind(prospect)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(c) = inserted {
        return Ok((c, true));
    }
    let existing: i64 = sqlx::query_scalar(
        "SELECT conversation_id FROM conversations WHERE tenant_id = $1 AND prospect_id = $2 AND channel = 'whatsapp'",
    )
    .bind(tenant.0)
    .bind(prospect)
    .fetch_one(conn)
    .await?;
    Ok((existing, false))
}
