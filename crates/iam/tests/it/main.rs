//! The iam engine's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (`testkit::db_test!`).

mod agreement;
mod cache;
mod caveats;
mod conformance;
mod engine;
mod isolation;
mod properties;
mod replica;
mod startup;
mod support;
