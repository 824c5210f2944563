#![doc = include_str!("../README.md")]

mod deliver;
mod digest;
mod entity;
mod http;
mod migration;
mod module;
mod permissions;
mod service;

pub use module::Notifications;

kernel::register_module!(Notifications);
