//! The ingestion benchmark (in progress).
fn main() {}
