#![doc = include_str!("../README.md")]

mod entity;
pub mod events;
mod http;
mod ledger;
mod migration;
mod module;
mod money;
mod permissions;
mod reports;
mod service;
mod stripe;

pub use ledger::Account;
pub use module::Finance;

kernel::register_module!(Finance::default());
