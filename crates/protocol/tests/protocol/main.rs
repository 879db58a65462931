//! belfry-protocol integration tests: one binary, several modules.

mod decode;
mod samples;
mod signatures;
mod snapshots;
