//! Approval workflows (`/approval-workflows`), submitting a document and deciding its steps.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{OptionalJson, ValidJson, trimmed};
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{approval, decision, workflow};
use crate::permissions::{ConfigureApprovals, DecideApprovals, ReadApprovals, WriteDocuments};
use crate::service::approvals::{self as service, Step, steps_of};
use crate::service::{DOC_TYPES, document, one_of};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(read)
        .service(update)
        .service(remove)
        .service(submit)
        .service(of_document)
        .service(request)
        .service(decide);
}

/// An approval workflow.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Workflow)]
pub struct Workflow {
    pub id: Uuid,
    pub name: String,
    /// The document type it approves (`null`: any type without a workflow of its own).
    pub document_type: Option<String>,
    pub steps: Vec<Step>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<workflow::Model> for Workflow {
    fn from(m: workflow::Model) -> Self {
        Self {
            id: m.id,
            name: m.name,
            document_type: m.doc_type,
            steps: steps_of(&m.steps),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// The org's workflows, oldest first.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Workflow>), (status = 401), (status = 403)))]
#[get("/approval-workflows")]
pub(crate) async fn list(tx: ReadApprovals) -> ApiResult<HttpResponse> {
    let repo = tx.repo::<workflow::Entity>();
    let rows = kernel::sea_orm::QuerySelect::limit(
        repo.find()
            .order_by_asc(workflow::Column::CreatedAt)
            .order_by_asc(workflow::Column::Id),
        500,
    )
    .all(repo.conn())
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(rows.into_iter().map(Workflow::from).collect::<Vec<_>>()))
}

/// `POST /approval-workflows`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::NewWorkflow)]
pub struct NewWorkflow {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// `contract`, `proposal`, `sow` or `note`; omit for every type without its own.
    #[schema(pattern = "^(contract|proposal|sow|note)$")]
    #[garde(skip)]
    pub document_type: Option<String>,
    /// In order (`order` 1, 2, …).
    #[schema(min_items = 1, max_items = 20)]
    #[garde(length(min = 1, max = 20))]
    pub steps: Vec<Step>,
}

fn doc_type(t: Option<String>) -> Result<Option<String>, ApiError> {
    if let Some(t) = &t {
        one_of("document_type", t, &DOC_TYPES[..4])?;
    }
    Ok(t)
}

/// Creates a workflow (admins and owners).
#[utoipa::path(tag = TAG, request_body = NewWorkflow, responses(
    (status = 201, body = Workflow), (status = 401), (status = 403), (status = 422)))]
#[post("/approval-workflows")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: ConfigureApprovals,
    body: ValidJson<NewWorkflow>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let name = trimmed("name", &b.name, 200)?;
    let document_type = doc_type(b.document_type)?;
    service::check_steps(&ctx, &tx, &b.steps).await?;
    let now = Utc::now();
    let row = tx
        .repo::<workflow::Entity>()
        .insert(workflow::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            name: Set(name),
            doc_type: Set(document_type),
            steps: Set(serde_json::to_value(&b.steps).unwrap_or_default()),
            created_by: Set(tx.caller().user_id),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Workflow::from(row)))
}

/// One workflow.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Workflow), (status = 401), (status = 403), (status = 404)))]
#[get("/approval-workflows/{id}")]
pub(crate) async fn read(tx: ReadApprovals, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = service::workflow(&tx, id.into_inner()).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Workflow::from(row)))
}

/// `PATCH /approval-workflows/{id}`: `null` makes it the workflow for any type.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::WorkflowPatch)]
pub struct WorkflowPatch {
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = 200)))]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<String>, pattern = "^(contract|proposal|sow|note)$")]
    #[garde(skip)]
    pub document_type: Option<Option<String>>,
    /// Requests already submitted keep the steps they were submitted with.
    #[schema(min_items = 1, max_items = 20)]
    #[garde(inner(length(min = 1, max = 20)))]
    pub steps: Option<Vec<Step>>,
}

/// Changes a workflow (admins and owners); pending requests keep their steps.
#[utoipa::path(tag = TAG, request_body = WorkflowPatch, responses(
    (status = 200, body = Workflow), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[patch("/approval-workflows/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: ConfigureApprovals,
    id: web::Path<Uuid>,
    body: ValidJson<WorkflowPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let w = service::workflow(&tx, id.into_inner()).await?;
    let mut row: workflow::ActiveModel = w.into();
    if let Some(n) = b.name {
        row.name = Set(trimmed("name", &n, 200)?);
    }
    if let Some(t) = b.document_type {
        row.doc_type = Set(doc_type(t)?);
    }
    if let Some(steps) = b.steps {
        service::check_steps(&ctx, &tx, &steps).await?;
        row.steps = Set(serde_json::to_value(&steps).unwrap_or_default());
    }
    row.updated_at = Set(Utc::now());
    let w = tx.repo::<workflow::Entity>().update(row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Workflow::from(w)))
}

/// Deletes a workflow no request was made through (admins and owners); 409 otherwise.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[delete("/approval-workflows/{id}")]
pub(crate) async fn remove(tx: ConfigureApprovals, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let w = service::workflow(&tx, id.into_inner()).await?;
    let repo = tx.repo::<approval::Entity>();
    let used = repo
        .find()
        .filter(approval::Column::WorkflowId.eq(w.id))
        .count(repo.conn())
        .await?;
    if used > 0 {
        return Err(ApiError::conflict(format!(
            "{used} approval requests went through this workflow: change it instead"
        )));
    }
    tx.repo::<workflow::Entity>().delete(w.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A reviewer's decision on a step.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Decision)]
pub struct Decision {
    pub step: i32,
    pub reviewer_id: Uuid,
    /// `approved`, `rejected` or `returned_for_changes`.
    pub decision: String,
    pub comment: Option<String>,
    pub decided_at: DateTime<Utc>,
}

impl From<decision::Model> for Decision {
    fn from(m: decision::Model) -> Self {
        Self {
            step: m.step_order,
            reviewer_id: m.reviewer_id,
            decision: m.decision,
            comment: m.comment,
            decided_at: m.decided_at,
        }
    }
}

/// An approval request: a document going through a workflow's steps.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::ApprovalRequest)]
pub struct ApprovalRequest {
    pub id: Uuid,
    pub document_id: Uuid,
    pub workflow_id: Uuid,
    /// The steps as they were when it was submitted.
    pub steps: Vec<Step>,
    /// 1-based: the step waiting for a decision while `pending`.
    pub current_step: i32,
    /// `pending`, `approved`, `rejected` or `returned_for_changes`.
    pub status: String,
    pub decisions: Vec<Decision>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

fn out(m: approval::Model, decisions: Vec<decision::Model>) -> ApprovalRequest {
    ApprovalRequest {
        id: m.id,
        document_id: m.document_id,
        workflow_id: m.workflow_id,
        steps: steps_of(&m.steps),
        current_step: m.current_step,
        status: m.status,
        decisions: decisions.into_iter().map(Decision::from).collect(),
        created_by: m.created_by,
        created_at: m.created_at,
        decided_at: m.decided_at,
    }
}

/// `POST /documents/{id}/submit-for-approval`.
#[derive(Debug, Default, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::Submit)]
pub struct Submit {
    /// The workflow to go through (default: the one for the document's type).
    #[garde(skip)]
    pub workflow_id: Option<Uuid>,
}

/// Submits a draft for approval: the workflow of its type makes a request, the document is in
/// `internal_review`, the first step's reviewers are notified.
#[utoipa::path(tag = TAG, request_body = Option<Submit>, responses(
    (status = 201, body = ApprovalRequest), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/documents/{id}/submit-for-approval")]
pub(crate) async fn submit(
    ctx: CellContext,
    tx: WriteDocuments,
    id: web::Path<Uuid>,
    body: OptionalJson<Submit>,
) -> ApiResult<HttpResponse> {
    let b = body.0.unwrap_or_default();
    let (_, req) = service::submit(
        &ctx,
        &tx,
        tx.caller().user_id,
        id.into_inner(),
        b.workflow_id,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out(req, Vec::new())))
}

/// A document's approval requests, newest first, with their decisions.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<ApprovalRequest>), (status = 401), (status = 403), (status = 404)))]
#[get("/documents/{id}/approvals")]
pub(crate) async fn of_document(tx: ReadApprovals, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let doc = document(&tx, id.into_inner()).await?;
    let mut requests = Vec::new();
    for r in service::requests_of(&tx, doc.id).await? {
        let d = service::decisions_of(&tx, r.id).await?;
        requests.push(out(r, d));
    }
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(requests))
}

/// One approval request with its decisions.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = ApprovalRequest), (status = 401), (status = 403), (status = 404)))]
#[get("/approval-requests/{id}")]
pub(crate) async fn request(tx: ReadApprovals, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let r = service::request(&tx, id.into_inner()).await?;
    let d = service::decisions_of(&tx, r.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out(r, d)))
}

/// `POST /approval-requests/{id}/decide`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::Decide)]
pub struct Decide {
    /// `approved`, `rejected` or `returned_for_changes`.
    #[schema(pattern = "^(approved|rejected|returned_for_changes)$")]
    #[garde(skip)]
    pub decision: String,
    #[schema(max_length = 5000)]
    #[garde(inner(length(chars, max = 5000)))]
    pub comment: Option<String>,
}

/// A reviewer of the current step decides it: approved goes on to the next step (the last one
/// approves the document); rejected or returned for changes sends the document back to draft.
#[utoipa::path(tag = TAG, request_body = Decide, responses(
    (status = 200, body = ApprovalRequest), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/approval-requests/{id}/decide")]
pub(crate) async fn decide(
    ctx: CellContext,
    tx: DecideApprovals,
    id: web::Path<Uuid>,
    body: ValidJson<Decide>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let caller = tx.caller().clone();
    let (req, decisions) =
        service::decide(&ctx, &tx, &caller, id.into_inner(), &b.decision, b.comment).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out(req, decisions)))
}
