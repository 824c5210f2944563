//! Revisions, the redline, decisions on tracked changes, versions and their comparison.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::ValidJson;
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{change, revision};
use crate::permissions::{ReadDocuments, WriteDocuments};
use crate::service::revisions::{self as service, Edit, FieldChange, Mode};
use crate::service::{Actor, document};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(history)
        .service(create)
        .service(redline)
        .service(accept)
        .service(reject)
        .service(versions)
        .service(compare);
}

/// A tracked change: one field of one revision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Change)]
pub struct Change {
    pub revision_id: Uuid,
    pub revision: i32,
    /// Its index in the revision (the spec's `opIndex`).
    pub change_order: i32,
    pub field_name: String,
    pub field_label: Option<String>,
    pub old_value: String,
    pub new_value: String,
    /// `pending`, `accepted` or `rejected`.
    pub status: String,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<change::Model> for Change {
    fn from(m: change::Model) -> Self {
        Self {
            revision_id: m.revision_id,
            revision: m.revision_number,
            change_order: m.change_order,
            field_name: m.field_name,
            field_label: m.field_label,
            old_value: m.old_value,
            new_value: m.new_value,
            status: m.status,
            decided_by: m.decided_by,
            decided_at: m.decided_at,
        }
    }
}

/// A revision (0 is the baseline) without its content.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Version)]
pub struct Version {
    pub id: Uuid,
    pub number: i32,
    pub description: Option<String>,
    /// The external suggestion it applied.
    pub suggestion_id: Option<Uuid>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<revision::Model> for Version {
    fn from(m: revision::Model) -> Self {
        Self {
            id: m.id,
            number: m.number,
            description: m.description,
            suggestion_id: m.suggestion_id,
            created_by: m.created_by,
            created_at: m.created_at,
        }
    }
}

/// A revision with its changes.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Revision)]
pub struct Revision {
    #[serde(flatten)]
    pub version: Version,
    pub changes: Vec<Change>,
}

fn with_changes(revs: Vec<revision::Model>, changes: Vec<change::Model>) -> Vec<Revision> {
    let mut by_rev: std::collections::HashMap<Uuid, Vec<Change>> = std::collections::HashMap::new();
    for c in changes {
        by_rev
            .entry(c.revision_id)
            .or_default()
            .push(Change::from(c));
    }
    revs.into_iter()
        .map(|r| Revision {
            changes: by_rev.remove(&r.id).unwrap_or_default(),
            version: Version::from(r),
        })
        .collect()
}

/// A document's revisions, the baseline first, each with its changes.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Revision>), (status = 401), (status = 403), (status = 404)))]
#[get("/documents/{id}/revisions")]
pub(crate) async fn history(tx: ReadDocuments, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let doc = document(&tx, id.into_inner()).await?;
    let revs = service::revisions_of(&tx, doc.id).await?;
    let changes = service::changes_of(&tx, doc.id, None, None).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(with_changes(revs, changes)))
}

/// A field change as the client states it.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::FieldChange)]
pub struct FieldChangeBody {
    /// The field (`data-field` in the content): letters, digits, `_`, `-`, `.`.
    #[schema(min_length = 1, max_length = 200, pattern = r"^[A-Za-z0-9_.\-]+$")]
    #[garde(length(min = 1, max = 200))]
    pub field_name: String,
    #[schema(max_length = 200)]
    #[garde(inner(length(chars, max = 200)))]
    pub field_label: Option<String>,
    /// The value the client saw (`""` for a field never set): 409 if it is no longer the
    /// field's value.
    #[schema(max_length = 20000)]
    #[garde(length(chars, max = 20000))]
    pub old_value: String,
    #[schema(max_length = 20000)]
    #[garde(length(chars, max = 20000))]
    pub new_value: String,
}

/// `POST /documents/{id}/revisions` (`fieldChanges` is accepted for `field_changes`).
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::NewRevision)]
pub struct NewRevision {
    /// The whole new content (HTML, sanitized); omit it to change fields only. Tracked edits
    /// may carry `data-inserted` / `data-deleted` marks.
    #[schema(max_length = 2097152)]
    #[garde(inner(length(max = 2_097_152)))]
    pub content: Option<String>,
    #[serde(default, alias = "fieldChanges")]
    #[schema(max_items = 1000)]
    #[garde(length(max = 1000), dive)]
    pub field_changes: Vec<FieldChangeBody>,
    #[serde(alias = "changeDescription")]
    #[schema(max_length = 500)]
    #[garde(inner(length(chars, max = 500)))]
    pub change_description: Option<String>,
}

/// Saves a revision: revision 0 (the baseline) is stored first when there is none; each field
/// change becomes a change row, in order (`documents.document.revised`).
#[utoipa::path(tag = TAG, request_body = NewRevision, responses(
    (status = 201, body = Revision), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/documents/{id}/revisions")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteDocuments,
    id: web::Path<Uuid>,
    body: ValidJson<NewRevision>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let doc = document(&tx, id.into_inner()).await?;
    let edit = Edit {
        content: b.content,
        changes: b
            .field_changes
            .into_iter()
            .map(|c| FieldChange {
                field_name: c.field_name,
                field_label: c.field_label,
                old_value: c.old_value,
                new_value: c.new_value,
            })
            .collect(),
        description: b.change_description,
        suggestion_id: None,
    };
    let by = Actor::User(tx.caller().user_id);
    let revised = service::revise(&ctx, &tx, by, doc, edit).await?;
    tx.commit().await?;
    let out = Revision {
        version: Version::from(revised.revision),
        changes: revised.changes.into_iter().map(Change::from).collect(),
    };
    Ok(HttpResponse::Created().json(out))
}

/// `GET /documents/{id}/redline`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RedlineQuery {
    /// As of this revision (default: the latest).
    #[param(minimum = 0, maximum = 10000)]
    pub revision: Option<i32>,
    /// `cumulative` (default: every change up to the revision) or `historical` (the
    /// revision's own changes).
    #[param(pattern = "^(cumulative|historical)$")]
    pub mode: Option<String>,
    /// Show old values struck through (default true).
    #[serde(alias = "showOldText")]
    pub show_old: Option<bool>,
}

/// The redline.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Redline)]
pub struct Redline {
    pub document_id: Uuid,
    pub revision: i32,
    pub mode: String,
    pub show_old: bool,
    /// The content with each pending change marked: the old value in a
    /// `<span data-deleted="true">` (when shown), the new one in a `<span data-inserted="true">`.
    pub html: String,
    /// The changes drawn from, in order (accepted and rejected ones included).
    pub changes: Vec<Change>,
}

/// The redline, drawn from the stored field changes (never a comparison of texts).
#[utoipa::path(tag = TAG, params(RedlineQuery), responses(
    (status = 200, body = Redline), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[get("/documents/{id}/redline")]
pub(crate) async fn redline(
    tx: ReadDocuments,
    id: web::Path<Uuid>,
    q: web::Query<RedlineQuery>,
) -> ApiResult<HttpResponse> {
    let mode = match q.mode.as_deref().unwrap_or("cumulative") {
        "cumulative" => Mode::Cumulative,
        "historical" => Mode::Historical,
        _ => {
            return Err(ApiError::validation("mode", "cumulative or historical"));
        }
    };
    let show_old = q.show_old.unwrap_or(true);
    let doc = document(&tx, id.into_inner()).await?;
    let r = service::redline_of(&tx, &doc, q.revision, mode, show_old).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Redline {
        document_id: doc.id,
        revision: r.revision,
        mode: q.mode.clone().unwrap_or_else(|| "cumulative".into()),
        show_old,
        html: r.html,
        changes: r.changes.into_iter().map(Change::from).collect(),
    }))
}

/// A decided change and the document's latest revision.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::DecidedChange)]
pub struct DecidedChange {
    pub change: Change,
    pub document_status: String,
}

async fn decide(
    ctx: CellContext,
    tx: WriteDocuments,
    path: web::Path<(Uuid, u32)>,
    accepted: bool,
) -> ApiResult<HttpResponse> {
    let (revision_id, op) = path.into_inner();
    let op = i32::try_from(op).map_err(|_| ApiError::not_found("no change of that index"))?;
    let by = tx.caller().user_id;
    let (doc, c) = service::decide(&ctx, &tx, by, revision_id, op, accepted).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(DecidedChange {
        change: Change::from(c),
        document_status: doc.status,
    }))
}

/// Accepts change `op_index` (its `change_order`) of a revision: its value becomes the
/// baseline the redline compares with.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = DecidedChange), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[post("/revisions/{id}/accept/{op_index}")]
pub(crate) async fn accept(
    ctx: CellContext,
    tx: WriteDocuments,
    path: web::Path<(Uuid, u32)>,
) -> ApiResult<HttpResponse> {
    decide(ctx, tx, path, true).await
}

/// Rejects change `op_index` of a revision: its field goes back to the old value (only a
/// field's latest change can be rejected).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = DecidedChange), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[post("/revisions/{id}/reject/{op_index}")]
pub(crate) async fn reject(
    ctx: CellContext,
    tx: WriteDocuments,
    path: web::Path<(Uuid, u32)>,
) -> ApiResult<HttpResponse> {
    decide(ctx, tx, path, false).await
}

/// A document's versions (its revisions, the baseline first), without content.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Version>), (status = 401), (status = 403), (status = 404)))]
#[get("/documents/{id}/versions")]
pub(crate) async fn versions(tx: ReadDocuments, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let doc = document(&tx, id.into_inner()).await?;
    let out: Vec<Version> = service::revisions_of(&tx, doc.id)
        .await?
        .into_iter()
        .map(Version::from)
        .collect();
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /documents/{id}/compare`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CompareQuery {
    #[param(minimum = 0, maximum = 10000)]
    pub v1: i32,
    #[param(minimum = 0, maximum = 10000)]
    pub v2: i32,
}

/// A field whose value differs between two versions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::FieldDifference)]
pub struct FieldDifference {
    pub field_name: String,
    pub v1_value: String,
    pub v2_value: String,
}

/// Two versions side by side.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Comparison)]
pub struct Comparison {
    pub v1: Version,
    pub v2: Version,
    /// The fields whose values differ, by name.
    pub fields: Vec<FieldDifference>,
    /// Whether the content differs (beyond its fields, a content edit or an applied
    /// suggestion).
    pub content_changed: bool,
    pub v1_content: String,
    pub v2_content: String,
    /// The changes of the revisions after the older version up to the newer.
    pub changes: Vec<Change>,
}

/// Compares two versions: the field values of each (stored with them) and their content.
#[utoipa::path(tag = TAG, params(CompareQuery), responses(
    (status = 200, body = Comparison), (status = 401), (status = 403), (status = 404), (status = 422)))]
#[get("/documents/{id}/compare")]
pub(crate) async fn compare(
    tx: ReadDocuments,
    id: web::Path<Uuid>,
    q: web::Query<CompareQuery>,
) -> ApiResult<HttpResponse> {
    let doc = document(&tx, id.into_inner()).await?;
    let (a, b, diff) = service::compare(&tx, &doc, q.v1, q.v2).await?;
    let (lo, hi) = (a.number.min(b.number), a.number.max(b.number));
    let changes = match lo == hi {
        true => Vec::new(),
        false => service::changes_of(&tx, doc.id, Some(lo + 1), Some(hi)).await?,
    };
    tx.commit().await?;
    let without_fields = |html: &str| {
        crate::content::with_fields(
            html,
            &crate::content::field_names(html)
                .into_iter()
                .map(|n| (n, String::new()))
                .collect(),
        )
    };
    Ok(HttpResponse::Ok().json(Comparison {
        content_changed: without_fields(&a.content) != without_fields(&b.content),
        fields: diff
            .into_iter()
            .map(|(field_name, v1_value, v2_value)| FieldDifference {
                field_name,
                v1_value,
                v2_value,
            })
            .collect(),
        v1_content: a.content.clone(),
        v2_content: b.content.clone(),
        v1: Version::from(a),
        v2: Version::from(b),
        changes: changes.into_iter().map(Change::from).collect(),
    }))
}
