//! Channel accounts: a tenant's WhatsApp business numbers (Cloud API or the simulator).
//!
//! Secrets (app secret, verify token, access token) are write-only: they are sealed with the
//! server's key ([`crate::secrets`]) when written and opened only when a webhook needs them; no
//! read returns them. Admin operations stay inside one tenant; [`find_by_phone_number_id`],
//! [`webhook_accounts`] and [`verify_tokens`] are the cross-tenant lookups webhooks need (a
//! webhook names a phone number, not a tenant).

use chrono::{DateTime, Utc};
use platica_domain::{TeamId, TenantId};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{StoreError, StoreResult};
use crate::org::teams;
use crate::secrets::{Sealed, SecretError, SecretKey};

/// The secret fields, as named in the associated data of their ciphertexts.
pub const APP_SECRET: &str = "channel_accounts.app_secret";
pub const VERIFY_TOKEN: &str = "channel_accounts.verify_token";
pub const ACCESS_TOKEN: &str = "channel_accounts.access_token";

/// The kinds of channel account.
pub const KINDS: [&str; 3] = ["cloud", "simulator", "session"];

/// A channel account as admins see it: never its secrets.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChannelAccount {
    pub channel_account_id: i64,
    /// `cloud` (WhatsApp Business Cloud API, webhooks), `simulator` (the built-in simulator of the
    /// same contract) or `session` (a long-lived session the supervisor keeps).
    pub kind: String,
    pub display_name: String,
    /// The Cloud API's phone number id, which webhooks name.
    pub phone_number_id: String,
    /// The WhatsApp Business Account the number belongs to (digits), when given.
    pub business_account_id: Option<String>,
    /// New prospects writing to this number land in this team.
    pub default_team_id: i64,
    /// Where sends go (NULL: the server's configured Cloud API base URL).
    pub base_url: Option<String>,
    /// Messages per second to this number (NULL: the server's configured rate).
    pub send_rate_per_sec: Option<i32>,
    /// The executive most recently assigned a new prospect from this number (round-robin cursor).
    pub last_assigned_user_id: Option<i64>,
    /// For `session` accounts: `connecting`, `connected`, `reconnecting`, `open_circuit` or
    /// `stopped`, as the session supervisor last recorded it.
    pub session_state: Option<String>,
    pub session_last_error: Option<String>,
    pub session_connected_at: Option<DateTime<Utc>>,
    pub session_checked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT channel_account_id, a.kind, a.display_name, a.phone_number_id, a.business_account_id,
        a.default_team_id,
        a.base_url, a.send_rate_per_sec, a.last_assigned_user_id, s.state AS session_state,
        s.last_error AS session_last_error, s.last_connected_at AS session_connected_at,
        s.last_checked_at AS session_checked_at, a.created_at, a.updated_at
        FROM channel_accounts a LEFT JOIN channel_sessions s USING (tenant_id, channel_account_id)";

fn secret_error(e: SecretError) -> StoreError {
    StoreError::Config(e.to_string())
}

/// Maps the uniqueness of phone numbers to a conflict naming the field.
fn conflict_or(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.is_unique_violation()
        && db.constraint() == Some("channel_accounts_phone_number_id")
    {
        return StoreError::Conflict {
            message: "a channel account with this phone_number_id already exists".to_owned(),
            field: Some("phone_number_id"),
        };
    }
    e.into()
}

pub async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<ChannelAccount>> {
    let sql = format!("{SELECT} WHERE tenant_id = $1 ORDER BY channel_account_id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_all(pool).await?)
}

pub async fn get(pool: &PgPool, tenant: TenantId, id: i64) -> StoreResult<ChannelAccount> {
    let sql = format!("{SELECT} WHERE tenant_id = $1 AND channel_account_id = $2");
    let row: Option<ChannelAccount> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(id).fetch_optional(pool).await?;
    row.ok_or_else(|| StoreError::not_found("channel account"))
}

/// A channel account to create (validated by the caller).
pub struct NewChannelAccount {
    pub kind: String,
    pub display_name: String,
    pub phone_number_id: String,
    pub business_account_id: Option<String>,
    pub app_secret: String,
    pub verify_token: String,
    pub access_token: String,
    pub default_team_id: TeamId,
    pub base_url: Option<String>,
    pub send_rate_per_sec: Option<i32>,
}

pub async fn create(
    pool: &PgPool,
    key: &SecretKey,
    tenant: TenantId,
    new: &NewChannelAccount,
) -> StoreResult<ChannelAccount> {
    let seal = |field, value: &str| key.seal(tenant, field, value).map_err(secret_error);
    let app = seal(APP_SECRET, &new.app_secret)?;
    let verify = seal(VERIFY_TOKEN, &new.verify_token)?;
    let access = seal(ACCESS_TOKEN, &new.access_token)?;
    let mut tx = pool.begin().await?;
    teams::ensure_exist(&mut tx, tenant, &[new.default_team_id], "default_team_id").await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO channel_accounts (tenant_id, kind, display_name, phone_number_id,
             app_secret_ciphertext, app_secret_nonce, verify_token_ciphertext, verify_token_nonce,
             access_token_ciphertext, access_token_nonce, default_team_id, base_url, send_rate_per_sec,
             business_account_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING channel_account_id",
    )
    .bind(tenant.0)
    .bind(&new.kind)
    .bind(&new.display_name)
    .bind(&new.phone_number_id)
    .bind(&app.ciphertext)
    .bind(&app.nonce)
    .bind(&verify.ciphertext)
    .bind(&verify.nonce)
    .bind(&access.ciphertext)
    .bind(&access.nonce)
    .bind(new.default_team_id.0)
    .bind(&new.base_url)
    .bind(new.send_rate_per_sec)
    .bind(&new.business_account_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(conflict_or)?;
    tx.commit().await?;
    tracing::info!(tenant_id = tenant.0, channel_account_id = id, phone_number_id = %new.phone_number_id, "channel account created");
    get(pool, tenant, id).await
}

/// Changes to a channel account; `None` keeps the field.
#[derive(Default)]
pub struct ChannelChanges {
    pub display_name: Option<String>,
    pub phone_number_id: Option<String>,
    /// `Some(None)` clears it.
    pub business_account_id: Option<Option<String>>,
    pub app_secret: Option<String>,
    pub verify_token: Option<String>,
    pub access_token: Option<String>,
    pub default_team_id: Option<TeamId>,
    /// `Some(None)` clears it.
    pub base_url: Option<Option<String>>,
    /// `Some(None)` clears it.
    pub send_rate_per_sec: Option<Option<i32>>,
}

pub async fn update(
    pool: &PgPool,
    key: &SecretKey,
    tenant: TenantId,
    id: i64,
    ch: &ChannelChanges,
) -> StoreResult<ChannelAccount> {
    let seal = |field, value: &Option<String>| -> StoreResult<Option<Sealed>> {
        value.as_deref().map(|v| key.seal(tenant, field, v).map_err(secret_error)).transpose()
    };
    let app = seal(APP_SECRET, &ch.app_secret)?;
    let verify = seal(VERIFY_TOKEN, &ch.verify_token)?;
    let access = seal(ACCESS_TOKEN, &ch.access_token)?;
    let mut tx = pool.begin().await?;
    if let Some(team) = ch.default_team_id {
        teams::ensure_exist(&mut tx, tenant, &[team], "default_team_id").await?;
    }
    let (app_c, app_n) = app.map(|s| (s.ciphertext, s.nonce)).unzip();
    let (ver_c, ver_n) = verify.map(|s| (s.ciphertext, s.nonce)).unzip();
    let (acc_c, acc_n) = access.map(|s| (s.ciphertext, s.nonce)).unzip();
    let done = sqlx::query(
        "UPDATE channel_accounts SET
             display_name = coalesce($3, display_name),
             phone_number_id = coalesce($4, phone_number_id),
             app_secret_ciphertext = coalesce($5, app_secret_ciphertext),
             app_secret_nonce = coalesce($6, app_secret_nonce),
             verify_token_ciphertext = coalesce($7, verify_token_ciphertext),
             verify_token_nonce = coalesce($8, verify_token_nonce),
             access_token_ciphertext = coalesce($9, access_token_ciphertext),
             access_token_nonce = coalesce($10, access_token_nonce),
             default_team_id = coalesce($11, default_team_id),
             base_url = CASE WHEN $12 THEN $13 ELSE base_url END,
             send_rate_per_sec = CASE WHEN $14 THEN $15 ELSE send_rate_per_sec END,
             business_account_id = CASE WHEN $16 THEN $17 ELSE business_account_id END,
             updated_at = now()
         WHERE tenant_id = $1 AND channel_account_id = $2",
    )
    .bind(tenant.0)
    .bind(id)
    .bind(&ch.display_name)
    .bind(&ch.phone_number_id)
    .bind(app_c)
    .bind(app_n)
    .bind(ver_c)
    .bind(ver_n)
    .bind(acc_c)
    .bind(acc_n)
    .bind(ch.default_team_id.map(|t| t.0))
    .bind(ch.base_url.is_some())
    .bind(ch.base_url.clone().flatten())
    .bind(ch.send_rate_per_sec.is_some())
    .bind(ch.send_rate_per_sec.flatten())
    .bind(ch.business_account_id.is_some())
    .bind(ch.business_account_id.clone().flatten())
    .execute(&mut *tx)
    .await
    .map_err(conflict_or)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("channel account"));
    }
    tx.commit().await?;
    tracing::info!(tenant_id = tenant.0, channel_account_id = id, "channel account updated");
    get(pool, tenant, id).await
}

/// Deletes a channel account. Messages it brought in stay (their WhatsApp details lose the link).
pub async fn delete(pool: &PgPool, tenant: TenantId, id: i64) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM channel_accounts WHERE tenant_id = $1 AND channel_account_id = $2")
        .bind(tenant.0)
        .bind(id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("channel account"));
    }
    tracing::info!(tenant_id = tenant.0, channel_account_id = id, "channel account deleted");
    Ok(())
}

/// What a webhook needs of an account: its tenant, its team, and its sealed app secret.
#[derive(Clone, Debug)]
pub struct WebhookAccount {
    pub tenant_id: TenantId,
    pub channel_account_id: i64,
    pub phone_number_id: String,
    pub default_team_id: TeamId,
    app_secret: Sealed,
}

impl WebhookAccount {
    /// The app secret, decrypted.
    pub fn app_secret(&self, key: &SecretKey) -> StoreResult<String> {
        key.open(self.tenant_id, APP_SECRET, &self.app_secret.ciphertext, &self.app_secret.nonce).map_err(secret_error)
    }
}

type WebhookRow = (i64, i64, String, i64, Vec<u8>, Vec<u8>);

fn webhook_account((tenant, id, phone_number_id, team, c, n): WebhookRow) -> WebhookAccount {
    WebhookAccount {
        tenant_id: TenantId(tenant),
        channel_account_id: id,
        phone_number_id,
        default_team_id: TeamId(team),
        app_secret: Sealed { ciphertext: c, nonce: n },
    }
}

const WEBHOOK_SELECT: &str = "SELECT tenant_id, channel_account_id, phone_number_id, default_team_id,
        app_secret_ciphertext, app_secret_nonce FROM channel_accounts";

/// The account a webhook names, in whichever tenant it is (the one cross-tenant key).
pub async fn find_by_phone_number_id(pool: &PgPool, phone_number_id: &str) -> StoreResult<Option<WebhookAccount>> {
    let sql = format!("{WEBHOOK_SELECT} WHERE phone_number_id = $1");
    let row: Option<WebhookRow> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(phone_number_id).fetch_optional(pool).await?;
    Ok(row.map(webhook_account))
}

/// Every account (all tenants), for authenticating a webhook that names no known number.
pub async fn webhook_accounts(pool: &PgPool) -> StoreResult<Vec<WebhookAccount>> {
    let sql = format!("{WEBHOOK_SELECT} ORDER BY tenant_id, channel_account_id");
    let rows: Vec<WebhookRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?;
    Ok(rows.into_iter().map(webhook_account).collect())
}

/// Every account's verify token, decrypted (all tenants): the Cloud API's verification request
/// names no number. Tokens that cannot be decrypted are skipped and logged.
pub async fn verify_tokens(pool: &PgPool, key: &SecretKey) -> StoreResult<Vec<(TenantId, i64, String)>> {
    let rows: Vec<(i64, i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT tenant_id, channel_account_id, verify_token_ciphertext, verify_token_nonce FROM channel_accounts",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (tenant, id, c, n) in rows {
        match key.open(TenantId(tenant), VERIFY_TOKEN, &c, &n) {
            Ok(token) => out.push((TenantId(tenant), id, token)),
            Err(e) => {
                tracing::error!(tenant_id = tenant, channel_account_id = id, error = %e, "cannot open a verify token")
            }
        }
    }
    Ok(out)
}

/// The access token of an account (for sending), decrypted.
pub async fn access_token(pool: &PgPool, key: &SecretKey, tenant: TenantId, id: i64) -> StoreResult<String> {
    let row: Option<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT access_token_ciphertext, access_token_nonce FROM channel_accounts
         WHERE tenant_id = $1 AND channel_account_id = $2",
    )
    .bind(tenant.0)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let (c, n) = row.ok_or_else(|| StoreError::not_found("channel account"))?;
    key.open(tenant, ACCESS_TOKEN, &c, &n).map_err(secret_error)
}

/// What the outbox sender needs of an account (all tenants): where and how fast to send, and
/// its sealed access token.
#[derive(Clone, Debug)]
pub struct SenderAccount {
    pub tenant_id: TenantId,
    pub channel_account_id: i64,
    pub kind: String,
    pub phone_number_id: String,
    pub base_url: Option<String>,
    pub send_rate_per_sec: Option<i32>,
    pub updated_at: DateTime<Utc>,
    access_token: Sealed,
}

impl SenderAccount {
    /// The access token, decrypted.
    pub fn access_token(&self, key: &SecretKey) -> StoreResult<String> {
        key.open(self.tenant_id, ACCESS_TOKEN, &self.access_token.ciphertext, &self.access_token.nonce)
            .map_err(secret_error)
    }
}

type SenderRow = (i64, i64, String, String, Option<String>, Option<i32>, DateTime<Utc>, Vec<u8>, Vec<u8>);

/// Every channel account of every tenant, for the sender and the session supervisor.
pub async fn sender_accounts(pool: &PgPool) -> StoreResult<Vec<SenderAccount>> {
    let rows: Vec<SenderRow> = sqlx::query_as(
        "SELECT tenant_id, channel_account_id, kind, phone_number_id, base_url, send_rate_per_sec, updated_at,
                access_token_ciphertext, access_token_nonce
         FROM channel_accounts ORDER BY tenant_id, channel_account_id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant, id, kind, phone_number_id, base_url, send_rate_per_sec, updated_at, c, n)| SenderAccount {
            tenant_id: TenantId(tenant),
            channel_account_id: id,
            kind,
            phone_number_id,
            base_url,
            send_rate_per_sec,
            updated_at,
            access_token: Sealed { ciphertext: c, nonce: n },
        })
        .collect())
}
