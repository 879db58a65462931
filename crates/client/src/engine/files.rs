//! Encrypted attachments: send a file, download it, show progress.
//!
//! Sending ([`Engine::send_file`]): the relay first reserves a blob of the
//! exact ciphertext length (`CreateBlob`, which is where its size limit and
//! quota refuse a file, before anything is stored or uploaded); the file is
//! then stream-encrypted under a fresh key (belfry-crypto's chunked AEAD)
//! straight into the store's attachment area, and one store batch commits
//! the pending message, the attachment record (name, key, ciphertext hash:
//! inside SQLCipher) and an *upload job*. The uploader works through the
//! jobs over HTTPS, resuming each from the byte count the relay reports;
//! when the relay holds the whole blob, one batch removes the job and
//! queues the `RoomContent::Attachment` message in the ordinary outbox, so
//! a crash anywhere leads to exactly one message after the next start.
//! Plaintext never touches the disk: only the user's own file is read.
//!
//! Receiving: the attachment record (blob id, name, size, key, hash) is
//! stored with the message when it is processed; a file larger than Belfry
//! carries (by the size the sender claims) is refused there, with an alert,
//! and never downloaded. [`Engine::download_file`]
//! streams the blob into the store's attachment area while hashing it; a
//! ciphertext that does not match the hash in the Megolm message is never
//! stored and never decrypted. Decryption writes to a temporary file beside
//! the destination and renames it only on success, under a name made safe
//! for every platform (no path, drive, stream, device name or bidi trick).
//!
//! Progress is reported on the event stream as [`Event::Transfer`], in
//! plaintext bytes, monotonic per transfer and ending at the file's size.

use super::{Engine, Event, MessageView, de, ser, value};
use crate::blobs::{BlobClient, PutOutcome};
use crate::error::{ClientError, Result};
use crate::net::RelayTarget;
use belfry_crypto::attachment::{self, AttachmentError, EncryptedAttachment};
use belfry_protocol::room::AttachmentRef;
use belfry_protocol::text::is_invisible;
use belfry_protocol::{
    BlobId, ErrorCode, Hash256, MessageId, Request, Response, RoomContent, RoomId, SecretKey32, UserId,
};
use belfry_store::{
    Attachment, AttachmentData, AttachmentFile, Batch, MessageStatus, Op, SqlStore, Store, StoredMessage,
};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use zeroize::Zeroizing;

/// The store value holding the upload jobs.
const K_UPLOADS: &str = "uploads";
/// Bytes per piece read from disk and handed to the network.
const PIECE: usize = 64 * 1024;
/// Longest file name kept (bytes); longer names are shortened.
const MAX_NAME: usize = 255;
/// Longest name a received file is written under (bytes: at most as many
/// UTF-16 units, well inside every file system's limit).
const MAX_SAVED_NAME: usize = 200;
/// Longest extension kept when a received name is shortened (bytes).
const MAX_EXTENSION: usize = 16;

/// Which way a file moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// This device sends it to the relay.
    Upload,
    /// This device fetches it from the relay.
    Download,
}

/// Progress of one file transfer, in plaintext bytes of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The message the file belongs to.
    pub message: MessageId,
    /// Upload or download.
    pub direction: Direction,
    /// Bytes done so far (never goes back within a transfer).
    pub done: u64,
    /// The file's size; the last event has `done == total`, unless the
    /// transfer was cancelled.
    pub total: u64,
    /// The transfer was cancelled ([`Engine::cancel_transfer`]) with `done`
    /// bytes moved: this is its last event.
    pub cancelled: bool,
}

/// A message's attachment, as a front end shows it. `Debug` shows the
/// name's length only (the store keeps names as private as text).
#[derive(Clone, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// The file name the sender gave.
    pub name: String,
    /// Its media type.
    pub mime: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its ciphertext is on this device (sent from here, or downloaded).
    pub local: bool,
}

impl std::fmt::Debug for AttachmentInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttachmentInfo")
            .field("name", &format_args!("<{} bytes>", self.name.len()))
            .field("mime", &self.mime)
            .field("size", &self.size)
            .field("local", &self.local)
            .finish()
    }
}

/// A file whose upload has not finished. `Debug` hides the name.
#[derive(Clone, PartialEq, Eq)]
pub struct PendingUpload {
    /// The message it will be sent as.
    pub message: MessageId,
    /// The room.
    pub room: RoomId,
    /// The file name.
    pub name: String,
    /// The file's size.
    pub size: u64,
}

impl std::fmt::Debug for PendingUpload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingUpload")
            .field("message", &self.message)
            .field("room", &self.room)
            .field("name", &format_args!("<{} bytes>", self.name.len()))
            .field("size", &self.size)
            .finish()
    }
}

/// Why a file could not be sent or fetched. Each message is complete for
/// people (the underlying reason is part of it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The file to send cannot be read.
    #[error("cannot read {}: {error}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// Not a regular file (a directory, a device).
    #[error("{} is not a regular file", .0.display())]
    NotAFile(PathBuf),
    /// Larger than the relay (or the protocol) accepts; nothing was stored
    /// or uploaded.
    #[error("{} is too large to send ({size} bytes): {detail}", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit as the relay or the protocol states it.
        detail: String,
    },
    /// This device's attachment storage on the relay is full.
    #[error("the relay's attachment quota for this device is used up: {0}")]
    QuotaExceeded(String),
    /// The file changed size while it was being encrypted.
    #[error("{} changed while it was being read; send it again", .0.display())]
    Changed(PathBuf),
    /// The message has no attachment (or no longer has one).
    #[error("message {0} has no attachment on this device")]
    NoAttachment(MessageId),
    /// The ciphertext does not match the hash in the (authenticated)
    /// message: the relay or the network altered or swapped the file.
    /// Nothing was decrypted or written.
    #[error(
        "the file's ciphertext does not match the hash in the message: it was altered or swapped on the relay \
         or in transit; nothing was written"
    )]
    HashMismatch,
    /// The ciphertext matches the message but does not decrypt: the sender
    /// sent a damaged file. Nothing was written.
    #[error("the file does not decrypt ({0}); nothing was written")]
    Decrypt(AttachmentError),
    /// The decrypted file's size differs from the size in the message.
    #[error("the file has {got} bytes, the message said {expected}; nothing was written")]
    SizeMismatch {
        /// What the message said.
        expected: u64,
        /// What decrypted.
        got: u64,
    },
    /// The message claims a file larger than Belfry carries: it is refused
    /// when the message arrives and never downloaded.
    #[error(
        "the message claims a file of {size} bytes, more than Belfry accepts ({} bytes encrypted); it is not \
         downloaded",
        belfry_protocol::limits::MAX_BLOB_LEN
    )]
    Oversized {
        /// The size the message claims.
        size: u64,
    },
    /// The file's name would put it somewhere else than the chosen folder
    /// (a path, a drive, a device). Nothing was written.
    #[error("the file's name {0:?} cannot be used in that folder; choose a file name to save it as")]
    UnsafeName(String),
    /// The destination exists; it is never overwritten.
    #[error("{} exists; choose another destination", .0.display())]
    DestinationExists(PathBuf),
    /// The destination cannot be written.
    #[error("cannot write {}: {error}", path.display())]
    Write {
        /// Where.
        path: PathBuf,
        /// Why.
        error: io::Error,
    },
    /// An image too large to preview (its file, or the pixels its header
    /// declares): nothing was decoded.
    #[error("this image is too large to preview ({0}); save it to open it")]
    PreviewTooLarge(String),
    /// The download was cancelled ([`Engine::cancel_transfer`]); nothing
    /// of it was kept.
    #[error("the download of message {0}'s file was cancelled")]
    Cancelled(MessageId),
}

/// An upload still to finish, as the store keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UploadJob {
    room: RoomId,
    blob: BlobId,
    /// Ciphertext length (what the relay reserved).
    len: u64,
    /// Plaintext size.
    size: u64,
    /// The room's members when the file was sent: the message goes to
    /// them, not to someone added while the upload ran.
    members: Vec<UserId>,
}

type Jobs = BTreeMap<MessageId, UploadJob>;

/// The engine's attachment machinery.
pub(super) struct Files {
    blobs: BlobClient,
    /// Wakes the uploader.
    wake: tokio::sync::Notify,
    /// Serialises changes to the job list.
    jobs: tokio::sync::Mutex<()>,
    /// Upload limit in bytes per second (0: none).
    rate: AtomicU64,
    /// Last progress reported per transfer (keeps events monotonic).
    shown: std::sync::Mutex<HashMap<(MessageId, Direction), u64>>,
    /// Transfers running now, each with its cancel switch.
    running: std::sync::Mutex<HashMap<(MessageId, Direction), Arc<Cancel>>>,
}

/// The cancel switch of one running transfer.
#[derive(Default)]
struct Cancel {
    /// Set once cancelled (read by blocking producers).
    flag: AtomicBool,
    /// Wakes the transfer's task (keeps a permit if it is not waiting yet).
    wake: tokio::sync::Notify,
}

impl Cancel {
    fn is_set(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

/// A transfer's place in [`Files::running`], left when it ends.
struct Running<'a> {
    files: &'a Files,
    key: (MessageId, Direction),
    cancel: Arc<Cancel>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.files.running.lock()
            && running.get(&self.key).is_some_and(|c| Arc::ptr_eq(c, &self.cancel))
        {
            running.remove(&self.key);
        }
    }
}

impl Files {
    pub(super) fn new(target: &RelayTarget) -> Result<Self> {
        Ok(Self {
            blobs: BlobClient::new(target)?,
            wake: tokio::sync::Notify::new(),
            jobs: tokio::sync::Mutex::new(()),
            rate: AtomicU64::new(0),
            shown: std::sync::Mutex::new(HashMap::new()),
            running: std::sync::Mutex::new(HashMap::new()),
        })
    }

    /// Registers a transfer that starts now.
    fn start(&self, message: MessageId, direction: Direction) -> Running<'_> {
        let cancel = Arc::new(Cancel::default());
        if let Ok(mut running) = self.running.lock() {
            running.insert((message, direction), cancel.clone());
        }
        Running { files: self, key: (message, direction), cancel }
    }

    /// Cancels the transfer running now, if there is one.
    fn cancel(&self, message: MessageId, direction: Direction) -> bool {
        let Ok(running) = self.running.lock() else { return false };
        let Some(cancel) = running.get(&(message, direction)) else { return false };
        cancel.flag.store(true, Ordering::Relaxed);
        cancel.wake.notify_one();
        true
    }

    /// Lets the uploader look for work (a new file, a new connection).
    pub(super) fn wake(&self) {
        self.wake.notify_one();
    }
}

/// What a stored or received message's body says about its file.
pub(super) fn attachment_body(name: &str, size: u64) -> String {
    // Shown as it would be saved: no bidi overrides or other invisible
    // characters that make `invoice\u{202E}fdp.exe` read as a PDF.
    let name = safe_name(name);
    match accepted_len(size) {
        Some(_) => format!("[attachment {name} ({size} bytes)]"),
        None => format!("[attachment {name} refused: it claims {size} bytes, more than Belfry accepts]"),
    }
}

/// The ciphertext length of a file of `size` bytes, if Belfry carries such
/// a file at all (at most [`MAX_BLOB_LEN`](belfry_protocol::limits::MAX_BLOB_LEN)
/// bytes encrypted). The one bound for sending a file, for accepting one a
/// message names (whose size the sender chose), and for downloading it.
fn accepted_len(size: u64) -> Option<u64> {
    attachment::ciphertext_len(size).filter(|&len| len <= belfry_protocol::limits::MAX_BLOB_LEN)
}

fn info(a: &Attachment) -> AttachmentInfo {
    AttachmentInfo {
        name: a.name.clone(),
        mime: a.mime.clone(),
        size: a.size,
        local: !matches!(a.data, AttachmentData::Remote),
    }
}

pub(super) fn store_task_failed(e: tokio::task::JoinError) -> ClientError {
    ClientError::Config(format!("store task failed: {e}"))
}

/// The name a file is sent under: its last path component, without
/// invisible or reordering characters ([`is_invisible`]), at most
/// [`MAX_NAME`] bytes.
fn send_name(path: &Path) -> String {
    let raw = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut name: String = raw.chars().filter(|&c| !is_invisible(c)).collect();
    if name.is_empty() {
        name = "file".into();
    }
    truncate(&mut name, MAX_NAME);
    name
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// Characters Windows refuses in a file name, or reads as a path, a drive
/// (`C:x` is relative to drive C's current directory) or an alternate data
/// stream (`x.pdf:s`).
const RESERVED_CHARS: [char; 9] = ['<', '>', ':', '"', '/', '\\', '|', '?', '*'];

/// Whether Windows takes `name` for a device (`CON`, `nul.txt`,
/// `Com1 .tar.gz`): the part before the first dot, trailing spaces
/// ignored, in any case.
fn is_device_name(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or_default().trim_end_matches(' ').to_ascii_uppercase();
    match stem.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$" => true,
        s => s
            .strip_prefix("COM")
            .or_else(|| s.strip_prefix("LPT"))
            .is_some_and(|n| matches!(n, "0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³")),
    }
}

/// `s` without leading or trailing dots and white space (a leading dot
/// hides a file; Windows drops trailing ones, so `x.exe.` is `x.exe`).
fn trim_name(s: &str) -> &str {
    s.trim_matches(|c: char| c == '.' || c.is_whitespace())
}

/// Shortens `name` to at most `max` bytes, keeping a short extension.
fn shorten(name: &mut String, max: usize) {
    if name.len() <= max {
        return;
    }
    let ext = match name.rfind('.') {
        Some(dot) if dot > 0 && name.len() - dot <= MAX_EXTENSION => name.split_off(dot),
        _ => String::new(),
    };
    truncate(name, max - ext.len());
    let stem = trim_name(name);
    *name = if stem.is_empty() { format!("attachment{ext}") } else { format!("{stem}{ext}") };
}

/// A name a received file may be written under on any system: its last
/// path component; no characters Windows reserves (replaced by `_`), no
/// invisible or reordering characters, no leading or trailing dots or
/// spaces, not a device name, at most [`MAX_SAVED_NAME`] bytes, never
/// empty. The sender chose it, so it is never trusted as a path.
pub fn safe_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let visible: String =
        last.chars().filter(|&c| !is_invisible(c)).map(|c| if RESERVED_CHARS.contains(&c) { '_' } else { c }).collect();
    let mut clean = trim_name(&visible).to_owned();
    if clean.is_empty() {
        clean = "attachment".into();
    }
    shorten(&mut clean, MAX_SAVED_NAME);
    if is_device_name(&clean) {
        clean.insert(0, '_');
    }
    clean
}

/// `dir/name`, if that is a file directly inside `dir` (`name` is one
/// plain component: not `..`, not absolute, not on another drive).
fn inside(dir: &Path, name: &str) -> Result<PathBuf> {
    let target = dir.join(name);
    if target.parent() != Some(dir) || target.file_name() != Some(std::ffi::OsStr::new(name)) {
        return Err(FileError::UnsafeName(name.to_owned()).into());
    }
    Ok(target)
}

/// A media type from the file name's extension (what a viewer needs to
/// pick a handler); anything unknown is `application/octet-stream`.
fn mime_of(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "txt" | "log" => "text/plain",
        "csv" => "text/csv",
        "md" => "text/markdown",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "xml" => "application/xml",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "7z" => "application/x-7z-compressed",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "odt" => "application/vnd.oasis.opendocument.text",
        "ods" => "application/vnd.oasis.opendocument.spreadsheet",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "heic" => "image/heic",
        "mp3" => "audio/mpeg",
        "m4a" => "audio/mp4",
        "ogg" | "opus" => "audio/ogg",
        "wav" => "audio/wav",
        "mp4" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        _ => "application/octet-stream",
    }
}

/// One piece of a stream handed between a producer and a blocking reader.
enum Piece {
    Data(Vec<u8>),
    End,
    Fail(String),
}

/// A `Read` over pieces from a channel: an error from the producer, or a
/// producer that stops without saying it is done, is a read error (so the
/// store discards a half-written file instead of keeping it).
struct ChannelReader {
    rx: mpsc::Receiver<Piece>,
    current: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<Piece>) -> Self {
        Self { rx, current: Vec::new(), pos: 0, ended: false }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.current.len() {
            if self.ended {
                return Ok(0);
            }
            match self.rx.blocking_recv() {
                Some(Piece::Data(d)) => {
                    self.current = d;
                    self.pos = 0;
                }
                Some(Piece::End) => self.ended = true,
                Some(Piece::Fail(why)) => return Err(io::Error::other(why)),
                None => return Err(io::Error::other("the stream stopped before its end")),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A `Write` that hands everything to a channel (from a blocking thread).
struct ChannelWriter {
    tx: mpsc::Sender<Piece>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Piece::Data(buf.to_vec()))
            .map_err(|_| io::Error::other("the store stopped taking the ciphertext"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads exactly the `left` bytes the file had when it was measured, and
/// fails (setting `changed`) if it turns out shorter or longer.
struct Exact<'a, R> {
    inner: R,
    left: u64,
    changed: &'a AtomicBool,
}

impl<R: Read> Read for Exact<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => {
                    self.changed.store(true, Ordering::Relaxed);
                    Err(io::Error::other("the file grew while it was read"))
                }
            };
        }
        let want = buf.len().min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            self.changed.store(true, Ordering::Relaxed);
            return Err(io::Error::other("the file shrank while it was read"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// What a file is sent from.
enum Source {
    /// A file the user chose.
    Path(PathBuf),
    /// Bytes in memory (pasted, dropped): never written to disk unencrypted.
    Memory(Zeroizing<Vec<u8>>),
}

impl Source {
    /// Encrypts the source into the store; `shown` names it in errors.
    fn encrypt_into_store(
        &self,
        store: &SqlStore,
        size: u64,
        shown: &Path,
    ) -> Result<(AttachmentFile, EncryptedAttachment)> {
        match self {
            Source::Path(path) => {
                let file =
                    std::fs::File::open(path).map_err(|error| FileError::Read { path: path.to_owned(), error })?;
                encrypt_into_store(store, file, size, shown)
            }
            Source::Memory(bytes) => encrypt_into_store(store, bytes.as_slice(), size, shown),
        }
    }
}

/// Encrypts what `source` yields (exactly `size` bytes) into a new file of
/// the store's attachment area; `path` names the source in errors. Nothing
/// is kept if anything fails.
fn encrypt_into_store(
    store: &SqlStore,
    source: impl Read + Send,
    size: u64,
    path: &Path,
) -> Result<(AttachmentFile, EncryptedAttachment)> {
    let changed = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel(4);
    let (written, sealed) = std::thread::scope(|scope| {
        let changed = &changed;
        let producer = scope.spawn(move || {
            let reader = Exact { inner: io::BufReader::with_capacity(PIECE, source), left: size, changed };
            let mut writer = ChannelWriter { tx: tx.clone() };
            let sealed = attachment::encrypt(reader, &mut writer);
            let last = match &sealed {
                Ok(_) => Piece::End,
                Err(e) => Piece::Fail(e.to_string()),
            };
            let _ = tx.blocking_send(last);
            sealed
        });
        let mut reader = ChannelReader::new(rx);
        let written = store.write_attachment_file(&mut reader);
        // Unblocks the producer if the store stopped reading early.
        drop(reader);
        let sealed = producer.join();
        (written, sealed)
    });
    let sealed = match sealed {
        Ok(Ok(sealed)) => sealed,
        Ok(Err(_)) if changed.load(Ordering::Relaxed) => return Err(FileError::Changed(path.to_owned()).into()),
        Ok(Err(AttachmentError::Io(error))) => return Err(FileError::Read { path: path.to_owned(), error }.into()),
        Ok(Err(e)) => return Err(ClientError::Input(format!("cannot encrypt {}: {e}", path.display()))),
        Err(_) => return Err(ClientError::Config("the encryption thread failed".into())),
    };
    Ok((written?, sealed))
}

/// Where a received file goes: into `dest` under its (made safe) name if
/// `dest` is a directory, else to `dest` itself (the user chose that
/// name). Never an existing file, never outside `dest`.
fn destination(dest: &Path, name: &str) -> Result<PathBuf> {
    let target = if dest.is_dir() { inside(dest, &safe_name(name))? } else { dest.to_owned() };
    if target.symlink_metadata().is_ok() {
        return Err(FileError::DestinationExists(target).into());
    }
    Ok(target)
}

/// SHA-256 of everything `reader` yields.
fn hash_of(mut reader: impl Read) -> io::Result<Hash256> {
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; PIECE];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            return Ok(Hash256(hash.finalize().into()));
        }
        hash.update(&buf[..n]);
    }
}

/// Decrypts a stored attachment to `target` through a temporary file in
/// the same directory, renamed only when every chunk authenticated and the
/// size is right. `verify_first`: hash the stored ciphertext against the
/// message before decrypting (a copy downloaded just now was hashed as it
/// arrived).
fn decrypt_to(store: &SqlStore, a: &Attachment, target: &Path, verify_first: bool) -> Result<()> {
    let open = || -> Result<Box<dyn Read + Send>> {
        store.open_attachment(&a.id)?.ok_or_else(|| FileError::NoAttachment(a.message).into())
    };
    if verify_first {
        let hash = hash_of(io::BufReader::with_capacity(PIECE, open()?))
            .map_err(|e| ClientError::Config(format!("cannot read the stored attachment: {e}")))?;
        if hash != a.sha256 {
            return Err(FileError::HashMismatch.into());
        }
    }
    let key = key_of(a)?;
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".belfry-{}.part", hex(&rand::random::<[u8; 8]>())));
    let write_err = |error| ClientError::from(FileError::Write { path: target.to_owned(), error });
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&tmp).map_err(write_err)?;
    let result = (|| -> Result<()> {
        let mut out = io::BufWriter::with_capacity(PIECE, &file);
        let got = match attachment::decrypt(io::BufReader::with_capacity(PIECE, open()?), &mut out, &key, &a.sha256) {
            Ok(n) => n,
            Err(AttachmentError::HashMismatch) => return Err(FileError::HashMismatch.into()),
            Err(AttachmentError::Io(e)) => return Err(write_err(e)),
            Err(e) => return Err(FileError::Decrypt(e).into()),
        };
        if got != a.size {
            return Err(FileError::SizeMismatch { expected: a.size, got }.into());
        }
        out.flush().map_err(write_err)?;
        drop(out);
        file.sync_all().map_err(write_err)?;
        // A hard link never replaces an existing file; where links are not
        // supported, a rename after the existence check.
        match std::fs::hard_link(&tmp, target) {
            Ok(()) => {
                let _ = std::fs::remove_file(&tmp);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                Err(FileError::DestinationExists(target.to_owned()).into())
            }
            Err(_) if target.symlink_metadata().is_ok() => Err(FileError::DestinationExists(target.to_owned()).into()),
            Err(_) => std::fs::rename(&tmp, target).map_err(write_err),
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn key_of(a: &Attachment) -> Result<SecretKey32> {
    let key_bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
        a.key.as_slice().try_into().map_err(|_| ClientError::Config("a stored attachment key is damaged".into()))?,
    );
    Ok(SecretKey32::new(*key_bytes))
}

/// Decrypts a stored attachment into memory (never to disk), checking the
/// ciphertext's hash and the size against the message. The caller bounds
/// `a.size` first.
pub(super) fn decrypt_in_memory(store: &SqlStore, a: &Attachment) -> Result<Zeroizing<Vec<u8>>> {
    let reader = store.open_attachment(&a.id)?.ok_or(FileError::NoAttachment(a.message))?;
    let capacity = usize::try_from(a.size).map_err(|_| FileError::Oversized { size: a.size })?;
    let mut out = Zeroizing::new(Vec::with_capacity(capacity));
    match attachment::decrypt(io::BufReader::with_capacity(PIECE, reader), &mut *out, &key_of(a)?, &a.sha256) {
        Ok(got) if got == a.size => Ok(out),
        Ok(got) => Err(FileError::SizeMismatch { expected: a.size, got }.into()),
        Err(AttachmentError::HashMismatch) => Err(FileError::HashMismatch.into()),
        Err(e) => Err(FileError::Decrypt(e).into()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How an upload attempt ended.
enum Uploaded {
    /// The relay holds the whole blob.
    Done,
    /// The message or its ciphertext is gone (deleted, disappeared).
    Dropped,
}

impl Engine {
    // ---- public API ------------------------------------------------------

    /// Sends the file at `path` to `room`: reserves a blob on the relay
    /// (refusing at once, with [`FileError::TooLarge`], a file over the
    /// relay's limit), encrypts the file under a fresh key into this
    /// device's store, and returns the message id as soon as all of that is
    /// stored. The upload and the message follow in the background, across
    /// restarts, with [`Event::Transfer`] progress; the message's status
    /// becomes sent when the relay has both. Needs the relay for the
    /// reservation (an offline device gets [`ClientError::Offline`]).
    pub async fn send_file(&self, room: RoomId, path: &Path) -> Result<MessageId> {
        self.check_sender(room).await?;
        let meta = tokio::fs::metadata(path).await.map_err(|error| FileError::Read { path: path.to_owned(), error })?;
        if !meta.is_file() {
            return Err(FileError::NotAFile(path.to_owned()).into());
        }
        self.send_source(room, send_name(path), meta.len(), Source::Path(path.to_owned()), path).await
    }

    /// Sends a file held in memory (pasted or dropped into the app) as
    /// `name` (its last path component, made safe as [`send_file`](Self::send_file)
    /// makes a file's name): exactly as `send_file` does, with the same
    /// size checks before anything is stored or uploaded, encrypting from
    /// memory into the store. The plaintext is never written to disk, and
    /// this copy of it is zeroed when the call returns.
    pub async fn send_file_bytes(&self, room: RoomId, name: &str, bytes: Vec<u8>) -> Result<MessageId> {
        let bytes = Zeroizing::new(bytes);
        self.check_sender(room).await?;
        let shown = PathBuf::from(name);
        let size = bytes.len() as u64;
        self.send_source(room, send_name(&shown), size, Source::Memory(bytes), &shown).await
    }

    /// Refuses to send into a room this user is not a member of.
    async fn check_sender(&self, room: RoomId) -> Result<()> {
        let st = self.state().await?;
        let record = super::rooms::joined(&st, &room)?;
        if !record.is_member(st.device.user()) {
            return Err(ClientError::Input("you are not a member of this room".into()));
        }
        Ok(())
    }

    /// Reserves the blob, encrypts `source` (`size` bytes) into the store
    /// and queues its upload; `path` names the file in errors.
    async fn send_source(
        &self,
        room: RoomId,
        name: String,
        size: u64,
        source: Source,
        path: &Path,
    ) -> Result<MessageId> {
        let too_large = |detail: String| FileError::TooLarge { path: path.to_owned(), size, detail };
        let Some(len) = accepted_len(size) else {
            let max = belfry_protocol::limits::MAX_BLOB_LEN;
            return Err(too_large(format!("Belfry sends files of up to {max} bytes (encrypted)")).into());
        };
        let blob = match self.inner.link.request(Request::CreateBlob { len }).await {
            Ok(Response::BlobCreated { blob }) => blob,
            Ok(_) => return Err(ClientError::Relay("unexpected answer to a blob reservation".into())),
            Err(ClientError::Refused(e)) if e.code == ErrorCode::BlobTooLarge => {
                return Err(too_large(e.message).into());
            }
            Err(ClientError::Refused(e)) if e.code == ErrorCode::QuotaExceeded => {
                return Err(FileError::QuotaExceeded(e.message).into());
            }
            Err(e) => return Err(e),
        };
        let store = self.inner.store.clone();
        let shown = path.to_owned();
        let (file, sealed) = tokio::task::spawn_blocking(move || source.encrypt_into_store(&store, size, &shown))
            .await
            .map_err(store_task_failed)??;
        if sealed.ciphertext_len != len || sealed.plaintext_len != size {
            return Err(FileError::Changed(path.to_owned()).into());
        }
        let id = MessageId(rand::random());
        let t = self.stamp();
        let (sender, expires_at, members) = {
            let st = self.state().await?;
            let record = st.rooms.get(&room).and_then(belfry_crypto::RoomLog::state);
            let retention = record.and_then(|r| r.retention_secs());
            let members = record.map(|r| r.members().keys().cloned().collect()).unwrap_or_default();
            (st.device.user().clone(), retention.map(|s| t.plus_ms(s.saturating_mul(1000))), members)
        };
        let message = StoredMessage {
            id,
            room,
            sender,
            sent_at: t,
            status: MessageStatus::Pending,
            body: attachment_body(&name, size),
            expires_at,
            reply_to: None,
            edited: false,
        };
        let record = Attachment {
            id: blob,
            message: id,
            mime: mime_of(&name).to_owned(),
            name,
            size,
            key: sealed.key.expose().to_vec(),
            sha256: sealed.sha256,
            data: AttachmentData::File(file),
        };
        let shown = info(&record);
        {
            let _jobs = self.inner.files.jobs.lock().await;
            let mut jobs = self.upload_jobs()?;
            jobs.insert(id, UploadJob { room, blob, len, size, members });
            let batch = Batch::new()
                .with(Op::PutMessage(message.clone()))
                .with(Op::PutAttachment(record))
                .with(value(K_UPLOADS, ser(&jobs)?));
            self.commit(batch).await?;
        }
        let mut view: MessageView = message.into();
        view.attachment = Some(shown);
        self.emit(Event::Message(view));
        self.progress(id, Direction::Upload, 0, size);
        self.inner.files.wake();
        Ok(id)
    }

    /// Downloads (or, if it is already on this device, takes from the
    /// store) the attachment of `message`, checks its ciphertext against the
    /// hash in the message before decrypting, and writes the file to `dest`
    /// (a directory: under the file's own name, made safe). Returns where it
    /// went. Never overwrites a file; writes nothing unless the whole file
    /// authenticated. An interrupted transfer continues where it broke off.
    pub async fn download_file(&self, message: MessageId, dest: &Path) -> Result<PathBuf> {
        let a =
            self.inner.store.attachments_of(&message)?.into_iter().next().ok_or(FileError::NoAttachment(message))?;
        let target = destination(dest, &a.name)?;
        let (a, fetched) = self.local_copy(a).await?;
        if !fetched {
            self.progress(message, Direction::Download, 0, a.size);
        }
        let store = self.inner.store.clone();
        let out = target.clone();
        let size = a.size;
        let result = tokio::task::spawn_blocking(move || decrypt_to(&store, &a, &out, !fetched))
            .await
            .map_err(store_task_failed);
        match result {
            Ok(Ok(())) => {
                self.progress(message, Direction::Download, size, size);
                self.forget_progress(message, Direction::Download);
                Ok(target)
            }
            Ok(Err(e)) | Err(e) => {
                self.forget_progress(message, Direction::Download);
                Err(e)
            }
        }
    }

    /// `a` with its ciphertext in the store: downloaded (hashed on the
    /// way, kept only if it matches) unless it is there already. `true` if
    /// it was downloaded just now.
    pub(super) async fn local_copy(&self, mut a: Attachment) -> Result<(Attachment, bool)> {
        if !matches!(a.data, AttachmentData::Remote) {
            return Ok((a, false));
        }
        let message = a.message;
        let file = match self.fetch(&a).await {
            Ok(file) => file,
            Err(e) => {
                self.forget_progress(message, Direction::Download);
                return Err(e);
            }
        };
        a.data = AttachmentData::File(file);
        self.commit(Batch::new().with(Op::PutAttachment(a.clone()))).await.map_err(|e| match e {
            ClientError::Store(belfry_store::StoreError::Conflict(_)) => {
                ClientError::NotFound(format!("message {message} was deleted during the download"))
            }
            e => e,
        })?;
        Ok((a, true))
    }

    /// The attachment of a message, if it has one.
    pub fn attachment(&self, message: &MessageId) -> Result<Option<AttachmentInfo>> {
        self.unlocked()?;
        Ok(self.inner.store.attachments_of(message)?.first().map(info))
    }

    /// Files whose upload has not finished (they resume on their own while
    /// the engine runs).
    pub fn pending_uploads(&self) -> Result<Vec<PendingUpload>> {
        self.unlocked()?;
        let mut out = Vec::new();
        for (message, job) in self.upload_jobs()? {
            let name =
                self.inner.store.attachment(&job.blob)?.map(|mut a| std::mem::take(&mut a.name)).unwrap_or_default();
            out.push(PendingUpload { message, room: job.room, name, size: job.size });
        }
        Ok(out)
    }

    /// Limits uploads to `bytes_per_sec` (`None`: as fast as the network
    /// allows), for slow or metered links.
    pub fn set_upload_rate_limit(&self, bytes_per_sec: Option<u64>) {
        self.inner.files.rate.store(bytes_per_sec.unwrap_or(0), Ordering::Relaxed);
    }

    /// How long a file transfer may go without progress (connecting, no
    /// byte moving, no answer from the relay) before its connection is
    /// dropped and the transfer resumes on a new one: 60 seconds unless set
    /// here (for links with long stalls, or for tests). A transfer that
    /// keeps moving may take as long as it needs.
    pub fn set_transfer_idle_timeout(&self, idle: Duration) {
        self.inner.files.blobs.set_idle_timeout(idle);
    }

    /// Cancels the transfer of `message`'s file; `true` if one was running
    /// (or, for an upload, waiting) and is now cancelled, `false` if there
    /// was none (never started, or already finished).
    ///
    /// An upload stops at once: its job is dropped, nothing is announced to
    /// the room, and the message stays on this device marked
    /// [`MessageStatus::Failed`] ([`Event::Status`]) with its encrypted copy,
    /// which [`download_file`](Self::download_file) still saves. The
    /// relay's half-filled reservation is left to expire (the protocol has
    /// no request to delete a blob). A download stops at once and keeps
    /// nothing of the file (the waiting `download_file` returns
    /// [`FileError::Cancelled`]); a later `download_file` starts again.
    /// Either way the transfer's last event is an [`Event::Transfer`] with
    /// `cancelled` set.
    pub async fn cancel_transfer(&self, message: MessageId) -> Result<bool> {
        self.unlocked()?;
        let mut any = false;
        let cancelled = {
            let _jobs = self.inner.files.jobs.lock().await;
            let mut jobs = self.upload_jobs()?;
            match jobs.remove(&message) {
                Some(job) => {
                    let mut batch = Batch::new().with(value(K_UPLOADS, ser(&jobs)?));
                    let exists = self.inner.store.message(&message)?.is_some();
                    if exists {
                        batch.push(Op::SetStatus { id: message, status: MessageStatus::Failed });
                    }
                    self.commit(batch).await?;
                    Some((job, exists))
                }
                None => None,
            }
        };
        if let Some((job, exists)) = cancelled {
            // The job is gone: an upload that starts after this finds none.
            self.inner.files.cancel(message, Direction::Upload);
            self.report_cancelled(message, Direction::Upload, job.size);
            if exists {
                self.emit(Event::Status(message, MessageStatus::Failed));
            }
            any = true;
        }
        // The download reports its own end.
        any |= self.inner.files.cancel(message, Direction::Download);
        Ok(any)
    }

    // ---- hooks for the engine ---------------------------------------------

    /// Adds attachment details to message views.
    pub(super) fn with_attachments(&self, mut views: Vec<MessageView>) -> Result<Vec<MessageView>> {
        for v in &mut views {
            v.attachment = self.inner.store.attachments_of(&v.id)?.first().map(info);
        }
        Ok(views)
    }

    /// Stores the attachment record of a received message (stored earlier
    /// in `batch`). A file larger than Belfry carries is refused (its size
    /// is the sender's word, and would be the download's only bound), and
    /// so is a blob id already used by another message: a member could
    /// otherwise take over someone else's attachment. A refused file leaves
    /// the message without an attachment: nothing to download.
    pub(super) fn receive_attachment(
        &self,
        a: AttachmentRef,
        message: MessageId,
        batch: &mut Batch,
        events: &mut Vec<Event>,
    ) -> Result<Option<AttachmentInfo>> {
        if accepted_len(a.size).is_none() {
            events.push(Event::Alert(super::Alert::Rejected {
                detail: format!(
                    "a message names a file of {} bytes, more than Belfry accepts ({} bytes encrypted); the file was \
                     refused and cannot be downloaded",
                    a.size,
                    belfry_protocol::limits::MAX_BLOB_LEN
                ),
            }));
            return Ok(None);
        }
        let taken_in_batch =
            batch.0.iter().any(|op| matches!(op, Op::PutAttachment(x) if x.id == a.blob && x.message != message));
        let taken = taken_in_batch || self.inner.store.attachment(&a.blob)?.is_some_and(|x| x.message != message);
        if taken {
            events.push(Event::Alert(super::Alert::Rejected {
                detail: "a file in a message refers to another message's file; it was not kept".into(),
            }));
            return Ok(None);
        }
        if let Some(existing) = self.inner.store.attachment(&a.blob)? {
            return Ok(Some(info(&existing)));
        }
        let record = Attachment {
            id: a.blob,
            message,
            name: safe_name(&a.name),
            mime: a.mime.clone(),
            size: a.size,
            key: a.key.expose().to_vec(),
            sha256: a.sha256,
            data: AttachmentData::Remote,
        };
        let shown = info(&record);
        batch.push(Op::PutAttachment(record));
        Ok(Some(shown))
    }

    /// Runs the uploader until the engine stops.
    pub(super) fn spawn_uploader(&self) {
        let engine = self.clone();
        tokio::spawn(async move { engine.upload_loop().await });
    }

    // ---- internals ---------------------------------------------------------

    fn upload_jobs(&self) -> Result<Jobs> {
        match self.inner.store.value(K_UPLOADS)? {
            Some(b) => de(&b, "upload list"),
            None => Ok(Jobs::new()),
        }
    }

    /// Reports progress: monotonic per transfer, at most about 200 events
    /// per file, always the first and the last (once). A transfer that
    /// ends, however it ends, is forgotten with [`forget_progress`](Self::forget_progress).
    fn progress(&self, message: MessageId, direction: Direction, done: u64, total: u64) {
        let step = (total / 200).max(PIECE as u64);
        let key = (message, direction);
        {
            let Ok(mut shown) = self.inner.files.shown.lock() else { return };
            match shown.get(&key) {
                Some(&last) if done <= last || (done < total && done - last < step) => return,
                _ => {}
            }
            shown.insert(key, done);
        }
        self.emit(Event::Transfer(Transfer { message, direction, done, total, cancelled: false }));
    }

    /// Reports the end of a cancelled transfer (at the progress last shown)
    /// and forgets it.
    fn report_cancelled(&self, message: MessageId, direction: Direction, total: u64) {
        let done = match self.inner.files.shown.lock() {
            Ok(mut shown) => shown.remove(&(message, direction)).unwrap_or(0),
            Err(_) => 0,
        };
        self.emit(Event::Transfer(Transfer { message, direction, done, total, cancelled: true }));
    }

    fn forget_progress(&self, message: MessageId, direction: Direction) {
        if let Ok(mut shown) = self.inner.files.shown.lock() {
            shown.remove(&(message, direction));
        }
    }

    async fn upload_loop(self) {
        let mut stopped = self.inner.link.stopped();
        let mut backoff = Duration::from_secs(1);
        loop {
            if *stopped.borrow() {
                return;
            }
            let wait = match self.upload_pending().await {
                Ok(()) => {
                    backoff = Duration::from_secs(1);
                    Duration::from_secs(300)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "upload paused");
                    let wait = backoff;
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                    wait
                }
            };
            tokio::select! {
                () = self.inner.files.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    /// Works through the upload jobs, oldest message first.
    async fn upload_pending(&self) -> Result<()> {
        for (message, job) in self.upload_jobs()? {
            if self.inner.link.is_stopped() {
                return Err(ClientError::Offline("the engine is stopping".into()));
            }
            match self.upload(message, &job).await {
                Ok(Uploaded::Done) => self.finish_upload(message, true).await?,
                Ok(Uploaded::Dropped) => self.finish_upload(message, false).await?,
                Err(ClientError::NotFound(why)) => self.fail_upload(message, &why).await?,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Uploads what the relay does not have yet, resuming from its count,
    /// unless (or until) it is cancelled.
    async fn upload(&self, message: MessageId, job: &UploadJob) -> Result<Uploaded> {
        let running = self.inner.files.start(message, Direction::Upload);
        // After registering: a cancel from now on reaches this upload, and
        // one before it removed the job.
        if !self.upload_jobs()?.contains_key(&message) {
            return Ok(Uploaded::Dropped);
        }
        tokio::select! {
            r = self.upload_from_offset(message, job, &running.cancel) => r,
            () = running.cancel.wake.notified() => Ok(Uploaded::Dropped),
        }
    }

    async fn upload_from_offset(&self, message: MessageId, job: &UploadJob, cancel: &Arc<Cancel>) -> Result<Uploaded> {
        if self.inner.store.message(&message)?.is_none() || self.inner.store.attachment(&job.blob)?.is_none() {
            return Ok(Uploaded::Dropped);
        }
        let blobs = &self.inner.files.blobs;
        let mut tries = 0u32;
        loop {
            let Some(have) = blobs.received(&job.blob).await? else {
                return Err(ClientError::NotFound(
                    "the relay no longer has this file's upload (it expired); send the file again".into(),
                ));
            };
            if have >= job.len {
                return Ok(Uploaded::Done);
            }
            self.progress(message, Direction::Upload, attachment::plaintext_progress(have, job.size), job.size);
            tries += 1;
            if tries > 20 {
                return Err(ClientError::Offline("the upload keeps breaking off; retrying later".into()));
            }
            match self.put_from(message, job, have, cancel.clone()).await? {
                PutOutcome::Complete => return Ok(Uploaded::Done),
                PutOutcome::Partial(_) => {}
                // An earlier, broken-off upload the relay has not closed yet.
                PutOutcome::Busy => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }

    /// One `PUT` of the blob from `offset`, read from the store as it goes.
    async fn put_from(
        &self,
        message: MessageId,
        job: &UploadJob,
        offset: u64,
        cancel: Arc<Cancel>,
    ) -> Result<PutOutcome> {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(2);
        let engine = self.clone();
        let (blob, len, size) = (job.blob, job.len, job.size);
        let producer = tokio::task::spawn_blocking(move || -> Result<()> {
            let abort = |tx: &mpsc::Sender<io::Result<Bytes>>, why: &str| {
                let _ = tx.blocking_send(Err(io::Error::other(why.to_owned())));
            };
            let Some(reader) = engine.inner.store.open_attachment(&blob)? else {
                abort(&tx, "the ciphertext is gone");
                return Err(ClientError::NotFound("the file's ciphertext is no longer stored".into()));
            };
            let mut reader = io::BufReader::with_capacity(PIECE, reader);
            let skipped = io::copy(&mut (&mut reader).take(offset), &mut io::sink())
                .map_err(|e| ClientError::Config(format!("cannot read the stored attachment: {e}")))?;
            if skipped != offset {
                abort(&tx, "the stored ciphertext is short");
                return Err(ClientError::Config("the stored attachment is shorter than its upload".into()));
            }
            let started = std::time::Instant::now();
            let mut sent = offset;
            let mut buf = vec![0u8; PIECE];
            while sent < len {
                if engine.inner.link.is_stopped() {
                    abort(&tx, "the engine is stopping");
                    return Ok(());
                }
                if cancel.is_set() {
                    abort(&tx, "the upload was cancelled");
                    return Ok(());
                }
                let rate = engine.inner.files.rate.load(Ordering::Relaxed);
                // Under a rate limit, pieces of about a second each: the
                // connection never looks idle between two of them.
                let piece = match rate {
                    0 => PIECE,
                    r => usize::try_from(r).unwrap_or(PIECE).clamp(1024, PIECE),
                };
                let want = piece.min(usize::try_from(len - sent).unwrap_or(usize::MAX));
                let n = reader
                    .read(&mut buf[..want])
                    .map_err(|e| ClientError::Config(format!("cannot read the stored attachment: {e}")))?;
                if n == 0 {
                    abort(&tx, "the stored ciphertext is short");
                    return Err(ClientError::Config("the stored attachment is shorter than its upload".into()));
                }
                if tx.blocking_send(Ok(Bytes::copy_from_slice(&buf[..n]))).is_err() {
                    return Ok(()); // the request ended (the connection broke)
                }
                sent += n as u64;
                if cancel.is_set() {
                    return Ok(());
                }
                engine.progress(message, Direction::Upload, attachment::plaintext_progress(sent, size), size);
                if rate > 0 {
                    let due = Duration::from_secs_f64((sent - offset) as f64 / rate as f64);
                    if let Some(ahead) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(ahead);
                    }
                }
            }
            Ok(())
        });
        let outcome = self.inner.files.blobs.put(&blob, offset, len - offset, rx).await;
        let produced = producer.await.map_err(store_task_failed)?;
        match (outcome, produced) {
            (_, Err(e)) => Err(e),
            (outcome, Ok(())) => outcome,
        }
    }

    /// Ends an upload job: with `send`, queues the attachment message (in
    /// the same batch that removes the job, so it is queued exactly once).
    async fn finish_upload(&self, message: MessageId, send: bool) -> Result<()> {
        let _jobs = self.inner.files.jobs.lock().await;
        let mut jobs = self.upload_jobs()?;
        let Some(job) = jobs.remove(&message) else { return Ok(()) };
        let mut batch = Batch::new().with(value(K_UPLOADS, ser(&jobs)?));
        let stored = match send {
            true if self.inner.store.message(&message)?.is_some() => self.inner.store.attachment(&job.blob)?,
            _ => None,
        };
        if let Some(mut a) = stored {
            let key: Zeroizing<[u8; 32]> = Zeroizing::new(
                a.key
                    .as_slice()
                    .try_into()
                    .map_err(|_| ClientError::Config("a stored attachment key is damaged".into()))?,
            );
            let content = RoomContent::Attachment(AttachmentRef {
                blob: job.blob,
                name: std::mem::take(&mut a.name),
                mime: std::mem::take(&mut a.mime),
                size: a.size,
                key: SecretKey32::new(*key),
                sha256: a.sha256,
            });
            self.queue_compose_to(&mut batch, message, job.room, content, Vec::new(), job.members)?;
            self.progress(message, Direction::Upload, job.size, job.size);
        }
        self.forget_progress(message, Direction::Upload);
        self.commit(batch).await?;
        self.kick_flush();
        Ok(())
    }

    /// Gives up on an upload the relay can no longer take: the message is
    /// marked failed and the user told why.
    async fn fail_upload(&self, message: MessageId, why: &str) -> Result<()> {
        let _jobs = self.inner.files.jobs.lock().await;
        let mut jobs = self.upload_jobs()?;
        if jobs.remove(&message).is_none() {
            return Ok(());
        }
        let mut batch = Batch::new().with(value(K_UPLOADS, ser(&jobs)?));
        let exists = self.inner.store.message(&message)?.is_some();
        if exists {
            batch.push(Op::SetStatus { id: message, status: MessageStatus::Failed });
        }
        self.commit(batch).await?;
        self.forget_progress(message, Direction::Upload);
        if exists {
            self.emit(Event::Status(message, MessageStatus::Failed));
        }
        self.emit(Event::Alert(super::Alert::Rejected { detail: format!("a file could not be sent: {why}") }));
        Ok(())
    }

    /// Streams the blob into the store's attachment area, hashing it on the
    /// way; resumes a broken connection from the bytes already received.
    /// The file is kept only if the ciphertext matches the message's hash
    /// (and so its length): otherwise nothing is stored and nothing is
    /// decrypted.
    async fn fetch(&self, a: &Attachment) -> Result<AttachmentFile> {
        // Records stored before this bound was checked on arrival meet it here.
        let bound = accepted_len(a.size).ok_or(FileError::Oversized { size: a.size })?;
        let (tx, rx) = mpsc::channel::<Piece>(4);
        let store = self.inner.store.clone();
        let writer = tokio::task::spawn_blocking(move || {
            let mut reader = ChannelReader::new(rx);
            store.write_attachment_file(&mut reader)
        });
        let running = self.inner.files.start(a.message, Direction::Download);
        let result = tokio::select! {
            r = self.fetch_into(a, bound, &tx) => r,
            () = running.cancel.wake.notified() => {
                self.report_cancelled(a.message, Direction::Download, a.size);
                Err(FileError::Cancelled(a.message).into())
            }
        };
        drop(running);
        let last = match &result {
            Ok(()) => Piece::End,
            Err(e) => Piece::Fail(e.to_string()),
        };
        let _ = tx.send(last).await;
        drop(tx);
        let written = writer.await.map_err(store_task_failed)?;
        result?;
        Ok(written?)
    }

    async fn fetch_into(&self, a: &Attachment, bound: u64, tx: &mpsc::Sender<Piece>) -> Result<()> {
        let blobs = &self.inner.files.blobs;
        let mut hash = Sha256::new();
        let mut got = 0u64;
        let mut failures = 0u32;
        self.progress(a.message, Direction::Download, 0, a.size);
        while got < bound {
            let before = got;
            let mut body = match blobs.get(&a.id, got).await {
                Ok(body) => body,
                Err(ClientError::Offline(why)) if failures < 5 => {
                    failures += 1;
                    tracing::debug!(%why, "download interrupted; resuming");
                    tokio::time::sleep(Duration::from_millis(250 << failures)).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let ended_cleanly = loop {
                use http_body_util::BodyExt as _;
                let frame = match tokio::time::timeout(blobs.idle_timeout(), body.frame()).await {
                    Ok(Some(Ok(frame))) => frame,
                    Ok(None) => break true,
                    Ok(Some(Err(_))) | Err(_) => break false,
                };
                let Ok(data) = frame.into_data() else { continue };
                // More bytes than the message's file can have: not that file.
                if got + data.len() as u64 > bound {
                    return Err(FileError::HashMismatch.into());
                }
                hash.update(&data);
                got += data.len() as u64;
                tx.send(Piece::Data(data.to_vec()))
                    .await
                    .map_err(|_| ClientError::Config("the store stopped taking the download".into()))?;
                self.progress(a.message, Direction::Download, attachment::plaintext_progress(got, a.size), a.size);
            };
            if got < bound && ended_cleanly {
                // The relay's blob is shorter than the message's file.
                return Err(FileError::HashMismatch.into());
            }
            if got == before {
                failures += 1;
                if failures > 5 {
                    return Err(ClientError::Offline("the download keeps breaking off; try again later".into()));
                }
            }
        }
        if Hash256(hash.finalize().into()) != a.sha256 {
            return Err(FileError::HashMismatch.into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_shown_name_is_the_name_it_would_be_saved_under() {
        let body = attachment_body("invoice\u{202E}fdp.exe", 10);
        assert!(!body.contains('\u{202E}'), "{body:?}");
        assert!(body.contains("invoicefdp.exe"), "{body:?}");
    }

    use super::*;

    #[test]
    fn received_names_never_leave_the_destination() {
        assert_eq!(safe_name("../../.bashrc"), "bashrc");
        assert_eq!(safe_name("C:\\Windows\\evil.exe"), "evil.exe");
        assert_eq!(safe_name("/etc/passwd"), "passwd");
        assert_eq!(safe_name(".."), "attachment");
        assert_eq!(safe_name(""), "attachment");
        assert_eq!(safe_name("report\u{1b}[31m.pdf"), "report[31m.pdf");
        assert_eq!(safe_name("Budget 2027.xlsx"), "Budget 2027.xlsx");
        assert_eq!(safe_name("Отчёт 東京 ü.pdf"), "Отчёт 東京 ü.pdf");
    }

    #[test]
    fn received_names_name_no_drive_stream_or_reserved_character() {
        // `C:version.dll` is relative to drive C's current directory on
        // Windows; `x.pdf:s` an alternate data stream of x.pdf.
        assert_eq!(safe_name("C:version.dll"), "C_version.dll");
        assert_eq!(safe_name("x.pdf:s"), "x.pdf_s");
        assert_eq!(safe_name("x.pdf::$DATA"), "x.pdf__$DATA");
        assert_eq!(safe_name("a<b>c\"d|e?f*g.txt"), "a_b_c_d_e_f_g.txt");
        for name in ["C:version.dll", "x.pdf:s", "<>:\"|?*", "a\u{0}b", "\\\\?\\C:\\x"] {
            let safe = safe_name(name);
            assert!(!safe.contains(RESERVED_CHARS) && !safe.chars().any(is_invisible), "{name:?} -> {safe:?}");
        }
    }

    #[test]
    fn received_names_lose_bidi_and_other_invisible_characters() {
        // Shown as `invoiceexe.pdf`; saved as what it is.
        assert_eq!(safe_name("invoice\u{202E}fdp.exe"), "invoicefdp.exe");
        for bidi in ['\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}'] {
            assert_eq!(safe_name(&format!("a{bidi}b.txt")), "ab.txt", "U+{:04X}", u32::from(bidi));
        }
        for isolate in ['\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{061C}'] {
            assert_eq!(safe_name(&format!("a{isolate}b.txt")), "ab.txt", "U+{:04X}", u32::from(isolate));
        }
        // Zero-width characters, the byte order mark, soft hyphen, tags,
        // line and paragraph separators; C1 controls.
        assert_eq!(safe_name("\u{FEFF}re\u{200B}po\u{00AD}rt\u{E0041}\u{2028}\u{2029}\u{85}.pdf"), "report.pdf");
        // Only invisible characters: a placeholder, never an empty name.
        assert_eq!(safe_name("\u{202E}\u{200B}"), "attachment");
    }

    #[test]
    fn received_names_lose_trailing_dots_and_spaces() {
        // Windows drops them: `evil.exe.` would be saved as `evil.exe`.
        assert_eq!(safe_name("evil.exe."), "evil.exe");
        assert_eq!(safe_name("evil.exe . . "), "evil.exe");
        assert_eq!(safe_name(" . report.pdf"), "report.pdf");
        assert_eq!(safe_name(". . ."), "attachment");
        assert_eq!(safe_name("a\u{202E}."), "a");
    }

    #[test]
    fn received_names_are_never_windows_devices() {
        for name in ["CON", "con", "Prn.txt", "aux.tar.gz", "NUL", "nul .txt", "COM1", "com9.log", "LPT1", "lpt5.pdf"] {
            assert_eq!(safe_name(name), format!("_{name}"), "{name}");
        }
        assert_eq!(safe_name("COM0"), "_COM0");
        assert_eq!(safe_name("COM¹.txt"), "_COM¹.txt");
        assert_eq!(safe_name("conin$"), "_conin$");
        assert_eq!(safe_name("NUL."), "_NUL");
        assert_eq!(safe_name("C\u{200B}ON.txt"), "_CON.txt");
        // Names that only start like one are kept.
        for name in ["CONTRACT.pdf", "COM10", "LPT.txt", "nullable.rs", "console.log", "PRN2"] {
            assert_eq!(safe_name(name), name);
        }
    }

    #[test]
    fn received_names_are_bounded_and_keep_a_short_extension() {
        let long = format!("{}.pdf", "é".repeat(300));
        let safe = safe_name(&long);
        assert!(safe.len() <= MAX_SAVED_NAME, "{}", safe.len());
        assert!(safe.ends_with(".pdf") && safe.trim_end_matches(".pdf").chars().all(|c| c == 'é'));
        // A long "extension" is part of the name, shortened with it.
        let safe = safe_name(&format!("x.{}", "a".repeat(400)));
        assert_eq!(safe.len(), MAX_SAVED_NAME);
        // Shortening never leaves a trailing space or dot before the extension.
        let safe = safe_name(&format!("{}{}.exe", "a".repeat(MAX_SAVED_NAME - 6), " ".repeat(50)));
        assert_eq!(safe, format!("{}.exe", "a".repeat(MAX_SAVED_NAME - 6)));
        let safe = safe_name(&format!("{}.exe", " ".repeat(300)));
        assert_eq!(safe, "exe");
        let safe = safe_name(&format!("a{}.exe", " ".repeat(300)));
        assert_eq!(safe, "a.exe");
    }

    #[test]
    fn a_received_file_is_written_directly_in_the_chosen_folder() {
        let dir = Path::new("/home/user/Downloads");
        assert_eq!(inside(dir, "report.pdf").unwrap(), dir.join("report.pdf"));
        assert_eq!(inside(Path::new("Downloads/"), "a.txt").unwrap(), Path::new("Downloads/a.txt"));
        for escape in ["..", ".", "", "/etc/passwd", "../x", "a/b", "sub/.."] {
            let r = inside(dir, escape);
            assert!(matches!(r, Err(ClientError::File(FileError::UnsafeName(_)))), "{escape:?}: {r:?}");
        }
        #[cfg(windows)]
        for escape in ["C:version.dll", "C:\\Windows\\x.dll", "\\\\server\\share\\x", "\\x"] {
            let r = inside(Path::new("C:\\Users\\u\\Downloads"), escape);
            assert!(matches!(r, Err(ClientError::File(FileError::UnsafeName(_)))), "{escape:?}: {r:?}");
        }
        // Whatever a sender names its file, the safe name stays inside.
        for hostile in ["../../.bashrc", "C:version.dll", "..", "CON", "\u{202E}", "a/../../b", "x:\u{0}/.."] {
            let target = inside(dir, &safe_name(hostile)).unwrap();
            assert_eq!(target.parent(), Some(dir), "{hostile:?}");
        }
    }

    #[test]
    fn only_files_belfry_can_carry_are_accepted() {
        let max = belfry_protocol::limits::MAX_BLOB_LEN;
        assert_eq!(accepted_len(0), attachment::ciphertext_len(0));
        assert_eq!(accepted_len(1_000_000), attachment::ciphertext_len(1_000_000));
        // The largest plaintext whose ciphertext fits, and one byte more.
        let (mut lo, mut hi) = (0u64, max);
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if attachment::ciphertext_len(mid).is_some_and(|l| l <= max) { lo = mid } else { hi = mid }
        }
        assert!(accepted_len(lo).is_some_and(|l| l <= max));
        assert_eq!(accepted_len(lo + 1), None);
        // What a hostile sender might claim.
        for claim in [max, 1 << 40, 1 << 48, u64::MAX - 1, u64::MAX] {
            assert_eq!(accepted_len(claim), None, "{claim}");
        }
        assert!(attachment_body("x.iso", 1 << 48).contains("refused"));
        assert!(!attachment_body("x.iso", 1 << 20).contains("refused"));
    }

    #[test]
    fn sent_names_are_the_last_component_and_bounded() {
        assert_eq!(send_name(Path::new("/tmp/dir/Note.pdf")), "Note.pdf");
        let long = "é".repeat(300);
        let n = send_name(Path::new(&long));
        assert!(n.len() <= MAX_NAME && n.chars().all(|c| c == 'é'));
    }

    #[test]
    fn media_types_come_from_the_extension() {
        assert_eq!(mime_of("a.PDF"), "application/pdf");
        assert_eq!(mime_of("noext"), "application/octet-stream");
    }

    #[test]
    fn a_producer_failure_is_a_read_error_not_an_early_end() {
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Piece::Data(b"abc".to_vec())).unwrap();
        tx.try_send(Piece::Fail("broken".into())).unwrap();
        let mut out = Vec::new();
        assert!(ChannelReader::new(rx).read_to_end(&mut out).is_err());
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Piece::Data(b"abc".to_vec())).unwrap();
        drop(tx);
        assert!(ChannelReader::new(rx).read_to_end(&mut Vec::new()).is_err(), "no end marker: not complete");
        let (tx, rx) = mpsc::channel(4);
        tx.try_send(Piece::Data(b"abc".to_vec())).unwrap();
        tx.try_send(Piece::End).unwrap();
        let mut out = Vec::new();
        ChannelReader::new(rx).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
