//! Channel health: per number, what the admin Channels screen shows besides its settings. "Test
//! connection" records what Graph said about the number (or its error); webhooks record when one
//! last arrived (at most every [`WEBHOOK_TOUCH_EVERY_SECS`]) and the errors WhatsApp reported.
//! Messages sent and failed in a period are counted from the outbox when read. The table is
//! published: the screen follows it live (`table:channel_health`, admins only).

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use serde::Serialize;
use sqlx::PgPool;

use crate::error::StoreResult;

/// A webhook refreshes `last_webhook_at` only when it is older than this (no write per webhook).
pub const WEBHOOK_TOUCH_EVERY_SECS: i64 = 5;

/// Longest error message kept.
const MAX_MESSAGE_CHARS: usize = 1000;

/// One number's health.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChannelHealth {
    pub channel_account_id: i64,
    /// When a webhook naming this number last arrived (to within a few seconds).
    pub last_webhook_at: Option<DateTime<Utc>>,
    /// When "test connection" last ran, and whether Graph answered with the number.
    pub checked_at: Option<DateTime<Utc>>,
    pub check_ok: Option<bool>,
    /// What Graph last said about the number.
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    /// `GREEN`, `YELLOW`, `RED` or `UNKNOWN`, as Graph reports it.
    pub quality_rating: Option<String>,
    /// Graph's messaging limit tier (`TIER_250`, `TIER_1K`, ..., `TIER_UNLIMITED`).
    pub messaging_limit: Option<String>,
    /// The newest error about the number: Graph's code from a test, or a webhook's error code.
    pub last_error_code: Option<i32>,
    pub last_error_message: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
    /// Messages the outbox finished sending since the period's start (read receipts aside).
    pub sent: i64,
    /// Messages the outbox gave up on since the period's start.
    pub failed: i64,
}

/// Every number of the tenant with its health; `sent`/`failed` count from `since`.
pub async fn list(pool: &PgPool, tenant: TenantId, since: DateTime<Utc>) -> StoreResult<Vec<ChannelHealth>> {
    Ok(sqlx::query_as(
        "SELECT a.channel_account_id, h.last_webhook_at, h.checked_at, h.check_ok, h.display_phone_number,
                h.verified_name, h.quality_rating, h.messaging_limit, h.last_error_code, h.last_error_message,
                h.last_error_at, coalesce(o.sent, 0) AS sent, coalesce(o.failed, 0) AS failed
           FROM channel_accounts a
           LEFT JOIN channel_health h USING (tenant_id, channel_account_id)
           LEFT JOIN LATERAL (
                SELECT count(*) FILTER (WHERE x.state = 'done') AS sent,
                       count(*) FILTER (WHERE x.state = 'failed') AS failed
                  FROM outbox x
                 WHERE x.tenant_id = a.tenant_id AND x.channel_account_id = a.channel_account_id
                   AND x.finished_at >= $2 AND x.kind <> 'mark_read') o ON true
          WHERE a.tenant_id = $1
          ORDER BY a.channel_account_id",
    )
    .bind(tenant.0)
    .bind(since)
    .fetch_all(pool)
    .await?)
}

/// What Graph said about a number when asked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphNumber {
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    pub quality_rating: Option<String>,
    pub messaging_limit: Option<String>,
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn clip_opt(s: &Option<String>, max: usize) -> Option<String> {
    s.as_deref().map(|v| clip(v, max))
}

/// Records a successful test: Graph's answer replaces what was known (a field Graph left out
/// keeps its previous value).
pub async fn record_check_ok(pool: &PgPool, tenant: TenantId, account: i64, n: &GraphNumber) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO channel_health (tenant_id, channel_account_id, checked_at, check_ok, display_phone_number,
                                     verified_name, quality_rating, messaging_limit)
         VALUES ($1, $2, now(), true, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, channel_account_id) DO UPDATE SET
             checked_at = now(), check_ok = true,
             display_phone_number = coalesce($3, channel_health.display_phone_number),
             verified_name = coalesce($4, channel_health.verified_name),
             quality_rating = coalesce($5, channel_health.quality_rating),
             messaging_limit = coalesce($6, channel_health.messaging_limit),
             updated_at = now()",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(clip_opt(&n.display_phone_number, 100))
    .bind(clip_opt(&n.verified_name, 200))
    .bind(clip_opt(&n.quality_rating, 40))
    .bind(clip_opt(&n.messaging_limit, 40))
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed test: the error (Graph's code when it gave one) becomes the last error.
pub async fn record_check_failed(
    pool: &PgPool,
    tenant: TenantId,
    account: i64,
    code: Option<i32>,
    message: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO channel_health (tenant_id, channel_account_id, checked_at, check_ok, last_error_code,
                                     last_error_message, last_error_at)
         VALUES ($1, $2, now(), false, $3, $4, now())
         ON CONFLICT (tenant_id, channel_account_id) DO UPDATE SET
             checked_at = now(), check_ok = false, last_error_code = $3, last_error_message = $4,
             last_error_at = now(), updated_at = now()",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(code)
    .bind(clip(message, MAX_MESSAGE_CHARS))
    .execute(pool)
    .await?;
    Ok(())
}

/// A webhook named this number: its time is kept when the stored one is older than
/// [`WEBHOOK_TOUCH_EVERY_SECS`] (otherwise nothing is written).
pub async fn touch_webhook(pool: &PgPool, tenant: TenantId, account: i64) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO channel_health (tenant_id, channel_account_id, last_webhook_at) VALUES ($1, $2, now())
         ON CONFLICT (tenant_id, channel_account_id) DO UPDATE SET last_webhook_at = now(), updated_at = now()
         WHERE channel_health.last_webhook_at IS NULL
            OR channel_health.last_webhook_at < now() - make_interval(secs => $3)",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(WEBHOOK_TOUCH_EVERY_SECS as f64)
    .execute(pool)
    .await?;
    Ok(())
}

/// A webhook reported an error about this number (its `errors`): it becomes the last error.
pub async fn record_webhook_error(
    pool: &PgPool,
    tenant: TenantId,
    account: i64,
    code: Option<i32>,
    message: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO channel_health (tenant_id, channel_account_id, last_webhook_at, last_error_code,
                                     last_error_message, last_error_at)
         VALUES ($1, $2, now(), $3, $4, now())
         ON CONFLICT (tenant_id, channel_account_id) DO UPDATE SET
             last_webhook_at = now(), last_error_code = $3, last_error_message = $4, last_error_at = now(),
             updated_at = now()",
    )
    .bind(tenant.0)
    .bind(account)
    .bind(code)
    .bind(clip(message, MAX_MESSAGE_CHARS))
    .execute(pool)
    .await?;
    Ok(())
}
