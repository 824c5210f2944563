//! Errors of the engine's queries and writes.

use sea_orm::DbErr;

/// Why a query or write was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The request names a type the schema does not define.
    #[error("type `{0}` is not defined")]
    UnknownType(String),
    /// The request names a relation its type does not define.
    #[error("type `{type_name}` has no relation or permission `{relation}`")]
    UnknownRelation { type_name: String, relation: String },
    /// The request's subject is malformed or not part of the schema.
    #[error("invalid subject: {0}")]
    InvalidSubject(String),
    /// A tuple to write (or a contextual tuple) is malformed or not allowed by the schema.
    #[error("invalid tuple {0}")]
    InvalidTuple(String),
    /// The evaluation went deeper than [`crate::engine::MAX_DEPTH`] dispatches.
    #[error("the check needs more than {0} nested steps (resolution too complex)")]
    DepthExceeded(u32),
    /// The caller asked for a revision this store has not reached (a token from elsewhere).
    #[error("revision {requested} is newer than the store's ({current})")]
    FutureRevision { requested: i64, current: i64 },
    #[error("precondition failed: {0}")]
    PreconditionFailed(String),
    #[error("tuple `{0}` already exists")]
    AlreadyExists(String),
    /// A caveat could not be evaluated (a context value of the wrong type, an expression that
    /// fails on the values given).
    #[error("caveat error: {0}")]
    Caveat(String),
    #[error(transparent)]
    Db(#[from] DbErr),
}
