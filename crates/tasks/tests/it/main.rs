//! The tasks module over HTTP, on SQLite and PostgreSQL.

mod boards;
mod parts;
mod projects;
mod recurrence;
mod support;
mod time;
