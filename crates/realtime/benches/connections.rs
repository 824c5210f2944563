//! `cargo bench -p realtime`: how many WebSocket connections one instance holds and what each
//! costs in memory, and how long an event takes to reach a socket (docs/benchmarks.md,
//! "Realtime").
//!
//! The cell runs as a child process (this binary again, `REALTIME_BENCH_SERVER=1`), so its RSS
//! is its own: the parent opens `REALTIME_BENCH_CONNECTIONS` (10 000) sockets and reads the
//! child's `VmRSS` before and after. Then `REALTIME_BENCH_WATCHERS` (1 000) of them subscribe to
//! one item each, and the child publishes `REALTIME_BENCH_RATE` (1 000) domain events a second
//! for `REALTIME_BENCH_SECONDS` (10) through the outbox, each carrying its wall-clock time:
//! the latency is from the publishing transaction's commit to the socket's read, through the
//! dispatcher, the realtime subscriber, the signal bus, the view check and the socket.
//! `REALTIME_BENCH_DB=postgres` uses PostgreSQL (`TEST_DATABASE_URL`), else SQLite.

use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if std::env::var_os("REALTIME_BENCH_SERVER").is_some() {
        runtime.block_on(server())
    } else {
        runtime.block_on(client())
    }
}

const USERS: usize = 10;

/// The cell: prints what the client needs as one JSON line, then publishes on command.
async fn server() -> anyhow::Result<()> {
    let backend = match std::env::var("REALTIME_BENCH_DB").as_deref() {
        Ok("postgres") => testkit::Backend::Postgres,
        _ => testkit::Backend::Sqlite,
    };
    let db = testkit::TestDb::new(backend).await?;
    let toml = "[modules.iam]\n[modules.tenancy]\n[modules.auth]\n[modules.template]\n[modules.realtime]\nroute_prefix = \"/\"\nmax_connections_per_user = 100000\nclient_timeout_secs = 600\n";
    let cell = testcell::start_with_env(
        &db,
        toml,
        &[
            ("CELL__EVENTS__DISPATCH", "true"),
            ("CELL__TELEMETRY__LOG_LEVEL", "warn"),
        ],
        vec![
            Box::new(template::Template::default()),
            Box::new(realtime::Realtime::default()),
        ],
    )
    .await?;
    let org = testcell::org(&cell, "Bench").await?;
    let mut tokens = Vec::new();
    for i in 0..USERS {
        tokens.push(testcell::user(&cell, &format!("u{i}@bench.test"), org, "member").await?);
    }
    let watchers = env_or("REALTIME_BENCH_WATCHERS", 1000) as usize;
    let mut items = Vec::new();
    for i in 0..watchers {
        let (status, body) = cell
            .post(
                "/api/v1/items",
                Some(&tokens[0]),
                json!({ "name": format!("item {i}") }),
            )
            .await?;
        anyhow::ensure!(status == 201, "item: {status} {body}");
        items.push(body["id"].as_str().unwrap_or_default().to_owned());
    }
    println!(
        "{}",
        json!({ "base": cell.base, "tokens": tokens, "items": items })
    );
    std::io::stdout().flush()?;

    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let rate = env_or("REALTIME_BENCH_RATE", 1000);
    let seconds = env_or("REALTIME_BENCH_SECONDS", 10);
    let total = rate * seconds;
    let start = tokio::time::Instant::now();
    let ids: Vec<uuid::Uuid> = items.iter().filter_map(|i| i.parse().ok()).collect();
    for n in 0..total {
        let due = start + Duration::from_micros(n * 1_000_000 / rate);
        tokio::time::sleep_until(due).await;
        let id = ids[n as usize % ids.len()];
        let tx = cell.ctx.db().tenant(org).await?;
        let event = kernel::events::NewEvent::new(
            "template.item.completed",
            kernel::module::EntityRef {
                kind: "template_item".into(),
                id,
            },
        )
        .payload(json!({ "item_id": id, "sent_at_us": now_us() }));
        cell.ctx
            .events()
            .publish(&tx, event)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        tx.commit().await?;
    }
    println!(
        "{}",
        json!({ "published": total, "publish_secs": start.elapsed().as_secs_f64() })
    );
    std::io::stdout().flush()?;
    // Until the client is done.
    line.clear();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(())
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn client() -> anyhow::Result<()> {
    let connections = env_or("REALTIME_BENCH_CONNECTIONS", 10_000) as usize;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .env("REALTIME_BENCH_SERVER", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut stdin = child
        .stdin
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdin"))?;
    let mut stdout = std::io::BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no stdout"))?,
    );
    let mut line = String::new();
    stdout.read_line(&mut line)?;
    let setup: Value = serde_json::from_str(&line)?;
    let ws = setup["base"]
        .as_str()
        .unwrap_or_default()
        .replacen("http://", "ws://", 1)
        + "/ws";
    let tokens: Vec<String> = serde_json::from_value(setup["tokens"].clone())?;
    let items: Vec<String> = serde_json::from_value(setup["items"].clone())?;

    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = rss_kib(pid);
    let latencies = Arc::new(Mutex::new(Vec::<i64>::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::with_capacity(connections);
    let opened = std::time::Instant::now();
    for i in 0..connections {
        let mut req = ws.as_str().into_client_request()?;
        req.headers_mut().insert(
            "authorization",
            format!("Bearer {}", tokens[i % tokens.len()]).parse()?,
        );
        let (socket, _) = tokio_tungstenite::connect_async(req).await?;
        let (write, mut read) = socket.split();
        let (latencies, acks) = (latencies.clone(), acks.clone());
        tokio::spawn(async move {
            while let Some(Ok(frame)) = read.next().await {
                let Message::Text(text) = frame else { continue };
                let Ok(m) = serde_json::from_str::<Value>(&text) else {
                    continue;
                };
                match m["type"].as_str() {
                    Some("event") => {
                        if let Some(sent) = m["data"]["sent_at_us"].as_i64() {
                            latencies.lock().await.push(now_us() - sent);
                        }
                    }
                    Some("subscribed") => {
                        acks.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {}
                }
            }
        });
        writers.push(write);
    }
    let open_secs = opened.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(pid);
    let per_conn = (after.saturating_sub(before)) as f64 / connections as f64;

    let watchers = items.len().min(connections);
    for (i, item) in items.iter().take(watchers).enumerate() {
        let msg = json!({"type": "subscribe", "entity_type": "template_item", "entity_id": item});
        writers[i].send(Message::text(msg.to_string())).await?;
    }
    while acks.load(Ordering::Relaxed) < watchers {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    writeln!(stdin, "go")?;
    line.clear();
    stdout.read_line(&mut line)?;
    let published: Value = serde_json::from_str(&line)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_end = rss_kib(pid);
    writeln!(stdin, "stop")?;
    let _ = child.wait();

    let mut lat = latencies.lock().await.clone();
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1000.0
    };
    println!(
        "realtime benchmark ({} cell)",
        std::env::var("REALTIME_BENCH_DB").unwrap_or_else(|_| "sqlite".into())
    );
    println!("  connections: {connections} opened in {open_secs:.1} s");
    println!(
        "  server RSS: {before} KiB idle -> {after} KiB with the connections: {per_conn:.1} KiB per connection (goal < 30)"
    );
    println!(
        "  events: {} published in {:.1} s to {watchers} watchers; {} reached a socket",
        published["published"],
        published["publish_secs"].as_f64().unwrap_or(0.0),
        lat.len()
    );
    println!(
        "  event-to-socket latency: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 < 50 ms)",
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    println!("  server RSS after the events: {rss_end} KiB");
    Ok(())
}
