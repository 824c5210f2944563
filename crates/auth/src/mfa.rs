//! Two-factor authentication: TOTP (RFC 6238, SHA-1, 6 digits, 30 s steps, ±1 step; a code
//! is accepted once) with the secret sealed at rest, and single-use backup codes.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use totp_rs::{Builder, Secret, Totp};

/// Backup codes handed out when MFA is turned on.
pub const BACKUP_CODES: usize = 10;

/// A new random TOTP secret, base32 (what authenticator apps take).
pub fn new_secret() -> String {
    Secret::generate().to_base32()
}

fn totp(secret_b32: &str, issuer: &str, account: &str) -> Result<Totp, String> {
    let secret = Secret::try_from_base32(secret_b32).map_err(|e| e.to_string())?;
    Builder::new()
        .with_secret(secret)
        .with_issuer(Some(issuer.replace(':', " ")))
        .with_account_name(account.replace(':', " "))
        .build()
        .map_err(|e| e.to_string())
}

/// The `otpauth://` URL to show as a QR code.
pub fn otpauth_url(secret_b32: &str, issuer: &str, account: &str) -> Result<String, String> {
    totp(secret_b32, issuer, account)?
        .to_url()
        .map_err(|e| e.to_string())
}

/// The time step `code` is valid for at `now` (±1 step), if it is later than `last_step`
/// (each step's code is accepted once).
pub fn check(secret_b32: &str, code: &str, now: u64, last_step: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let totp = totp(secret_b32, "x", "x").ok()?;
    let step = i64::try_from(totp.check(&code, now)?).ok()?;
    match last_step {
        Some(last) if step <= last => None,
        _ => Some(step),
    }
}

/// The current code (for tests and tooling).
pub fn code_at(secret_b32: &str, now: u64) -> Option<String> {
    Some(totp(secret_b32, "x", "x").ok()?.generate(now).to_string())
}

/// Seals a secret with AES-256-GCM: base64(nonce ‖ ciphertext ‖ tag).
pub fn seal(key: &[u8; 32], plain: &str) -> Result<String, String> {
    let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).map_err(|e| e.to_string())?);
    let mut nonce = [0_u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).map_err(|e| e.to_string())?;
    let mut buf = plain.as_bytes().to_vec();
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut buf)
        .map_err(|e| e.to_string())?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(STANDARD.encode(out))
}

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

/// Ten backup codes like `7kq3-m9xd-2rtp` (60 bits each, from the OS generator).
pub fn backup_codes() -> Result<Vec<String>, String> {
    const ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz"; // no 0/o, 1/l/i
    let mut out = Vec::with_capacity(BACKUP_CODES);
    for _ in 0..BACKUP_CODES {
        let mut bytes = [0_u8; 12];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|e| e.to_string())?;
        let chars: String = bytes
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        out.push(format!(
            "{}-{}-{}",
            &chars[0..4],
            &chars[4..8],
            &chars[8..12]
        ));
    }
    Ok(out)
}

/// Backup codes are compared without separators or case.
pub fn normalize_backup_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 → 94287082 (8 digits);
        // with 6 digits the code is its last six.
        let secret = Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(code_at(&secret, 59).as_deref(), Some("287082"));
        assert_eq!(check(&secret, "287082", 59, None), Some(1));
    }

    #[test]
    fn codes_are_accepted_once_and_within_one_step() {
        let secret = new_secret();
        let now = 1_800_000_000;
        let code = code_at(&secret, now).unwrap_or_default();
        let step = check(&secret, &code, now, None).unwrap_or_default();
        assert_eq!(check(&secret, &code, now, Some(step)), None, "replay");
        assert!(
            check(&secret, &code, now + 30, None).is_some(),
            "one step late"
        );
        assert_eq!(
            check(&secret, &code, now + 90, None),
            None,
            "three steps late"
        );
        assert_eq!(check(&secret, "000000x", now, None), None);
    }

    #[test]
    fn sealing_round_trips_and_detects_tampering() {
        let key = [7_u8; 32];
        let sealed = seal(&key, "JBSWY3DPEHPK3PXP").unwrap_or_default();
        assert_eq!(unseal(&key, &sealed).as_deref(), Ok("JBSWY3DPEHPK3PXP"));
        assert!(unseal(&[8_u8; 32], &sealed).is_err());
        assert_ne!(seal(&key, "a").ok(), seal(&key, "a").ok(), "nonces differ");
    }

    #[test]
    fn backup_codes_are_distinct() {
        let codes = backup_codes().unwrap_or_default();
        assert_eq!(codes.len(), BACKUP_CODES);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), BACKUP_CODES);
        assert_eq!(normalize_backup_code("7KQ3-m9xd"), "7kq3m9xd");
    }
}
