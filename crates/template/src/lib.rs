#![doc = include_str!("../README.md")]

mod entity;
pub mod events;
mod http;
mod loader;
mod migration;
mod module;
mod permissions;
mod service;

pub use module::Template;

kernel::register_module!(Template::default());
