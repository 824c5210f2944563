#![doc = include_str!("../README.md")]

use kernel::PlatformModule;
use kernel::sea_orm::ActiveModelTrait;
use serde_json::json;
use testkit::{TestApp, TestDb};
use uuid::Uuid;

/// The password of every user [`user`] makes.
pub const PASSWORD: &str = "Correct-horse-battery-9";

/// A running cell; derefs to its [`TestApp`]. Keeps the PostgreSQL application role alive.
pub struct Cell {
    pub app: TestApp,
    _role: Option<testkit::AppRole>,
}

impl std::ops::Deref for Cell {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// A cell of iam, tenancy, auth and `modules`, configured by `toml` (which names every module
/// it enables, the identity modules included), with jobs, event dispatch and rate limits off.
pub async fn start(
    db: &TestDb,
    toml: &str,
    modules: Vec<Box<dyn PlatformModule>>,
) -> anyhow::Result<Cell> {
    start_with_env(db, toml, &[], modules).await
}

/// [`start`] with more environment (`CELL__STORAGE__…`: settings such as secrets that only
/// come from there).
pub async fn start_with_env(
    db: &TestDb,
    toml: &str,
    extra_env: &[(&str, &str)],
    modules: Vec<Box<dyn PlatformModule>>,
) -> anyhow::Result<Cell> {
    let role = match db.backend() {
        testkit::Backend::Postgres => Some(testkit::AppRole::create().await?),
        testkit::Backend::Sqlite => None,
    };
    let mut env = vec![
        ("CELL__JOBS__RUN", "false"),
        ("CELL__EVENTS__DISPATCH", "false"),
        ("CELL__RATE_LIMIT__ENABLED", "false"),
    ];
    if let Some(r) = &role {
        env.push(("CELL__DATABASE__APP_ROLE", r.name()));
    }
    env.extend_from_slice(extra_env);
    let config = testkit::cell_config(db, toml, &env)?;
    let mut all: Vec<Box<dyn PlatformModule>> = vec![
        Box::new(iam::Iam::default()),
        Box::new(tenancy::Tenancy::default()),
        Box::new(auth::Auth::default()),
    ];
    all.extend(modules);
    Ok(Cell {
        app: TestApp::start(config, all).await?,
        _role: role,
    })
}

/// A new organization with no members.
pub async fn org(app: &TestApp, name: &str) -> anyhow::Result<Uuid> {
    let org = Uuid::now_v7();
    let tx = app.ctx.db().tenant(org).await?;
    tenancy::create_organization_without_members(
        &tx,
        tenancy::NewOrganization {
            name: name.into(),
            ..Default::default()
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    tx.commit().await?;
    Ok(org)
}

/// A user with `role` in `org`, signed in (it is their active org): their access token.
pub async fn user(app: &TestApp, email: &str, org: Uuid, role: &str) -> anyhow::Result<String> {
    let hash = auth::password::hash(PASSWORD)?;
    let row = auth::new_user(email, hash, None, None, true)
        .insert(app.ctx.db().conn())
        .await?;
    let tx = app.ctx.db().tenant(org).await?;
    tenancy::add_member(&app.ctx, &tx, row.id, role)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    tx.commit().await?;
    let (status, body) = app
        .post(
            "/api/v1/auth/login",
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await?;
    anyhow::ensure!(status == 200, "login of {email}: {status} {body}");
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no access token: {body}"))
}
