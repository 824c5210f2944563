//! abm's storage: entities and the migration.

pub mod entity;
pub(crate) mod migration;
