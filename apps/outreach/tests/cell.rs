//! Black-box test of the outreach cell: the real binary with its product TOML, on a temporary
//! SQLite file and on PostgreSQL (as an application role, so row-level security binds), runs a
//! day of an outreach team over HTTP in the spec's words (customers and their contacts):
//! 5 000 customers imported from a CSV, companies matched by email domain and merged, claims
//! under the spec's ownership table, channels, notes, tags, a task on a customer, an
//! interaction in the timeline, deals across the open → negotiating → won | lost pipeline with
//! the forecast checked by hand, a customer recorded twice merged into one (her task follows),
//! fit scoring with its history and the leads it ranks, and another organization that reaches
//! none of it.

use std::time::Duration;

use serde_json::{Value, json};
use testkit::{AppRole, CellProcess, TestDb, run_cell_with_stdin};

const BIN: &str = env!("CARGO_BIN_EXE_outreach");
const PASSWORD: &str = "Outreach-all-day-42";
const CUSTOMERS: usize = 5_000;

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
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
        self.call(reqwest::Method::GET, path, token, None).await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    /// `POST` that must answer `status`: the body.
    async fn made(&self, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
        let (status, out) = self.post(path, token, body.clone()).await?;
        anyhow::ensure!(
            (200..=202).contains(&status),
            "POST {path} {body}: {status} {out}"
        );
        Ok(out)
    }

    async fn login(&self, email: &str) -> anyhow::Result<String> {
        let res = self
            .http
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await?;
        let status = res.status().as_u16();
        let body: Value = res.json().await?;
        anyhow::ensure!(status == 200, "login {email}: {status} {body}");
        Ok(body["access_token"].as_str().unwrap_or_default().to_owned())
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_default().to_owned()
}

/// The customers' CSV: every twentieth at initech.test, the next at initech-labs.test (two
/// companies that turn out to be one), the rest at their own domains; five rows with an email
/// that is not one.
fn customers_csv() -> Vec<u8> {
    let mut out = String::from("Name,Email,Phone,Job title\n");
    for i in 0..CUSTOMERS {
        let email = match (i % 20, i % 1000) {
            (_, 999) => format!("broken{i}"),
            (0, _) => format!("p{i}@initech.test"),
            (1, _) => format!("p{i}@initech-labs.test"),
            _ => format!("p{i}@firm{}.test", i % 97),
        };
        out.push_str(&format!("Customer {i},{email},+1 415 555 {:04},Buyer\n", i));
    }
    out.into_bytes()
}

/// `db`: PostgreSQL with the NOBYPASSRLS role the cell serves as; `None`: the SQLite default.
async fn outreach_day(db: Option<(&TestDb, &AppRole)>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = format!("cell.data_dir={}", dir.path().display());
    let mut env = vec![("CELL__RATE_LIMIT__ENABLED", "false")];
    if let Some((db, role)) = db {
        env.push(("CELL__DATABASE__URL", db.url()));
        env.push(("CELL__DATABASE__APP_ROLE", role.name()));
    }
    for (email, org, role) in [
        ("boss@acme.test", "Acme", "owner"),
        ("mia@acme.test", "acme", "member"),
        ("max@acme.test", "acme", "member"),
        ("eve@globex.test", "Globex", "owner"),
    ] {
        let out = run_cell_with_stdin(
            BIN,
            &[
                "--set", &data_dir, "users", "create", "--email", email, "--org", org, "--role",
                role,
            ],
            &env,
            &format!("{PASSWORD}\n"),
        )?;
        anyhow::ensure!(
            out.status.success(),
            "users create {email}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cell = CellProcess::start(BIN, &["--set", &data_dir], &env)?;
    let result = day(&cell).await;
    if result.is_err() {
        eprintln!("{}", cell.output());
    }
    result?;
    let status = cell.terminate()?;
    assert!(status.success(), "exit status {status:?}");
    Ok(())
}

async fn day(cell: &CellProcess) -> anyhow::Result<()> {
    let c = Client {
        http: reqwest::Client::new(),
        base: cell.base_url.clone(),
    };
    let boss = c.login("boss@acme.test").await?;
    let mia = c.login("mia@acme.test").await?;
    let max = c.login("max@acme.test").await?;
    let eve = c.login("eve@globex.test").await?;

    // The companies the team sells to, before the customers arrive.
    let initech = id_of(
        &c.made(
            "/api/v1/companies",
            &boss,
            json!({"name": "Initech", "domains": ["initech.test"]}),
        )
        .await?,
    );
    let labs = id_of(
        &c.made(
            "/api/v1/companies",
            &boss,
            json!({"name": "Initech Labs", "domains": ["initech-labs.test"]}),
        )
        .await?,
    );

    // Mia imports the customer list: 5 000 rows, 5 with a broken email skipped.
    let form = reqwest::multipart::Form::new()
        .text("entity_type", "contact")
        .part(
            "file",
            reqwest::multipart::Part::bytes(customers_csv()).file_name("customers.csv"),
        );
    let res = c
        .http
        .post(format!("{}/api/v1/import/preview", c.base))
        .bearer_auth(&mia)
        .multipart(form)
        .send()
        .await?;
    anyhow::ensure!(res.status().as_u16() == 201 || res.status().as_u16() == 200);
    let preview: Value = res.json().await?;
    assert_eq!(preview["total_rows"], json!(CUSTOMERS), "{preview}");
    let mapping = preview["suggested_mapping"].clone();
    assert_eq!(mapping["Email"], "email", "{preview}");
    let job = preview["preview_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    c.made(
        "/api/v1/import/confirm",
        &mia,
        json!({"preview_id": job, "mapping": mapping, "skip_errors": true}),
    )
    .await?;
    let imported = std::time::Instant::now();
    let mut done = Value::Null;
    for _ in 0..600 {
        let (_, j) = c.get(&format!("/api/v1/import/jobs/{job}"), &mia).await?;
        if j["status"] == "completed" || j["status"] == "failed" {
            done = j;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    eprintln!("5 000 customers imported in {:?}", imported.elapsed());
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (&done["succeeded"], &done["failed"]),
        (&json!(4995), &json!(5)),
        "{done}"
    );

    // Matched by domain: 250 at each Initech; merged, 500 at one.
    let at = |company: &str| format!("/api/v1/customers?filter[company_id]={company}&limit=2");
    for company in [&initech, &labs] {
        let (_, page) = c.get(&at(company), &max).await?;
        assert_eq!(page["meta"]["total"], 250, "{page}");
    }
    c.made(
        &format!("/api/v1/companies/{initech}/merge"),
        &boss,
        json!({"from_id": labs}),
    )
    .await?;
    let (_, page) = c.get(&at(&initech), &max).await?;
    assert_eq!(page["meta"]["total"], 500, "{page}");
    let ann = page["data"][0].clone();
    let ann_id = id_of(&ann);

    // The spec's words only: crm's own paths are not served here.
    for path in [
        "/api/v1/contacts".to_owned(),
        format!("/api/v1/contacts/{ann_id}"),
        format!("/api/v1/customers/{ann_id}/channels"),
    ] {
        assert_eq!(c.get(&path, &boss).await?.0, 404, "{path}");
    }

    // Another method on an alias: 405 naming the path as sent, with the methods it takes.
    let res = c
        .http
        .put(format!("{}/api/v1/customers/{ann_id}/claim", c.base))
        .bearer_auth(&mia)
        .send()
        .await?;
    assert_eq!(res.status().as_u16(), 405);
    assert_eq!(
        res.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let refused: Value = res.json().await?;
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("/api/v1/customers/"), "{refused}");

    // Claims: Mia claims Ann; Max reads her but cannot change her, and may change one in the
    // pool; the owner may change anyone.
    let (status, claimed) = c
        .post(
            &format!("/api/v1/customers/{ann_id}/claim"),
            &mia,
            json!({}),
        )
        .await?;
    assert_eq!(status, 200, "{claimed}");
    assert_eq!(
        c.get(&format!("/api/v1/customers/{ann_id}"), &max).await?.0,
        200
    );
    let rename = json!({"job_title": "Head of buying"});
    let (status, _) = c
        .patch(&format!("/api/v1/customers/{ann_id}"), &max, rename.clone())
        .await?;
    assert_eq!(status, 403);
    let pool = id_of(&page["data"][1]);
    assert_eq!(
        c.patch(&format!("/api/v1/customers/{pool}"), &max, rename.clone())
            .await?
            .0,
        200
    );
    assert_eq!(
        c.patch(&format!("/api/v1/customers/{ann_id}"), &boss, rename)
            .await?
            .0,
        200
    );

    // Ann's contacts (her channels): a LinkedIn profile next to the imported email and phone.
    c.made(
        &format!("/api/v1/customers/{ann_id}/contacts"),
        &mia,
        json!({"kind": "linkedin", "value": "https://www.linkedin.com/in/ann-initech"}),
    )
    .await?;
    let (_, contacts) = c
        .get(&format!("/api/v1/customers/{ann_id}/contacts"), &max)
        .await?;
    let kinds: Vec<&str> = contacts
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ch| ch["kind"].as_str())
        .collect();
    assert_eq!(kinds.len(), 3, "{contacts}");
    assert!(
        kinds.contains(&"linkedin") && kinds.contains(&"phone"),
        "{kinds:?}"
    );

    // A note, a tag, a task in the pool about her, an email she was sent.
    c.made(
        &format!("/api/v1/customers/{ann_id}/notes"),
        &mia,
        json!({"body": "**Budget** approved for Q1"}),
    )
    .await?;
    let vip = id_of(
        &c.made("/api/v1/tags", &boss, json!({"name": "vip"}))
            .await?,
    );
    c.made(
        &format!("/api/v1/customers/{ann_id}/tags"),
        &mia,
        json!({"tag_id": vip}),
    )
    .await?;
    let (_, tagged) = c.get("/api/v1/customers?tags=vip", &max).await?;
    assert_eq!(tagged["meta"]["total"], 1, "{tagged}");
    let task = c
        .made(
            "/api/v1/tasks",
            &mia,
            json!({"title": "Send the proposal", "anchor_type": "contact", "anchor_id": ann_id}),
        )
        .await?;
    assert_eq!(task["assignee_id"], Value::Null, "in the pool");
    c.made(
        &format!("/api/v1/customers/{ann_id}/interactions"),
        &mia,
        json!({"type": "email", "event": "sent", "direction": "outbound", "subject": "Proposal"}),
    )
    .await?;
    // The activity feed is written by the event dispatcher, behind the import's 5 000 persons.
    let mut names = Vec::new();
    let waited = std::time::Instant::now();
    for _ in 0..1200 {
        let (_, t) = c
            .get(&format!("/api/v1/customers/{ann_id}/timeline"), &max)
            .await?;
        names = t["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect();
        if names.iter().any(|n| n == "tag.added") && names.iter().any(|n| n == "note.added") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("the timeline caught up in {:?}", waited.elapsed());
    assert!(names.contains(&"interaction.email".to_owned()), "{names:?}");
    assert!(
        names.contains(&"crm.contact.claimed".to_owned()),
        "{names:?}"
    );
    assert!(names.contains(&"tag.added".to_owned()), "{names:?}");

    // Deals across the spec's stages; the forecast counts the open ones, weighted.
    let (_, pipelines) = c.get("/api/v1/pipelines", &mia).await?;
    let stages: Vec<(String, String)> = pipelines[0]["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| (s["name"].as_str().unwrap_or_default().to_owned(), id_of(s)))
        .collect();
    let names_of: Vec<&str> = stages.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names_of,
        ["Open", "Negotiating", "Won", "Lost"],
        "{pipelines}"
    );
    let stage = |name: &str| {
        stages
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    };
    let mut deals = Vec::new();
    for (value, to) in [
        (100_000, "Open"),
        (200_000, "Negotiating"),
        (500_000, "Won"),
        (70_000, "Lost"),
    ] {
        let deal = c
            .made(
                "/api/v1/deals",
                &mia,
                json!({"title": format!("Deal {value}"), "contact_id": ann_id, "company_id": initech, "value": value, "currency": "USD"}),
            )
            .await?;
        let deal_id = id_of(&deal);
        if to != "Open" {
            let (status, moved) = c
                .patch(
                    &format!("/api/v1/deals/{deal_id}/move"),
                    &mia,
                    json!({"stage_id": stage(to)}),
                )
                .await?;
            assert_eq!(status, 200, "{moved}");
        }
        deals.push(deal_id);
    }
    let (_, forecast) = c.get("/api/v1/deals/forecast", &boss).await?;
    assert_eq!(forecast[0]["currency"], "USD", "{forecast}");
    assert_eq!(forecast[0]["total_pipeline_value"], 300_000, "{forecast}");
    // 100 000 × 20 % + 200 000 × 60 %.
    assert_eq!(forecast[0]["weighted_value"], 140_000, "{forecast}");
    let (_, board) = c.get("/api/v1/deals/board", &max).await?;
    let per_column: Vec<usize> = board["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|col| col["deals"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(per_column, [1, 1, 1, 1], "{board}");
    let (_, profile) = c.get(&format!("/api/v1/customers/{ann_id}"), &max).await?;
    assert_eq!(
        profile["deals"].as_array().map(Vec::len),
        Some(4),
        "{profile}"
    );

    // Ann turns up twice: a second record (her personal email) with a task. Mia merges it into
    // hers: its contact joins hers, the record goes to the trash, the task follows.
    let twin = c
        .made(
            "/api/v1/customers",
            &mia,
            json!({"name": "Ann (personal)", "email": "ann.personal@gmail.com", "claim": true}),
        )
        .await?;
    let twin_id = id_of(&twin);
    let twin_task = id_of(
        &c.made(
            "/api/v1/tasks",
            &mia,
            json!({"title": "Ask about the renewal", "anchor_type": "contact", "anchor_id": twin_id}),
        )
        .await?,
    );
    let (status, _) = c
        .post(
            &format!("/api/v1/customers/{ann_id}/merge"),
            &max,
            json!({"from_id": twin_id}),
        )
        .await?;
    assert_eq!(status, 403, "Max owns neither");
    let merged = c
        .made(
            &format!("/api/v1/customers/{ann_id}/merge"),
            &mia,
            json!({"from_id": twin_id}),
        )
        .await?;
    assert_eq!(
        merged["channels"].as_array().map(Vec::len),
        Some(4),
        "{merged}"
    );
    assert_eq!(
        c.get(&format!("/api/v1/customers/{twin_id}"), &max)
            .await?
            .0,
        404
    );
    let mut anchor = Value::Null;
    for _ in 0..1200 {
        let (_, t) = c.get(&format!("/api/v1/tasks/{twin_task}"), &mia).await?;
        anchor = t["anchor_id"].clone();
        if anchor == json!(ann_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(anchor, json!(ann_id), "the task follows the merge");

    // Scoring: the owner sets what makes a customer fit for the enterprise plan (seats, weight
    // 2; the vip tag, weight 1, by rule). Mia scores Ann twice, both kept; Max scores a
    // customer in the pool; the Leads tab ranks them; Max cannot review Mia's customer.
    let criteria = "/api/v1/scoring/criteria";
    let seats = id_of(
        &c.made(
            criteria,
            &boss,
            json!({"product": "enterprise", "name": "Seats", "weight": 2}),
        )
        .await?,
    );
    c.made(
        criteria,
        &boss,
        json!({"product": "enterprise", "name": "VIP", "weight": 1, "rule": "tags=vip"}),
    )
    .await?;
    let fit = |who: &str| format!("/api/v1/customers/{who}/fit");
    let seats_at = |score: i32| json!({"product": "enterprise", "scores": [{"criterion_id": seats, "score": score}]});
    // (2·50 + 1·100) / 3 = 66.7 → 67; then (2·80 + 100) / 3 = 86.7 → 87; (2·90 + 0) / 3 = 60.
    assert_eq!(
        c.made(&fit(&ann_id), &mia, seats_at(50)).await?["score"],
        67
    );
    assert_eq!(
        c.made(&fit(&ann_id), &mia, seats_at(80)).await?["score"],
        87
    );
    assert_eq!(c.made(&fit(&pool), &max, seats_at(90)).await?["score"], 60);
    let (_, history) = c
        .get(&format!("/api/v1/customers/{ann_id}/fit/history"), &max)
        .await?;
    assert_eq!(history["meta"]["total"], 4, "{history}");
    let (_, leads) = c
        .get("/api/v1/leads?filter[product]=enterprise", &max)
        .await?;
    let ranked: Vec<(Value, Value)> = leads["data"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| (l["contact"]["id"].clone(), l["score"].clone()))
        .collect();
    assert_eq!(
        ranked,
        [(json!(ann_id), json!(87)), (json!(pool), json!(60))],
        "{leads}"
    );
    let lead = id_of(&leads["data"][0]);
    let review = json!({"review_state": "accepted"});
    let review_path = format!("/api/v1/leads/{lead}");
    assert_eq!(c.patch(&review_path, &max, review.clone()).await?.0, 403);
    let (status, reviewed) = c.patch(&review_path, &mia, review).await?;
    assert_eq!(
        (status, &reviewed["review_state"]),
        (200, &json!("accepted")),
        "{reviewed}"
    );

    // Another organization reaches none of it.
    let (_, theirs) = c.get("/api/v1/leads", &eve).await?;
    assert_eq!(theirs["meta"]["total"], 0);
    assert_eq!(
        c.patch(&review_path, &eve, json!({"review_state": "rejected"}))
            .await?
            .0,
        404
    );
    for path in [
        format!("/api/v1/customers/{ann_id}"),
        format!("/api/v1/customers/{ann_id}/fit"),
        format!("/api/v1/customers/{ann_id}/contacts"),
        format!("/api/v1/customers/{ann_id}/timeline"),
        format!("/api/v1/customers/{ann_id}/notes"),
        format!("/api/v1/companies/{initech}"),
        format!("/api/v1/deals/{}", deals[0]),
    ] {
        assert_eq!(c.get(&path, &eve).await?.0, 404, "{path}");
    }
    assert_eq!(
        c.post(
            &format!("/api/v1/customers/{ann_id}/claim"),
            &eve,
            json!({})
        )
        .await?
        .0,
        404
    );
    let (_, theirs) = c.get("/api/v1/customers", &eve).await?;
    assert_eq!(theirs["meta"]["total"], 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outreach_day_on_sqlite() -> anyhow::Result<()> {
    outreach_day(None).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outreach_day_on_postgres() -> anyhow::Result<()> {
    // Declared before the database, so the database (and the role's grants in it) goes first.
    let role = AppRole::create().await?;
    let db = TestDb::postgres().await?;
    outreach_day(Some((&db, &role))).await
}

/// Every documented route declares how callers get in, and the table is
/// `docs/access/outreach.txt`; the customers' routes are there in the spec's words.
#[tokio::test]
async fn every_route_declares_its_way_in() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = format!("cell.data_dir={}", dir.path().display());
    let cell = CellProcess::start(
        BIN,
        &["--set", &data_dir, "--set", "http.expose_access=true"],
        &[("CELL__RATE_LIMIT__ENABLED", "false")],
    )?;
    let lines = testkit::route_access(&cell).await?;
    for route in [
        ["GET", "/api/v1/customers"],
        ["POST", "/api/v1/customers/{id}/contacts"],
        ["DELETE", "/api/v1/customers/{id}/contacts/{channel_id}"],
        ["GET", "/api/v1/customers/{id}/timeline"],
    ] {
        let found = lines
            .iter()
            .any(|l| l.split_whitespace().take(2).eq(route.iter().copied()));
        assert!(found, "{route:?}: {lines:#?}");
    }
    assert!(
        !lines.iter().any(|l| l.contains("/api/v1/contacts")),
        "{lines:#?}"
    );
    testkit::assert_access_documented("outreach", &lines)?;
    // The API document is committed too (docs/openapi/outreach.json): a change shows in review.
    testkit::assert_openapi_documented("outreach", &cell).await
}
