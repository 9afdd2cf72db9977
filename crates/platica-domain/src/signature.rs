//! Webhook body signatures: HMAC-SHA256 of the raw body with a shared secret, carried in a
//! header as `sha256=<64 lowercase hex digits>`.
//!
//! One module for every signed webhook Platica sends or receives: the WhatsApp Cloud API's
//! `X-Hub-Signature-256` (checked by the webhook, produced by the simulator and the load tool)
//! and the call provider's `X-Platica-Signature`. Verification is constant time
//! (`hmac`'s `verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What precedes the hex digits in the header.
pub const PREFIX: &str = "sha256=";

/// Why a header value is not a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The value does not start with `sha256=`.
    #[error("must be sha256=<hex>")]
    Prefix,
    /// The digits are not 64 hex digits.
    #[error("must be sha256=<64 hex digits>")]
    Hex,
}

/// An HMAC-SHA256 keyed with one secret, ready to sign and verify many bodies (keying once).
#[derive(Clone)]
pub struct Key(Hmac<Sha256>);

impl Key {
    /// Keys with `secret` (any length).
    pub fn new(secret: &[u8]) -> Key {
        // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
        match Hmac::<Sha256>::new_from_slice(secret) {
            Ok(mac) => Key(mac),
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        }
    }

    /// The 32-byte HMAC of `body`.
    pub fn mac(&self, body: &[u8]) -> [u8; 32] {
        let mut mac = self.0.clone();
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// The header value for `body`: `sha256=<hex>`.
    pub fn sign(&self, body: &[u8]) -> String {
        format!("{PREFIX}{}", hex::encode(self.mac(body)))
    }

    /// Whether `signature` is the HMAC of `body` (constant time).
    pub fn verify(&self, body: &[u8], signature: &[u8; 32]) -> bool {
        let mut mac = self.0.clone();
        mac.update(body);
        mac.verify_slice(signature).is_ok()
    }

    /// Whether the header value `header` signs `body` (constant time once parsed).
    pub fn verify_header(&self, body: &[u8], header: &str) -> bool {
        parse(header).is_ok_and(|sig| self.verify(body, &sig))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

/// The header value for `body` signed with `secret`: `sha256=<hex HMAC-SHA256>`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    Key::new(secret.as_bytes()).sign(body)
}

/// Whether `signature` is the HMAC-SHA256 of `body` with `secret` (constant time).
pub fn verify(secret: &str, body: &[u8], signature: &[u8; 32]) -> bool {
    Key::new(secret.as_bytes()).verify(body, signature)
}

/// The 32 bytes of a header value `sha256=<64 hex digits>` (surrounding spaces allowed).
pub fn parse(header: &str) -> Result<[u8; 32], SignatureError> {
    let digits = header.trim().strip_prefix(PREFIX).ok_or(SignatureError::Prefix)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(digits, &mut out).map_err(|_| SignatureError::Hex)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC: &str = "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";

    #[test]
    fn known_vector_rfc_4231_case_2() {
        assert_eq!(sign("Jefe", b"what do ya want for nothing?"), RFC);
        assert_eq!(Key::new(b"Jefe").sign(b"what do ya want for nothing?"), RFC);
        assert_eq!(parse(RFC).map(hex::encode).as_deref(), Ok(&RFC[PREFIX.len()..]));
    }

    #[test]
    fn verifies_only_the_right_key_and_body() {
        let body = br#"{"object":"whatsapp_business_account"}"#;
        let header = sign("app-secret", body);
        let sig = parse(&header).expect("parses");
        assert!(verify("app-secret", body, &sig));
        assert!(Key::new(b"app-secret").verify_header(body, &header));
        assert!(Key::new(b"app-secret").verify_header(body, &format!("  {header} ")));
        assert!(!verify("other", body, &sig), "wrong key");
        assert!(!verify("app-secret", b"{ \"object\":\"whatsapp_business_account\"}", &sig), "other body");
        assert!(!Key::new(b"app-secret").verify_header(body, &header.replace("sha256=", "sha1=")), "wrong prefix");
    }

    #[test]
    fn wrong_prefix_and_odd_hex_are_refused() {
        let digits = &RFC[PREFIX.len()..];
        assert_eq!(parse(digits), Err(SignatureError::Prefix));
        assert_eq!(parse(&format!("sha1={digits}")), Err(SignatureError::Prefix));
        assert_eq!(parse(&format!("SHA256={digits}")), Err(SignatureError::Prefix));
        assert_eq!(parse(&format!("sha256={}", &digits[1..])), Err(SignatureError::Hex), "odd length");
        assert_eq!(parse(&format!("sha256={}", &digits[2..])), Err(SignatureError::Hex), "too short");
        assert_eq!(parse(&format!("sha256={digits}00")), Err(SignatureError::Hex), "too long");
        assert_eq!(parse(&format!("sha256=zz{}", &digits[2..])), Err(SignatureError::Hex), "not hex");
        assert_eq!(parse("sha256="), Err(SignatureError::Hex));
        assert!(parse(&RFC.to_uppercase().replace("SHA256=", "sha256=")).is_ok(), "upper-case digits are hex");
    }
}
