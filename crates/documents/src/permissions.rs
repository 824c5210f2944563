//! Who may call what. Every member of the org reads its documents, clauses and workflows;
//! members and up write documents and clauses; admins and owners configure approval workflows.
//! Rules that depend on the record are checked in the service, in the same transaction: a
//! document goes to the trash by its creator or an admin; an approval step is decided only by
//! its reviewers. External reviewers and signers hold no account: their links carry a token
//! (`Public` routes that verify it first).

use kernel::http::{AdministerOrg, InOrg, Read, Scoped, WorkInOrg, Write};

kernel::api_scope!(
    /// Documents, their revisions, redlines, review links, suggestions, signatures and
    /// deliverables: `documents:read`, `documents:write`.
    pub(crate) DocumentScope = "documents"
);
kernel::api_scope!(
    /// The clause library: `clauses:read`, `clauses:write`.
    pub(crate) ClauseScope = "clauses"
);
kernel::api_scope!(
    /// Approval workflows and decisions: `approvals:read`, `approvals:write`.
    pub(crate) ApprovalScope = "approvals"
);

/// Reads documents and everything about them: every member, viewers included.
pub(crate) type ReadDocuments = Scoped<InOrg, Read<DocumentScope>>;
/// Creates, revises, sends and deletes documents: members and up.
pub(crate) type WriteDocuments = Scoped<WorkInOrg, Write<DocumentScope>>;
/// Reads the clause library: every member.
pub(crate) type ReadClauses = Scoped<InOrg, Read<ClauseScope>>;
/// Writes the clause library: members and up.
pub(crate) type WriteClauses = Scoped<WorkInOrg, Write<ClauseScope>>;
/// Reads approval workflows and requests: every member.
pub(crate) type ReadApprovals = Scoped<InOrg, Read<ApprovalScope>>;
/// Decides an approval step: any member of the org the step names as a reviewer (a viewer may
/// be a legal reviewer); checked against the step in the service.
pub(crate) type DecideApprovals = Scoped<InOrg, Write<ApprovalScope>>;
/// Configures approval workflows: admins and owners.
pub(crate) type ConfigureApprovals = Scoped<AdministerOrg, Write<ApprovalScope>>;
