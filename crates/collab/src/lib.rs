#![doc = include_str!("../README.md")]

mod entities;
mod entity;
pub mod events;
mod http;
mod markdown;
mod merge;
mod migration;
mod module;
mod permissions;
mod search;

pub use http::activity::{ActivityEntry, entries_of as activity_of};
pub use http::tags::{check_tag, tag_all};
pub use merge::merge_into;
pub use module::Collab;

kernel::register_module!(Collab::default());
