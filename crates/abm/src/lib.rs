#![doc = include_str!("../README.md")]

pub mod enrich;
pub mod events;
mod http;
mod ingest;
mod module;
pub mod posthog;
pub mod score;
pub mod settings;
pub mod store;
pub mod webhook;

pub use ingest::Report;
pub use module::{Abm, OperatorOrg, SCORE_JOB, operator_org};

kernel::register_module!(Abm::default());
