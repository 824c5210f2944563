#![doc = include_str!("../README.md")]

mod deliver;
mod entity;
pub mod events;
mod http;
mod migration;
mod module;
mod permissions;
mod service;
mod signing;

pub use module::Webhooks;

kernel::register_module!(Webhooks::default());
