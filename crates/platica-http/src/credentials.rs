//! Credentials recently verified: the live inbox's reads authenticate from memory, and reads keep
//! answering while PostgreSQL cannot be asked.
//!
//! A token is verified in PostgreSQL ([`platica_store::org::auth::authenticate`]) and what is
//! found is remembered here. Two uses:
//!
//! - **Reads while the change stream is live** (GET, HEAD, a WebSocket upgrade) answer from a
//!   remembered entry verified within [`LIVE_TRUST`]: no query per request. What could make an
//!   entry wrong reaches this server through the change stream within milliseconds, and this
//!   memory is one of the stream's sinks ([`ChangeSink`]): a session or API token revoked,
//!   expired or deleted, a user changed (role, active flag, password) or deleted, a
//!   coordinator's teams changed, a tenant deleted: its entries are forgotten as the change is
//!   applied, so a revoked token fails within the stream's lag, whoever wrote the change (the
//!   API, psql). A verification that raced with such a change is not remembered (the
//!   [`Credentials::epoch`] moved). When the stream restarts from a snapshot, everything is
//!   forgotten.
//! - **Reads while the stream is down** (which a stopped or unreachable PostgreSQL always causes
//!   first), or when a lookup fails for want of a connection, use an entry verified within
//!   [`GRACE`], so the inbox (served from memory anyway) still answers, saying since when it may
//!   be stale, instead of failing after the pool's timeout.
//!
//! Writes always verify in PostgreSQL. No entry is used past the credential's own expiry. API
//! tokens used from memory are noted, and their `last_used_at` written in batches
//! ([`Credentials::take_used`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use platica_changes::decode::{Op, RowEvent};
use platica_changes::{ChangeSink, Committed};
use platica_domain::{TenantId, UserId};
use platica_inbox::Engine;
use platica_store::org::auth::{Principal, TokenKind};
use sha2::{Digest, Sha256};

/// How long after its last verification an entry may stand in for PostgreSQL while the stream is
/// down.
pub const GRACE: Duration = Duration::from_secs(15 * 60);
/// How long after its last verification an entry answers reads while the stream is live (a bound
/// on anything the stream could miss; revocations arrive far sooner through the stream).
pub const LIVE_TRUST: Duration = Duration::from_secs(60);
/// Entries kept at most; past it the oldest half is dropped.
const CAPACITY: usize = 100_000;

/// The verified credentials (keyed by the token's SHA-256: tokens are not kept in memory).
#[derive(Default)]
pub struct Credentials {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
    /// Moves at every forgetting: a verification that started before it is not remembered.
    epoch: AtomicU64,
    /// API tokens used from memory since the last [`Credentials::take_used`], with when.
    used: Mutex<HashMap<(TenantId, i64), DateTime<Utc>>>,
    /// Whether the change stream feeds this memory ([`Credentials::watching`]): only then do
    /// live reads answer from it.
    watched: std::sync::atomic::AtomicBool,
}

struct Entry {
    principal: Principal,
    verified: Instant,
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Credentials {
    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This memory as the change stream's sink: from now on, live reads answer from it.
    pub fn watching(self: &std::sync::Arc<Self>) -> std::sync::Arc<dyn ChangeSink> {
        self.watched.store(true, Ordering::Release);
        self.clone()
    }

    /// The current epoch: take it before verifying, give it to [`Credentials::remember_since`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    fn forgot(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// Records that `token` was verified just now as `principal` (by a verification that started
    /// at `epoch`): unless something was forgotten since, which the verification may have missed.
    pub fn remember_since(&self, token: &str, principal: &Principal, epoch: u64) {
        let mut entries = self.entries();
        if self.epoch() != epoch {
            return;
        }
        if entries.len() >= CAPACITY && !entries.contains_key(&key(token)) {
            let mut ages: Vec<Instant> = entries.values().map(|e| e.verified).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, e| e.verified > cut);
        }
        entries.insert(key(token), Entry { principal: principal.clone(), verified: Instant::now() });
    }

    /// Records that `token` was verified just now as `principal`.
    pub fn remember(&self, token: &str, principal: &Principal) {
        self.remember_since(token, principal, self.epoch());
    }

    fn recall_within(&self, token: &str, within: Duration) -> Option<Principal> {
        let entries = self.entries();
        let e = entries.get(&key(token))?;
        let fresh = e.verified.elapsed() <= within;
        let unexpired = e.principal.expires_at.is_none_or(|at| at > Utc::now());
        (fresh && unexpired).then(|| e.principal.clone())
    }

    /// The principal `token` was last verified as, if that was within [`GRACE`] and the
    /// credential has not expired since (for reads while PostgreSQL cannot answer).
    pub fn recall(&self, token: &str) -> Option<Principal> {
        self.recall_within(token, GRACE)
    }

    /// The principal `token` was last verified as, if that was within [`LIVE_TRUST`] and the
    /// credential has not expired since (for reads while the change stream is live). An API
    /// token's use is noted for [`Credentials::take_used`].
    pub fn recall_live(&self, token: &str) -> Option<Principal> {
        if !self.watched.load(Ordering::Acquire) {
            return None;
        }
        let p = self.recall_within(token, LIVE_TRUST)?;
        if p.kind == TokenKind::Api {
            self.used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert((p.viewer.tenant_id, p.credential_id), Utc::now());
        }
        Some(p)
    }

    /// The API tokens used from memory since the last call, with when each was last used.
    pub fn take_used(&self) -> Vec<(TenantId, i64, DateTime<Utc>)> {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.drain().map(|((t, id), at)| (t, id, at)).collect()
    }

    /// Forgets `token` (logged out, or found invalid).
    pub fn forget(&self, token: &str) {
        let mut entries = self.entries();
        self.forgot();
        entries.remove(&key(token));
    }

    fn forget_where(&self, gone: impl Fn(&Principal) -> bool) {
        let mut entries = self.entries();
        self.forgot();
        entries.retain(|_, e| !gone(&e.principal));
    }

    /// Forgets every entry of one credential (a revoked API token).
    pub fn forget_credential(&self, tenant: TenantId, kind: TokenKind, credential_id: i64) {
        self.forget_where(|p| p.viewer.tenant_id == tenant && p.kind == kind && p.credential_id == credential_id);
    }

    /// Forgets every entry of one user (their role, teams, password or active flag changed).
    pub fn forget_user(&self, tenant: TenantId, user: UserId) {
        self.forget_where(|p| p.viewer.tenant_id == tenant && p.viewer.user_id == user);
    }

    /// Forgets every entry of one tenant.
    pub fn forget_tenant(&self, tenant: TenantId) {
        self.forget_where(|p| p.viewer.tenant_id == tenant);
    }

    /// Forgets everything.
    pub fn forget_all(&self) {
        self.forget_where(|_| true);
    }

    /// Forgets what one row change may have made wrong.
    fn apply(&self, change: &RowEvent) {
        let t = change.tenant_id;
        match change.table.as_str() {
            // Any change of a credential's row: it may have been revoked, shortened or deleted.
            "sessions" => {
                if let Some(id) = change.int("session_id") {
                    self.forget_credential(t, TokenKind::Session, id);
                }
            }
            "api_tokens" => {
                // Our own `last_used_at` writes arrive here too: only a revocation, an expiry or
                // a deletion matters.
                let ended = change.op == Op::Delete
                    || change.row().is_some_and(|r| {
                        r.get("revoked_at").is_some_and(|v| !v.is_null())
                            || r.get("expires_at")
                                .and_then(|v| v.as_str())
                                .is_some_and(|at| DateTime::parse_from_rfc3339(at).is_ok_and(|at| at <= Utc::now()))
                    });
                if ended && let Some(id) = change.int("token_id") {
                    self.forget_credential(t, TokenKind::Api, id);
                }
            }
            "users" | "coordinator_teams" => {
                if let Some(user) = change.int("user_id") {
                    self.forget_user(t, UserId(user));
                }
            }
            "tenants" if change.op == Op::Delete => self.forget_tenant(t),
            _ => {}
        }
    }
}

/// The tables whose changes can make a remembered credential wrong.
const WATCHED: [&str; 5] = ["sessions", "api_tokens", "users", "coordinator_teams", "tenants"];

impl ChangeSink for Credentials {
    fn committed(&self, _engine: &Engine, tx: &Committed) {
        for change in &tx.rows {
            if WATCHED.contains(&change.table.as_str()) {
                self.apply(change);
            }
        }
        // A transaction too large to hold its rows names the tenants and tables it changed.
        for (tenant, table) in &tx.overflow {
            if WATCHED.contains(&table.as_str()) {
                self.forget_tenant(*tenant);
            }
        }
    }

    fn reset(&self, _engine: &Engine, _lsn: u64) {
        self.forget_all();
    }

    fn degraded(&self, _since: DateTime<Utc>, _reason: &str) {}
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use platica_domain::{Role, Viewer};

    use super::*;

    fn principal(tenant: i64, user: i64, credential: i64, expires_in: Option<chrono::Duration>) -> Principal {
        Principal {
            viewer: Viewer {
                tenant_id: TenantId(tenant),
                user_id: UserId(user),
                role: Role::Executive,
                teams: BTreeSet::new(),
            },
            kind: TokenKind::Session,
            credential_id: credential,
            expires_at: expires_in.map(|d| Utc::now() + d),
            display_name: "Ana".into(),
            email: "ana@example.test".into(),
        }
    }

    #[test]
    fn a_remembered_token_is_recalled_until_forgotten() {
        let c = Credentials::default();
        assert!(c.recall("t1").is_none());
        c.remember("t1", &principal(1, 7, 70, Some(chrono::Duration::hours(1))));
        assert_eq!(c.recall("t1").map(|p| p.credential_id), Some(70));
        assert!(c.recall("t2").is_none(), "another token is not recalled");
        c.forget("t1");
        assert!(c.recall("t1").is_none());
    }

    #[test]
    fn an_expired_credential_is_not_recalled() {
        let c = Credentials::default();
        c.remember("old", &principal(1, 7, 70, Some(chrono::Duration::seconds(-1))));
        assert!(c.recall("old").is_none());
        c.remember("forever", &principal(1, 7, 71, None));
        assert!(c.recall("forever").is_some(), "an API token without expiry stays");
    }

    #[test]
    fn a_verification_that_raced_a_forgetting_is_not_remembered() {
        let c = Credentials::default();
        let p = principal(1, 7, 70, None);
        // A request verifies the token in PostgreSQL (taking the epoch first)...
        let epoch = c.epoch();
        // ...while the stream applies the credential's revocation, committed after that read.
        c.forget_credential(TenantId(1), TokenKind::Session, 70);
        c.remember_since("t", &p, epoch);
        assert!(c.recall("t").is_none(), "the raced verification would keep a revoked token alive");
        // A verification begun after the forgetting is remembered.
        c.remember_since("t", &p, c.epoch());
        assert_eq!(c.recall("t").map(|p| p.credential_id), Some(70));
    }

    #[test]
    fn revoking_a_credential_or_changing_a_user_forgets_only_theirs() {
        let c = Credentials::default();
        c.remember("a", &principal(1, 7, 70, None));
        c.remember("b", &principal(1, 7, 71, None));
        c.remember("c", &principal(1, 8, 72, None));
        c.remember("d", &principal(2, 7, 70, None));
        c.forget_credential(TenantId(1), TokenKind::Session, 70);
        assert!(c.recall("a").is_none());
        assert!(c.recall("b").is_some() && c.recall("c").is_some() && c.recall("d").is_some());
        c.forget_user(TenantId(1), UserId(8));
        assert!(c.recall("c").is_none());
        assert!(c.recall("b").is_some() && c.recall("d").is_some(), "other users and tenants stay");
    }
}
