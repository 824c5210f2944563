#![doc = include_str!("../README.md")]

mod entity;
pub mod events;
mod http;
mod loader;
mod migration;
mod module;
mod normalize;
mod ownership;
mod permissions;
mod records;
mod service;

pub use module::Crm;

kernel::register_module!(Crm::default());
