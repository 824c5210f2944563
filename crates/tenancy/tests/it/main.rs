//! Tenancy's integration tests: one binary, every database test on SQLite and PostgreSQL.

mod features;
mod invitations;
mod isolation;
mod members;
mod orgs;
mod permissions;
mod rls;
mod settings;
mod support;
mod teams;
