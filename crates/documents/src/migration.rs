//! Forward-only migrations, `documents_m<date>_<seq>_<what>`. Every table leads its keys with
//! `org_id` and gets row-level security; the parts of a document (revisions and their changes,
//! clause copies, approval requests, review links, suggestions, signature requests,
//! deliverables) have foreign keys that delete them with it. Documents and clauses go to the
//! trash first, so the daily purge finds expired ones across orgs in the system context, as the
//! deliverables job and the e-sign webhook (which finds its request by the provider's envelope
//! id) do.

use kernel::migration::{
    OnDelete, boolean, create_indexes as indexes, create_tenant_table as table, int, json, text,
    text_null, ts, ts_null, uuid, uuid_null,
};
use sea_orm_migration::prelude::*;

pub(crate) fn migrations() -> Vec<Box<dyn MigrationTrait>> {
    vec![Box::new(CreateDocuments), Box::new(SigningLinksExpire)]
}

/// A built-in signing link expires `signing_days` after it was sent (each link sent, a reminder
/// too, has its own). Links sent before this migration keep no expiry.
struct SigningLinksExpire;

impl MigrationName for SigningLinksExpire {
    fn name(&self) -> &str {
        "documents_m20261207_000001_signing_links_expire"
    }
}

#[kernel::async_trait::async_trait]
impl MigrationTrait for SigningLinksExpire {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("documents_signers")
                .add_column(ts_null("link_expires_at"))
                .to_owned(),
        )
        .await
    }
}

struct CreateDocuments;

impl MigrationName for CreateDocuments {
    fn name(&self) -> &str {
        "documents_m20261206_000001_documents"
    }
}

const DOCS: &str = "documents_documents";

#[kernel::async_trait::async_trait]
impl MigrationTrait for CreateDocuments {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        use OnDelete::{Cascade, Restrict};
        let conn = m.get_connection();

        table(
            m,
            DOCS,
            vec![
                text("title"),
                text("doc_type"),
                text("status"),
                text("content"),
                json("fields"),
                json("field_defs"),
                uuid_null("template_id"),
                uuid_null("contact_id"),
                ColumnDef::new("revision").integer().to_owned(),
                ts_null("expires_at"),
                text_null("signed_hash"),
                ts_null("signed_at"),
                uuid_null("signed_file_id"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
                ts_null("deleted_at"),
            ],
            &[],
            true,
        )
        .await?;
        indexes(
            m,
            DOCS,
            &[
                (
                    "documents_documents_org_type",
                    &["org_id", "doc_type", "status"],
                    false,
                ),
                (
                    "documents_documents_org_created",
                    &["org_id", "created_at"],
                    false,
                ),
                (
                    "documents_documents_org_template",
                    &["org_id", "template_id"],
                    false,
                ),
            ],
        )
        .await?;

        table(
            m,
            "documents_revisions",
            vec![
                uuid("document_id"),
                int("number"),
                text("content"),
                json("fields"),
                text_null("description"),
                uuid_null("suggestion_id"),
                uuid_null("created_by"),
                ts("created_at"),
            ],
            &[("document_id", DOCS, Cascade)],
            true,
        )
        .await?;
        indexes(
            m,
            "documents_revisions",
            &[(
                "documents_revisions_org_doc_number",
                &["org_id", "document_id", "number"],
                true,
            )],
        )
        .await?;

        table(
            m,
            "documents_changes",
            vec![
                uuid("document_id"),
                uuid("revision_id"),
                int("revision_number"),
                int("change_order"),
                text("field_name"),
                text_null("field_label"),
                text("old_value"),
                text("new_value"),
                text("status"),
                uuid_null("decided_by"),
                ts_null("decided_at"),
                ts("created_at"),
            ],
            &[
                ("revision_id", "documents_revisions", Cascade),
                ("document_id", DOCS, Cascade),
            ],
            false,
        )
        .await?;
        indexes(
            m,
            "documents_changes",
            &[
                (
                    "documents_changes_org_revision_order",
                    &["org_id", "revision_id", "change_order"],
                    true,
                ),
                (
                    "documents_changes_org_doc",
                    &["org_id", "document_id", "revision_number", "change_order"],
                    false,
                ),
            ],
        )
        .await?;

        table(
            m,
            "documents_clauses",
            vec![
                text("title"),
                text_null("category"),
                text("content"),
                int("version"),
                boolean("is_default"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
                ts_null("deleted_at"),
            ],
            &[],
            true,
        )
        .await?;
        indexes(
            m,
            "documents_clauses",
            &[(
                "documents_clauses_org_category",
                &["org_id", "category", "title"],
                false,
            )],
        )
        .await?;
        table(
            m,
            "documents_clause_versions",
            vec![
                uuid("clause_id"),
                int("version"),
                text("title"),
                text("content"),
                uuid("created_by"),
                ts("created_at"),
            ],
            &[("clause_id", "documents_clauses", Cascade)],
            false,
        )
        .await?;
        indexes(
            m,
            "documents_clause_versions",
            &[(
                "documents_clause_versions_org_clause",
                &["org_id", "clause_id", "version"],
                true,
            )],
        )
        .await?;
        table(
            m,
            "documents_document_clauses",
            vec![
                uuid("document_id"),
                uuid("clause_id"),
                int("version"),
                text("title"),
                text("content"),
                int("position"),
                ts("created_at"),
            ],
            &[
                ("document_id", DOCS, Cascade),
                ("clause_id", "documents_clauses", Restrict),
            ],
            false,
        )
        .await?;
        indexes(
            m,
            "documents_document_clauses",
            &[
                (
                    "documents_document_clauses_org_doc_clause",
                    &["org_id", "document_id", "clause_id"],
                    true,
                ),
                (
                    "documents_document_clauses_org_clause",
                    &["org_id", "clause_id"],
                    false,
                ),
            ],
        )
        .await?;

        table(
            m,
            "documents_workflows",
            vec![
                text("name"),
                text_null("doc_type"),
                json("steps"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[],
            true,
        )
        .await?;
        table(
            m,
            "documents_approval_requests",
            vec![
                uuid("document_id"),
                uuid("workflow_id"),
                json("steps"),
                int("current_step"),
                text("status"),
                uuid("created_by"),
                ts("created_at"),
                ts_null("decided_at"),
            ],
            &[
                ("document_id", DOCS, Cascade),
                ("workflow_id", "documents_workflows", Restrict),
            ],
            true,
        )
        .await?;
        indexes(
            m,
            "documents_approval_requests",
            &[
                (
                    "documents_approval_requests_org_doc",
                    &["org_id", "document_id", "created_at"],
                    false,
                ),
                (
                    "documents_approval_requests_org_workflow",
                    &["org_id", "workflow_id"],
                    false,
                ),
            ],
        )
        .await?;
        table(
            m,
            "documents_approval_decisions",
            vec![
                uuid("request_id"),
                int("step_order"),
                uuid("reviewer_id"),
                text("decision"),
                text_null("comment"),
                ts("decided_at"),
            ],
            &[("request_id", "documents_approval_requests", Cascade)],
            false,
        )
        .await?;
        indexes(
            m,
            "documents_approval_decisions",
            &[(
                "documents_approval_decisions_org_request",
                &["org_id", "request_id", "step_order", "reviewer_id"],
                true,
            )],
        )
        .await?;

        table(
            m,
            "documents_review_tokens",
            vec![
                uuid("document_id"),
                text("recipient_email"),
                text("token_hash"),
                ts("expires_at"),
                ts_null("revoked_at"),
                ts_null("last_used_at"),
                uuid("created_by"),
                ts("created_at"),
            ],
            &[("document_id", DOCS, Cascade)],
            true,
        )
        .await?;
        indexes(
            m,
            "documents_review_tokens",
            &[
                (
                    "documents_review_tokens_org_hash",
                    &["org_id", "token_hash"],
                    true,
                ),
                (
                    "documents_review_tokens_org_doc",
                    &["org_id", "document_id"],
                    false,
                ),
            ],
        )
        .await?;
        table(
            m,
            "documents_suggestions",
            vec![
                uuid("document_id"),
                uuid("token_id"),
                text_null("section"),
                text_null("field_key"),
                text("original_text"),
                text("suggested_text"),
                text_null("creator_request"),
                text("status"),
                uuid_null("reviewed_by"),
                ts_null("reviewed_at"),
                text_null("review_notes"),
                uuid_null("revision_id"),
                ts("created_at"),
            ],
            &[
                ("document_id", DOCS, Cascade),
                ("token_id", "documents_review_tokens", Cascade),
            ],
            false,
        )
        .await?;
        indexes(
            m,
            "documents_suggestions",
            &[(
                "documents_suggestions_org_doc",
                &["org_id", "document_id", "created_at"],
                false,
            )],
        )
        .await?;

        table(
            m,
            "documents_signature_requests",
            vec![
                uuid("document_id"),
                text("provider"),
                text_null("envelope_id"),
                text("signing_order"),
                text("status"),
                text("document_hash"),
                ColumnDef::new("certificate").json_binary().to_owned(),
                uuid_null("file_id"),
                uuid("created_by"),
                ts("sent_at"),
                ts_null("completed_at"),
            ],
            &[("document_id", DOCS, Cascade)],
            true,
        )
        .await?;
        indexes(
            m,
            "documents_signature_requests",
            &[
                (
                    "documents_signature_requests_org_doc",
                    &["org_id", "document_id", "sent_at"],
                    false,
                ),
                (
                    "documents_signature_requests_envelope",
                    &["provider", "envelope_id"],
                    false,
                ),
            ],
        )
        .await?;
        table(
            m,
            "documents_signers",
            vec![
                uuid("request_id"),
                text("email"),
                text("name"),
                int("order_no"),
                text_null("token_hash"),
                ts_null("signed_at"),
                text_null("typed_name"),
                text_null("ip"),
                text_null("user_agent"),
                ts_null("declined_at"),
            ],
            &[("request_id", "documents_signature_requests", Cascade)],
            false,
        )
        .await?;
        indexes(
            m,
            "documents_signers",
            &[
                (
                    "documents_signers_org_request",
                    &["org_id", "request_id", "order_no"],
                    false,
                ),
                (
                    "documents_signers_org_hash",
                    &["org_id", "token_hash"],
                    true,
                ),
            ],
        )
        .await?;
        table(
            m,
            "documents_provider_events",
            vec![
                text("provider"),
                text("event_key"),
                uuid("request_id"),
                ts("received_at"),
            ],
            &[("request_id", "documents_signature_requests", Cascade)],
            false,
        )
        .await?;
        indexes(
            m,
            "documents_provider_events",
            &[(
                "documents_provider_events_key",
                &["org_id", "provider", "event_key"],
                true,
            )],
        )
        .await?;

        table(
            m,
            "documents_deliverables",
            vec![
                uuid("document_id"),
                text("title"),
                int("quantity"),
                text("frequency"),
                text_null("platform"),
                ts("start_date"),
                ts("due_date"),
                int("current_count"),
                text("status"),
                boolean("is_on_track"),
                uuid("created_by"),
                ts("created_at"),
                ts("updated_at"),
            ],
            &[("document_id", DOCS, Cascade)],
            false,
        )
        .await?;
        indexes(
            m,
            "documents_deliverables",
            &[
                (
                    "documents_deliverables_org_doc",
                    &["org_id", "document_id", "due_date"],
                    false,
                ),
                (
                    "documents_deliverables_active",
                    &["status", "org_id"],
                    false,
                ),
            ],
        )
        .await?;

        for table in [
            "documents_revisions",
            "documents_changes",
            "documents_clause_versions",
            "documents_document_clauses",
            "documents_workflows",
            "documents_approval_requests",
            "documents_approval_decisions",
            "documents_review_tokens",
            "documents_suggestions",
            "documents_signers",
            "documents_provider_events",
        ] {
            kernel::db::enable_tenant_rls(conn, table).await?;
        }
        for table in [
            DOCS,
            "documents_clauses",
            "documents_signature_requests",
            "documents_deliverables",
        ] {
            kernel::db::enable_system_rls(conn, table, false).await?;
        }
        Ok(())
    }
}
