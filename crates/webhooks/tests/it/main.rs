//! The webhooks module's integration tests: one binary, every database test on SQLite and
//! PostgreSQL (as a `NOBYPASSRLS` role). Deliveries go to a receiver process that verifies them
//! with the `standardwebhooks` library from PyPI; the template module's items raise the events.

mod access;
mod delivery;
mod filters;
mod support;
