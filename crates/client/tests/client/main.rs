//! belfry-client end to end: a real relay process, real TLS, real
//! SQLCipher stores, several engines. No mocks.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod cli;
mod debug;
mod directory;
mod files;
mod group;
mod hostile;
mod invitations;
mod lock;
mod messaging;
mod previews;
mod recovery;
mod relay_enforced;
mod resilience;
mod rooms;
mod timeline;

mod offline_revocation;
mod revocation;
mod sessions;
mod trust;
mod verify;
mod views;
