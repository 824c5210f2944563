//! The finance module's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (as a `NOBYPASSRLS` role, so row-level security binds).

mod invoices;
mod numbers;
mod rules;
mod stripe;
mod support;
