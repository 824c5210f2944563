#![doc = include_str!("../README.md")]

mod entity;
pub mod events;
mod expenses;
mod http;
mod ledger;
mod loader;
mod migration;
mod milestones;
mod module;
mod money;
mod payables;
mod pdf;
mod permissions;
mod recurring;
mod reports;
mod service;
mod stripe;

pub use ledger::Account;
pub use module::Finance;

kernel::register_module!(Finance::default());
