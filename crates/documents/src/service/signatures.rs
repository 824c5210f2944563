//! Signatures, through a provider: the built-in one (a signing link per signer, by email; the
//! signer types their name and agrees; time, address, agent and the document's hash are
//! recorded; a completion certificate closes the signed PDF) or an external e-sign service
//! over HTTP (DocuSign's eSignature REST shapes: an envelope is created by a job after the
//! request commits; its Connect webhook, HMAC-signed, reports completion). On completion the
//! document is `signed`, immutable, and its signed PDF is stored through files, attached to it.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Duration, Utc};
use kernel::module::EntityRef;
use kernel::sea_orm::{ActiveValue::Set, ColumnTrait, QueryFilter, QueryOrder};
use kernel::{ApiError, CellContext, TenantTx};
use serde::Serialize;
use serde_json::json;
use uuid::Uuid;

use super::documents::clauses_of;
use super::{Actor, document, move_to, not_template, publish};
use crate::content::hash;
use crate::entity::{document as doc_entity, provider_event, signature, signer};
use crate::events::{DocumentSigned, SignatureDeclined, SignatureRequested, SignerSigned};
use crate::module::Settings;
use crate::pdf::{Block, blocks};

/// The provider that ships with the module.
pub const BUILTIN: &str = "builtin";
/// The job that creates an external provider's envelope.
pub(crate) const ENVELOPE_JOB: &str = "send_envelope";

/// A signer as `send-for-signature` names them.
pub(crate) struct SignerInput {
    pub email: String,
    pub name: String,
    pub order: Option<i32>,
}

/// What a signature covers: the content, then each clause, as stored.
pub(crate) async fn material(tx: &TenantTx, doc: &doc_entity::Model) -> Result<String, ApiError> {
    let mut out = doc.content.clone();
    for c in clauses_of(tx, doc.id).await? {
        out.push('\n');
        out.push_str(&c.content);
    }
    Ok(out)
}

pub(crate) async fn signers_of(
    tx: &TenantTx,
    request_id: Uuid,
) -> Result<Vec<signer::Model>, ApiError> {
    let repo = tx.repo::<signer::Entity>();
    Ok(repo
        .find()
        .filter(signer::Column::RequestId.eq(request_id))
        .order_by_asc(signer::Column::OrderNo)
        .order_by_asc(signer::Column::Id)
        .all(repo.conn())
        .await?)
}

/// A document's newest signature request.
pub(crate) async fn latest(
    tx: &TenantTx,
    document_id: Uuid,
) -> Result<Option<signature::Model>, ApiError> {
    let repo = tx.repo::<signature::Entity>();
    Ok(repo
        .find()
        .filter(signature::Column::DocumentId.eq(document_id))
        .order_by_desc(signature::Column::SentAt)
        .order_by_desc(signature::Column::Id)
        .one(repo.conn())
        .await?)
}

/// The signers whose turn it is: in a sequential request, the lowest order not yet signed;
/// in a parallel one, everyone who has not signed.
fn due<'a>(req: &signature::Model, signers: &'a [signer::Model]) -> Vec<&'a signer::Model> {
    let open: Vec<&signer::Model> = signers.iter().filter(|s| s.signed_at.is_none()).collect();
    match req.signing_order.as_str() {
        "sequential" => match open.first() {
            Some(first) => {
                let order = first.order_no;
                open.into_iter().filter(|s| s.order_no == order).collect()
            }
            None => Vec::new(),
        },
        _ => open,
    }
}

/// Emails a signing link to each of `who` (a new link: only its hash is kept).
async fn invite(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    doc: &doc_entity::Model,
    who: &[&signer::Model],
    sender: &str,
) -> Result<(), ApiError> {
    let repo = tx.repo::<signer::Entity>();
    let expires_at = Utc::now() + Duration::days(i64::from(settings.signing_days));
    let expires = expires_at.format("%Y-%m-%d %H:%M UTC").to_string();
    for &s in who {
        let (token, token_hash) =
            kernel::opaque::org_token(&ctx.config().secret_key(), tx.org_id())?;
        let url = super::mail::link(ctx, settings.signing_link.as_ref(), "sign", &token);
        ctx.mail()
            .queue_in(
                tx,
                &s.email,
                "documents.signature_request",
                &json!({
                    "title": doc.title, "name": s.name, "sender": sender,
                    "link": url, "expires_at": expires,
                }),
            )
            .await
            .map_err(|e| ApiError::validation("signers", e.to_string()))?;
        let mut row: signer::ActiveModel = s.clone().into();
        row.token_hash = Set(Some(token_hash));
        row.link_expires_at = Set(Some(expires_at));
        repo.update(row).await?;
    }
    Ok(())
}

/// Sends a document for signature through `provider`.
#[expect(clippy::too_many_arguments)]
pub(crate) async fn send(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    document_id: Uuid,
    provider: &str,
    signing_order: &str,
    list: Vec<SignerInput>,
) -> Result<(doc_entity::Model, signature::Model), ApiError> {
    let doc = document(tx, document_id).await?;
    not_template(&doc, "signed")?;
    let external = settings.esign_name.as_deref() == Some(provider);
    if provider != BUILTIN && !external {
        let mut known = vec![BUILTIN.to_owned()];
        known.extend(settings.esign_name.clone());
        return Err(ApiError::validation(
            "provider",
            format!("one of {}", known.join(", ")),
        ));
    }
    super::one_of("order", signing_order, &["sequential", "parallel"])?;
    if !super::may_move(&doc.status, "out_for_signature") {
        return Err(ApiError::conflict(format!(
            "a document that is {} is not sent for signature",
            doc.status
        ))
        .with_details(json!({ "status": doc.status })));
    }
    if doc.status == "draft"
        && super::approvals::workflow_for(tx, &doc.doc_type)
            .await?
            .is_some()
    {
        return Err(ApiError::conflict(format!(
            "{} documents are approved before they are signed: submit it for approval first",
            doc.doc_type
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for (i, s) in list.iter().enumerate() {
        if !seen.insert(s.email.to_lowercase()) {
            return Err(ApiError::validation(
                &format!("signers[{i}].email"),
                "named twice",
            ));
        }
    }
    let now = Utc::now();
    let req = tx
        .repo::<signature::Entity>()
        .insert(signature::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            document_id: Set(doc.id),
            provider: Set(provider.to_owned()),
            envelope_id: Set(None),
            signing_order: Set(signing_order.to_owned()),
            status: Set("pending".into()),
            document_hash: Set(hash(&material(tx, &doc).await?)),
            certificate: Set(None),
            file_id: Set(None),
            created_by: Set(by),
            sent_at: Set(now),
            completed_at: Set(None),
        })
        .await?;
    let rows: Vec<signer::ActiveModel> = list
        .iter()
        .enumerate()
        .map(|(i, s)| signer::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            request_id: Set(req.id),
            email: Set(s.email.clone()),
            name: Set(s.name.clone()),
            order_no: Set(s.order.unwrap_or(i32::try_from(i + 1).unwrap_or(i32::MAX))),
            token_hash: Set(None),
            link_expires_at: Set(None),
            signed_at: Set(None),
            typed_name: Set(None),
            ip: Set(None),
            user_agent: Set(None),
            declined_at: Set(None),
        })
        .collect();
    tx.repo::<signer::Entity>().insert_many(rows).await?;
    match external {
        false => {
            let signers = signers_of(tx, req.id).await?;
            let sender = super::mail::sender(ctx, by).await;
            invite(ctx, tx, settings, &doc, &due(&req, &signers), &sender).await?;
        }
        true => {
            ctx.jobs()
                .enqueue_in(
                    tx,
                    &format!("documents.{ENVELOPE_JOB}"),
                    json!({ "request_id": req.id }),
                )
                .await?;
        }
    }
    let doc = move_to(ctx, tx, doc, "out_for_signature", Actor::User(by)).await?;
    publish(
        ctx,
        tx,
        by,
        &SignatureRequested {
            document_id: doc.id,
            request_id: req.id,
            provider: provider.to_owned(),
            signers: list.len(),
        },
    )
    .await?;
    Ok((doc, req))
}

/// The signer a signing link is for, with their request and document: 404 for an unknown link,
/// 410 once the request is no longer pending.
pub(crate) async fn open(
    ctx: &CellContext,
    tx: &TenantTx,
    token: &str,
) -> Result<(signer::Model, signature::Model, doc_entity::Model), ApiError> {
    let not_a_link = || ApiError::not_found("no such signing link");
    let (_, token_hash) =
        kernel::opaque::org_token_hash(&ctx.config().secret_key(), token).ok_or_else(not_a_link)?;
    let repo = tx.repo::<signer::Entity>();
    let s = repo
        .find()
        .filter(signer::Column::TokenHash.eq(token_hash))
        .one(repo.conn())
        .await?
        .ok_or_else(not_a_link)?;
    let req = tx
        .repo::<signature::Entity>()
        .get(s.request_id)
        .await?
        .ok_or_else(not_a_link)?;
    if req.status != "pending" {
        return Err(ApiError::new(
            kernel::ErrorCode::Gone,
            format!("this signature request is {}", req.status),
        ));
    }
    if let Some(at) = s.link_expires_at.filter(|at| *at <= Utc::now()) {
        return Err(ApiError::new(
            kernel::ErrorCode::Gone,
            format!(
                "this signing link expired at {}: the sender can send a new one",
                at.format("%Y-%m-%d %H:%M UTC")
            ),
        ));
    }
    let doc = document(tx, req.document_id).await?;
    Ok((s, req, doc))
}

/// Sends the signers whose turn it is a new link (the old one stops working), valid
/// `signing_days` from now: the sender's reminder, and the way back from an expired link.
/// Built-in requests only (an external provider reminds its own signers); 409 when the
/// document's latest request is not pending. Returns the signers reminded.
pub(crate) async fn remind(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    document_id: Uuid,
) -> Result<Vec<signer::Model>, ApiError> {
    let doc = document(tx, document_id).await?;
    let req = latest(tx, document_id)
        .await?
        .ok_or_else(|| ApiError::conflict("the document has not been sent for signature"))?;
    if req.status != "pending" {
        return Err(ApiError::conflict(format!(
            "the signature request is {}, not pending",
            req.status
        )));
    }
    if req.provider != BUILTIN {
        return Err(ApiError::conflict(format!(
            "the provider `{}` reminds its own signers",
            req.provider
        )));
    }
    let signers = signers_of(tx, req.id).await?;
    let who = due(&req, &signers);
    let sender = super::mail::sender(ctx, by).await;
    invite(ctx, tx, settings, &doc, &who, &sender).await?;
    let ids: Vec<Uuid> = who.iter().map(|s| s.id).collect();
    Ok(signers_of(tx, req.id)
        .await?
        .into_iter()
        .filter(|s| ids.contains(&s.id))
        .collect())
}

/// 409 unless it is `s`'s turn.
pub(crate) async fn turn(
    tx: &TenantTx,
    req: &signature::Model,
    s: &signer::Model,
) -> Result<(), ApiError> {
    if s.signed_at.is_some() {
        return Err(ApiError::conflict("you have signed this document already"));
    }
    let signers = signers_of(tx, req.id).await?;
    match due(req, &signers).iter().any(|x| x.id == s.id) {
        true => Ok(()),
        false => Err(ApiError::conflict(
            "earlier signers have not signed yet: you will get the link again when it is your turn",
        )),
    }
}

/// The evidence a built-in signature records.
pub(crate) struct Evidence {
    pub typed_name: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A signer signs with the built-in provider; the last one completes the request.
pub(crate) async fn sign(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    token: &str,
    evidence: Evidence,
) -> Result<(signature::Model, doc_entity::Model), ApiError> {
    let (s, req, doc) = open(ctx, tx, token).await?;
    turn(tx, &req, &s).await?;
    let now = Utc::now();
    let (signer_id, order) = (s.id, s.order_no);
    let mut row: signer::ActiveModel = s.into();
    row.signed_at = Set(Some(now));
    row.typed_name = Set(Some(evidence.typed_name));
    row.ip = Set(evidence.ip);
    row.user_agent = Set(evidence.user_agent);
    row.token_hash = Set(None);
    tx.repo::<signer::Entity>().update(row).await?;
    publish(
        ctx,
        tx,
        Actor::Signer(signer_id),
        &SignerSigned {
            document_id: doc.id,
            request_id: req.id,
            order,
            signed_at: now,
        },
    )
    .await?;
    let signers = signers_of(tx, req.id).await?;
    let next = due(&req, &signers);
    if !next.is_empty() {
        // Those whose turn just came have no link yet; the others were sent theirs.
        let uninvited: Vec<&signer::Model> = next
            .into_iter()
            .filter(|x| x.token_hash.is_none())
            .collect();
        if !uninvited.is_empty() {
            let sender = super::mail::sender(ctx, req.created_by).await;
            invite(ctx, tx, settings, &doc, &uninvited, &sender).await?;
        }
        return Ok((req, doc));
    }
    let certificate = certificate(&req, &signers);
    let pdf = signed_pdf(tx, &doc, &req, &signers).await?;
    complete(
        ctx,
        tx,
        req,
        doc,
        Some(certificate),
        pdf,
        Actor::Signer(signer_id),
    )
    .await
}

#[derive(Serialize)]
struct Signed<'a> {
    name: &'a str,
    email: &'a str,
    typed_name: Option<&'a str>,
    order: i32,
    signed_at: Option<DateTime<Utc>>,
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
}

fn certificate(req: &signature::Model, signers: &[signer::Model]) -> serde_json::Value {
    let list: Vec<Signed<'_>> = signers
        .iter()
        .map(|s| Signed {
            name: &s.name,
            email: &s.email,
            typed_name: s.typed_name.as_deref(),
            order: s.order_no,
            signed_at: s.signed_at,
            ip: s.ip.as_deref(),
            user_agent: s.user_agent.as_deref(),
        })
        .collect();
    json!({
        "request_id": req.id,
        "provider": req.provider,
        "document_hash": req.document_hash,
        "hash_algorithm": "SHA-256",
        "signers": list,
        "completed_at": Utc::now(),
    })
}

/// What a document prints: `html` (its content, or its redline), then each clause under its
/// title.
pub(crate) async fn printed(
    tx: &TenantTx,
    doc: &doc_entity::Model,
    html: &str,
) -> Result<Vec<Block>, ApiError> {
    let mut all = blocks(html);
    for c in clauses_of(tx, doc.id).await? {
        all.push(Block::heading(2, c.title.clone()));
        all.extend(blocks(&c.content));
    }
    Ok(all)
}

/// The signed PDF the built-in provider makes: the document, its clauses, then the
/// certificate of completion.
async fn signed_pdf(
    tx: &TenantTx,
    doc: &doc_entity::Model,
    req: &signature::Model,
    signers: &[signer::Model],
) -> Result<Vec<u8>, ApiError> {
    let mut all = printed(tx, doc, &doc.content).await?;
    all.push(Block::page_break());
    all.push(Block::heading(1, "Certificate of completion"));
    all.push(Block::paragraph(format!(
        "Document: {} ({})",
        doc.title, doc.id
    )));
    all.push(Block::paragraph(format!(
        "SHA-256 of the content signed: {}",
        req.document_hash
    )));
    for s in signers {
        all.push(Block::heading(3, format!("{} <{}>", s.name, s.email)));
        all.push(Block::paragraph(format!(
            "Signed as \"{}\" at {} from {} ({})",
            s.typed_name.as_deref().unwrap_or(""),
            s.signed_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s.ip.as_deref().unwrap_or("an unknown address"),
            s.user_agent.as_deref().unwrap_or("an unknown agent"),
        )));
    }
    let title = doc.title.clone();
    render_off_thread(
        title,
        Some(format!("Signed · {}", req.sent_at.format("%Y-%m-%d"))),
        all,
    )
    .await
}

/// The document's PDF bytes (typeset on the blocking pool).
pub(crate) async fn render_off_thread(
    title: String,
    subtitle: Option<String>,
    all: Vec<Block>,
) -> Result<Vec<u8>, ApiError> {
    typeset::document(title, subtitle, all)
        .await
        .map(|r| r.pdf)
        .map_err(ApiError::internal)
}

/// Completes a request: the signed PDF stored through files (attached to the document, as its
/// owner's), the document signed and immutable, `documents.document.signed`, a copy of the
/// news to each signer.
async fn complete(
    ctx: &CellContext,
    tx: &TenantTx,
    req: signature::Model,
    doc: doc_entity::Model,
    certificate: Option<serde_json::Value>,
    pdf: Vec<u8>,
    by: Actor,
) -> Result<(signature::Model, doc_entity::Model), ApiError> {
    let now = Utc::now();
    let name = format!("{} (signed).pdf", file_safe(&doc.title));
    let file_id = files::store_made(
        ctx,
        tx,
        doc.created_by,
        EntityRef {
            kind: crate::loader::DOCUMENT.into(),
            id: doc.id,
        },
        &name,
        "application/pdf",
        pdf,
    )
    .await?;
    let mut row: signature::ActiveModel = req.clone().into();
    row.status = Set("completed".into());
    row.completed_at = Set(Some(now));
    row.certificate = Set(certificate);
    row.file_id = Set(Some(file_id));
    let req = tx.repo::<signature::Entity>().update(row).await?;
    let doc = move_to(ctx, tx, doc, "signed", by).await?;
    let mut row: doc_entity::ActiveModel = doc.into();
    row.signed_hash = Set(Some(req.document_hash.clone()));
    row.signed_at = Set(Some(now));
    row.signed_file_id = Set(Some(file_id));
    let doc = tx.repo::<doc_entity::Entity>().update(row).await?;
    for s in signers_of(tx, req.id).await? {
        ctx.mail()
            .queue_in(
                tx,
                &s.email,
                "documents.signed",
                &json!({
                    "title": doc.title, "name": s.name,
                    "signed_at": now.format("%Y-%m-%d %H:%M UTC").to_string(),
                    "hash": req.document_hash,
                }),
            )
            .await
            .map_err(|e| ApiError::internal(anyhow::anyhow!(e.to_string())))?;
    }
    publish(
        ctx,
        tx,
        by,
        &DocumentSigned {
            document_id: doc.id,
            request_id: req.id,
            provider: req.provider.clone(),
            file_id,
            document_hash: req.document_hash.clone(),
            signed_at: now,
        },
    )
    .await?;
    Ok((req, doc))
}

/// A title as a file name: what files accepts (no separators or control characters).
fn file_safe(title: &str) -> String {
    let s: String = title
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\') {
                '-'
            } else {
                c
            }
        })
        .take(200)
        .collect();
    match s.trim().is_empty() {
        true => "document".into(),
        false => s.trim().to_owned(),
    }
}

/// A signer declines (built-in), or the provider reports a decline or a void: the request ends,
/// the document returns to draft.
pub(crate) async fn end(
    ctx: &CellContext,
    tx: &TenantTx,
    req: signature::Model,
    doc: doc_entity::Model,
    status: &str,
    by: Actor,
) -> Result<(signature::Model, doc_entity::Model), ApiError> {
    let mut row: signature::ActiveModel = req.into();
    row.status = Set(status.into());
    row.completed_at = Set(Some(Utc::now()));
    let req = tx.repo::<signature::Entity>().update(row).await?;
    let doc = move_to(ctx, tx, doc, "draft", by).await?;
    publish(
        ctx,
        tx,
        by,
        &SignatureDeclined {
            document_id: doc.id,
            request_id: req.id,
            status: status.into(),
        },
    )
    .await?;
    Ok((req, doc))
}

pub(crate) async fn decline(
    ctx: &CellContext,
    tx: &TenantTx,
    token: &str,
) -> Result<(signature::Model, doc_entity::Model), ApiError> {
    let (s, req, doc) = open(ctx, tx, token).await?;
    if s.signed_at.is_some() {
        return Err(ApiError::conflict("you have signed this document already"));
    }
    let signer_id = s.id;
    let mut row: signer::ActiveModel = s.into();
    row.declined_at = Set(Some(Utc::now()));
    row.token_hash = Set(None);
    tx.repo::<signer::Entity>().update(row).await?;
    end(ctx, tx, req, doc, "declined", Actor::Signer(signer_id)).await
}

// The external provider (DocuSign's shapes).

/// Creates the envelope of a request at the external provider (the job `send_envelope`): the
/// document as a PDF, the signers with their routing order. Idempotent: a request with an
/// envelope is left alone. No transaction is held while the PDF is typeset or the provider
/// answers: the request is read, then written back (checked again) once the envelope exists.
pub(crate) async fn create_envelope(
    db: &kernel::db::Db,
    org: Uuid,
    settings: &Settings,
    request_id: Uuid,
) -> anyhow::Result<()> {
    let api = |e: ApiError| anyhow::anyhow!("{}", e.message());
    let tx = db.tenant_read(org).await?;
    let Some(req) = tx.repo::<signature::Entity>().get(request_id).await? else {
        return Ok(());
    };
    if req.envelope_id.is_some() || req.status != "pending" {
        return Ok(());
    }
    let (Some(base), Some(name)) = (&settings.esign_url, &settings.esign_name) else {
        anyhow::bail!("no external e-sign provider is configured");
    };
    if &req.provider != name {
        anyhow::bail!(
            "the request's provider `{}` is not configured",
            req.provider
        );
    }
    let doc = document(&tx, req.document_id).await.map_err(api)?;
    let all = printed(&tx, &doc, &doc.content).await.map_err(api)?;
    let signers = signers_of(&tx, req.id).await.map_err(api)?;
    tx.commit().await?;
    let pdf = render_off_thread(doc.title.clone(), None, all)
        .await
        .map_err(api)?;
    let parallel = req.signing_order == "parallel";
    let body = json!({
        "emailSubject": format!("Please sign: {}", doc.title),
        "status": "sent",
        "documents": [{
            "documentBase64": STANDARD.encode(&pdf),
            "name": format!("{}.pdf", file_safe(&doc.title)),
            "fileExtension": "pdf",
            "documentId": "1",
        }],
        "recipients": { "signers": signers.iter().enumerate().map(|(i, s)| json!({
            "email": s.email, "name": s.name, "recipientId": (i + 1).to_string(),
            "routingOrder": if parallel { "1".to_owned() } else { s.order_no.to_string() },
        })).collect::<Vec<_>>() },
        "customFields": { "textCustomFields": [
            { "name": "cell_request", "value": req.id.to_string(), "show": "false" }
        ] },
    });
    let mut call = reqwest::Client::new()
        .post(format!("{}/envelopes", base.trim_end_matches('/')))
        .timeout(std::time::Duration::from_secs(30))
        .json(&body);
    if let Some(key) = &settings.esign_api_key {
        call = call.bearer_auth(key);
    }
    let res = call.send().await?;
    let status = res.status();
    let out: serde_json::Value = res.json().await.unwrap_or_default();
    if !status.is_success() {
        anyhow::bail!("the e-sign provider answered {status}");
    }
    let Some(envelope) = out["envelopeId"]
        .as_str()
        .filter(|e| !e.is_empty() && e.len() <= 200)
    else {
        anyhow::bail!("the e-sign provider answered without an envelopeId");
    };
    let tx = db.tenant(org).await?;
    let Some(req) = tx.repo::<signature::Entity>().get(request_id).await? else {
        return Ok(());
    };
    if req.envelope_id.is_some() || req.status != "pending" {
        tracing::warn!(request = %request_id, "the request changed while its envelope was made; the new envelope is left unused");
        return Ok(());
    }
    let mut row: signature::ActiveModel = req.into();
    row.envelope_id = Set(Some(envelope.to_owned()));
    tx.repo::<signature::Entity>().update(row).await?;
    tx.commit().await?;
    Ok(())
}

/// Whether a Connect message's `X-DocuSign-Signature-N` headers hold a base64 HMAC-SHA256 of the
/// raw body under `secret` (compared in constant time).
pub(crate) fn verify_connect(secret: &str, body: &[u8], signatures: &[&str]) -> bool {
    use hmac::{KeyInit, Mac};
    signatures.iter().any(|sig| {
        let Ok(given) = STANDARD.decode(sig.trim()) else {
            return false;
        };
        let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&given).is_ok()
    })
}

/// What a Connect message says.
pub(crate) struct Connect {
    pub event: String,
    pub envelope_id: String,
    /// When the provider generated the message (signed with it).
    pub generated: DateTime<Utc>,
    /// The signed PDF, when the message includes documents.
    pub pdf: Option<Vec<u8>>,
}

/// Reads a Connect JSON message (`event`, `generatedDateTime`, `data.envelopeId`,
/// `data.envelopeSummary.envelopeDocuments[].PDFBytes`).
pub(crate) fn read_connect(body: &[u8]) -> Result<Connect, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| ApiError::bad_request("the message is not JSON"))?;
    let text = |p: &str| v.pointer(p).and_then(|x| x.as_str()).map(str::to_owned);
    let event = text("/event").ok_or_else(|| ApiError::bad_request("no `event`"))?;
    let envelope_id =
        text("/data/envelopeId").ok_or_else(|| ApiError::bad_request("no `data.envelopeId`"))?;
    let generated = text("/generatedDateTime")
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| ApiError::bad_request("no valid `generatedDateTime`"))?;
    let pdf = v
        .pointer("/data/envelopeSummary/envelopeDocuments")
        .and_then(|d| d.as_array())
        .and_then(|docs| {
            docs.iter()
                .filter_map(|d| d["PDFBytes"].as_str())
                .find_map(|b| STANDARD.decode(b).ok())
        })
        .filter(|b| b.starts_with(b"%PDF-"));
    Ok(Connect {
        event,
        envelope_id,
        generated,
        pdf,
    })
}

/// A verified Connect message of the request `request_id` in `tx`'s org. A delivery seen
/// before (same envelope, event and generation time) changes nothing: `false`.
pub(crate) async fn on_connect(
    ctx: &CellContext,
    tx: &TenantTx,
    provider: &str,
    request_id: Uuid,
    message: Connect,
) -> Result<bool, ApiError> {
    let key = format!(
        "{}:{}:{}",
        message.envelope_id,
        message.event,
        message.generated.timestamp_micros()
    );
    let repo = tx.repo::<provider_event::Entity>();
    let seen = repo
        .find()
        .filter(provider_event::Column::Provider.eq(provider))
        .filter(provider_event::Column::EventKey.eq(key.clone()))
        .one(repo.conn())
        .await?;
    if seen.is_some() {
        return Ok(false);
    }
    repo.insert(provider_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        org_id: Set(tx.org_id()),
        provider: Set(provider.to_owned()),
        event_key: Set(key),
        request_id: Set(request_id),
        received_at: Set(Utc::now()),
    })
    .await?;
    let Some(req) = tx.repo::<signature::Entity>().get(request_id).await? else {
        return Ok(true);
    };
    if req.status != "pending" {
        return Ok(true);
    }
    let doc = document(tx, req.document_id).await?;
    let by = Actor::Provider(req.id);
    match message.event.as_str() {
        "envelope-completed" => {
            let pdf = match message.pdf {
                Some(p) => p,
                None => {
                    let signers = signers_of(tx, req.id).await?;
                    signed_pdf(tx, &doc, &req, &signers).await?
                }
            };
            let mut certificate = BTreeMap::new();
            certificate.insert("envelope_id", message.envelope_id);
            certificate.insert("provider", provider.to_owned());
            certificate.insert("completed_at", message.generated.to_rfc3339());
            complete(ctx, tx, req, doc, Some(json!(certificate)), pdf, by).await?;
        }
        "envelope-declined" => {
            end(ctx, tx, req, doc, "declined", by).await?;
        }
        "envelope-voided" => {
            end(ctx, tx, req, doc, "voided", by).await?;
        }
        // Other events (sent, delivered, a recipient done) change nothing here.
        _ => {}
    }
    Ok(true)
}
