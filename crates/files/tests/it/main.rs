//! The files module's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (as a `NOBYPASSRLS` role), the upload flow on local storage and on a real
//! S3-compatible server (moto, started by scripts/services.sh).

mod access;
mod folders;
mod support;
mod upload;
