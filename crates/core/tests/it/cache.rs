//! The cache on both backends (moka and the real Redis on 127.0.0.1:6379), and a cell whose
//! Redis goes away and comes back.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kernel::cache::Cache;
use kernel::config::RedisSection;
use kernel::redis::Redis;
use testkit::{Backend, TestDb};
use uuid::Uuid;

use crate::support::TestApp;

fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn redis(url: &str, timeout_ms: u64) -> anyhow::Result<Redis> {
    Redis::new(&RedisSection {
        url: Some(url.to_owned().into()),
        pool_size: 4,
        timeout_ms,
    })
    .map_err(anyhow::Error::msg)
}

/// Two caches of the same cell (a fresh cell name per test) on each backend, plus one of another
/// cell sharing the same store, so isolation between cells can be checked too.
fn backends() -> anyhow::Result<Vec<(&'static str, Cache, Cache)>> {
    let cell = format!("t{}", Uuid::now_v7().simple());
    let other = format!("o{}", Uuid::now_v7().simple());
    let ttl = Duration::from_secs(60);
    let shared = redis(&redis_url(), 1000)?;
    Ok(vec![
        (
            "memory",
            Cache::memory(&cell, 1000, ttl),
            Cache::memory(&other, 1000, ttl),
        ),
        (
            "redis",
            Cache::redis(&cell, shared.clone(), 1000, ttl),
            Cache::redis(&other, shared, 1000, ttl),
        ),
    ])
}

#[tokio::test]
async fn a_taken_value_is_taken_once() -> anyhow::Result<()> {
    for (name, cache, _) in backends()? {
        let key = "ticket:1";
        cache.global().set(key, &"ann", None).await;
        let (one, two) = (cache.global(), cache.global());
        let (first, second) = tokio::join!(one.take::<String>(key), two.take::<String>(key));
        let got: Vec<String> = [first, second].into_iter().flatten().collect();
        assert_eq!(got, ["ann"], "{name}: taken by exactly one");
        assert_eq!(cache.global().get::<String>(key).await, None, "{name}");
    }
    Ok(())
}

#[tokio::test]
async fn values_round_trip_expire_and_stay_in_their_org_and_cell() -> anyhow::Result<()> {
    for (name, cache, other_cell) in backends()? {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        cache.org(a).set("deal:1", &vec![1, 2, 3], None).await;
        assert_eq!(
            cache.org(a).get::<Vec<i32>>("deal:1").await,
            Some(vec![1, 2, 3]),
            "{name}"
        );
        assert_eq!(
            cache.org(b).get::<Vec<i32>>("deal:1").await,
            None,
            "{name}: crossed orgs"
        );
        assert_eq!(
            other_cell.org(a).get::<Vec<i32>>("deal:1").await,
            None,
            "{name}: crossed cells"
        );
        let key = cache.org(a).key("deal:1");
        assert!(
            key.starts_with('t') && key.ends_with(&format!(":{a}:deal:1")),
            "{key}"
        );
        assert!(cache.global().key("x").ends_with(":_:x"));

        cache
            .global()
            .set("short", &"x", Some(Duration::from_millis(50)))
            .await;
        assert_eq!(
            cache.global().get::<String>("short").await.as_deref(),
            Some("x"),
            "{name}"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(
            cache.global().get::<String>("short").await,
            None,
            "{name}: did not expire"
        );
    }
    Ok(())
}

#[tokio::test]
async fn cache_aside_loads_once_and_invalidation_is_explicit() -> anyhow::Result<()> {
    for (name, cache, _) in backends()? {
        let org = cache.org(Uuid::now_v7());
        let calls = std::sync::atomic::AtomicU32::new(0);
        let load = || async {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, std::io::Error>("loaded".to_owned())
        };
        assert_eq!(org.get_or_load("k", None, load).await?, "loaded");
        assert_eq!(org.get_or_load("k", None, load).await?, "loaded");
        assert_eq!(
            calls.load(std::sync::atomic::Ordering::SeqCst),
            1,
            "{name}: loaded twice"
        );

        let failing = org
            .get_or_load("e", None, || async {
                Err::<String, _>(std::io::Error::other("db down"))
            })
            .await;
        assert!(failing.is_err());
        assert_eq!(
            org.get::<String>("e").await,
            None,
            "{name}: an error was cached"
        );

        org.invalidate("k").await?;
        assert_eq!(org.get::<String>("k").await, None, "{name}");

        let neighbour = cache.org(Uuid::now_v7());
        for key in ["deals:1", "deals:2", "contacts:1"] {
            org.set(key, &key, None).await;
            neighbour.set(key, &key, None).await;
        }
        org.invalidate_prefix("deals:").await?;
        assert_eq!(org.get::<String>("deals:1").await, None, "{name}");
        assert_eq!(org.get::<String>("deals:2").await, None, "{name}");
        assert_eq!(
            org.get::<String>("contacts:1").await.as_deref(),
            Some("contacts:1"),
            "{name}"
        );
        assert_eq!(
            neighbour.get::<String>("deals:1").await.as_deref(),
            Some("deals:1"),
            "{name}: invalidated another org"
        );
    }
    Ok(())
}

/// A private Redis on a free port, so the test can stop and restart it.
struct PrivateRedis {
    port: u16,
    child: Child,
}

impl PrivateRedis {
    fn start(port: u16) -> anyhow::Result<Self> {
        Self::spawn(port, &["--port", &port.to_string()])
    }

    /// TLS only, with the certificate and key `tls_files` made.
    fn start_tls(port: u16, dir: &std::path::Path) -> anyhow::Result<Self> {
        let file = |name: &str| dir.join(name).display().to_string();
        Self::spawn(
            port,
            &[
                "--port",
                "0",
                "--tls-port",
                &port.to_string(),
                "--tls-cert-file",
                &file("server.pem"),
                "--tls-key-file",
                &file("server.key"),
                "--tls-auth-clients",
                "no",
            ],
        )
    }

    fn spawn(port: u16, args: &[&str]) -> anyhow::Result<Self> {
        let child = Command::new("redis-server")
            .args(args)
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()?;
        let me = Self { port, child };
        testkit::wait_for_port(port)?;
        Ok(me)
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// In `dir`, with openssl: a CA (`<ca>.pem`) and, when `server`, a certificate for `localhost`
/// signed by it (`server.pem`, `server.key`).
fn tls_files(dir: &std::path::Path, ca: &str, server: bool) -> anyhow::Result<()> {
    let openssl = |args: &[&str]| -> anyhow::Result<()> {
        let out = Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    let (key, pem) = (format!("{ca}.key"), format!("{ca}.pem"));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        &format!("/CN={ca}"),
        "-keyout",
        &key,
        "-out",
        &pem,
    ])?;
    if server {
        std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost\n")?;
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &pem,
            "-CAkey",
            &key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ])?;
    }
    Ok(())
}

/// `rediss://` (ElastiCache's encryption in transit): the cell checks the server's certificate
/// against the system's trust store (`SSL_CERT_FILE` names it here) and refuses one it does not
/// trust.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_over_tls_trusts_only_the_system_store() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    tls_files(dir.path(), "trusted", true)?;
    tls_files(dir.path(), "stranger", false)?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let _server = PrivateRedis::start_tls(port, dir.path())?;
    let db = TestDb::sqlite()?;
    let data = format!("cell.data_dir={}", db.data_dir().display());
    let url = format!("rediss://localhost:{port}");
    let http = reqwest::Client::new();
    for (ca, expected) in [("trusted", true), ("stranger", false)] {
        let store = dir.path().join(format!("{ca}.pem")).display().to_string();
        let env = [
            ("CELL__DATABASE__URL", db.url()),
            ("CELL__CACHE__BACKEND", "redis"),
            ("CELL__REDIS__URL", url.as_str()),
            ("SSL_CERT_FILE", store.as_str()),
        ];
        let cell =
            testkit::CellProcess::start(env!("CARGO_BIN_EXE_testcell"), &["--set", &data], &env)?;
        let ready: serde_json::Value = http
            .get(cell.url("/health/ready"))
            .send()
            .await?
            .json()
            .await?;
        let redis = ready["checks"]["redis"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        cell.terminate()?;
        match expected {
            true => assert_eq!(redis, "ok", "{ready}"),
            false => assert!(redis.starts_with("unreachable"), "{ready}"),
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cell_reports_degraded_while_redis_is_down_and_recovers() -> anyhow::Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut server = PrivateRedis::start(port)?;
    let url = format!("redis://127.0.0.1:{port}");
    let db = TestDb::new(Backend::Sqlite).await?;
    let env = [
        ("CELL__CACHE__BACKEND", "redis"),
        ("CELL__REDIS__URL", url.as_str()),
        ("CELL__REDIS__TIMEOUT_MS", "300"),
    ];
    let app = TestApp::spawn_with(&db, "", &env, vec![]).await?;
    let ready = app.get("/health/ready").await?;
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await?["checks"]["redis"],
        "ok"
    );
    app.ctx.cache().global().set("k", &1, None).await;
    assert_eq!(app.ctx.cache().global().get::<i32>("k").await, Some(1));

    server.stop()?;
    let started = std::time::Instant::now();
    // Redis is not critical: the cell stays ready, degraded, and says what works differently.
    let down = app.get("/health/ready").await?;
    assert_eq!(down.status(), 200);
    let body: serde_json::Value = down.json().await?;
    assert_eq!(body["status"], "degraded", "{body}");
    assert!(
        body["checks"]["redis"]
            .as_str()
            .is_some_and(|r| r.starts_with("unreachable")),
        "{body}"
    );
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    // The shared entry is out of reach: a miss, not a failure or a hang; the shared-only read
    // says so; writes and reads go to this instance's memory meanwhile.
    assert_eq!(app.ctx.cache().global().get::<i32>("k").await, None);
    assert!(app.ctx.cache().global().try_get::<i32>("k").await.is_err());
    app.ctx.cache().global().set("local", &2, None).await;
    assert_eq!(app.ctx.cache().global().get::<i32>("local").await, Some(2));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a dead Redis made the cell hang"
    );
    assert_eq!(app.get("/health/live").await?.status(), 200);

    let _server = PrivateRedis::start(server.port)?;
    let mut recovered = false;
    for _ in 0..100 {
        let ready: serde_json::Value = app.get("/health/ready").await?.json().await?;
        if ready["status"] == "ready" {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(recovered, "the cell did not recover when Redis came back");
    Ok(())
}
