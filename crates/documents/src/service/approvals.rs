//! Approval workflows: ordered steps, each with reviewers (users, teams, roles). Submitting a
//! draft finds the workflow of its type (or the org's workflow for any type), snapshots its
//! steps into a request and notifies the first step's reviewers. A step is decided by any one
//! of its reviewers: approved moves to the next step (the last approves the document);
//! rejected or returned for changes ends the request and returns the document to draft.

use chrono::Utc;
use kernel::http::Caller;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, ExprTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Actor, document, editable, move_to, not_template, publish};
use crate::entity::{approval, decision, document as doc_entity, workflow};
use crate::events::{ApprovalDecided, ApprovalRequested};

pub(crate) const DECISIONS: [&str; 3] = ["approved", "rejected", "returned_for_changes"];
/// The org roles a step may name (a role means that level and above, `owner` owners only).
pub(crate) const ORG_ROLES: [&str; 4] = ["owner", "admin", "member", "viewer"];

/// Who may decide a step: a user, the members of a team, or the holders of a role (an org
/// role by name, or a custom role by id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::Reviewer)]
pub struct Reviewer {
    /// `user`, `team` or `role`.
    #[schema(pattern = "^(user|team|role)$")]
    pub kind: String,
    /// The user, team or custom role.
    pub id: Option<Uuid>,
    /// An org role (`owner`, `admin`, `member`, `viewer`) for `kind: role` without an id.
    #[schema(pattern = "^(owner|admin|member|viewer)$")]
    pub role: Option<String>,
}

/// One step of a workflow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::Step)]
pub struct Step {
    /// 1, 2, … in the order the steps run (given in order).
    pub order: i32,
    #[schema(max_length = 200)]
    pub name: Option<String>,
    #[schema(min_items = 1, max_items = 20)]
    pub reviewers: Vec<Reviewer>,
}

pub(crate) fn steps_of(v: &serde_json::Value) -> Vec<Step> {
    serde_json::from_value(v.clone()).unwrap_or_default()
}

/// 422 unless the steps are 1..n in order, each with 1 to 20 well-formed reviewers, and every
/// user named works in the org.
pub(crate) async fn check_steps(
    ctx: &CellContext,
    tx: &TenantTx,
    steps: &[Step],
) -> Result<(), ApiError> {
    if steps.is_empty() || steps.len() > 20 {
        return Err(ApiError::validation("steps", "1 to 20 steps"));
    }
    for (i, s) in steps.iter().enumerate() {
        let at = format!("steps[{i}]");
        if s.order != i32::try_from(i + 1).unwrap_or(0) {
            return Err(ApiError::validation(
                &format!("{at}.order"),
                format!("{}: steps are given in order, from 1", i + 1),
            ));
        }
        if s.reviewers.is_empty() || s.reviewers.len() > 20 {
            return Err(ApiError::validation(
                &format!("{at}.reviewers"),
                "1 to 20 reviewers",
            ));
        }
        for (j, r) in s.reviewers.iter().enumerate() {
            let at = format!("{at}.reviewers[{j}]");
            let ok = match (r.kind.as_str(), r.id, r.role.as_deref()) {
                ("user", Some(u), None) => {
                    if !super::in_org(ctx, tx, u).await? {
                        return Err(ApiError::validation(
                            &format!("{at}.id"),
                            "not a member of this organization",
                        ));
                    }
                    true
                }
                ("team", Some(_), None) | ("role", Some(_), None) => true,
                ("role", None, Some(role)) => ORG_ROLES.contains(&role),
                _ => false,
            };
            if !ok {
                return Err(ApiError::validation(
                    &at,
                    "a user or team with its `id`, or a role: a custom role's `id` or an org `role` (owner, admin, member, viewer)",
                ));
            }
        }
    }
    Ok(())
}

/// The permission a reviewer entry stands for: (namespace, object, permission).
fn relation_of(org: Uuid, r: &Reviewer) -> Option<(&'static str, String, &'static str)> {
    match (r.kind.as_str(), r.id, r.role.as_deref()) {
        ("team", Some(id), _) => Some(("team", id.to_string(), "member")),
        ("role", Some(id), _) => Some(("role", id.to_string(), "member")),
        ("role", None, Some(role)) => Some((
            "org",
            org.to_string(),
            match role {
                "owner" => "owner",
                "admin" => "admin_access",
                "member" => "member_access",
                _ => "viewer_access",
            },
        )),
        _ => None,
    }
}

fn authorizer(
    ctx: &CellContext,
) -> Result<&std::sync::Arc<dyn kernel::http::Authorizer>, ApiError> {
    ctx.authorizer().ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "approvals need the cell's permission module (iam)"
        ))
    })
}

/// Whether `user` may decide `step`.
async fn reviews(
    ctx: &CellContext,
    tx: &TenantTx,
    step: &Step,
    user: Uuid,
) -> Result<bool, ApiError> {
    for r in &step.reviewers {
        if r.kind == "user" {
            if r.id == Some(user) {
                return Ok(true);
            }
            continue;
        }
        if let Some((ns, object, permission)) = relation_of(tx.org_id(), r)
            && authorizer(ctx)?
                .check(
                    ctx,
                    tx,
                    &kernel::http::Asker::user(user),
                    ns,
                    &object,
                    permission,
                )
                .await?
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The users who may decide `step`, each once.
pub(crate) async fn reviewers_of(
    ctx: &CellContext,
    tx: &TenantTx,
    step: &Step,
) -> Result<Vec<Uuid>, ApiError> {
    let mut out = Vec::new();
    for r in &step.reviewers {
        match (r.kind.as_str(), r.id) {
            ("user", Some(u)) => out.push(u),
            _ => {
                if let Some((ns, object, permission)) = relation_of(tx.org_id(), r) {
                    out.extend(
                        authorizer(ctx)?
                            .holders(ctx, tx, ns, &object, permission)
                            .await?,
                    );
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|u| seen.insert(*u));
    Ok(out)
}

pub(crate) async fn workflow(tx: &TenantTx, id: Uuid) -> Result<workflow::Model, ApiError> {
    tx.repo::<workflow::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such approval workflow in this organization"))
}

/// The workflow a document of `doc_type` goes through: its type's, else the org's for any
/// type (the oldest of each).
pub(crate) async fn workflow_for(
    tx: &TenantTx,
    doc_type: &str,
) -> Result<Option<workflow::Model>, ApiError> {
    let repo = tx.repo::<workflow::Entity>();
    let mut all = repo
        .find()
        .filter(
            workflow::Column::DocType
                .eq(doc_type)
                .or(workflow::Column::DocType.is_null()),
        )
        .order_by_asc(workflow::Column::CreatedAt)
        .order_by_asc(workflow::Column::Id)
        .all(repo.conn())
        .await?;
    all.sort_by_key(|w| w.doc_type.is_none());
    Ok(all.into_iter().next())
}

pub(crate) async fn request(tx: &TenantTx, id: Uuid) -> Result<approval::Model, ApiError> {
    tx.repo::<approval::Entity>()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("no such approval request in this organization"))
}

async fn announce(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    req: &approval::Model,
) -> Result<(), ApiError> {
    let steps = steps_of(&req.steps);
    let Some(step) = steps.get(usize::try_from(req.current_step - 1).unwrap_or(0)) else {
        return Ok(());
    };
    let reviewer_ids = reviewers_of(ctx, tx, step).await?;
    publish(
        ctx,
        tx,
        by,
        &ApprovalRequested {
            document_id: req.document_id,
            request_id: req.id,
            step: req.current_step,
            reviewer_ids,
        },
    )
    .await
}

/// Submits a draft for approval (`internal_review`) through `workflow_id`, or the workflow of
/// its type; 409 when there is none.
pub(crate) async fn submit(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    document_id: Uuid,
    workflow_id: Option<Uuid>,
) -> Result<(doc_entity::Model, approval::Model), ApiError> {
    let doc = document(tx, document_id).await?;
    not_template(&doc, "approved")?;
    editable(&doc)?;
    if doc.status != "draft" {
        return Err(ApiError::conflict(format!(
            "only a draft is submitted for approval; this document is {}",
            doc.status
        ))
        .with_details(serde_json::json!({ "status": doc.status })));
    }
    let wf = match workflow_id {
        Some(id) => workflow(tx, id)
            .await
            .map_err(|_| ApiError::validation("workflow_id", "no such approval workflow"))?,
        None => workflow_for(tx, &doc.doc_type).await?.ok_or_else(|| {
            ApiError::conflict(format!(
                "no approval workflow for {} documents: create one (POST /approval-workflows)",
                doc.doc_type
            ))
        })?,
    };
    let now = Utc::now();
    let req = tx
        .repo::<approval::Entity>()
        .insert(approval::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            document_id: Set(doc.id),
            workflow_id: Set(wf.id),
            steps: Set(wf.steps.clone()),
            current_step: Set(1),
            status: Set("pending".into()),
            created_by: Set(by),
            created_at: Set(now),
            decided_at: Set(None),
        })
        .await?;
    let doc = move_to(ctx, tx, doc, "internal_review", Actor::User(by)).await?;
    announce(ctx, tx, by, &req).await?;
    Ok((doc, req))
}

/// A reviewer of the current step decides it.
pub(crate) async fn decide(
    ctx: &CellContext,
    tx: &TenantTx,
    caller: &Caller,
    request_id: Uuid,
    verdict: &str,
    comment: Option<String>,
) -> Result<(approval::Model, Vec<decision::Model>), ApiError> {
    super::one_of("decision", verdict, &DECISIONS)?;
    let req = request(tx, request_id).await?;
    if req.status != "pending" {
        return Err(
            ApiError::conflict(format!("this approval request is {} already", req.status))
                .with_details(serde_json::json!({ "status": req.status })),
        );
    }
    let steps = steps_of(&req.steps);
    let step = steps
        .get(usize::try_from(req.current_step - 1).unwrap_or(usize::MAX))
        .ok_or_else(|| ApiError::conflict("this request has no step left to decide"))?;
    let user = caller.user_id;
    if !reviews(ctx, tx, step, user).await? {
        return Err(ApiError::forbidden(format!(
            "you are not a reviewer of step {} of this approval",
            req.current_step
        ))
        .with_details(serde_json::json!({ "step": req.current_step })));
    }
    let now = Utc::now();
    tx.repo::<decision::Entity>()
        .insert(decision::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            request_id: Set(req.id),
            step_order: Set(req.current_step),
            reviewer_id: Set(user),
            decision: Set(verdict.into()),
            comment: Set(comment),
            decided_at: Set(now),
        })
        .await?;
    let doc = document(tx, req.document_id).await?;
    let last = req.current_step as usize >= steps.len();
    let (status, next, doc_to) = match verdict {
        "approved" if !last => ("pending", req.current_step + 1, None),
        "approved" => ("approved", req.current_step, Some("approved")),
        other => (other, req.current_step, Some("draft")),
    };
    let step_decided = req.current_step;
    let submitted_by = req.created_by;
    let mut row: approval::ActiveModel = req.into();
    row.status = Set(status.into());
    row.current_step = Set(next);
    if status != "pending" {
        row.decided_at = Set(Some(now));
    }
    let req = tx.repo::<approval::Entity>().update(row).await?;
    if let Some(to) = doc_to {
        move_to(ctx, tx, doc, to, Actor::User(user)).await?;
    }
    publish(
        ctx,
        tx,
        user,
        &ApprovalDecided {
            document_id: req.document_id,
            request_id: req.id,
            step: step_decided,
            reviewer_id: user,
            decision: verdict.into(),
            status: status.into(),
            submitted_by,
        },
    )
    .await?;
    if status == "pending" {
        announce(ctx, tx, user, &req).await?;
    }
    let decisions = decisions_of(tx, req.id).await?;
    Ok((req, decisions))
}

pub(crate) async fn decisions_of(
    tx: &TenantTx,
    request_id: Uuid,
) -> Result<Vec<decision::Model>, ApiError> {
    let repo = tx.repo::<decision::Entity>();
    Ok(repo
        .find()
        .filter(decision::Column::RequestId.eq(request_id))
        .order_by_asc(decision::Column::DecidedAt)
        .order_by_asc(decision::Column::Id)
        .all(repo.conn())
        .await?)
}

/// A document's approval requests, newest first.
pub(crate) async fn requests_of(
    tx: &TenantTx,
    document_id: Uuid,
) -> Result<Vec<approval::Model>, ApiError> {
    let repo = tx.repo::<approval::Entity>();
    Ok(repo
        .find()
        .filter(approval::Column::DocumentId.eq(document_id))
        .order_by_desc(approval::Column::CreatedAt)
        .order_by_desc(approval::Column::Id)
        .all(repo.conn())
        .await?)
}
