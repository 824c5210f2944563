//! Read replicas, on a real PostgreSQL streaming replica of the test server (`scripts/replica.sh`
//! starts it; `TEST_REPLICA_URL`): `GET` requests read from the replica while it is fresh;
//! writes, reads after a write in the same request, and every other request read from the
//! writer; a replica lagging past the bound, or down, sends reads to the writer. Also the
//! application role logging in with the password `migrate up` gave it, checked by the replica,
//! which (unlike the test server) verifies SCRAM passwords.

use actix_web::{HttpResponse, get, post};
use kernel::module::PlatformModule;
use kernel::{ApiResult, CellContext};
use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
use testkit::TestDb;
use testkit::replica::{ReplayPaused, url_for as on_replica};
use testkit::{eventually, scalar};
use uuid::Uuid;

use crate::support::{Notes, TestApp, TestOrg};

/// Which server answered a read, and what it saw.
#[derive(Clone, Default)]
struct Where;

#[async_trait::async_trait]
impl PlatformModule for Where {
    fn name(&self) -> &'static str {
        "where"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        cfg.service(where_get).service(where_post);
    }
}

async fn answer(ctx: &CellContext, org: Uuid) -> ApiResult<HttpResponse> {
    let tx = ctx.db().tenant_read(org).await?;
    let row = tx
        .unscoped()
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_is_in_recovery() AS replica, \
             (SELECT count(*) FROM notes WHERE org_id = current_setting('app.current_org_id')::uuid) AS notes",
        ))
        .await?
        .ok_or_else(|| kernel::ApiError::internal(anyhow::anyhow!("no row")))?;
    let replica: bool = row.try_get("", "replica")?;
    let notes: i64 = row.try_get("", "notes")?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({"replica": replica, "notes": notes})))
}

#[utoipa::path(tag = "where", responses((status = 200, description = "where a read ran")))]
#[get("/where")]
async fn where_get(ctx: CellContext, org: TestOrg) -> ApiResult<HttpResponse> {
    answer(&ctx, org.0).await
}

#[utoipa::path(tag = "where", responses((status = 200, description = "where a read ran")))]
#[post("/where")]
async fn where_post(ctx: CellContext, org: TestOrg) -> ApiResult<HttpResponse> {
    answer(&ctx, org.0).await
}

async fn spawn(db: &TestDb, read_url: &str, max_lag_ms: &str) -> anyhow::Result<TestApp> {
    TestApp::spawn_with(
        db,
        "[modules.notes]\n[modules.where]\n",
        &[
            ("CELL__DATABASE__READ_URL", read_url),
            ("CELL__DATABASE__REPLICA_MAX_LAG_MS", max_lag_ms),
        ],
        vec![Box::new(Notes::default()), Box::new(Where)],
    )
    .await
}

async fn read(app: &TestApp, org: Uuid, post: bool) -> anyhow::Result<(bool, i64)> {
    let req = match post {
        true => app.client.post(app.url("/api/v1/where")),
        false => app.client.get(app.url("/api/v1/where")),
    };
    let res = req.header("x-org-id", org.to_string()).send().await?;
    anyhow::ensure!(res.status() == 200, "{}", res.text().await?);
    let body: serde_json::Value = res.json().await?;
    Ok((
        body["replica"].as_bool().unwrap_or_default(),
        body["notes"].as_i64().unwrap_or(-1),
    ))
}

#[tokio::test]
async fn get_requests_read_from_a_fresh_replica_and_everything_else_from_the_writer()
-> anyhow::Result<()> {
    let db = TestDb::postgres().await?;
    testkit::replica::wait_for(&db).await?;
    let read_url = on_replica(&db, "postgres", None)?;
    // Two cells on the same servers: one tolerates 60 s of lag, one 300 ms.
    let patient = spawn(&db, &read_url, "60000").await?;
    let strict = spawn(&db, &read_url, "300").await?;
    let org = Uuid::now_v7();
    assert_eq!(patient.create_note(org, "first", 1).await?.status(), 201);

    for app in [&patient, &strict] {
        eventually("the replica is fresh and has the note", async || {
            Ok(read(app, org, false).await? == (true, 1))
        })
        .await?;
        assert!(app.ctx.db().replica_staleness().is_some());
        assert_eq!(
            read(app, org, true).await?,
            (false, 1),
            "a POST reads from the writer"
        );
    }
    // Outside a request (jobs, the dispatcher), reads go to the writer.
    let tx = patient.ctx.db().tenant_read(org).await?;
    let on_replica_outside: bool = scalar(tx.unscoped(), "SELECT pg_is_in_recovery()").await?;
    tx.commit().await?;
    assert!(!on_replica_outside);

    // The replica stops replaying; a second note is written.
    let paused = ReplayPaused::start().await?;
    assert_eq!(patient.create_note(org, "second", 1).await?.status(), 201);
    // Within 60 s of lag, a GET is served by the replica, which has not seen it yet: proof
    // that the replica answered.
    assert_eq!(read(&patient, org, false).await?, (true, 1));
    // Past 300 ms, reads go to the writer, which has both.
    eventually("the strict cell reads from the writer", async || {
        Ok(read(&strict, org, false).await? == (false, 2))
    })
    .await?;
    // A request that wrote reads its own write, from the writer.
    let db_handle = patient.ctx.db().clone();
    let (replica, notes) = kernel::replica::lagging_reads(async move {
        let tx = db_handle.tenant(org).await?;
        tx.unscoped()
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "INSERT INTO notes (id, org_id, title, priority, created_at) VALUES ($1, $2, 'third', 1, now())",
                [Uuid::now_v7().into(), org.into()],
            ))
            .await?;
        tx.commit().await?;
        let tx = db_handle.tenant_read(org).await?;
        let row = tx
            .unscoped()
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT pg_is_in_recovery() AS replica, (SELECT count(*) FROM notes) AS notes",
            ))
            .await?
            .ok_or_else(|| anyhow::anyhow!("no row"))?;
        tx.commit().await?;
        anyhow::Ok((
            row.try_get::<bool>("", "replica")?,
            row.try_get::<i64>("", "notes")?,
        ))
    })
    .await?;
    assert_eq!((replica, notes), (false, 3));

    // Replay resumes: the strict cell goes back to the replica once it has caught up.
    paused.resume().await?;
    eventually(
        "the strict cell reads from the caught-up replica",
        async || Ok(read(&strict, org, false).await? == (true, 3)),
    )
    .await?;

    // A replica that is down: reads go to the writer, and the GET succeeds.
    let down = on_replica(&db, "postgres", None)?.replace(":5433", ":1");
    let alone = spawn(&db, &down, "1000").await?;
    assert_eq!(read(&alone, org, false).await?, (false, 3));
    assert_eq!(alone.ctx.db().replica_staleness(), None);
    Ok(())
}

#[tokio::test]
async fn the_app_role_logs_in_with_the_password_migrate_gave_it() -> anyhow::Result<()> {
    let role = format!("cell_app_{}", Uuid::now_v7().simple());
    let password = format!("pw-{}", Uuid::now_v7().simple());
    let db = TestDb::postgres().await?;
    // Migrating as the owner creates the role, as a login role with that password.
    let owner = TestApp::spawn_with(
        &db,
        "[modules.notes]\n",
        &[
            ("CELL__DATABASE__APP_ROLE", &role),
            ("CELL__DATABASE__APP_PASSWORD", &password),
        ],
        vec![Box::new(Notes::default())],
    )
    .await?;
    // As a superuser: the role the cell serves as cannot read pg_authid.
    let admin = Database::connect(testkit::postgres_server_url().as_str()).await?;
    let stored: String = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT rolpassword AS p FROM pg_authid WHERE rolname = $1 AND rolcanlogin AND NOT rolsuper AND NOT rolbypassrls",
            [role.clone().into()],
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no login role {role}"))?
        .try_get("", "p")?;
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains(&password));
    drop(owner);

    // The replica checks passwords: the right one logs in, a wrong one does not.
    testkit::replica::wait_for(&db).await?;
    eventually("the role logs in on the replica", async || {
        let url = on_replica(&db, &role, Some(&password))?;
        Ok(Database::connect(url.as_str()).await?.ping().await.is_ok())
    })
    .await?;
    let wrong = on_replica(&db, &role, Some("not-the-password-at-all"))?;
    let refused = Database::connect(wrong.as_str())
        .await
        .err()
        .map(|e| e.to_string());
    assert!(
        refused
            .as_deref()
            .is_some_and(|e| e.contains("password authentication failed")),
        "{refused:?}"
    );

    // An instance that serves logs in as the role, its password apart from the URL (as a
    // deployment passes it), without migrating.
    let mut as_role = url::Url::parse(db.url())?;
    as_role
        .set_username(&role)
        .map_err(|()| anyhow::anyhow!("user"))?;
    let serving = TestApp::spawn_with(
        &db,
        "[modules.notes]\n[serve]\nmigrate = false\n",
        &[
            ("CELL__DATABASE__URL", as_role.as_str()),
            ("CELL__DATABASE__PASSWORD", &password),
            ("CELL__DATABASE__APP_ROLE", &role),
        ],
        vec![Box::new(Notes::default())],
    )
    .await?;
    let org = Uuid::now_v7();
    assert_eq!(
        serving.create_note(org, "as the role", 1).await?.status(),
        201
    );
    let me: String = scalar(serving.ctx.db().conn(), "SELECT session_user::text").await?;
    assert_eq!(me, role);
    drop(serving);
    let mut db = db;
    db.drop_now().await?;
    let admin = Database::connect(testkit::postgres_server_url().as_str()).await?;
    admin
        .execute_unprepared(&format!("DROP ROLE IF EXISTS {role}"))
        .await?;
    Ok(())
}
