//! The redline of a document with 2 000 field changes over 50 revisions, and the PDF of a
//! 20-page document, each over HTTP through the cell (iam, tenancy, auth, collab, files,
//! documents), one request at a time, with its p50 and p95. Every phase is checked (the
//! revisions and changes stored, the fields marked in the redline, the PDF's page count).
//!
//! `cargo bench -p documents --offline` (release). Environment (all optional):
//! `TEST_DATABASE_URL` (as for the tests), `BENCH_BACKENDS` (`sqlite,postgres`),
//! `BENCH_REVISIONS` (50), `BENCH_CHANGES` (40 a revision), `BENCH_PAGES` (20),
//! `BENCH_REPEAT` (requests per measured phase, 200; 30 for the PDF).

use std::time::Instant;

use anyhow::ensure;
use serde_json::{Value, json};
use testkit::bench::{env, percentiles};
use testkit::{Backend, TestDb};

const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.collab]\n\
    [modules.files]\n[modules.documents]\n";

async fn timed(
    cell: &testcell::Cell,
    token: &str,
    path: &str,
    repeat: usize,
    check: impl Fn(&reqwest::Response) -> bool,
) -> anyhow::Result<(f64, f64)> {
    let client = reqwest::Client::new();
    let mut times = Vec::with_capacity(repeat);
    for i in 0..repeat + 3 {
        let start = Instant::now();
        let res = client.get(cell.url(path)).bearer_auth(token).send().await?;
        ensure!(check(&res), "{path}: {}", res.status());
        let _ = res.bytes().await?;
        if i >= 3 {
            times.push(start.elapsed());
        }
    }
    let p = percentiles(times);
    Ok((p.p50, p.p95))
}

async fn run(backend: Backend) -> anyhow::Result<()> {
    let revisions = env("BENCH_REVISIONS", 50);
    let per = env("BENCH_CHANGES", 40);
    let pages = env("BENCH_PAGES", 20);
    let repeat = env("BENCH_REPEAT", 200);
    let db = TestDb::new(backend).await?;
    let cell = testcell::start(
        &db,
        TOML,
        vec![
            Box::new(collab::Collab::default()),
            Box::new(files::Files::default()),
            Box::new(documents::Documents::default()),
        ],
    )
    .await?;
    let org = testcell::org(&cell, "Acme").await?;
    let token = testcell::user(&cell, "mia@acme.test", org, "member").await?;
    let label = format!("{backend:?}").to_lowercase();

    // A contract of `per` fields, each in its paragraph, changed `revisions` times each.
    let content: String = (0..per)
        .map(|f| format!("<p>Clause {f}: <span data-field=\"f{f}\">v0</span> applies.</p>"))
        .collect();
    let fields: serde_json::Map<String, Value> =
        (0..per).map(|f| (format!("f{f}"), json!("v0"))).collect();
    let (status, d) = cell
        .post(
            "/api/v1/documents",
            Some(&token),
            json!({"title": "Big", "content": content, "fields": fields}),
        )
        .await?;
    ensure!(status == 201, "document: {d}");
    let doc = d["id"].as_str().unwrap_or_default().to_owned();
    let load = Instant::now();
    for r in 0..revisions {
        let changes: Vec<Value> = (0..per)
            .map(|f| json!({"field_name": format!("f{f}"), "old_value": format!("v{r}"), "new_value": format!("v{}", r + 1)}))
            .collect();
        let (status, out) = cell
            .post(
                &format!("/api/v1/documents/{doc}/revisions"),
                Some(&token),
                json!({"field_changes": changes}),
            )
            .await?;
        ensure!(status == 201, "revision {r}: {out}");
    }
    let load = load.elapsed();
    let (_, hist) = cell
        .get(&format!("/api/v1/documents/{doc}/revisions"), Some(&token))
        .await?;
    let stored: usize = hist
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| r["changes"].as_array().map_or(0, Vec::len))
        .sum();
    ensure!(stored == revisions * per, "{stored} changes stored");
    let (_, red) = cell
        .get(&format!("/api/v1/documents/{doc}/redline"), Some(&token))
        .await?;
    let html = red["html"].as_str().unwrap_or_default();
    ensure!(
        html.matches("data-inserted").count() == per,
        "every field marked"
    );
    ensure!(
        html.contains(&format!(">v{revisions}</span></span>")),
        "the latest values"
    );

    let ok = |r: &reqwest::Response| r.status() == 200;
    let (c50, c95) = timed(
        &cell,
        &token,
        &format!("/api/v1/documents/{doc}/redline"),
        repeat,
        ok,
    )
    .await?;
    let (h50, h95) = timed(
        &cell,
        &token,
        &format!(
            "/api/v1/documents/{doc}/redline?mode=historical&revision={}",
            revisions / 2
        ),
        repeat,
        ok,
    )
    .await?;

    // A document of about `pages` pages: a heading and 11 paragraphs of 70 words a section.
    let words = "the parties agree that the services shall be performed with due care and skill";
    let long: String = (0..pages)
        .map(|p| {
            let paragraph = format!("<p>{}</p>", [words; 5].join(" "));
            format!("<h2>Section {p}</h2>{}", paragraph.repeat(11))
        })
        .collect();
    let count = typeset::document("Big".into(), None, documents::pdf::blocks(&long))
        .await?
        .pages;
    ensure!(count >= pages, "{count} pages, asked for {pages}");
    let (status, p) = cell
        .post(
            "/api/v1/documents",
            Some(&token),
            json!({"title": "Long", "content": long}),
        )
        .await?;
    ensure!(status == 201, "long: {p}");
    let long_id = p["id"].as_str().unwrap_or_default().to_owned();
    let (p50, p95) = timed(
        &cell,
        &token,
        &format!("/api/v1/documents/{long_id}/pdf"),
        repeat.min(30),
        ok,
    )
    .await?;

    println!(
        "{label}: {revisions} revisions × {per} changes loaded in {:.1} s; redline cumulative p50 {c50:.1} ms p95 {c95:.1} ms (goal < 20); historical p50 {h50:.1} ms p95 {h95:.1} ms; PDF of {count} pages p50 {p50:.1} ms p95 {p95:.1} ms (goal < 300)",
        load.as_secs_f64()
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    for b in testkit::bench::backends()? {
        run(b).await?;
    }
    Ok(())
}
