//! Password hashing with Argon2id (the `argon2` crate's defaults: 19 MiB, 2 passes).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;

/// Hashes `password` into a PHC string (`$argon2id$...`).
pub fn hash(password: &str) -> String {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    // Encoding 16 random bytes as a salt cannot fail; hashing with default params neither.
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 default parameters are valid")
        .to_string()
}

/// [`hash`] on the blocking thread pool: Argon2id takes tens of milliseconds of CPU, which must
/// not stall the async runtime's workers.
pub async fn hash_blocking(password: &str) -> String {
    let owned = password.to_owned();
    match tokio::task::spawn_blocking(move || hash(&owned)).await {
        Ok(h) => h,
        // Only when the runtime is shutting down: hash on this thread instead.
        Err(_) => hash(password),
    }
}

/// Whether `password` matches the PHC string `stored`. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password nobody knows: verifying against it costs the same time as a real
/// check, so a login for an unknown e-mail cannot be told apart by timing.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        hash(&format!("{bytes:?}"))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip() {
        let h = super::hash("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("wrong horse", &h));
        assert!(!super::verify("correct horse", "not a hash"));
    }
}
