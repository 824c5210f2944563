//! The kernel's integration tests: one binary, database tests on SQLite and PostgreSQL.

mod blackbox;
mod cache;
mod events;
mod http;
mod jobs;
mod list;
mod mail;
mod migrations;
mod ratelimit;
mod registry;
mod storage;
mod support;
mod tenancy;
