//! Canned replies (migration 0026): a shortcut and its text, typed after `/` in the composer.
//! Tenant-wide ones are shared by everyone and managed by admins; personal ones belong to one
//! user, who alone sees and manages them.

use chrono::{DateTime, Utc};
use platica_domain::Viewer;
use platica_domain::policy::{self, Capability};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{StoreError, StoreResult};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct CannedReply {
    pub canned_reply_id: i64,
    /// `tenant` (shared, admins manage it) or `personal` (the caller's own).
    pub scope: String,
    /// Typed after `/`: lowercase letters, digits, `-` and `_`, 1 to 32.
    pub shortcut: String,
    pub body: String,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "canned_reply_id, CASE WHEN user_id IS NULL THEN 'tenant' ELSE 'personal' END AS scope, shortcut, body, updated_at";

/// Whether a shortcut is well formed: 1 to 32 of `a-z`, `0-9`, `-`, `_`, starting with a letter or
/// digit (the database checks the same).
pub fn valid_shortcut(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-' || *c == b'_')
}

/// The canned replies the viewer may use: the tenant's and their own, by shortcut (personal
/// first where both have one).
pub async fn list(pool: &PgPool, viewer: &Viewer) -> StoreResult<Vec<CannedReply>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM canned_replies WHERE tenant_id = $1 AND (user_id IS NULL OR user_id = $2)
         ORDER BY shortcut, user_id NULLS LAST"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(viewer.tenant_id.0).bind(viewer.user_id.0).fetch_all(pool).await?)
}

fn may_manage(viewer: &Viewer, tenant_wide: bool) -> StoreResult<()> {
    if tenant_wide && !policy::may(viewer, Capability::Administer) {
        return Err(StoreError::Forbidden("only admins manage the organisation's canned replies"));
    }
    Ok(())
}

fn taken(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict { .. } => StoreError::Conflict {
            message: "a canned reply with this shortcut exists already".to_owned(),
            field: Some("shortcut"),
        },
        e => e,
    }
}

/// Creates a canned reply: shared with the tenant (`tenant_wide`, admins only) or the viewer's own.
pub async fn create(
    pool: &PgPool,
    viewer: &Viewer,
    tenant_wide: bool,
    shortcut: &str,
    body: &str,
) -> StoreResult<CannedReply> {
    may_manage(viewer, tenant_wide)?;
    let sql = format!(
        "INSERT INTO canned_replies (tenant_id, user_id, shortcut, body) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(viewer.tenant_id.0)
        .bind((!tenant_wide).then_some(viewer.user_id.0))
        .bind(shortcut)
        .bind(body)
        .fetch_one(pool)
        .await
        .map_err(|e| taken(e.into()))
}

/// Whether the canned reply exists for the viewer (theirs or the tenant's) and is tenant-wide.
async fn scope_of(pool: &PgPool, viewer: &Viewer, id: i64) -> StoreResult<bool> {
    let owner: Option<Option<i64>> = sqlx::query_scalar(
        "SELECT user_id FROM canned_replies WHERE tenant_id = $1 AND canned_reply_id = $2 AND (user_id IS NULL OR user_id = $3)",
    )
    .bind(viewer.tenant_id.0)
    .bind(id)
    .bind(viewer.user_id.0)
    .fetch_optional(pool)
    .await?;
    match owner {
        None => Err(StoreError::not_found("canned reply")),
        Some(owner) => Ok(owner.is_none()),
    }
}

/// Changes a canned reply's shortcut and/or text (the tenant's: admins; a personal one: its owner).
pub async fn update(
    pool: &PgPool,
    viewer: &Viewer,
    id: i64,
    shortcut: Option<&str>,
    body: Option<&str>,
) -> StoreResult<CannedReply> {
    may_manage(viewer, scope_of(pool, viewer, id).await?)?;
    let sql = format!(
        "UPDATE canned_replies SET shortcut = coalesce($3, shortcut), body = coalesce($4, body), updated_at = now()
         WHERE tenant_id = $1 AND canned_reply_id = $2 RETURNING {COLUMNS}"
    );
    let row: Option<CannedReply> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(viewer.tenant_id.0)
        .bind(id)
        .bind(shortcut)
        .bind(body)
        .fetch_optional(pool)
        .await
        .map_err(|e| taken(e.into()))?;
    row.ok_or_else(|| StoreError::not_found("canned reply"))
}

/// Deletes a canned reply (the tenant's: admins; a personal one: its owner).
pub async fn delete(pool: &PgPool, viewer: &Viewer, id: i64) -> StoreResult<()> {
    may_manage(viewer, scope_of(pool, viewer, id).await?)?;
    sqlx::query("DELETE FROM canned_replies WHERE tenant_id = $1 AND canned_reply_id = $2")
        .bind(viewer.tenant_id.0)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}
