//! Rate limits over HTTP on both backends (in-process and the real Redis): headers, the 429
//! envelope, route groups, per-caller and per-org counters, and programmatic limits.

use std::sync::Arc;

use actix_web::HttpRequest;
use kernel::CellContext;
use kernel::http::{Authenticator, Caller};
use kernel::module::PlatformModule;
use testkit::{Backend, TestDb};
use uuid::Uuid;

use crate::support::{Notes, Tags, TestApp, expect_error};

const LIMITS: &str = "[modules.notes]\n[modules.tags]\n[modules.who]\n\
[rate_limit.groups.general]\nlimit = 3\nwindow_secs = 60\norg_limit = 4\n\
[rate_limit.groups.ai]\nlimit = 1\nwindow_secs = 60\n\
[rate_limit.groups.login]\nlimit = 2\nwindow_secs = 1\n\
[rate_limit.routes]\n\"/api/v1/tags\" = \"ai\"\n";

/// Test authenticator: the caller is named by `x-test-user` / `x-test-org`.
struct HeaderAuth;

#[async_trait::async_trait(?Send)]
impl Authenticator for HeaderAuth {
    async fn authenticate(
        &self,
        _ctx: &CellContext,
        req: &HttpRequest,
    ) -> Result<Option<Caller>, kernel::http::Refused> {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| Uuid::parse_str(v).ok())
        };
        Ok(header("x-test-user").map(|user_id| Caller {
            org_id: header("x-test-org"),
            ..Caller::user(user_id)
        }))
    }
}

struct Who;

#[async_trait::async_trait]
impl PlatformModule for Who {
    fn name(&self) -> &'static str {
        "who"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        Some(Arc::new(HeaderAuth))
    }
}

async fn spawn(db: &TestDb, backend: &str) -> anyhow::Result<TestApp> {
    // A fresh cell name keeps concurrent tests apart in the shared Redis.
    let name = format!("rl{}", Uuid::now_v7().simple());
    let redis = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let env = [
        ("CELL__CELL__NAME", name.as_str()),
        ("CELL__RATE_LIMIT__BACKEND", backend),
        ("CELL__REDIS__URL", redis.as_str()),
    ];
    TestApp::spawn_with(
        db,
        LIMITS,
        &env,
        vec![
            Box::new(Notes::default()),
            Box::new(Tags::default()),
            Box::new(Who),
        ],
    )
    .await
}

fn header(res: &reqwest::Response, name: &str) -> Option<u64> {
    res.headers().get(name)?.to_str().ok()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_answer_headers_then_429_per_route_group() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    for backend in ["memory", "redis"] {
        let app = spawn(&db, backend).await?;
        for remaining in [2, 1, 0] {
            let res = app.get("/api/v1/nothing").await?;
            assert_eq!(res.status(), 404, "{backend}");
            assert_eq!(header(&res, "x-ratelimit-limit"), Some(3), "{backend}");
            assert_eq!(
                header(&res, "x-ratelimit-remaining"),
                Some(remaining),
                "{backend}"
            );
        }
        let res = app.get("/api/v1/nothing").await?;
        let retry = header(&res, "retry-after").unwrap_or(0);
        assert!((1..=60).contains(&retry), "{backend}: retry-after {retry}");
        assert_eq!(header(&res, "x-ratelimit-remaining"), Some(0));
        let e = expect_error(res, 429, "rate_limited").await?;
        assert_eq!(e["details"]["group"], "general", "{e}");

        // Health is never limited; the `ai` group counts on its own.
        let health = app.get("/health/live").await?;
        assert_eq!(health.status(), 200);
        assert!(health.headers().get("x-ratelimit-limit").is_none());
        let first = app.get("/api/v1/tags").await?;
        assert_eq!(
            (first.status().as_u16(), header(&first, "x-ratelimit-limit")),
            (200, Some(1)),
            "{backend}"
        );
        expect_error(app.get("/api/v1/tags").await?, 429, "rate_limited").await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_counted_apart_and_orgs_together() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    for backend in ["memory", "redis"] {
        let app = spawn(&db, backend).await?;
        let (org, other_org) = (Uuid::now_v7(), Uuid::now_v7());
        let (alice, bob, carol) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let as_user = |user: Uuid, org: Uuid| {
            app.client
                .get(app.url("/api/v1/nothing"))
                .header("x-test-user", user.to_string())
                .header("x-test-org", org.to_string())
                .send()
        };
        for _ in 0..3 {
            assert_eq!(as_user(alice, org).await?.status(), 404, "{backend}");
        }
        expect_error(as_user(alice, org).await?, 429, "rate_limited").await?;
        // Bob has his own counter, but the org has used 4 of its 4 (alice's refused hit counts).
        expect_error(as_user(bob, org).await?, 429, "rate_limited").await?;
        // Carol, in another org, is untouched; so is an anonymous caller (counted by IP).
        assert_eq!(as_user(carol, other_org).await?.status(), 404, "{backend}");
        assert_eq!(app.get("/api/v1/nothing").await?.status(), 404, "{backend}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_limit_other_keys_and_windows_reset() -> anyhow::Result<()> {
    let db = TestDb::new(Backend::Sqlite).await?;
    for backend in ["memory", "redis"] {
        let app = spawn(&db, backend).await?;
        let limiter = app.ctx.rate_limiter();
        // `login` allows 2 per one-second window. Three quick hits usually share a window; when
        // the window turns between them (seen as `reset_after` growing), try a fresh key.
        let mut refused = None;
        let mut email = String::new();
        for _ in 0..5 {
            email = format!("email:{}@example.com", Uuid::now_v7());
            let mut hits = Vec::new();
            for _ in 0..3 {
                hits.extend(limiter.hit("login", &email, false).await);
            }
            anyhow::ensure!(hits.len() == 3, "{backend}: the login group is unknown");
            if hits
                .windows(2)
                .all(|w| w[1].reset_after <= w[0].reset_after)
            {
                refused = Some(hits.iter().map(|d| d.allowed).collect::<Vec<_>>());
                break;
            }
        }
        assert_eq!(
            refused,
            Some(vec![true, true, false]),
            "{backend}: the third hit in a window must be refused"
        );
        assert!(limiter.hit("unknown", &email, false).await.is_none());
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
        assert_eq!(
            limiter.hit("login", &email, false).await.map(|d| d.allowed),
            Some(true),
            "{backend}: the window never reset"
        );
    }
    Ok(())
}
