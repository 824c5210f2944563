//! A cell of iam, tenancy, auth and collab, plus `widgets`: a module declared here, that collab
//! has never heard of, whose entities get tags and notes by declaring a loader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use kernel::http::Caller;
use kernel::module::{
    Documents, EntityLoader, EntityRef, EntitySummary, EntityTrash, SearchDocument, Trashed,
};
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

/// A widget: its name, and when it went to the trash.
#[derive(Clone)]
struct Widget {
    name: String,
    deleted_at: Option<DateTime<Utc>>,
}

/// The widgets of each org (they live in memory: what matters is the loader).
#[derive(Clone, Default)]
pub struct Widgets(Arc<Mutex<HashMap<Uuid, HashMap<Uuid, Widget>>>>);

impl Widgets {
    pub fn add(&self, org: Uuid) -> Uuid {
        let id = Uuid::now_v7();
        self.add_named(org, id, &format!("Widget {id}"));
        id
    }

    /// A widget of `org` with this id and name (search finds it by the name).
    pub fn add_named(&self, org: Uuid, id: Uuid, name: &str) {
        if let Ok(mut all) = self.0.lock() {
            let widget = Widget {
                name: name.into(),
                deleted_at: None,
            };
            all.entry(org).or_default().insert(id, widget);
        }
    }

    /// Moves a widget to the trash, `days_ago` days ago (as its module's DELETE would have).
    pub fn trash(&self, org: Uuid, id: Uuid, days_ago: i64) {
        if let Ok(mut all) = self.0.lock()
            && let Some(w) = all.entry(org).or_default().get_mut(&id)
        {
            w.deleted_at = Some(Utc::now() - chrono::Duration::days(days_ago));
        }
    }

    /// Whether the widget still exists (live or in the trash).
    pub fn exists(&self, org: Uuid, id: Uuid) -> bool {
        self.all(org).contains_key(&id)
    }

    fn all(&self, org: Uuid) -> HashMap<Uuid, Widget> {
        self.0
            .lock()
            .map(|all| all.get(&org).cloned().unwrap_or_default())
            .unwrap_or_default()
    }

    fn live(&self, org: Uuid) -> HashMap<Uuid, Widget> {
        let mut all = self.all(org);
        all.retain(|_, w| w.deleted_at.is_none());
        all
    }
}

fn summary(id: Uuid, w: &Widget) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: "widget".into(),
            id,
        },
        title: w.name.clone(),
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
        let mine = self.live(tx.org_id());
        Ok(ids
            .iter()
            .filter_map(|id| mine.get(id).map(|w| summary(*id, w)))
            .collect())
    }

    async fn count(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
    ) -> Result<u64, ApiError> {
        Ok(self.live(tx.org_id()).len() as u64)
    }

    /// A widget named "Locked …" is seen by everyone and linked by no one.
    async fn may_link(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        id: Uuid,
    ) -> Result<bool, ApiError> {
        let mine = self.live(tx.org_id());
        Ok(!mine.get(&id).is_some_and(|w| w.name.starts_with("Locked")))
    }

    async fn documents(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let mine = self.live(tx.org_id());
        let mut ids: Vec<Uuid> = match which {
            Documents::Ids(ids) => ids.to_vec(),
            Documents::After { after, .. } => mine
                .keys()
                .filter(|id| Some(**id) > after)
                .copied()
                .collect(),
        };
        ids.sort();
        if let Documents::After { limit, .. } = which {
            ids.truncate(limit as usize);
        }
        Ok(ids
            .into_iter()
            .filter_map(|id| {
                mine.get(&id).map(|w| SearchDocument {
                    id,
                    title: w.name.clone(),
                    body: String::new(),
                })
            })
            .collect())
    }

    fn trash(&self) -> Option<&dyn EntityTrash> {
        Some(self)
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityTrash for Widgets {
    async fn trashed(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Trashed>, ApiError> {
        let mut out: Vec<Trashed> = self
            .all(tx.org_id())
            .iter()
            .filter_map(|(id, w)| {
                let at = w.deleted_at?;
                let after_cursor = before.is_none_or(|b| (at, *id) < b);
                after_cursor.then(|| Trashed {
                    summary: summary(*id, w),
                    deleted_at: at,
                })
            })
            .collect();
        out.sort_by(|a, b| {
            (b.deleted_at, b.summary.entity.id).cmp(&(a.deleted_at, a.summary.entity.id))
        });
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn restore(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        id: Uuid,
    ) -> Result<Option<EntitySummary>, ApiError> {
        let Ok(mut all) = self.0.lock() else {
            return Ok(None);
        };
        Ok(all
            .entry(tx.org_id())
            .or_default()
            .get_mut(&id)
            .filter(|w| w.deleted_at.is_some())
            .map(|w| {
                w.deleted_at = None;
                summary(id, w)
            }))
    }

    async fn purge(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, ApiError> {
        let Ok(mut all) = self.0.lock() else {
            return Ok(Vec::new());
        };
        let mine = all.entry(tx.org_id()).or_default();
        let gone: Vec<Uuid> = ids
            .iter()
            .filter(|id| mine.get(id).is_some_and(|w| w.deleted_at.is_some()))
            .copied()
            .collect();
        for id in &gone {
            mine.remove(id);
        }
        Ok(gone)
    }

    async fn expired(
        &self,
        _ctx: &CellContext,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        let Ok(all) = self.0.lock() else {
            return Ok(Vec::new());
        };
        Ok(all
            .iter()
            .flat_map(|(org, ws)| {
                ws.iter()
                    .filter(|(_, w)| w.deleted_at.is_some_and(|at| at < cutoff))
                    .map(|(id, _)| (*org, *id))
            })
            .take(limit as usize)
            .collect())
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
        Box::new(collab::Collab::default()),
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

/// Delivers every pending event to its subscribers (dispatch is off in test cells).
pub async fn deliver(cell: &Cell) -> anyhow::Result<()> {
    while cell.ctx.events().dispatch_once(&cell.ctx).await? > 0 {}
    Ok(())
}

/// Rows of `table` of `org` about the entity `id` (`column` names it), read in the org's
/// transaction (as row security lets the app see them).
pub async fn rows_about(
    cell: &Cell,
    org: Uuid,
    table: &str,
    column: &str,
    id: Uuid,
) -> anyhow::Result<i64> {
    use kernel::sea_orm::{ConnectionTrait, Statement};
    let tx = cell.ctx.db().tenant(org).await?;
    let conn = tx.unscoped();
    let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE org_id = $1 AND {column} = $2");
    let statement =
        Statement::from_sql_and_values(conn.get_database_backend(), sql, [org.into(), id.into()]);
    let row = conn
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no count"))?;
    tx.commit().await?;
    Ok(row.try_get::<i64>("", "n")?)
}
