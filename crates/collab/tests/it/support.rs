//! A cell of iam, tenancy, auth and collab, plus `widgets`: a module declared here, that collab
//! has never heard of, whose entities get tags and notes by declaring a loader.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use kernel::http::Caller;
use kernel::module::{EntityLoader, EntityRef, EntitySummary};
use kernel::sea_orm::ActiveModelTrait;
use kernel::{ApiError, CellContext, PlatformModule, TenantTx};
use serde_json::{Value, json};
use testkit::{TestApp, TestDb};
use uuid::Uuid;

const PASSWORD: &str = "Correct-horse-battery-9";

const TOML: &str = r#"
[modules.iam]
[modules.tenancy]
[modules.auth]
[modules.collab]
[modules.widgets]
"#;

/// The widgets of each org (they live in memory: what matters is the loader).
#[derive(Clone, Default)]
pub struct Widgets(Arc<Mutex<HashMap<Uuid, HashSet<Uuid>>>>);

impl Widgets {
    pub fn add(&self, org: Uuid) -> Uuid {
        let id = Uuid::now_v7();
        if let Ok(mut all) = self.0.lock() {
            all.entry(org).or_default().insert(id);
        }
        id
    }

    fn of(&self, org: Uuid) -> HashSet<Uuid> {
        self.0
            .lock()
            .map(|all| all.get(&org).cloned().unwrap_or_default())
            .unwrap_or_default()
    }
}

fn summary(id: Uuid) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: "widget".into(),
            id,
        },
        title: format!("Widget {id}"),
        subtitle: None,
        url: None,
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for Widgets {
    fn entity_type(&self) -> &'static str {
        "widget"
    }

    fn collection(&self) -> &'static str {
        "widgets"
    }

    async fn resolve(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let mine = self.of(tx.org_id());
        Ok(ids
            .iter()
            .filter(|id| mine.contains(id))
            .map(|id| summary(*id))
            .collect())
    }

    async fn search(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        _query: &str,
        limit: u64,
    ) -> Result<Vec<EntitySummary>, ApiError> {
        Ok(self
            .of(tx.org_id())
            .into_iter()
            .take(limit as usize)
            .map(summary)
            .collect())
    }

    async fn count(&self, _ctx: &CellContext, tx: &TenantTx) -> Result<u64, ApiError> {
        Ok(self.of(tx.org_id()).len() as u64)
    }
}

/// The module that declares widgets, and nothing else.
pub struct WidgetModule(pub Widgets);

#[kernel::async_trait::async_trait]
impl PlatformModule for WidgetModule {
    fn name(&self) -> &'static str {
        "widgets"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn entity_loaders(&self) -> Vec<Arc<dyn EntityLoader>> {
        vec![Arc::new(self.0.clone())]
    }
}

pub struct Cell {
    pub app: TestApp,
    pub widgets: Widgets,
    _role: Option<testkit::AppRole>,
}

impl std::ops::Deref for Cell {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.app
    }
}

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
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
    let config = testkit::cell_config(db, TOML, &env)?;
    let widgets = Widgets::default();
    let modules: Vec<Box<dyn PlatformModule>> = vec![
        Box::new(iam::Iam::default()),
        Box::new(tenancy::Tenancy::default()),
        Box::new(auth::Auth::default()),
        Box::new(collab::Collab),
        Box::new(WidgetModule(widgets.clone())),
    ];
    Ok(Cell {
        app: TestApp::start(config, modules).await?,
        widgets,
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

/// The `id` of a created resource.
pub fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_default().to_owned()
}
