//! Credentials recently verified, so reads keep answering while PostgreSQL cannot be asked.
//!
//! Every request verifies its token in PostgreSQL ([`platica_store::org::auth::authenticate`]); what
//! it finds is remembered here. The memory is consulted only for reads (GET, HEAD, a WebSocket
//! upgrade) and only when the database cannot answer: while the live inbox is degraded (the
//! change stream is down, which a stopped or unreachable PostgreSQL always causes first), or when
//! the lookup itself fails for want of a connection. Then the inbox, served from memory anyway,
//! still answers (saying since when it may be stale) instead of failing after the pool's
//! timeout. Writes always verify in PostgreSQL.
//!
//! An entry is used for at most [`GRACE`] after its last verification and never past the
//! credential's own expiry. Logging out, revoking a token and changing a user (role, teams,
//! password, deactivation) through the API forget the entries they affect at once; a token
//! found invalid is forgotten on its next lookup.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::Utc;
use platica_domain::{TenantId, UserId};
use platica_store::org::auth::{Principal, TokenKind};
use sha2::{Digest, Sha256};

/// How long after its last verification an entry may stand in for PostgreSQL.
pub const GRACE: Duration = Duration::from_secs(15 * 60);
/// Entries kept at most; past it the oldest half is dropped.
const CAPACITY: usize = 100_000;

/// The verified credentials (keyed by the token's SHA-256: tokens are not kept in memory).
#[derive(Default)]
pub struct Credentials {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
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

    /// Records that `token` was verified just now as `principal`.
    pub fn remember(&self, token: &str, principal: &Principal) {
        let mut entries = self.entries();
        if entries.len() >= CAPACITY && !entries.contains_key(&key(token)) {
            let mut ages: Vec<Instant> = entries.values().map(|e| e.verified).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            entries.retain(|_, e| e.verified > cut);
        }
        entries.insert(key(token), Entry { principal: principal.clone(), verified: Instant::now() });
    }

    /// The principal `token` was last verified as, if that was within [`GRACE`] and the
    /// credential has not expired since.
    pub fn recall(&self, token: &str) -> Option<Principal> {
        let entries = self.entries();
        let e = entries.get(&key(token))?;
        let fresh = e.verified.elapsed() <= GRACE;
        let unexpired = e.principal.expires_at.is_none_or(|at| at > Utc::now());
        (fresh && unexpired).then(|| e.principal.clone())
    }

    /// Forgets `token` (logged out, or found invalid).
    pub fn forget(&self, token: &str) {
        self.entries().remove(&key(token));
    }

    /// Forgets every entry of one credential (a revoked API token).
    pub fn forget_credential(&self, tenant: TenantId, kind: TokenKind, credential_id: i64) {
        self.entries().retain(|_, e| {
            !(e.principal.viewer.tenant_id == tenant
                && e.principal.kind == kind
                && e.principal.credential_id == credential_id)
        });
    }

    /// Forgets every entry of one user (their role, teams, password or active flag changed).
    pub fn forget_user(&self, tenant: TenantId, user: UserId) {
        self.entries().retain(|_, e| !(e.principal.viewer.tenant_id == tenant && e.principal.viewer.user_id == user));
    }
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
