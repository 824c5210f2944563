//! The dataset generator: fills a fullorbit cell's operator org with prospects, domains, contacts,
//! identities and intent signals, in bulk, through the cell's own entities (so every value is
//! encoded exactly as the cell encodes it, on either backend).
//!
//! Everything is a function of the seed and the row's number, so two runs with the same flags
//! write the same rows, and the load runner (and pgbench) can name any row without reading it:
//! row `i` of kind `k` has the id `{tag:08x}-{k:04x}-4000-8000-{i:012x}`, `tag` from the seed.

use std::time::{Duration, Instant};

use abm::store::entity::{
    company_domain, contact, contact_identity, intent_signal, prospect_company,
};
use anyhow::Context as _;
use chrono::{DateTime, TimeDelta, Utc};
use kernel::sea_orm::ActiveValue::Set;
use kernel::sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, TransactionTrait as _};
use uuid::Uuid;

/// How much to generate (the command line's sizes).
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Sizes {
    pub prospects: u64,
    /// Each with one PostHog identity.
    pub contacts: u64,
    pub signals: u64,
    /// Signals are spread over this many days before now.
    pub days: u64,
}

/// A generated dataset, as the load runner and the references name its rows.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// The operator org the rows belong to.
    pub org: Uuid,
    pub seed: u64,
    pub sizes: Sizes,
    /// Engaged prospects (the list's filter pages through them).
    pub engaged: u64,
}

/// What the generator wrote, and how long it took.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Seeded {
    pub rows: u64,
    pub took: Duration,
    /// Prospects whose score reaches the engaged threshold (the list scenario's filter).
    pub engaged: u64,
}

/// The kinds of generated rows (the second group of their ids).
#[derive(Debug, Clone, Copy)]
#[repr(u16)]
pub enum Kind {
    Prospect = 1,
    Domain = 2,
    Contact = 3,
    Identity = 4,
    Signal = 5,
    Event = 6,
}

/// Row `i` of `kind` for `seed` (see the module docs).
pub fn id(seed: u64, kind: Kind, i: u64) -> Uuid {
    let tag = (mix(seed) >> 32) as u32;
    let hi = (u64::from(tag) << 32) | ((kind as u64) << 16) | 0x4000;
    Uuid::from_u64_pair(hi, (0x8000 << 48) | (i & 0xffff_ffff_ffff))
}

/// The SQL text of [`id`] for a pgbench variable `var` (same layout).
pub fn id_sql(seed: u64, kind: Kind, var: &str) -> String {
    let tag = (mix(seed) >> 32) as u32;
    format!(
        "('{tag:08x}-{:04x}-4000-8000-' || lpad(to_hex(:{var}::bigint), 12, '0'))::uuid",
        kind as u16
    )
}

/// The PostHog distinct id of contact `c` (its one identity).
pub fn distinct_id(c: u64) -> String {
    format!("ph-{c}")
}

/// The company contact `c` works at: contacts are dealt round the prospects.
pub fn company_of_contact(c: u64, sizes: &Sizes) -> u64 {
    c % sizes.prospects
}

/// SplitMix64's finaliser: a well-mixed 64-bit value of `x`.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The engaged threshold of `products/fullorbit.toml`.
const ENGAGED: i64 = 100;
/// Scores count the last 30 days, as the cell's.
const WINDOW: i64 = 30 * 86_400;

/// Signal kinds as the product's rules make them: (type, lane, topic, weight).
const SIGNALS: [(&str, Option<&str>, &str, i32); 8] = [
    ("pricing_view", None, "Pricing", 25),
    ("page_view", Some("Launch"), "Launch services", 10),
    ("page_view", Some("Mobility"), "In-space mobility", 10),
    ("page_view", Some("Fuel"), "Orbital refuelling", 10),
    (
        "page_view",
        Some("ISAM"),
        "In-space assembly and manufacturing",
        10,
    ),
    ("page_view", Some("Return"), "Return and recovery", 10),
    ("page_view", None, "Documentation", 5),
    ("content_download", None, "Launch Guide", 30),
];

/// Signal `j`: (company, one of its contacts if it has any, kind index, seconds before `now`). Companies are skewed (a
/// few hot accounts, a long cold tail), as intent is.
fn signal(seed: u64, j: u64, sizes: &Sizes) -> (u64, Option<u64>, usize, i64) {
    let h = mix(seed ^ mix(j));
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    let company = ((u * u * u) * sizes.prospects as f64) as u64 % sizes.prospects;
    // The company's contacts are `company + k * prospects` below `contacts`.
    let staff = sizes
        .contacts
        .saturating_sub(company)
        .div_ceil(sizes.prospects);
    let contact = (staff > 0).then(|| company + (mix(h) % staff) * sizes.prospects);
    let kind = (mix(h ^ 1) % SIGNALS.len() as u64) as usize;
    let ago = (mix(h ^ 2) % (sizes.days * 86_400).max(1)) as i64;
    (company, contact, kind, ago)
}

/// Rows per INSERT: under both backends' bound-parameter limits for the widest table (12
/// columns; PostgreSQL allows 65 535 parameters, SQLite 32 766).
const CHUNK: usize = 2_000;
/// Rows per transaction.
const TX_ROWS: usize = 50_000;

/// Writes the dataset into `org` (the operator org) over `conn` (the table owner: no row-level
/// security applies). The tables must be empty of generated rows.
pub async fn seed(
    conn: &DatabaseConnection,
    org: Uuid,
    sizes: &Sizes,
    seed: u64,
) -> anyhow::Result<Seeded> {
    anyhow::ensure!(
        sizes.prospects > 0 && sizes.contacts > 0,
        "at least one prospect and one contact"
    );
    let start = Instant::now();
    let now = Utc::now();
    // The scores the signals add up to, computed first so prospects are written once.
    let mut scores = vec![0i64; sizes.prospects as usize];
    for j in 0..sizes.signals {
        let (company, _, kind, ago) = signal(seed, j, sizes);
        if ago < WINDOW
            && let Some(s) = scores.get_mut(company as usize)
        {
            *s += i64::from(SIGNALS[kind].3);
        }
    }
    let mut engaged = 0;
    let prospects = (0..sizes.prospects).map(|i| {
        let score = scores.get(i as usize).copied().unwrap_or(0);
        let stage = match score >= ENGAGED {
            true if i % 20 == 0 => "opportunity",
            true => "engaged",
            false => "new",
        };
        if stage == "engaged" {
            engaged += 1;
        }
        prospect_company::ActiveModel {
            id: Set(id(seed, Kind::Prospect, i)),
            org_id: Set(org),
            name: Set(format!("Prospect {i}")),
            domain: Set(format!("p{i}.example")),
            intent_score: Set(score),
            stage: Set(stage.into()),
            owner_user_id: Set(None),
            customer_org_id: Set(None),
            score_updated_at: Set(Some(now)),
            created_at: Set(now),
            updated_at: Set(now),
        }
    });
    let mut rows = insert(conn, prospects).await?;
    rows += insert(
        conn,
        (0..sizes.prospects).map(|i| company_domain::ActiveModel {
            id: Set(id(seed, Kind::Domain, i)),
            org_id: Set(org),
            prospect_company_id: Set(id(seed, Kind::Prospect, i)),
            domain: Set(format!("p{i}.example")),
            is_primary: Set(true),
            created_at: Set(now),
        }),
    )
    .await?;
    rows += insert(
        conn,
        (0..sizes.contacts).map(|c| {
            let company = company_of_contact(c, sizes);
            contact::ActiveModel {
                id: Set(id(seed, Kind::Contact, c)),
                org_id: Set(org),
                prospect_company_id: Set(id(seed, Kind::Prospect, company)),
                email: Set(format!("c{c}@p{company}.example")),
                first_name: Set(Some(format!("First{c}"))),
                last_name: Set(Some(format!("Last{c}"))),
                title: Set(None),
                status: Set("new".into()),
                created_at: Set(now),
                updated_at: Set(now),
            }
        }),
    )
    .await?;
    rows += insert(
        conn,
        (0..sizes.contacts).map(|c| contact_identity::ActiveModel {
            id: Set(id(seed, Kind::Identity, c)),
            org_id: Set(org),
            contact_id: Set(id(seed, Kind::Contact, c)),
            identity_type: Set("posthog_distinct_id".into()),
            identity_value: Set(distinct_id(c)),
            created_at: Set(now),
        }),
    )
    .await?;
    rows += insert(
        conn,
        (0..sizes.signals).map(|j| {
            let (company, c, kind, ago) = signal(seed, j, sizes);
            let (signal_type, lane, topic, weight) = SIGNALS[kind];
            let at: DateTime<Utc> = now - TimeDelta::seconds(ago);
            intent_signal::ActiveModel {
                id: Set(id(seed, Kind::Signal, j)),
                org_id: Set(org),
                prospect_company_id: Set(id(seed, Kind::Prospect, company)),
                contact_id: Set(c.map(|c| id(seed, Kind::Contact, c))),
                visitor_id: Set(None),
                signal_type: Set(signal_type.into()),
                service_lane: Set(lane.map(str::to_owned)),
                topic: Set(Some(topic.into())),
                weight: Set(weight),
                occurred_at: Set(at),
                event_uuid: Set(Some(id(seed, Kind::Event, j))),
                created_at: Set(at),
            }
        }),
    )
    .await?;
    Ok(Seeded {
        rows,
        took: start.elapsed(),
        engaged,
    })
}

/// Inserts `rows` [`CHUNK`] to a statement, [`TX_ROWS`] to a transaction; returns the count.
async fn insert<A, I>(conn: &DatabaseConnection, rows: I) -> anyhow::Result<u64>
where
    A: ActiveModelTrait + Send,
    I: Iterator<Item = A>,
{
    let mut rows = rows.peekable();
    let mut count = 0u64;
    while rows.peek().is_some() {
        let tx = conn.begin().await?;
        let mut in_tx = 0;
        while in_tx < TX_ROWS {
            let chunk: Vec<A> = rows.by_ref().take(CHUNK).collect();
            if chunk.is_empty() {
                break;
            }
            in_tx += chunk.len();
            count += chunk.len() as u64;
            A::Entity::insert_many(chunk)
                .exec_without_returning(&tx)
                .await
                .context("bulk insert")?;
        }
        tx.commit().await?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_distinct_and_version_4() {
        let a = id(42, Kind::Contact, 7);
        assert_eq!(a, id(42, Kind::Contact, 7));
        assert_ne!(a, id(42, Kind::Contact, 8));
        assert_ne!(a, id(42, Kind::Identity, 7));
        assert_ne!(a, id(43, Kind::Contact, 7));
        assert_eq!(a.get_version_num(), 4);
        assert!(a.to_string().ends_with("-4000-8000-000000000007"), "{a}");
    }

    #[test]
    fn signals_stay_inside_the_dataset() {
        let sizes = Sizes {
            prospects: 10,
            contacts: 25,
            signals: 0,
            days: 90,
        };
        for j in 0..10_000 {
            let (company, contact, kind, ago) = signal(1, j, &sizes);
            assert!(company < 10 && kind < SIGNALS.len());
            let contact = contact.unwrap_or(company);
            assert!(contact < 25 && company_of_contact(contact, &sizes) == company);
            assert!((0..90 * 86_400).contains(&ago));
        }
    }
}
