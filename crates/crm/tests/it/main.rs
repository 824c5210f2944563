//! The crm module's one test binary.

mod companies;
mod contacts;
mod deals;
mod interactions;
mod scoring;
mod segments;
mod support;
