//! The import/export module's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (as a `NOBYPASSRLS` role); the template module's items are the records.

mod analytics;
mod export;
mod import;
mod support;
