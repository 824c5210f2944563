//! Webhook dispatch on PostgreSQL: how many deliveries per second reach a local receiver (an
//! actix-web server in this process answering 204), from events already in the outbox to the
//! receiver's count, through the fan-out subscriber and the `webhooks.deliver` jobs, as a worker
//! runs them (`Events::dispatch_once`, `Jobs::run_once` in a loop).
//!
//! `cargo bench -p webhooks` (release). Checked: the receiver got exactly one request per event
//! and every delivery is `delivered`.
//!
//! Environment (all optional): `TEST_DATABASE_URL` (as for the tests), `BENCH_EVENTS` (events
//! published, 5 000), `BENCH_BATCH` (jobs claimed per round, the cell's default 16).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::ensure;
use kernel::events::NewEvent;
use kernel::module::EntityRef;
use kernel::sea_orm::{ConnectionTrait, Statement};
use serde_json::json;
use testkit::TestDb;
use uuid::Uuid;

const TOML: &str = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.template]\n[modules.webhooks]\nallow_private_targets = true\n";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A receiver that counts what it is sent and answers 204.
fn receiver(hits: Arc<AtomicUsize>) -> anyhow::Result<u16> {
    let server = HttpServer::new(move || {
        let hits = hits.clone();
        App::new().default_service(web::to(move || {
            hits.fetch_add(1, Ordering::Relaxed);
            async { HttpResponse::NoContent().finish() }
        }))
    })
    .workers(1)
    .bind(("127.0.0.1", 0))?;
    let port = server.addrs()[0].port();
    tokio::spawn(server.run());
    Ok(port)
}

async fn delivered(cell: &testcell::Cell, org: Uuid) -> anyhow::Result<i64> {
    let tx = cell.ctx.db().tenant(org).await?;
    let conn = tx.unscoped();
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM webhooks_deliveries WHERE org_id = $1 AND status = 'delivered'",
            [org.into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count"))?;
    let n: i64 = row.try_get("", "n")?;
    tx.commit().await?;
    Ok(n)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let events = env("BENCH_EVENTS", 5_000);
    let batch = env("BENCH_BATCH", 16).to_string();
    let db = TestDb::postgres().await?;
    let cell = testcell::start_with_env(
        &db,
        TOML,
        &[("CELL__JOBS__BATCH_SIZE", batch.as_str())],
        vec![
            Box::new(template::Template::default()),
            Box::new(webhooks::Webhooks::default()),
        ],
    )
    .await?;
    let hits = Arc::new(AtomicUsize::new(0));
    let port = receiver(hits.clone())?;
    let acme = testcell::org(&cell, "Acme").await?;
    let admin = testcell::user(&cell, "admin@acme.test", acme, "admin").await?;
    let (status, sub) = cell
        .post(
            "/api/v1/webhooks",
            Some(&admin),
            json!({"url": format!("http://127.0.0.1:{port}/hook"), "events": ["template.item.created"]}),
        )
        .await?;
    ensure!(status == 201, "subscription: {status} {sub}");

    // The events, already committed to the outbox (as a busy cell's would be).
    let tx = cell.ctx.db().tenant(acme).await?;
    let news = (0..events)
        .map(|i| {
            let id = Uuid::now_v7();
            NewEvent::new(
                "template.item.created",
                EntityRef {
                    kind: "template_item".into(),
                    id,
                },
            )
            .payload(json!({ "item_id": id, "name": format!("Item {i}") }))
        })
        .collect();
    cell.ctx.events().publish_all(&tx, news).await?;
    tx.commit().await?;

    let started = Instant::now();
    let mut fanned = None;
    loop {
        let dispatched = cell.ctx.events().dispatch_once(&cell.ctx).await?;
        if dispatched == 0 && fanned.is_none() {
            fanned = Some(started.elapsed());
        }
        let ran = cell.ctx.jobs().run_once(&cell.ctx).await?;
        if dispatched == 0 && ran == 0 {
            break;
        }
    }
    let total = started.elapsed();
    let got = hits.load(Ordering::Relaxed);
    ensure!(
        got == events,
        "the receiver got {got} requests for {events} events"
    );
    let stored = delivered(&cell, acme).await?;
    ensure!(
        stored == events as i64,
        "{stored} deliveries are delivered, of {events}"
    );
    let rate = events as f64 / total.as_secs_f64();
    println!(
        "webhooks: {events} events -> {got} deliveries in {:.2} s ({rate:.0} deliveries/s end to end; fan-out {:.2} s of it interleaved; job batch {batch})",
        total.as_secs_f64(),
        fanned.unwrap_or(total).as_secs_f64(),
    );
    Ok(())
}
