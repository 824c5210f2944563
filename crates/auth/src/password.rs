//! Passwords: policy, argon2id hashing, verification.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Deserialize;

/// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
/// Longer inputs are refused before hashing (argon2 cost does not grow with length, but there is
/// no reason to accept megabytes).
const MAX_BYTES: usize = 1024;

/// The most common passwords that a length-and-classes policy still lets through (and the
/// classics), compared case-insensitively.
const COMMON: &str = include_str!("common-passwords.txt");

/// A cell's password rules (`[modules.auth.password]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    pub min_length: usize,
    pub require_upper: bool,
    pub require_digit: bool,
    pub require_special: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            min_length: 12,
            require_upper: true,
            require_digit: true,
            require_special: true,
        }
    }
}

impl Policy {
    /// Every rule the password breaks, as messages for the caller (empty: acceptable).
    pub fn violations(&self, password: &str) -> Vec<String> {
        let mut out = Vec::new();
        let chars = password.chars().count();
        if chars < self.min_length {
            out.push(format!(
                "must be at least {} characters long",
                self.min_length
            ));
        }
        if password.len() > MAX_BYTES {
            out.push(format!("must be at most {MAX_BYTES} bytes long"));
        }
        if self.require_upper && !password.chars().any(char::is_uppercase) {
            out.push("must contain an upper-case letter".into());
        }
        if self.require_digit && !password.chars().any(|c| c.is_ascii_digit()) {
            out.push("must contain a digit".into());
        }
        if self.require_special && !password.chars().any(|c| !c.is_alphanumeric()) {
            out.push("must contain a special character".into());
        }
        let lower = password.to_lowercase();
        if COMMON
            .lines()
            .map(str::trim)
            .any(|c| !c.is_empty() && c == lower)
        {
            out.push("is too common".into());
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed: {0}")]
    Hash(String),
}

fn hasher() -> Result<Argon2<'static>, PasswordError> {
    let params = Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| PasswordError::Hash(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a fresh random salt.
pub fn hash(password: &str) -> Result<String, PasswordError> {
    if password.len() > MAX_BYTES {
        return Err(PasswordError::Hash("the password is too long".into()));
    }
    hasher()?
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// Whether `password` matches `phc`. Unparseable hashes and oversized inputs never match.
pub fn verify(phc: &str, password: &str) -> bool {
    if password.len() > MAX_BYTES {
        return false;
    }
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The parameters come from the stored hash, so old hashes still verify.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// Whether a stored hash was made with other parameters and should be replaced at next login.
pub fn needs_rehash(phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return true;
    };
    let wanted = format!("m={M_COST},t={T_COST},p={P_COST}");
    parsed.algorithm.as_str() != "argon2id" || parsed.params.to_string() != wanted
}

/// A hash with the current parameters to verify against when the account does not exist, so that
/// unknown and known emails take the same time.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("no account has this password").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_the_owasp_parameters() {
        let h = hash("Correct-horse-battery-9").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify(&h, "Correct-horse-battery-9"));
        assert!(!verify(&h, "correct-horse-battery-9"));
        assert!(!verify("not a hash", "anything"));
        assert!(!needs_rehash(&h));
        assert_ne!(
            h,
            hash("Correct-horse-battery-9").unwrap(),
            "salts must differ"
        );
    }

    #[test]
    fn weaker_hashes_are_flagged_for_rehash() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(b"Some-password-1")
        .unwrap()
        .to_string();
        assert!(
            verify(&weak, "Some-password-1"),
            "old parameters still verify"
        );
        assert!(needs_rehash(&weak));
        assert!(needs_rehash("garbage"));
    }

    #[test]
    fn the_dummy_hash_parses_and_matches_nothing_useful() {
        assert!(PasswordHash::new(dummy_hash()).is_ok());
        assert!(!verify(dummy_hash(), "Password123!"));
    }

    #[test]
    fn the_policy_names_every_broken_rule() {
        let p = Policy::default();
        assert!(p.violations("Str0ng&Unusual-Phrase").is_empty());
        let v = p.violations("short");
        assert!(v.iter().any(|m| m.contains("12 characters")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("upper-case")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("digit")), "{v:?}");
        assert!(v.iter().any(|m| m.contains("special")), "{v:?}");
        assert!(
            p.violations("Password123!")
                .iter()
                .any(|m| m.contains("too common"))
        );
        // Long passphrases are welcome; absurd lengths are not.
        let phrase = format!("A{}1!", "correct horse battery staple ".repeat(3));
        assert!(phrase.chars().count() >= 64 && p.violations(&phrase).is_empty());
        assert!(
            p.violations(&format!("A1!{}", "x".repeat(2000)))
                .iter()
                .any(|m| m.contains("1024"))
        );
        let relaxed = Policy {
            min_length: 8,
            require_upper: false,
            require_digit: false,
            require_special: false,
        };
        assert!(relaxed.violations("abcdefgh").is_empty());
    }
}
