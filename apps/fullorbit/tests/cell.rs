//! Black-box test of the fullorbit cell: the real binary with its product TOML, on a temporary
//! SQLite file and on PostgreSQL, runs a realistic day over HTTP — an internal admin set up with
//! `users create`, prospects and contacts entered through the API, a few thousand signed PostHog
//! events (known people, attributable and residential IPs, low-value noise, replays), scoring by
//! the cell's own job runner, conversions that invite a contact by email, and the invited
//! customers using the portal.

use std::time::Duration;

use abm::webhook::{WebhookSecret, sign};
use chrono::Utc;
use serde_json::{Value, json};
use testkit::{AppRole, CellProcess, TestDb, run_cell_with_stdin};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_fullorbit");
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const PASSWORD: &str = "Orbital-mechanics-42";
const COMPANIES: usize = 30;
const BATCHES: usize = 60;
const PER_BATCH: usize = 50;

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        let bytes = res.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// A signed PostHog delivery.
    async fn hook(&self, id: &str, body: &str) -> anyhow::Result<(u16, Value)> {
        let ts = Utc::now().timestamp();
        let sig = sign(&WebhookSecret::parse(SECRET)?, id, ts, body.as_bytes());
        let res = self
            .http
            .post(format!("{}/api/hooks/posthog", self.base))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sig)
            .body(body.to_owned())
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    async fn login(&self, email: &str) -> anyhow::Result<String> {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                json!({"email": email, "password": PASSWORD}),
            )
            .await?;
        anyhow::ensure!(status == 200, "login {email}: {status} {body}");
        Ok(body["access_token"].as_str().unwrap_or_default().to_owned())
    }
}

fn id_of(v: &Value) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no id in {v}"))
}

/// One PostHog event in the webhook destination's default shape.
fn event(name: &str, distinct: &str, path: &str, ip: Option<&str>, extra: Value) -> Value {
    let mut props =
        json!({"$current_url": format!("https://fullorbit.example{path}"), "$pathname": path});
    if let Some(ip) = ip {
        props["$ip"] = json!(ip);
    }
    if let (Some(p), Some(e)) = (props.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    json!({"event": {"uuid": Uuid::now_v7(), "event": name, "distinct_id": distinct, "properties": props, "timestamp": Utc::now().to_rfc3339()}, "person": {"properties": {}}})
}

/// Waits for `check` to hold, polling (the cell's job runner works asynchronously).
async fn eventually<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    for _ in 0..300 {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("timed out waiting for {what}")
}

/// The invitation token mailed to `email` (development mail: `.eml` files in the data dir), in
/// an absolute link to the cell at `base` (development derives it from the listener).
fn invitation_token(
    dir: &std::path::Path,
    base: &str,
    email: &str,
) -> anyhow::Result<Option<String>> {
    let link = format!("{base}/api/v1/invitations/accept?token=");
    let Ok(entries) = std::fs::read_dir(dir.join("mail")) else {
        return Ok(None);
    };
    for entry in entries {
        let text = std::fs::read_to_string(entry?.path())?;
        // Quoted-printable soft breaks (`=\r\n`) may split the link.
        let text = text
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        if !text.contains(email) {
            continue;
        }
        if let Some(at) = text.find(&link) {
            let token: String = text[at + link.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .collect();
            return Ok(Some(token));
        }
    }
    Ok(None)
}

/// `db`: PostgreSQL, with the NOBYPASSRLS role the cell serves as (row-level security binds it);
/// `None`: the SQLite default.
async fn realistic_day(db: Option<(&TestDb, &AppRole)>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = format!("cell.data_dir={}", dir.path().display());
    let mut env = vec![("CELL__MODULES__ABM__HOOK_SECRETS", SECRET)];
    if let Some((db, role)) = db {
        env.push(("CELL__DATABASE__URL", db.url()));
        env.push(("CELL__DATABASE__APP_ROLE", role.name()));
    }
    let out = run_cell_with_stdin(
        BIN,
        &[
            "--set",
            &data_dir,
            "users",
            "create",
            "--email",
            "boss@fullorbit.test",
            "--org",
            "fullorbit",
            "--role",
            "internal_admin",
        ],
        &env,
        &format!("{PASSWORD}\n"),
    )?;
    anyhow::ensure!(
        out.status.success(),
        "users create: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let cell = CellProcess::start(BIN, &["--set", &data_dir], &env)?;
    let result = day(&cell, dir.path()).await;
    if result.is_err() {
        // The cell's own account of what went wrong (JSON logs, request ids).
        eprintln!("{}", cell.output());
    }
    result?;
    let status = cell.terminate()?;
    assert!(status.success(), "exit status {status:?}");
    Ok(())
}

/// The day itself, against a started cell whose data directory is `dir`.
async fn day(cell: &CellProcess, dir: &std::path::Path) -> anyhow::Result<()> {
    let c = Client {
        http: reqwest::Client::new(),
        base: cell.base_url.clone(),
    };
    let boss = c.login("boss@fullorbit.test").await?;

    // Morning: sales enter the accounts they target, with their people.
    let mut companies = Vec::new();
    let mut people = Vec::new();
    for i in 0..COMPANIES {
        let domain = if i == 0 {
            "stanford.edu".to_owned()
        } else {
            format!("orbit{i}.example")
        };
        let (status, co) = c
            .post(
                "/api/abm/companies",
                Some(&boss),
                json!({"name": format!("Account {i}"), "domain": domain}),
            )
            .await?;
        anyhow::ensure!(status == 201, "{status} {co}");
        let company = id_of(&co)?;
        for j in 0..3 {
            let (status, contact) = c
                .post(
                    &format!("/api/abm/companies/{company}/contacts"),
                    Some(&boss),
                    json!({"email": format!("p{j}@{domain}"), "first_name": format!("Person {j}")}),
                )
                .await?;
            anyhow::ensure!(status == 201, "{status} {contact}");
            let contact = id_of(&contact)?;
            let distinct = format!("ph-{i}-{j}");
            let (status, body) = c
                .post(
                    &format!("/api/abm/contacts/{contact}/identities"),
                    Some(&boss),
                    json!({"identity_type": "posthog_distinct_id", "identity_value": distinct}),
                )
                .await?;
            anyhow::ensure!(status == 201, "{status} {body}");
            people.push((i, distinct, contact));
        }
        companies.push(company);
    }

    // The offline IP data names networks, not domains: the operator maps the ones that matter.
    let (status, body) = c
        .post(
            "/api/abm/org-domains",
            Some(&boss),
            json!({"org_name": "Stanford University", "domain": "stanford.edu"}),
        )
        .await?;
    anyhow::ensure!(status == 201, "{status} {body}");

    // The day's traffic: known people reading pricing and service pages and downloading specs,
    // visitors from Stanford's network (attributable), a residential ISP and no IP (not), and
    // blog noise the rules drop.
    let mut expected_signals = 0u64;
    let mut expected_weight = vec![0i64; COMPANIES];
    let lanes = [
        "/services/launch",
        "/services/mobility",
        "/services/fuel",
        "/services/isam",
        "/services/return",
    ];
    let mut deliveries = Vec::new();
    for b in 0..BATCHES {
        let mut batch = Vec::new();
        for k in 0..PER_BATCH {
            let n = b * PER_BATCH + k;
            let (i, distinct, _) = &people[(n * 7) % people.len()];
            let e = match n % 20 {
                0..=4 => {
                    expected_signals += 1;
                    expected_weight[*i] += 25;
                    event("$pageview", distinct, "/pricing", None, json!({}))
                }
                5..=8 => {
                    expected_signals += 1;
                    expected_weight[*i] += 10;
                    event(
                        "$pageview",
                        distinct,
                        lanes[n % 5],
                        Some("73.1.2.3"),
                        json!({}),
                    )
                }
                9 => {
                    expected_signals += 1;
                    expected_weight[*i] += 30;
                    event(
                        "content_download",
                        distinct,
                        "/library",
                        None,
                        json!({"asset": "Starship Specs PDF"}),
                    )
                }
                10..=11 => {
                    expected_signals += 1;
                    expected_weight[0] += 25;
                    event(
                        "$pageview",
                        &format!("anon-stanford-{}", n % 40),
                        "/pricing",
                        Some(&format!("171.64.{}.{}", n % 200, 1 + n % 250)),
                        json!({}),
                    )
                }
                12 => event(
                    "$pageview",
                    &format!("anon-isp-{n}"),
                    "/pricing",
                    Some("73.1.2.3"),
                    json!({}),
                ),
                13 => event(
                    "$pageview",
                    &format!("anon-eu-{n}"),
                    "/pricing",
                    None,
                    json!({}),
                ),
                _ => event(
                    "$pageview",
                    distinct,
                    "/blog/launch-window",
                    None,
                    json!({}),
                ),
            };
            batch.push(e);
        }
        deliveries.push((format!("msg_{b}"), serde_json::to_string(&batch)?));
    }
    let mut accepted = 0u64;
    for chunk in deliveries.chunks(4) {
        let sent = send_together(&c, chunk).await?;
        for (status, body) in sent {
            anyhow::ensure!(status == 200, "{status} {body}");
            accepted += body["signals"].as_u64().unwrap_or(0);
        }
    }
    assert_eq!(accepted, expected_signals);
    // PostHog retries a few deliveries: nothing is counted twice.
    for (id, body) in deliveries.iter().take(3) {
        let (status, answer) = c.hook(id, body).await?;
        assert_eq!(
            (
                status,
                answer["signals"].as_u64(),
                answer["replay"].as_bool()
            ),
            (200, Some(0), Some(true)),
            "{answer}"
        );
    }
    // A new delivery id carrying already-seen events (by uuid) stores nothing either.
    let (status, answer) = c.hook("msg_resent", &deliveries[3].1).await?;
    assert_eq!(
        (
            status,
            answer["signals"].as_u64(),
            answer["replay"].as_bool()
        ),
        (200, Some(0), Some(false)),
        "{answer}"
    );
    assert!(
        answer["duplicates"].as_u64().is_some_and(|d| d > 0),
        "{answer}"
    );
    let bad = c
        .http
        .post(format!("{}/api/hooks/posthog", c.base))
        .header("content-type", "application/json")
        .header("webhook-id", "x")
        .header("webhook-timestamp", Utc::now().timestamp().to_string())
        .header("webhook-signature", "v1,AAAA")
        .body("[]")
        .send()
        .await?;
    assert_eq!(bad.status().as_u16(), 401);

    // The feed holds every signal once, newest first.
    let mut seen = 0u64;
    let mut path = "/api/abm/signals/feed?limit=200".to_owned();
    loop {
        let (status, page) = c.get(&path, &boss).await?;
        anyhow::ensure!(status == 200, "{status} {page}");
        seen += page["data"].as_array().map_or(0, |d| d.len() as u64);
        match page["next_cursor"].as_str() {
            Some(cur) => path = format!("/api/abm/signals/feed?limit=200&cursor={cur}"),
            None => break,
        }
    }
    assert_eq!(seen, expected_signals);

    // Scores arrive through the cell's job runner; the list is hottest first.
    let total: i64 = expected_weight.iter().sum();
    eventually("scores", || async {
        let (_, page) = c.get("/api/abm/companies?limit=100", &boss).await?;
        let sum: i64 = page["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["intent_score"].as_i64().unwrap_or(0))
            .sum();
        Ok(sum == total)
    })
    .await?;
    let (_, page) = c.get("/api/abm/companies?limit=100", &boss).await?;
    let scores: Vec<i64> = page["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["intent_score"].as_i64().unwrap_or(0))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    let stanford = &companies[0];
    let (_, detail) = c
        .get(&format!("/api/abm/companies/{stanford}"), &boss)
        .await?;
    assert_eq!(
        detail["intent_score"].as_i64(),
        Some(expected_weight[0]),
        "{detail}"
    );
    assert_eq!(detail["stage"], "engaged");
    assert!(
        detail["anonymous_visitors"].as_u64().is_some_and(|v| v > 0),
        "{detail}"
    );
    let (status, score) = c
        .get(&format!("/api/abm/companies/{stanford}/score"), &boss)
        .await?;
    assert_eq!(
        (status, score["weight"].as_i64()),
        (200, Some(expected_weight[0])),
        "{score}"
    );

    // Afternoon: two accounts sign; each invites its first contact as customer admin.
    let mut customers = Vec::new();
    for (n, company) in companies.iter().take(2).enumerate() {
        let contact = &people[n * 3].2;
        let (status, conv) = c
            .post(
                &format!("/api/abm/companies/{company}/convert"),
                Some(&boss),
                json!({"plan_tier": "growth", "invite_contact_id": contact}),
            )
            .await?;
        assert_eq!(status, 201, "{conv}");
        let (status, again) = c
            .post(
                &format!("/api/abm/companies/{company}/convert"),
                Some(&boss),
                json!({}),
            )
            .await?;
        assert_eq!(
            (status, &again["customer"]["customer_company_id"]),
            (200, &conv["customer"]["customer_company_id"])
        );
        customers.push((
            conv["invited"].as_str().unwrap_or_default().to_owned(),
            conv["customer"]["customer_company_id"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        ));
    }

    // The invited customers accept by registering with the mailed token, and use the portal.
    for (email, org) in &customers {
        let mut token = None;
        eventually("the invitation email", || {
            let found = invitation_token(dir, &cell.base_url, email);
            let got = matches!(found, Ok(Some(_)));
            if let Ok(Some(t)) = found {
                token = Some(t);
            }
            async move { Ok(got) }
        })
        .await?;
        let token = token.unwrap_or_default();
        let (status, reg) = c
            .post(
                "/api/v1/auth/register",
                None,
                json!({"email": email, "password": PASSWORD, "invitation_token": token}),
            )
            .await?;
        assert_eq!(status, 201, "{reg}");
        let access = reg["access_token"].as_str().unwrap_or_default().to_owned();
        let (status, me) = c.get("/api/app/me", &access).await?;
        assert_eq!(status, 200, "{me}");
        assert_eq!(
            (
                me["email"].as_str(),
                me["role"].as_str(),
                me["customer_company"]["id"].as_str()
            ),
            (
                Some(email.as_str()),
                Some("customer_admin"),
                Some(org.as_str())
            ),
            "{me}"
        );
        let (status, bill) = c.get("/api/app/billing", &access).await?;
        assert_eq!(
            (
                status,
                bill["plan_tier"].as_str(),
                bill["status"].as_str(),
                bill["customer_company_id"].as_str()
            ),
            (200, Some("growth"), Some("trial"), Some(org.as_str())),
            "{bill}"
        );
        // Customers never reach the dashboard.
        assert_eq!(c.get("/api/abm/companies", &access).await?.0, 403);
        assert_eq!(c.get("/api/abm/signals/feed", &access).await?.0, 403);
    }
    assert_ne!(customers[0].1, customers[1].1);
    // Internal users never reach the portal.
    assert_eq!(c.get("/api/app/me", &boss).await?.0, 403);
    Ok(())
}

/// Sends a few deliveries at once, as PostHog's workers do.
async fn send_together(
    c: &Client,
    chunk: &[(String, String)],
) -> anyhow::Result<Vec<(u16, Value)>> {
    let mut handles = Vec::new();
    for (id, body) in chunk {
        let (c, id, body) = (c.clone(), id.clone(), body.clone());
        handles.push(tokio::spawn(async move { c.hook(&id, &body).await }));
    }
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await??);
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realistic_day_on_sqlite() -> anyhow::Result<()> {
    realistic_day(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_realistic_day_on_postgres() -> anyhow::Result<()> {
    // Declared before the database, so the database (and the role's grants in it) goes first.
    let role = AppRole::create().await?;
    let db = TestDb::postgres().await?;
    realistic_day(Some((&db, &role))).await
}

/// Every documented route declares how callers get in (`kernel::http::Scoped`, `SignedIn`,
/// `Public`, `Signed`, `Operator`), and the table is `docs/access/fullorbit.txt`.
#[tokio::test]
async fn every_route_declares_its_way_in() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = format!("cell.data_dir={}", dir.path().display());
    let cell = CellProcess::start(
        BIN,
        &["--set", &data_dir, "--set", "http.expose_access=true"],
        &[
            ("CELL__MODULES__ABM__HOOK_SECRETS", SECRET),
            ("CELL__RATE_LIMIT__ENABLED", "false"),
        ],
    )?;
    let lines = testkit::route_access(&cell).await?;
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/hooks/posthog ") && l.ends_with("signed")),
        "{lines:#?}"
    );
    testkit::assert_access_documented("fullorbit", &lines)?;
    // The API document is committed too (docs/openapi/fullorbit.json): a change shows in review.
    testkit::assert_openapi_documented("fullorbit", &cell).await
}
