//! `/projects`, their milestones, and `/project-templates`.

use actix_web::{HttpResponse, delete, get, patch, post, put, web};
use chrono::{DateTime, Utc};
use kernel::http::{AdministerOrg, ListQuery, ListSpec, Page, State, ValidJson, trimmed};
use kernel::sea_orm::{ColumnTrait, QueryFilter, QueryOrder, QuerySelect};
use kernel::{ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{milestone, project, project_template, task};
use crate::module::Settings;
use crate::permissions::{ReadProjects, WriteProjects};
use crate::service::{STATUSES, one_of, projects as service};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(remove)
        .service(list_milestones)
        .service(add_milestone)
        .service(update_milestone)
        .service(remove_milestone)
        .service(list_templates)
        .service(create_template)
        .service(read_template)
        .service(update_template)
        .service(remove_template);
}

const MAX_DESCRIPTION: usize = 100_000;

/// A project.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Project)]
pub struct Project {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// `not_started`, `in_progress`, `on_hold`, `completed` or `cancelled`.
    pub status: String,
    pub lead_id: Option<Uuid>,
    /// The board its template's tasks went on.
    pub board_id: Option<Uuid>,
    /// The entity it is for (an engagement, a company…).
    pub anchor_type: Option<String>,
    pub anchor_id: Option<Uuid>,
    pub start_date: Option<DateTime<Utc>>,
    pub due_date: Option<DateTime<Utc>>,
    pub template_id: Option<Uuid>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<project::Model> for Project {
    fn from(m: project::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            description: m.description,
            status: m.status,
            lead_id: m.lead_id,
            board_id: m.board_id,
            anchor_type: m.anchor_type,
            anchor_id: m.anchor_id,
            start_date: m.start_date,
            due_date: m.due_date,
            template_id: m.template_id,
            completed_at: m.completed_at,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A milestone: a checkpoint of a project, and for finance, one to invoice.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::Milestone)]
pub struct Milestone {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub due_date: Option<DateTime<Utc>>,
    pub position: i32,
    /// Minor units to invoice when it is reached, in `currency`.
    pub amount: Option<i64>,
    pub currency: Option<String>,
    /// When it was reached (`tasks.milestone.reached`): final.
    pub reached_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<milestone::Model> for Milestone {
    fn from(m: milestone::Model) -> Self {
        Self {
            id: m.id,
            project_id: m.project_id,
            name: m.name,
            due_date: m.due_date,
            position: m.position,
            amount: m.amount,
            currency: m.currency,
            reached_at: m.reached_at,
            created_at: m.created_at,
        }
    }
}

/// How many of a project's tasks are in a status.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::StatusCount)]
pub struct StatusCount {
    pub status: String,
    pub count: u64,
}

/// A project with its milestones and where its tasks stand.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::ProjectDetail)]
pub struct ProjectDetail {
    #[serde(flatten)]
    pub project: Project,
    pub milestones: Vec<Milestone>,
    /// Its tasks (subtasks too) by status.
    pub tasks: Vec<StatusCount>,
    /// Completed tasks over the tasks not cancelled, in percent (0 with none).
    pub progress: u8,
}

async fn detail(
    tx: &kernel::TenantTx,
    p: project::Model,
) -> Result<ProjectDetail, kernel::ApiError> {
    let milestones = service::milestones(tx, p.id).await?;
    let repo = tx.repo::<task::Entity>();
    let counts: Vec<(String, i64)> = repo
        .find()
        .filter(task::Column::ProjectId.eq(p.id))
        .select_only()
        .column(task::Column::Status)
        .column_as(task::Column::Id.count(), "n")
        .group_by(task::Column::Status)
        .into_tuple()
        .all(repo.conn())
        .await?;
    let count = |s: &str| {
        counts
            .iter()
            .find(|(k, _)| k == s)
            .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0))
    };
    let done = count("completed");
    let live: u64 = STATUSES
        .iter()
        .filter(|s| **s != "cancelled")
        .map(|s| count(s))
        .sum();
    let progress = match live {
        0 => 0,
        n => u8::try_from(done * 100 / n).unwrap_or(100),
    };
    Ok(ProjectDetail {
        project: p.into(),
        milestones: milestones.into_iter().map(Milestone::from).collect(),
        tasks: STATUSES
            .iter()
            .map(|s| StatusCount {
                status: (*s).into(),
                count: count(s),
            })
            .collect(),
        progress,
    })
}

pub(crate) fn project_list() -> ListSpec<project::Entity> {
    use project::Column as C;
    ListSpec::new()
        .field("status", C::Status)
        .field("lead_id", C::LeadId)
        .field("anchor_type", C::AnchorType)
        .field("anchor_id", C::AnchorId)
        .field("template_id", C::TemplateId)
        .sortable("name", C::Name)
        .sortable("created_at", C::CreatedAt)
        .sortable("due_date", C::DueDate)
        .sortable("start_date", C::StartDate)
        .search([C::Name])
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(ProjectListParams, project_list);

/// The org's projects, newest first (`filter[status]`, `filter[lead_id]`, `search`, paged).
#[utoipa::path(tag = TAG, params(ProjectListParams), responses(
    (status = 200, body = Page<Project>), (status = 401), (status = 403), (status = 422)))]
#[get("/projects")]
pub(crate) async fn list(tx: ReadProjects, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = project_list().apply(&query, tx.repo::<project::Entity>().find())?;
    let page = tx.page(select, &query).await?.map(Project::from);
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /projects`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewProject)]
pub struct NewProject {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[schema(max_length = 100000)]
    #[garde(inner(length(chars, max = MAX_DESCRIPTION)))]
    pub description: Option<String>,
    /// A member who works in the org (automations reassign to them).
    #[garde(skip)]
    pub lead_id: Option<Uuid>,
    /// The board the template's tasks go on (none: no board).
    #[garde(skip)]
    pub board_id: Option<Uuid>,
    /// Default: now, when a template is used; the template's days count from it.
    #[garde(skip)]
    pub start_date: Option<DateTime<Utc>>,
    #[garde(skip)]
    pub due_date: Option<DateTime<Utc>>,
    /// With `anchor_id`: the entity it is for, one the caller sees.
    #[schema(max_length = 64)]
    #[garde(inner(length(chars, max = 64)))]
    pub anchor_type: Option<String>,
    #[garde(skip)]
    pub anchor_id: Option<Uuid>,
    /// A project template whose milestones, tasks, subtasks and checklists the project gets.
    #[garde(skip)]
    pub template_id: Option<Uuid>,
}

/// Creates a project, `not_started` (`tasks.project.created`); from a template, with its
/// milestones and tasks dated from `start_date`.
#[utoipa::path(tag = TAG, request_body = NewProject, responses(
    (status = 201, body = ProjectDetail), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/projects")]
pub(crate) async fn create(
    ctx: CellContext,
    settings: State<Settings>,
    tx: WriteProjects,
    body: ValidJson<NewProject>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let anchor = super::tasks::anchor(b.anchor_type, b.anchor_id)?;
    let new = service::NewProject {
        name: trimmed("name", &b.name, 200)?,
        description: kernel::http::trimmed_optional("description", b.description, MAX_DESCRIPTION)?,
        lead_id: b.lead_id,
        board_id: b.board_id,
        start_date: b.start_date,
        due_date: b.due_date,
        anchor,
        template_id: b.template_id,
    };
    let row = service::create(&ctx, &tx, tx.caller(), &settings, new).await?;
    let out = detail(&tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out))
}

/// One project with its milestones and its tasks by status.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = ProjectDetail), (status = 401), (status = 403), (status = 404)))]
#[get("/projects/{id}")]
pub(crate) async fn read(tx: ReadProjects, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::get(&tx, id.into_inner()).await?;
    let out = detail(&tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `PATCH /projects/{id}`: `null` clears a nullable field.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::ProjectPatch)]
pub struct ProjectPatch {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, max_length = 100000)]
    #[garde(skip)]
    pub description: Option<Option<String>>,
    /// not_started → in_progress | on_hold | cancelled; in_progress → on_hold | completed (no
    /// open task left) | cancelled; on_hold → in_progress | cancelled; completed and cancelled
    /// are final.
    #[schema(pattern = "^(not_started|in_progress|on_hold|completed|cancelled)$")]
    #[garde(skip)]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub lead_id: Option<Option<Uuid>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    #[garde(skip)]
    pub start_date: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    #[garde(skip)]
    pub due_date: Option<Option<DateTime<Utc>>>,
}

/// Changes a project; a status change follows the machine (`tasks.project.status_changed`).
#[utoipa::path(tag = TAG, request_body = ProjectPatch, responses(
    (status = 200, body = Project), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/projects/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteProjects,
    id: web::Path<Uuid>,
    body: ValidJson<ProjectPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    if let Some(s) = &b.status {
        one_of("status", s, &service::PROJECT_STATUSES)?;
    }
    let change = service::ProjectChange {
        name: b.name.map(|n| trimmed("name", &n, 200)).transpose()?,
        description: b
            .description
            .map(|d| kernel::http::trimmed_optional("description", d, MAX_DESCRIPTION))
            .transpose()?,
        status: b.status,
        lead_id: b.lead_id,
        start_date: b.start_date,
        due_date: b.due_date,
    };
    let by = tx.caller().user_id;
    let row = service::update(&ctx, &tx, by, id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Project::from(row)))
}

/// Deletes a project that holds no task, with its milestones: its creator or an admin (409
/// while it holds tasks: cancel it instead).
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[delete("/projects/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteProjects,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::get(&tx, id.into_inner()).await?;
    if row.created_by != tx.caller().user_id {
        tx.require::<AdministerOrg>(&ctx, None).await?;
    }
    service::delete(&tx, row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A project's milestones, in order.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Milestone>), (status = 401), (status = 403), (status = 404)))]
#[get("/projects/{id}/milestones")]
pub(crate) async fn list_milestones(
    tx: ReadProjects,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let p = service::get(&tx, id.into_inner()).await?;
    let rows = service::milestones(&tx, p.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(Milestone::from).collect::<Vec<_>>()))
}

/// `POST /projects/{id}/milestones`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewMilestone)]
pub struct NewMilestone {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[garde(skip)]
    pub due_date: Option<DateTime<Utc>>,
    /// Minor units to invoice when reached, with `currency`.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[garde(inner(range(min = 0, max = 1_000_000_000_000)))]
    pub amount: Option<i64>,
    /// ISO 4217.
    #[schema(pattern = "^[A-Z]{3}$")]
    #[garde(skip)]
    pub currency: Option<String>,
}

/// Adds a milestone at the end of a project's.
#[utoipa::path(tag = TAG, request_body = NewMilestone, responses(
    (status = 201, body = Milestone), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/projects/{id}/milestones")]
pub(crate) async fn add_milestone(
    tx: WriteProjects,
    id: web::Path<Uuid>,
    body: ValidJson<NewMilestone>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let p = service::get(&tx, id.into_inner()).await?;
    let row = service::add_milestone(
        &tx,
        p.id,
        service::NewMilestone {
            name: trimmed("name", &b.name, 200)?,
            due_date: b.due_date,
            amount: b.amount,
            currency: b.currency,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Milestone::from(row)))
}

/// `PATCH /milestones/{id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::MilestonePatch)]
pub struct MilestonePatch {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    #[garde(skip)]
    pub due_date: Option<Option<DateTime<Utc>>>,
    /// With `currency` (both, or both `null`); not once reached.
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[garde(inner(inner(range(min = 0, max = 1_000_000_000_000))))]
    pub amount: Option<Option<i64>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, pattern = "^[A-Z]{3}$")]
    #[garde(skip)]
    pub currency: Option<Option<String>>,
    /// `true` reaches it now (`tasks.milestone.reached`; it is also reached when its last open
    /// task closes with at least one completed). Reaching is final.
    #[garde(skip)]
    pub reached: Option<bool>,
}

/// Renames, re-dates, prices or reaches a milestone.
#[utoipa::path(tag = TAG, request_body = MilestonePatch, responses(
    (status = 200, body = Milestone), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[patch("/milestones/{id}")]
pub(crate) async fn update_milestone(
    ctx: CellContext,
    tx: WriteProjects,
    id: web::Path<Uuid>,
    body: ValidJson<MilestonePatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let money = match (b.amount, b.currency) {
        (None, None) => None,
        (Some(a), Some(c)) => Some((a, c)),
        _ => {
            return Err(kernel::ApiError::validation(
                "currency",
                "amount and currency change together",
            ));
        }
    };
    let change = service::MilestoneChange {
        name: b.name.map(|n| trimmed("name", &n, 200)).transpose()?,
        due_date: b.due_date,
        money,
        reached: b.reached,
    };
    let by = tx.caller().user_id;
    let row = service::update_milestone(&ctx, &tx, by.into(), id.into_inner(), change).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Milestone::from(row)))
}

/// Deletes a milestone not reached; its tasks stay in the project.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[delete("/milestones/{id}")]
pub(crate) async fn remove_milestone(
    tx: WriteProjects,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    service::delete_milestone(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A project template.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = tasks::ProjectTemplate)]
pub struct ProjectTemplate {
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub structure: service::TemplateBody,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl TryFrom<project_template::Model> for ProjectTemplate {
    type Error = kernel::ApiError;

    fn try_from(m: project_template::Model) -> Result<Self, Self::Error> {
        Ok(Self {
            id: m.id,
            name: m.name,
            description: m.description,
            structure: serde_json::from_value(m.structure).map_err(|e| {
                kernel::ApiError::internal(anyhow::anyhow!("a stored template: {e}"))
            })?,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
    }
}

/// The org's project templates by name (at most 500).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<ProjectTemplate>), (status = 401), (status = 403)))]
#[get("/project-templates")]
pub(crate) async fn list_templates(tx: ReadProjects) -> ApiResult<HttpResponse> {
    let repo = tx.repo::<project_template::Entity>();
    let rows = repo
        .find()
        .order_by_asc(project_template::Column::Name)
        .order_by_asc(project_template::Column::Id)
        .limit(500)
        .all(repo.conn())
        .await?;
    tx.commit().await?;
    let out = rows
        .into_iter()
        .map(ProjectTemplate::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(HttpResponse::Ok().json(out))
}

/// `POST /project-templates`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = tasks::NewProjectTemplate)]
pub struct NewProjectTemplate {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    #[schema(max_length = 10000)]
    #[garde(inner(length(chars, max = 10_000)))]
    pub description: Option<String>,
    /// Milestones and tasks, dated in days from a project's start.
    #[garde(skip)]
    pub structure: service::TemplateBody,
}

/// Checks and saves a template: a new one (`id` none) or in place of `id`.
async fn save(
    tx: &WriteProjects,
    id: Option<Uuid>,
    b: NewProjectTemplate,
) -> Result<ProjectTemplate, kernel::ApiError> {
    let row = service::save_template(
        tx,
        id,
        tx.caller().user_id,
        trimmed("name", &b.name, 200)?,
        kernel::http::trimmed_optional("description", b.description, 10_000)?,
        service::check_template(b.structure)?,
    )
    .await?;
    ProjectTemplate::try_from(row)
}

/// Saves a project template (checked whole: milestone keys, depth, sizes).
#[utoipa::path(tag = TAG, request_body = NewProjectTemplate, responses(
    (status = 201, body = ProjectTemplate), (status = 401), (status = 403), (status = 409),
    (status = 422)))]
#[post("/project-templates")]
pub(crate) async fn create_template(
    tx: WriteProjects,
    body: ValidJson<NewProjectTemplate>,
) -> ApiResult<HttpResponse> {
    let out = save(&tx, None, body.0).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out))
}

/// One project template.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = ProjectTemplate), (status = 401), (status = 403), (status = 404)))]
#[get("/project-templates/{id}")]
pub(crate) async fn read_template(
    tx: ReadProjects,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::template(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ProjectTemplate::try_from(row)?))
}

/// Replaces a project template (projects made from it keep what they got).
#[utoipa::path(tag = TAG, request_body = NewProjectTemplate, responses(
    (status = 200, body = ProjectTemplate), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[put("/project-templates/{id}")]
pub(crate) async fn update_template(
    tx: WriteProjects,
    id: web::Path<Uuid>,
    body: ValidJson<NewProjectTemplate>,
) -> ApiResult<HttpResponse> {
    let out = save(&tx, Some(id.into_inner()), body.0).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Deletes a project template (projects made from it stay).
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404)))]
#[delete("/project-templates/{id}")]
pub(crate) async fn remove_template(
    tx: WriteProjects,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let row = service::template(&tx, id.into_inner()).await?;
    tx.repo::<project_template::Entity>().delete(row.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}
