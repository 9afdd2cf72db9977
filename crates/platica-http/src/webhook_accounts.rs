//! The channel accounts that webhooks name, ready to check signatures: looked up by phone number
//! id and kept for a few seconds, so a busy number costs no query and no decryption per webhook.
//!
//! What is kept is the account's routing data and an HMAC-SHA256 keyed with its app secret (the
//! keyed state, not the secret's text). Staleness is bounded three ways:
//! - every entry expires after [`WebhookAccounts::TTL`];
//! - this server's own changes to channel accounts clear the cache at once (routes/channels.rs);
//! - a signature that a cached key does not verify is checked again against the account as the
//!   database has it now (a rotated app secret works from its first webhook), and an ingestion
//!   that fails drops the entry (a deleted account is not used again).
//!
//! Numbers no account has are not remembered: each such webhook looks again.
//!
//! A webhook that names no known number (an unknown number, garbage) can only be authenticated
//! against every account's app secret. Those keyed checks are built once per [`WebhookAccounts::TTL`]
//! ([`WebhookAccounts::all`]), never per request: such webhooks cost HMACs, not decryptions of
//! every tenant's secrets. They are also rate-limited ([`WebhookAccounts::admit_unknown`]) and
//! the refusals logged once per window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use platica_domain::signature;
use platica_store::secrets::SecretKey;
use platica_store::whatsapp::channels::{self, WebhookAccount};
use platica_store::{PgPool, StoreResult};
use sha2::Sha256;

/// An account and its keyed signature check.
#[derive(Clone)]
pub struct Verifier {
    pub account: WebhookAccount,
    key: signature::Key,
}

impl Verifier {
    /// Opens the account's app secret with `key`.
    pub fn new(account: WebhookAccount, key: &SecretKey) -> StoreResult<Verifier> {
        let secret = account.app_secret(key)?;
        Ok(Verifier { key: signature::Key::new(secret.as_bytes()), account })
    }

    /// Whether `signature` is the HMAC-SHA256 of `body` with the app secret (constant time).
    pub fn signed(&self, body: &[u8], signature: &[u8; 32]) -> bool {
        self.key.verify(body, signature)
    }
}

/// Where a verifier came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

/// Keyed checks, one per distinct app secret.
pub type Verifiers = Arc<Vec<Arc<Verifier>>>;

/// The cache (one per server).
pub struct WebhookAccounts {
    entries: Mutex<HashMap<String, (Instant, Arc<Verifier>)>>,
    /// Every account's keyed check (one per distinct app secret), and when it was built.
    all: tokio::sync::Mutex<Option<(Instant, Verifiers)>>,
    /// Webhooks that name no known number, per second.
    unknown: governor::DefaultDirectRateLimiter,
    /// Refusals since the last log line, and when that was.
    refused: Mutex<(u64, Option<Instant>)>,
}

impl Default for WebhookAccounts {
    fn default() -> Self {
        let per_second = std::num::NonZeroU32::new(Self::UNKNOWN_PER_SECOND).unwrap_or(std::num::NonZeroU32::MIN);
        WebhookAccounts {
            entries: Mutex::default(),
            all: tokio::sync::Mutex::new(None),
            unknown: governor::RateLimiter::direct(governor::Quota::per_second(per_second)),
            refused: Mutex::new((0, None)),
        }
    }
}

impl WebhookAccounts {
    /// How long an entry is used before the database is asked again.
    pub const TTL: Duration = Duration::from_secs(5);
    /// Webhooks naming no known number checked per second (beyond: 429 at once).
    pub const UNKNOWN_PER_SECOND: u32 = 20;
    /// Refused webhooks are logged at most once per this window (with how many).
    pub const LOG_WINDOW: Duration = Duration::from_secs(10);

    /// Every account's keyed signature check, one per distinct app secret: built at most once per
    /// [`Self::TTL`] (accounts whose secret cannot be opened are logged and skipped).
    pub async fn all(&self, pool: &PgPool, key: &SecretKey) -> StoreResult<Verifiers> {
        let mut all = self.all.lock().await;
        if let Some((at, v)) = all.as_ref()
            && at.elapsed() < Self::TTL
        {
            return Ok(v.clone());
        }
        let mut seen = std::collections::HashSet::new();
        let mut verifiers = Vec::new();
        for account in channels::webhook_accounts(pool).await? {
            let secret = match account.app_secret(key) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(tenant_id = account.tenant_id.0, channel_account_id = account.channel_account_id,
                        error = %e, "cannot open an app secret");
                    continue;
                }
            };
            if !seen.insert(<Sha256 as sha2::Digest>::digest(secret.as_bytes()).to_vec()) {
                continue;
            }
            match Verifier::new(account, key) {
                Ok(v) => verifiers.push(Arc::new(v)),
                Err(e) => tracing::error!(error = %e, "cannot key a webhook signature check"),
            }
        }
        let v = Arc::new(verifiers);
        *all = Some((Instant::now(), v.clone()));
        Ok(v)
    }

    /// Whether one more webhook naming no known number may be checked now.
    pub fn admit_unknown(&self) -> bool {
        self.unknown.check().is_ok()
    }

    /// Counts a refused webhook; logs (with the count) at most once per [`Self::LOG_WINDOW`].
    pub fn refused(&self, why: &str) {
        let mut r = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        r.0 += 1;
        if r.1.is_none_or(|at| at.elapsed() >= Self::LOG_WINDOW) {
            tracing::warn!(refused = r.0, reason = why, "webhooks refused (logged once per 10 s)");
            *r = (0, Some(Instant::now()));
        }
    }

    /// The account for `phone_number_id`: from the cache unless `fresh`, else from the database
    /// (then cached). `None` when no account has that number.
    pub async fn get(
        &self,
        pool: &PgPool,
        key: &SecretKey,
        phone_number_id: &str,
        fresh: bool,
    ) -> StoreResult<Option<(Arc<Verifier>, Source)>> {
        if !fresh && let Some(v) = self.cached(phone_number_id) {
            return Ok(Some((v, Source::Cache)));
        }
        let Some(account) = channels::find_by_phone_number_id(pool, phone_number_id).await? else {
            self.forget(phone_number_id);
            return Ok(None);
        };
        let verifier = Arc::new(Verifier::new(account, key)?);
        self.lock().insert(phone_number_id.to_owned(), (Instant::now(), verifier.clone()));
        Ok(Some((verifier, Source::Database)))
    }

    fn cached(&self, phone_number_id: &str) -> Option<Arc<Verifier>> {
        let mut entries = self.lock();
        match entries.get(phone_number_id) {
            Some((at, v)) if at.elapsed() < Self::TTL => Some(v.clone()),
            Some(_) => {
                entries.remove(phone_number_id);
                None
            }
            None => None,
        }
    }

    /// Drops one number's entry.
    pub fn forget(&self, phone_number_id: &str) {
        self.lock().remove(phone_number_id);
    }

    /// Drops every entry (after a change to channel accounts).
    pub fn clear(&self) {
        self.lock().clear();
        if let Ok(mut all) = self.all.try_lock() {
            *all = None;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<Verifier>)>> {
        // A panic while holding this lock cannot leave the map inconsistent: use it anyway.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// When this server last wrote each number's `last_webhook_at` (channel health): a number's
/// webhooks refresh it at most once per [`Touches::EVERY`], so a busy number costs no write (and
/// no query) per webhook.
#[derive(Default)]
pub struct Touches {
    last: Mutex<HashMap<(i64, i64), Instant>>,
}

impl Touches {
    pub const EVERY: Duration =
        Duration::from_secs(platica_store::whatsapp::channel_health::WEBHOOK_TOUCH_EVERY_SECS as u64);
    /// Entries kept at most (the map is emptied beyond it: at worst one more write per number).
    const MAX: usize = 10_000;

    /// Whether a webhook of `account` should refresh its health now (and, if so, that it did).
    pub fn due(&self, tenant: i64, account: i64) -> bool {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.get(&(tenant, account)).is_some_and(|t| now.duration_since(*t) < Self::EVERY) {
            return false;
        }
        if last.len() >= Self::MAX {
            last.clear();
        }
        last.insert((tenant, account), now);
        true
    }
}
