//! Is this inbound hook really from our PostHog? Two schemes, chosen per cell:
//!
//! - [Standard Webhooks](https://www.standardwebhooks.com/): headers `webhook-id`,
//!   `webhook-timestamp` (unix seconds) and `webhook-signature`, a space-separated list of
//!   `v1,<base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))>`. The secret is `whsec_<base64>`
//!   or bare base64; the key is the decoded bytes. The timestamp must be within
//!   [`TOLERANCE_SECONDS`] of now, either way. The hook is accepted when any listed `v1`
//!   signature matches any configured secret, so a secret can be rotated by configuring the old
//!   and the new one for a while. Entries with other versions (`v1a,...`) are ignored.
//! - A shared secret: one header (PostHog's webhook destination lets you add one) whose value
//!   must equal one of the configured secrets.
//!
//! Everything is compared in constant time, secrets live in [`secrecy`] types (their `Debug`
//! prints `[REDACTED]`) and errors never echo header values. The module knows nothing about
//! actix: headers come through a getter closure.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How far `webhook-timestamp` may be from now, in either direction.
pub const TOLERANCE_SECONDS: i64 = 5 * 60;

/// Standard Webhooks message id header.
pub const HEADER_ID: &str = "webhook-id";
/// Standard Webhooks timestamp header.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// Standard Webhooks signature header.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

const SECRET_PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

/// A Standard Webhooks signing key: the decoded bytes of `whsec_<base64>`.
#[derive(Debug, Clone)]
pub struct WebhookSecret(SecretSlice<u8>);

impl WebhookSecret {
    /// Decodes `whsec_<base64>` or bare base64.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let encoded = text.trim();
        let encoded = encoded.strip_prefix(SECRET_PREFIX).unwrap_or(encoded);
        let key = BASE64
            .decode(encoded)
            .map_err(|_| ConfigError::SecretNotBase64)?;
        if key.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        Ok(Self(SecretSlice::from(key)))
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC takes keys of any length; the error case cannot happen.
        <HmacSha256 as KeyInit>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
    }
}

/// How the cell authenticates PostHog's hooks.
#[derive(Debug, Clone)]
pub enum Verifier {
    /// Standard Webhooks signatures; any of `secrets` may have signed.
    StandardWebhooks {
        /// Current and, during a rotation, previous keys.
        secrets: Vec<WebhookSecret>,
    },
    /// A header carrying a shared secret.
    SharedSecret {
        /// Header name, e.g. `x-posthog-secret` (the getter should ignore case).
        header: String,
        /// Current and, during a rotation, previous values.
        secrets: Vec<SecretString>,
    },
}

/// A configuration that cannot work; reported at start-up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No secret configured: nothing could ever be verified.
    #[error("no webhook secret is configured")]
    NoSecrets,
    /// A Standard Webhooks secret that is not base64.
    #[error("a webhook secret is not base64 (expected `whsec_<base64>` or base64)")]
    SecretNotBase64,
    /// A blank secret, which would accept a blank header.
    #[error("a webhook secret is empty")]
    EmptySecret,
    /// The shared-secret scheme without a header name.
    #[error("the shared-secret header name is empty")]
    EmptyHeader,
}

/// Why a hook was refused (answer 401 and store nothing). Messages never quote header values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// A required header is absent.
    #[error("missing header `{0}`")]
    MissingHeader(String),
    /// `webhook-timestamp` is not an integer.
    #[error("header `webhook-timestamp` is not a unix timestamp in seconds")]
    InvalidTimestamp,
    /// Signed too long ago: a replay, or a badly delayed retry.
    #[error(
        "the webhook timestamp is {age_seconds}s old, beyond the {TOLERANCE_SECONDS}s tolerance"
    )]
    TimestampTooOld {
        /// How old.
        age_seconds: i64,
    },
    /// Signed in the future: a wrong clock, or a forged timestamp.
    #[error(
        "the webhook timestamp is {ahead_seconds}s in the future, beyond the {TOLERANCE_SECONDS}s tolerance"
    )]
    TimestampInFuture {
        /// How far ahead.
        ahead_seconds: i64,
    },
    /// No `v1` signature matches a configured secret (tampered body, wrong secret, ...).
    #[error("no webhook signature matches a configured secret")]
    NoMatchingSignature,
    /// The shared-secret header holds something else.
    #[error("the shared-secret header does not match a configured secret")]
    SecretMismatch,
}

/// An authenticated hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `webhook-id` (Standard Webhooks only): the sender's message id, the same on every retry,
    /// so a replay can be ignored by remembering it.
    pub message_id: Option<String>,
}

impl Verifier {
    /// Standard Webhooks with these secrets (`whsec_<base64>` or base64).
    pub fn standard_webhooks(secrets: &[SecretString]) -> Result<Self, ConfigError> {
        if secrets.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        let secrets = secrets
            .iter()
            .map(|secret| WebhookSecret::parse(secret.expose_secret()))
            .collect::<Result<_, _>>()?;
        Ok(Self::StandardWebhooks { secrets })
    }

    /// A shared secret in `header`; the name is lowercased.
    pub fn shared_secret(header: &str, secrets: Vec<SecretString>) -> Result<Self, ConfigError> {
        let header = header.trim().to_ascii_lowercase();
        if header.is_empty() {
            return Err(ConfigError::EmptyHeader);
        }
        if secrets.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        if secrets.iter().any(|s| s.expose_secret().is_empty()) {
            return Err(ConfigError::EmptySecret);
        }
        Ok(Self::SharedSecret { header, secrets })
    }

    /// Checks a hook. `header` returns a request header's value by (lowercase) name, ignoring
    /// case as HTTP does; `body` is the raw body, exactly as received.
    pub fn verify(
        &self,
        header: impl Fn(&str) -> Option<String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Verified, AuthError> {
        match self {
            Self::StandardWebhooks { secrets } => verify_standard(secrets, &header, body, now),
            Self::SharedSecret {
                header: name,
                secrets,
            } => {
                let value = header(name).ok_or_else(|| AuthError::MissingHeader(name.clone()))?;
                // Hashing first makes the comparison independent of the lengths too.
                let presented = Sha256::digest(value.as_bytes());
                let matched = secrets
                    .iter()
                    .fold(subtle::Choice::from(0), |found, secret| {
                        found | Sha256::digest(secret.expose_secret().as_bytes()).ct_eq(&presented)
                    });
                if bool::from(matched) {
                    Ok(Verified { message_id: None })
                } else {
                    Err(AuthError::SecretMismatch)
                }
            }
        }
    }
}

fn verify_standard(
    secrets: &[WebhookSecret],
    header: &impl Fn(&str) -> Option<String>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Verified, AuthError> {
    let required = |name: &str| header(name).ok_or_else(|| AuthError::MissingHeader(name.into()));
    let id = required(HEADER_ID)?;
    let timestamp = required(HEADER_TIMESTAMP)?;
    let signatures = required(HEADER_SIGNATURE)?;

    let timestamp: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| AuthError::InvalidTimestamp)?;
    let age = now.timestamp().saturating_sub(timestamp);
    if age > TOLERANCE_SECONDS {
        return Err(AuthError::TimestampTooOld { age_seconds: age });
    }
    if age < -TOLERANCE_SECONDS {
        return Err(AuthError::TimestampInFuture {
            ahead_seconds: age.saturating_neg(),
        });
    }

    let presented: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|signature| BASE64.decode(signature).ok())
        .collect();
    let matched = secrets.iter().any(|secret| {
        let expected = signature_bytes(secret, &id, timestamp, body);
        presented
            .iter()
            .any(|signature| bool::from(expected.as_slice().ct_eq(signature)))
    });
    if matched {
        Ok(Verified {
            message_id: Some(id),
        })
    } else {
        Err(AuthError::NoMatchingSignature)
    }
}

fn signature_bytes(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut mac = secret.mac();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// The `webhook-signature` entry a Standard Webhooks sender would send: `v1,<base64>`.
///
/// For tests and for anything that has to send PostHog-like hooks to this cell. Join several
/// with a space to send more than one.
pub fn sign(secret: &WebhookSecret, message_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "v1,{}",
        BASE64.encode(signature_bytes(secret, message_id, timestamp, body))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    // The published Standard Webhooks test vector (also in the svix libraries' test suites).
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    // Another key, base64 without the prefix.
    const OTHER_SECRET: &str = "c2Vjb25kIGtleSBmb3Igcm90YXRpb24=";

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(unix, 0).unwrap_or_default()
    }

    fn secrets(values: &[&str]) -> Vec<SecretString> {
        values.iter().map(|v| SecretString::from(*v)).collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), (*v).to_owned()))
            .collect()
    }

    fn verify_with(
        verifier: &Verifier,
        headers: &HashMap<String, String>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Verified, AuthError> {
        verifier.verify(
            |name| headers.get(&name.to_ascii_lowercase()).cloned(),
            body,
            now,
        )
    }

    fn spec_headers(signature: &str) -> HashMap<String, String> {
        headers(&[
            ("webhook-id", SPEC_ID),
            ("webhook-timestamp", &SPEC_TIMESTAMP.to_string()),
            ("webhook-signature", signature),
        ])
    }

    #[test]
    fn sign_reproduces_the_specification_test_vector() -> TestResult {
        let secret = WebhookSecret::parse(SPEC_SECRET)?;
        assert_eq!(
            sign(&secret, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        // The prefix is optional.
        let bare = WebhookSecret::parse(SPEC_SECRET.trim_start_matches("whsec_"))?;
        assert_eq!(
            sign(&bare, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
        Ok(())
    }

    #[test]
    fn verifies_the_specification_test_vector() -> TestResult {
        let verifier = Verifier::standard_webhooks(&secrets(&[SPEC_SECRET]))?;
        let verified = verify_with(
            &verifier,
            &spec_headers(SPEC_SIGNATURE),
            SPEC_BODY,
            at(SPEC_TIMESTAMP + 10),
        )?;
        assert_eq!(verified.message_id.as_deref(), Some(SPEC_ID));
        Ok(())
    }

    #[test]
    fn rotation_accepts_any_secret_and_any_signature() -> TestResult {
        let old = WebhookSecret::parse(SPEC_SECRET)?;
        let new = WebhookSecret::parse(OTHER_SECRET)?;
        let now = at(SPEC_TIMESTAMP);
        // The sender already signs with the new key only; we still hold both.
        let both = Verifier::standard_webhooks(&secrets(&[SPEC_SECRET, OTHER_SECRET]))?;
        let signed_new = sign(&new, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY);
        assert!(verify_with(&both, &spec_headers(&signed_new), SPEC_BODY, now).is_ok());
        // The sender signs with both keys; we hold only the new one.
        let only_new = Verifier::standard_webhooks(&secrets(&[OTHER_SECRET]))?;
        let two = format!(
            "{} {}",
            sign(&old, SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            signed_new
        );
        assert!(verify_with(&only_new, &spec_headers(&two), SPEC_BODY, now).is_ok());
        // Only the old key signed, and we dropped it.
        assert_eq!(
            verify_with(&only_new, &spec_headers(SPEC_SIGNATURE), SPEC_BODY, now),
            Err(AuthError::NoMatchingSignature)
        );
        Ok(())
    }

    #[test]
    fn other_versions_and_garbage_entries_are_skipped() -> TestResult {
        let verifier = Verifier::standard_webhooks(&secrets(&[SPEC_SECRET]))?;
        let now = at(SPEC_TIMESTAMP);
        let value = format!(
            "v1a,abcd v2,{0} v1,!!notbase64!! v1,AAAA  {SPEC_SIGNATURE}",
            &SPEC_SIGNATURE[3..]
        );
        assert!(verify_with(&verifier, &spec_headers(&value), SPEC_BODY, now).is_ok());
        // A correct signature under another version tag does not count.
        let relabelled = SPEC_SIGNATURE.replacen("v1,", "v1a,", 1);
        assert_eq!(
            verify_with(&verifier, &spec_headers(&relabelled), SPEC_BODY, now),
            Err(AuthError::NoMatchingSignature)
        );
        Ok(())
    }

    #[test]
    fn tampering_and_wrong_secrets_are_refused() -> TestResult {
        let now = at(SPEC_TIMESTAMP);
        let verifier = Verifier::standard_webhooks(&secrets(&[SPEC_SECRET]))?;
        let tampered = br#"{"test": 2432232315}"#;
        assert_eq!(
            verify_with(&verifier, &spec_headers(SPEC_SIGNATURE), tampered, now),
            Err(AuthError::NoMatchingSignature)
        );
        // The id and the timestamp are signed too.
        let mut other_id = spec_headers(SPEC_SIGNATURE);
        other_id.insert("webhook-id".into(), "msg_other".into());
        assert_eq!(
            verify_with(&verifier, &other_id, SPEC_BODY, now),
            Err(AuthError::NoMatchingSignature)
        );
        let mut other_time = spec_headers(SPEC_SIGNATURE);
        other_time.insert("webhook-timestamp".into(), (SPEC_TIMESTAMP + 1).to_string());
        assert_eq!(
            verify_with(&verifier, &other_time, SPEC_BODY, now),
            Err(AuthError::NoMatchingSignature)
        );
        let wrong = Verifier::standard_webhooks(&secrets(&[OTHER_SECRET]))?;
        assert_eq!(
            verify_with(&wrong, &spec_headers(SPEC_SIGNATURE), SPEC_BODY, now),
            Err(AuthError::NoMatchingSignature)
        );
        Ok(())
    }

    #[test]
    fn timestamps_outside_five_minutes_are_refused() -> TestResult {
        let verifier = Verifier::standard_webhooks(&secrets(&[SPEC_SECRET]))?;
        let headers = spec_headers(SPEC_SIGNATURE);
        let check = |now: i64| verify_with(&verifier, &headers, SPEC_BODY, at(now));
        assert!(check(SPEC_TIMESTAMP + 300).is_ok());
        assert!(check(SPEC_TIMESTAMP - 300).is_ok());
        assert_eq!(
            check(SPEC_TIMESTAMP + 301),
            Err(AuthError::TimestampTooOld { age_seconds: 301 })
        );
        assert_eq!(
            check(SPEC_TIMESTAMP - 301),
            Err(AuthError::TimestampInFuture { ahead_seconds: 301 })
        );
        let mut bad = spec_headers(SPEC_SIGNATURE);
        bad.insert("webhook-timestamp".into(), "2021-02-26T00:00:00Z".into());
        assert_eq!(
            verify_with(&verifier, &bad, SPEC_BODY, at(SPEC_TIMESTAMP)),
            Err(AuthError::InvalidTimestamp)
        );
        Ok(())
    }

    #[test]
    fn missing_headers_are_named() -> TestResult {
        let verifier = Verifier::standard_webhooks(&secrets(&[SPEC_SECRET]))?;
        for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            let mut partial = spec_headers(SPEC_SIGNATURE);
            partial.remove(name);
            let err = verify_with(&verifier, &partial, SPEC_BODY, at(SPEC_TIMESTAMP));
            assert_eq!(err, Err(AuthError::MissingHeader(name.into())));
        }
        Ok(())
    }

    #[test]
    fn shared_secret_header() -> TestResult {
        let verifier =
            Verifier::shared_secret("X-PostHog-Secret", secrets(&["old-value", "new-value"]))?;
        let now = at(0);
        for value in ["old-value", "new-value"] {
            let ok = verify_with(
                &verifier,
                &headers(&[("x-posthog-secret", value)]),
                b"{}",
                now,
            )?;
            assert_eq!(ok.message_id, None);
        }
        for value in ["", "new-valu", "new-value ", "NEW-VALUE"] {
            assert_eq!(
                verify_with(
                    &verifier,
                    &headers(&[("x-posthog-secret", value)]),
                    b"{}",
                    now
                ),
                Err(AuthError::SecretMismatch),
                "{value:?}"
            );
        }
        assert_eq!(
            verify_with(&verifier, &headers(&[]), b"{}", now),
            Err(AuthError::MissingHeader("x-posthog-secret".into()))
        );
        Ok(())
    }

    #[test]
    fn bad_configurations_are_refused_and_secrets_never_printed() -> TestResult {
        assert_eq!(
            Verifier::standard_webhooks(&[]).err(),
            Some(ConfigError::NoSecrets)
        );
        assert_eq!(
            Verifier::standard_webhooks(&secrets(&["whsec_not base64!"])).err(),
            Some(ConfigError::SecretNotBase64)
        );
        assert_eq!(
            Verifier::standard_webhooks(&secrets(&["whsec_"])).err(),
            Some(ConfigError::EmptySecret)
        );
        assert_eq!(
            Verifier::shared_secret(" ", secrets(&["x"])).err(),
            Some(ConfigError::EmptyHeader)
        );
        assert_eq!(
            Verifier::shared_secret("h", secrets(&[""])).err(),
            Some(ConfigError::EmptySecret)
        );
        assert_eq!(
            Verifier::shared_secret("h", vec![]).err(),
            Some(ConfigError::NoSecrets)
        );

        let standard = Verifier::standard_webhooks(&secrets(&[SPEC_SECRET]))?;
        let shared = Verifier::shared_secret("h", secrets(&["hunter2-shared"]))?;
        let debug = format!("{standard:?} {shared:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("MfKQ9r8G"),
            "{debug}"
        );
        // The standard secret is kept decoded: its bytes must not show either, and both secrets
        // must be there, redacted.
        let bytes = BASE64.decode(SPEC_SECRET.trim_start_matches("whsec_"))?;
        assert!(
            !debug.contains(
                &format!("{:?}", &bytes[..4])
                    .trim_end_matches(']')
                    .to_owned()
            ),
            "{debug}"
        );
        assert!(debug.matches("REDACTED").count() >= 2, "{debug}");
        Ok(())
    }
}
