//! Who may call what. Every route takes one of these gates; rules that depend on the file (its
//! uploader, the entity it is attached to) are checked in the service, in the same transaction.

use kernel::http::{InOrg, Read, Scoped, WorkInOrg, Write};

kernel::api_scope!(
    /// Files and folders, for API keys: `files:read`, `files:write`.
    pub(crate) FilesScope = "files"
);

/// Reads files and folders (and downloads): every member of the org, viewers included; a file
/// attached to an entity only for those who see the entity.
pub(crate) type ReadFiles = Scoped<InOrg, Read<FilesScope>>;
/// Uploads, renames, moves, deletes; folders: members, admins and owners.
pub(crate) type WriteFiles = Scoped<WorkInOrg, Write<FilesScope>>;
