//! The tasks module over HTTP, on SQLite and PostgreSQL.

mod automations;
mod boards;
mod parts;
mod projects;
mod recurrence;
mod support;
mod time;
