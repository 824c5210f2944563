#![doc = include_str!("../README.md")]

pub mod jwt;
pub mod opaque;
pub mod password;
