#![doc = include_str!("../README.md")]

mod authn;
mod cli;
pub mod entity;
pub mod jobs;
pub mod jwt;
pub mod mfa;
mod migration;
mod module;
pub mod password;
mod routes;
mod service;
pub mod settings;
mod state;
mod templates;

pub use module::Auth;
pub use service::{TokenResponse, UserView, new_user};

kernel::register_module!(Auth::default());
