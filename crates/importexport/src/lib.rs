#![doc = include_str!("../README.md")]

mod entity;
pub mod events;
mod http;
mod jobs;
mod mapping;
mod migration;
mod module;
mod permissions;
mod service;
mod table;

pub use module::ImportExport;

kernel::register_module!(ImportExport::default());
