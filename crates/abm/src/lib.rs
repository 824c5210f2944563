#![doc = include_str!("../README.md")]

pub mod enrich;
pub mod posthog;
pub mod webhook;
