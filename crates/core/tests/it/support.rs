//! Test modules (a tenant table with a list route, a dependent module, a panicking route) and
//! a typed client for a cell started in-process on port 0.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, HttpResponse, delete, get, post};
use kernel::http::{ListQuery, ListSpec, ValidJson, fetch_page};
use kernel::module::{ModuleSettings, PlatformModule, parse_settings};
use kernel::{ApiError, ApiResult, CellConfig, CellContext, TenantEntity};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr};
use sea_orm_migration::sea_query::{ColumnDef, Index, Table};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use testkit::TestDb;
use uuid::Uuid;

pub mod note {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        pub org_id: Uuid,
        pub title: String,
        pub priority: i32,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl TenantEntity for note::Entity {
    fn org_id_column() -> Self::Column {
        note::Column::OrgId
    }
}

/// A migration with a fixed name (the derive would name it after this file).
pub struct Migration {
    pub name: &'static str,
    pub sql: &'static str,
    pub tenant_table: Option<&'static str>,
}

impl MigrationName for Migration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if self.name.starts_with("notes_m20261121_000001") {
            manager
                .create_table(
                    Table::create()
                        .table("notes")
                        .col(ColumnDef::new("id").uuid().not_null().primary_key())
                        .col(ColumnDef::new("org_id").uuid().not_null())
                        .col(ColumnDef::new("title").string().not_null())
                        .col(ColumnDef::new("priority").integer().not_null())
                        .col(
                            ColumnDef::new("created_at")
                                .timestamp_with_time_zone()
                                .not_null(),
                        )
                        .to_owned(),
                )
                .await?;
            manager
                .create_index(
                    Index::create()
                        .name("notes_org_created")
                        .table("notes")
                        .col("org_id")
                        .col("created_at")
                        .to_owned(),
                )
                .await?;
        }
        if !self.sql.is_empty() {
            manager
                .get_connection()
                .execute_unprepared(self.sql)
                .await?;
        }
        if let Some(table) = self.tenant_table {
            kernel::db::enable_tenant_rls(manager.get_connection(), table).await?;
        }
        Ok(())
    }
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotesSettings {
    #[serde(default)]
    pub max_title: Option<u32>,
}

/// A tenant-owned module: `notes` table, list/create routes, a panicking route.
#[derive(Debug, Default)]
pub struct Notes {
    pub settings: NotesSettings,
}

#[async_trait::async_trait]
impl PlatformModule for Notes {
    fn name(&self) -> &'static str {
        "notes"
    }
    fn version(&self) -> &'static str {
        "1.2.3"
    }
    fn configure(&mut self, settings: &ModuleSettings) -> Result<(), String> {
        self.settings = parse_settings(settings)?;
        Ok(())
    }
    fn events(&self) -> Vec<kernel::events::EventDef> {
        vec![
            kernel::events::EventDef::of::<NoteCreated>(),
            kernel::events::EventDef::of::<NoteArchived>(),
        ]
    }
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(Migration {
            name: "notes_m20261121_000001_create_notes",
            sql: "",
            tenant_table: Some("notes"),
        })]
    }
    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        cfg.app_data(actix_web::web::Data::new(MaxTitle(
            self.settings.max_title.unwrap_or(100),
        )))
        .service(list_notes)
        .service(create_note)
        .service(delete_note)
        .service(boom);
    }
}

/// `notes.note.created`: the notes module's one typed event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NoteCreated {
    pub note_id: Uuid,
    pub title: String,
}

kernel::event!(
    NoteCreated,
    "notes.note.created",
    "A note was written.",
    "note",
    note_id
);

/// `notes.note.archived` (declared; the tests publish it untyped, with an empty payload).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NoteArchived {
    pub note_id: Uuid,
}

kernel::event!(
    NoteArchived,
    "notes.note.archived",
    "A note was archived.",
    "note",
    note_id
);

/// Records every event it receives (subscriber name, event id, and the typed payload of a
/// `notes.note.created`); fails while `fail` is set.
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<(&'static str, Uuid)>>>,
    pub created: std::sync::Arc<std::sync::Mutex<Vec<NoteCreated>>>,
    pub fail: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Recorder {
    pub fn seen(&self) -> Vec<(&'static str, Uuid)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn created(&self) -> Vec<NoteCreated> {
        self.created.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn set_failing(&self, fail: bool) {
        self.fail.store(fail, std::sync::atomic::Ordering::SeqCst);
    }
}

struct Subscriber {
    name: &'static str,
    recorder: Recorder,
}

#[async_trait::async_trait]
impl kernel::module::EventHandler for Subscriber {
    async fn handle(
        &self,
        _ctx: &CellContext,
        event: &kernel::module::DomainEvent,
    ) -> anyhow::Result<()> {
        if self.recorder.fail.load(std::sync::atomic::Ordering::SeqCst) {
            anyhow::bail!("subscriber {} is down", self.name);
        }
        self.recorder
            .seen
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .push((self.name, event.id));
        if let Some(created) = event.payload_as::<NoteCreated>() {
            self.recorder
                .created
                .lock()
                .map_err(|_| anyhow::anyhow!("poisoned"))?
                .push(created);
        }
        Ok(())
    }
}

/// Subscribes `watcher.exact` to `notes.note.created` and `watcher.wide` to `notes.*`.
#[derive(Clone, Default)]
pub struct Watcher {
    pub recorder: Recorder,
}

#[async_trait::async_trait]
impl PlatformModule for Watcher {
    fn name(&self) -> &'static str {
        "watcher"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn event_subscriptions(&self) -> Vec<kernel::module::EventSubscription> {
        ["exact", "wide"]
            .into_iter()
            .zip(["notes.note.created", "notes.*"])
            .map(|(name, pattern)| kernel::module::EventSubscription {
                name,
                pattern,
                handler: std::sync::Arc::new(Subscriber {
                    name,
                    recorder: self.recorder.clone(),
                }),
            })
            .collect()
    }
}

/// The `max_title` setting, handed to the handlers.
pub struct MaxTitle(pub u32);

/// Depends on notes; optionally ships a second migration (a new release while disabled).
#[derive(Debug, Default)]
pub struct Tags {
    pub second_migration: bool,
}

#[async_trait::async_trait]
impl PlatformModule for Tags {
    fn name(&self) -> &'static str {
        "tags"
    }
    fn version(&self) -> &'static str {
        "0.1.0"
    }
    fn dependencies(&self) -> &'static [&'static str] {
        &["notes"]
    }
    fn migrations(&self) -> Vec<Box<dyn MigrationTrait>> {
        let mut v: Vec<Box<dyn MigrationTrait>> = vec![Box::new(Migration {
            name: "tags_m20261121_000001_create_tags",
            sql: "CREATE TABLE tags (id INTEGER PRIMARY KEY, label TEXT NOT NULL)",
            tenant_table: None,
        })];
        if self.second_migration {
            v.push(Box::new(Migration {
                name: "tags_m20261122_000001_add_colour",
                sql: "ALTER TABLE tags ADD COLUMN colour TEXT",
                tenant_table: None,
            }));
        }
        v
    }
    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        cfg.service(list_tags);
    }
}

/// The caller's org. Test-only: real cells take it from the access token (auth module).
pub struct TestOrg(pub Uuid);

impl FromRequest for TestOrg {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(
            req.headers()
                .get("x-org-id")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| Uuid::parse_str(v).ok())
                .map(TestOrg)
                .ok_or_else(|| ApiError::unauthorized("x-org-id is required")),
        )
    }
}

/// Notes of the caller's org, paginated.
#[utoipa::path(tag = "notes", responses((status = 200, description = "a page of notes")))]
#[get("/notes")]
async fn list_notes(ctx: CellContext, org: TestOrg, q: ListQuery) -> ApiResult<HttpResponse> {
    let spec = ListSpec::<note::Entity>::new()
        .field("title", note::Column::Title)
        .field("priority", note::Column::Priority)
        .field("created_at", note::Column::CreatedAt)
        .search([note::Column::Title])
        .default_sort(note::Column::CreatedAt, true)
        .tiebreak(note::Column::Id);
    let tx = ctx.db().tenant(org.0).await?;
    let repo = tx.repo::<note::Entity>();
    let page = fetch_page(spec.apply(&q, repo.find())?, &q, repo.conn()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Debug, serde::Deserialize, garde::Validate)]
pub struct NewNote {
    #[garde(length(min = 1, max = 100))]
    pub title: String,
    #[garde(range(min = 0, max = 5))]
    pub priority: i32,
}

/// Creates a note in the caller's org.
#[utoipa::path(tag = "notes", responses((status = 201, description = "created")))]
#[post("/notes")]
async fn create_note(
    ctx: CellContext,
    org: TestOrg,
    max: actix_web::web::Data<MaxTitle>,
    body: ValidJson<NewNote>,
) -> ApiResult<HttpResponse> {
    let ValidJson(new) = body;
    if new.title.chars().count() > max.0 as usize {
        return Err(ApiError::new(
            kernel::ErrorCode::ValidationFailed,
            format!("title is longer than {} characters", max.0),
        ));
    }
    let tx = ctx.db().tenant(org.0).await?;
    let model = tx
        .repo::<note::Entity>()
        .insert(note::ActiveModel {
            id: Set(Uuid::now_v7()),
            title: Set(new.title),
            priority: Set(new.priority),
            created_at: Set(chrono::Utc::now()),
            ..Default::default()
        })
        .await?;
    let created = NoteCreated {
        note_id: model.id,
        title: model.title.clone(),
    };
    ctx.events().emit(&tx, None, &created).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(model))
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
pub struct NotePath {
    pub id: Uuid,
}

/// Deletes a note of the caller's org.
#[utoipa::path(tag = "notes", params(NotePath), responses((status = 204, description = "deleted")))]
#[delete("/notes/{id}")]
async fn delete_note(
    ctx: CellContext,
    org: TestOrg,
    path: actix_web::web::Path<NotePath>,
) -> ApiResult<HttpResponse> {
    let tx = ctx.db().tenant(org.0).await?;
    let deleted = tx.repo::<note::Entity>().delete(path.id).await?;
    tx.commit().await?;
    match deleted {
        true => Ok(HttpResponse::NoContent().finish()),
        false => Err(ApiError::not_found("no such note")),
    }
}

/// Test authenticator: the caller is named by headers — `x-test-user`, `x-test-org`,
/// `x-test-role` (a platform role), `x-test-key` (an API key id) and `x-test-scopes`
/// (comma-separated; only with a key).
pub struct HeaderCaller;

#[async_trait::async_trait(?Send)]
impl kernel::http::Authenticator for HeaderCaller {
    async fn authenticate(
        &self,
        _ctx: &CellContext,
        req: &HttpRequest,
    ) -> Result<Option<kernel::http::Caller>, kernel::http::Refused> {
        Ok(header_caller(req))
    }
}

fn header_caller(req: &HttpRequest) -> Option<kernel::http::Caller> {
    let text = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let id = |name: &str| text(name).and_then(|v| Uuid::parse_str(v).ok());
    let role_name = text("x-test-role").map(str::to_owned);
    let key = id("x-test-key");
    if let (Some(user), Some(org), Some(role)) = (
        id("x-test-user"),
        id("x-test-org"),
        role_name.as_deref().and_then(kernel::http::Role::parse),
    ) {
        header_roles()
            .lock()
            .map(|mut m| m.insert((org, user), role))
            .ok();
    }
    Some(kernel::http::Caller {
        org_id: id("x-test-org"),
        role: role_name.as_deref().and_then(kernel::http::Role::parse),
        role_name,
        api_key_id: key,
        scopes: key.map(|_| {
            text("x-test-scopes")
                .unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }),
        ..kernel::http::Caller::user(id("x-test-user")?)
    })
}

/// The role each (org, user) last named in `x-test-role`: the test cell's stand-in for a
/// permission graph (the real one, iam's, is tested with the modules that use it).
fn header_roles()
-> &'static std::sync::Mutex<std::collections::HashMap<(Uuid, Uuid), kernel::http::Role>> {
    static ROLES: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<(Uuid, Uuid), kernel::http::Role>>,
    > = std::sync::OnceLock::new();
    ROLES.get_or_init(Default::default)
}

/// Test authorizer: `org#admin_access` for admins and owners, `member_access` for members and
/// up, `viewer_access` for everyone, by the role the caller's headers last named.
pub struct HeaderRoles;

#[async_trait::async_trait(?Send)]
impl kernel::http::Authorizer for HeaderRoles {
    async fn check(
        &self,
        _ctx: &CellContext,
        tx: &kernel::TenantTx,
        asker: &kernel::http::Asker,
        namespace: &str,
        object_id: &str,
        permission: &str,
    ) -> Result<bool, ApiError> {
        use kernel::http::Role;
        let user = asker.user;
        if namespace != "org" || object_id != tx.org_id().to_string() {
            return Ok(false);
        }
        let role = header_roles()
            .lock()
            .ok()
            .and_then(|m| m.get(&(tx.org_id(), user)).copied());
        let min = match permission {
            "admin_access" => Role::Admin,
            "member_access" => Role::Member,
            _ => Role::Viewer,
        };
        Ok(role.is_some_and(|r| r >= min))
    }

    /// The users whose headers last named a role at least `permission`'s, in the org.
    async fn holders(
        &self,
        _ctx: &CellContext,
        tx: &kernel::TenantTx,
        namespace: &str,
        object_id: &str,
        permission: &str,
    ) -> Result<Vec<Uuid>, ApiError> {
        use kernel::http::Role;
        if namespace != "org" || object_id != tx.org_id().to_string() {
            return Ok(Vec::new());
        }
        let min = match permission {
            "admin_access" => Role::Admin,
            "member_access" => Role::Member,
            _ => Role::Viewer,
        };
        let roles = header_roles().lock().map(|m| m.clone()).unwrap_or_default();
        Ok(roles
            .into_iter()
            .filter(|((org, _), r)| *org == tx.org_id() && *r >= min)
            .map(|((_, user), _)| user)
            .collect())
    }
}

/// Provides [`HeaderCaller`] as the cell's authenticator and [`HeaderRoles`] as its authorizer.
pub struct Callers;

#[async_trait::async_trait]
impl PlatformModule for Callers {
    fn name(&self) -> &'static str {
        "callers"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn authenticator(&self) -> Option<std::sync::Arc<dyn kernel::http::Authenticator>> {
        Some(std::sync::Arc::new(HeaderCaller))
    }
    fn authorizer(&self) -> Option<std::sync::Arc<dyn kernel::http::Authorizer>> {
        Some(std::sync::Arc::new(HeaderRoles))
    }
}

/// Someone calling the test cell through [`HeaderCaller`] (and the notes' `x-org-id`).
#[derive(Debug, Clone, Copy)]
pub struct Actor {
    pub user: Uuid,
    pub org: Uuid,
    pub role: &'static str,
    pub key: Option<Uuid>,
    pub scopes: &'static str,
}

impl Actor {
    pub fn new(org: Uuid, role: &'static str) -> Self {
        Self {
            user: Uuid::now_v7(),
            org,
            role,
            key: None,
            scopes: "",
        }
    }

    /// The same user through an API key with `scopes`.
    pub fn with_key(self, scopes: &'static str) -> Self {
        Self {
            key: Some(Uuid::now_v7()),
            scopes,
            ..self
        }
    }

    pub fn request(
        &self,
        app: &TestApp,
        method: reqwest::Method,
        path: &str,
    ) -> reqwest::RequestBuilder {
        let mut r = app
            .client
            .request(method, app.url(path))
            .header("x-test-user", self.user.to_string())
            .header("x-test-org", self.org.to_string())
            .header("x-test-role", self.role)
            .header("x-org-id", self.org.to_string());
        if let Some(key) = self.key {
            r = r
                .header("x-test-key", key.to_string())
                .header("x-test-scopes", self.scopes);
        }
        r
    }
}

#[utoipa::path(tag = "notes", responses((status = 500, description = "always panics")))]
#[get("/boom")]
async fn boom() -> HttpResponse {
    let items: Vec<u8> = std::hint::black_box(Vec::new());
    match items.first() {
        Some(b) => HttpResponse::Ok().body(vec![*b]),
        None => panic!("the handler exploded"),
    }
}

#[utoipa::path(tag = "tags", responses((status = 200, description = "ok")))]
#[get("/tags")]
async fn list_tags() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"data": []}))
}

/// The configuration of a test cell on `db`: `toml` after `[cell]`, port 0, one worker.
pub fn config(db: &TestDb, toml: &str, extra_env: &[(&str, &str)]) -> anyhow::Result<CellConfig> {
    testkit::cell_config(db, toml, extra_env)
}

pub const NOTES_AND_TAGS: &str = "[modules.notes]\n[modules.tags]\n";

/// A cell running in this process, with a client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub ctx: CellContext,
}

impl TestApp {
    pub async fn spawn(db: &TestDb, toml: &str) -> anyhow::Result<Self> {
        Self::spawn_with(
            db,
            toml,
            &[],
            vec![Box::new(Notes::default()), Box::new(Tags::default())],
        )
        .await
    }

    pub async fn spawn_with(
        db: &TestDb,
        toml: &str,
        env: &[(&str, &str)],
        modules: Vec<Box<dyn PlatformModule>>,
    ) -> anyhow::Result<Self> {
        let app = testkit::TestApp::start(config(db, toml, env)?, modules).await?;
        Ok(Self {
            base: app.base,
            client: app.client,
            ctx: app.ctx,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self.client.get(self.url(path)).send().await?)
    }

    pub async fn get_as(&self, org: Uuid, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .client
            .get(self.url(path))
            .header("x-org-id", org.to_string())
            .send()
            .await?)
    }

    pub async fn create_note(
        &self,
        org: Uuid,
        title: &str,
        priority: i32,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .client
            .post(self.url("/api/v1/notes"))
            .header("x-org-id", org.to_string())
            .json(&serde_json::json!({"title": title, "priority": priority}))
            .send()
            .await?)
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .client
            .post(self.url(path))
            .header("x-org-id", Uuid::now_v7().to_string())
            .header("content-type", content_type)
            .body(body)
            .send()
            .await?)
    }
}

/// Checks a response is the error envelope with `status` and `code`, stamped with the request id
/// the response header carries. Returns the `error` object.
pub async fn expect_error(
    res: reqwest::Response,
    status: u16,
    code: &str,
) -> anyhow::Result<serde_json::Value> {
    assert_eq!(res.status().as_u16(), status, "status of {}", res.url());
    let header_id = res
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(!header_id.is_empty(), "no x-request-id header");
    let body: serde_json::Value = res.json().await?;
    let error = body["error"].clone();
    assert_eq!(error["code"], code, "{body}");
    assert_eq!(error["request_id"], header_id.as_str(), "{body}");
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let ts = error["timestamp"].as_str().unwrap_or_default();
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{body}");
    Ok(error)
}
