//! A CRM of 1 000 000 persons in one org: a filtered, sorted person list; a dynamic segment of
//! 100 000 members re-checked after a change to one person; the forecast over 100 000 deals.
//! Each over HTTP through the cell (iam, tenancy, auth, collab, crm), one request at a time,
//! with its p50 and p95, and each checked (the page's order and filter, the person's move out
//! of and back into the segment, the forecast against sums computed here).
//!
//! `cargo bench -p crm --offline` (release). Environment (all optional): `TEST_DATABASE_URL`
//! (as for the tests), `BENCH_BACKENDS` (`sqlite,postgres`), `BENCH_PERSONS` (1 000 000),
//! `BENCH_MEMBERS` (100 000: the segment's), `BENCH_DEALS` (100 000), `BENCH_REPEAT` (100).

use std::time::{Duration, Instant};

use anyhow::ensure;
use kernel::sea_orm::Value as Sql;
use serde_json::json;
use testkit::bench::{Percentiles, Rng, analyze, backends, env, insert_rows, percentiles};
use testkit::{Backend, TestDb};
use uuid::Uuid;

const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.collab]\n[modules.crm]\nmax_contacts = 100000000\n";

fn report(label: &str, what: &str, took: Vec<Duration>, goal: &str) {
    let Percentiles { p50, p95, max } = percentiles(took);
    println!("{label}: {what}: p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms (goal {goal})");
}

/// Delivers published events to subscribers until none is left.
async fn settle(cell: &testcell::Cell) -> anyhow::Result<()> {
    while cell.ctx.events().dispatch_once(&cell.ctx).await? > 0 {}
    Ok(())
}

async fn run(backend: Backend) -> anyhow::Result<()> {
    let persons = env("BENCH_PERSONS", 1_000_000);
    let members = env("BENCH_MEMBERS", 100_000).min(persons);
    let deals = env("BENCH_DEALS", 100_000);
    let repeat = env("BENCH_REPEAT", 100);
    let label = format!("{backend:?}");
    let db = TestDb::new(backend).await?;
    let cell = testcell::start(
        &db,
        TOML,
        vec![
            Box::new(collab::Collab::default()),
            Box::new(crm::Crm::default()),
        ],
    )
    .await?;
    let org = testcell::org(&cell, "Acme").await?;
    let token = testcell::user(&cell, "mia@acme.test", org, "member").await?;
    let (_, me) = cell.get("/api/v1/users/me", Some(&token)).await?;
    let me: Uuid = me["id"].as_str().unwrap_or_default().parse()?;

    // Persons: the first `members` from a webinar (the segment's rule), the rest from the web;
    // three in five leads; names in random order.
    let loaded = Instant::now();
    let mut rng = Rng(7);
    let now = chrono::Utc::now();
    let mut ids = Vec::with_capacity(persons);
    let mut rows = Vec::with_capacity(20_000);
    let mut leads = 0usize;
    for i in 0..persons {
        let id = Uuid::now_v7();
        ids.push(id);
        let kind = if rng.below(5) < 3 { "lead" } else { "client" };
        leads += usize::from(kind == "lead");
        let source = if i < members { "webinar" } else { "web" };
        rows.push(vec![
            id.into(),
            org.into(),
            kind.into(),
            "active".into(),
            format!("Person {:07}", rng.below(10_000_000)).into(),
            format!("p{i}@firm{}.test", i % 5000).into(),
            source.into(),
            me.into(),
            (now - chrono::Duration::seconds(i as i64)).into(),
            now.into(),
        ]);
        if rows.len() == 20_000 || i + 1 == persons {
            insert_rows(
                &cell.ctx,
                org,
                "crm_contacts",
                "id, org_id, kind, status, name, email, source, created_by, created_at, updated_at",
                &rows,
                1000,
            )
            .await?;
            rows.clear();
        }
    }
    // The segment, made through the API, with its members as its evaluation leaves them.
    let (status, seg) = cell
        .post(
            "/api/v1/segments",
            Some(&token),
            json!({"name": "Webinar", "kind": "dynamic", "rule": "filter[source]=webinar"}),
        )
        .await?;
    ensure!(status == 201, "segment: {seg}");
    let seg_id: Uuid = seg["id"].as_str().unwrap_or_default().parse()?;
    let member_rows: Vec<Vec<Sql>> = ids[..members]
        .iter()
        .map(|c| {
            vec![
                Uuid::now_v7().into(),
                org.into(),
                seg_id.into(),
                (*c).into(),
                now.into(),
            ]
        })
        .collect();
    insert_rows(
        &cell.ctx,
        org,
        "crm_segment_members",
        "id, org_id, segment_id, contact_id, joined_at",
        &member_rows,
        1000,
    )
    .await?;
    {
        let tx = cell.ctx.db().tenant(org).await?;
        let conn = tx.unscoped();
        use kernel::sea_orm::{ConnectionTrait, Statement};
        conn.execute_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "UPDATE crm_segments SET member_count = $1, evaluated_at = $2 WHERE org_id = $3 AND id = $4",
            [(members as i64).into(), now.into(), org.into(), seg_id.into()],
        ))
        .await?;
        tx.commit().await?;
        // The evaluation job queued by the create has been done by hand above.
        cell.ctx
            .db()
            .system()
            .conn()
            .execute_unprepared("DELETE FROM kernel_jobs WHERE name = 'crm.evaluate_segment'")
            .await?;
    }
    // Deals on the seeded pipeline's stages, values 1.00 to 10 000.00. The org's first deal,
    // through the API, seeds its pipeline.
    let (status, first) = cell
        .post(
            "/api/v1/deals",
            Some(&token),
            json!({"title": "First", "contact_id": ids[0], "value": 100, "currency": "USD"}),
        )
        .await?;
    ensure!(status == 201, "deal: {first}");
    let (_, pipelines) = cell.get("/api/v1/pipelines", Some(&token)).await?;
    let pipeline: Uuid = pipelines[0]["id"].as_str().unwrap_or_default().parse()?;
    let stages: Vec<(Uuid, i64, bool)> = pipelines[0]["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            (
                s["id"]
                    .as_str()
                    .unwrap_or_default()
                    .parse()
                    .unwrap_or_default(),
                s["probability"].as_i64().unwrap_or_default(),
                s["is_closed"] == true,
            )
        })
        .collect();
    ensure!(!stages.is_empty(), "stages: {pipelines}");
    let (mut open_total, mut weighted) = (100i64, 100 * stages[0].1);
    let mut deal_rows = Vec::with_capacity(deals);
    for i in 0..deals {
        let (stage, probability, closed) = stages[rng.below(stages.len())];
        let value = 100 + rng.below(1_000_000) as i64;
        if !closed {
            open_total += value;
            weighted += value * probability;
        }
        deal_rows.push(vec![
            Uuid::now_v7().into(),
            org.into(),
            format!("Deal {i}").into(),
            ids[rng.below(persons)].into(),
            pipeline.into(),
            stage.into(),
            value.into(),
            "USD".into(),
            (probability as i32).into(),
            false.into(),
            now.into(),
            me.into(),
            now.into(),
            now.into(),
        ]);
    }
    insert_rows(&cell.ctx, org, "crm_deals", "id, org_id, title, contact_id, pipeline_id, stage_id, value, currency, probability, probability_set, stage_entered_at, created_by, created_at, updated_at", &deal_rows, 1000).await?;
    // Rows written past the API: the forecast's running totals are counted again from them,
    // as saving the pipeline's stages does (timed: the one statement that reads every deal).
    let unchanged: Vec<serde_json::Value> = pipelines[0]["stages"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| json!({"id": s["id"], "name": s["name"], "probability": s["probability"], "is_closed": s["is_closed"], "is_won": s["is_won"]}))
        .collect();
    analyze(&db).await?;
    let admin = testcell::user(&cell, "boss@acme.test", org, "admin").await?;
    let (took, status, out) = cell
        .timed(
            reqwest::Method::PATCH,
            &format!("/api/v1/pipelines/{pipeline}/stages"),
            &admin,
            Some(json!({ "stages": unchanged })),
        )
        .await?;
    ensure!(status == 200, "stages: {out}");
    println!(
        "{label}: the forecast's totals counted again from {deals} deals in {:.0} ms",
        took.as_secs_f64() * 1000.0
    );
    analyze(&db).await?;
    println!(
        "{label}: {persons} persons ({leads} leads), {members} segment members, {deals} deals loaded in {:.1} s",
        loaded.elapsed().as_secs_f64()
    );

    // A filtered, sorted person list: leads by name; active ones newest first.
    for (what, path) in [
        (
            "leads by name",
            "/api/v1/contacts?filter[type]=lead&sort=name&limit=25",
        ),
        (
            "active persons, newest first",
            "/api/v1/contacts?filter[status]=active&sort=created_at:desc&limit=25",
        ),
    ] {
        let mut took = Vec::new();
        for _ in 0..repeat {
            let (d, status, out) = cell.timed(reqwest::Method::GET, path, &token, None).await?;
            ensure!(status == 200, "{path}: {out}");
            let names: Vec<&str> = out["data"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str())
                .collect();
            ensure!(names.len() == 25, "a full page: {out}");
            if what.starts_with("leads") {
                ensure!(names.windows(2).all(|w| w[0] <= w[1]), "by name: {names:?}");
                ensure!(
                    out["data"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .all(|p| p["type"] == "lead"),
                    "leads only"
                );
            }
            took.push(d);
        }
        report(
            &label,
            &format!("person list, {what}, of {persons}"),
            took,
            "p95 < 30 ms",
        );
    }

    // One person leaves the segment (their source changes) and comes back: everything that
    // follows the change (the activity entry, the search index, the segment check and its
    // joined/left event), delivered and timed after the PATCH answered.
    let mut took = Vec::new();
    let mut request = Vec::new();
    settle(&cell).await?;
    for i in 0..repeat {
        let person = ids[rng.below(members)];
        for source in ["web", "webinar"] {
            let (d, status, out) = cell
                .timed(
                    reqwest::Method::PATCH,
                    &format!("/api/v1/contacts/{person}"),
                    &token,
                    Some(json!({"source": source})),
                )
                .await?;
            ensure!(status == 200, "patch: {out}");
            request.push(d);
            let started = Instant::now();
            settle(&cell).await?;
            took.push(started.elapsed());
        }
        if i == 0 {
            ensure!(
                cell.events("crm.segment.left").await?.len() == 1
                    && cell.events("crm.segment.joined").await?.len() == 1,
                "the person left and joined again"
            );
        }
    }
    let (_, seg) = cell
        .get(&format!("/api/v1/segments/{seg_id}"), Some(&token))
        .await?;
    ensure!(seg["member_count"] == json!(members), "members kept: {seg}");
    report(&label, "PATCH of a person", request, "-");
    report(
        &label,
        &format!(
            "re-check of a {members}-member dynamic segment after one person's change (all the change's subscribers)"
        ),
        took,
        "< 10 ms",
    );

    // The forecast over every deal.
    let mut took = Vec::new();
    for _ in 0..repeat {
        let (d, status, out) = cell
            .timed(reqwest::Method::GET, "/api/v1/deals/forecast", &token, None)
            .await?;
        ensure!(status == 200, "forecast: {out}");
        ensure!(
            out[0]["total_pipeline_value"] == json!(open_total),
            "total: {out} vs {open_total}"
        );
        ensure!(
            out[0]["weighted_value"]
                .as_i64()
                .is_some_and(|w| (w - weighted / 100).abs() <= deals as i64),
            "weighted: {out} vs {}",
            weighted / 100
        );
        took.push(d);
    }
    report(
        &label,
        &format!("forecast over {deals} deals"),
        took,
        "p95 < 50 ms",
    );
    if std::env::var("BENCH_KEEP").is_ok() {
        println!("{label}: the database is kept: {}", db.url());
        std::mem::forget(db);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    for b in backends()? {
        run(b).await?;
    }
    Ok(())
}
