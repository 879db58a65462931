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

/// Set once [`harden_process`] has run in this process.
static HARDENED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Applies the hardening and settles the store's memory protection. Call
/// at the start of `main`, before any thread exists: opening a profile
/// ([`crate::profile::Profile`], and with it every [`crate::Engine`])
/// before it is [`crate::ClientError::NotHardened`], so a host that forgets
/// it fails at once instead of letting the store's memory protection be
/// settled later, on whatever thread first touches SQLite.
pub fn harden_process() -> Hardening {
    SqlStore::memory_protection();
    HARDENED.store(true, std::sync::atomic::Ordering::SeqCst);
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable) {
        tracing::warn!(error = %e, "could not refuse core dumps and debuggers for this process");
    }
    hardening()
}

/// Whether [`harden_process`] has run in this process.
pub fn is_hardened() -> bool {
    HARDENED.load(std::sync::atomic::Ordering::SeqCst)
}

/// [`crate::ClientError::NotHardened`] unless [`harden_process`] has run.
pub(crate) fn require() -> crate::Result<()> {
    if is_hardened() { Ok(()) } else { Err(crate::ClientError::NotHardened) }
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

/// Where swapped-out memory goes. Decrypted messages live in the process's
/// memory, and any of it may be swapped out: the promise that no plaintext
/// reaches the disk outside SQLCipher holds only with swap off, in RAM
/// (zram), or encrypted. IT sees this in `belfry status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// No swap.
    Off,
    /// Every swap area is in RAM (zram) or on an encrypted device.
    Safe,
    /// These swap areas are on devices the OS does not encrypt.
    NotEncrypted(Vec<String>),
    /// Not known on this system.
    Unknown,
}

/// The swap areas of this machine (Linux: `/proc/swaps` and `/sys`).
pub fn swap() -> Swap {
    #[cfg(target_os = "linux")]
    {
        let Ok(swaps) = std::fs::read_to_string("/proc/swaps") else { return Swap::Unknown };
        swap_from(&swaps, std::path::Path::new("/sys/class/block"), &block_of_file)
    }
    #[cfg(not(target_os = "linux"))]
    Swap::Unknown
}

/// The block device (its name under `/sys/class/block`) holding `file`.
#[cfg(target_os = "linux")]
fn block_of_file(file: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let dev = std::fs::metadata(file).ok()?.dev();
    let (major, minor) = (rustix::fs::major(dev), rustix::fs::minor(dev));
    let target = std::fs::read_link(format!("/sys/dev/block/{major}:{minor}")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Judges the swap areas listed in `swaps` (the text of `/proc/swaps`),
/// with `sys` standing for `/sys/class/block`.
fn swap_from(swaps: &str, sys: &std::path::Path, block_of_file: &dyn Fn(&std::path::Path) -> Option<String>) -> Swap {
    let mut exposed = Vec::new();
    let mut any = false;
    for line in swaps.lines().skip(1) {
        let mut fields = line.split_whitespace();
        let (Some(name), Some(kind)) = (fields.next(), fields.next()) else { continue };
        any = true;
        // Spaces in names are written as \040.
        let path = std::path::PathBuf::from(name.replace("\\040", " "));
        let block = if kind == "file" {
            block_of_file(&path)
        } else {
            std::fs::canonicalize(&path).ok().unwrap_or(path).file_name().map(|n| n.to_string_lossy().into_owned())
        };
        let safe = block.is_some_and(|b| b.starts_with("zram") || encrypted(sys, &b, 0));
        if !safe {
            exposed.push(name.replace("\\040", " "));
        }
    }
    match (any, exposed.is_empty()) {
        (false, _) => Swap::Off,
        (true, true) => Swap::Safe,
        (true, false) => Swap::NotEncrypted(exposed),
    }
}

/// Whether block device `name` is a dm-crypt mapping, or built only on
/// such mappings (LVM on LUKS).
fn encrypted(sys: &std::path::Path, name: &str, depth: usize) -> bool {
    if depth > 8 {
        return false;
    }
    let dev = sys.join(name);
    if std::fs::read_to_string(dev.join("dm/uuid")).is_ok_and(|u| u.starts_with("CRYPT-")) {
        return true;
    }
    let Ok(slaves) = std::fs::read_dir(dev.join("slaves")) else { return false };
    let slaves: Vec<String> = slaves.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    !slaves.is_empty() && slaves.iter().all(|s| encrypted(sys, s, depth + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const HEADER: &str = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n";

    /// A fake `/sys/class/block`: dm-0 is LUKS, dm-1 is LVM on dm-0, dm-2 is
    /// LVM on a plain partition, vda2 is a plain partition.
    fn sys() -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        let mk = |p: &str| fs::create_dir_all(root.path().join(p)).unwrap_or_else(|e| unreachable!("{e}"));
        let write = |p: &str, s: &str| fs::write(root.path().join(p), s).unwrap_or_else(|e| unreachable!("{e}"));
        for d in ["dm-0/dm", "dm-1/dm", "dm-1/slaves/dm-0", "dm-2/dm", "dm-2/slaves/vda3", "vda2", "vda3"] {
            mk(d);
        }
        write("dm-0/dm/uuid", "CRYPT-LUKS2-0f1e2d3c-cryptswap\n");
        write("dm-1/dm/uuid", "LVM-abc\n");
        write("dm-2/dm/uuid", "LVM-def\n");
        root
    }

    fn judge(swaps: &str, files: &[(&str, &str)]) -> Swap {
        let sys = sys();
        let files: Vec<(String, String)> = files.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        let resolve =
            move |p: &std::path::Path| files.iter().find(|(f, _)| std::path::Path::new(f) == p).map(|(_, b)| b.clone());
        swap_from(&format!("{HEADER}{swaps}"), sys.path(), &resolve)
    }

    #[test]
    fn no_swap_areas_is_off() {
        assert_eq!(judge("", &[]), Swap::Off);
    }

    #[test]
    fn luks_lvm_on_luks_and_zram_are_safe() {
        let swaps = "/dev/dm-0 partition 100 0 -2\n/dev/dm-1 partition 100 0 -3\n/dev/zram0 partition 100 0 100\n\
                     /swap\\040file file 100 0 -4\n";
        assert_eq!(judge(swaps, &[("/swap file", "dm-1")]), Swap::Safe);
    }

    #[test]
    fn a_plain_partition_lvm_on_it_or_a_file_on_it_is_exposed() {
        let swaps = "/dev/vda2 partition 100 0 -2\n/dev/dm-2 partition 100 0 -3\n/swapfile file 100 0 -4\n\
                     /dev/dm-0 partition 100 0 -5\n/lost file 100 0 -6\n";
        assert_eq!(
            judge(swaps, &[("/swapfile", "vda3")]),
            Swap::NotEncrypted(vec!["/dev/vda2".into(), "/dev/dm-2".into(), "/swapfile".into(), "/lost".into()])
        );
    }
}
