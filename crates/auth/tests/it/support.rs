//! A cell with the tenancy and auth modules, and helpers to sign up and read mailed tokens.

use kernel::sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde_json::{Value, json};
use testkit::{TestApp, TestDb};

pub const PASSWORD: &str = "Correct-Horse-9-Battery";
/// The cell's JWT secret in tests, so tests can mint tokens with the cell's keys.
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";

/// A running cell (tenancy + auth). On PostgreSQL it serves as an application role (no
/// superuser, no BYPASSRLS), so row-level security binds every query the modules make.
pub struct Cell {
    pub app: TestApp,
    pub role: Option<testkit::AppRole>,
}

impl std::ops::Deref for Cell {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A running cell with `extra` TOML appended to `[modules.auth]`.
pub async fn cell(db: &TestDb, extra: &str) -> anyhow::Result<Cell> {
    cell_with_env(db, extra, &[]).await
}

/// [`cell`] with extra environment variables (`CELL__REDIS__URL`).
pub async fn cell_with_env(
    db: &TestDb,
    extra: &str,
    extra_env: &[(&'static str, &'static str)],
) -> anyhow::Result<Cell> {
    let role = match db.backend() {
        testkit::Backend::Postgres => Some(testkit::AppRole::create().await?),
        testkit::Backend::Sqlite => None,
    };
    let toml = format!(
        "[modules.audit]\n[modules.iam]\n[modules.tenancy]\n[modules.auth]\ncookie_secure = false\n{extra}"
    );
    let secrets = vec!["modules.auth.jwt_secret".to_owned()];
    let mut env = vec![("CELL__MODULES__AUTH__JWT_SECRET", JWT_SECRET)];
    if let Some(r) = &role {
        env.push(("CELL__DATABASE__APP_ROLE", r.name()));
    }
    env.extend_from_slice(extra_env);
    let config = testkit::cell_config_with_secrets(db, &toml, &env, &secrets)?;
    let app = TestApp::start(
        config,
        vec![
            Box::new(iam::Iam::default()),
            Box::new(tenancy::Tenancy::default()),
            Box::new(auth::Auth::default()),
        ],
    )
    .await?;
    Ok(Cell { app, role })
}

/// One row of `pg_sql` (`$n` placeholders; rewritten for SQLite) with text `values`, read in
/// the kernel's system context.
pub async fn query_one(
    app: &TestApp,
    pg_sql: &str,
    values: &[&str],
) -> anyhow::Result<Option<kernel::sea_orm::QueryResult>> {
    // Mails without an org are readable by the kernel's system context only.
    let db = app.ctx.db().system();
    let sql = match db.backend() {
        DbBackend::Sqlite => pg_sql.replace("$1", "?").replace("$2", "?"),
        _ => pg_sql.to_owned(),
    };
    let values = values
        .iter()
        .map(|v| kernel::sea_orm::Value::from((*v).to_owned()));
    Ok(db
        .conn()
        .query_one_raw(Statement::from_sql_and_values(db.backend(), sql, values))
        .await?)
}

/// Runs the job queue until nothing is pending (some mails, the reset link, are sent by a
/// job): jobs this test claims run here; one the cell's own runner claimed first is waited for
/// (bounded at 10 s).
pub async fn jobs_settled(app: &TestApp) -> anyhow::Result<()> {
    for _ in 0..200 {
        while app.ctx.jobs().run_once(&app.ctx).await? > 0 {}
        let row = query_one(
            app,
            "SELECT count(*) AS n FROM kernel_jobs WHERE status = $1 AND name <> $2",
            &["pending", "auth.anonymize_deactivated"],
        )
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count"))?;
        if row.try_get::<i64>("", "n")? == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("the job queue did not settle in 10 s")
}

/// The token in the newest mail of `template` to `to`.
pub async fn mailed_token(app: &TestApp, to: &str, template: &str) -> anyhow::Result<String> {
    jobs_settled(app).await?;
    let row = query_one(
        app,
        "SELECT text_body FROM kernel_emails WHERE to_addr = $1 AND template = $2 ORDER BY id DESC",
        &[to, template],
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("no `{template}` mail to {to}"))?;
    let body: String = row.try_get("", "text_body")?;
    let token = body
        .split("token=")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no token in {body}"))?;
    Ok(token.to_owned())
}

/// How many mails of `template` went to `to`.
pub async fn mail_count(app: &TestApp, to: &str, template: &str) -> anyhow::Result<i64> {
    jobs_settled(app).await?;
    let row = query_one(
        app,
        "SELECT count(*) AS n FROM kernel_emails WHERE to_addr = $1 AND template = $2",
        &[to, template],
    )
    .await?
    .ok_or_else(|| anyhow::anyhow!("no count"))?;
    Ok(row.try_get("", "n")?)
}

/// Registers `email` with [`PASSWORD`] and verifies it.
pub async fn register(app: &TestApp, email: &str) -> anyhow::Result<()> {
    let (status, body) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "first_name": "Ada"}),
        )
        .await?;
    anyhow::ensure!(status == 202, "register: {status} {body}");
    let token = mailed_token(app, email, "auth.verify_email").await?;
    let (status, body) = app
        .post("/api/v1/auth/verify-email", None, json!({"token": token}))
        .await?;
    anyhow::ensure!(status == 200, "verify: {status} {body}");
    Ok(())
}

/// Signs in; returns the token response.
pub async fn login(app: &TestApp, email: &str, password: &str) -> anyhow::Result<Value> {
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await?;
    anyhow::ensure!(status == 200, "login: {status} {body}");
    Ok(body)
}

/// Registers and signs in; returns (access token, token response).
pub async fn signed_up(app: &TestApp, email: &str) -> anyhow::Result<(String, Value)> {
    register(app, email).await?;
    let body = login(app, email, PASSWORD).await?;
    let access = body["access_token"].as_str().unwrap_or_default().to_owned();
    Ok((access, body))
}

/// The error envelope's code.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// A body without the per-request fields, to compare two answers.
pub fn comparable(mut body: Value) -> Value {
    if let Some(e) = body.get_mut("error").and_then(Value::as_object_mut) {
        e.remove("request_id");
        e.remove("timestamp");
    }
    body
}

/// The actions recorded in the audit log, oldest first.
pub async fn audit_actions(app: &TestApp) -> anyhow::Result<Vec<(String, Option<uuid::Uuid>)>> {
    use kernel::sea_orm::{EntityTrait, QueryOrder};
    let rows = kernel::audit::entity::Entity::find()
        .order_by_asc(kernel::audit::entity::Column::Id)
        .all(app.ctx.db().system().conn())
        .await?;
    Ok(rows.into_iter().map(|r| (r.action, r.org_id)).collect())
}

/// An admin invited into `owner`'s org, signed in there: (access token, user id).
pub async fn invited_admin(
    app: &TestApp,
    owner: &str,
    email: &str,
) -> anyhow::Result<(String, String)> {
    let (status, body) = app
        .post(
            "/api/v1/invitations",
            Some(owner),
            json!({"email": email, "role": "admin"}),
        )
        .await?;
    anyhow::ensure!(status == 201, "invite: {status} {body}");
    let token = mailed_token(app, email, "tenancy.invitation").await?;
    let (status, joined) = app
        .post(
            "/api/v1/auth/register",
            None,
            json!({"email": email, "password": PASSWORD, "invitation_token": token}),
        )
        .await?;
    anyhow::ensure!(status == 201, "register: {status} {joined}");
    Ok((
        joined["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        joined["user"]["id"].as_str().unwrap_or_default().to_owned(),
    ))
}
