//! A test identity provider and a cell running tenancy behind it.
//!
//! Bearer tokens: `<user uuid>` (signed in, no active org), `<user uuid>:<org uuid>` (active
//! org; the role comes from `tenancy::role_in`, as a real authenticator would put it in the
//! token), and `key:<user>:<org>:<scope,scope>` (an API key of that user). Passwords and emails
//! live in an in-memory [`Directory`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{HttpRequest, get};
use kernel::http::{Authenticator, Caller, Role};
use kernel::sea_orm::{ConnectionTrait, Statement};
use kernel::{ApiError, CellContext, PlatformModule};
use serde_json::Value;
use testkit::{Backend, TestApp, TestDb};
use uuid::Uuid;

/// Users known to the test identity provider.
#[derive(Clone, Default)]
pub struct Directory(Arc<Mutex<HashMap<Uuid, (String, String)>>>);

impl Directory {
    fn get(&self, user: Uuid) -> Option<(String, String)> {
        self.0.lock().ok()?.get(&user).cloned()
    }
}

struct BearerAuth;

#[kernel::async_trait::async_trait(?Send)]
impl Authenticator for BearerAuth {
    async fn authenticate(
        &self,
        ctx: &CellContext,
        req: &HttpRequest,
    ) -> Result<Option<Caller>, kernel::http::Refused> {
        Ok(bearer_caller(ctx, req).await)
    }
}

async fn bearer_caller(ctx: &CellContext, req: &HttpRequest) -> Option<Caller> {
    let header = req.headers().get("authorization")?.to_str().ok()?;
    let token = header.strip_prefix("Bearer ")?;
    let parts: Vec<&str> = token.split(':').collect();
    let (key, parts) = match parts.first() {
        Some(&"key") => (true, &parts[1..]),
        _ => (false, &parts[..]),
    };
    let user = Uuid::parse_str(parts.first()?).ok()?;
    let mut caller = Caller::user(user);
    if let Some(org) = parts.get(1) {
        let org = Uuid::parse_str(org).ok()?;
        caller.org_id = Some(org);
        caller.role_name = tenancy::role_in(ctx.db(), user, org).await.ok()?;
        caller.role = caller
            .role_name
            .as_deref()
            .and_then(|r| Role::resolve(r, &ctx.config().cell.roles));
    }
    if key {
        caller.api_key_id = Some(Uuid::now_v7());
        caller.scopes = Some(
            parts
                .get(2)
                .unwrap_or(&"")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }
    Some(caller)
}

#[kernel::async_trait::async_trait(?Send)]
impl kernel::identity::UserDirectory for Directory {
    async fn email(&self, _ctx: &CellContext, user: Uuid) -> Result<Option<String>, ApiError> {
        Ok(self.get(user).map(|(e, _)| e))
    }

    async fn timezone(&self, _ctx: &CellContext, _user: Uuid) -> Result<Option<String>, ApiError> {
        Ok(None)
    }

    async fn confirm_password(
        &self,
        _ctx: &CellContext,
        user: Uuid,
        password: &str,
    ) -> Result<bool, ApiError> {
        Ok(self.get(user).is_some_and(|(_, p)| p == password))
    }
}

/// Provides [`BearerAuth`] as the cell's authenticator and the [`Directory`] of its users.
pub struct TestAuth(pub Directory);

#[kernel::async_trait::async_trait]
impl PlatformModule for TestAuth {
    fn name(&self) -> &'static str {
        "testauth"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn dependencies(&self) -> &'static [&'static str] {
        &["tenancy"]
    }
    fn authenticator(&self) -> Option<Arc<dyn Authenticator>> {
        Some(Arc::new(BearerAuth))
    }
    async fn on_ready(&self, ctx: &CellContext) -> anyhow::Result<()> {
        ctx.provide(kernel::identity::Users(Arc::new(self.0.clone())));
        Ok(())
    }
}

/// A module with a `document` namespace and one route guarded by [`kernel::http::Scoped`]: how
/// a module requires a permission.
pub struct Docs;

/// `document#view` on the `{id}` of the path.
pub struct ViewDocument;
impl kernel::http::Permission for ViewDocument {
    const NAMESPACE: &'static str = "document";
    const PERMISSION: &'static str = "view";
}

kernel::api_scope!(DocScope = "documents");
type ViewDoc = kernel::http::Scoped<ViewDocument, kernel::http::Read<DocScope>>;

/// Only a handler that extracted the proof can call this.
fn load(doc: &ViewDoc) -> Value {
    serde_json::json!({ "id": doc.object_id() })
}

#[utoipa::path(responses((status = 200), (status = 403)))]
#[get("/documents/{id}")]
async fn get_document(doc: ViewDoc) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(load(&doc))
}

#[kernel::async_trait::async_trait]
impl PlatformModule for Docs {
    fn name(&self) -> &'static str {
        "docs"
    }
    fn version(&self) -> &'static str {
        "0.0.1"
    }
    fn dependencies(&self) -> &'static [&'static str] {
        &["iam"]
    }
    fn permission_schema(&self) -> &'static str {
        "use expiration
        caveat in_network(ip ipaddress, cidr string) { ip.in_cidr(cidr) }
        caveat from_network(client_ip ipaddress, cidr string) { client_ip.in_cidr(cidr) }
        definition document {
            relation org: org
            relation owner: user
            relation viewer: user with expiration | user:* | team#member | role#member | user with in_network | user with from_network
            permission edit = owner + org->admin_access
            permission view = viewer + edit
        }"
    }
    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        cfg.service(get_document);
    }
}

pub const OPERATOR: &str = "operator-secret-token";

/// A running cell with tenancy, the test authenticator and the `sales_rep = "member"` alias.
/// On PostgreSQL it serves as an application role (no superuser, no BYPASSRLS), so row-level
/// security binds every query.
pub struct Cell {
    pub app: TestApp,
    pub users: Directory,
    pub role: Option<testkit::AppRole>,
}

impl Cell {
    pub async fn start(db: &TestDb) -> anyhow::Result<Self> {
        Self::start_with(db, "").await
    }

    pub async fn start_with(db: &TestDb, tenancy_settings: &str) -> anyhow::Result<Self> {
        let role = match db.backend() {
            Backend::Postgres => Some(testkit::AppRole::create().await?),
            Backend::Sqlite => None,
        };
        let mut env = vec![
            ("CELL__CELL__ADMIN_TOKEN", OPERATOR),
            ("CELL__JOBS__RUN", "false"),
            ("CELL__EVENTS__DISPATCH", "false"),
            ("CELL__RATE_LIMIT__ENABLED", "false"),
        ];
        if let Some(r) = &role {
            env.push(("CELL__DATABASE__APP_ROLE", r.name()));
        }
        let toml = format!(
            "[cell.roles]\nsales_rep = \"member\"\n[http]\npublic_url = \"https://app.example.test\"\n[modules.iam]\n[modules.tenancy]\n{tenancy_settings}\n[modules.testauth]\n[modules.docs]\n"
        );
        let users = Directory::default();
        let app = TestApp::start(
            testkit::cell_config(db, &toml, &env)?,
            vec![
                Box::new(iam::Iam::default()),
                Box::new(tenancy::Tenancy::default()),
                Box::new(TestAuth(users.clone())),
                Box::new(Docs),
            ],
        )
        .await?;
        Ok(Self { app, users, role })
    }

    /// Drops the database, then the application role (which the database's grants pin).
    pub async fn finish(self, mut db: TestDb) -> anyhow::Result<()> {
        db.drop_now().await?;
        drop(self);
        Ok(())
    }

    pub fn ctx(&self) -> &CellContext {
        &self.app.ctx
    }

    /// A new user with this email; their password is `pw:<email>`.
    pub fn user(&self, email: &str) -> Uuid {
        let id = Uuid::now_v7();
        if let Ok(mut map) = self.users.0.lock() {
            map.insert(id, (email.to_owned(), format!("pw:{email}")));
        }
        id
    }

    /// Creates an organization owned by `owner` over HTTP; returns its id.
    pub async fn org(&self, owner: Uuid, name: &str) -> anyhow::Result<Uuid> {
        let (status, body) = self
            .post(
                "/api/v1/organizations",
                &owner.to_string(),
                serde_json::json!({ "name": name }),
            )
            .await?;
        anyhow::ensure!(status == 201, "{status} {body}");
        Ok(Uuid::parse_str(body["id"].as_str().unwrap_or_default())?)
    }

    /// Adds `user` to `org` with `role` directly (test set-up, not the API under test).
    pub async fn join(&self, org: Uuid, user: Uuid, role: &str) -> anyhow::Result<()> {
        let tx = self.ctx().db().tenant(org).await?;
        tenancy::add_member(self.ctx(), &tx, user, role)
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let (status, json) = self
            .app
            .call(method.clone(), path, Some(token), body)
            .await?;
        anyhow::ensure!(status < 500, "{method} {path} answered {status}: {json}");
        if status >= 400 {
            anyhow::ensure!(
                json["error"]["code"].is_string() && json["error"]["request_id"].is_string(),
                "{method} {path}: {status} without the error envelope: {json}"
            );
        }
        Ok((status, json))
    }

    pub async fn get(&self, path: &str, token: &str) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::PUT, path, token, Some(body))
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::PATCH, path, token, Some(body))
            .await
    }

    pub async fn delete(&self, path: &str, token: &str) -> anyhow::Result<(u16, Value)> {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// Sends a raw body with `Content-Type: application/json`.
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: &str,
    ) -> anyhow::Result<(u16, Value)> {
        let res = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// Payloads of the events named `name` (any org), oldest first.
    pub async fn events(&self, name: &str) -> anyhow::Result<Vec<Value>> {
        self.app.events(name).await
    }

    /// The queued emails to `to`, oldest first: (template, subject, text).
    pub async fn mails(&self, to: &str) -> anyhow::Result<Vec<(String, String, String)>> {
        let db = self.ctx().db().system();
        let rows = db
            .conn()
            .query_all_raw(Statement::from_sql_and_values(
                db.backend(),
                "SELECT template, subject, text_body FROM kernel_emails WHERE to_addr = $1 ORDER BY id",
                [to.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("", "template")?,
                    r.try_get("", "subject")?,
                    r.try_get("", "text_body")?,
                ))
            })
            .collect()
    }

    /// The invitation token of the last email to `to` (from its accept link).
    pub async fn last_token(&self, to: &str) -> anyhow::Result<String> {
        let mails = self.mails(to).await?;
        let (_, _, text) = mails
            .last()
            .ok_or_else(|| anyhow::anyhow!("no mail to {to}"))?;
        let token = text
            .split("token=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .ok_or_else(|| anyhow::anyhow!("no token in {text}"))?;
        Ok(token.to_owned())
    }
}

/// `<user>:<org>`: the user with `org` active.
pub fn tok(user: Uuid, org: Uuid) -> String {
    format!("{user}:{org}")
}

/// The `error.details.fields` keys of an error body.
pub fn fields(body: &Value) -> Vec<String> {
    body["error"]["details"]["fields"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

pub fn id(body: &Value) -> anyhow::Result<Uuid> {
    Ok(Uuid::parse_str(body["id"].as_str().unwrap_or_default())?)
}
