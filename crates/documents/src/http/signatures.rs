//! Signatures: sending a document for signature, its status, the built-in provider's signing
//! link (`/sign/{token}`, for someone without an account), and the external provider's webhook
//! (`/webhooks/{provider}`, verified by its signature before anything is read).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use kernel::http::{Public, RequestInfo, Signed, State, ValidJson, trimmed};
use kernel::sea_orm::{ColumnTrait, ExprTrait};
use kernel::{ApiError, ApiResult, CellContext};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::TAG;
use super::documents::DocumentClause;
use crate::entity::{signature, signer};
use crate::module::Settings;
use crate::permissions::{ReadDocuments, WriteDocuments};
use crate::service::documents::clauses_of;
use crate::service::signatures::{self as service, Evidence, SignerInput};

pub(super) fn configure(cfg: &mut utoipa_actix_web::service_config::ServiceConfig<'_>) {
    cfg.service(send)
        .service(status)
        .service(remind)
        .service(page)
        .service(sign)
        .service(decline)
        .service(webhook);
}

/// A signer and where they stand.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Signer)]
pub struct Signer {
    pub email: String,
    pub name: String,
    pub order: i32,
    pub signed_at: Option<DateTime<Utc>>,
    pub declined_at: Option<DateTime<Utc>>,
    /// When the signing link last sent to them stops working (built-in provider).
    pub link_expires_at: Option<DateTime<Utc>>,
}

impl From<signer::Model> for Signer {
    fn from(m: signer::Model) -> Self {
        Self {
            email: m.email,
            name: m.name,
            order: m.order_no,
            signed_at: m.signed_at,
            declined_at: m.declined_at,
            link_expires_at: m.link_expires_at,
        }
    }
}

/// A signature request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::SignatureRequest)]
pub struct SignatureRequest {
    pub id: Uuid,
    pub document_id: Uuid,
    /// `builtin` or the cell's external provider.
    pub provider: String,
    /// The external provider's envelope (once created).
    pub envelope_id: Option<String>,
    /// `sequential` or `parallel`.
    pub order: String,
    /// `pending`, `completed`, `declined` or `voided`.
    pub status: String,
    /// SHA-256 of the content sent for signature.
    pub document_hash: String,
    pub signers: Vec<Signer>,
    /// The completion certificate (who signed, when, from where, the hash).
    #[schema(value_type = Option<Object>)]
    pub certificate: Option<serde_json::Value>,
    /// The signed PDF (a file attached to the document).
    pub file_id: Option<Uuid>,
    pub sent_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
}

fn out(m: signature::Model, signers: Vec<signer::Model>) -> SignatureRequest {
    SignatureRequest {
        id: m.id,
        document_id: m.document_id,
        provider: m.provider,
        envelope_id: m.envelope_id,
        order: m.signing_order,
        status: m.status,
        document_hash: m.document_hash,
        signers: signers.into_iter().map(Signer::from).collect(),
        certificate: m.certificate,
        file_id: m.file_id,
        sent_at: m.sent_at,
        completed_at: m.completed_at,
    }
}

/// A signer as `send-for-signature` names them.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::SignerInput)]
pub struct SignerBody {
    #[schema(format = Email, max_length = 254)]
    #[garde(email, length(max = 254))]
    pub email: String,
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub name: String,
    /// 1-based; in a sequential request a signer signs after every lower order (default: the
    /// order given).
    #[schema(minimum = 1, maximum = 100)]
    #[garde(inner(range(min = 1, max = 100)))]
    pub order: Option<i32>,
}

/// `POST /documents/{id}/send-for-signature`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::SendForSignature)]
pub struct SendForSignature {
    /// `builtin` (default) or the cell's external e-sign provider (`esign_name`).
    #[schema(max_length = 50)]
    #[garde(inner(length(max = 50)))]
    pub provider: Option<String>,
    #[schema(min_items = 1, max_items = 20)]
    #[garde(length(min = 1, max = 20), dive)]
    pub signers: Vec<SignerBody>,
    /// `sequential` (default) or `parallel`.
    #[schema(pattern = "^(sequential|parallel)$")]
    #[garde(skip)]
    pub order: Option<String>,
}

/// Sends a document for signature: built-in (a signing link by email to each signer in turn)
/// or through the external provider (an envelope created after this commits); the document is
/// `out_for_signature`.
#[utoipa::path(tag = TAG, request_body = SendForSignature, responses(
    (status = 201, body = SignatureRequest), (status = 401), (status = 403), (status = 404),
    (status = 409), (status = 422)))]
#[post("/documents/{id}/send-for-signature")]
pub(crate) async fn send(
    ctx: CellContext,
    tx: WriteDocuments,
    settings: State<Settings>,
    id: web::Path<Uuid>,
    body: ValidJson<SendForSignature>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    let provider = b.provider.unwrap_or_else(|| service::BUILTIN.into());
    let order = b.order.unwrap_or_else(|| "sequential".into());
    let list = b
        .signers
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(SignerInput {
                email: s.email.trim().to_lowercase(),
                name: trimmed(&format!("signers[{i}].name"), &s.name, 200)?,
                order: s.order,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let by = tx.caller().user_id;
    let (_, req) = service::send(
        &ctx,
        &tx,
        &settings,
        by,
        id.into_inner(),
        &provider,
        &order,
        list,
    )
    .await?;
    let signers = service::signers_of(&tx, req.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Created().json(out(req, signers)))
}

/// The document's latest signature request; 404 when it was never sent for signature.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = SignatureRequest), (status = 401), (status = 403), (status = 404)))]
#[get("/documents/{id}/signature-status")]
pub(crate) async fn status(tx: ReadDocuments, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let doc = crate::service::document(&tx, id.into_inner()).await?;
    let req = service::latest(&tx, doc.id)
        .await?
        .ok_or_else(|| ApiError::not_found("this document was never sent for signature"))?;
    let signers = service::signers_of(&tx, req.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(out(req, signers)))
}

/// Sends the signers whose turn it is a new signing link (the one they had stops working),
/// valid `signing_days` from now: a reminder, and the way back from an expired link. Built-in
/// requests only; 409 unless the latest request is pending. Answers the signers reminded.
#[utoipa::path(tag = TAG, responses(
    (status = 200, body = Vec<Signer>), (status = 401), (status = 403), (status = 404),
    (status = 409)))]
#[post("/documents/{id}/remind-signers")]
pub(crate) async fn remind(
    ctx: CellContext,
    tx: WriteDocuments,
    settings: State<Settings>,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let by = tx.caller().user_id;
    let reminded = service::remind(&ctx, &tx, &settings, by, id.into_inner()).await?;
    tx.commit().await?;
    let out: Vec<Signer> = reminded.into_iter().map(Signer::from).collect();
    Ok(HttpResponse::Ok().json(out))
}

/// What a signer sees through their link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::SigningPage)]
pub struct SigningPage {
    pub document_id: Uuid,
    pub title: String,
    pub content: String,
    pub clauses: Vec<DocumentClause>,
    /// SHA-256 of what is signed: recorded with the signature.
    pub document_hash: String,
    pub signer: Signer,
    /// Whether it is this signer's turn (a sequential request waits for earlier signers).
    pub your_turn: bool,
}

fn org_of(token: &str) -> Result<Uuid, ApiError> {
    crate::service::link_org(token, "signing link")
}

/// Opens a document by its signing link (built-in provider; no account). 404 for an unknown
/// link, 410 once the request is over.
#[utoipa::path(tag = TAG, security(()), responses(
    (status = 200, body = SigningPage), (status = 404), (status = 410)))]
#[get("/sign/{token}")]
pub(crate) async fn page(
    _: Public,
    ctx: CellContext,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = token.into_inner();
    let tx = ctx.db().tenant_read(org_of(&token)?).await?;
    let (s, req, doc) = service::open(&ctx, &tx, &token).await?;
    let your_turn = service::turn(&tx, &req, &s).await.is_ok();
    let clauses = clauses_of(&tx, doc.id).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .json(SigningPage {
            document_id: doc.id,
            title: doc.title,
            content: doc.content,
            clauses: clauses.into_iter().map(DocumentClause::from).collect(),
            document_hash: req.document_hash,
            signer: Signer::from(s),
            your_turn,
        }))
}

/// `POST /sign/{token}`.
#[derive(Debug, Deserialize, garde::Validate, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = documents::Sign)]
pub struct Sign {
    /// The signer's name as they type it.
    #[schema(min_length = 1, max_length = 200, pattern = r"\S")]
    #[garde(length(chars, min = 1, max = 200))]
    pub typed_name: String,
    /// They agree to sign electronically: must be `true`.
    #[garde(skip)]
    pub agree: bool,
}

/// Where a signing stands after a signature.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::Signing)]
pub struct Signing {
    /// `pending` (others still sign) or `completed`.
    pub status: String,
    /// The document's status (`signed` once everyone has).
    pub document_status: String,
    pub document_hash: String,
}

/// Signs through a signing link: the typed name, the time, the address and agent, and the
/// document's hash are recorded; the last signature signs the document.
#[utoipa::path(tag = TAG, security(()), request_body = Sign, responses(
    (status = 200, body = Signing), (status = 404), (status = 409), (status = 410), (status = 422)))]
#[post("/sign/{token}")]
pub(crate) async fn sign(
    _: Public,
    ctx: CellContext,
    settings: State<Settings>,
    info: RequestInfo,
    token: web::Path<String>,
    body: ValidJson<Sign>,
) -> ApiResult<HttpResponse> {
    let ValidJson(b) = body;
    if !b.agree {
        return Err(ApiError::validation(
            "agree",
            "must be true: the signer agrees to sign electronically",
        ));
    }
    let typed_name = trimmed("typed_name", &b.typed_name, 200)?;
    let token = token.into_inner();
    let tx = ctx.db().tenant(org_of(&token)?).await?;
    let evidence = Evidence {
        typed_name,
        ip: info.ip.map(|ip| ip.to_string()),
        user_agent: info.user_agent.map(|a| a.chars().take(500).collect()),
    };
    let (req, doc) = service::sign(&ctx, &tx, &settings, &token, evidence).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Signing {
        status: req.status,
        document_status: doc.status,
        document_hash: req.document_hash,
    }))
}

/// Declines to sign: the request ends and the document returns to draft.
#[utoipa::path(tag = TAG, security(()), responses(
    (status = 200, body = Signing), (status = 404), (status = 409), (status = 410)))]
#[post("/sign/{token}/decline")]
pub(crate) async fn decline(
    _: Public,
    ctx: CellContext,
    token: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let token = token.into_inner();
    let tx = ctx.db().tenant(org_of(&token)?).await?;
    let (req, doc) = service::decline(&ctx, &tx, &token).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(Signing {
        status: req.status,
        document_status: doc.status,
        document_hash: req.document_hash,
    }))
}

/// What the webhook answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = documents::WebhookReceipt)]
pub struct WebhookReceipt {
    /// `false`: this delivery was seen before and changed nothing.
    pub processed: bool,
}

/// The external e-sign provider's webhook (DocuSign Connect, JSON): verified by its HMAC
/// signature (`X-DocuSign-Signature-1`…, base64 HMAC-SHA256 of the body under the cell's
/// `esign_secret`) before anything is read, refused when generated longer ago than
/// `esign_tolerance_secs`, and processed once per delivery (a replay changes nothing).
/// `envelope-completed` signs the document and stores the signed PDF it carries.
///
/// The path's `id` is the provider's name (the spec's `/webhooks/docusign`); it shares the
/// outbound webhooks' path template, whose routes take other methods.
#[utoipa::path(tag = TAG, security(()), request_body = serde_json::Value,
    params(("id" = String, Path, description = "The e-sign provider's name (`esign_name`)")),
    responses((status = 200, body = WebhookReceipt), (status = 400), (status = 401), (status = 404), (status = 413)))]
#[post("/webhooks/{id}")]
pub(crate) async fn webhook(
    _: Signed,
    ctx: CellContext,
    settings: State<Settings>,
    provider: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let provider = provider.into_inner();
    let (Some(name), Some(secret)) = (&settings.esign_name, &settings.esign_secret) else {
        return Err(ApiError::not_found("no e-sign provider is configured"));
    };
    if *name != provider {
        return Err(ApiError::not_found(format!(
            "no e-sign provider `{provider}`"
        )));
    }
    let body = kernel::http::body_up_to(payload, settings.esign_body_limit).await?;
    let signatures: Vec<&str> = (1..=10)
        .filter_map(|i| {
            req.headers()
                .get(format!("x-docusign-signature-{i}"))
                .and_then(|v| v.to_str().ok())
        })
        .collect();
    if !service::verify_connect(secret, &body, &signatures) {
        return Err(ApiError::unauthorized(
            "the message is not signed with this cell's e-sign secret",
        ));
    }
    let message = service::read_connect(&body)?;
    let age = (Utc::now() - message.generated)
        .num_seconds()
        .unsigned_abs();
    if age > settings.esign_tolerance_secs {
        return Err(ApiError::unauthorized(format!(
            "the message was generated {age} s from now, outside the {} s tolerance",
            settings.esign_tolerance_secs
        )));
    }
    let found = kernel::db::across_orgs::<signature::Entity>(
        ctx.db(),
        signature::Column::Provider
            .eq(provider.clone())
            .and(signature::Column::EnvelopeId.eq(message.envelope_id.clone())),
        signature::Column::Id,
        1,
    )
    .await?;
    let Some((org, request_id)) = found.into_iter().next() else {
        return Err(ApiError::not_found(
            "no signature request has this envelope",
        ));
    };
    let tx = ctx.db().tenant(org).await?;
    let processed = service::on_connect(&ctx, &tx, &provider, request_id, message).await?;
    tx.commit().await?;
    Ok(HttpResponse::Ok().json(WebhookReceipt { processed }))
}
