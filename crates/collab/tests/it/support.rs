//! A cell of iam, tenancy, auth and collab, plus `widgets`: a module declared here, that collab
//! has never heard of, whose entities get tags and notes by declaring a loader.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use kernel::http::Caller;
use kernel::module::{EntityLoader, EntityRef, EntitySummary};
use kernel::{ApiError, CellContext, PlatformModule, TenantTx};
use serde_json::Value;
use testkit::{TestApp, TestDb};
use uuid::Uuid;

pub use testcell::{org, user};

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

/// The cell, and the widgets its test module declares.
pub struct Cell {
    pub cell: testcell::Cell,
    pub widgets: Widgets,
}

impl std::ops::Deref for Cell {
    type Target = TestApp;

    fn deref(&self) -> &TestApp {
        &self.cell
    }
}

pub async fn cell(db: &TestDb) -> anyhow::Result<Cell> {
    let widgets = Widgets::default();
    let modules: Vec<Box<dyn PlatformModule>> = vec![
        Box::new(collab::Collab),
        Box::new(WidgetModule(widgets.clone())),
    ];
    Ok(Cell {
        cell: testcell::start(db, TOML, modules).await?,
        widgets,
    })
}

/// The `id` of a created resource.
pub fn id(body: &Value) -> String {
    body["id"].as_str().unwrap_or_default().to_owned()
}
