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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use platica_store::channels::{self, WebhookAccount};
use platica_store::secrets::SecretKey;
use platica_store::{PgPool, StoreError, StoreResult};
use sha2::Sha256;

/// An account and its keyed signature check.
#[derive(Clone)]
pub struct Verifier {
    pub account: WebhookAccount,
    mac: Hmac<Sha256>,
}

impl Verifier {
    /// Opens the account's app secret with `key`.
    pub fn new(account: WebhookAccount, key: &SecretKey) -> StoreResult<Verifier> {
        let secret = account.app_secret(key)?;
        // HMAC takes keys of any length: this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
            .map_err(|e| StoreError::Config(format!("cannot key HMAC-SHA256: {e}")))?;
        Ok(Verifier { mac, account })
    }

    /// Whether `signature` is the HMAC-SHA256 of `body` with the app secret (constant time).
    pub fn signed(&self, body: &[u8], signature: &[u8; 32]) -> bool {
        let mut mac = self.mac.clone();
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    }
}

/// Where a verifier came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

/// The cache (one per server).
#[derive(Default)]
pub struct WebhookAccounts {
    entries: Mutex<HashMap<String, (Instant, Arc<Verifier>)>>,
}

impl WebhookAccounts {
    /// How long an entry is used before the database is asked again.
    pub const TTL: Duration = Duration::from_secs(5);

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
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Arc<Verifier>)>> {
        // A panic while holding this lock cannot leave the map inconsistent: use it anyway.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
