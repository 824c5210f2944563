//! The PostHog "brain": verified, parsed events become intent signals of prospect companies.
//!
//! For each event a rule matches (others are counted and dropped): the person is looked up by
//! identity (`distinct_id`, `$anon_distinct_id`, the person's email: an identity row, else the
//! one contact with that email); else a known anonymous
//! visitor gives the company; else, when PostHog sent an IP, reverse-IP enrichment names the
//! network, and a company network whose domain (the provider's, or the operator's org-name
//! mapping) is a prospect's domain creates the visitor. Residential, mobile and cloud networks
//! are never attributed. The raw IP is never stored or logged: visitors keep a salted hash.
//!
//! Everything of one delivery is written in one transaction of the operator org, before the
//! hook answers: an accepted event is never lost, a replay (`webhook-id`, event `uuid`) is
//! ignored, and what the new signals add to their companies' scores is queued, in the same
//! transaction, for the score job (see [`crate::score`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use chrono::Utc;
use kernel::sea_orm::sea_query::{ExprTrait, OnConflict};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use serde::Serialize;
use uuid::Uuid;

use crate::enrich::{Enricher, Enrichment, HttpEnricher, OfflineEnricher, attribute, ip_hash};
use crate::module::{Inner, SCORE_JOB, State};
use crate::posthog::Event;
use crate::settings::{SignalSpec, classify};
use crate::store::entity::{
    anonymous_visitor, company_domain, contact, contact_identity, hook_delivery, intent_signal,
    org_domain, score_queue,
};

/// Where reverse-IP lookups go (none until the module is configured).
#[derive(Default)]
pub(crate) enum Enrichers {
    /// Loaded on first use (a fraction of a second), so start-up stays fast.
    Offline(tokio::sync::OnceCell<Arc<OfflineEnricher>>),
    Http(Arc<HttpEnricher>),
    #[default]
    None,
}

impl Enrichers {
    async fn lookup(&self, ip: IpAddr) -> Option<Enrichment> {
        match self {
            Enrichers::None => None,
            Enrichers::Http(h) => match h.lookup(ip).await {
                Ok(e) => e,
                Err(e) => {
                    // The error never carries the IP or the URL.
                    tracing::warn!(error = %e, "reverse-IP lookup failed");
                    None
                }
            },
            Enrichers::Offline(cell) => {
                let data = cell
                    .get_or_try_init(|| async {
                        tokio::task::spawn_blocking(OfflineEnricher::embedded)
                            .await
                            .map_err(|e| e.to_string())?
                            .map(Arc::new)
                            .map_err(|e| e.to_string())
                    })
                    .await;
                match data {
                    Ok(d) => d.lookup_sync(ip),
                    Err(e) => {
                        tracing::error!(error = %e, "the offline IP data cannot be loaded");
                        None
                    }
                }
            }
        }
    }
}

/// What one delivery did.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// Events in the body.
    pub received: usize,
    /// Signals stored.
    pub signals: usize,
    /// Low-value events (no rule): counted, not stored.
    pub dropped: usize,
    /// Events seen before (same `uuid`).
    pub duplicates: usize,
    /// High-value events of nobody we can attribute.
    pub unattributed: usize,
    /// `true` when the whole delivery (`webhook-id`) was accepted before: nothing was done.
    pub replay: bool,
    /// Items that were refused, by position.
    pub errors: Vec<ItemReport>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ItemReport {
    pub index: usize,
    pub error: String,
}

fn count(outcome: &'static str, n: usize) {
    metrics::counter!("abm_events_total", "outcome" => outcome).increment(n as u64);
}

/// A high-value event waiting for its company.
struct Pending {
    event: Event,
    signal: SignalSpec,
    enrichment: Option<Enrichment>,
}

impl Inner {
    /// Stores what `events` mean, in one transaction; `delivery` is the `webhook-id`.
    pub(crate) async fn ingest(
        &self,
        ctx: &CellContext,
        events: Vec<Event>,
        delivery: Option<String>,
        mut report: Report,
    ) -> Result<Report, ApiError> {
        let state = self.state()?;
        let mut pending = Vec::new();
        for event in events {
            match classify(&self.settings.rules, &event) {
                Some(signal) => pending.push(Pending {
                    event,
                    signal,
                    enrichment: None,
                }),
                None => report.dropped += 1,
            }
        }
        // Lookups before the transaction: an HTTP provider may take a while.
        let mut seen: HashMap<IpAddr, Option<Enrichment>> = HashMap::new();
        for p in &mut pending {
            if let Some(ip) = p.event.ip {
                let found = match seen.get(&ip) {
                    Some(found) => found.clone(),
                    None => {
                        let found = self.enrichers.lookup(ip).await;
                        seen.insert(ip, found.clone());
                        found
                    }
                };
                p.enrichment = found;
            }
        }
        // Two deliveries in flight at once may both create the same visitor (or carry the same
        // webhook-id), or create two visitors in opposite orders (a deadlock on PostgreSQL): the
        // loser's unique violation or deadlock (both 409 `conflict`) rolls it back, and another
        // pass sees the winner's rows, so no accepted event is refused.
        let mut attempt = 0;
        let report = loop {
            attempt += 1;
            match self
                .store(ctx, state, &pending, delivery.as_deref(), report.clone())
                .await
            {
                Err(e) if e.code() == kernel::ErrorCode::Conflict && attempt < 5 => continue,
                other => break other?,
            }
        };
        if report.replay {
            // Counted as a replay when it was seen; its events were counted the first time.
            return Ok(report);
        }
        count("signal", report.signals);
        count("dropped", report.dropped);
        count("duplicate", report.duplicates);
        count("unattributed", report.unattributed);
        count("invalid", report.errors.len());
        Ok(report)
    }

    /// One attempt at storing a delivery, in one transaction of the operator org.
    async fn store(
        &self,
        ctx: &CellContext,
        state: &State,
        pending: &[Pending],
        delivery: Option<&str>,
        mut report: Report,
    ) -> Result<Report, ApiError> {
        let tx = ctx.db().tenant(state.operator).await?;
        if let Some(id) = delivery {
            let id = id.to_owned();
            let repo = tx.repo::<hook_delivery::Entity>();
            if repo.get((state.operator, id.clone())).await?.is_some() {
                tx.rollback().await?;
                report.replay = true;
                count("replay", report.received);
                return Ok(report);
            }
            repo.insert(hook_delivery::ActiveModel {
                org_id: Set(state.operator),
                webhook_id: Set(id),
                received_at: Set(Utc::now()),
            })
            .await?;
        }
        let mut known = Known::load(&tx, pending).await?;
        let now = Utc::now();
        let since = crate::score::window_start(now);
        let mut rows = Vec::new();
        // signal → (its company, what it adds to the score: nothing once outside the window).
        let mut adds: HashMap<Uuid, (Uuid, i64)> = HashMap::new();
        for p in pending {
            let Some((company, contact, visitor)) = known.resolve(&tx, &state.salt, p).await?
            else {
                report.unattributed += 1;
                continue;
            };
            let id = Uuid::now_v7();
            let weight = i64::from(p.signal.weight) * i64::from(p.event.timestamp > since);
            adds.insert(id, (company, weight));
            rows.push(intent_signal::ActiveModel {
                id: Set(id),
                org_id: Set(state.operator),
                prospect_company_id: Set(company),
                contact_id: Set(contact),
                visitor_id: Set(visitor),
                signal_type: Set(p.signal.signal_type.clone()),
                service_lane: Set(p.signal.service_lane.clone()),
                topic: Set(p.signal.topic.clone()),
                weight: Set(p.signal.weight),
                occurred_at: Set(p.event.timestamp),
                event_uuid: Set(p.event.uuid),
                created_at: Set(now),
            });
        }
        known.touch_visitors(&tx, now).await?;
        let attempted = rows.len();
        // What the stored signals add, per company (a duplicate is not stored and adds nothing).
        let mut scores: BTreeMap<Uuid, i64> = BTreeMap::new();
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(500));
            let chunk = std::mem::replace(&mut rows, rest);
            // Rows carry the operator org; RLS holds the transaction to it on PostgreSQL.
            let stored = intent_signal::Entity::insert_many(chunk)
                .on_conflict(
                    OnConflict::columns([
                        intent_signal::Column::OrgId,
                        intent_signal::Column::EventUuid,
                    ])
                    .do_nothing()
                    .to_owned(),
                )
                // unscoped: bulk insert (ON CONFLICT on org_id, event_uuid); every row carries tx's org
                .exec_with_returning_keys(tx.unscoped())
                .await?;
            report.signals += stored.len();
            for (company, weight) in stored.iter().filter_map(|id| adds.get(id)) {
                *scores.entry(*company).or_default() += weight;
            }
        }
        report.duplicates = attempted - report.signals;
        scores.retain(|_, weight| *weight != 0);
        if !scores.is_empty() {
            // The weights wait in the score queue for a job that adds up what every delivery
            // so far queued: one is enqueued unless one already waits (a burst of deliveries
            // costs one run), and the minute sweep takes what a claimed job missed.
            score_queue::Entity::insert_many(scores.iter().map(|(c, weight)| {
                score_queue::ActiveModel {
                    org_id: Set(state.operator),
                    id: Set(Uuid::now_v7()),
                    prospect_company_id: Set(*c),
                    weight: Set(*weight),
                }
            }))
            // unscoped: bulk insert into the score queue; every row carries tx's org
            .exec_without_returning(tx.unscoped())
            .await?;
            ctx.jobs()
                .enqueue_unless_pending(
                    // unscoped: the kernel's job table, written in the change's transaction
                    tx.unscoped(),
                    SCORE_JOB,
                    Some(state.operator),
                    serde_json::json!({}),
                )
                .await
                .map_err(ApiError::internal)?;
        }
        tx.commit().await?;
        Ok(report)
    }
}

/// What a delivery's events need to find their companies, read in a few queries up front (not
/// several per event) and kept up to date as the delivery creates visitors.
struct Known {
    /// `(identity_type, value)` → contact.
    identities: HashMap<(String, String), Uuid>,
    /// contact → its prospect company.
    contacts: HashMap<Uuid, Uuid>,
    /// `posthog_distinct_id` → (visitor, company).
    visitors: HashMap<String, (Uuid, Uuid)>,
    /// Visitors seen in this delivery, whose `last_seen_at` moves.
    seen: BTreeSet<Uuid>,
    /// The operator's org-name → domain mapping (lowercase names), read only when needed.
    org_domains: Option<HashMap<String, String>>,
    /// domain → the prospect owning it, as found so far.
    domains: HashMap<String, Option<Uuid>>,
}

impl Known {
    async fn load(tx: &TenantTx, pending: &[Pending]) -> Result<Self, ApiError> {
        let mut ids: BTreeSet<&str> = BTreeSet::new();
        let mut emails: BTreeSet<&str> = BTreeSet::new();
        for p in pending {
            ids.insert(&p.event.distinct_id);
            ids.extend(p.event.anon_distinct_id.as_deref());
            emails.extend(p.event.person_email.as_deref());
        }
        let mut known = Self {
            identities: HashMap::new(),
            contacts: HashMap::new(),
            visitors: HashMap::new(),
            seen: BTreeSet::new(),
            org_domains: None,
            domains: HashMap::new(),
        };
        if ids.is_empty() {
            return Ok(known);
        }
        use contact_identity::Column as I;
        let repo = tx.repo::<contact_identity::Entity>();
        let found = repo
            .find()
            .filter(
                kernel::sea_orm::Condition::any()
                    .add(
                        I::IdentityType
                            .eq("posthog_distinct_id")
                            .and(I::IdentityValue.is_in(ids.iter().copied())),
                    )
                    .add(
                        I::IdentityType
                            .eq("email")
                            .and(I::IdentityValue.is_in(emails.iter().copied())),
                    ),
            )
            .all(repo.conn())
            .await?;
        let contact_ids: BTreeSet<Uuid> = found.iter().map(|i| i.contact_id).collect();
        known.identities = found
            .into_iter()
            .map(|i| ((i.identity_type, i.identity_value), i.contact_id))
            .collect();
        // A contact's own email is an identity too, when no identity row names the email and
        // exactly one contact has it (one person at two companies is not guessed between).
        let unclaimed: Vec<&str> = emails
            .iter()
            .copied()
            .filter(|e| {
                !known
                    .identities
                    .contains_key(&("email".to_owned(), (*e).to_owned()))
            })
            .collect();
        // Contacts found by their email come with their company: they are not read again.
        let mut by_own_email: HashMap<Uuid, Uuid> = HashMap::new();
        if !unclaimed.is_empty() {
            let repo = tx.repo::<contact::Entity>();
            let mut by_email: HashMap<String, Vec<(Uuid, Uuid)>> = HashMap::new();
            for c in repo
                .find()
                .filter(contact::Column::Email.is_in(unclaimed))
                .all(repo.conn())
                .await?
            {
                by_email
                    .entry(c.email)
                    .or_default()
                    .push((c.id, c.prospect_company_id));
            }
            for (email, contacts) in by_email {
                if let [(id, company)] = contacts[..] {
                    known.identities.insert(("email".to_owned(), email), id);
                    by_own_email.insert(id, company);
                }
            }
        }
        if !contact_ids.is_empty() {
            let repo = tx.repo::<contact::Entity>();
            known.contacts = repo
                .find()
                .filter(contact::Column::Id.is_in(contact_ids))
                .all(repo.conn())
                .await?
                .into_iter()
                .map(|c| (c.id, c.prospect_company_id))
                .collect();
        }
        known.contacts.extend(by_own_email);
        let repo = tx.repo::<anonymous_visitor::Entity>();
        known.visitors = repo
            .find()
            .filter(anonymous_visitor::Column::PosthogDistinctId.is_in(ids))
            .all(repo.conn())
            .await?
            .into_iter()
            .map(|v| (v.posthog_distinct_id, (v.id, v.prospect_company_id)))
            .collect();
        Ok(known)
    }

    /// The prospect company of an event (with its contact or visitor), if we know who it is.
    async fn resolve(
        &mut self,
        tx: &TenantTx,
        salt: &[u8],
        p: &Pending,
    ) -> Result<Option<(Uuid, Option<Uuid>, Option<Uuid>)>, ApiError> {
        let ev = &p.event;
        let ids: Vec<&str> = std::iter::once(ev.distinct_id.as_str())
            .chain(ev.anon_distinct_id.as_deref())
            .collect();
        // 1. A known person.
        let by_id = ids.iter().map(|id| ("posthog_distinct_id", *id));
        let by_email = ev.person_email.as_deref().map(|e| ("email", e));
        let contact = by_id.chain(by_email).find_map(|(t, v)| {
            self.identities
                .get(&(t.to_owned(), v.to_owned()))
                .and_then(|c| self.contacts.get(c).map(|company| (*c, *company)))
        });
        if let Some((contact, company)) = contact {
            return Ok(Some((company, Some(contact), None)));
        }
        // 2. A visitor we attributed before.
        if let Some(&(visitor, company)) = ids.iter().find_map(|id| self.visitors.get(*id)) {
            self.seen.insert(visitor);
            return Ok(Some((company, None, Some(visitor))));
        }
        // 3. A company network whose domain is a prospect's.
        let (Some(e), Some(ip)) = (&p.enrichment, ev.ip) else {
            return Ok(None);
        };
        // The operator's mapping matters only for a company network the provider named
        // without a domain: read it then, once per delivery.
        let needs_mapping = e.network == crate::enrich::NetworkKind::Company && e.domain.is_none();
        if needs_mapping && self.org_domains.is_none() {
            let repo = tx.repo::<org_domain::Entity>();
            let rows = repo.find().all(repo.conn()).await?;
            self.org_domains = Some(rows.into_iter().map(|m| (m.org_name, m.domain)).collect());
        }
        let mapping = self.org_domains.as_ref();
        let Some(domain) = attribute(e, |org| {
            mapping.and_then(|m| m.get(&org.trim().to_lowercase()).cloned())
        }) else {
            return Ok(None);
        };
        let company = match self.domains.get(&domain) {
            Some(c) => *c,
            None => {
                let c = company_by_domain(tx, &domain).await?;
                self.domains.insert(domain, c);
                c
            }
        };
        let Some(company) = company else {
            return Ok(None);
        };
        let now = Utc::now();
        let v = tx
            .repo::<anonymous_visitor::Entity>()
            .insert(anonymous_visitor::ActiveModel {
                id: Set(Uuid::now_v7()),
                org_id: Set(tx.org_id()),
                prospect_company_id: Set(company),
                posthog_distinct_id: Set(ev.distinct_id.clone()),
                ip_hash: Set(Some(ip_hash(ip, salt))),
                ip_country: Set(e.country.clone()),
                ip_org: Set(e.org_name.clone()),
                last_seen_at: Set(now),
                created_at: Set(now),
            })
            .await?;
        self.visitors
            .insert(ev.distinct_id.clone(), (v.id, company));
        Ok(Some((company, None, Some(v.id))))
    }

    /// Moves `last_seen_at` of the visitors seen again, in one statement.
    async fn touch_visitors(
        &self,
        tx: &TenantTx,
        now: chrono::DateTime<Utc>,
    ) -> Result<(), ApiError> {
        if self.seen.is_empty() {
            return Ok(());
        }
        tx.repo::<anonymous_visitor::Entity>()
            .update_many(
                vec![(
                    anonymous_visitor::Column::LastSeenAt,
                    kernel::sea_orm::sea_query::Expr::value(now),
                )],
                anonymous_visitor::Column::Id.is_in(self.seen.iter().copied()),
            )
            .await?;
        Ok(())
    }
}

/// The prospect owning `domain` or, failing that, its closest parent domain
/// (`jpl.nasa.gov`, then `nasa.gov`).
pub(crate) async fn company_by_domain(
    tx: &TenantTx,
    domain: &str,
) -> Result<Option<Uuid>, ApiError> {
    let mut candidates = Vec::new();
    let mut rest = domain;
    while rest.contains('.') {
        candidates.push(rest.to_owned());
        rest = match rest.split_once('.') {
            Some((_, r)) => r,
            None => break,
        };
    }
    let repo = tx.repo::<company_domain::Entity>();
    let found = repo
        .find()
        .filter(company_domain::Column::Domain.is_in(candidates.clone()))
        .all(repo.conn())
        .await?;
    Ok(candidates
        .iter()
        .find_map(|c| found.iter().find(|d| &d.domain == c))
        .map(|d| d.prospect_company_id))
}
