//! External review: a document is sent to someone without an account with a review link (an
//! org token, only its keyed hash stored, expiring, revocable). The link opens that document
//! only; its holder reads it and suggests edits (PENDING; the owner is notified). The owner
//! approves a suggestion (it becomes a revision: a field change for a suggestion on a field,
//! else the text replaced in the content) or rejects it with review notes.

use chrono::{DateTime, Duration, Utc};
use kernel::sea_orm::{
    ActiveValue::Set, ColumnTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use kernel::{ApiError, CellContext, ErrorCode, TenantTx};
use uuid::Uuid;

use super::revisions::{Edit, FieldChange, revise};
use super::{Actor, document, fields_of, move_to, not_template, publish};
use crate::content::escape;
use crate::entity::{document as doc_entity, review_token, suggestion};
use crate::events::{DocumentSent, SuggestionDecided, SuggestionReceived};
use crate::module::Settings;

/// The most suggestions one review link may leave pending.
pub(crate) const MAX_PENDING: u64 = 200;

/// Sends a document for review to `email`: a new link valid `days` days, the email, `sent`.
pub(crate) async fn send(
    ctx: &CellContext,
    tx: &TenantTx,
    settings: &Settings,
    by: Uuid,
    document_id: Uuid,
    email: &str,
    days: Option<u32>,
) -> Result<(doc_entity::Model, review_token::Model), ApiError> {
    let doc = document(tx, document_id).await?;
    not_template(&doc, "sent for review")?;
    if !super::may_move(&doc.status, "sent") && doc.status != "sent" {
        return Err(ApiError::conflict(format!(
            "a document that is {} is not sent for review",
            doc.status
        ))
        .with_details(serde_json::json!({ "status": doc.status })));
    }
    if doc.status == "draft"
        && super::approvals::workflow_for(tx, &doc.doc_type)
            .await?
            .is_some()
    {
        return Err(ApiError::conflict(format!(
            "{} documents are approved before they go out: submit it for approval first",
            doc.doc_type
        )));
    }
    let days = days.unwrap_or(settings.review_days);
    if !(1..=90).contains(&days) {
        return Err(ApiError::validation("expires_in_days", "from 1 to 90"));
    }
    let (token, hash) = kernel::opaque::org_token(&ctx.config().secret_key(), tx.org_id())?;
    let now = Utc::now();
    let expires_at = now + Duration::days(i64::from(days));
    let link = tx
        .repo::<review_token::Entity>()
        .insert(review_token::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            document_id: Set(doc.id),
            recipient_email: Set(email.to_owned()),
            token_hash: Set(hash),
            expires_at: Set(expires_at),
            revoked_at: Set(None),
            last_used_at: Set(None),
            created_by: Set(by),
            created_at: Set(now),
        })
        .await?;
    let url = super::mail::link(
        ctx,
        settings.review_link.as_ref(),
        "documents/review",
        &token,
    );
    ctx.mail()
        .queue_in(
            tx,
            email,
            "documents.review_request",
            &serde_json::json!({
                "title": doc.title,
                "sender": super::mail::sender(ctx, by).await,
                "link": url,
                "expires_at": expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            }),
        )
        .await
        .map_err(|e| ApiError::validation("recipient_email", e.to_string()))?;
    let doc = match doc.status.as_str() {
        "sent" | "client_review" => doc,
        _ => move_to(ctx, tx, doc, "sent", Actor::User(by)).await?,
    };
    publish(
        ctx,
        tx,
        by,
        &DocumentSent {
            document_id: doc.id,
            token_id: link.id,
            recipient_email: email.to_owned(),
            expires_at,
        },
    )
    .await?;
    Ok((doc, link))
}

/// A document's review links, newest first.
pub(crate) async fn links_of(
    tx: &TenantTx,
    document_id: Uuid,
) -> Result<Vec<review_token::Model>, ApiError> {
    let repo = tx.repo::<review_token::Entity>();
    Ok(repo
        .find()
        .filter(review_token::Column::DocumentId.eq(document_id))
        .order_by_desc(review_token::Column::CreatedAt)
        .order_by_desc(review_token::Column::Id)
        .all(repo.conn())
        .await?)
}

pub(crate) async fn revoke(
    tx: &TenantTx,
    document_id: Uuid,
    link_id: Uuid,
) -> Result<review_token::Model, ApiError> {
    let repo = tx.repo::<review_token::Entity>();
    let link = repo
        .get(link_id)
        .await?
        .filter(|l| l.document_id == document_id)
        .ok_or_else(|| ApiError::not_found("no such review link for this document"))?;
    if link.revoked_at.is_some() {
        return Ok(link);
    }
    let mut row: review_token::ActiveModel = link.into();
    row.revoked_at = Set(Some(Utc::now()));
    Ok(repo.update(row).await?)
}

fn not_a_link() -> ApiError {
    ApiError::not_found("no such review link")
}

/// The link `token` is and its document, in the link's org transaction: 404 for an unknown
/// link, 410 for a revoked or expired one (or one whose document is gone).
pub(crate) async fn open(
    ctx: &CellContext,
    tx: &TenantTx,
    token: &str,
) -> Result<(review_token::Model, doc_entity::Model), ApiError> {
    let (_, hash) =
        kernel::opaque::org_token_hash(&ctx.config().secret_key(), token).ok_or_else(not_a_link)?;
    let repo = tx.repo::<review_token::Entity>();
    let link = repo
        .find()
        .filter(review_token::Column::TokenHash.eq(hash))
        .one(repo.conn())
        .await?
        .ok_or_else(not_a_link)?;
    let gone = |why: &str| ApiError::new(ErrorCode::Gone, format!("this review link {why}"));
    if link.revoked_at.is_some() {
        return Err(gone("was revoked"));
    }
    if link.expires_at <= Utc::now() {
        return Err(gone("has expired"));
    }
    let doc = tx
        .repo::<doc_entity::Entity>()
        .get(link.document_id)
        .await?
        .ok_or_else(|| gone("is for a document that was deleted"))?;
    Ok((link, doc))
}

/// The reviewer opens the document: the link is used, a `sent` document is in client review.
pub(crate) async fn opened(
    ctx: &CellContext,
    tx: &TenantTx,
    link: review_token::Model,
    doc: doc_entity::Model,
) -> Result<doc_entity::Model, ApiError> {
    let link_id = link.id;
    let mut row: review_token::ActiveModel = link.into();
    row.last_used_at = Set(Some(Utc::now()));
    tx.repo::<review_token::Entity>().update(row).await?;
    match doc.status.as_str() {
        "sent" => move_to(ctx, tx, doc, "client_review", Actor::Reviewer(link_id)).await,
        _ => Ok(doc),
    }
}

/// What a reviewer suggests.
pub(crate) struct NewSuggestion {
    pub section: Option<String>,
    pub field_key: Option<String>,
    pub original_text: String,
    pub suggested_text: String,
    pub creator_request: Option<String>,
}

pub(crate) async fn suggest(
    ctx: &CellContext,
    tx: &TenantTx,
    link: review_token::Model,
    doc: doc_entity::Model,
    new: NewSuggestion,
) -> Result<suggestion::Model, ApiError> {
    if !matches!(doc.status.as_str(), "sent" | "client_review") {
        return Err(ApiError::conflict(format!(
            "the document is {}: it no longer takes suggestions",
            doc.status
        )));
    }
    if let Some(f) = &new.field_key {
        super::documents::field_name("field_key", f)?;
    }
    let repo = tx.repo::<suggestion::Entity>();
    let pending = repo
        .find()
        .filter(suggestion::Column::TokenId.eq(link.id))
        .filter(suggestion::Column::Status.eq("PENDING"))
        .count(repo.conn())
        .await?;
    if pending >= MAX_PENDING {
        return Err(ApiError::conflict(format!(
            "this link has {MAX_PENDING} suggestions waiting for the owner"
        )));
    }
    let doc = opened(ctx, tx, link.clone(), doc).await?;
    let s = repo
        .insert(suggestion::ActiveModel {
            id: Set(Uuid::now_v7()),
            org_id: Set(tx.org_id()),
            document_id: Set(doc.id),
            token_id: Set(link.id),
            section: Set(new.section),
            field_key: Set(new.field_key),
            original_text: Set(new.original_text),
            suggested_text: Set(new.suggested_text),
            creator_request: Set(new.creator_request),
            status: Set("PENDING".into()),
            reviewed_by: Set(None),
            reviewed_at: Set(None),
            review_notes: Set(None),
            revision_id: Set(None),
            created_at: Set(Utc::now()),
        })
        .await?;
    publish(
        ctx,
        tx,
        Actor::Reviewer(link.id),
        &SuggestionReceived {
            document_id: doc.id,
            suggestion_id: s.id,
            section: s.section.clone(),
            field_key: s.field_key.clone(),
        },
    )
    .await?;
    Ok(s)
}

/// Suggestions on a document, newest first; those of one link when `link` is given.
pub(crate) async fn suggestions_of(
    tx: &TenantTx,
    document_id: Uuid,
    link: Option<Uuid>,
) -> Result<Vec<suggestion::Model>, ApiError> {
    let repo = tx.repo::<suggestion::Entity>();
    let mut q = repo
        .find()
        .filter(suggestion::Column::DocumentId.eq(document_id));
    if let Some(l) = link {
        q = q.filter(suggestion::Column::TokenId.eq(l));
    }
    Ok(q.order_by_desc(suggestion::Column::CreatedAt)
        .order_by_desc(suggestion::Column::Id)
        .limit(1000)
        .all(repo.conn())
        .await?)
}

/// The owner decides a suggestion: `APPROVED` makes a revision (409 when what it would change
/// is no longer what the reviewer saw), `REJECTED` keeps the review notes.
pub(crate) async fn decide(
    ctx: &CellContext,
    tx: &TenantTx,
    by: Uuid,
    document_id: Uuid,
    suggestion_id: Uuid,
    approve: bool,
    notes: Option<String>,
) -> Result<(suggestion::Model, Option<i32>), ApiError> {
    let repo = tx.repo::<suggestion::Entity>();
    let s = repo
        .get(suggestion_id)
        .await?
        .filter(|s| s.document_id == document_id)
        .ok_or_else(|| ApiError::not_found("no such suggestion on this document"))?;
    if s.status != "PENDING" {
        return Err(
            ApiError::conflict(format!("this suggestion is {} already", s.status))
                .with_details(serde_json::json!({ "status": s.status })),
        );
    }
    let doc = document(tx, document_id).await?;
    let mut revision = None;
    let mut revision_id = None;
    if approve {
        let label = s.section.clone();
        let edit = match &s.field_key {
            Some(field) => {
                let now = fields_of(&doc).get(field).cloned().unwrap_or_default();
                if now != s.original_text {
                    return Err(ApiError::conflict(format!(
                        "`{field}` changed since the suggestion was made"
                    ))
                    .with_details(serde_json::json!({ "field": field, "current_value": now })));
                }
                Edit {
                    changes: vec![FieldChange {
                        field_name: field.clone(),
                        field_label: label,
                        old_value: s.original_text.clone(),
                        new_value: s.suggested_text.clone(),
                    }],
                    ..Edit::default()
                }
            }
            None => {
                let (from, to) = (escape(&s.original_text), escape(&s.suggested_text));
                if from.is_empty() || !doc.content.contains(&from) {
                    return Err(ApiError::conflict(
                        "the text the suggestion replaces is no longer in the document",
                    ));
                }
                Edit {
                    content: Some(doc.content.replacen(&from, &to, 1)),
                    ..Edit::default()
                }
            }
        };
        let revised = revise(
            ctx,
            tx,
            Actor::User(by),
            doc,
            Edit {
                description: Some(match &s.section {
                    Some(section) => format!("Suggestion on {section}"),
                    None => "Suggestion".into(),
                }),
                suggestion_id: Some(s.id),
                ..edit
            },
        )
        .await?;
        revision = Some(revised.revision.number);
        revision_id = Some(revised.revision.id);
    }
    let status = if approve { "APPROVED" } else { "REJECTED" };
    let mut row: suggestion::ActiveModel = s.into();
    row.status = Set(status.into());
    row.reviewed_by = Set(Some(by));
    row.reviewed_at = Set(Some(Utc::now()));
    row.review_notes = Set(notes);
    row.revision_id = Set(revision_id);
    let s = repo.update(row).await?;
    publish(
        ctx,
        tx,
        by,
        &SuggestionDecided {
            document_id,
            suggestion_id: s.id,
            status: status.into(),
            revision,
        },
    )
    .await?;
    Ok((s, revision))
}

/// When a link expires: for listing.
pub(crate) fn live(link: &review_token::Model, now: DateTime<Utc>) -> bool {
    link.revoked_at.is_none() && link.expires_at > now
}
