//! belfry-relay integration tests: a real relay process, real TLS on
//! loopback, several authenticated devices.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod crash;
mod flows;
mod hostile;
mod insiders;
mod operate;
mod revocation;
mod strangers;
mod tls;
