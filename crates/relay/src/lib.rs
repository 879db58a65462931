//! `belfry-relay`: the organisation's private relay.
//!
//! It stores and forwards ciphertext and routing data only, and it is not
//! trusted for confidentiality: clients check every signature themselves.
//! What it must be is reliable: a publish is acknowledged only once it is
//! durable, an inbox entry is deleted only once its device acknowledges it,
//! and bad input closes one connection with a clear error, nothing more.
//!
//! - [`config`]: the `relay.toml` file;
//! - [`tls`]: the private CA and the TLS 1.3-only, post-quantum-preferring
//!   rustls set-up;
//! - [`storage`]: the [`storage::Storage`] trait and its SQLite backend
//!   with group commit;
//! - [`server`] and [`session`]: connections and the frame protocol;
//! - [`gate`]: caps and budgets for connections before sign-in;
//! - [`blobs`]: attachment upload and download over HTTPS.

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

pub mod admission;
pub mod blobs;
pub mod config;
pub mod error;
pub mod gate;
pub mod init;
pub mod metrics;
pub mod register;
pub mod server;
pub mod session;
pub mod storage;
pub mod tls;

pub use error::{RelayError, Result};
