//! The notifications module's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (as a `NOBYPASSRLS` role); the template module's items raise the events and name
//! their creator as the one they concern.

mod digest;
mod inbox;
mod preferences;
mod support;
