//! Sessions and API tokens.
//!
//! A token is `<prefix>_<tenant_id>_<secret>`: the prefix says its kind (`pls` login session,
//! `plt` API token), the tenant id lets every lookup stay inside one tenant, and the secret is
//! 32 random bytes (base64url). Only the SHA-256 of the whole token is stored.

use std::collections::BTreeSet;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use platica_domain::policy;
use platica_domain::{Role, TeamId, TenantId, UserId, Viewer};
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::error::{StoreError, StoreResult};

/// Which kind of token a string is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Session,
    Api,
}

impl TokenKind {
    fn prefix(self) -> &'static str {
        match self {
            TokenKind::Session => "pls",
            TokenKind::Api => "plt",
        }
    }
}

/// A freshly minted token: the secret to hand out once, and what to store.
pub struct NewToken {
    pub token: String,
    pub hash: Vec<u8>,
}

/// Mints a token of `kind` for `tenant`.
pub fn mint(kind: TokenKind, tenant: TenantId) -> NewToken {
    let mut secret = [0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let token =
        format!("{}_{}_{}", kind.prefix(), tenant.0, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret));
    let hash = Sha256::digest(token.as_bytes()).to_vec();
    NewToken { token, hash }
}

/// Splits a presented token into kind, tenant and the hash to look up; `None` when malformed.
pub fn parse(token: &str) -> Option<(TokenKind, TenantId, Vec<u8>)> {
    let mut parts = token.splitn(3, '_');
    let kind = match parts.next()? {
        "pls" => TokenKind::Session,
        "plt" => TokenKind::Api,
        _ => return None,
    };
    let tenant: i64 = parts.next()?.parse().ok()?;
    let secret = parts.next()?;
    if secret.len() != 43 || tenant <= 0 {
        return None;
    }
    Some((kind, TenantId(tenant), Sha256::digest(token.as_bytes()).to_vec()))
}

/// How long a login session lasts.
pub const SESSION_TTL: Duration = Duration::hours(12);

/// Stores a new session for `user` and returns its token and expiry.
pub async fn create_session(pool: &PgPool, tenant: TenantId, user: UserId) -> StoreResult<(String, DateTime<Utc>)> {
    let new = mint(TokenKind::Session, tenant);
    let expires_at = Utc::now() + SESSION_TTL;
    sqlx::query("INSERT INTO sessions (tenant_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(tenant.0)
        .bind(user.0)
        .bind(&new.hash)
        .bind(expires_at)
        .execute(pool)
        .await?;
    Ok((new.token, expires_at))
}

/// Revokes the session of `token` (a no-op for unknown or API tokens).
pub async fn revoke_session(pool: &PgPool, token: &str) -> StoreResult<()> {
    if let Some((TokenKind::Session, tenant, hash)) = parse(token) {
        sqlx::query(
            "UPDATE sessions SET revoked_at = now() WHERE tenant_id = $1 AND token_hash = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.0)
        .bind(hash)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// The principal behind a valid token: the viewer, and how they authenticated.
#[derive(Clone, Debug)]
pub struct Principal {
    pub viewer: Viewer,
    pub kind: TokenKind,
    /// The session's or API token's id (`session_id` or `token_id`).
    pub credential_id: i64,
    /// When the credential expires (`None`: an API token without expiry).
    pub expires_at: Option<DateTime<Utc>>,
    pub display_name: String,
    pub email: String,
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    credential_id: i64,
    expires_at: Option<DateTime<Utc>>,
    user_id: i64,
    role: String,
    display_name: String,
    email: String,
    teams: Vec<i64>,
}

/// Writes when API tokens were last used (`(tenant, token_id, at)`, gathered by a server that
/// authenticated them from memory): never moves `last_used_at` back. One statement for the batch.
pub async fn touch_api_tokens(pool: &PgPool, used: &[(TenantId, i64, DateTime<Utc>)]) -> StoreResult<u64> {
    if used.is_empty() {
        return Ok(0);
    }
    let tenants: Vec<i64> = used.iter().map(|u| u.0.0).collect();
    let ids: Vec<i64> = used.iter().map(|u| u.1).collect();
    let ats: Vec<DateTime<Utc>> = used.iter().map(|u| u.2).collect();
    let done = sqlx::query(
        "UPDATE api_tokens t SET last_used_at = v.at
         FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS v(tenant_id, token_id, at)
         WHERE t.tenant_id = v.tenant_id AND t.token_id = v.token_id
           AND (t.last_used_at IS NULL OR t.last_used_at < v.at)",
    )
    .bind(&tenants)
    .bind(&ids)
    .bind(&ats)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// Resolves a bearer token; `None` when it is malformed, unknown, expired, revoked, or its user is
/// deactivated.
pub async fn authenticate(pool: &PgPool, token: &str) -> StoreResult<Option<Principal>> {
    let Some((kind, tenant, hash)) = parse(token) else { return Ok(None) };
    let sql = match kind {
        TokenKind::Session => {
            "SELECT s.session_id AS credential_id, s.expires_at, u.user_id, u.role, u.display_name, u.email,
                    ARRAY(SELECT ct.team_id FROM coordinator_teams ct
                          WHERE ct.tenant_id = u.tenant_id AND ct.user_id = u.user_id ORDER BY 1) AS teams
             FROM sessions s JOIN users u ON u.tenant_id = s.tenant_id AND u.user_id = s.user_id
             WHERE s.tenant_id = $1 AND s.token_hash = $2 AND s.revoked_at IS NULL
               AND s.expires_at > now() AND u.active"
        }
        TokenKind::Api => {
            "WITH t AS (
                UPDATE api_tokens SET last_used_at = now()
                WHERE tenant_id = $1 AND token_hash = $2 AND revoked_at IS NULL
                  AND (expires_at IS NULL OR expires_at > now())
                RETURNING tenant_id, user_id, token_id, expires_at)
             SELECT t.token_id AS credential_id, t.expires_at, u.user_id, u.role, u.display_name, u.email,
                    ARRAY(SELECT ct.team_id FROM coordinator_teams ct
                          WHERE ct.tenant_id = u.tenant_id AND ct.user_id = u.user_id ORDER BY 1) AS teams
             FROM t JOIN users u ON u.tenant_id = t.tenant_id AND u.user_id = t.user_id
             WHERE u.active"
        }
    };
    let row: Option<PrincipalRow> = sqlx::query_as(sql).bind(tenant.0).bind(hash).fetch_optional(pool).await?;
    let Some(row) = row else { return Ok(None) };
    let role =
        Role::parse(&row.role).ok_or_else(|| StoreError::Config(format!("unknown role {:?} in users", row.role)))?;
    let teams: BTreeSet<TeamId> =
        if policy::coordinates_teams(role) { row.teams.into_iter().map(TeamId).collect() } else { BTreeSet::new() };
    Ok(Some(Principal {
        viewer: Viewer { tenant_id: tenant, user_id: UserId(row.user_id), role, teams },
        kind,
        credential_id: row.credential_id,
        expires_at: row.expires_at,
        display_name: row.display_name,
        email: row.email,
    }))
}

/// What a login attempt finds: the user's id and hash, if the tenant and e-mail exist.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct LoginCandidate {
    pub tenant_id: i64,
    pub user_id: i64,
    pub password_hash: String,
    pub active: bool,
}

/// Most accounts one tenant-less login looks at (an e-mail in more tenants needs the tenant).
pub const MAX_LOGIN_CANDIDATES: i64 = 8;

/// The active-or-not users with `email`: in the tenant `tenant_slug` when given (at most one),
/// else in every tenant that has it (at most [`MAX_LOGIN_CANDIDATES`]). The caller checks the
/// password against each before saying anything about them.
pub async fn find_logins(pool: &PgPool, tenant_slug: Option<&str>, email: &str) -> StoreResult<Vec<LoginCandidate>> {
    Ok(sqlx::query_as(
        "SELECT u.tenant_id, u.user_id, u.password_hash, u.active
         FROM users u JOIN tenants t ON t.tenant_id = u.tenant_id
         WHERE u.email = $1 AND ($2::text IS NULL OR t.slug = $2)
         ORDER BY u.tenant_id LIMIT $3",
    )
    .bind(email)
    .bind(tenant_slug)
    .bind(MAX_LOGIN_CANDIDATES)
    .fetch_all(pool)
    .await?)
}

/// An API token as listed to admins (never its secret).
#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ApiToken {
    pub token_id: i64,
    pub name: String,
    pub user_id: i64,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const API_TOKEN_COLUMNS: &str = "token_id, name, user_id, created_by, created_at, expires_at, revoked_at, last_used_at";

/// Creates an API token acting as `user`; returns it with its secret (shown once).
pub async fn create_api_token(
    pool: &PgPool,
    creator: &Viewer,
    name: &str,
    user: UserId,
    expires_at: Option<DateTime<Utc>>,
) -> StoreResult<(ApiToken, String)> {
    let new = mint(TokenKind::Api, creator.tenant_id);
    let sql = format!(
        "INSERT INTO api_tokens (tenant_id, name, user_id, created_by, token_hash, expires_at)
         SELECT $1, $2, u.user_id, $4, $5, $6 FROM users u WHERE u.tenant_id = $1 AND u.user_id = $3
         RETURNING {API_TOKEN_COLUMNS}"
    );
    let row: Option<ApiToken> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(creator.tenant_id.0)
        .bind(name)
        .bind(user.0)
        .bind(creator.user_id.0)
        .bind(&new.hash)
        .bind(expires_at)
        .fetch_optional(pool)
        .await?;
    let row = row.ok_or_else(|| StoreError::missing_ref("user", "user_id"))?;
    Ok((row, new.token))
}

/// Every API token of the tenant, newest first.
pub async fn list_api_tokens(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<ApiToken>> {
    let sql = format!("SELECT {API_TOKEN_COLUMNS} FROM api_tokens WHERE tenant_id = $1 ORDER BY token_id DESC");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_all(pool).await?)
}

/// Revokes an API token; returns it as it now is.
pub async fn revoke_api_token(pool: &PgPool, tenant: TenantId, token_id: i64) -> StoreResult<ApiToken> {
    let sql = format!(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
         WHERE tenant_id = $1 AND token_id = $2 RETURNING {API_TOKEN_COLUMNS}"
    );
    let row: Option<ApiToken> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(token_id).fetch_optional(pool).await?;
    row.ok_or_else(|| StoreError::not_found("api token"))
}

/// Deletes sessions that expired or were revoked more than a day ago. Returns how many.
pub async fn purge_sessions(pool: &PgPool) -> StoreResult<u64> {
    let done = sqlx::query(
        "DELETE FROM sessions WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'",
    )
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_back() {
        let t = mint(TokenKind::Api, TenantId(42));
        let (kind, tenant, hash) = parse(&t.token).expect("parses");
        assert_eq!((kind, tenant), (TokenKind::Api, TenantId(42)));
        assert_eq!(hash, t.hash);
        for bad in [
            "",
            "pls",
            "pls_1",
            "pls_x_abc",
            "xyz_1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "pls_-1_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(parse(bad).is_none(), "{bad} parsed");
        }
    }
}
