//! PostgreSQL: the cell serving as `database.app_role` — a role that owns nothing and cannot
//! bypass row-level security — with RLS enabled and forced on every table with an `org_id`,
//! the kernel's own tables included; and start-up refusing roles unfit for it.

use std::sync::Arc;

use actix_web::{HttpResponse, post};
use kernel::audit::AuditEntry;
use kernel::jobs::Job;
use kernel::mail::EmailTemplate;
use kernel::module::{JobDefinition, JobHandler, PlatformModule};
use kernel::{ApiResult, Application, CellContext};
use reqwest::Method;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use testkit::{AppRole, Backend, TestDb, eventually, scalar};
use uuid::Uuid;

use crate::support::{Actor, Callers, Notes, Tags, TestApp, TestOrg, Watcher, config};

/// Queues a mail (with an org template override) and a job from a tenant transaction.
#[derive(Clone, Default)]
struct Courier {
    ran: Arc<std::sync::Mutex<Vec<Uuid>>>,
}

#[async_trait::async_trait]
impl JobHandler for Courier {
    async fn run(&self, ctx: &CellContext, job: &Job) -> anyhow::Result<()> {
        let org = job.org_id.ok_or_else(|| anyhow::anyhow!("no org"))?;
        // A job's work runs in its org's context, like a request.
        let tx = ctx.db().tenant(org).await?;
        ctx.audit()
            .record_in(&tx, AuditEntry::new("courier.pinged"))
            .await?;
        tx.commit().await?;
        self.ran
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push(job.id);
        Ok(())
    }
}

#[async_trait::async_trait]
impl PlatformModule for Courier {
    fn name(&self) -> &'static str {
        "courier"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn jobs(&self) -> Vec<JobDefinition> {
        vec![JobDefinition {
            name: "ping",
            handler: Arc::new(self.clone()),
            max_attempts: Some(1),
            retry_schedule: None,
        }]
    }
    fn email_templates(&self) -> Vec<EmailTemplate> {
        vec![EmailTemplate {
            name: "hello",
            subject: "Hello {{ name }}",
            text: "Hi {{ name }}",
            html: None,
        }]
    }
    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        cfg.service(send);
    }
}

#[utoipa::path(tag = "courier", responses((status = 202, description = "queued")))]
#[post("/courier")]
async fn send(ctx: CellContext, org: TestOrg) -> ApiResult<HttpResponse> {
    let tx = ctx.db().tenant(org.0).await?;
    let mail = ctx.mail();
    mail.set_org_template(
        tx.unscoped(),
        org.0,
        "courier.hello",
        "Bonjour {{ name }}",
        "Salut",
        None,
    )
    .await?;
    let email = mail
        .queue(
            tx.unscoped(),
            Some(org.0),
            "ada@example.com",
            "courier.hello",
            &serde_json::json!({"name": "Ada"}),
        )
        .await?;
    let job = ctx
        .jobs()
        .enqueue(
            tx.unscoped(),
            "courier.ping",
            Some(org.0),
            serde_json::json!({}),
        )
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({"email": email, "job": job})))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_the_cell_serves_as_an_app_role_bound_by_rls_everywhere() -> anyhow::Result<()> {
    let role = AppRole::create().await?;
    let db = TestDb::new(Backend::Postgres).await?;
    let watcher = Watcher::default();
    let courier = Courier::default();
    let app = TestApp::spawn_with(
        &db,
        "[modules.audit]\n[modules.notes]\n[modules.tags]\n[modules.watcher]\n[modules.courier]\n[modules.callers]\n",
        &[
            ("CELL__DATABASE__APP_ROLE", role.name()),
        ],
        vec![
            Box::new(Notes::default()),
            Box::new(Tags::default()),
            Box::new(watcher.clone()),
            Box::new(courier.clone()),
            Box::new(Callers),
        ],
    )
    .await?;

    // Both pools act as the app role; the system pool carries the system context.
    let serving = app.ctx.db().conn();
    assert_eq!(
        scalar::<String>(serving, "SELECT current_user::text").await?,
        role.name()
    );
    assert_eq!(
        scalar::<String>(
            serving,
            "SELECT coalesce(current_setting('app.system', true), '')"
        )
        .await?,
        ""
    );
    let system = app.ctx.db().system().conn();
    assert_eq!(
        scalar::<String>(system, "SELECT current_user::text").await?,
        role.name()
    );
    assert_eq!(
        scalar::<String>(system, "SELECT current_setting('app.system', true)").await?,
        "on"
    );

    // A tenant route writes and lists; the middleware records the writes.
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let (admin_a, admin_b) = (Actor::new(a, "admin"), Actor::new(b, "admin"));
    for (who, title) in [(admin_a, "a1"), (admin_a, "a2"), (admin_b, "b1")] {
        let res = who
            .request(&app, Method::POST, "/api/v1/notes")
            .json(&serde_json::json!({"title": title, "priority": 1}))
            .send()
            .await?;
        assert_eq!(res.status(), 201, "{}", res.text().await?);
    }
    let listed: serde_json::Value = admin_a
        .request(&app, Method::GET, "/api/v1/notes")
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed["meta"]["total"], 2, "{listed}");

    // Events are dispatched (two subscribers each), by the dispatcher's system context.
    eventually("every event is delivered", async || {
        Ok(watcher.recorder.seen().len() == 6)
    })
    .await?;

    // Mail and a job, queued in the org's transaction, are sent and run in the background.
    let res = admin_a
        .request(&app, Method::POST, "/api/v1/courier")
        .send()
        .await?;
    assert_eq!(res.status(), 202, "{}", res.text().await?);
    let queued: serde_json::Value = res.json().await?;
    let email = queued["email"].as_str().unwrap_or_default().to_owned();
    let eml = db.data_dir().join("mail").join(format!("{email}.eml"));
    eventually("the mail is sent", async || Ok(eml.exists())).await?;
    eventually("the job ran", async || {
        Ok(courier.ran.lock().map(|r| r.len()).unwrap_or(0) == 1)
    })
    .await?;
    let text = std::fs::read_to_string(&eml)?;
    assert!(
        text.contains("Subject: Bonjour Ada"),
        "the org's template was not used: {text}"
    );

    // An entry without an org (a failed sign-in) may be written from the serving pool.
    app.ctx
        .audit()
        .record(app.ctx.db().conn(), AuditEntry::new("auth.login_failed"))
        .await?;
    let log: serde_json::Value = admin_a
        .request(&app, Method::GET, "/api/v1/audit")
        .send()
        .await?
        .json()
        .await?;
    let mut actions: Vec<String> = log["data"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|e| e["action"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    actions.sort();
    assert_eq!(
        actions,
        vec![
            "POST /api/v1/courier",
            "POST /api/v1/notes",
            "POST /api/v1/notes",
            "courier.pinged"
        ],
        "{log}"
    );
    // The outbox and the sent mail are settled under the app role.
    eventually("the mail is recorded as sent", async || {
        Ok(app
            .ctx
            .mail()
            .recorded(app.ctx.db(), 0, 10)
            .await?
            .0
            .iter()
            .any(|m| m.status == "sent"))
    })
    .await?;

    // Acting as the app role: append-only audit log, read-only migration records.
    for sql in [
        "UPDATE audit_log SET action = 'forged'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "DELETE FROM cell_migrations",
        "INSERT INTO cell_migrations (module, name, applied_at) VALUES ('x', 'x_m1', now())",
        "CREATE TABLE sneaky (id int)",
    ] {
        let err = system
            .execute_raw(Statement::from_string(DbBackend::Postgres, sql))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("permission denied"), "{sql}: {err}");
    }

    // The same checks any module crate runs after starting its cell.
    let counts = testkit::assert_rls_everywhere(db.url(), role.name()).await?;
    let tables: Vec<&str> = counts.iter().map(|(t, _)| t.as_str()).collect();
    for table in [
        "audit_log",
        "kernel_email_templates",
        "kernel_emails",
        "kernel_events",
        "kernel_jobs",
        "notes",
    ] {
        let rows = counts.iter().find(|(t, _)| t == table).map(|(_, n)| *n);
        assert!(
            rows.is_some_and(|n| n > 0),
            "{table} was not checked with rows in it: {counts:?}"
        );
    }
    assert!(!tables.contains(&"tags"), "tags has no org_id");

    // And it notices a tenant table without row-level security.
    let owner = sea_orm::Database::connect(db.url()).await?;
    owner
        .execute_unprepared("CREATE TABLE leaky (id uuid PRIMARY KEY, org_id uuid NOT NULL)")
        .await?;
    owner.close().await?;
    let err = testkit::assert_rls_everywhere(db.url(), role.name())
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("leaky") && err.contains("row-level security"),
        "{err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_grants_follow_every_migration_run() -> anyhow::Result<()> {
    let role = AppRole::create().await?;
    let db = TestDb::new(Backend::Postgres).await?;
    let env = [("CELL__DATABASE__APP_ROLE", role.name())];
    let first = TestApp::spawn_with(
        &db,
        "[modules.notes]\n",
        &env,
        vec![Box::new(Notes::default())],
    )
    .await?;
    drop(first);
    // A new release enables a module: its new table is granted after its migration.
    let _second = TestApp::spawn_with(
        &db,
        "[modules.notes]\n[modules.tags]\n",
        &env,
        vec![Box::new(Notes::default()), Box::new(Tags::default())],
    )
    .await?;
    let owner = sea_orm::Database::connect(db.url()).await?;
    let r = role.name();
    let can = async |table: &str, privilege: &str| -> anyhow::Result<bool> {
        scalar::<bool>(
            &owner,
            &format!("SELECT has_table_privilege('{r}', '{table}', '{privilege}')"),
        )
        .await
    };
    for (table, privilege, expected) in [
        ("tags", "SELECT", true),
        ("tags", "UPDATE", true),
        ("notes", "DELETE", true),
        ("audit_log", "SELECT", true),
        ("audit_log", "INSERT", true),
        ("audit_log", "UPDATE", false),
        ("audit_log", "DELETE", false),
        ("audit_log", "TRUNCATE", false),
        ("cell_migrations", "SELECT", true),
        ("cell_migrations", "INSERT", false),
        ("kernel_jobs", "UPDATE", true),
    ] {
        assert_eq!(
            can(table, privilege).await?,
            expected,
            "{privilege} on {table}"
        );
    }
    owner.close().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_start_up_refuses_roles_unfit_to_serve() -> anyhow::Result<()> {
    let role = AppRole::create().await?;
    let db = TestDb::new(Backend::Postgres).await?;
    let admin = sea_orm::Database::connect(testkit::postgres_server_url()).await?;
    let owner = sea_orm::Database::connect(db.url()).await?;
    let start = async |role_name: &str| -> String {
        let cfg = match config(
            &db,
            "[modules.notes]\n",
            &[("CELL__DATABASE__APP_ROLE", role_name)],
        ) {
            Ok(c) => c,
            Err(e) => return e.to_string(),
        };
        match Application::build(cfg, vec![Box::new(Notes::default())]).await {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    };
    let r = role.name();

    let missing = format!("{r}_missing");
    let err = start(missing.as_str()).await;
    assert!(
        err.contains("does not exist") && err.contains("CREATE ROLE"),
        "{err}"
    );

    admin
        .execute_unprepared(&format!("ALTER ROLE {r} BYPASSRLS"))
        .await?;
    let err = start(r).await;
    assert!(err.contains("BYPASSRLS"), "{err}");
    admin
        .execute_unprepared(&format!("ALTER ROLE {r} NOBYPASSRLS SUPERUSER"))
        .await?;
    let err = start(r).await;
    assert!(err.contains("superuser"), "{err}");
    admin
        .execute_unprepared(&format!("ALTER ROLE {r} NOSUPERUSER"))
        .await?;

    owner
        .execute_unprepared(&format!(
            "CREATE TABLE stray (id int); ALTER TABLE stray OWNER TO {r}"
        ))
        .await?;
    let err = start(r).await;
    assert!(err.contains("owns") && err.contains("stray"), "{err}");
    owner.execute_unprepared("DROP TABLE stray").await?;

    // Fit again: it starts.
    assert_eq!(start(r).await, "");
    owner.close().await?;
    admin.close().await?;
    Ok(())
}
