#![doc = include_str!("../README.md")]

mod entity;
pub mod events;
mod http;
mod jobs;
mod loader;
mod migration;
mod module;
mod permissions;
mod service;
mod sniff;

pub use module::Files;
pub use service::store_made;

kernel::register_module!(Files::default());
