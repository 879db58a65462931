//! belfry-desktop's command layer through Tauri's IPC (`tauri::test`'s mock
//! runtime: the real invoke handler, argument decoding and channels)
//! against a real relay process and real SQLCipher profiles. The relay,
//! the organisation and headless devices come from belfry-client's own
//! test support, shared as it is.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../crates/client/tests/client/support.rs"]
mod support;

mod acl;
mod harness;
mod input;
mod session;
