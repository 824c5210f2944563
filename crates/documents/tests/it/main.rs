//! The documents module over HTTP, on SQLite and PostgreSQL.

mod approvals;
mod documents;
mod flow;
mod review;
mod revisions;
mod signatures;
mod support;
