//! The newest permission revision of each org, held in memory so that a check does not read it
//! from the database on every request.
//!
//! Every bump of an org's revision fires the `iam_revision` signal (`<org>:<revision>`, from a
//! trigger on `permission_revisions`) when its transaction commits, on every instance of the
//! cell. So the memory is trusted only while the cell's signal listener is up (PostgreSQL);
//! otherwise (SQLite, the listener down or reconnecting) every query reads the revision in its
//! transaction, as before.
//!
//! Where no listener can run (SQLite: the file has no notifications), a revision read from the
//! database, or raised here by this instance's own commit, is trusted for [`UNHEARD_WINDOW`]: a
//! change made by another process on the same file (the CLI, a second instance) is seen within
//! that window, a change made through this instance at once.
//!
//! What it costs in freshness: a change committed on another instance is seen here once its
//! notification arrives (the time for PostgreSQL to deliver it: well under a millisecond on
//! one host); until then a check answers at the revision before. A change made through this
//! instance raises the same signal here as its transaction commits, before the request that
//! made it answers ([`kernel::TenantTx::raise_on_commit`]): a caller's next request never
//! reads a permission older than their own last change.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kernel::signals::Signal;
use uuid::Uuid;

/// The signal a committed revision bump raises, with `<org>:<revision>`.
pub const SIGNAL: &str = "iam_revision";

/// Without a listener, how long a revision learned here stays trusted.
pub const UNHEARD_WINDOW: Duration = Duration::from_secs(1);

/// Orgs remembered; past it the memory starts over (each org costs one read to learn again).
const MAX_ORGS: usize = 100_000;

#[derive(Debug, Default)]
pub(crate) struct Revisions {
    trusted: AtomicBool,
    /// No listener will ever run (SQLite): entries are trusted for [`UNHEARD_WINDOW`].
    unheard: AtomicBool,
    /// Bumped by every reset, so a database read that raced a reset is not remembered.
    epoch: AtomicU64,
    /// The newest revision known committed, per org, and when it was learned.
    orgs: RwLock<HashMap<Uuid, (i64, Instant)>>,
    /// Revisions read from the database (the queries memory could not answer).
    reads: AtomicU64,
}

impl Revisions {
    /// The org's revision from memory, when it can be trusted.
    pub(crate) fn known(&self, org: Uuid) -> Option<i64> {
        let trusted = self.trusted.load(Ordering::Acquire);
        if !trusted && !self.unheard.load(Ordering::Acquire) {
            return None;
        }
        let (revision, at) = self.orgs.read().ok()?.get(&org).copied()?;
        (trusted || at.elapsed() < UNHEARD_WINDOW).then_some(revision)
    }

    /// No listener will run: trust what is learned here for [`UNHEARD_WINDOW`].
    pub(crate) fn without_listener(&self) {
        self.unheard.store(true, Ordering::Release);
    }

    /// Counts a read of a revision from the database, about to happen; hand what it returns to
    /// [`Revisions::learned`].
    pub(crate) fn start_read(&self) -> u64 {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.epoch.load(Ordering::Acquire)
    }

    /// A revision read from the database (queries read it before writing anything, so it is
    /// committed).
    pub(crate) fn learned(&self, org: Uuid, revision: i64, epoch: u64) {
        if self.epoch.load(Ordering::Acquire) == epoch {
            self.update(org, revision);
        }
    }

    /// A revision known committed (notified).
    pub(crate) fn committed(&self, org: Uuid, revision: i64) {
        self.update(org, revision);
    }

    /// How many revisions were read from the database.
    pub(crate) fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Handles the cell's signals on [`SIGNAL`].
    pub(crate) fn signal(&self, signal: Signal<'_>) {
        match signal {
            Signal::Notified(payload) => {
                let parsed = payload
                    .split_once(':')
                    .and_then(|(org, rev)| Some((org.parse().ok()?, rev.parse().ok()?)));
                match parsed {
                    Some((org, revision)) => self.committed(org, revision),
                    None => tracing::warn!(payload, "malformed iam_revision signal ignored"),
                }
            }
            Signal::Reset { listening } => {
                if let Ok(mut orgs) = self.orgs.write() {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                    orgs.clear();
                    self.trusted.store(listening, Ordering::Release);
                }
            }
        }
    }

    /// Remembers `revision` as the org's newest, while the memory is trusted (else it would
    /// only cost a write lock per check for entries nobody reads).
    fn update(&self, org: Uuid, revision: i64) {
        if !self.trusted.load(Ordering::Acquire) && !self.unheard.load(Ordering::Acquire) {
            return;
        }
        let Ok(mut orgs) = self.orgs.write() else {
            return;
        };
        if orgs.len() >= MAX_ORGS && !orgs.contains_key(&org) {
            orgs.clear();
        }
        let now = Instant::now();
        let known = orgs.entry(org).or_insert((revision, now));
        *known = (known.0.max(revision), now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted() -> Revisions {
        let r = Revisions::default();
        r.signal(Signal::Reset { listening: true });
        r
    }

    #[test]
    fn untrusted_until_the_listener_listens() {
        let r = Revisions::default();
        let org = Uuid::now_v7();
        r.committed(org, 3);
        assert_eq!(r.known(org), None);
        r.signal(Signal::Reset { listening: true });
        assert_eq!(r.known(org), None, "a reset forgets");
        r.signal(Signal::Notified(&format!("{org}:4")));
        assert_eq!(r.known(org), Some(4));
        r.signal(Signal::Reset { listening: false });
        assert_eq!(r.known(org), None);
    }

    #[test]
    fn revisions_only_move_forward() {
        let r = trusted();
        let org = Uuid::now_v7();
        r.signal(Signal::Notified(&format!("{org}:7")));
        let epoch = r.start_read();
        r.learned(org, 5, epoch);
        assert_eq!(r.known(org), Some(7));
    }

    #[test]
    fn a_read_that_raced_a_reset_is_not_remembered() {
        let r = trusted();
        let org = Uuid::now_v7();
        let epoch = r.start_read();
        r.signal(Signal::Reset { listening: true });
        r.learned(org, 9, epoch);
        assert_eq!(r.known(org), None);
        assert_eq!(r.reads(), 1);
    }

    #[test]
    fn without_a_listener_what_is_learned_is_trusted_for_a_window() {
        let r = Revisions::default();
        r.without_listener();
        let org = Uuid::now_v7();
        assert_eq!(r.known(org), None);
        let epoch = r.start_read();
        r.learned(org, 2, epoch);
        assert_eq!(r.known(org), Some(2));
        r.committed(org, 3);
        assert_eq!(r.known(org), Some(3), "this instance's own change at once");
        r.orgs.write().unwrap().get_mut(&org).unwrap().1 -= UNHEARD_WINDOW;
        assert_eq!(r.known(org), None, "read again once the window has passed");
    }

    #[test]
    fn malformed_payloads_are_ignored() {
        let r = trusted();
        r.signal(Signal::Notified("nonsense"));
        r.signal(Signal::Notified("x:1"));
        assert!(r.orgs.read().unwrap().is_empty());
    }
}
