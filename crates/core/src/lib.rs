#![doc = include_str!("../README.md")]

pub mod analytics;
pub mod audit;
mod aws;
pub mod cache;
pub mod cli;
pub mod config;
pub mod context;
pub mod db;
pub mod error;
pub mod events;
pub mod http;
pub mod identity;
pub mod jobs;
pub mod mail;
pub mod migration;
pub mod module;
pub mod money;
pub mod net;
pub mod opaque;
mod queue;
pub mod ratelimit;
pub mod realtime;
pub mod records;
pub mod redis;
pub mod replica;
mod schema;
pub mod seal;
pub mod signals;
pub mod startup;
pub mod storage;
pub mod telemetry;

pub use config::CellConfig;
pub use context::{CellContext, HealthCheck};
pub use db::{Db, Repo, TenantEntity, TenantTx, TxConn};
pub use error::{ApiError, ApiResult, ErrorCode};
pub use http::Application;
pub use module::PlatformModule;

// Re-exported for the macros and so modules build on the kernel's versions.
pub use async_trait;
pub use inventory;
pub use sea_orm;
pub use sea_orm_migration;
pub use utoipa;
pub use utoipa_actix_web;
