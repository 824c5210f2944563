//! abm's integration tests: one binary, every database test on SQLite and PostgreSQL.

mod hook;
mod manage;
mod support;
mod zones;
