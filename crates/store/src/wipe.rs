//! Every block of memory SQLite gives back to the system allocator is
//! wiped first.
//!
//! SQLite holds decrypted pages, row values and search terms in its heap.
//! SQLCipher's `cipher_memory_security` wipes each block on free but also
//! calls `mlock` on every allocation and `munlock` on every free. Those two
//! system calls split and merge the process's memory map each time. They
//! took half of the store's ingest time (47k against 132k messages a second
//! without them), and they do not keep the heap locked anyway: Linux locks
//! do not nest, so freeing one block unlocks the whole page under its live
//! neighbours (after a 100k-message ingest, 1.9 of 2.35 MB of live heap was
//! locked), and past `RLIMIT_MEMLOCK` (8 MiB by default) locking fails
//! silently.
//!
//! So the store keeps the wiping: these allocation methods sit beneath
//! SQLCipher's and zero each block before it goes back to the system
//! allocator, and a block that grows is moved, with the old copy wiped.
//! SQLCipher still keeps the database key in its own locked heap, which
//! does not depend on `cipher_memory_security`. What is given up is the
//! partial locking of the rest against swap: a deployment relies on
//! encrypted swap (the default on macOS and with full-disk encryption).
//!
//! What SQLite recycles itself (its page cache, and the per-connection
//! lookaside slots for small values) is reused while the connection is
//! open, not freed, exactly as under `cipher_memory_security`; it is all
//! wiped when the store closes, as it does when the app locks.
//!
//! The methods can only be installed before SQLite starts in this process.
//! If something else started it first, [`install`] reports that, and the
//! store turns `cipher_memory_security` on instead: slower, never weaker.

#![allow(unsafe_code)]

use rusqlite::ffi;
use std::ffi::{c_int, c_void};
use std::sync::OnceLock;
#[cfg(any(test, feature = "testing"))]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};

/// How the store protects SQLite's freed memory in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryProtection {
    /// Belfry's allocation methods wipe every freed block (no `mlock`).
    WipeOnFree,
    /// SQLite started before the store could install them: SQLCipher's
    /// `cipher_memory_security` (wipes, and `mlock`s each block) is on for
    /// every connection instead.
    CipherMemorySecurity,
}

/// The allocation methods SQLite had before ours: the system allocator.
#[derive(Clone, Copy)]
struct Underlying {
    malloc: unsafe extern "C" fn(c_int) -> *mut c_void,
    free: unsafe extern "C" fn(*mut c_void),
    realloc: unsafe extern "C" fn(*mut c_void, c_int) -> *mut c_void,
    size: unsafe extern "C" fn(*mut c_void) -> c_int,
    roundup: unsafe extern "C" fn(c_int) -> c_int,
    init: unsafe extern "C" fn(*mut c_void) -> c_int,
    shutdown: unsafe extern "C" fn(*mut c_void),
}

static UNDERLYING: OnceLock<Underlying> = OnceLock::new();
static PROTECTION: OnceLock<MemoryProtection> = OnceLock::new();
/// Test support only: a shared counter on every free is not worth its
/// cache-line traffic in a shipped build.
#[cfg(any(test, feature = "testing"))]
static WIPED_BYTES: AtomicU64 = AtomicU64::new(0);
/// Off until the first encrypted database opens, then on for good. Only the
/// benchmark's unencrypted baseline (opened first, `testing` feature) runs
/// with the methods installed but not wiping, so that it stays plain SQLite.
static WIPING: AtomicBool = AtomicBool::new(false);

/// Installs the wiping methods if SQLite has not started yet (once per
/// process; later calls return the first answer), and with `wipe` turns
/// wiping on for the rest of the process.
pub fn install(wipe: bool) -> MemoryProtection {
    let protection = *PROTECTION.get_or_init(|| {
        if install_methods() { MemoryProtection::WipeOnFree } else { MemoryProtection::CipherMemorySecurity }
    });
    if wipe {
        WIPING.store(true, Ordering::SeqCst);
    }
    protection
}

/// Test support: bytes wiped so far by the methods in this process (how the
/// tests see that the methods are the ones SQLite uses).
#[cfg(any(test, feature = "testing"))]
pub fn wiped_bytes() -> u64 {
    WIPED_BYTES.load(Ordering::Relaxed)
}

fn install_methods() -> bool {
    // SAFETY: both calls only copy a `sqlite3_mem_methods` struct in or
    // out; `sqlite3_config` refuses (SQLITE_MISUSE) once SQLite has
    // started, and this runs once per process (`PROTECTION`), before the
    // store opens its first connection.
    unsafe {
        let mut current: ffi::sqlite3_mem_methods = std::mem::zeroed();
        if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETMALLOC, &mut current as *mut ffi::sqlite3_mem_methods)
            != ffi::SQLITE_OK
        {
            return false;
        }
        let (Some(malloc), Some(free), Some(realloc), Some(size), Some(roundup), Some(init), Some(shutdown)) = (
            current.xMalloc,
            current.xFree,
            current.xRealloc,
            current.xSize,
            current.xRoundup,
            current.xInit,
            current.xShutdown,
        ) else {
            return false;
        };
        if !current.pAppData.is_null() {
            // A custom allocator with its own state: not ours to wrap.
            return false;
        }
        if UNDERLYING.set(Underlying { malloc, free, realloc, size, roundup, init, shutdown }).is_err() {
            return false;
        }
        let ours = ffi::sqlite3_mem_methods {
            xMalloc: Some(wiping_malloc),
            xFree: Some(wiping_free),
            xRealloc: Some(wiping_realloc),
            xSize: Some(wiping_size),
            xRoundup: Some(wiping_roundup),
            xInit: Some(wiping_init),
            xShutdown: Some(wiping_shutdown),
            pAppData: std::ptr::null_mut(),
        };
        ffi::sqlite3_config(ffi::SQLITE_CONFIG_MALLOC, &ours as *const ffi::sqlite3_mem_methods) == ffi::SQLITE_OK
    }
}

/// Overwrites `len` bytes at `p` with zeros in a way the compiler keeps.
///
/// # Safety
/// `p` must be valid for writes of `len` bytes.
unsafe fn wipe(p: *mut u8, len: usize) {
    // SAFETY: the caller guarantees `p..p+len` is writable.
    unsafe { std::ptr::write_bytes(p, 0, len) };
    // The block is about to be freed: keep the stores from being elided.
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    std::hint::black_box(p);
    #[cfg(any(test, feature = "testing"))]
    WIPED_BYTES.fetch_add(len as u64, Ordering::Relaxed);
}

/// A global allocator that wipes every block before it goes back to the
/// system allocator, so what Rust code held and let go (a decrypted
/// message in a buffer, a key in a pickle being written, an event in a
/// channel) does not stay readable in freed memory after the engine is
/// locked and dropped. A block that is resized is moved and the old copy
/// wiped (the trait's default `realloc`).
///
/// `belfry-client` installs it as the global allocator of every program
/// that links it (`#[global_allocator]`); this crate only provides it.
#[derive(Debug, Clone, Copy, Default)]
pub struct WipingAllocator;

// SAFETY: `alloc` and `alloc_zeroed` forward to the system allocator with
// the caller's layout; `dealloc` receives a block that allocator returned
// for `layout` (the trait's contract), so it is writable for
// `layout.size()` bytes, is wiped, then freed with the same layout.
unsafe impl std::alloc::GlobalAlloc for WipingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded under the same contract.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: forwarded under the same contract.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: see the impl's comment.
        unsafe {
            std::ptr::write_bytes(ptr, 0, layout.size());
            // The block is freed next: keep the stores from being elided.
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            std::hint::black_box(ptr);
            std::alloc::System.dealloc(ptr, layout);
        }
    }
}

fn underlying() -> &'static Underlying {
    // Only reachable after `install_methods` set it: SQLite calls these
    // methods only once they are installed, which happens after the set.
    match UNDERLYING.get() {
        Some(u) => u,
        None => std::process::abort(),
    }
}

unsafe extern "C" fn wiping_malloc(n: c_int) -> *mut c_void {
    // SAFETY: forwards SQLite's own call to the allocator it had.
    unsafe { (underlying().malloc)(n) }
}

unsafe extern "C" fn wiping_free(p: *mut c_void) {
    if p.is_null() {
        return;
    }
    let u = underlying();
    // SAFETY: `p` came from `u.malloc` (SQLite frees only what it got from
    // these methods), so `u.size` reports its usable length.
    unsafe {
        if WIPING.load(Ordering::Relaxed) {
            let len = usize::try_from((u.size)(p)).unwrap_or(0);
            wipe(p.cast(), len);
        }
        (u.free)(p);
    }
}

/// A block that must grow is moved and the old one wiped, rather than
/// handed to the system `realloc`, which would free the old copy unwiped.
unsafe extern "C" fn wiping_realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    if p.is_null() {
        // SAFETY: as in `wiping_malloc`.
        return unsafe { wiping_malloc(n) };
    }
    let u = underlying();
    if !WIPING.load(Ordering::Relaxed) {
        // SAFETY: forwarded.
        return unsafe { (u.realloc)(p, n) };
    }
    // SAFETY: `p` is a live block from `u.malloc` (SQLite's contract), the
    // copy stays within the old block's usable length, and the new block
    // is at least that long.
    unsafe {
        let old = (u.size)(p);
        if n <= old {
            return p;
        }
        let new = (u.malloc)(n);
        if new.is_null() {
            return new;
        }
        std::ptr::copy_nonoverlapping(p.cast::<u8>(), new.cast::<u8>(), usize::try_from(old).unwrap_or(0));
        wiping_free(p);
        new
    }
}

unsafe extern "C" fn wiping_size(p: *mut c_void) -> c_int {
    // SAFETY: forwarded.
    unsafe { (underlying().size)(p) }
}

unsafe extern "C" fn wiping_roundup(n: c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { (underlying().roundup)(n) }
}

unsafe extern "C" fn wiping_init(_: *mut c_void) -> c_int {
    // SAFETY: forwarded, with the underlying methods' own (null) app data.
    unsafe { (underlying().init)(std::ptr::null_mut()) }
}

unsafe extern "C" fn wiping_shutdown(_: *mut c_void) {
    // SAFETY: forwarded.
    unsafe { (underlying().shutdown)(std::ptr::null_mut()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wipe_zeroes_every_byte_and_counts_them() {
        let mut block = vec![0xA5u8; 4096];
        let before = wiped_bytes();
        // SAFETY: the vector owns 4096 writable bytes.
        unsafe { wipe(block.as_mut_ptr(), block.len()) };
        assert!(block.iter().all(|&b| b == 0));
        assert!(wiped_bytes() >= before + 4096);
    }
}
