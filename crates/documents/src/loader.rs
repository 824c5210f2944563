//! How other modules see documents: the kernel's entity contract (collab's comments, tags,
//! links, activity, search and trash: `/documents/{id}/comments`, `/trash?type=document`; files'
//! attachments, the signed PDF among them), and whom a document's events concern.

use chrono::{DateTime, Utc};
use kernel::http::{AdministerOrg, Caller};
use kernel::module::{
    Documents, DomainEvent, EntityLoader, EntityRef, EntitySummary, EntityTrash, Recipient,
    Recipients, SearchDocument, Trashed,
};
use kernel::sea_orm::{ColumnTrait, QueryFilter};
use kernel::{ApiError, CellContext, TenantTx};
use uuid::Uuid;

use crate::entity::document;
use crate::events::{ApprovalDecided, ApprovalRequested, DocumentRestored};

/// The entity type other modules name documents by.
pub(crate) const DOCUMENT: &str = "document";

pub(crate) struct DocumentLoader;

fn summary(m: document::Model) -> EntitySummary {
    EntitySummary {
        entity: EntityRef {
            kind: DOCUMENT.into(),
            id: m.id,
        },
        title: m.title,
        subtitle: Some(format!("{} · {}", m.doc_type, m.status)),
        url: None,
    }
}

/// The words of a document's content, for search.
fn words(html: &str) -> String {
    crate::pdf::blocks(html)
        .iter()
        .flat_map(|b| b.runs.iter().map(|r| r.text.as_str()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every member of the org sees every document.
#[kernel::async_trait::async_trait(?Send)]
impl EntityLoader for DocumentLoader {
    fn entity_type(&self) -> &'static str {
        DOCUMENT
    }

    fn collection(&self) -> &'static str {
        "documents"
    }

    async fn resolve(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        ids: &[Uuid],
    ) -> Result<Vec<EntitySummary>, ApiError> {
        let repo = tx.repo::<document::Entity>();
        let rows = repo
            .find()
            .filter(document::Column::Id.is_in(ids.to_vec()))
            .all(repo.conn())
            .await?;
        Ok(rows.into_iter().map(summary).collect())
    }

    async fn count(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
    ) -> Result<u64, ApiError> {
        Ok(tx.repo::<document::Entity>().count().await?)
    }

    /// Documents are found by their title, then the words of their content.
    async fn documents(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        which: Documents<'_>,
    ) -> Result<Vec<SearchDocument>, ApiError> {
        let repo = tx.repo::<document::Entity>();
        let rows = repo.find_documents(which)?.all(repo.conn()).await?;
        Ok(rows
            .into_iter()
            .map(|m| SearchDocument {
                id: m.id,
                body: words(&m.content),
                title: m.title,
            })
            .collect())
    }

    fn trash(&self) -> Option<&dyn EntityTrash> {
        Some(self)
    }
}

#[kernel::async_trait::async_trait(?Send)]
impl EntityTrash for DocumentLoader {
    async fn trashed(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        _caller: &Caller,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: u64,
    ) -> Result<Vec<Trashed>, ApiError> {
        let repo = tx.repo::<document::Entity>();
        Ok(repo
            .trashed_page(before, limit)
            .await?
            .into_iter()
            .map(|(m, deleted_at)| Trashed {
                summary: summary(m),
                deleted_at,
            })
            .collect())
    }

    /// Whoever may delete the document (its creator, admins) may restore it.
    async fn restore(
        &self,
        ctx: &CellContext,
        tx: &TenantTx,
        caller: &Caller,
        id: Uuid,
    ) -> Result<Option<EntitySummary>, ApiError> {
        let repo = tx.repo::<document::Entity>();
        let Some(row) = repo
            .find_trashed(None)?
            .filter(document::Column::Id.eq(id))
            .one(repo.conn())
            .await?
        else {
            return Ok(None);
        };
        if row.created_by != caller.user_id {
            kernel::http::require::<AdministerOrg>(ctx, tx, caller, None).await?;
        }
        if !repo.restore(id).await? {
            return Ok(None);
        }
        crate::service::publish(
            ctx,
            tx,
            caller.user_id,
            &DocumentRestored { document_id: id },
        )
        .await?;
        Ok(repo.get(id).await?.map(summary))
    }

    /// A document's revisions, clause copies, approvals, review links, suggestions, signature
    /// requests and deliverables go with it (foreign keys); its files are purged by files.
    async fn purge(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        ids: &[Uuid],
    ) -> Result<Vec<Uuid>, ApiError> {
        let repo = tx.repo::<document::Entity>();
        Ok(repo.purge(ids).await?)
    }

    async fn expired(
        &self,
        ctx: &CellContext,
        cutoff: DateTime<Utc>,
        limit: u64,
    ) -> Result<Vec<(Uuid, Uuid)>, ApiError> {
        Ok(kernel::db::trashed_before::<document::Entity>(ctx.db(), cutoff, limit).await?)
    }
}

/// Who hears of a document's events: an approval step's reviewers when it waits for them
/// (`approver`), the submitter when a step is decided, the owner of the document (its creator)
/// when it is revised by a suggestion, receives a suggestion, is signed or declined, or a
/// deliverable falls behind.
#[kernel::async_trait::async_trait(?Send)]
impl Recipients for DocumentLoader {
    async fn recipients(
        &self,
        _ctx: &CellContext,
        tx: &TenantTx,
        event: &DomainEvent,
    ) -> Result<Vec<Recipient>, ApiError> {
        let mut out = Vec::new();
        match event.name.as_str() {
            "documents.approval.requested" => {
                if let Some(e) = event.payload_as::<ApprovalRequested>() {
                    out.extend(e.reviewer_ids.into_iter().map(|user_id| Recipient {
                        user_id,
                        reason: "approver",
                    }));
                }
                return Ok(out);
            }
            "documents.approval.decided" => {
                if let Some(e) = event.payload_as::<ApprovalDecided>() {
                    out.push(Recipient {
                        user_id: e.submitted_by,
                        reason: "submitter",
                    });
                }
            }
            "documents.suggestion.received"
            | "documents.document.signed"
            | "documents.signature.declined"
            | "documents.signature.signed"
            | "documents.deliverable.behind"
            | "documents.document.status_changed" => {}
            _ => return Ok(out),
        }
        let Some(doc) = tx.repo::<document::Entity>().get(event.entity.id).await? else {
            return Ok(out);
        };
        out.push(Recipient {
            user_id: doc.created_by,
            reason: "owner",
        });
        let mut seen = std::collections::HashSet::new();
        out.retain(|r| seen.insert(r.user_id));
        Ok(out)
    }
}
