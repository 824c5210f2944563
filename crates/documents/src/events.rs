//! The events the module publishes: one payload type per event. Every event names its document
//! (entity type `document`), so collab's activity feed and search follow them.

use chrono::{DateTime, Utc};
use kernel::events::EventDef;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A document (or a template) was created.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentCreated {
    pub document_id: Uuid,
    pub title: String,
    pub doc_type: String,
    /// The template it was made from.
    pub template_id: Option<Uuid>,
}
kernel::event!(
    DocumentCreated,
    "documents.document.created",
    "A document (or a template) was created.",
    "document",
    document_id
);

/// A document's details (title, content before its first revision, expiry) changed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentUpdated {
    pub document_id: Uuid,
    /// The fields that changed.
    pub fields: Vec<String>,
}
kernel::event!(
    DocumentUpdated,
    "documents.document.updated",
    "A document's details changed.",
    "document",
    document_id
);

/// A document moved from one status to another.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentStatusChanged {
    pub document_id: Uuid,
    pub from: String,
    pub to: String,
}
kernel::event!(
    DocumentStatusChanged,
    "documents.document.status_changed",
    "A document moved from one status to another.",
    "document",
    document_id
);

/// A new revision of a document was saved (its field changes are stored with it).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentRevised {
    pub document_id: Uuid,
    pub revision: i32,
    /// The fields it changed, in order.
    pub fields: Vec<String>,
    /// The external suggestion it applied.
    pub suggestion_id: Option<Uuid>,
}
kernel::event!(
    DocumentRevised,
    "documents.document.revised",
    "A new revision of a document was saved.",
    "document",
    document_id
);

/// A tracked change was accepted or rejected (a rejected change's field is back to its old
/// value).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChangeDecided {
    pub document_id: Uuid,
    pub revision: i32,
    pub change_order: i32,
    pub field_name: String,
    /// `accepted` or `rejected`.
    pub decision: String,
}
kernel::event!(
    ChangeDecided,
    "documents.change.decided",
    "A tracked change was accepted or rejected.",
    "document",
    document_id
);

/// A document waits for the reviewers of an approval step (they are notified).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalRequested {
    pub document_id: Uuid,
    pub request_id: Uuid,
    /// 1-based.
    pub step: i32,
    /// The users who may decide the step (its users, and the members of its teams and roles).
    pub reviewer_ids: Vec<Uuid>,
}
kernel::event!(
    ApprovalRequested,
    "documents.approval.requested",
    "A document waits for the reviewers of an approval step.",
    "document",
    document_id
);

/// A reviewer decided an approval step.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApprovalDecided {
    pub document_id: Uuid,
    pub request_id: Uuid,
    pub step: i32,
    pub reviewer_id: Uuid,
    /// `approved`, `rejected` or `returned_for_changes`.
    pub decision: String,
    /// The request's status after it.
    pub status: String,
    /// Who submitted the document for approval (notified).
    pub submitted_by: Uuid,
}
kernel::event!(
    ApprovalDecided,
    "documents.approval.decided",
    "A reviewer decided an approval step.",
    "document",
    document_id
);

/// A document was sent to an external reviewer (a review link by email).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentSent {
    pub document_id: Uuid,
    pub token_id: Uuid,
    pub recipient_email: String,
    pub expires_at: DateTime<Utc>,
}
kernel::event!(
    DocumentSent,
    "documents.document.sent",
    "A document was sent to an external reviewer.",
    "document",
    document_id
);

/// An external reviewer suggested an edit (the document's owner is notified).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuggestionReceived {
    pub document_id: Uuid,
    pub suggestion_id: Uuid,
    pub section: Option<String>,
    pub field_key: Option<String>,
}
kernel::event!(
    SuggestionReceived,
    "documents.suggestion.received",
    "An external reviewer suggested an edit.",
    "document",
    document_id
);

/// A suggestion was approved (it made a revision) or rejected.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuggestionDecided {
    pub document_id: Uuid,
    pub suggestion_id: Uuid,
    /// `APPROVED` or `REJECTED`.
    pub status: String,
    pub revision: Option<i32>,
}
kernel::event!(
    SuggestionDecided,
    "documents.suggestion.decided",
    "A suggestion was approved or rejected.",
    "document",
    document_id
);

/// A document was sent for signature.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignatureRequested {
    pub document_id: Uuid,
    pub request_id: Uuid,
    pub provider: String,
    pub signers: usize,
}
kernel::event!(
    SignatureRequested,
    "documents.signature.requested",
    "A document was sent for signature.",
    "document",
    document_id
);

/// A signer signed (others may still have to).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignerSigned {
    pub document_id: Uuid,
    pub request_id: Uuid,
    pub order: i32,
    pub signed_at: DateTime<Utc>,
}
kernel::event!(
    SignerSigned,
    "documents.signature.signed",
    "A signer signed.",
    "document",
    document_id
);

/// A signer declined, or the request was voided: the document is no longer out for signature.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignatureDeclined {
    pub document_id: Uuid,
    pub request_id: Uuid,
    /// `declined` or `voided`.
    pub status: String,
}
kernel::event!(
    SignatureDeclined,
    "documents.signature.declined",
    "A signer declined, or the provider voided the request.",
    "document",
    document_id
);

/// Every signer signed: the document is signed and immutable, its signed PDF stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentSigned {
    pub document_id: Uuid,
    pub request_id: Uuid,
    pub provider: String,
    /// The signed PDF (a file attached to the document).
    pub file_id: Uuid,
    /// SHA-256 (hex) of the content signed.
    pub document_hash: String,
    pub signed_at: DateTime<Utc>,
}
kernel::event!(
    DocumentSigned,
    "documents.document.signed",
    "Every signer signed: the document is signed and immutable.",
    "document",
    document_id
);

/// A document went to the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentDeleted {
    pub document_id: Uuid,
}
kernel::event!(
    DocumentDeleted,
    "documents.document.deleted",
    "A document went to the trash.",
    "document",
    document_id
);

/// A document came back from the trash.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DocumentRestored {
    pub document_id: Uuid,
}
kernel::event!(
    DocumentRestored,
    "documents.document.restored",
    "A document came back from the trash.",
    "document",
    document_id
);

/// A clause of the library got a new version.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ClauseChanged {
    pub clause_id: Uuid,
    pub version: i32,
    pub title: String,
}
kernel::event!(
    ClauseChanged,
    "documents.clause.changed",
    "A clause of the library was created or got a new version.",
    "clause",
    clause_id
);

/// A deliverable fell behind its pace (the document's owner is notified).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliverableBehind {
    pub document_id: Uuid,
    pub deliverable_id: Uuid,
    pub title: String,
    pub current_count: i32,
    /// What should be done by now at an even pace.
    pub expected: i32,
    pub quantity: i32,
}
kernel::event!(
    DeliverableBehind,
    "documents.deliverable.behind",
    "A deliverable fell behind its pace.",
    "document",
    document_id
);

pub(crate) fn catalogue() -> Vec<EventDef> {
    vec![
        EventDef::of::<DocumentCreated>(),
        EventDef::of::<DocumentUpdated>(),
        EventDef::of::<DocumentStatusChanged>(),
        EventDef::of::<DocumentRevised>(),
        EventDef::of::<ChangeDecided>(),
        EventDef::of::<ApprovalRequested>(),
        EventDef::of::<ApprovalDecided>(),
        EventDef::of::<DocumentSent>(),
        EventDef::of::<SuggestionReceived>(),
        EventDef::of::<SuggestionDecided>(),
        EventDef::of::<SignatureRequested>(),
        EventDef::of::<SignerSigned>(),
        EventDef::of::<SignatureDeclined>(),
        EventDef::of::<DocumentSigned>(),
        EventDef::of::<DocumentDeleted>(),
        EventDef::of::<DocumentRestored>(),
        EventDef::of::<ClauseChanged>(),
        EventDef::of::<DeliverableBehind>(),
    ]
}
