//! External review: sending a document with a review link, the link's routes (for someone
//! without an account: `Public`, the token verified first), suggestions and their decisions.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{Public, State, ValidJson, trimmed_optional};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::documents::DocumentClause;
use crate::entity::{review_token, suggestion};
use crate::module::Settings;
use crate::permissions::{ReadDocuments, WriteDocuments};
use crate::service::review::{self as service, NewSuggestion, live};
use crate::service::{document, documents::clauses_of, revisions::revisions_of};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(open)
        .service(suggest)
        .service(send)
        .service(links)
        .service(revoke)
        .service(suggestions)
        .service(decide);
}

/// A review link (never its token: that went by email).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::ReviewLink)]
pub struct ReviewLink {
    pub id: Uuid,
    pub document_id: Uuid,
    pub recipient_email: String,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// Neither revoked nor expired.
    pub active: bool,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<review_token::Model> for ReviewLink {
    fn from(m: review_token::Model) -> Self {
        Self {
            active: live(&m, Utc::now()),
            id: m.id,
            document_id: m.document_id,
            recipient_email: m.recipient_email,
            expires_at: m.expires_at,
            revoked_at: m.revoked_at,
            last_used_at: m.last_used_at,
            created_by: m.created_by,
            created_at: m.created_at,
        }
    }
}

/// `POST /documents/{id}/send`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::SendForReview)]
pub struct SendForReview {
    #[serde(alias = "recipientEmail")]
    #[schema(format = Email, max_length = 254)]
    #[garde(email, length(max = 254))]
    pub recipient_email: String,
    /// Days the link works (default the cell's `review_days`, 14).
    #[schema(minimum = 1, maximum = 90)]
    #[garde(inner(range(min = 1, max = 90)))]
    pub expires_in_days: Option<u32>,
}

/// Sends a document to an external reviewer: a review link by email (valid for that document
/// only, until it expires or is revoked); the document is `sent` (`documents.document.sent`).
#[utoipa::path(tag = TAG, request_body = SendForReview, responses(
    (status = 201, body = ReviewLink), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[post("/documents/{id}/send")]
pub(crate) async fn send(
    ctx: CellContext,
    tx: WriteDocuments,
    settings: State<Settings>,
    id: web::Path<Uuid>,
    body: ValidJson<SendForReview>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let email = b.recipient_email.trim().to_lowercase();
    let (_, link) = service::send(
        &ctx,
        &tx,
        &settings,
        tx.caller().user_id,
        id.into_inner(),
        &email,
        b.expires_in_days,
    )
    .await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(ReviewLink::from(link)))
}

/// A document's review links, newest first.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<ReviewLink>), (status = 401), (status = 403), (status = 404)))]
#[get("/documents/{id}/review-links")]
pub(crate) async fn links(tx: ReadDocuments, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let doc = document(&tx, id.into_inner()).await?;
    let out: Vec<ReviewLink> = service::links_of(&tx, doc.id)
        .await?
        .into_iter()
        .map(ReviewLink::from)
        .collect();
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// Revokes a review link: it opens nothing from now on.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = ReviewLink), (status = 401), (status = 403), (status = 404)))]
#[delete("/documents/{id}/review-links/{link_id}")]
pub(crate) async fn revoke(
    tx: WriteDocuments,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, link_id) = path.into_inner();
    let link = service::revoke(&tx, id, link_id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(ReviewLink::from(link)))
}

/// A suggested edit.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Suggestion)]
pub struct Suggestion {
    pub id: Uuid,
    pub document_id: Uuid,
    /// The review link it came through.
    pub link_id: Uuid,
    pub section: Option<String>,
    /// The field it changes (else it replaces `original_text` in the content).
    pub field_key: Option<String>,
    pub original_text: String,
    pub suggested_text: String,
    pub creator_request: Option<String>,
    /// `PENDING`, `APPROVED` or `REJECTED`.
    pub status: String,
    pub review_notes: Option<String>,
    pub reviewed_by: Option<Uuid>,
    pub reviewed_at: Option<DateTime<Utc>>,
    /// The revision an approved suggestion made.
    pub revision_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

impl From<suggestion::Model> for Suggestion {
    fn from(m: suggestion::Model) -> Self {
        Self {
            id: m.id,
            document_id: m.document_id,
            link_id: m.token_id,
            section: m.section,
            field_key: m.field_key,
            original_text: m.original_text,
            suggested_text: m.suggested_text,
            creator_request: m.creator_request,
            status: m.status,
            review_notes: m.review_notes,
            reviewed_by: m.reviewed_by,
            reviewed_at: m.reviewed_at,
            revision_id: m.revision_id,
            created_at: m.created_at,
        }
    }
}

/// What a reviewer sees through their link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::ReviewView)]
pub struct ReviewView {
    pub document_id: Uuid,
    pub title: String,
    #[serde(rename = "type")]
    pub doc_type: String,
    pub status: String,
    pub content: String,
    pub clauses: Vec<DocumentClause>,
    /// The document's revisions: number, when, and what they were.
    pub revisions: Vec<RevisionNote>,
    /// The suggestions made through this link.
    pub suggestions: Vec<Suggestion>,
    pub expires_at: DateTime<Utc>,
}

/// A revision as a reviewer sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::RevisionNote)]
pub struct RevisionNote {
    pub number: i32,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// Opens a document by its review link (no account): the document, its revisions and the
/// suggestions made through the link; a `sent` document is now in `client_review`. 404 for an
/// unknown link, 410 for a revoked or expired one.
#[utoipa::path(tag = TAG, security(()), responses(
    (status = 200, body = ReviewView), (status = 404), (status = 410)))]
#[get("/documents/review/{token}")]
pub(crate) async fn open(
    _: Public,
    ctx: CellContext,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = token.into_inner();
    let org = crate::service::link_org(&token, "review link")?;
    let tx = ctx.db().tenant(org).await?;
    let (link, doc) = service::open(&ctx, &tx, &token).await?;
    let expires_at = link.expires_at;
    let link_id = link.id;
    let doc = service::opened(&ctx, &tx, link, doc).await?;
    let clauses = clauses_of(&tx, doc.id).await?;
    let revisions = revisions_of(&tx, doc.id).await?;
    let mine = service::suggestions_of(&tx, doc.id, Some(link_id)).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .json(ReviewView {
            document_id: doc.id,
            title: doc.title,
            doc_type: doc.doc_type,
            status: doc.status,
            content: doc.content,
            clauses: clauses.into_iter().map(DocumentClause::from).collect(),
            revisions: revisions
                .into_iter()
                .map(|r| RevisionNote {
                    number: r.number,
                    description: r.description,
                    created_at: r.created_at,
                })
                .collect(),
            suggestions: mine.into_iter().map(Suggestion::from).collect(),
            expires_at,
        }))
}

/// `POST /documents/review/{token}/suggest`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::NewSuggestion)]
pub struct NewSuggestionBody {
    /// Where in the document (`Payment terms`).
    #[schema(max_length = 200)]
    #[garde(inner(length(chars, max = 200)))]
    pub section: Option<String>,
    /// The field it changes (`data-field`); omit to replace text in the content.
    #[serde(alias = "fieldKey")]
    #[schema(max_length = 200, pattern = r"^[A-Za-z0-9_.\-]+$")]
    #[garde(inner(length(max = 200)))]
    pub field_key: Option<String>,
    /// What the document says now (the field's value, or the text to replace).
    #[serde(alias = "originalText")]
    #[schema(max_length = 20000)]
    #[garde(length(chars, max = 20000))]
    pub original_text: String,
    #[serde(alias = "suggestedText")]
    #[schema(max_length = 20000)]
    #[garde(length(chars, max = 20000))]
    pub suggested_text: String,
    /// What the reviewer asks for, in their words.
    #[serde(alias = "creatorRequest")]
    #[schema(max_length = 5000)]
    #[garde(inner(length(chars, max = 5000)))]
    pub creator_request: Option<String>,
}

/// Suggests an edit through a review link (`PENDING`; the document's owner is notified).
#[utoipa::path(tag = TAG, security(()), request_body = NewSuggestionBody, responses(
    (status = 201, body = Suggestion), (status = 404), (status = 409), (status = 410), (status = 422)))]
#[post("/documents/review/{token}/suggest")]
pub(crate) async fn suggest(
    _: Public,
    ctx: CellContext,
    token: web::Path<String>,
    body: ValidJson<NewSuggestionBody>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let token = token.into_inner();
    let org = crate::service::link_org(&token, "review link")?;
    let new = NewSuggestion {
        section: trimmed_optional("section", b.section, 200)?,
        field_key: b.field_key,
        original_text: b.original_text,
        suggested_text: b.suggested_text,
        creator_request: trimmed_optional("creator_request", b.creator_request, 5000)?,
    };
    if new.field_key.is_none() && new.original_text.trim().is_empty() {
        return Err(ApiError::validation(
            "original_text",
            "the text to replace (or a field_key)",
        ));
    }
    let tx = ctx.db().tenant(org).await?;
    let (link, doc) = service::open(&ctx, &tx, &token).await?;
    let s = service::suggest(&ctx, &tx, link, doc, new).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(Suggestion::from(s)))
}

/// A document's suggestions, newest first (at most 1000).
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Suggestion>), (status = 401), (status = 403), (status = 404)))]
#[get("/documents/{id}/suggestions")]
pub(crate) async fn suggestions(tx: ReadDocuments, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let doc = document(&tx, id.into_inner()).await?;
    let out: Vec<Suggestion> = service::suggestions_of(&tx, doc.id, None)
        .await?
        .into_iter()
        .map(Suggestion::from)
        .collect();
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out))
}

/// `PATCH /documents/{id}/suggestions/{suggestion_id}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::SuggestionDecision)]
pub struct SuggestionDecision {
    /// `APPROVED` (it becomes a revision) or `REJECTED`.
    #[schema(pattern = "^(APPROVED|REJECTED)$")]
    #[garde(skip)]
    pub status: String,
    #[serde(alias = "reviewNotes")]
    #[schema(max_length = 5000)]
    #[garde(inner(length(chars, max = 5000)))]
    pub review_notes: Option<String>,
}

/// Decides a suggestion: approved, it becomes a revision (409 when what it changes has changed
/// since); rejected, its review notes are kept.
#[utoipa::path(tag = TAG, request_body = SuggestionDecision, responses(
    (status = 200, body = Suggestion), (status = 401), (status = 403), (status = 404), (status = 409),
    (status = 422)))]
#[patch("/documents/{id}/suggestions/{suggestion_id}")]
pub(crate) async fn decide(
    ctx: CellContext,
    tx: WriteDocuments,
    path: web::Path<(Uuid, Uuid)>,
    body: ValidJson<SuggestionDecision>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let approve = match b.status.as_str() {
        "APPROVED" => true,
        "REJECTED" => false,
        _ => return Err(ApiError::validation("status", "APPROVED or REJECTED")),
    };
    let notes = trimmed_optional("review_notes", b.review_notes, 5000)?;
    let (id, sid) = path.into_inner();
    let (s, _) = service::decide(&ctx, &tx, tx.caller().user_id, id, sid, approve, notes).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Suggestion::from(s)))
}
