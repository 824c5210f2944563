//! Two-factor authentication: TOTP (RFC 6238, SHA-1, 6 digits, 30 s steps, ±1 step; a code
//! is accepted once) with the secret sealed at rest, and single-use backup codes.

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

/// The TOTP secret is sealed at rest with the kernel's sealing (AES-256-GCM).
pub use kernel::seal::{seal, unseal};

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
    fn backup_codes_are_distinct() {
        let codes = backup_codes().unwrap_or_default();
        assert_eq!(codes.len(), BACKUP_CODES);
        let set: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(set.len(), BACKUP_CODES);
        assert_eq!(normalize_backup_code("7KQ3-m9xd"), "7kq3m9xd");
    }
}
