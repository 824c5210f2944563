//! The auth module's integration tests: one binary; every database test runs on SQLite and
//! PostgreSQL, over real HTTP against a cell started in-process.

mod apikeys;
mod flows;
mod instances;
mod mfa;
mod probe;
mod support;
mod tenancy;
mod tokens;
