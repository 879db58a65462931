//! The `belfry` command-line client (placeholder until the CLI lands).
fn main() {}
