//! `[modules.auth]`: token lifetimes, lockout, password policy. `jwt_secret` comes from the
//! environment only (`CELL__MODULES__AUTH__JWT_SECRET`).

use secrecy::SecretString;
use serde::Deserialize;

use crate::password::Policy;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Seeds the signing keys. Unset: derived from `cell.secret_key` (a separate derivation, so
    /// the JWT keys never equal other uses of the cell secret).
    pub jwt_secret: Option<SecretString>,
    /// Signing key ids; the first signs, all verify. Rotate by putting a new id first and
    /// dropping the old one after `access_ttl_secs`.
    pub jwt_kids: Vec<String>,
    /// `iss`; default `http.public_url`, else `cell:<name>`.
    pub issuer: Option<String>,
    /// `aud`; default the cell name.
    pub audience: Option<String>,
    pub access_ttl_secs: u64,
    pub refresh_ttl_days: u64,
    /// Failed sign-ins of one email before it is locked.
    pub lockout_threshold: u64,
    pub lockout_minutes: u64,
    pub password: Policy,
    /// `Secure` on the refresh-token cookie (turn off only for plain-HTTP development).
    pub cookie_secure: bool,
    /// Deactivated accounts are anonymized after this many days.
    pub anonymize_after_days: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            jwt_secret: None,
            jwt_kids: vec!["k1".into()],
            issuer: None,
            audience: None,
            access_ttl_secs: 900,
            refresh_ttl_days: 30,
            lockout_threshold: 5,
            lockout_minutes: 15,
            password: Policy::default(),
            cookie_secure: true,
            anonymize_after_days: 30,
        }
    }
}

impl Settings {
    pub fn validate(&self) -> Result<(), String> {
        if self.jwt_kids.is_empty()
            || self.jwt_kids.iter().any(|k| {
                k.is_empty()
                    || k.len() > 64
                    || !k
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
        {
            return Err("jwt_kids: one or more ids of 1 to 64 letters, digits, `-` or `_`".into());
        }
        if !(60..=3600).contains(&self.access_ttl_secs) {
            return Err("access_ttl_secs: between 60 and 3600".into());
        }
        if !(1..=365).contains(&self.refresh_ttl_days) {
            return Err("refresh_ttl_days: between 1 and 365".into());
        }
        if self.lockout_threshold == 0 || self.lockout_minutes == 0 {
            return Err("lockout_threshold and lockout_minutes must be positive".into());
        }
        if self.password.min_length < 8 {
            return Err("password.min_length: at least 8".into());
        }
        if let Some(s) = &self.jwt_secret
            && secrecy::ExposeSecret::expose_secret(s).len() < 32
        {
            return Err("jwt_secret: at least 32 characters".into());
        }
        Ok(())
    }
}
