//! Secrets at rest: the server's 32-byte key and the authenticated encryption of channel secrets
//! (XChaCha20-Poly1305, RustCrypto `chacha20poly1305`).
//!
//! The key comes from `PLATICA_SECRET_KEY` (base64 of 32 bytes) or, when that is not set, from
//! `<data dir>/secret.key`, generated once with mode 0600. Every ciphertext has its own random
//! 24-byte nonce (XChaCha's nonces are long enough to draw at random), and its associated data
//! names the tenant and the field, so a ciphertext copied to another row or column fails to open.
//!
//! The running server loads its key once ([`SecretKey::load`]), installs it ([`install`]: one key
//! per process) and hands it to what needs it (the HTTP state, the WhatsApp work); nothing reads
//! it back from a global.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use platica_domain::TenantId;

/// The environment variable holding the key (base64, standard alphabet, 32 bytes).
pub const KEY_ENV: &str = "PLATICA_SECRET_KEY";
/// The key file's name under the data dir.
pub const KEY_FILE: &str = "secret.key";
/// Length of a nonce.
pub const NONCE_LEN: usize = 24;

/// What can go wrong with the key or a ciphertext.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{source_name} is not a valid secret key: {reason} (expected the base64 of exactly 32 bytes, e.g. from `openssl rand -base64 32`)"
    )]
    MalformedKey { source_name: String, reason: String },
    #[error("cannot {action} the secret key file {}: {source}", path.display())]
    KeyFile {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("a different secret key is already installed in this process")]
    AlreadyInstalled,
    /// Wrong key, or a ciphertext moved to another tenant or field, or corrupted.
    #[error("a secret cannot be encrypted")]
    Unencryptable,
    #[error("a stored secret cannot be decrypted: wrong PLATICA_SECRET_KEY or corrupted data")]
    Undecryptable,
}

/// The 32-byte key. Its `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A sealed secret: what is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
}

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> SecretKey {
        SecretKey(bytes)
    }

    /// A fresh random key.
    pub fn generate() -> SecretKey {
        SecretKey(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// Parses the base64 of 32 bytes; `source_name` names where it came from, for the error.
    pub fn from_base64(text: &str, source_name: &str) -> Result<SecretKey, SecretError> {
        let malformed = |reason: String| SecretError::MalformedKey { source_name: source_name.to_owned(), reason };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| malformed(format!("not base64 ({e})")))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| malformed(format!("{} bytes", b.len())))?;
        Ok(SecretKey(bytes))
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// The server's key: `PLATICA_SECRET_KEY` when set, else `<data_dir>/secret.key`, created
    /// (0600) with a random key when absent.
    pub fn load(data_dir: &Path) -> Result<SecretKey, SecretError> {
        match std::env::var(KEY_ENV) {
            Ok(v) => SecretKey::from_base64(&v, KEY_ENV),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(SecretError::MalformedKey { source_name: KEY_ENV.to_owned(), reason: "not valid UTF-8".to_owned() })
            }
            Err(std::env::VarError::NotPresent) => SecretKey::load_or_create_file(&data_dir.join(KEY_FILE)),
        }
    }

    /// Reads the key file, or creates it with a new key (mode 0600, never overwriting).
    pub fn load_or_create_file(path: &Path) -> Result<SecretKey, SecretError> {
        let read = |path: &Path| -> Result<SecretKey, SecretError> {
            let text = std::fs::read_to_string(path).map_err(|source| SecretError::KeyFile {
                action: "read",
                path: path.to_owned(),
                source,
            })?;
            SecretKey::from_base64(&text, &path.display().to_string())
        };
        if path.exists() {
            return read(path);
        }
        let io = |action| move |source| SecretError::KeyFile { action, path: path.to_owned(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
        }
        let key = SecretKey::generate();
        let created = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
        };
        match created {
            Ok(mut file) => {
                file.write_all(format!("{}\n", key.to_base64()).as_bytes()).map_err(io("write"))?;
                file.sync_all().map_err(io("write"))?;
                tracing::info!(path = %path.display(), "generated a new secret key for channel secrets");
                Ok(key)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(path),
            Err(e) => Err(io("create")(e)),
        }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Encrypts `plaintext` for `field` of `tenant`.
    pub fn seal(&self, tenant: TenantId, field: &str, plaintext: &str) -> Result<Sealed, SecretError> {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(tenant, field);
        // Encryption only fails for messages beyond 2^38 bytes; secrets are validated far below.
        let ciphertext = self
            .cipher()
            .encrypt(&nonce, Payload { msg: plaintext.as_bytes(), aad: &aad })
            .map_err(|_| SecretError::Unencryptable)?;
        Ok(Sealed { ciphertext, nonce: nonce.to_vec() })
    }

    /// Decrypts what [`SecretKey::seal`] made for the same tenant and field.
    pub fn open(&self, tenant: TenantId, field: &str, ciphertext: &[u8], nonce: &[u8]) -> Result<String, SecretError> {
        if nonce.len() != NONCE_LEN {
            return Err(SecretError::Undecryptable);
        }
        let aad = associated_data(tenant, field);
        let plain = self
            .cipher()
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad })
            .map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| SecretError::Undecryptable)
    }
}

fn associated_data(tenant: TenantId, field: &str) -> Vec<u8> {
    format!("platica/v1/tenant/{}/{field}", tenant.0).into_bytes()
}

static KEY: OnceLock<SecretKey> = OnceLock::new();

/// Installs the process's key (at start-up). Installing the same key again is a no-op; another
/// key is refused.
pub fn install(key: SecretKey) -> Result<&'static SecretKey, SecretError> {
    let installed = KEY.get_or_init(|| key.clone());
    if *installed == key { Ok(installed) } else { Err(SecretError::AlreadyInstalled) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_and_open_round_trip_bound_to_tenant_and_field() {
        let key = SecretKey::from_bytes([7; 32]);
        let s = key.seal(TenantId(1), "app_secret", "shh").unwrap();
        assert_eq!(s.nonce.len(), NONCE_LEN);
        assert_ne!(s.ciphertext, b"shh");
        assert_eq!(key.open(TenantId(1), "app_secret", &s.ciphertext, &s.nonce).unwrap(), "shh");
        assert!(key.open(TenantId(2), "app_secret", &s.ciphertext, &s.nonce).is_err(), "other tenant");
        assert!(key.open(TenantId(1), "verify_token", &s.ciphertext, &s.nonce).is_err(), "other field");
        let other = SecretKey::from_bytes([8; 32]);
        assert!(other.open(TenantId(1), "app_secret", &s.ciphertext, &s.nonce).is_err(), "other key");
        let again = key.seal(TenantId(1), "app_secret", "shh").unwrap();
        assert_ne!(again.nonce, s.nonce, "fresh nonce each time");
    }

    #[test]
    fn malformed_keys_are_refused_clearly() {
        let e = SecretKey::from_base64("not base64!", "PLATICA_SECRET_KEY").unwrap_err().to_string();
        assert!(e.contains("PLATICA_SECRET_KEY") && e.contains("base64"), "{e}");
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 16]);
        let e = SecretKey::from_base64(&short, "x").unwrap_err().to_string();
        assert!(e.contains("16 bytes"), "{e}");
        let good = SecretKey::from_bytes([3; 32]).to_base64();
        assert_eq!(SecretKey::from_base64(&format!(" {good}\n"), "x").unwrap(), SecretKey::from_bytes([3; 32]));
    }

    #[test]
    fn the_key_file_is_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("platica-secret-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join(KEY_FILE);
        let first = SecretKey::load_or_create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let second = SecretKey::load_or_create_file(&path).unwrap();
        assert_eq!(first, second);
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(SecretKey::load_or_create_file(&path), Err(SecretError::MalformedKey { .. })));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
