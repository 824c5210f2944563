//! The audit log: an append-only record of every mutating request and of the events modules
//! report (sign-ins, permission changes, exports), in the kernel table `audit_log`.
//!
//! - The kernel's middleware records every successful (`< 400`) `POST`/`PUT`/`PATCH`/`DELETE`
//!   to a module route made by a caller with an active org: action `"<METHOD> <route pattern>"`,
//!   the resource segment of the pattern as entity type, the `{id}` after it as entity id,
//!   status, actor, IP, user agent, request id. Bodies are never recorded (they hold passwords
//!   and tokens).
//! - Modules add richer entries (with `changes`) through `ctx.audit()`: [`Audit::record`] inside
//!   their transaction (the entry commits with the change), or [`Audit::record_request`], which
//!   also fills in the caller and request and tells the middleware not to add its generic entry.
//! - No code path updates or deletes entries: the application role may only `SELECT` and
//!   `INSERT` them, and triggers refuse `UPDATE`/`DELETE` (and `TRUNCATE`) for everyone.
//! - The routes are the [`AuditApi`] module's, which the kernel links into every cell: a cell
//!   that lists `[modules.audit]` serves them under its prefix (`/api/v1` unless its
//!   `route_prefix` says otherwise), like any module's. `GET …/audit` lists the caller's org's
//!   entries to admins; `POST …/audit/export` enqueues the `kernel.audit_export` job, which
//!   writes a CSV to storage; `GET …/audit/export/{id}` answers its status and a signed download
//!   URL. Recording does not depend on the module: every cell keeps its audit log.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::context::CellContext;
use crate::db::{TenantEntity, TenantTx};
use crate::error::{ApiError, ApiResult};
use crate::http::list::{ListQuery, ListSpec, Page, fetch_page};
use crate::http::{AdministerOrg, Caller, Read, RequestInfo, Scoped, ValidJson, Write};
use crate::jobs::Job;
use crate::module::JobHandler;
use crate::queue::stmt;
use crate::storage::ObjectKey;

/// The job that writes an export.
pub(crate) const EXPORT_JOB: &str = "kernel.audit_export";

/// The `audit_log` table.
pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// `None` only for events outside any org (a failed sign-in for an unknown email);
        /// such rows are visible to the kernel's system context only.
        pub org_id: Option<Uuid>,
        pub actor_user_id: Option<Uuid>,
        pub actor_api_key_id: Option<Uuid>,
        pub action: String,
        pub entity_type: Option<String>,
        pub entity_id: Option<String>,
        #[sea_orm(column_type = "JsonBinary", nullable)]
        pub changes: Option<Json>,
        pub ip: Option<String>,
        pub user_agent: Option<String>,
        pub request_id: Option<String>,
        pub status: Option<i32>,
        pub created_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

impl TenantEntity for entity::Entity {
    fn org_id_column() -> Self::Column {
        entity::Column::OrgId
    }
}

/// One entry to record. Build it with [`AuditEntry::new`] and the setters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditEntry {
    pub org_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    /// What happened: `"POST /api/v1/notes"`, `"auth.login_failed"`, `"iam.role_granted"`.
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    /// What changed (`{"title": {"from": "a", "to": "b"}}`); never secrets.
    pub changes: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// The HTTP status of the request, when the entry is about one.
    pub status: Option<u16>,
}

impl AuditEntry {
    pub fn new(action: impl Into<String>) -> Self {
        Self {
            action: action.into(),
            ..Self::default()
        }
    }

    pub fn org(mut self, org_id: Uuid) -> Self {
        self.org_id = Some(org_id);
        self
    }

    /// The caller as actor (user, API key); also its active org when none is set yet.
    pub fn actor(mut self, caller: &Caller) -> Self {
        self.actor_user_id = Some(caller.user_id);
        self.actor_api_key_id = caller.api_key_id;
        if self.org_id.is_none() {
            self.org_id = caller.org_id;
        }
        self
    }

    pub fn entity(mut self, kind: impl Into<String>, id: impl ToString) -> Self {
        self.entity_type = Some(kind.into());
        self.entity_id = Some(id.to_string());
        self
    }

    pub fn changes(mut self, changes: serde_json::Value) -> Self {
        self.changes = Some(changes);
        self
    }

    /// The request's id, client IP and user agent.
    pub fn request(mut self, info: &RequestInfo) -> Self {
        self.request_id = info.request_id.clone();
        self.ip = info.ip.map(|ip| ip.to_string());
        self.user_agent = info.user_agent.clone();
        self
    }

    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

/// Marks a request whose handler recorded its own entry; the middleware then adds none.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Audited;

fn clip(value: Option<String>, max: usize) -> Option<String> {
    value.map(|v| v.chars().take(max).collect())
}

/// The audit service. Cheap to clone; reach it with `ctx.audit()`.
#[derive(Debug, Clone, Default)]
pub struct Audit;

impl Audit {
    /// Appends `entry` through `conn`: inside a module's transaction the entry commits (or
    /// rolls back) with the change. On PostgreSQL an entry of an org must be written in that
    /// org's context (`tx.unscoped()` of [`crate::Db::tenant`]); entries without an org may be
    /// written from any connection. Returns the entry's id.
    pub async fn record<C: ConnectionTrait>(
        &self,
        conn: &C,
        entry: AuditEntry,
    ) -> Result<Uuid, DbErr> {
        let action: String = entry.action.trim().chars().take(255).collect();
        if action.is_empty() {
            return Err(DbErr::Custom("an audit entry needs an action".into()));
        }
        let id = Uuid::now_v7();
        let model = entity::ActiveModel {
            id: Set(id),
            org_id: Set(entry.org_id),
            actor_user_id: Set(entry.actor_user_id),
            actor_api_key_id: Set(entry.actor_api_key_id),
            action: Set(action),
            entity_type: Set(clip(entry.entity_type, 100)),
            entity_id: Set(clip(entry.entity_id, 255)),
            changes: Set(entry.changes),
            ip: Set(clip(entry.ip, 64)),
            user_agent: Set(clip(entry.user_agent, 512)),
            request_id: Set(clip(entry.request_id, 128)),
            status: Set(entry.status.map(i32::from)),
            created_at: Set(Utc::now()),
        };
        // No RETURNING: rows without an org are not readable outside the system context.
        entity::Entity::insert(model)
            .exec_without_returning(conn)
            .await?;
        Ok(id)
    }

    /// Appends `entry` in a tenant transaction, as an entry of that transaction's org.
    pub async fn record_in(&self, tx: &TenantTx, entry: AuditEntry) -> Result<Uuid, DbErr> {
        if entry.org_id.is_some_and(|o| o != tx.org_id()) {
            return Err(DbErr::Custom(format!(
                "refusing to record an audit entry of another org in the scope of org {}",
                tx.org_id()
            )));
        }
        self.record(
            // unscoped: the audit log is the kernel's, written in the change's transaction with tx's org
            tx.unscoped(),
            AuditEntry {
                org_id: Some(tx.org_id()),
                ..entry
            },
        )
        .await
    }

    /// The request-path entry point: fills in the request (id, IP, user agent) and the caller
    /// (actor, and org when `entry` has none), appends through `conn`, and marks the request so
    /// the middleware adds no generic entry for it. `caller` is `None` for anonymous events
    /// (a failed sign-in).
    pub async fn record_request<C: ConnectionTrait>(
        &self,
        conn: &C,
        req: &HttpRequest,
        caller: Option<&Caller>,
        entry: AuditEntry,
    ) -> Result<Uuid, DbErr> {
        let mut entry = entry.request(&RequestInfo::of(req));
        if let Some(caller) = caller {
            entry = entry.actor(caller);
        }
        let id = self.record(conn, entry).await?;
        req.extensions_mut().insert(Audited);
        Ok(id)
    }
}

/// The audit log's API, as a module the kernel links into every cell (`[modules.audit]` turns it
/// on): the list, the CSV export and its status. The log itself, its table and the export job
/// are the kernel's and exist in every cell.
#[derive(Debug, Default)]
pub struct AuditApi;

#[async_trait::async_trait]
impl crate::module::PlatformModule for AuditApi {
    fn name(&self) -> &'static str {
        "audit"
    }

    fn version(&self) -> &'static str {
        env!("CARGO_PKG_VERSION")
    }

    fn routes(&self, cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
        cfg.service(list_audit)
            .service(export_audit)
            .service(export_status);
    }
}

crate::api_scope!(
    /// The audit log and its exports: `audit:read`, `audit:write` (an export).
    pub AuditLog = "audit"
);

/// The kernel's own routes (and everything under them), never recorded generically.
const KERNEL_PATHS: [&str; 5] = ["/admin", "/storage", "/health", "/metrics", "/api-docs"];

/// The entity of a module route pattern: the first segment after the longest module prefix
/// (`notes` of `/api/v1/notes/{id}/comments`), and the name of the placeholder right after it
/// (`id`), whose value is the entity id.
fn entity_of(ctx: &CellContext, pattern: &str) -> Option<(String, Option<String>)> {
    if KERNEL_PATHS.iter().any(|k| {
        pattern
            .strip_prefix(k)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }) {
        return None;
    }
    let prefix = ctx
        .modules()
        .iter()
        .map(|m| m.route_prefix.trim_end_matches('/'))
        .filter(|p| {
            pattern
                .strip_prefix(*p)
                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
        })
        .max_by_key(|p| p.len())?;
    let mut segments = pattern[prefix.len()..]
        .split('/')
        .filter(|s| !s.is_empty())
        .skip_while(|s| s.starts_with('{'));
    let resource = segments.next()?.to_owned();
    let next = segments
        .next()
        .and_then(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|s| s.split(':').next().unwrap_or(s).to_owned());
    Some((resource, next))
}

/// Records every successful mutating request to a module route by a caller with an org.
/// Runs inside `identify_and_limit`, so the caller is known.
pub(crate) async fn record_mutations(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let mutating = matches!(
        *req.method(),
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    );
    let res = next.call(req).await?.map_into_boxed_body();
    if !mutating || res.status().as_u16() >= 400 {
        return Ok(res);
    }
    let http = res.request();
    if http.extensions().get::<Audited>().is_some() {
        return Ok(res);
    }
    let (Some(ctx), Some(caller), Some(pattern)) = (
        http.app_data::<CellContext>(),
        http.extensions().get::<Caller>().cloned(),
        http.match_pattern(),
    ) else {
        return Ok(res);
    };
    let (Some(org), Some((resource, param))) = (caller.org_id, entity_of(ctx, &pattern)) else {
        return Ok(res);
    };
    let id = param.and_then(|p| http.match_info().get(&p).map(str::to_owned));
    let mut entry = AuditEntry::new(format!("{} {pattern}", http.method()))
        .actor(&caller)
        .request(&RequestInfo::of(http))
        .status(res.status().as_u16());
    entry.entity_type = Some(resource);
    entry.entity_id = id;
    // One statement on the kernel's system connection (the log's policy admits it), instead of
    // a transaction of the org's own: the request's change has committed already, and a
    // transaction would cost a BEGIN and a COMMIT more on its path.
    let written = ctx
        .audit()
        .record(ctx.db().system().conn(), entry.org(org))
        .await;
    if let Err(e) = written {
        metrics::counter!("audit_write_failures_total").increment(1);
        tracing::error!(error = %e, route = %pattern, "the audit entry of a request could not be written");
    }
    Ok(res)
}

/// An audit entry as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AuditRecord {
    pub id: Uuid,
    pub org_id: Option<Uuid>,
    pub actor_user_id: Option<Uuid>,
    pub actor_api_key_id: Option<Uuid>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<String>,
    pub changes: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub status: Option<i32>,
    pub timestamp: DateTime<Utc>,
}

impl From<entity::Model> for AuditRecord {
    fn from(m: entity::Model) -> Self {
        Self {
            id: m.id,
            org_id: m.org_id,
            actor_user_id: m.actor_user_id,
            actor_api_key_id: m.actor_api_key_id,
            action: m.action,
            entity_type: m.entity_type,
            entity_id: m.entity_id,
            changes: m.changes,
            ip: m.ip,
            user_agent: m.user_agent,
            request_id: m.request_id,
            status: m.status,
            timestamp: m.created_at,
        }
    }
}

/// An RFC 3339 time, or a date (`YYYY-MM-DD`, midnight UTC; with `end_of_day`, the next
/// midnight, so a `to` date includes that day).
fn parse_time(raw: &str, end_of_day: bool) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Some(t.with_timezone(&Utc));
    }
    let day = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
    let day = if end_of_day { day.succ_opt()? } else { day };
    Some(day.and_hms_opt(0, 0, 0)?.and_utc())
}

/// `[from, to)`, either end open.
type TimeRange = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// The shortcut filters of `GET /audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditFilters {
    /// Only entries about this entity type (`document`).
    pub entity_type: Option<String>,
    /// Only entries about this entity id (with or without `entity_type`).
    pub entity_id: Option<String>,
    /// Only entries made by this user.
    pub actor_id: Option<Uuid>,
    /// From this time (RFC 3339) or date (`2025-01-01`), inclusive.
    pub from: Option<String>,
    /// Up to this time, exclusive; a date includes that whole day.
    pub to: Option<String>,
}

impl AuditFilters {
    /// Reads the filters from a query string; keys that are neither filters nor list keys are
    /// refused, so a typo never returns the unfiltered log.
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut f = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "page" | "limit" | "sort" | "search" => {}
                k if k.starts_with("filter[") => {}
                "entity_type" => f.entity_type = Some(value),
                "entity_id" => f.entity_id = Some(value),
                "actor_id" => {
                    f.actor_id = Some(
                        Uuid::parse_str(&value)
                            .map_err(|_| ApiError::invalid_query("`actor_id` expects a UUID"))?,
                    )
                }
                "from" => f.from = Some(value),
                "to" => f.to = Some(value),
                other => {
                    return Err(ApiError::invalid_query(format!(
                        "unknown query parameter `{other}`; use entity_type, entity_id, actor_id, from, to, page, limit, sort, filter[…]"
                    )));
                }
            }
        }
        Ok(f)
    }

    fn range(&self) -> Result<TimeRange, ApiError> {
        let parse = |name: &str, raw: &Option<String>, end: bool| {
            raw.as_deref()
                .map(|r| {
                    parse_time(r, end).ok_or_else(|| {
                        ApiError::invalid_query(format!(
                            "`{name}` expects an RFC 3339 time or a date (YYYY-MM-DD)"
                        ))
                    })
                })
                .transpose()
        };
        Ok((
            parse("from", &self.from, false)?,
            parse("to", &self.to, true)?,
        ))
    }
}

fn list_spec() -> ListSpec<entity::Entity> {
    use entity::Column as C;
    ListSpec::new()
        .field("timestamp", C::CreatedAt)
        .field("action", C::Action)
        .field("entity_type", C::EntityType)
        .field("entity_id", C::EntityId)
        .field("actor_id", C::ActorUserId)
        .field("status", C::Status)
        .search([C::Action, C::EntityId])
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

/// The audit log of the caller's active org, newest first (admins and owners).
#[utoipa::path(tag = "audit",
    params(AuditFilters,
        ("page" = Option<u64>, Query, minimum = 1, maximum = 100000), ("limit" = Option<u64>, Query, minimum = 1, maximum = 100),
        ("sort" = Option<String>, Query, description = "timestamp, action, entity_type, entity_id, actor_id, status; e.g. `timestamp:desc`"),
        ("search" = Option<String>, Query, description = "substring of the action or entity id")),
    responses((status = 200, body = Page<AuditRecord>),
        (status = 401, body = crate::error::ErrorEnvelope),
        (status = 403, body = crate::error::ErrorEnvelope)))]
#[get("/audit")]
pub async fn list_audit(
    tx: Scoped<AdministerOrg, Read<AuditLog>>,
    req: HttpRequest,
    q: ListQuery,
) -> ApiResult<HttpResponse> {
    let filters = AuditFilters::parse(req.query_string())?;
    let (from, to) = filters.range()?;
    use entity::Column as C;
    let repo = tx.repo::<entity::Entity>();
    let mut select = list_spec().apply(&q, repo.find())?;
    if let Some(t) = &filters.entity_type {
        select = select.filter(C::EntityType.eq(t.clone()));
    }
    if let Some(id) = &filters.entity_id {
        select = select.filter(C::EntityId.eq(id.clone()));
    }
    if let Some(actor) = filters.actor_id {
        select = select.filter(C::ActorUserId.eq(actor));
    }
    if let Some(from) = from {
        select = select.filter(C::CreatedAt.gte(from));
    }
    if let Some(to) = to {
        select = select.filter(C::CreatedAt.lt(to));
    }
    let page = fetch_page(select, &q, repo.conn()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page.map(AuditRecord::from)))
}

/// `POST /audit/export`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
pub struct ExportRequest {
    /// From this time (RFC 3339) or date, inclusive; default: the beginning.
    #[schema(max_length = 64)]
    #[garde(length(chars, max = 64))]
    pub from: Option<String>,
    /// Up to this time, exclusive (a date includes that day); default: now.
    #[schema(max_length = 64)]
    #[garde(length(chars, max = 64))]
    pub to: Option<String>,
    /// Only `csv` (the default).
    #[schema(max_length = 16, pattern = r"^csv$")]
    #[garde(length(chars, max = 16))]
    pub format: Option<String>,
}

/// The state of an export.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ExportStatus {
    pub id: Uuid,
    /// `queued`, `running`, `completed` or `failed`.
    pub status: String,
    /// A signed URL of the CSV, once completed.
    pub download_url: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Queues a CSV export of the org's audit log (admins and owners); poll its status.
#[utoipa::path(tag = "audit", request_body = ExportRequest,
    responses((status = 202, body = ExportStatus),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 422, body = crate::error::ErrorEnvelope)))]
#[post("/audit/export")]
pub async fn export_audit(
    ctx: CellContext,
    scoped: Scoped<AdministerOrg, Write<AuditLog>>,
    req: HttpRequest,
    body: ValidJson<ExportRequest>,
) -> ApiResult<HttpResponse> {
    let org = scoped.org_id();
    let ValidJson(body) = body;
    let format = body.format.as_deref().unwrap_or("csv");
    if format != "csv" {
        return Err(ApiError::validation("format", "only `csv` is supported"));
    }
    let time = |field: &str, raw: &Option<String>, end: bool| {
        raw.as_deref()
            .map(|r| {
                parse_time(r, end).ok_or_else(|| {
                    ApiError::validation(field, "expects an RFC 3339 time or a date (YYYY-MM-DD)")
                })
            })
            .transpose()
    };
    let from = time("from", &body.from, false)?;
    let to = time("to", &body.to, true)?.unwrap_or_else(Utc::now);
    if from.is_some_and(|f| f > to) {
        return Err(ApiError::validation("from", "must not be after `to`"));
    }
    let payload = serde_json::json!({
        "from": from.map(|f| f.to_rfc3339()),
        "to": to.to_rfc3339(),
        "format": format,
    });
    let (caller, tx) = scoped.into_parts();
    // unscoped: the kernel's job and audit tables, written in the request's transaction
    let conn = tx.unscoped();
    let id = ctx
        .jobs()
        .enqueue(conn, EXPORT_JOB, Some(org), payload.clone())
        .await?;
    ctx.audit()
        .record_request(
            conn,
            &req,
            Some(&caller),
            AuditEntry::new("audit.export")
                .org(org)
                .entity("audit_export", id)
                .changes(payload)
                .status(202),
        )
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Accepted().json(ExportStatus {
        id,
        status: "queued".into(),
        download_url: None,
        expires_at: None,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct ExportPath {
    pub id: Uuid,
}

fn export_key(org: Uuid, id: Uuid) -> Result<ObjectKey, crate::storage::StorageError> {
    ObjectKey::new(org, "audit", &format!("exports/{id}.csv"))
}

/// The status of an export of the caller's org, with a signed download URL once completed.
#[utoipa::path(tag = "audit", params(ExportPath),
    responses((status = 200, body = ExportStatus),
        (status = 403, body = crate::error::ErrorEnvelope),
        (status = 404, body = crate::error::ErrorEnvelope)))]
#[get("/audit/export/{id}")]
pub async fn export_status(
    ctx: CellContext,
    tx: Scoped<AdministerOrg, Read<AuditLog>>,
    path: web::Path<ExportPath>,
) -> ApiResult<HttpResponse> {
    let org = tx.org_id();
    let id = path.id;
    // unscoped: the kernel's job table, read with an explicit org predicate
    let conn = tx.unscoped();
    let row = conn
        .query_one_raw(stmt(
            conn.get_database_backend(),
            "SELECT status, attempts FROM kernel_jobs WHERE id = $1 AND name = $2 AND org_id = $3",
            vec![id.into(), EXPORT_JOB.into(), org.into()],
        ))
        .await?;
    tx.commit().await?;
    let row = row.ok_or_else(|| ApiError::not_found("no export with this id"))?;
    let status: String = row.try_get("", "status")?;
    let attempts: i32 = row.try_get("", "attempts")?;
    let mut answer = ExportStatus {
        id,
        status: match (status.as_str(), attempts) {
            ("done", _) => "completed",
            ("dead", _) => "failed",
            (_, 0) => "queued",
            _ => "running",
        }
        .into(),
        download_url: None,
        expires_at: None,
    };
    if status == "done" {
        let signed = ctx
            .storage()
            .presign_get(&export_key(org, id)?, None)
            .await?;
        answer.download_url = Some(signed.url);
        answer.expires_at = Some(signed.expires_at);
    }
    Ok(HttpResponse::Ok().json(answer))
}

/// A CSV cell that spreadsheets will not run as a formula.
fn cell(value: Option<&str>) -> String {
    value.map(crate::records::safe_cell).unwrap_or_default()
}

const EXPORT_BATCH: u64 = 1000;

/// The `kernel.audit_export` job: the org's entries in the requested range, oldest first, as a
/// CSV under `<org>/audit/exports/<job id>.csv`. Re-running overwrites the same file.
pub(crate) struct ExportJob;

#[async_trait::async_trait]
impl JobHandler for ExportJob {
    async fn run(&self, ctx: &CellContext, job: &Job) -> anyhow::Result<()> {
        let org = job
            .org_id
            .ok_or_else(|| anyhow::anyhow!("an audit export needs an org"))?;
        let time = |name: &str| -> anyhow::Result<Option<DateTime<Utc>>> {
            job.payload
                .get(name)
                .and_then(|v| v.as_str())
                .map(|s| {
                    DateTime::parse_from_rfc3339(s)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|e| anyhow::anyhow!("payload `{name}`: {e}"))
                })
                .transpose()
        };
        let (from, to) = (time("from")?, time("to")?);
        let spool = ctx.config().cell.data_dir.join("spool");
        tokio::fs::create_dir_all(&spool).await?;
        let path = spool.join(format!("audit-{}.csv", job.id));
        let stored = async {
            write_csv(ctx, org, from, to, &path).await?;
            ctx.storage()
                .put_generated(export_key(org, job.id)?, "text/csv", path.clone())
                .await?;
            anyhow::Ok(())
        }
        .await;
        let _ = tokio::fs::remove_file(&path).await;
        stored
    }
}

async fn write_csv(
    ctx: &CellContext,
    org: Uuid,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use entity::Column as C;
    let mut out = csv::Writer::from_writer(std::fs::File::create(path)?);
    out.write_record([
        "id",
        "timestamp",
        "actor_user_id",
        "actor_api_key_id",
        "action",
        "entity_type",
        "entity_id",
        "status",
        "ip",
        "user_agent",
        "request_id",
        "changes",
    ])?;
    let tx = ctx.db().tenant(org).await?;
    let repo = tx.repo::<entity::Entity>();
    let mut select = repo.find();
    if let Some(from) = from {
        select = select.filter(C::CreatedAt.gte(from));
    }
    if let Some(to) = to {
        select = select.filter(C::CreatedAt.lt(to));
    }
    let select = select.order_by_asc(C::CreatedAt).order_by_asc(C::Id);
    let mut offset = 0;
    loop {
        let rows = select
            .clone()
            .offset(offset)
            .limit(EXPORT_BATCH)
            .all(repo.conn())
            .await?;
        for r in &rows {
            let id = |v: Option<Uuid>| v.map(|u| u.to_string()).unwrap_or_default();
            out.write_record([
                r.id.to_string(),
                r.created_at.to_rfc3339(),
                id(r.actor_user_id),
                id(r.actor_api_key_id),
                cell(Some(&r.action)),
                cell(r.entity_type.as_deref()),
                cell(r.entity_id.as_deref()),
                r.status.map(|s| s.to_string()).unwrap_or_default(),
                cell(r.ip.as_deref()),
                cell(r.user_agent.as_deref()),
                cell(r.request_id.as_deref()),
                cell(r.changes.as_ref().map(|c| c.to_string()).as_deref()),
            ])?;
        }
        if (rows.len() as u64) < EXPORT_BATCH {
            break;
        }
        offset += EXPORT_BATCH;
    }
    tx.commit().await?;
    out.flush()?;
    Ok(())
}

/// Uploads the spooled file. Storage futures are not `Send` (actix payloads are not), and a job
/// must be: the upload runs on a blocking thread that drives it to completion.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_cells() {
        assert_eq!(
            parse_time("2025-01-01", false).map(|t| t.to_rfc3339()),
            Some("2025-01-01T00:00:00+00:00".into())
        );
        assert_eq!(
            parse_time("2025-01-31", true).map(|t| t.to_rfc3339()),
            Some("2025-02-01T00:00:00+00:00".into())
        );
        assert!(parse_time("yesterday", false).is_none());
        assert_eq!(cell(Some("=HYPERLINK(\"x\")")), "'=HYPERLINK(\"x\")");
        assert_eq!(cell(Some("POST /api/v1/notes")), "POST /api/v1/notes");
        assert_eq!(cell(None), "");
    }

    #[test]
    fn filters_refuse_unknown_keys() {
        assert!(AuditFilters::parse("entity_type=doc&page=2&filter[action]=x").is_ok());
        let err = AuditFilters::parse("actor=me")
            .err()
            .map(|e| e.message().to_owned());
        assert!(err.is_some_and(|m| m.contains("actor")));
        assert!(AuditFilters::parse("actor_id=nope").is_err());
    }
}
