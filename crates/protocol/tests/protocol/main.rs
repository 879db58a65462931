//! belfry-protocol integration tests: one binary, several modules.

mod decode;
mod names;
mod samples;
mod signatures;
mod snapshots;
