//! `/documents`: documents and templates, made from templates, their clause copies, the trash,
//! and their PDF.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{AdministerOrg, ListQuery, ListSpec, Page, State, ValidJson, trimmed};
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use kernel::{ApiError, ApiResult, CellContext, TenantTx};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use crate::entity::{doc_clause, document};
use crate::module::Settings;
use crate::permissions::{ReadDocuments, WriteDocuments};
use crate::service::documents::{self as service, FieldDef, NewDocument, Patch, defs_of};
use crate::service::{DOC_TYPES, TEMPLATE, approvals, fields_of, one_of, signatures};

pub(super) fn configure_static(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(list)
        .service(create)
        .service(templates)
        .service(from_template);
}

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(read)
        .service(update)
        .service(remove)
        .service(insert_clause)
        .service(remove_clause)
        .service(pdf);
}

/// A clause as a document holds it: a copy of one version.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::DocumentClause)]
pub struct DocumentClause {
    pub clause_id: Uuid,
    pub version: i32,
    pub title: String,
    pub content: String,
    pub position: i32,
}

impl From<doc_clause::Model> for DocumentClause {
    fn from(m: doc_clause::Model) -> Self {
        Self {
            clause_id: m.clause_id,
            version: m.version,
            title: m.title,
            content: m.content,
            position: m.position,
        }
    }
}

/// A document in a list (its content left out).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::DocumentSummary)]
pub struct DocumentSummary {
    pub id: Uuid,
    pub title: String,
    /// `contract`, `proposal`, `sow`, `note` or `template`.
    #[serde(rename = "type")]
    pub doc_type: String,
    /// `draft`, `internal_review`, `approved`, `sent`, `client_review`, `out_for_signature`,
    /// `signed` or `cancelled`.
    pub status: String,
    /// The latest revision (`null` before the first).
    pub revision: Option<i32>,
    pub template_id: Option<Uuid>,
    pub contact_id: Option<Uuid>,
    pub expires_at: Option<DateTime<Utc>>,
    pub signed_at: Option<DateTime<Utc>>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<document::Model> for DocumentSummary {
    fn from(m: document::Model) -> Self {
        Self {
            id: m.id,
            title: m.title,
            doc_type: m.doc_type,
            status: m.status,
            revision: m.revision,
            template_id: m.template_id,
            contact_id: m.contact_id,
            expires_at: m.expires_at,
            signed_at: m.signed_at,
            created_by: m.created_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A document with its content, fields, clauses, and where its approval and signature stand.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Document)]
pub struct Document {
    #[serde(flatten)]
    pub summary: DocumentSummary,
    /// Sanitized HTML; `data-field` elements show the fields.
    pub content: String,
    pub fields: BTreeMap<String, String>,
    /// The typed fields of a template (and of documents made from one).
    pub field_defs: Vec<FieldDef>,
    pub clauses: Vec<DocumentClause>,
    /// Revisions after the baseline (0 before the first).
    pub revision_count: i32,
    /// The latest approval request's status (`pending`, `approved`, `rejected`,
    /// `returned_for_changes`).
    pub approval_status: Option<String>,
    /// The latest signature request's status (`pending`, `completed`, `declined`, `voided`).
    pub signature_status: Option<String>,
    /// SHA-256 of the content signed.
    pub signed_hash: Option<String>,
    /// The signed PDF (a file attached to the document: `GET /files/{id}/download`).
    pub signed_file_id: Option<Uuid>,
}

/// A document as its routes answer it.
pub(super) async fn view(tx: &TenantTx, m: document::Model) -> Result<Document, ApiError> {
    let clauses = service::clauses_of(tx, m.id)
        .await?
        .into_iter()
        .map(DocumentClause::from)
        .collect();
    let approval_status = approvals::requests_of(tx, m.id)
        .await?
        .into_iter()
        .next()
        .map(|r| r.status);
    let signature_status = signatures::latest(tx, m.id).await?.map(|s| s.status);
    Ok(Document {
        content: m.content.clone(),
        fields: fields_of(&m),
        field_defs: defs_of(&m),
        clauses,
        revision_count: m.revision.unwrap_or(0),
        approval_status,
        signature_status,
        signed_hash: m.signed_hash.clone(),
        signed_file_id: m.signed_file_id,
        summary: DocumentSummary::from(m),
    })
}

pub(crate) fn document_list() -> ListSpec<document::Entity> {
    use document::Column as C;
    ListSpec::new()
        .field("type", C::DocType)
        .field("status", C::Status)
        .field("template_id", C::TemplateId)
        .field("contact_id", C::ContactId)
        .field("created_by", C::CreatedBy)
        .sortable("title", C::Title)
        .sortable("created_at", C::CreatedAt)
        .sortable("updated_at", C::UpdatedAt)
        .sortable("expires_at", C::ExpiresAt)
        .search([C::Title])
        .tagged(crate::loader::DOCUMENT, C::Id)
        .default_sort(C::CreatedAt, true)
        .tiebreak(C::Id)
}

kernel::list_params!(DocumentListParams, document_list);

/// The org's documents and templates, newest first (`filter[type]`, `filter[status]`,
/// `filter[template_id]`, `filter[contact_id]`, `search` on titles, `tags`, paged).
#[utoipa::path(tag = TAG, params(DocumentListParams), responses(
    (status = 200, body = Page<DocumentSummary>), (status = 401), (status = 403), (status = 422)))]
#[get("/documents")]
pub(crate) async fn list(tx: ReadDocuments, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = document_list().apply(&query, tx.repo::<document::Entity>().find())?;
    let page = tx.page(select, &query).await?.map(DocumentSummary::from);
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The org's templates, newest first (paged, `search` on titles).
#[utoipa::path(tag = TAG, params(DocumentListParams), responses(
    (status = 200, body = Page<DocumentSummary>), (status = 401), (status = 403), (status = 422)))]
#[get("/documents/templates")]
pub(crate) async fn templates(tx: ReadDocuments, query: ListQuery) -> ApiResult<HttpResponse> {
    let select = document_list().apply(
        &query,
        tx.repo::<document::Entity>()
            .find()
            .filter(document::Column::DocType.eq(TEMPLATE)),
    )?;
    let page = tx.page(select, &query).await?.map(DocumentSummary::from);
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(page))
}

/// `POST /documents`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::NewDocument)]
pub struct NewDocumentBody {
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 500))]
    pub title: String,
    /// `contract` (default), `proposal`, `sow`, `note` or `template`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(contract|proposal|sow|note|template)$")]
    #[garde(skip)]
    pub doc_type: Option<String>,
    /// HTML (sanitized: structure and emphasis are kept, scripts and styles are not); elements
    /// with `data-field="<name>"` show that field.
    #[schema(max_length = 2097152)]
    #[garde(length(max = 2_097_152))]
    pub content: Option<String>,
    /// Field values written into the content.
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    #[garde(skip)]
    pub fields: Option<BTreeMap<String, String>>,
    /// A template's typed fields.
    #[schema(max_items = 200)]
    #[garde(length(max = 200))]
    pub field_defs: Option<Vec<FieldDef>>,
    #[garde(skip)]
    pub contact_id: Option<Uuid>,
    #[garde(skip)]
    pub expires_at: Option<DateTime<Utc>>,
}

fn check_fields(fields: &BTreeMap<String, String>) -> Result<(), ApiError> {
    if fields.len() > service::MAX_FIELDS {
        return Err(ApiError::validation("fields", "at most 200 fields"));
    }
    for (k, v) in fields {
        service::field_name(&format!("fields.{k}"), k)?;
        if v.chars().count() > service::MAX_VALUE {
            return Err(ApiError::validation(
                &format!("fields.{k}"),
                "at most 20000 characters",
            ));
        }
    }
    Ok(())
}

/// Creates a document, or a template (`type: template`, with `field_defs`), as a draft
/// (`documents.document.created`).
#[utoipa::path(tag = TAG, request_body = NewDocumentBody, responses(
    (status = 201, body = Document), (status = 401), (status = 403), (status = 409), (status = 422)))]
#[post("/documents")]
pub(crate) async fn create(
    ctx: CellContext,
    tx: WriteDocuments,
    settings: State<Settings>,
    body: ValidJson<NewDocumentBody>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let doc_type = b.doc_type.unwrap_or_else(|| "contract".into());
    one_of("type", &doc_type, &DOC_TYPES)?;
    let fields = b.fields.unwrap_or_default();
    check_fields(&fields)?;
    let field_defs = b.field_defs.unwrap_or_default();
    if !field_defs.is_empty() && doc_type != TEMPLATE {
        return Err(ApiError::validation(
            "field_defs",
            "only a template declares fields",
        ));
    }
    let new = NewDocument {
        title: trimmed("title", &b.title, 500)?,
        doc_type,
        content: b.content.unwrap_or_default(),
        fields,
        field_defs,
        template_id: None,
        contact_id: b.contact_id,
        expires_at: b.expires_at,
    };
    let row = service::create(&ctx, &tx, &settings, tx.caller().user_id, new).await?;
    let out = view(&tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out))
}

/// `POST /documents/from-template/{id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::FromTemplate)]
pub struct FromTemplate {
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 500))]
    pub title: String,
    /// `contract` (default), `proposal`, `sow` or `note`.
    #[serde(rename = "type")]
    #[schema(pattern = "^(contract|proposal|sow|note)$")]
    #[garde(skip)]
    pub doc_type: Option<String>,
    #[garde(skip)]
    pub contact_id: Option<Uuid>,
    /// Values of the template's fields (checked against their types; required ones without a
    /// default must be given).
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    #[garde(skip)]
    pub fields: Option<BTreeMap<String, String>>,
    #[garde(skip)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// Makes a draft from a template: its content with the field values, its typed fields, its
/// clauses and the org's default clauses, each at its current version.
#[utoipa::path(tag = TAG, request_body = FromTemplate, responses(
    (status = 201, body = Document), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/documents/from-template/{id}")]
pub(crate) async fn from_template(
    ctx: CellContext,
    tx: WriteDocuments,
    settings: State<Settings>,
    id: web::Path<Uuid>,
    body: ValidJson<FromTemplate>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let doc_type = b.doc_type.unwrap_or_else(|| "contract".into());
    one_of("type", &doc_type, &DOC_TYPES[..4])?;
    let fields = b.fields.unwrap_or_default();
    check_fields(&fields)?;
    let new = NewDocument {
        title: trimmed("title", &b.title, 500)?,
        doc_type,
        content: String::new(),
        fields,
        field_defs: Vec::new(),
        template_id: None,
        contact_id: b.contact_id,
        expires_at: b.expires_at,
    };
    let by = tx.caller().user_id;
    let row = service::from_template(&ctx, &tx, &settings, by, id.into_inner(), new).await?;
    let out = view(&tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out))
}

/// One document with its content, fields and clauses, its revision count and where its
/// approval and signature stand.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Document), (status = 401), (status = 403), (status = 404)))]
#[get("/documents/{id}")]
pub(crate) async fn read(tx: ReadDocuments, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let row = crate::service::document(&tx, id.into_inner()).await?;
    let out = view(&tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `PATCH /documents/{id}`: `null` clears a nullable field.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::DocumentPatch)]
pub struct DocumentPatch {
    #[schema(min_length = 1, max_length = 500, pattern = r"\S")]
    #[garde(inner(length(chars, min = 1, max = 500)))]
    pub title: Option<String>,
    /// The content, until the first revision (then it changes by revisions, which the
    /// redline shows).
    #[schema(max_length = 2097152)]
    #[garde(inner(length(max = 2_097_152)))]
    pub content: Option<String>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<DateTime<Utc>>)]
    #[garde(skip)]
    pub expires_at: Option<Option<DateTime<Utc>>>,
    #[serde(default, deserialize_with = "kernel::http::nullable")]
    #[schema(value_type = Option<Uuid>)]
    #[garde(skip)]
    pub contact_id: Option<Option<Uuid>>,
    /// A template's typed fields.
    #[schema(max_items = 200)]
    #[garde(inner(length(max = 200)))]
    pub field_defs: Option<Vec<FieldDef>>,
    /// `cancelled` only: the other statuses follow approvals, review and signatures.
    #[schema(pattern = "^cancelled$")]
    #[garde(skip)]
    pub status: Option<String>,
}

/// Changes a document's details (a signed document changes no more).
#[utoipa::path(tag = TAG, request_body = DocumentPatch, responses(
    (status = 200, body = Document), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[patch("/documents/{id}")]
pub(crate) async fn update(
    ctx: CellContext,
    tx: WriteDocuments,
    id: web::Path<Uuid>,
    body: ValidJson<DocumentPatch>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let patch = Patch {
        title: b.title.map(|t| trimmed("title", &t, 500)).transpose()?,
        content: b.content,
        expires_at: b.expires_at,
        contact_id: b.contact_id,
        field_defs: b.field_defs,
        status: b.status,
    };
    let row = service::update(&ctx, &tx, tx.caller().user_id, id.into_inner(), patch).await?;
    let out = view(&tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Moves a document to the trash (its creator or an admin; a signed document is kept). It comes
/// back with `POST /trash/{id}/restore?type=document`.
#[utoipa::path(tag = TAG, responses(
    (status = 204), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[delete("/documents/{id}")]
pub(crate) async fn remove(
    ctx: CellContext,
    tx: WriteDocuments,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let doc = crate::service::document(&tx, id.into_inner()).await?;
    if doc.created_by != tx.caller().user_id {
        tx.require::<AdministerOrg>(&ctx, None).await?;
    }
    service::delete(&ctx, &tx, tx.caller().user_id, doc).await?;
    tx.commit().await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /documents/{id}/clauses`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::ClauseInsert)]
pub struct ClauseInsert {
    #[garde(skip)]
    pub clause_id: Uuid,
    /// Where it goes (0 first); default last.
    #[schema(minimum = 0, maximum = 500)]
    #[garde(inner(range(max = 500)))]
    pub position: Option<u32>,
}

/// Inserts a copy of a clause's current version into a document.
#[utoipa::path(tag = TAG, request_body = ClauseInsert, responses(
    (status = 201, body = Document), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/documents/{id}/clauses")]
pub(crate) async fn insert_clause(
    ctx: CellContext,
    tx: WriteDocuments,
    id: web::Path<Uuid>,
    body: ValidJson<ClauseInsert>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let by = tx.caller().user_id;
    let row =
        service::insert_clause(&ctx, &tx, by, id.into_inner(), b.clause_id, b.position).await?;
    let out = view(&tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out))
}

/// Takes a clause out of a document.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Document), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[delete("/documents/{id}/clauses/{clause_id}")]
pub(crate) async fn remove_clause(
    ctx: CellContext,
    tx: WriteDocuments,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, clause_id) = path.into_inner();
    let row = service::remove_clause(&ctx, &tx, tx.caller().user_id, id, clause_id).await?;
    let out = view(&tx, row).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /documents/{id}/pdf`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PdfQuery {
    /// Draw the redline of the pending changes (default: the clean document).
    pub redline: Option<bool>,
    /// With the redline, show the old values struck through (default true).
    pub show_old: Option<bool>,
}

/// The document as a PDF (typeset by the cell): the content, then the clauses; with
/// `redline=true`, the pending changes marked.
#[utoipa::path(tag = TAG, params(PdfQuery), responses(
    (status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 401), (status = 403),
    (status = 404)))]
#[get("/documents/{id}/pdf")]
pub(crate) async fn pdf(
    tx: ReadDocuments,
    id: web::Path<Uuid>,
    q: web::Query<PdfQuery>,
) -> ApiResult<HttpResponse> {
    let doc = crate::service::document(&tx, id.into_inner()).await?;
    let html = match q.redline.unwrap_or(false) {
        true => {
            crate::service::revisions::redline_of(
                &tx,
                &doc,
                None,
                crate::service::revisions::Mode::Cumulative,
                q.show_old.unwrap_or(true),
            )
            .await?
            .html
        }
        false => doc.content.clone(),
    };
    let all = signatures::printed(&tx, &doc, &html).await?;
    tx.commit().await?;
    let subtitle = match doc.revision {
        Some(r) => format!("{} · revision {r}", doc.status),
        None => doc.status.clone(),
    };
    let bytes = signatures::render_off_thread(doc.title.clone(), Some(subtitle), all).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            "Content-Disposition",
            format!("inline; filename=\"document-{}.pdf\"", doc.id),
        ))
        .body(bytes))
}
