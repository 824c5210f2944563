//! Invitation tokens are the kernel's org tokens (`kernel::opaque::org_token`): the org id
//! finds the invitation inside that org's transaction; only a keyed hash is stored.

pub(crate) use kernel::opaque::{keyed_hash, org_token as issue, parse_org_token as parse};
use uuid::Uuid;

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
    fn buckets_are_stable_and_spread() {
        let users: Vec<Uuid> = (0..2000).map(|_| Uuid::now_v7()).collect();
        assert!(users.iter().all(|u| bucket("a", *u) == bucket("a", *u)));
        let under_25 = users.iter().filter(|u| bucket("a", **u) < 25).count();
        assert!((350..650).contains(&under_25), "{under_25}");
    }
}
