//! Process hardening a host (the `belfry` CLI, the desktop app) applies
//! first thing in `main`, before any thread exists, and reports.
//!
//! Decrypted messages live in the process's memory. The store wipes what
//! SQLite frees (see `belfry_store::MemoryProtection`), but a core dump
//! taken while the process runs, or written by a crash handler such as
//! systemd-coredump, would still put the live heap on disk in plaintext,
//! and a debugger running as the same user could read it. On Linux the
//! process therefore marks itself not dumpable: no core dump is written,
//! and other processes of the same user can neither attach to it nor read
//! its memory through `/proc` (only root can).

use belfry_store::{MemoryProtection, SqlStore};

/// What protects this process's memory, as a host shows it (`belfry status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hardening {
    /// No core dumps; same-user debuggers and `/proc/<pid>/mem` refused.
    pub not_dumpable: bool,
    /// How the store wipes SQLite's freed memory.
    pub memory: MemoryProtection,
}

/// Applies the hardening and settles the store's memory protection. Call
/// at the start of `main`, before any thread exists.
pub fn harden_process() -> Hardening {
    let memory = SqlStore::memory_protection();
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        tracing::warn!(error = %e, "could not refuse core dumps and debuggers for this process");
    }
    Hardening { not_dumpable: not_dumpable(), memory }
}

/// The hardening in effect now.
pub fn hardening() -> Hardening {
    Hardening { not_dumpable: not_dumpable(), memory: SqlStore::memory_protection() }
}

#[cfg(target_os = "linux")]
fn not_dumpable() -> bool {
    matches!(rustix::process::dumpable_behavior(), Ok(rustix::process::DumpableBehavior::NotDumpable))
}

#[cfg(not(target_os = "linux"))]
fn not_dumpable() -> bool {
    false
}
