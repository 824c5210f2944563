//! The load runner: goose scenarios against a running cell. Each scenario runs `users` goose
//! users for a bounded time (after all have started) and reports, per request kind, throughput,
//! latency percentiles (microsecond buckets) and failures (any answer other than the expected
//! status, or no answer).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use abm::webhook::{WebhookSecret, sign};
use chrono::Utc;
use goose::prelude::*;
use serde_json::{Value, json};

use crate::dataset::{self, Dataset, Kind};

/// What every scenario needs to build its requests.
#[derive(Debug)]
pub struct Shared {
    pub data: Dataset,
    /// `authorization` for an internal admin: `Bearer <access token>`.
    pub user_auth: String,
    /// `authorization` for an API key with `abm:read`: `Bearer <key>`.
    pub key_auth: String,
    /// Users that can log in (email), all with `password`.
    pub logins: Vec<String>,
    pub password: String,
    pub hook_secret: WebhookSecret,
    /// Events per batched delivery.
    pub batch: usize,
    counter: AtomicU64,
    /// Events the hook answered 200 for (each one must become a signal).
    pub accepted: AtomicU64,
    /// The peer's `authorization` and note paths, once it is prepared.
    pub peer: std::sync::OnceLock<(String, Vec<String>)>,
}

impl Shared {
    pub fn new(
        data: Dataset,
        token: String,
        api_key: String,
        logins: Vec<String>,
        password: String,
        hook_secret: WebhookSecret,
        batch: usize,
    ) -> Self {
        Self {
            data,
            user_auth: format!("Bearer {token}"),
            key_auth: format!("Bearer {api_key}"),
            logins,
            password,
            hook_secret,
            batch,
            counter: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            peer: std::sync::OnceLock::new(),
        }
    }

    /// A fresh number: a pseudo-random pick when mixed, a unique id as it is.
    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    fn pick(&self, n: u64) -> u64 {
        dataset::mix(self.data.seed ^ self.next().wrapping_mul(0x2545_f491_4f6c_dd1d)) % n.max(1)
    }

    fn contact_path(&self) -> String {
        let c = self.pick(self.data.sizes.contacts);
        format!(
            "/api/abm/contacts/{}",
            dataset::id(self.data.seed, Kind::Contact, c)
        )
    }

    fn list_path(&self) -> String {
        // The first 20 pages of 25 (what people page through), within the engaged prospects.
        let pages = self.data.engaged.div_ceil(25).clamp(1, 20);
        format!(
            "/api/abm/companies?filter[stage]=engaged&sort=intent_score:desc&limit=25&page={}",
            1 + self.pick(pages)
        )
    }

    /// A delivery of `n` pricing-page views by known contacts (each must become a signal), with
    /// a unique `webhook-id` and event uuids.
    fn delivery(&self, n: usize) -> (String, String) {
        let now = Utc::now().to_rfc3339();
        let events: Vec<Value> = (0..n)
            .map(|_| {
                let c = self.pick(self.data.sizes.contacts);
                json!({
                    "event": {"uuid": uuid::Uuid::now_v7(), "event": "$pageview",
                              "distinct_id": dataset::distinct_id(c), "timestamp": now,
                              "properties": {"$current_url": "https://fullorbit.example/pricing",
                                             "$pathname": "/pricing", "$browser": "Chrome",
                                             "$session_id": format!("s-{c}")}},
                    "person": {"properties": {}}
                })
            })
            .collect();
        let body = match n {
            1 => events.into_iter().next().unwrap_or_default(),
            _ => Value::from(events),
        };
        (format!("msg_bench_{}", self.next()), body.to_string())
    }
}

/// The scenarios, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Scenario {
    /// `GET /api/abm/contacts/{id}` with a user's access token.
    ReadById,
    /// The same with an API key.
    ReadByIdApiKey,
    /// `GET /api/abm/companies` filtered by stage, sorted by score, 25 a page.
    List,
    /// One event per signed delivery.
    IngestSingle,
    /// `batch` events per signed delivery.
    IngestBatch,
    /// `POST /api/v1/auth/login` (argon2 on purpose).
    Login,
    /// 60 % reads by id, 20 % lists, 10 % contact updates, 10 % single-event deliveries.
    Mixed,
    /// The peer's `GET /api/notes/{id}` with its JWT (see `peer.rs`).
    PeerReadById,
}

impl Scenario {
    pub fn label(self) -> &'static str {
        match self {
            Self::ReadById => "read by id",
            Self::ReadByIdApiKey => "read by id (API key)",
            Self::List => "list, filter + sort + page",
            Self::IngestSingle => "PostHog ingestion, 1 event",
            Self::IngestBatch => "PostHog ingestion, batched",
            Self::Login => "login",
            Self::Mixed => "mixed read/write",
            Self::PeerReadById => "peer (Loco.rs): read by id",
        }
    }
}

/// One request kind's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RequestStats {
    pub name: String,
    pub requests: u64,
    pub failures: u64,
    pub per_sec: f64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// One scenario run's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    pub seconds: f64,
    pub requests: u64,
    pub failures: u64,
    pub per_sec: f64,
    pub kinds: Vec<RequestStats>,
}

/// Runs `scenario` with `users` concurrent users for `run_time`, at most `throttle` requests a
/// second (all users together) when given.
pub async fn run(
    base: &str,
    shared: Arc<Shared>,
    scenario: Scenario,
    users: usize,
    run_time: Duration,
    throttle: Option<usize>,
) -> anyhow::Result<Outcome> {
    let mut s = goose::goose::Scenario::new(scenario.label());
    for (weight, t) in transactions(scenario, &shared) {
        s = s.register_transaction(t.set_weight(weight)?);
    }
    let goose = |e: GooseError| anyhow::anyhow!("goose: {e:?}");
    let mut attack = GooseAttack::initialize_with_config(Default::default())
        .map_err(goose)?
        .register_scenario(s)
        .set_default(GooseDefault::Host, base)
        .map_err(goose)?
        .set_default(GooseDefault::Users, users)
        .map_err(goose)?
        .set_default(GooseDefault::IncreaseRate, &*users.to_string())
        .map_err(goose)?
        .set_default(GooseDefault::RunTime, run_time.as_secs().max(1) as usize)
        .map_err(goose)?
        .set_default(GooseDefault::Quiet, 1)
        .map_err(goose)?
        .set_default(GooseDefault::NoPrintMetrics, true)
        .map_err(goose)?
        .set_default(GooseDefault::NoTelnet, true)
        .map_err(goose)?
        .set_default(GooseDefault::NoGzip, true)
        .map_err(goose)?
        .set_default(GooseDefault::Timeout, "30")
        .map_err(goose)?;
    if let Some(rps) = throttle {
        attack = attack
            .set_default(GooseDefault::ThrottleRequests, rps.max(1))
            .map_err(goose)?;
    }
    let metrics = attack.execute().await.map_err(goose)?;
    let seconds = metrics.duration.max(1) as f64;
    let mut kinds: Vec<RequestStats> = metrics
        .requests
        .iter()
        .map(|(name, r)| {
            let t = &r.raw_data;
            let requests = (r.success_count + r.fail_count) as u64;
            RequestStats {
                name: name.clone(),
                requests,
                failures: r.fail_count as u64,
                per_sec: requests as f64 / seconds,
                p50_us: t.percentile_us(0.5),
                p95_us: t.percentile_us(0.95),
                p99_us: t.percentile_us(0.99),
                max_us: t.maximum_time_us,
            }
        })
        .collect();
    kinds.sort_by_key(|k| std::cmp::Reverse(k.requests));
    let requests = kinds.iter().map(|k| k.requests).sum();
    // A request without an answer is recorded as a failed request too.
    let failures = kinds.iter().map(|k| k.failures).sum();
    Ok(Outcome {
        seconds,
        requests,
        failures,
        per_sec: requests as f64 / seconds,
        kinds,
    })
}

/// A transaction from an async closure over the shared state.
macro_rules! tx {
    ($shared:expr, |$user:ident, $s:ident| $body:block) => {{
        let shared = $shared.clone();
        Transaction::new(Arc::new(move |$user: &mut GooseUser| {
            let $s = shared.clone();
            Box::pin(async move { $body })
        }))
    }};
}

fn transactions(scenario: Scenario, shared: &Arc<Shared>) -> Vec<(usize, Transaction)> {
    let read = tx!(shared, |user, s| {
        let path = s.contact_path();
        get(user, &path, &s.user_auth, "contact by id").await
    });
    let read_key = tx!(shared, |user, s| {
        let path = s.contact_path();
        get(user, &path, &s.key_auth, "contact by id (key)").await
    });
    let list = tx!(shared, |user, s| {
        let path = s.list_path();
        get(user, &path, &s.user_auth, "companies list").await
    });
    let single = tx!(shared, |user, s| {
        deliver(user, &s, 1, "hook, 1 event").await
    });
    let batch = tx!(shared, |user, s| {
        deliver(user, &s, s.batch, "hook, batch").await
    });
    let login = tx!(shared, |user, s| {
        let email = &s.logins[s.pick(s.logins.len() as u64) as usize];
        let body = json!({"email": email, "password": s.password});
        let path = "/api/v1/auth/login";
        send(user, GooseMethod::Post, path, "login", |rb| rb.json(&body)).await?;
        Ok(())
    });
    let patch = tx!(shared, |user, s| {
        let path = s.contact_path();
        let body = json!({"title": format!("Title {}", s.next())});
        send(user, GooseMethod::Patch, &path, "contact update", |rb| {
            rb.header("authorization", &s.user_auth).json(&body)
        })
        .await?;
        Ok(())
    });
    let peer_read = tx!(shared, |user, s| {
        let Some((auth, paths)) = s.peer.get() else {
            return Ok(());
        };
        let path = &paths[s.pick(paths.len() as u64) as usize];
        get(user, path, auth, "note by id").await
    });
    match scenario {
        Scenario::PeerReadById => vec![(1, peer_read)],
        Scenario::ReadById => vec![(1, read)],
        Scenario::ReadByIdApiKey => vec![(1, read_key)],
        Scenario::List => vec![(1, list)],
        Scenario::IngestSingle => vec![(1, single)],
        Scenario::IngestBatch => vec![(1, batch)],
        Scenario::Login => vec![(1, login)],
        Scenario::Mixed => vec![(6, read), (2, list), (1, patch), (1, single)],
    }
}

/// Sends `method path`, grouped under `name` in the metrics (ids vary; the request kind does
/// not), with what `build` adds to the request.
async fn send(
    user: &mut GooseUser,
    method: GooseMethod,
    path: &str,
    name: &str,
    build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
) -> Result<goose::goose::GooseResponse, Box<TransactionError>> {
    let rb = build(user.get_request_builder(&method, path)?);
    let req = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(name)
        .set_request_builder(rb)
        .build();
    user.request(req).await
}

/// An authenticated GET.
async fn get(user: &mut GooseUser, path: &str, auth: &str, name: &str) -> TransactionResult {
    send(user, GooseMethod::Get, path, name, |rb| {
        rb.header("authorization", auth)
    })
    .await?;
    Ok(())
}

/// A signed delivery of `n` events; a 200 adds its events to `accepted`.
async fn deliver(user: &mut GooseUser, s: &Shared, n: usize, name: &str) -> TransactionResult {
    let (id, body) = s.delivery(n);
    let ts = Utc::now().timestamp();
    let signature = sign(&s.hook_secret, &id, ts, body.as_bytes());
    let res = send(user, GooseMethod::Post, "/api/hooks/posthog", name, |rb| {
        rb.header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body)
    })
    .await?;
    if let Ok(r) = res.response
        && r.status().is_success()
    {
        s.accepted.fetch_add(n as u64, Ordering::Relaxed);
    }
    Ok(())
}
