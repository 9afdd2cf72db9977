//! Media of messages (migration 0022): what is known about each inbound or outbound file and where
//! its bytes are in the object store (the bytes themselves never enter PostgreSQL).
//!
//! Inbound rows are written by a trigger when a WhatsApp message with a media id is stored, and
//! move `pending` → `stored` | `unavailable` as the fetcher (`platica_whatsapp::media`) works on
//! them: [`claim_due`], [`mark_stored`], [`retry_later`], [`mark_unavailable`]. Outbound rows are
//! uploads ([`create_upload`]), attached to the message that sends them
//! ([`crate::inbox::messages::send`]) and uploaded to Graph once ([`record_upload`]).
//!
//! A media file is seen by whoever sees its message's conversation (the same visibility rule);
//! an upload not yet sent only by its uploader. Anyone else gets "not found" ([`for_viewer`]).

use std::time::Duration;

use platica_domain::{ConversationId, TenantId, Viewer};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};
use crate::inbox::conversations;

/// A message's media, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = Media)]
pub struct MediaRef {
    pub id: i64,
    /// `image`, `audio`, `video`, `document` or `sticker`.
    pub kind: String,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    /// Bytes, once stored.
    pub size: Option<i64>,
    /// `pending` (being fetched from WhatsApp), `stored` or `unavailable` (see `reason`).
    pub state: String,
    /// Why it is unavailable: too large, a type WhatsApp does not send, gone, or "gave up after N
    /// attempts".
    pub reason: Option<String>,
    /// `GET` it (with the session's token) once `stored`.
    pub url: String,
    /// A JPEG thumbnail (images only), once stored.
    pub thumbnail_url: Option<String>,
}

/// The SQL expression (over `messages m`) of a message's media as JSON, or NULL.
pub(crate) const MEDIA_JSON: &str = "(SELECT json_build_object(
        'id', md.media_id, 'kind', md.kind, 'mime_type', md.mime_type, 'filename', md.filename,
        'size', md.size, 'state', md.state, 'reason', md.reason,
        'url', '/api/v1/media/' || md.media_id,
        'thumbnail_url', CASE WHEN md.thumbnail_key IS NOT NULL THEN '/api/v1/media/' || md.media_id || '/thumbnail' END)
     FROM media md WHERE md.tenant_id = m.tenant_id AND md.message_id = m.message_id)";

/// The kinds of media WhatsApp sends.
pub const KINDS: [&str; 5] = ["image", "audio", "video", "document", "sticker"];

/// A media row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct MediaRow {
    pub tenant_id: i64,
    pub media_id: i64,
    pub direction: String,
    pub message_id: Option<i64>,
    pub channel_account_id: Option<i64>,
    pub kind: String,
    pub wa_media_id: Option<String>,
    pub mime_type: Option<String>,
    pub filename: Option<String>,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub object_key: Option<String>,
    pub thumbnail_key: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub attempts: i32,
    pub uploaded_by: Option<i64>,
}

impl MediaRow {
    /// As the API shows it.
    pub fn to_ref(&self) -> MediaRef {
        MediaRef {
            id: self.media_id,
            kind: self.kind.clone(),
            mime_type: self.mime_type.clone(),
            filename: self.filename.clone(),
            size: self.size,
            state: self.state.clone(),
            reason: self.reason.clone(),
            url: format!("/api/v1/media/{}", self.media_id),
            thumbnail_url: self.thumbnail_key.as_ref().map(|_| format!("/api/v1/media/{}/thumbnail", self.media_id)),
        }
    }
}

const ROW: &str =
    "tenant_id, media_id, direction, message_id, channel_account_id, kind, wa_media_id, mime_type, filename,
    size, sha256, object_key, thumbnail_key, state, reason, attempts, uploaded_by";

/// One media row of a tenant, whoever asks (for the fetcher and the sender).
pub async fn get(pool: &PgPool, tenant: TenantId, media_id: i64) -> StoreResult<MediaRow> {
    let sql = format!("SELECT {ROW} FROM media WHERE tenant_id = $1 AND media_id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(media_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::not_found("media"))
}

/// A media row the viewer may see: its message's conversation is visible to them, or it is their
/// own upload not yet sent. Anything else is "not found", exactly like an id that does not exist.
pub async fn for_viewer(pool: &PgPool, viewer: &Viewer, media_id: i64) -> StoreResult<MediaRow> {
    let mut conn = pool.acquire().await?;
    let sql = format!("SELECT {ROW} FROM media WHERE tenant_id = $1 AND media_id = $2");
    let row: Option<MediaRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(viewer.tenant_id.0)
        .bind(media_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else { return Err(StoreError::not_found("media")) };
    let visible = match row.message_id {
        Some(message) => match conversation_of(&mut conn, viewer.tenant_id, message).await? {
            Some(c) => conversations::get(&mut conn, viewer, c).await.is_ok(),
            None => false,
        },
        None => row.uploaded_by == Some(viewer.user_id.0),
    };
    if visible { Ok(row) } else { Err(StoreError::not_found("media")) }
}

async fn conversation_of(
    conn: &mut PgConnection,
    tenant: TenantId,
    message: i64,
) -> StoreResult<Option<ConversationId>> {
    let c: Option<i64> =
        sqlx::query_scalar("SELECT conversation_id FROM messages WHERE tenant_id = $1 AND message_id = $2")
            .bind(tenant.0)
            .bind(message)
            .fetch_optional(conn)
            .await?;
    Ok(c.map(ConversationId))
}

/// An inbound media file due for a fetch attempt.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Due {
    pub tenant_id: i64,
    pub media_id: i64,
    pub channel_account_id: Option<i64>,
    pub kind: String,
    pub wa_media_id: Option<String>,
    pub mime_type: Option<String>,
    /// Including this one.
    pub attempts: i32,
}

/// Claims up to `limit` pending inbound media due now, for `lease` (an attempt in flight is not
/// claimed again before it lapses, so a crashed fetcher's rows are tried again after it).
pub async fn claim_due(pool: &PgPool, limit: i64, lease: Duration) -> StoreResult<Vec<Due>> {
    Ok(sqlx::query_as(
        "UPDATE media x SET attempts = x.attempts + 1, updated_at = now(),
                next_attempt_at = now() + make_interval(secs => $2)
         FROM (SELECT tenant_id, media_id FROM media
               WHERE state = 'pending' AND direction = 'in' AND next_attempt_at <= now()
               ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
         WHERE x.tenant_id = due.tenant_id AND x.media_id = due.media_id
         RETURNING x.tenant_id, x.media_id, x.channel_account_id, x.kind, x.wa_media_id, x.mime_type, x.attempts",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(pool)
    .await?)
}

/// When the next pending inbound media is due, if any.
pub async fn next_due(pool: &PgPool) -> StoreResult<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(sqlx::query_scalar("SELECT min(next_attempt_at) FROM media WHERE state = 'pending' AND direction = 'in'")
        .fetch_one(pool)
        .await?)
}

/// Where a stored file's bytes are.
#[derive(Clone, Debug)]
pub struct Stored<'a> {
    pub mime_type: &'a str,
    pub size: i64,
    pub sha256: &'a str,
    pub object_key: &'a str,
    pub thumbnail_key: Option<&'a str>,
}

/// A fetched file is stored.
pub async fn mark_stored(pool: &PgPool, tenant: i64, media_id: i64, s: &Stored<'_>) -> StoreResult<()> {
    sqlx::query(
        "UPDATE media SET state = 'stored', mime_type = $3, size = $4, sha256 = $5, object_key = $6,
                thumbnail_key = $7, reason = NULL, updated_at = now()
         WHERE tenant_id = $1 AND media_id = $2 AND state = 'pending'",
    )
    .bind(tenant)
    .bind(media_id)
    .bind(s.mime_type)
    .bind(s.size)
    .bind(s.sha256)
    .bind(s.object_key)
    .bind(s.thumbnail_key)
    .execute(pool)
    .await?;
    Ok(())
}

/// A fetch failed for now: tried again after `delay`; `reason` is kept meanwhile.
pub async fn retry_later(pool: &PgPool, tenant: i64, media_id: i64, delay: Duration, reason: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE media SET next_attempt_at = now() + make_interval(secs => $3), reason = left($4, 1000),
                updated_at = now()
         WHERE tenant_id = $1 AND media_id = $2 AND state = 'pending'",
    )
    .bind(tenant)
    .bind(media_id)
    .bind(delay.as_secs_f64())
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// The file cannot be had: shown as "media unavailable" with `reason`.
pub async fn mark_unavailable(pool: &PgPool, tenant: i64, media_id: i64, reason: &str) -> StoreResult<()> {
    sqlx::query(
        "UPDATE media SET state = 'unavailable', reason = left($3, 1000), updated_at = now()
         WHERE tenant_id = $1 AND media_id = $2 AND state = 'pending'",
    )
    .bind(tenant)
    .bind(media_id)
    .bind(reason)
    .execute(pool)
    .await?;
    Ok(())
}

/// An uploaded file, stored already.
#[derive(Clone, Debug)]
pub struct Upload<'a> {
    pub kind: &'a str,
    pub mime_type: &'a str,
    pub filename: Option<&'a str>,
    pub size: i64,
    pub sha256: &'a str,
    pub object_key: &'a str,
    pub thumbnail_key: Option<&'a str>,
}

/// Records a file the viewer uploaded to send (`stored`, attached to no message yet).
pub async fn create_upload(pool: &PgPool, viewer: &Viewer, u: &Upload<'_>) -> StoreResult<MediaRow> {
    let sql = format!(
        "INSERT INTO media (tenant_id, direction, kind, mime_type, filename, size, sha256, object_key, thumbnail_key,
                            state, uploaded_by)
         VALUES ($1, 'out', $2, $3, $4, $5, $6, $7, $8, 'stored', $9) RETURNING {ROW}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(viewer.tenant_id.0)
        .bind(u.kind)
        .bind(u.mime_type)
        .bind(u.filename)
        .bind(u.size)
        .bind(u.sha256)
        .bind(u.object_key)
        .bind(u.thumbnail_key)
        .bind(viewer.user_id.0)
        .fetch_one(pool)
        .await?)
}

/// Attaches the viewer's upload `media_id` to the message that sends it, in the send's
/// transaction. Not the viewer's upload (or no such id): not found (`media_id` field); already
/// sent with another message: a conflict.
pub(crate) async fn attach(
    conn: &mut PgConnection,
    viewer: &Viewer,
    media_id: i64,
    message_id: i64,
) -> StoreResult<MediaRow> {
    let found: Option<(Option<i64>, Option<i64>, String)> = sqlx::query_as(
        "SELECT message_id, uploaded_by, direction FROM media WHERE tenant_id = $1 AND media_id = $2 FOR UPDATE",
    )
    .bind(viewer.tenant_id.0)
    .bind(media_id)
    .fetch_optional(&mut *conn)
    .await?;
    match found {
        Some((None, Some(u), d)) if u == viewer.user_id.0 && d == "out" => {}
        Some((Some(_), Some(u), _)) if u == viewer.user_id.0 => {
            return Err(StoreError::Conflict {
                message: "this upload was already sent with another message: upload the file again".to_owned(),
                field: Some("media.id"),
            });
        }
        _ => return Err(StoreError::missing_ref("upload (POST /api/v1/media first)", "media.id")),
    }
    let sql = format!(
        "UPDATE media SET message_id = $3, updated_at = now() WHERE tenant_id = $1 AND media_id = $2 RETURNING {ROW}"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(viewer.tenant_id.0)
        .bind(media_id)
        .bind(message_id)
        .fetch_one(conn)
        .await?)
}

/// An outbound file was uploaded to Graph for `account`: its WhatsApp media id, so the next
/// attempt sends by it rather than uploading again.
pub async fn record_upload(
    pool: &PgPool,
    tenant: i64,
    media_id: i64,
    account: i64,
    wa_media_id: &str,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE media SET wa_media_id = $4, channel_account_id = $3, updated_at = now()
         WHERE tenant_id = $1 AND media_id = $2 AND direction = 'out'",
    )
    .bind(tenant)
    .bind(media_id)
    .bind(account)
    .bind(wa_media_id)
    .execute(pool)
    .await?;
    Ok(())
}
