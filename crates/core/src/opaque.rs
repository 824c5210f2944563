//! Opaque secrets (refresh tokens, API key secrets, invitation and reset tokens): random,
//! ≥ 256 bits, shown once, stored only as a keyed hash. Shared by the modules that issue them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

/// A new random secret of `bytes` bytes (at least 32), base64url without padding.
pub fn generate(bytes: usize) -> Result<String, aws_lc_rs::error::Unspecified> {
    let mut buf = vec![0_u8; bytes.max(32)];
    aws_lc_rs::rand::fill(&mut buf)?;
    Ok(URL_SAFE_NO_PAD.encode(buf))
}

/// HMAC-SHA256 of `value` under `key`, hex: what is stored instead of the secret. Fast on
/// purpose: the secrets are random and long, so they need no slow hash; the key keeps a stolen
/// table useless without the cell secret.
pub fn keyed_hash(key: &SecretString, value: &str) -> String {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.expose_secret().as_bytes())
    else {
        // HMAC accepts keys of any length; unreachable in practice.
        return String::new();
    };
    mac.update(value.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `value` hashes to `stored`, in constant time.
pub fn matches(key: &SecretString, value: &str, stored: &str) -> bool {
    let computed = keyed_hash(key, value);
    !stored.is_empty() && computed.as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_stored_keyed() {
        let a = generate(32).unwrap();
        let b = generate(16).unwrap();
        assert_eq!(a.len(), 43, "32 bytes in base64url");
        assert_eq!(b.len(), 43, "never fewer than 32 bytes");
        assert_ne!(a, b);
        let key = SecretString::from("cell-secret");
        let other = SecretString::from("another-cell");
        let stored = keyed_hash(&key, &a);
        assert_eq!(stored.len(), 64);
        assert!(!stored.contains(&a));
        assert!(matches(&key, &a, &stored));
        assert!(!matches(&key, &b, &stored));
        assert!(
            !matches(&other, &a, &stored),
            "the hash depends on the cell secret"
        );
        assert!(!matches(&key, &a, ""));
    }
}
