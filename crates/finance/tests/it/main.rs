//! The finance module's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (as a `NOBYPASSRLS` role, so row-level security binds).

mod credit;
mod expenses;
mod invoices;
mod milestones;
mod numbers;
mod payables;
mod pdf;
mod recurring;
mod rules;
mod stripe;
mod support;
mod year;
