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

/// One connection's subscriptions to one entity type.
#[derive(Default)]
struct Watch {
    /// Every entity of the type.
    all: bool,
    ids: HashSet<Uuid>,
}

/// One open connection as the router sees it.
pub(crate) struct Conn {
    pub id: u64,
    pub user_id: Uuid,
    topics: RwLock<HashMap<String, Watch>>,
    queue: mpsc::Sender<Delivery>,
    /// Cancelled when the connection must close: too slow, or the cell stops.
    pub closed: CancellationToken,
}

impl Conn {
    /// Whether the connection watches the entity (no allocation: routing runs this per push).
    pub fn subscribed(&self, entity_type: &str, entity_id: Uuid) -> bool {
        self.topics.read().is_ok_and(|t| {
            t.get(entity_type)
                .is_some_and(|w| w.all || w.ids.contains(&entity_id))
        })
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
        self.topics.read().map_or(0, |t| {
            t.values().map(|w| usize::from(w.all) + w.ids.len()).sum()
        })
    }
}

/// Why a connection was not let in.
#[derive(Debug)]
pub(crate) struct TooMany(pub usize);

/// An org's connections, indexed the two ways pushes find them: by user (notifications) and by
/// the entity types they watch (events), so a push looks only at the connections it may
/// concern, however many are open.
#[derive(Default)]
struct OrgConns {
    by_user: HashMap<Uuid, Vec<Arc<Conn>>>,
    by_type: HashMap<String, Vec<Arc<Conn>>>,
    count: usize,
}

/// The router (one per instance).
#[derive(Default)]
pub(crate) struct Hub {
    orgs: RwLock<HashMap<Uuid, OrgConns>>,
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
        let org = orgs.entry(org_id).or_default();
        let mine = org.by_user.entry(user_id).or_default();
        if mine.len() >= per_user {
            return Err(TooMany(per_user));
        }
        mine.push(conn.clone());
        org.count += 1;
        metrics::gauge!("realtime_connections").increment(1.0);
        Ok((conn, rx))
    }

    pub fn leave(&self, org_id: Uuid, conn: &Conn) {
        let Ok(mut orgs) = self.orgs.write() else {
            return;
        };
        let Some(org) = orgs.get_mut(&org_id) else {
            return;
        };
        if let Some(mine) = org.by_user.get_mut(&conn.user_id) {
            let before = mine.len();
            mine.retain(|c| c.id != conn.id);
            if mine.len() < before {
                org.count -= 1;
                metrics::gauge!("realtime_connections").decrement(1.0);
            }
            if mine.is_empty() {
                org.by_user.remove(&conn.user_id);
            }
        }
        let types: Vec<String> = conn
            .topics
            .read()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        for kind in types {
            unindex(org, &kind, conn.id);
        }
        if org.count == 0 {
            orgs.remove(&org_id);
        }
    }

    /// Adds a subscription of `conn` (in `org_id`).
    pub fn subscribe(&self, org_id: Uuid, conn: &Arc<Conn>, (kind, id): Topic) {
        let Ok(mut orgs) = self.orgs.write() else {
            return;
        };
        let Ok(mut topics) = conn.topics.write() else {
            return;
        };
        let fresh = !topics.contains_key(&kind);
        let watch = topics.entry(kind.clone()).or_default();
        match id {
            None => watch.all = true,
            Some(id) => {
                watch.ids.insert(id);
            }
        }
        if fresh && let Some(org) = orgs.get_mut(&org_id) {
            org.by_type.entry(kind).or_default().push(conn.clone());
        }
    }

    /// Removes a subscription of `conn`.
    pub fn unsubscribe(&self, org_id: Uuid, conn: &Conn, (kind, id): &Topic) {
        let Ok(mut orgs) = self.orgs.write() else {
            return;
        };
        let Ok(mut topics) = conn.topics.write() else {
            return;
        };
        let Some(watch) = topics.get_mut(kind) else {
            return;
        };
        match id {
            None => watch.all = false,
            Some(id) => {
                watch.ids.remove(id);
            }
        }
        if !watch.all && watch.ids.is_empty() {
            topics.remove(kind);
            if let Some(org) = orgs.get_mut(&org_id) {
                unindex(org, kind, conn.id);
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
                let Some(org) = orgs.get(&push.org_id) else {
                    return;
                };
                match &push.audience {
                    Audience::User { user_id } => {
                        for conn in org.by_user.get(user_id).into_iter().flatten() {
                            conn.offer(Delivery::Push(push.clone()));
                        }
                    }
                    Audience::Entity {
                        entity_type,
                        entity_id,
                    } => {
                        let watching = org.by_type.get(entity_type).into_iter().flatten();
                        for conn in watching.filter(|c| c.subscribed(entity_type, *entity_id)) {
                            conn.offer(Delivery::Push(push.clone()));
                        }
                    }
                }
            }
            Received::Gap => {
                for conn in orgs.values().flat_map(|o| o.by_user.values()).flatten() {
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
            .map_or(0, |o| o.values().map(|org| org.count).sum())
    }
}

fn unindex(org: &mut OrgConns, kind: &str, id: u64) {
    if let Some(list) = org.by_type.get_mut(kind) {
        list.retain(|c| c.id != id);
        if list.is_empty() {
            org.by_type.remove(kind);
        }
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
        hub.subscribe(org, &a, ("item".into(), Some(item)));
        hub.subscribe(org, &b, ("item".into(), None));

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
        hub.unsubscribe(org, &b, &("item".into(), None));
        assert!(!b.subscribed("item", item));
        hub.leave(org, &a);
        hub.leave(org, &b);
        assert_eq!(hub.len(), 0);
    }
}
