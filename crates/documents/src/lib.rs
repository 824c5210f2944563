#![doc = include_str!("../README.md")]

pub mod content;
mod entity;
pub mod events;
mod http;
mod loader;
mod migration;
mod module;
pub mod pdf;
mod permissions;
mod service;

pub use module::Documents;

kernel::register_module!(Documents::default());
