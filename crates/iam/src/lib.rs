#![doc = include_str!("../README.md")]

pub mod caveat;
pub mod conformance;
pub mod engine;
pub mod error;
mod module;
pub mod platform;
pub mod schema;
pub mod store;
pub mod tuple;

pub use caveat::{CaveatRef, Context as CaveatContext};
pub use engine::{
    Answer, CacheConfig, CacheStats, Engine, ExpandNode, MAX_DEPTH, Permissionship, ReadOptions,
};
pub use error::EngineError;
pub use schema::{Schema, SchemaError, SchemaErrors};
pub use store::{Precondition, Revision, TupleFilter, TupleUpdate, WriteBatch, WriteOp};
pub use tuple::{ObjectRef, SubjectRef, Tuple};

pub use module::{Iam, compose_schema};
pub use platform::engine;

kernel::register_module!(Iam::default());
