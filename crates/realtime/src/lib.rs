#![doc = include_str!("../README.md")]

mod feed;
mod http;
mod hub;
mod module;
mod permissions;

pub use feed::{ClientMessage, ServerMessage};
pub use module::Realtime;

kernel::register_module!(Realtime::default());
