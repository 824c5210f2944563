//! The kernel's integration tests: one binary, database tests on SQLite and PostgreSQL.

mod audit;
mod blackbox;
mod cache;
mod events;
mod foreign_keys;
mod http;
mod idempotency;
mod jobs;
mod list;
mod mail;
mod migrations;
mod ratelimit;
mod registry;
mod replica;
mod roles;
mod storage;
mod support;
mod tenancy;
