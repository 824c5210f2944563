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

/// A token for a record of `org` that someone without an account presents (an invitation, a
/// review or signing link): `<org id, 32 hex>.<secret, 43 base64url>`, and the keyed hash of its
/// secret (what is stored). The org id lets the token be looked up inside that org's
/// transaction (row-level security admits nothing else); the stored hash cannot be used.
pub fn org_token(key: &SecretString, org: uuid::Uuid) -> Result<(String, String), crate::ApiError> {
    let secret = generate(32).map_err(|_| {
        crate::ApiError::internal(anyhow::anyhow!("the system random generator failed"))
    })?;
    let hash = keyed_hash(key, &secret);
    Ok((format!("{}.{secret}", org.simple()), hash))
}

/// The org and the secret of a well-formed [`org_token`].
pub fn parse_org_token(token: &str) -> Option<(uuid::Uuid, &str)> {
    let (org, secret) = token.trim().split_once('.')?;
    if org.len() != 32 || secret.len() != 43 {
        return None;
    }
    if !secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    Some((uuid::Uuid::try_parse(org).ok()?, secret))
}

/// The org of a well-formed [`org_token`] and the keyed hash of its secret: what finds its row
/// in that org.
pub fn org_token_hash(key: &SecretString, token: &str) -> Option<(uuid::Uuid, String)> {
    let (org, secret) = parse_org_token(token)?;
    Some((org, keyed_hash(key, secret)))
}

/// `path` as logs may show it: a path segment that is an [`org_token`] is replaced by
/// `<token>` (review and signing links carry one in their path).
pub fn redact_path(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.split('/').any(|s| parse_org_token(s).is_some()) {
        return std::borrow::Cow::Borrowed(path);
    }
    std::borrow::Cow::Owned(
        path.split('/')
            .map(|s| match parse_org_token(s) {
                Some(_) => "<token>",
                None => s,
            })
            .collect::<Vec<_>>()
            .join("/"),
    )
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
    fn org_tokens_carry_their_org_store_a_keyed_hash_and_stay_out_of_logs()
    -> Result<(), crate::ApiError> {
        let key = SecretString::from("cell-secret");
        let org = uuid::Uuid::now_v7();
        let (token, hash) = org_token(&key, org)?;
        let (parsed, secret) =
            parse_org_token(&token).ok_or_else(|| crate::ApiError::bad_request("parse"))?;
        assert_eq!(parsed, org);
        assert_eq!(hash, keyed_hash(&key, secret));
        assert!(!hash.contains(secret));
        let (again, _) = org_token(&key, org)?;
        assert_ne!(token, again);
        for bad in [
            "",
            "x.y",
            &format!("{}.short", org.simple()),
            &format!("{org}.{secret}"),
        ] {
            assert!(parse_org_token(bad).is_none(), "{bad}");
        }
        let path = format!("/api/v1/documents/review/{token}/suggest");
        assert_eq!(
            redact_path(&path),
            "/api/v1/documents/review/<token>/suggest"
        );
        assert_eq!(redact_path("/api/v1/documents"), "/api/v1/documents");
        Ok(())
    }

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
