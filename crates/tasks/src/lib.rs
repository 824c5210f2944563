#![doc = include_str!("../README.md")]

mod entity;
pub mod events;
mod http;
mod loader;
mod migration;
mod module;
mod permissions;
pub mod position;
mod service;

pub use module::Tasks;

kernel::register_module!(Tasks::default());
