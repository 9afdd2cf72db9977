//! `Idempotency-Key` of the API's creating requests (table `idempotency_keys`, migration 0020).
//!
//! A key is scoped to its tenant and its principal (a user's login sessions share one scope, each
//! API token has its own). The first request with a key [`claim`]s it: a row with no answer yet,
//! holding the request's fingerprint (method, path, SHA-256 of the body). Its answer is then
//! either [`complete`]d (stored, to be replayed) or the claim is [`release`]d (a retry runs
//! again). The primary key makes a claim exclusive: of concurrent requests with one key, exactly
//! one claims it. A key lives [`TTL`]; expired keys are claimable again and
//! [`purge_expired`] (job kind `purge_idempotency_keys`) deletes them.

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use sqlx::PgPool;

use crate::error::StoreResult;

/// How long a key is remembered after its first use.
pub const TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// Whether `key` is a valid key: 1 to [`MAX_KEY_LEN`] visible ASCII characters (`!` to `~`).
pub fn valid_key(key: &[u8]) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && key.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// What identifies a request: the same key with another fingerprint is a mistake of the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fingerprint {
    pub method: String,
    pub path: String,
    pub body_sha256: Vec<u8>,
}

impl Fingerprint {
    pub fn new(method: &str, path: &str, body: &[u8]) -> Self {
        use sha2::Digest;
        Fingerprint {
            method: method.to_owned(),
            path: path.to_owned(),
            body_sha256: sha2::Sha256::digest(body).to_vec(),
        }
    }
}

/// A stored answer.
#[derive(Clone, Debug)]
pub struct Stored {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// The outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// This request holds the key: run it, then [`complete`] or [`release`].
    Claimed,
    /// The key's request ran: answer this.
    Replay(Stored),
    /// The key was used for another request (method, path or body).
    Mismatch,
    /// The key's first request has not finished (it started at `since`).
    InProgress { since: DateTime<Utc> },
}

type Row = (String, String, Vec<u8>, Option<i16>, Option<String>, Option<Vec<u8>>, DateTime<Utc>);

/// Claims `key` for a request, or says why not. An expired key is claimed anew.
pub async fn claim(
    pool: &PgPool,
    tenant: TenantId,
    principal: &str,
    key: &str,
    fp: &Fingerprint,
    ttl: std::time::Duration,
) -> StoreResult<Claim> {
    // A claim released between our insert and our read: try again (a few times at most).
    for _ in 0..5 {
        let claimed: Option<bool> = sqlx::query_scalar(
            "INSERT INTO idempotency_keys (tenant_id, principal, key, method, path, body_sha256, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
             ON CONFLICT (tenant_id, principal, key) DO UPDATE
               SET method = EXCLUDED.method, path = EXCLUDED.path, body_sha256 = EXCLUDED.body_sha256,
                   status = NULL, content_type = NULL, response = NULL, created_at = now(),
                   completed_at = NULL, expires_at = EXCLUDED.expires_at
               WHERE idempotency_keys.expires_at <= now()
             RETURNING true",
        )
        .bind(tenant.0)
        .bind(principal)
        .bind(key)
        .bind(&fp.method)
        .bind(&fp.path)
        .bind(&fp.body_sha256)
        .bind(ttl.as_secs_f64())
        .fetch_optional(pool)
        .await?;
        if claimed.is_some() {
            return Ok(Claim::Claimed);
        }
        let row: Option<Row> = sqlx::query_as(
            "SELECT method, path, body_sha256, status, content_type, response, created_at FROM idempotency_keys
             WHERE tenant_id = $1 AND principal = $2 AND key = $3",
        )
        .bind(tenant.0)
        .bind(principal)
        .bind(key)
        .fetch_optional(pool)
        .await?;
        let Some((method, path, body_sha256, status, content_type, response, created_at)) = row else { continue };
        if method != fp.method || path != fp.path || body_sha256 != fp.body_sha256 {
            return Ok(Claim::Mismatch);
        }
        return Ok(match status {
            Some(status) => Claim::Replay(Stored {
                status: u16::try_from(status).unwrap_or(500),
                content_type,
                body: response.unwrap_or_default(),
            }),
            None => Claim::InProgress { since: created_at },
        });
    }
    Ok(Claim::InProgress { since: Utc::now() })
}

/// Stores the answer of a claimed key.
pub async fn complete(pool: &PgPool, tenant: TenantId, principal: &str, key: &str, answer: &Stored) -> StoreResult<()> {
    sqlx::query(
        "UPDATE idempotency_keys SET status = $4, content_type = $5, response = $6, completed_at = now()
         WHERE tenant_id = $1 AND principal = $2 AND key = $3 AND status IS NULL",
    )
    .bind(tenant.0)
    .bind(principal)
    .bind(key)
    .bind(i16::try_from(answer.status).unwrap_or(0))
    .bind(&answer.content_type)
    .bind(&answer.body)
    .execute(pool)
    .await?;
    Ok(())
}

/// Gives a claimed key up: the next request with it runs.
pub async fn release(pool: &PgPool, tenant: TenantId, principal: &str, key: &str) -> StoreResult<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND principal = $2 AND key = $3 AND status IS NULL")
        .bind(tenant.0)
        .bind(principal)
        .bind(key)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes the tenant's keys expired at `now`; returns how many.
pub async fn purge_expired(pool: &PgPool, tenant: TenantId, now: DateTime<Utc>) -> StoreResult<u64> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE tenant_id = $1 AND expires_at <= $2")
        .bind(tenant.0)
        .bind(now)
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_up_to_255() {
        assert!(valid_key(b"a"));
        assert!(valid_key(b"order-42:retry~1"));
        assert!(valid_key(&[b'x'; 255]));
        assert!(!valid_key(&[b'x'; 256]));
        assert!(!valid_key(b""));
        assert!(!valid_key(b"with space"));
        assert!(!valid_key(b"tab\there"));
        assert!(!valid_key("clé".as_bytes()));
    }

    #[test]
    fn fingerprints_differ_by_method_path_and_body() {
        let a = Fingerprint::new("POST", "/api/v1/teams", b"{}");
        assert_eq!(a, Fingerprint::new("POST", "/api/v1/teams", b"{}"));
        assert_ne!(a, Fingerprint::new("POST", "/api/v1/users", b"{}"));
        assert_ne!(a, Fingerprint::new("POST", "/api/v1/teams", b"{ }"));
        assert_eq!(a.body_sha256.len(), 32);
    }
}
