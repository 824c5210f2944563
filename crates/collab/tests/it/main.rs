//! The collab module's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (as a `NOBYPASSRLS` role, so row-level security binds).

mod activity;
mod comments;
mod links;
mod notes;
mod onboarding;
mod search;
mod support;
mod tags;
mod trash;
