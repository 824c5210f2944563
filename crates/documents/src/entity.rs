//! The module's tables, as sea-orm entities. Private to the crate: other modules reach
//! documents through the module's events, its entity loader and its routes.

kernel::tenant_table!(document, "documents_documents", {
    title: String,
    /// `contract`, `proposal`, `sow`, `note` or `template`.
    doc_type: String,
    /// See `crate::service::status`.
    status: String,
    /// Sanitized HTML; elements with `data-field="<name>"` show the field of that name.
    content: String,
    /// The field values: `{name: text}`.
    fields: Json,
    /// The typed fields a template asks for (`[{name, label, type, required, default}]`);
    /// copied to documents made from it.
    field_defs: Json,
    template_id: Option<Uuid>,
    /// The person it is for (a crm contact).
    contact_id: Option<Uuid>,
    /// The last revision's number (`None` before the first).
    revision: Option<i32>,
    expires_at: Option<DateTimeUtc>,
    /// SHA-256 of the content signed (hex), once signed.
    signed_hash: Option<String>,
    signed_at: Option<DateTimeUtc>,
    /// The signed PDF (a file of the files module, attached to this document).
    signed_file_id: Option<Uuid>,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    deleted_at: Option<DateTimeUtc>,
});

kernel::tenant_table!(revision, "documents_revisions", {
    document_id: Uuid,
    /// 0 is the baseline: the document as it was before its first revision.
    number: i32,
    /// The HTML snapshot at this revision.
    content: String,
    /// The field values at this revision.
    fields: Json,
    description: Option<String>,
    /// The external suggestion it applied.
    suggestion_id: Option<Uuid>,
    created_by: Option<Uuid>,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(change, "documents_changes", {
    document_id: Uuid,
    revision_id: Uuid,
    revision_number: i32,
    /// The change's index in its revision (the spec's `opIndex`).
    change_order: i32,
    field_name: String,
    field_label: Option<String>,
    old_value: String,
    new_value: String,
    /// `pending`, `accepted` or `rejected` (a rejected change's field is back to `old_value`).
    status: String,
    decided_by: Option<Uuid>,
    decided_at: Option<DateTimeUtc>,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(clause, "documents_clauses", {
    title: String,
    category: Option<String>,
    content: String,
    version: i32,
    /// Included in new documents made from a template.
    is_default: bool,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
    deleted_at: Option<DateTimeUtc>,
});

kernel::tenant_table!(clause_version, "documents_clause_versions", {
    clause_id: Uuid,
    version: i32,
    title: String,
    content: String,
    created_by: Uuid,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(doc_clause, "documents_document_clauses", {
    document_id: Uuid,
    clause_id: Uuid,
    /// The clause's version copied.
    version: i32,
    title: String,
    content: String,
    position: i32,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(workflow, "documents_workflows", {
    name: String,
    /// The document type it approves (`None`: any type without a workflow of its own).
    doc_type: Option<String>,
    /// `[{order, name, reviewers: [{kind: user|team|role, id?, role?}]}]`.
    steps: Json,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_table!(approval, "documents_approval_requests", {
    document_id: Uuid,
    workflow_id: Uuid,
    /// The workflow's steps when it was submitted (a later change of the workflow applies to
    /// later requests).
    steps: Json,
    /// 1-based.
    current_step: i32,
    /// `pending`, `approved`, `rejected` or `returned_for_changes`.
    status: String,
    created_by: Uuid,
    created_at: DateTimeUtc,
    decided_at: Option<DateTimeUtc>,
});

kernel::tenant_table!(decision, "documents_approval_decisions", {
    request_id: Uuid,
    step_order: i32,
    reviewer_id: Uuid,
    /// `approved`, `rejected` or `returned_for_changes`.
    decision: String,
    comment: Option<String>,
    decided_at: DateTimeUtc,
});

kernel::tenant_table!(review_token, "documents_review_tokens", {
    document_id: Uuid,
    recipient_email: String,
    /// Keyed hash of the token's secret (`kernel::opaque`).
    token_hash: String,
    expires_at: DateTimeUtc,
    revoked_at: Option<DateTimeUtc>,
    last_used_at: Option<DateTimeUtc>,
    created_by: Uuid,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(suggestion, "documents_suggestions", {
    document_id: Uuid,
    token_id: Uuid,
    section: Option<String>,
    field_key: Option<String>,
    original_text: String,
    suggested_text: String,
    creator_request: Option<String>,
    /// `PENDING`, `APPROVED` or `REJECTED`.
    status: String,
    reviewed_by: Option<Uuid>,
    reviewed_at: Option<DateTimeUtc>,
    review_notes: Option<String>,
    /// The revision an approved suggestion made.
    revision_id: Option<Uuid>,
    created_at: DateTimeUtc,
});

kernel::tenant_table!(signature, "documents_signature_requests", {
    document_id: Uuid,
    /// `builtin` or an external provider named in the settings.
    provider: String,
    /// The provider's id for it (its envelope).
    envelope_id: Option<String>,
    /// `sequential` or `parallel`.
    signing_order: String,
    /// `pending`, `completed`, `declined` or `voided`.
    status: String,
    /// SHA-256 (hex) of the content sent for signature.
    document_hash: String,
    /// The completion certificate (built-in provider).
    certificate: Option<Json>,
    file_id: Option<Uuid>,
    created_by: Uuid,
    sent_at: DateTimeUtc,
    completed_at: Option<DateTimeUtc>,
});

kernel::tenant_table!(signer, "documents_signers", {
    request_id: Uuid,
    email: String,
    name: String,
    /// 1-based; in a sequential request, a signer signs after every lower order.
    order_no: i32,
    /// Keyed hash of the signing link's secret (built-in provider).
    token_hash: Option<String>,
    /// When that link stops working (`signing_days` after it was sent).
    link_expires_at: Option<DateTimeUtc>,
    signed_at: Option<DateTimeUtc>,
    typed_name: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    declined_at: Option<DateTimeUtc>,
});

kernel::tenant_table!(provider_event, "documents_provider_events", {
    provider: String,
    /// The provider's id for the delivery: a second delivery of it changes nothing.
    event_key: String,
    request_id: Uuid,
    received_at: DateTimeUtc,
});

kernel::tenant_table!(deliverable, "documents_deliverables", {
    document_id: Uuid,
    title: String,
    quantity: i32,
    /// `once`, `daily`, `weekly` or `monthly`.
    frequency: String,
    platform: Option<String>,
    start_date: DateTimeUtc,
    due_date: DateTimeUtc,
    current_count: i32,
    /// `active`, `completed` or `cancelled`.
    status: String,
    is_on_track: bool,
    created_by: Uuid,
    created_at: DateTimeUtc,
    updated_at: DateTimeUtc,
});

kernel::tenant_entity!(
    revision,
    change,
    clause_version,
    doc_clause,
    workflow,
    approval,
    decision,
    review_token,
    suggestion,
    signature,
    signer,
    provider_event,
    deliverable
);
// Documents and clauses go to the trash before they are deleted for good.
kernel::tenant_entity!(soft_delete: document, clause);
