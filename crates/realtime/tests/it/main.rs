//! The realtime module's one test binary.

mod feed;
mod stream;
mod support;
