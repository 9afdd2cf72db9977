//! Long-lived channel sessions (accounts of kind `session`): what the session supervisor knows of
//! each, persisted so a restart restores them and resumes reading where it stopped.

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use serde::Serialize;
use sqlx::PgPool;

use crate::error::StoreResult;

/// A session's persisted state.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SessionRow {
    pub channel_account_id: i64,
    /// `connecting`, `connected`, `reconnecting`, `open_circuit` or `stopped`.
    pub state: String,
    /// The last inbound event stored.
    pub cursor: i64,
    pub session_id: Option<String>,
    pub consecutive_failures: i32,
    pub last_error: Option<String>,
    pub last_connected_at: Option<DateTime<Utc>>,
    pub last_checked_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "channel_account_id, state, cursor, session_id, consecutive_failures, last_error,
    last_connected_at, last_checked_at, updated_at";

/// The session of an account, created (cursor 0) when it has none yet.
pub async fn load(pool: &PgPool, tenant: TenantId, account: i64) -> StoreResult<SessionRow> {
    sqlx::query(
        "INSERT INTO channel_sessions (tenant_id, channel_account_id) VALUES ($1, $2)
         ON CONFLICT (tenant_id, channel_account_id) DO NOTHING",
    )
    .bind(tenant.0)
    .bind(account)
    .execute(pool)
    .await?;
    let sql = format!("SELECT {COLUMNS} FROM channel_sessions WHERE tenant_id = $1 AND channel_account_id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(account).fetch_one(pool).await?)
}

/// The sessions of a tenant.
pub async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<SessionRow>> {
    let sql = format!("SELECT {COLUMNS} FROM channel_sessions WHERE tenant_id = $1 ORDER BY channel_account_id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_all(pool).await?)
}

/// Records a state change.
pub async fn set_state(
    pool: &PgPool,
    tenant: TenantId,
    account: i64,
    state: &str,
    session_id: Option<&str>,
    failures: u32,
    error: Option<&str>,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE channel_sessions SET state = $3, session_id = coalesce($4, session_id), consecutive_failures = $5,
                last_error = CASE WHEN $6::text IS NULL AND $3 = 'connected' THEN NULL ELSE coalesce($6, last_error) END,
                last_connected_at = CASE WHEN $3 = 'connected' THEN now() ELSE last_connected_at END,
                updated_at = now()
         WHERE tenant_id = $1 AND channel_account_id = $2",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(state)
    .bind(session_id)
    .bind(i32::try_from(failures).unwrap_or(i32::MAX))
    .bind(error.map(|e| e.chars().take(1000).collect::<String>()))
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a health check.
pub async fn checked(pool: &PgPool, tenant: TenantId, account: i64) -> StoreResult<()> {
    sqlx::query("UPDATE channel_sessions SET last_checked_at = now() WHERE tenant_id = $1 AND channel_account_id = $2")
        .bind(tenant.0)
        .bind(account)
        .execute(pool)
        .await?;
    Ok(())
}

/// Moves the cursor forward (never back) once events up to `cursor` are stored.
pub async fn advance(pool: &PgPool, tenant: TenantId, account: i64, cursor: i64) -> StoreResult<()> {
    sqlx::query(
        "UPDATE channel_sessions SET cursor = greatest(cursor, $3), updated_at = now()
         WHERE tenant_id = $1 AND channel_account_id = $2",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(cursor)
    .execute(pool)
    .await?;
    Ok(())
}
