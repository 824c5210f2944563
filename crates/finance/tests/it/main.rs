//! The finance module's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (as a `NOBYPASSRLS` role, so row-level security binds).

mod expenses;
mod invoices;
mod numbers;
mod payables;
mod recurring;
mod rules;
mod stripe;
mod support;
mod year;
