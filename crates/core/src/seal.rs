//! Secrets a module must be able to read back (a TOTP seed, a webhook's signing secret) are
//! sealed at rest with AES-256-GCM under a key derived from `cell.secret_key` for one purpose
//! ([`crate::CellConfig::derived_key`]): a copy of the database alone does not reveal them.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};

/// A 32-byte key for `label` (`<module>.<purpose>.v<n>`), HMAC-SHA256 of the label under the
/// cell's secret: one secret in the configuration, an independent key per purpose.
pub fn derive_key(secret: &SecretString, label: &str) -> Result<[u8; 32], String> {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|e| e.to_string())?;
    mac.update(label.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

/// Fills `buf` from the operating system's generator.
pub fn fill_random(buf: &mut [u8]) -> Result<(), String> {
    aws_lc_rs::rand::fill(buf).map_err(|e| e.to_string())
}

/// Seals `plain`: base64(nonce ‖ ciphertext ‖ tag), a fresh random nonce each time.
pub fn seal(key: &[u8; 32], plain: &str) -> Result<String, String> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|e| e.to_string())?);
    let mut nonce = [0_u8; NONCE_LEN];
    fill_random(&mut nonce)?;
    let mut buf = plain.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
        .map_err(|e| e.to_string())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(STANDARD.encode(out))
}

/// Opens what [`seal`] sealed with the same key; an error for another key or a changed byte.
pub fn unseal(key: &[u8; 32], sealed: &str) -> Result<String, String> {
    let raw = STANDARD.decode(sealed).map_err(|e| e.to_string())?;
    if raw.len() < NONCE_LEN {
        return Err("sealed value too short".into());
    }
    let (nonce, rest) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|e| e.to_string())?;
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|e| e.to_string())?);
    let mut buf = rest.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::empty(), &mut buf)
        .map_err(|_| "the sealed value does not open with this key".to_owned())?;
    String::from_utf8(plain.to_vec()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_detects_tampering() {
        let key = [7_u8; 32];
        let sealed = seal(&key, "JBSWY3DPEHPK3PXP").unwrap_or_default();
        assert_eq!(unseal(&key, &sealed).as_deref(), Ok("JBSWY3DPEHPK3PXP"));
        assert!(unseal(&[8_u8; 32], &sealed).is_err());
        assert_ne!(seal(&key, "a").ok(), seal(&key, "a").ok(), "nonces differ");
    }
}
