//! The domain rules, on the org's transaction: handlers, jobs and webhooks share them.

pub(crate) mod approvals;
pub(crate) mod clauses;
pub(crate) mod deliverables;
pub(crate) mod documents;
pub(crate) mod mail;
pub(crate) mod review;
pub(crate) mod revisions;
pub(crate) mod signatures;

use std::collections::BTreeMap;

use chrono::Utc;
use kernel::events::Event;
use kernel::module::EntityRef;
use kernel::sea_orm::ActiveValue::Set;
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::document;
use crate::events::DocumentStatusChanged;

pub(crate) const DOC_TYPES: [&str; 5] = ["contract", "proposal", "sow", "note", "template"];
pub(crate) const TEMPLATE: &str = "template";

/// A document's statuses (the suite spec's, with `approved` after an internal approval,
/// `out_for_signature` while signers sign, and `cancelled`).
pub(crate) const STATUSES: [&str; 8] = [
    "draft",
    "internal_review",
    "approved",
    "sent",
    "client_review",
    "out_for_signature",
    "signed",
    "cancelled",
];

/// The status machine, checked here for every change of status:
/// draft → internal_review (submitted) → approved | draft (rejected, returned for changes);
/// draft | approved | sent | client_review → sent (a review link) → client_review (the
/// reviewer opened it); those four → out_for_signature → signed | draft (declined, voided);
/// an edit of an approved document returns it to draft; anything but signed → cancelled.
/// `signed` and `cancelled` are final.
pub(crate) fn may_move(from: &str, to: &str) -> bool {
    if !STATUSES.contains(&from) {
        return false;
    }
    let open = matches!(from, "draft" | "approved" | "sent" | "client_review");
    match to {
        "internal_review" => from == "draft",
        "approved" => from == "internal_review",
        "draft" => matches!(from, "internal_review" | "approved" | "out_for_signature"),
        "sent" => open,
        "client_review" => from == "sent",
        "out_for_signature" => open,
        "signed" => from == "out_for_signature",
        "cancelled" => !matches!(from, "signed" | "cancelled"),
        _ => false,
    }
}

/// Who acts: a user of the org, or someone holding a link (an external reviewer, a signer), or
/// an e-sign provider's webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Actor {
    User(Uuid),
    Reviewer(Uuid),
    Signer(Uuid),
    Provider(Uuid),
    /// The module's own jobs.
    System,
}

impl Actor {
    fn entity(self) -> Option<EntityRef> {
        let (kind, id) = match self {
            Actor::User(u) => return Some(EntityRef::user(u)),
            Actor::Reviewer(t) => ("document_review_link", t),
            Actor::Signer(s) => ("document_signer", s),
            Actor::Provider(r) => ("signature_request", r),
            Actor::System => return None,
        };
        Some(EntityRef {
            kind: kind.into(),
            id,
        })
    }

    pub(crate) fn user(self) -> Option<Uuid> {
        match self {
            Actor::User(u) => Some(u),
            _ => None,
        }
    }
}

impl From<Uuid> for Actor {
    fn from(user: Uuid) -> Self {
        Actor::User(user)
    }
}

pub(crate) async fn publish<E: Event>(
    ctx: &CellContext,
    tx: &TenantTx,
    by: impl Into<Actor>,
    event: &E,
) -> Result<(), ApiError> {
    ctx.events().emit(tx, by.into().entity(), event).await?;
    Ok(())
}

pub(crate) fn one_of(field: &str, value: &str, allowed: &[&str]) -> Result<(), ApiError> {
    match allowed.contains(&value) {
        true => Ok(()),
        false => Err(ApiError::validation(
            field,
            format!("must be one of {}", allowed.join(", ")),
        )),
    }
}

/// The org of a link (a review or signing link), read from its token alone; 404 `no such
/// {what}` for a token that is not one.
pub(crate) fn link_org(token: &str, what: &str) -> Result<Uuid, ApiError> {
    kernel::opaque::parse_org_token(token)
        .map(|(org, _)| org)
        .ok_or_else(|| ApiError::not_found(format!("no such {what}")))
}

pub(crate) fn no_document() -> ApiError {
    ApiError::not_found("no such document in this organization")
}

pub(crate) async fn document(tx: &TenantTx, id: Uuid) -> Result<document::Model, ApiError> {
    tx.repo::<document::Entity>()
        .get(id)
        .await?
        .ok_or_else(no_document)
}

/// The field values a document holds.
pub(crate) fn fields_of(doc: &document::Model) -> BTreeMap<String, String> {
    serde_json::from_value(doc.fields.clone()).unwrap_or_default()
}

/// 409 unless the document's content may change now; `approved` may (and returns to draft).
pub(crate) fn editable(doc: &document::Model) -> Result<(), ApiError> {
    let why = match doc.status.as_str() {
        "draft" | "approved" | "sent" | "client_review" => return Ok(()),
        "signed" => "a signed document cannot change",
        "internal_review" => {
            "the document is in internal review: it can change when the review returns it"
        }
        "out_for_signature" => "the document is out for signature",
        _ => "a cancelled document cannot change",
    };
    Err(ApiError::conflict(why).with_details(serde_json::json!({ "status": doc.status })))
}

/// 409 for a template in a flow only documents go through (approval, review, signature).
pub(crate) fn not_template(doc: &document::Model, what: &str) -> Result<(), ApiError> {
    match doc.doc_type == TEMPLATE {
        true => Err(ApiError::conflict(format!(
            "a template is not {what}: make a document from it first"
        ))),
        false => Ok(()),
    }
}

/// Moves a document to `to` (409 when the machine does not allow it), publishing
/// `documents.document.status_changed`.
pub(crate) async fn move_to(
    ctx: &CellContext,
    tx: &TenantTx,
    doc: document::Model,
    to: &str,
    by: Actor,
) -> Result<document::Model, ApiError> {
    if doc.status == to {
        return Ok(doc);
    }
    if !may_move(&doc.status, to) {
        return Err(ApiError::conflict(format!(
            "a document cannot go from {} to {to}",
            doc.status
        ))
        .with_details(serde_json::json!({ "status": doc.status, "to": to })));
    }
    let from = doc.status.clone();
    let id = doc.id;
    let mut row: document::ActiveModel = doc.into();
    row.status = Set(to.to_owned());
    row.updated_at = Set(Utc::now());
    let doc = tx.repo::<document::Entity>().update(row).await?;
    publish(
        ctx,
        tx,
        by,
        &DocumentStatusChanged {
            document_id: id,
            from,
            to: to.to_owned(),
        },
    )
    .await?;
    Ok(doc)
}

/// Whether `user` belongs to the org (any role).
pub(crate) async fn in_org(ctx: &CellContext, tx: &TenantTx, user: Uuid) -> Result<bool, ApiError> {
    let caller = kernel::http::Caller {
        org_id: Some(tx.org_id()),
        ..kernel::http::Caller::user(user)
    };
    kernel::http::holds::<kernel::http::InOrg>(ctx, tx, &caller, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_allows_the_documented_paths_only() {
        let path = [
            "draft",
            "internal_review",
            "approved",
            "sent",
            "client_review",
            "out_for_signature",
            "signed",
        ];
        for w in path.windows(2) {
            assert!(may_move(w[0], w[1]), "{} → {}", w[0], w[1]);
        }
        for from in STATUSES {
            assert!(!may_move("signed", from), "signed is final ({from})");
            assert!(!may_move("cancelled", from), "cancelled is final ({from})");
        }
        assert!(!may_move("draft", "signed"));
        assert!(!may_move("internal_review", "sent"));
        assert!(!may_move("out_for_signature", "sent"));
        assert!(may_move("internal_review", "draft"), "returned for changes");
        assert!(may_move("out_for_signature", "draft"), "declined");
    }
}
