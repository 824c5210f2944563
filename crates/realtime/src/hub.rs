//! This instance's open connections, by org, and the routing of each push to the ones it
//! concerns. Routing never waits: each connection has a bounded queue, and a connection whose
//! queue is full is dropped (its client reconnects and resumes), never buffered without bound.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use kernel::realtime::{Audience, Push, Received};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What a connection is handed.
#[derive(Debug, Clone)]
pub(crate) enum Delivery {
    Push(Arc<Push>),
    /// Pushes may have been lost on the way: the client should resume.
    Gap,
}

/// A subscription: an entity type, or one entity of it.
pub(crate) type Topic = (String, Option<Uuid>);

/// One open connection as the router sees it.
pub(crate) struct Conn {
    pub id: u64,
    pub user_id: Uuid,
    topics: RwLock<HashSet<Topic>>,
    queue: mpsc::Sender<Delivery>,
    /// Cancelled when the connection must close: too slow, or the cell stops.
    pub closed: CancellationToken,
}

impl Conn {
    fn wants(&self, push: &Push) -> bool {
        match &push.audience {
            Audience::User { user_id } => *user_id == self.user_id,
            Audience::Entity {
                entity_type,
                entity_id,
            } => self.topics.read().is_ok_and(|t| {
                t.contains(&(entity_type.clone(), Some(*entity_id)))
                    || t.contains(&(entity_type.clone(), None))
            }),
        }
    }

    /// Hands `delivery` over; a full queue closes the connection.
    fn offer(&self, delivery: Delivery) -> bool {
        match self.queue.try_send(delivery) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                metrics::counter!("realtime_slow_clients_dropped_total").increment(1);
                self.closed.cancel();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub fn topics(&self) -> usize {
        self.topics.read().map_or(0, |t| t.len())
    }

    pub fn add(&self, topic: Topic) {
        if let Ok(mut t) = self.topics.write() {
            t.insert(topic);
        }
    }

    pub fn remove(&self, topic: &Topic) -> bool {
        self.topics.write().is_ok_and(|mut t| t.remove(topic))
    }

    pub fn subscribed(&self, entity_type: &str, entity_id: Uuid) -> bool {
        self.topics.read().is_ok_and(|t| {
            t.contains(&(entity_type.to_owned(), Some(entity_id)))
                || t.contains(&(entity_type.to_owned(), None))
        })
    }
}

/// Why a connection was not let in.
#[derive(Debug)]
pub(crate) struct TooMany(pub usize);

/// The router (one per instance).
#[derive(Default)]
pub(crate) struct Hub {
    orgs: RwLock<HashMap<Uuid, Vec<Arc<Conn>>>>,
    next: AtomicU64,
    /// Cancelled when the cell stops: every connection closes.
    pub stopping: CancellationToken,
}

impl Hub {
    /// Registers a connection of `user_id` in `org_id` with a queue of `capacity`; refused past
    /// `per_user` connections of that user.
    pub fn join(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        capacity: usize,
        per_user: usize,
    ) -> Result<(Arc<Conn>, mpsc::Receiver<Delivery>), TooMany> {
        let (queue, rx) = mpsc::channel(capacity.max(1));
        let conn = Arc::new(Conn {
            id: self.next.fetch_add(1, Ordering::Relaxed),
            user_id,
            topics: RwLock::default(),
            queue,
            closed: self.stopping.child_token(),
        });
        let mut orgs = self.orgs.write().map_err(|_| TooMany(0))?;
        let conns = orgs.entry(org_id).or_default();
        if conns.iter().filter(|c| c.user_id == user_id).count() >= per_user {
            return Err(TooMany(per_user));
        }
        conns.push(conn.clone());
        metrics::gauge!("realtime_connections").increment(1.0);
        Ok((conn, rx))
    }

    pub fn leave(&self, org_id: Uuid, id: u64) {
        if let Ok(mut orgs) = self.orgs.write()
            && let Some(conns) = orgs.get_mut(&org_id)
        {
            let before = conns.len();
            conns.retain(|c| c.id != id);
            if conns.len() < before {
                metrics::gauge!("realtime_connections").decrement(1.0);
            }
            if conns.is_empty() {
                orgs.remove(&org_id);
            }
        }
    }

    /// Hands what reached this instance to the connections it concerns.
    pub fn route(&self, received: Received) {
        let Ok(orgs) = self.orgs.read() else {
            return;
        };
        match received {
            Received::Push(push) => {
                let Some(conns) = orgs.get(&push.org_id) else {
                    return;
                };
                for conn in conns.iter().filter(|c| c.wants(&push)) {
                    conn.offer(Delivery::Push(push.clone()));
                }
            }
            Received::Gap => {
                for conn in orgs.values().flatten() {
                    conn.offer(Delivery::Gap);
                }
            }
        }
    }

    /// Open connections on this instance.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.orgs
            .read()
            .map_or(0, |o| o.values().map(Vec::len).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn push(org: Uuid, to: Audience) -> Received {
        Received::Push(Arc::new(Push {
            org_id: org,
            audience: to,
            kind: "event".into(),
            event_id: Uuid::now_v7(),
            name: "item.created".into(),
            data: serde_json::Value::Null,
            truncated: false,
        }))
    }

    #[test]
    fn pushes_reach_only_the_connections_they_concern_and_a_full_queue_closes_one() {
        let hub = Hub::default();
        let (org, other_org, ann, bob) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        let (a, mut a_rx) = hub.join(org, ann, 2, 5).unwrap();
        let (b, mut b_rx) = hub.join(org, bob, 2, 5).unwrap();
        let item = Uuid::now_v7();
        a.add(("item".into(), Some(item)));
        b.add(("item".into(), None));

        hub.route(push(org, Audience::User { user_id: ann }));
        hub.route(push(other_org, Audience::User { user_id: ann }));
        assert!(matches!(a_rx.try_recv(), Ok(Delivery::Push(_))));
        assert!(a_rx.try_recv().is_err(), "another org's push reached ann");
        assert!(b_rx.try_recv().is_err(), "ann's push reached bob");

        let other_item = Uuid::now_v7();
        hub.route(push(
            org,
            Audience::Entity {
                entity_type: "item".into(),
                entity_id: other_item,
            },
        ));
        assert!(a_rx.try_recv().is_err(), "ann watches one item only");
        assert!(matches!(b_rx.try_recv(), Ok(Delivery::Push(_))));

        // Neither reads: the third push finds each queue (2) full and closes both.
        for _ in 0..3 {
            hub.route(push(
                org,
                Audience::Entity {
                    entity_type: "item".into(),
                    entity_id: item,
                },
            ));
        }
        assert!(a.closed.is_cancelled() && b.closed.is_cancelled());

        assert!(hub.join(org, ann, 2, 1).is_err(), "per-user limit");
        hub.leave(org, a.id);
        hub.leave(org, b.id);
        assert_eq!(hub.len(), 0);
    }
}
