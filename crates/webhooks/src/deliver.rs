//! Delivery: the fan-out of each event to the subscriptions that take it, and the job that
//! sends one delivery, signs it, records the attempt and decides what happens next.
//!
//! Each delivery is one kernel job (`webhooks.deliver`), retried on [`RETRIES_MS`]: the job's
//! lease keeps two instances from sending the same attempt, and a delivery already answered
//! with a 2xx is never sent again by a duplicate job.

use std::time::{Duration, Instant};

use chrono::Utc;
use kernel::CellContext;
use kernel::module::{DomainEvent, EventHandler, JobHandler};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use uuid::Uuid;

use crate::entity::{delivery, subscription};
use crate::module::Settings;
use crate::service;

/// `webhooks.deliver {"delivery_id": …}`.
pub(crate) const DELIVER: &str = "deliver";
/// After a failed attempt the next one comes 1 min, 5 min, 30 min, then 2 h later (the suite
/// spec's schedule): five attempts in all.
pub(crate) const RETRIES_MS: [u64; 4] = [60_000, 300_000, 1_800_000, 7_200_000];

/// What deliveries need at hand: the settings, the HTTP client (no redirects, the module's
/// timeout, only public addresses unless the settings allow others), the sealing key.
pub(crate) struct Runtime {
    pub settings: Settings,
    client: reqwest::Client,
    seal_key: [u8; 32],
}

impl Runtime {
    pub(crate) fn new(settings: Settings, seal_key: [u8; 32]) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.timeout_secs))
            .connect_timeout(Duration::from_secs(settings.timeout_secs.min(5)))
            .no_proxy()
            .user_agent(concat!("cell-webhooks/", env!("CARGO_PKG_VERSION")));
        if !settings.allow_private_targets {
            // Names are resolved here and connected to only if every address is public, so a
            // name that resolves elsewhere at delivery time (DNS rebinding) is refused too.
            builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
        }
        Ok(Self {
            client: builder.build()?,
            settings,
            seal_key,
        })
    }

    pub(crate) fn seal(&self, secret: &str) -> Result<String, kernel::ApiError> {
        kernel::seal::seal(&self.seal_key, secret)
            .map_err(|e| kernel::ApiError::internal(anyhow::anyhow!(e)))
    }

    fn unseal(&self, sealed: &str) -> Result<String, String> {
        kernel::seal::unseal(&self.seal_key, sealed)
    }

    /// The secrets that sign now: the current one, and the previous one during its overlap.
    fn secrets(&self, sub: &subscription::Model) -> Result<Vec<String>, String> {
        let mut secrets = vec![self.unseal(&sub.secret)?];
        if let (Some(previous), Some(until)) = (&sub.previous_secret, sub.previous_until)
            && until > Utc::now()
        {
            secrets.push(self.unseal(previous)?);
        }
        Ok(secrets)
    }

    /// Sends one attempt of `d` to `sub`.
    pub(crate) async fn send(&self, sub: &subscription::Model, d: &delivery::Model) -> Attempt {
        let started = Instant::now();
        let message_id = d.event_id.unwrap_or(d.id).to_string();
        let timestamp = Utc::now().timestamp();
        let mut attempt = Attempt {
            url: sub.url.clone(),
            headers: serde_json::Map::new(),
            status: None,
            body: None,
            error: None,
            latency_ms: 0,
        };
        let headers = match self.secrets(sub).and_then(|secrets| {
            crate::signing::header(&secrets, &message_id, timestamp, d.body.as_bytes())
        }) {
            Ok(signature) => headers(&[
                ("content-type", "application/json"),
                ("webhook-id", &message_id),
                ("webhook-timestamp", &timestamp.to_string()),
                ("webhook-signature", &signature),
                ("x-webhook-event", &d.event),
                ("x-webhook-delivery", &d.id.to_string()),
            ]),
            Err(e) => Err(e),
        };
        let headers = match headers {
            Ok(h) => h,
            Err(e) => {
                attempt.error = Some(format!("signing failed: {e}"));
                return attempt;
            }
        };
        attempt.headers = headers
            .iter()
            .map(|(k, v)| {
                let value = v.to_str().unwrap_or_default().to_owned();
                (k.as_str().to_owned(), serde_json::Value::String(value))
            })
            .collect();
        // An IP literal never reaches the resolver, so it is checked here; a name is checked by
        // the client's resolver, address by address, when it connects.
        if !self.settings.allow_private_targets
            && let Err(e) = url::Url::parse(&sub.url)
                .map_err(|e| format!("not a URL: {e}"))
                .and_then(|u| kernel::net::check_literal(&u))
        {
            attempt.error = Some(e);
            return attempt;
        }
        let sent = self
            .client
            .post(&sub.url)
            .headers(headers)
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Ok(mut response) => {
                attempt.status = Some(i32::from(response.status().as_u16()));
                let mut kept = Vec::new();
                let mut read = 0usize;
                // Read at most max_response_bytes, keep the start of it.
                while read < self.settings.max_response_bytes {
                    match response.chunk().await {
                        Ok(Some(chunk)) => {
                            read += chunk.len();
                            let room = self.settings.log_response_bytes.saturating_sub(kept.len());
                            kept.extend_from_slice(&chunk[..chunk.len().min(room)]);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            attempt.error =
                                Some(format!("reading the response: {}", error_text(&e)));
                            break;
                        }
                    }
                }
                attempt.body = Some(String::from_utf8_lossy(&kept).into_owned());
                if response.status().is_redirection() {
                    attempt.error = Some("redirects are not followed".into());
                }
            }
            Err(e) => attempt.error = Some(error_text(&e)),
        }
        attempt.latency_ms = started.elapsed().as_millis() as i64;
        attempt
    }
}

/// A resolver that answers a name only when every address it has is public
/// ([`kernel::net::check_addresses`]); the client then connects to exactly those addresses.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = kernel::net::resolve(&host, 0).await?;
            kernel::net::check_addresses(&host, &addrs)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn headers(pairs: &[(&'static str, &str)]) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).map_err(|e| e.to_string())?,
        );
    }
    Ok(map)
}

/// A transport error in one line, with its causes (a refused address says so).
fn error_text(e: &reqwest::Error) -> String {
    let mut text = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One HTTP request of a delivery and its outcome.
pub(crate) struct Attempt {
    pub url: String,
    pub headers: serde_json::Map<String, serde_json::Value>,
    pub status: Option<i32>,
    pub body: Option<String>,
    pub error: Option<String>,
    pub latency_ms: i64,
}

impl Attempt {
    /// A 2xx answer, and nothing went wrong reading it.
    pub(crate) fn succeeded(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    /// Why it failed, in one line.
    pub(crate) fn failure(&self) -> String {
        match (&self.error, self.status) {
            (Some(e), _) => e.clone(),
            (None, Some(s)) => format!("the receiver answered {s}"),
            (None, None) => "no answer".into(),
        }
    }
}

fn runtime(ctx: &CellContext) -> anyhow::Result<std::sync::Arc<Runtime>> {
    ctx.service::<Runtime>()
        .ok_or_else(|| anyhow::anyhow!("the webhooks module is not ready"))
}

fn api(e: kernel::ApiError) -> anyhow::Error {
    anyhow::anyhow!("{}", e.message())
}

/// Turns each event into a delivery for every active subscription of its org that takes it.
/// Idempotent on the event id: a redelivered event finds its deliveries there.
pub(crate) struct FanOut;

#[kernel::async_trait::async_trait]
impl EventHandler for FanOut {
    async fn handle(&self, ctx: &CellContext, event: &DomainEvent) -> anyhow::Result<()> {
        let tx = ctx.db().tenant(event.org_id).await?;
        let queued = service::fan_out(ctx, &tx, event).await.map_err(api)?;
        tx.commit().await?;
        if queued > 0 {
            tracing::debug!(event = %event.name, queued, "webhook deliveries queued");
        }
        Ok(())
    }
}

/// Sends one delivery; an error asks the job queue for the next attempt on the schedule.
pub(crate) struct Deliver;

#[kernel::async_trait::async_trait]
impl JobHandler for Deliver {
    async fn run(&self, ctx: &CellContext, job: &kernel::jobs::Job) -> anyhow::Result<()> {
        let rt = runtime(ctx)?;
        let org = job
            .org_id
            .ok_or_else(|| anyhow::anyhow!("webhooks.deliver needs an org"))?;
        let id: Uuid = serde_json::from_value(job.payload["delivery_id"].clone())?;
        let tx = ctx.db().tenant_read(org).await?;
        let found = service::delivery_with_subscription(&tx, id)
            .await
            .map_err(api)?;
        tx.commit().await?;
        // Gone (its subscription was deleted), or already answered with a 2xx.
        let Some((d, sub)) = found else { return Ok(()) };
        if d.status == service::DELIVERED {
            return Ok(());
        }
        let last = job.attempt as usize > RETRIES_MS.len();
        if !sub.active {
            let tx = ctx.db().tenant(org).await?;
            service::abandon(&tx, d.id, "the subscription is disabled")
                .await
                .map_err(api)?;
            tx.commit().await?;
            return Ok(());
        }
        let attempt = rt.send(&sub, &d).await;
        let retry_in = (!attempt.succeeded() && !last).then(|| {
            RETRIES_MS[(job.attempt as usize)
                .saturating_sub(1)
                .min(RETRIES_MS.len() - 1)]
        });
        let tx = ctx.db().tenant(org).await?;
        service::record(ctx, &tx, &rt.settings, &sub, &d, &attempt, retry_in, true)
            .await
            .map_err(api)?;
        tx.commit().await?;
        match retry_in {
            Some(_) => Err(anyhow::anyhow!("delivery {}: {}", d.id, attempt.failure())),
            None => Ok(()),
        }
    }
}
