//! Invitation tokens: `<org id, 32 hex>.<secret, 43 base64url>`. The org id lets the token be
//! looked up inside that org's transaction (row-level security admits nothing else); only an
//! HMAC-SHA256 of the secret under the cell secret is stored, so a copy of the table cannot be
//! used to accept invitations.

use kernel::ApiError;
use kernel::opaque::generate;
pub(crate) use kernel::opaque::keyed_hash;
use secrecy::SecretString;
use uuid::Uuid;

/// A new token for `org` and the keyed hash of its secret (what is stored).
pub(crate) fn issue(key: &SecretString, org: Uuid) -> Result<(String, String), ApiError> {
    let secret = generate(32)
        .map_err(|_| ApiError::internal(anyhow::anyhow!("the system random generator failed")))?;
    let hash = keyed_hash(key, &secret);
    Ok((format!("{}.{secret}", org.simple()), hash))
}

/// The org and the secret of a well-formed token.
pub(crate) fn parse(token: &str) -> Option<(Uuid, &str)> {
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
    Some((Uuid::try_parse(org).ok()?, secret))
}

/// A stable bucket in `0..100` for percentage rollouts: the same flag and subject always land
/// in the same bucket, and different flags spread a subject differently.
pub(crate) fn bucket(flag: &str, subject: Uuid) -> u8 {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(flag.as_bytes());
    h.update(b":");
    h.update(subject.as_bytes());
    let d = h.finalize();
    let n = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
    (n % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_their_org_and_store_only_a_keyed_hash() -> Result<(), ApiError> {
        let key = SecretString::from("cell-secret");
        let org = Uuid::now_v7();
        let (token, hash) = issue(&key, org)?;
        let (parsed_org, secret) = parse(&token).ok_or_else(|| ApiError::bad_request("parse"))?;
        assert_eq!(parsed_org, org);
        assert_eq!(hash, keyed_hash(&key, secret));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(secret));
        assert_ne!(hash, keyed_hash(&SecretString::from("other"), secret));
        let (again, _) = issue(&key, org)?;
        assert_ne!(token, again);
        for bad in [
            "",
            "x.y",
            &format!("{}.short", org.simple()),
            &format!("{org}.{secret}"),
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
        Ok(())
    }

    #[test]
    fn buckets_are_stable_and_spread() {
        let users: Vec<Uuid> = (0..2000).map(|_| Uuid::now_v7()).collect();
        assert!(users.iter().all(|u| bucket("a", *u) == bucket("a", *u)));
        let under_25 = users.iter().filter(|u| bucket("a", **u) < 25).count();
        assert!((350..650).contains(&under_25), "{under_25}");
    }
}
