//! The SQLCipher store.

use crate::error::{Result, StoreError};
use crate::key::{KeyHome, Keychain, Slot, StoreKey};
use crate::passphrase::{KdfCost, PassphraseHome};
use crate::wipe::{self, MemoryProtection};
use crate::{
    Attachment, AttachmentData, AttachmentFile, Batch, MessageStatus, Op, PurgeReport, Receipt, Store, StoredMessage,
    query_terms,
};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::{BlobId, DeviceId, Ed25519Public, Hash256, MessageId, RoomId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Numbered migrations, applied in order in one transaction.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/001_initial.sql"),
    include_str!("../migrations/002_fts_secure_delete_attachments.sql"),
    include_str!("../migrations/003_deferred_search_index.sql"),
    include_str!("../migrations/004_rooms.sql"),
    include_str!("../migrations/005_waiting.sql"),
    include_str!("../migrations/006_outbox_order_index.sql"),
    include_str!("../migrations/007_outbox_sequence.sql"),
    include_str!("../migrations/008_inbound_sessions_by_sender.sql"),
    include_str!("../migrations/009_timeline.sql"),
    include_str!("../migrations/010_alerts.sql"),
];

/// Messages stored but not yet in the search index, above which a commit
/// indexes them all (see migration 003).
const INDEX_BATCH: i64 = 4096;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const INBOX_CURSOR: &str = "inbox_cursor";

/// The oldest outbox items first, in the order they were queued (`seq`, the
/// table's rowid: no sort, no extra index; see migration 007) (a macro so the
/// statement stays a literal that its test can explain). The caller stops
/// reading after the rows it wants. No `LIMIT ?`: SQLite re-prepares a
/// statement whose LIMIT is a bound parameter every time it is bound (its
/// value may change the plan), and a prepare (parser allocations, each
/// wiped on free) costs more than the read.
macro_rules! outbox_head_sql {
    () => {
        "SELECT id, payload FROM outbox ORDER BY seq"
    };
}

/// A SQLCipher database holding one profile's data, and next to it
/// (`<database>.attachments/`) the attachment ciphertext files.
pub struct SqlStore {
    conn: Mutex<Connection>,
    /// Set by [`close`](Self::close): every later call fails.
    closed: std::sync::atomic::AtomicBool,
    path: String,
    files: PathBuf,
}

impl fmt::Debug for SqlStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlStore").field("path", &self.path).finish_non_exhaustive()
    }
}

fn to_i64(v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} does not fit the database")))
}

impl SqlStore {
    /// Opens (or creates) the database at `path` with `key`. A wrong key is
    /// reported as [`StoreError::WrongKey`] before anything is written.
    pub fn open(path: &Path, key: &StoreKey) -> Result<Self> {
        Self::open_inner(path, Some(key), MIGRATIONS.len())
    }

    /// The same database without encryption: the benchmark's baseline.
    /// Only with the `testing` feature; never in a shipped build.
    #[cfg(feature = "testing")]
    pub fn open_unencrypted_baseline(path: &Path) -> Result<Self> {
        Self::open_inner(path, None, MIGRATIONS.len())
    }

    /// SQLCipher with `cipher_memory_security` on (every allocation locked
    /// and wiped), to show in the benchmark what the store's own wiping
    /// (see [`MemoryProtection`]) saves. Only with the `testing` feature.
    /// Once on, SQLCipher keeps it on for the whole process.
    #[cfg(feature = "testing")]
    pub fn open_with_cipher_memory_security_for_benchmark(path: &Path, key: &StoreKey) -> Result<Self> {
        Self::open_keyed(path, Some(key), MIGRATIONS.len(), true)
    }

    /// How SQLite's freed memory is protected in this process. Decided by
    /// the first call of this or the first store opened, whichever comes
    /// first: a program calls it at the start of `main`, before any thread
    /// could touch SQLite (`sqlite3_config` is not thread-safe).
    pub fn memory_protection() -> MemoryProtection {
        wipe::install(false)
    }

    /// Test support: a database as an older build left it, at schema
    /// `version`, to test the migrations from every earlier version.
    #[cfg(feature = "testing")]
    pub fn open_at_version_for_tests(path: &Path, key: &StoreKey, version: usize) -> Result<Self> {
        Self::open_inner(path, Some(key), version.min(MIGRATIONS.len()))
    }

    /// The directory holding this database's attachment files.
    pub fn attachment_dir(&self) -> &Path {
        &self.files
    }

    fn open_inner(path: &Path, key: Option<&StoreKey>, migrations: usize) -> Result<Self> {
        Self::open_keyed(path, key, migrations, false)
    }

    fn open_keyed(
        path: &Path,
        key: Option<&StoreKey>,
        migrations: usize,
        cipher_memory_security: bool,
    ) -> Result<Self> {
        let shown = path.display().to_string();
        // Before SQLite's first use in the process; see `wipe`.
        let protection = wipe::install(key.is_some());
        let conn = Connection::open(path)?;
        if let Some(key) = key {
            // Keying writes nothing; the first read proves the key.
            conn.execute_batch(&key.pragma("key"))?;
            if cipher_memory_security || protection == MemoryProtection::CipherMemorySecurity {
                conn.pragma_update(None, "cipher_memory_security", "ON")?;
            }
        }
        if conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_err() {
            return Err(StoreError::WrongKey { path: shown });
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let mut files = path.as_os_str().to_owned();
        files.push(".attachments");
        // Room for every statement the store prepares (about 30): with the
        // default 16 a busy engine cycling through more would evict and
        // prepare them again, and a prepare allocates (and wipes) a lot.
        conn.set_prepared_statement_cache_capacity(64);
        let store = Self {
            conn: Mutex::new(conn),
            closed: std::sync::atomic::AtomicBool::new(false),
            path: shown,
            files: PathBuf::from(files),
        };
        store.migrate(&MIGRATIONS[..migrations])?;
        store.remove_unreferenced_files()?;
        Ok(store)
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        let conn = self.conn.lock().map_err(|_| StoreError::Corrupt("a previous store operation panicked".into()))?;
        if self.closed.load(std::sync::atomic::Ordering::Acquire) {
            return Err(StoreError::Closed);
        }
        Ok(conn)
    }

    /// Closes the database now, even while others still hold this store
    /// (an engine's background tasks): the file handles are released and
    /// every later call fails with [`StoreError::Closed`]. Used before a
    /// wipe erases the files.
    pub fn close(&self) -> Result<()> {
        let mut conn = self.conn()?;
        let open = std::mem::replace(&mut *conn, Connection::open_in_memory()?);
        self.closed.store(true, std::sync::atomic::Ordering::Release);
        drop(conn);
        open.close().map_err(|(_, e)| StoreError::Sqlite(e))
    }

    fn migrate(&self, migrations: &[&str]) -> Result<()> {
        let mut conn = self.conn()?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { found, supported: SCHEMA_VERSION });
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (i, sql) in migrations.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))?;
        }
        tx.commit()?;
        Ok(())
    }

    /// `PRAGMA integrity_check` and `PRAGMA cipher_integrity_check` both clean.
    pub fn check_integrity(&self) -> Result<()> {
        let conn = self.conn()?;
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if ok != "ok" {
            return Err(StoreError::Corrupt(format!("integrity_check: {ok}")));
        }
        let mut stmt = conn.prepare("PRAGMA cipher_integrity_check")?;
        let problems: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        if !problems.is_empty() {
            return Err(StoreError::Corrupt(format!("cipher_integrity_check: {}", problems.join("; "))));
        }
        Ok(())
    }

    /// Indexes the messages still waiting for the search index now (a
    /// search does it anyway; this lets a caller choose an idle moment).
    pub fn index_waiting_messages(&self) -> Result<()> {
        index_all(&mut *self.conn()?)
    }

    /// The full-text index agrees with the messages it indexes (FTS5's own
    /// `integrity-check` against the content table).
    pub fn check_search_index(&self) -> Result<()> {
        let mut conn = self.conn()?;
        index_all(&mut conn)?;
        conn.execute_batch("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1);")
            .map_err(|e| StoreError::Corrupt(format!("search index: {e}")))
    }

    /// Deletes attachment files no record refers to: files written for a
    /// batch that never committed, or whose record was deleted by a batch
    /// that committed just before a crash.
    fn remove_unreferenced_files(&self) -> Result<()> {
        let entries = match fs::read_dir(&self.files) {
            Ok(entries) => entries.collect::<io::Result<Vec<_>>>()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if entries.is_empty() {
            return Ok(());
        }
        let referenced = self.referenced_files()?;
        let mut removed = false;
        for entry in entries {
            if !referenced.contains(entry.file_name().to_string_lossy().as_ref()) {
                fs::remove_file(entry.path())?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&self.files)?;
        }
        Ok(())
    }

    fn referenced_files(&self) -> Result<HashSet<String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT file FROM attachments WHERE file IS NOT NULL")?;
        let names = stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
        Ok(names)
    }

    /// Deletes attachment files whose records a committed transaction removed.
    fn remove_files(&self, files: &[AttachmentFile]) -> Result<usize> {
        let mut removed = 0;
        for f in files {
            match fs::remove_file(self.files.join(f.as_str())) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        if removed > 0 {
            sync_dir(&self.files)?;
        }
        Ok(removed)
    }

    /// Test support: runs SQL directly, as an older build would have.
    #[cfg(feature = "testing")]
    pub fn execute_batch_for_tests(&self, sql: &str) -> Result<()> {
        Ok(self.conn()?.execute_batch(sql)?)
    }

    /// Test support: the raw bytes of the full-text index's segments.
    #[cfg(feature = "testing")]
    pub fn search_index_bytes_for_tests(&self) -> Result<Vec<u8>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT block FROM messages_fts_data")?;
        let blocks = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?.collect::<Result<Vec<_>, _>>()?;
        Ok(blocks.concat())
    }

    /// Test support: how SQLite runs the outbox head query (`EXPLAIN QUERY
    /// PLAN` details), to check it reads the head through the index.
    #[cfg(feature = "testing")]
    pub fn outbox_head_plan_for_tests(&self) -> Result<Vec<String>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(concat!("EXPLAIN QUERY PLAN ", outbox_head_sql!()))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Test support: how many times the cached outbox head statement was
    /// prepared again since it was first prepared.
    #[cfg(feature = "testing")]
    pub fn outbox_head_reprepares_for_tests(&self) -> Result<i32> {
        let conn = self.conn()?;
        let stmt = conn.prepare_cached(outbox_head_sql!())?;
        Ok(stmt.get_status(rusqlite::StatementStatus::RePrepare))
    }

    /// Test support: whether SQLCipher's `cipher_memory_security` is on for
    /// this connection (it is only the fallback; see [`MemoryProtection`]).
    #[cfg(feature = "testing")]
    pub fn cipher_memory_security_for_tests(&self) -> Result<bool> {
        let on: String = self.conn()?.pragma_query_value(None, "cipher_memory_security", |r| r.get(0))?;
        Ok(on == "1")
    }

    /// Test support: pretend a newer build wrote this database.
    #[cfg(feature = "testing")]
    pub fn set_user_version_for_tests(&self, version: i64) -> Result<()> {
        self.conn()?.pragma_update(None, "user_version", version)?;
        Ok(())
    }

    /// Re-encrypts the whole database under a new key (`PRAGMA rekey`).
    ///
    /// Low level: until the new key is stored, it exists only in this
    /// process. Prefer [`rotate_key_in_keychain`](Self::rotate_key_in_keychain)
    /// or [`rotate_key_with_passphrase`](Self::rotate_key_with_passphrase),
    /// which survive a crash at any point.
    pub fn rekey(&self, new: &StoreKey) -> Result<()> {
        let conn = self.conn()?;
        conn.execute_batch(&new.pragma("rekey"))?;
        Ok(())
    }

    /// Opens the database at `path` with its key from the OS keychain, or
    /// creates both: a new random key goes into the keychain (and is read
    /// back) before the database is created. No keychain is
    /// [`StoreError::NoKeychain`]; the key is never written anywhere else.
    /// Finishes a key rotation a crash interrupted.
    pub fn open_with_keychain(path: &Path, keychain: &Keychain) -> Result<Self> {
        Self::open_from(path, keychain)
    }

    /// Opens the database at `path` in passphrase mode: its key is wrapped
    /// with Argon2id in `key.wrapped` next to it (`cost` applies to a new
    /// key). A wrong passphrase is [`StoreError::WrongPassphrase`], and
    /// nothing is written. Finishes a key rotation a crash interrupted.
    pub fn open_with_passphrase(path: &Path, passphrase: &str, cost: KdfCost) -> Result<Self> {
        Self::open_from(path, &PassphraseHome::next_to(path, passphrase, cost))
    }

    /// Rotates the database key kept in the keychain: the new key is stored
    /// as pending, the database re-encrypted, then the new key replaces the
    /// old. After a crash at any point, [`open_with_keychain`](Self::open_with_keychain)
    /// opens the database and completes or abandons the rotation.
    pub fn rotate_key_in_keychain(&self, keychain: &Keychain) -> Result<()> {
        self.rotate_in(keychain)
    }

    /// [`rotate_key_in_keychain`](Self::rotate_key_in_keychain) for passphrase mode.
    pub fn rotate_key_with_passphrase(&self, passphrase: &str, cost: KdfCost) -> Result<()> {
        self.rotate_in(&PassphraseHome::next_to(Path::new(&self.path), passphrase, cost))
    }

    fn open_from(path: &Path, home: &dyn KeyHome) -> Result<Self> {
        let current = home.load(Slot::Current)?;
        if let Some(key) = &current {
            match Self::open(path, key) {
                Ok(store) => {
                    // A rotation that never reached the rekey: abandon it.
                    home.delete(Slot::Pending)?;
                    return Ok(store);
                }
                Err(StoreError::WrongKey { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        // The current key is missing or does not open the database: a
        // rotation may have re-encrypted it and crashed before promoting.
        if let Some(next) = home.load(Slot::Pending)? {
            let store = Self::open(path, &next)?;
            home.save(Slot::Current, &next)?;
            home.delete(Slot::Pending)?;
            return Ok(store);
        }
        match current {
            Some(_) => Err(StoreError::WrongKey { path: path.display().to_string() }),
            None if path.exists() => Err(StoreError::KeyMissing(format!(
                "{} exists, but its key is not where this key source keeps it",
                path.display()
            ))),
            None => {
                let key = StoreKey::random();
                home.save(Slot::Current, &key)?;
                Self::open(path, &key)
            }
        }
    }

    fn rotate_in(&self, home: &dyn KeyHome) -> Result<()> {
        let new = StoreKey::random();
        home.save(Slot::Pending, &new)?;
        self.rekey(&new)?;
        home.save(Slot::Current, &new)?;
        home.delete(Slot::Pending)
    }
}

fn message_from(row: &Row<'_>) -> rusqlite::Result<StoredMessage> {
    let id: [u8; 16] = row.get(0)?;
    let room: [u8; 16] = row.get(1)?;
    let sender: String = row.get(2)?;
    let status: i64 = row.get(4)?;
    let bad = |what: &str| rusqlite::Error::InvalidColumnType(0, what.into(), rusqlite::types::Type::Text);
    Ok(StoredMessage {
        id: MessageId(id),
        room: RoomId(room),
        sender: UserId::new(sender).map_err(|_| bad("sender"))?,
        sent_at: Timestamp(u64::try_from(row.get::<_, i64>(3)?).map_err(|_| bad("sent_at"))?),
        status: MessageStatus::from_code(status).ok_or_else(|| bad("status"))?,
        body: row.get(5)?,
        expires_at: row
            .get::<_, Option<i64>>(6)?
            .map(|t| u64::try_from(t).map(Timestamp))
            .transpose()
            .map_err(|_| bad("expires_at"))?,
        reply_to: row.get::<_, Option<[u8; 16]>>(7)?.map(MessageId),
        edited: row.get::<_, i64>(8)? != 0,
    })
}

/// The rows of a message query, up to `limit` (no `LIMIT ?` in the SQL:
/// see `outbox_head_sql`).
fn take_messages(
    stmt: &mut rusqlite::CachedStatement<'_>,
    p: impl rusqlite::Params,
    limit: usize,
) -> Result<Vec<StoredMessage>> {
    let rows = stmt.query_map(p, message_from)?;
    Ok(rows.take(limit).collect::<Result<_, _>>()?)
}

/// The message columns, in `message_from` order (a macro so every query
/// stays a string literal: SQL is never built from data).
macro_rules! message_columns {
    () => {
        "id, room, sender, sent_at, status, body, expires_at, reply_to, edited"
    };
}

/// The attachment columns, in `attachment_from` order.
macro_rules! attachment_columns {
    () => {
        "id, message, name, mime, size, key, sha256, file, inline_data"
    };
}

fn attachment_from(row: &Row<'_>) -> rusqlite::Result<Attachment> {
    let bad = |i: usize, what: &str| rusqlite::Error::InvalidColumnType(i, what.into(), rusqlite::types::Type::Text);
    let file: Option<String> = row.get(7)?;
    let inline: Option<Vec<u8>> = row.get(8)?;
    let data = match (file, inline) {
        (Some(f), None) => AttachmentData::File(AttachmentFile::parse(&f).map_err(|_| bad(7, "file"))?),
        (None, Some(b)) => AttachmentData::Inline(b),
        (None, None) => AttachmentData::Remote,
        (Some(_), Some(_)) => return Err(bad(8, "inline_data")),
    };
    Ok(Attachment {
        id: BlobId(row.get(0)?),
        message: MessageId(row.get(1)?),
        name: row.get(2)?,
        mime: row.get(3)?,
        size: u64::try_from(row.get::<_, i64>(4)?).map_err(|_| bad(4, "size"))?,
        key: row.get(5)?,
        sha256: Hash256(row.get(6)?),
        data,
    })
}

/// Adds a message's text to the search index (`seq` is its rowid there).
fn index_body(tx: &Transaction<'_>, seq: i64, body: &str) -> Result<()> {
    tx.prepare_cached("INSERT INTO messages_fts (rowid, body) VALUES (?1, ?2)")?.execute(params![seq, body])?;
    Ok(())
}

/// Brings the search index up to date, in a transaction of its own.
fn index_all(conn: &mut Connection) -> Result<()> {
    let waiting = conn.prepare_cached("SELECT 1 FROM unindexed LIMIT 1")?.exists([])?;
    if waiting {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        index_pending(&tx)?;
        tx.commit()?;
    }
    Ok(())
}

/// Lists a new message for the next bulk indexing.
fn defer_index(tx: &Transaction<'_>, seq: i64) -> Result<()> {
    tx.prepare_cached("INSERT INTO unindexed (seq) VALUES (?1)")?.execute(params![seq])?;
    Ok(())
}

fn is_unindexed(tx: &Transaction<'_>, seq: i64) -> Result<bool> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM unindexed WHERE seq = ?1")?
        .query_row(params![seq], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Takes a message off the waiting list; `true` if it was on it (and so
/// never reached the index).
fn take_unindexed(tx: &Transaction<'_>, seq: i64) -> Result<bool> {
    Ok(tx.prepare_cached("DELETE FROM unindexed WHERE seq = ?1")?.execute(params![seq])? == 1)
}

/// Indexes every waiting message, in one statement.
fn index_pending(tx: &Transaction<'_>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO messages_fts (rowid, body) \
         SELECT m.seq, m.body FROM unindexed u JOIN messages m ON m.seq = u.seq ORDER BY u.seq",
    )?
    .execute([])?;
    tx.prepare_cached("DELETE FROM unindexed")?.execute([])?;
    Ok(())
}

/// Removes a message's text from the search index. The index keeps no copy
/// of the text, so the text it was indexed with must be given; with
/// 'secure-delete' the tokens leave the index at once.
fn unindex_body(tx: &Transaction<'_>, seq: i64, body: &str) -> Result<()> {
    tx.prepare_cached("INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', ?1, ?2)")?
        .execute(params![seq, body])?;
    Ok(())
}

fn put_message(tx: &Transaction<'_>, m: &StoredMessage) -> Result<()> {
    let sent_at = to_i64(m.sent_at.0)?;
    let expires_at = m.expires_at.map(|t| to_i64(t.0)).transpose()?;
    let inserted = tx
        .prepare_cached(
            "INSERT INTO messages (id, room, sender, sent_at, status, body, expires_at, reply_to, edited) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            m.id.as_bytes(),
            m.room.as_bytes(),
            m.sender.as_str(),
            sent_at,
            m.status.code(),
            m.body,
            expires_at,
            m.reply_to.as_ref().map(MessageId::as_bytes),
            m.edited
        ])?;
    if inserted == 1 {
        return defer_index(tx, tx.last_insert_rowid());
    }
    // A replacement (an edit, or a redelivery): same row, so the message
    // keeps its attachments and its place.
    let (seq, old_body): (i64, String) = tx
        .prepare_cached("SELECT seq, body FROM messages WHERE id = ?1")?
        .query_row(params![m.id.as_bytes()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    tx.prepare_cached(
        "UPDATE messages SET room = ?2, sender = ?3, sent_at = ?4, status = ?5, body = ?6, expires_at = ?7, \
         reply_to = ?8, edited = ?9 WHERE seq = ?1",
    )?
    .execute(params![
        seq,
        m.room.as_bytes(),
        m.sender.as_str(),
        sent_at,
        m.status.code(),
        m.body,
        expires_at,
        m.reply_to.as_ref().map(MessageId::as_bytes),
        m.edited
    ])?;
    if old_body != m.body && !is_unindexed(tx, seq)? {
        unindex_body(tx, seq, &old_body)?;
        index_body(tx, seq, &m.body)?;
    }
    Ok(())
}

/// Deletes one message, its search entry and its attachment records;
/// returns the files to delete once the transaction has committed.
fn delete_message(tx: &Transaction<'_>, id: &MessageId, report: &mut PurgeReport) -> Result<Vec<AttachmentFile>> {
    let Some((seq, body)) = tx
        .prepare_cached("SELECT seq, body FROM messages WHERE id = ?1")?
        .query_row(params![id.as_bytes()], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
        .optional()?
    else {
        return Ok(Vec::new());
    };
    let files = tx
        .prepare_cached("SELECT file FROM attachments WHERE message = ?1 AND file IS NOT NULL")?
        .query_map(params![id.as_bytes()], |r| r.get::<_, String>(0))?
        .map(|f| AttachmentFile::parse(&f?))
        .collect::<Result<Vec<_>>>()?;
    report.attachments +=
        tx.prepare_cached("DELETE FROM attachments WHERE message = ?1")?.execute(params![id.as_bytes()])?;
    tx.prepare_cached("DELETE FROM receipts WHERE message = ?1")?.execute(params![id.as_bytes()])?;
    tx.prepare_cached("DELETE FROM reactions WHERE message = ?1")?.execute(params![id.as_bytes()])?;
    if !take_unindexed(tx, seq)? {
        unindex_body(tx, seq, &body)?;
    }
    report.messages += tx.prepare_cached("DELETE FROM messages WHERE seq = ?1")?.execute(params![seq])?;
    Ok(files)
}

/// fsync of a directory, so a rename or unlink in it is durable.
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl SqlStore {
    fn put_attachment(&self, tx: &Transaction<'_>, a: &Attachment, unlink: &mut Vec<AttachmentFile>) -> Result<()> {
        let message_exists = tx
            .prepare_cached("SELECT 1 FROM messages WHERE id = ?1")?
            .query_row(params![a.message.as_bytes()], |_| Ok(()))
            .optional()?
            .is_some();
        if !message_exists {
            return Err(StoreError::Conflict(format!("attachment {} belongs to a message that is not stored", a.id)));
        }
        let (file, inline) = match &a.data {
            AttachmentData::Remote => (None, None),
            AttachmentData::Inline(bytes) => (None, Some(bytes.as_slice())),
            AttachmentData::File(f) => {
                if !self.files.join(f.as_str()).is_file() {
                    return Err(StoreError::Conflict(format!("attachment {}: its file was never written", a.id)));
                }
                (Some(f.as_str()), None)
            }
        };
        let old: Option<Option<String>> = tx
            .prepare_cached("SELECT file FROM attachments WHERE id = ?1")?
            .query_row(params![a.id.as_bytes()], |r| r.get(0))
            .optional()?;
        if let Some(Some(old)) = old
            && Some(old.as_str()) != file
        {
            unlink.push(AttachmentFile::parse(&old)?);
        }
        tx.prepare_cached(
            "INSERT INTO attachments (id, message, name, mime, size, key, sha256, file, inline_data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
             ON CONFLICT (id) DO UPDATE SET message = excluded.message, name = excluded.name, mime = excluded.mime, \
             size = excluded.size, key = excluded.key, sha256 = excluded.sha256, file = excluded.file, \
             inline_data = excluded.inline_data",
        )?
        .execute(params![
            a.id.as_bytes(),
            a.message.as_bytes(),
            a.name,
            a.mime,
            to_i64(a.size)?,
            a.key,
            a.sha256.as_bytes(),
            file,
            inline
        ])?;
        Ok(())
    }
}

impl Store for SqlStore {
    fn commit(&self, batch: Batch) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Files of deleted or replaced attachments: removed only once the
        // transaction is durable (a crash in between leaves files that the
        // next open removes, never a record without its file).
        let mut unlink = Vec::new();
        let mut report = PurgeReport::default();
        let mut stored_messages = false;
        for op in batch.0 {
            crate::check(&op)?;
            match op {
                Op::PutAccount(pickle) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO account (id, pickle) VALUES (1, ?1)")?
                        .execute(params![pickle])?;
                }
                Op::PutOlmSession { peer_user, peer_device, session_id, pickle } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO olm_sessions (peer_user, peer_device, session_id, pickle) \
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![
                        peer_user.as_str(),
                        peer_device.as_str(),
                        session_id,
                        pickle
                    ])?;
                }
                Op::PutInboundSession { sender, sender_device, session, room, pickle } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO inbound_sessions (session, sender, sender_device, room, pickle) \
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        session.as_bytes(),
                        sender.as_str(),
                        sender_device.as_str(),
                        room.as_bytes(),
                        pickle
                    ])?;
                }
                Op::PutOutboundSession { room, pickle } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO outbound_sessions (room, pickle) VALUES (?1, ?2)")?
                        .execute(params![room.as_bytes(), pickle])?;
                }
                Op::MarkSeen { session, index } => {
                    tx.prepare_cached("INSERT OR IGNORE INTO seen_indices (session, idx) VALUES (?1, ?2)")?
                        .execute(params![session.as_bytes(), index])?;
                }
                Op::PutMessage(m) => {
                    put_message(&tx, &m)?;
                    stored_messages = true;
                }
                Op::DeleteMessage(id) => unlink.extend(delete_message(&tx, &id, &mut report)?),
                Op::PutAttachment(a) => self.put_attachment(&tx, &a, &mut unlink)?,
                Op::SetStatus { id, status } => {
                    tx.prepare_cached("UPDATE messages SET status = ?2 WHERE id = ?1")?
                        .execute(params![id.as_bytes(), status.code()])?;
                }
                Op::Enqueue { id, payload, queued } => {
                    tx.prepare_cached("INSERT OR IGNORE INTO outbox (id, payload, queued) VALUES (?1, ?2, ?3)")?
                        .execute(params![id.as_bytes(), payload, to_i64(queued.0)?])?;
                }
                Op::Dequeue(id) => {
                    tx.prepare_cached("DELETE FROM outbox WHERE id = ?1")?.execute(params![id.as_bytes()])?;
                }
                Op::SetInboxCursor(seq) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")?
                        .execute(params![INBOX_CURSOR, seq.to_be_bytes().to_vec()])?;
                }
                Op::PutRoom { room, record } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO rooms (id, record) VALUES (?1, ?2)")?
                        .execute(params![room.as_bytes(), record])?;
                }
                Op::PutWaiting { id, message } => {
                    tx.prepare_cached("INSERT OR IGNORE INTO waiting (id, message) VALUES (?1, ?2)")?
                        .execute(params![id.as_bytes(), message])?;
                }
                Op::DeleteWaiting(id) => {
                    tx.prepare_cached("DELETE FROM waiting WHERE id = ?1")?.execute(params![id.as_bytes()])?;
                }
                Op::PutReceipt { message, receipt } => {
                    // Only for a stored message; a read is never undone by
                    // a later "delivered".
                    tx.prepare_cached(
                        "INSERT INTO receipts (message, user, read, at) \
                         SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?1) \
                         ON CONFLICT (message, user) DO UPDATE SET read = excluded.read, at = excluded.at \
                         WHERE excluded.read > receipts.read",
                    )?
                    .execute(params![
                        message.as_bytes(),
                        receipt.user.as_str(),
                        receipt.read,
                        to_i64(receipt.at.0)?
                    ])?;
                }
                Op::PutReaction { message, user, key } => {
                    tx.prepare_cached(
                        "INSERT INTO reactions (message, user, key) \
                         SELECT ?1, ?2, ?3 WHERE EXISTS (SELECT 1 FROM messages WHERE id = ?1) \
                         ON CONFLICT (message, user) DO UPDATE SET key = excluded.key",
                    )?
                    .execute(params![message.as_bytes(), user.as_str(), key])?;
                }
                Op::DeleteValue(key) => {
                    tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?.execute(params![key])?;
                }
                Op::SetReadMarker { room, message } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO read_markers (room, message) VALUES (?1, ?2)")?
                        .execute(params![room.as_bytes(), message.as_bytes()])?;
                }
                Op::PutValue { key, value } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")?
                        .execute(params![key, value])?;
                }
            }
        }
        if stored_messages {
            let waiting: i64 = tx.prepare_cached("SELECT count(*) FROM unindexed")?.query_row([], |r| r.get(0))?;
            if waiting >= INDEX_BATCH {
                index_pending(&tx)?;
            }
        }
        tx.commit()?;
        drop(conn);
        self.remove_files(&unlink)?;
        Ok(())
    }

    fn account(&self) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        Ok(conn.prepare_cached("SELECT pickle FROM account WHERE id = 1")?.query_row([], |r| r.get(0)).optional()?)
    }

    fn olm_sessions(&self, peer_user: &UserId, peer_device: &DeviceId) -> Result<Vec<(String, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT session_id, pickle FROM olm_sessions WHERE peer_user = ?1 AND peer_device = ?2 ORDER BY session_id",
        )?;
        let rows = stmt.query_map(params![peer_user.as_str(), peer_device.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn inbound_session(
        &self,
        sender: &UserId,
        sender_device: &DeviceId,
        session: &Ed25519Public,
    ) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        // A row from before sessions were keyed by sender has an empty one.
        let mut stmt = conn.prepare_cached(
            "SELECT pickle FROM inbound_sessions WHERE session = ?1 \
             AND ((sender = ?2 AND sender_device = ?3) OR sender = '') ORDER BY sender DESC LIMIT 1",
        )?;
        Ok(stmt
            .query_row(params![session.as_bytes(), sender.as_str(), sender_device.as_str()], |r| r.get(0))
            .optional()?)
    }

    fn inbound_sessions(&self, session: &Ed25519Public) -> Result<Vec<Vec<u8>>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT pickle FROM inbound_sessions WHERE session = ?1 LIMIT 64")?;
        let rows = stmt.query_map(params![session.as_bytes()], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn outbound_session(&self, room: &RoomId) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT pickle FROM outbound_sessions WHERE room = ?1")?;
        Ok(stmt.query_row(params![room.as_bytes()], |r| r.get(0)).optional()?)
    }

    fn seen(&self, session: &Ed25519Public, index: u32) -> Result<bool> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT 1 FROM seen_indices WHERE session = ?1 AND idx = ?2")?;
        Ok(stmt.exists(params![session.as_bytes(), index])?)
    }

    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        let conn = self.conn()?;
        let sql = concat!("SELECT ", message_columns!(), " FROM messages WHERE id = ?1");
        Ok(conn.prepare_cached(sql)?.query_row(params![id.as_bytes()], message_from).optional()?)
    }

    fn messages_by_id(&self, ids: &[MessageId]) -> Result<Vec<Option<StoredMessage>>> {
        let mut conn = self.conn()?;
        // One read transaction for all of them: each statement on its own
        // would begin and end one (shared-memory locks, two system calls).
        let tx = conn.transaction()?;
        let mut out = Vec::with_capacity(ids.len());
        {
            let sql = concat!("SELECT ", message_columns!(), " FROM messages WHERE id = ?1");
            let mut stmt = tx.prepare_cached(sql)?;
            for id in ids {
                out.push(stmt.query_row(params![id.as_bytes()], message_from).optional()?);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn messages(&self, room: &RoomId, limit: usize) -> Result<Vec<StoredMessage>> {
        let conn = self.conn()?;
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE room = ?1 ORDER BY sent_at DESC, id DESC LIMIT ?2"
        );
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![room.as_bytes(), i64::try_from(limit).unwrap_or(i64::MAX)], message_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn messages_before(
        &self,
        room: &RoomId,
        before: Option<(Timestamp, MessageId)>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let conn = self.conn()?;
        // Both walk the index on (room, sent_at, id), from the anchor on.
        match before {
            None => {
                let sql = concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE room = ?1 ORDER BY sent_at DESC, id DESC"
                );
                take_messages(&mut conn.prepare_cached(sql)?, params![room.as_bytes()], limit)
            }
            Some((at, id)) => {
                let sql = concat!(
                    "SELECT ",
                    message_columns!(),
                    " FROM messages WHERE room = ?1 AND (sent_at, id) < (?2, ?3) ORDER BY sent_at DESC, id DESC"
                );
                take_messages(
                    &mut conn.prepare_cached(sql)?,
                    params![room.as_bytes(), to_i64(at.0)?, id.as_bytes()],
                    limit,
                )
            }
        }
    }

    fn messages_after(
        &self,
        room: &RoomId,
        (at, id): (Timestamp, MessageId),
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let conn = self.conn()?;
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE room = ?1 AND (sent_at, id) > (?2, ?3) ORDER BY sent_at, id"
        );
        take_messages(&mut conn.prepare_cached(sql)?, params![room.as_bytes(), to_i64(at.0)?, id.as_bytes()], limit)
    }

    fn receipts(&self, message: &MessageId) -> Result<Vec<Receipt>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT user, read, at FROM receipts WHERE message = ?1 ORDER BY user")?;
        let bad = |what: &str| rusqlite::Error::InvalidColumnType(0, what.into(), rusqlite::types::Type::Text);
        let rows = stmt.query_map(params![message.as_bytes()], |r| {
            Ok(Receipt {
                user: UserId::new(r.get::<_, String>(0)?).map_err(|_| bad("user"))?,
                read: r.get(1)?,
                at: Timestamp(u64::try_from(r.get::<_, i64>(2)?).map_err(|_| bad("at"))?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn reactions(&self, message: &MessageId) -> Result<Vec<(UserId, String)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached("SELECT user, key FROM reactions WHERE message = ?1 ORDER BY user")?;
        let bad = |what: &str| rusqlite::Error::InvalidColumnType(0, what.into(), rusqlite::types::Type::Text);
        let rows = stmt.query_map(params![message.as_bytes()], |r| {
            Ok((UserId::new(r.get::<_, String>(0)?).map_err(|_| bad("user"))?, r.get(1)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn values_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let conn = self.conn()?;
        // A range on the primary key (no LIKE: its wildcards would be read
        // in the prefix): names from `prefix` up to the next prefix.
        let mut stmt = conn.prepare_cached("SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key")?;
        let rows = stmt.query_map(params![prefix], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (key, value) = row?;
            if !key.starts_with(prefix) {
                break;
            }
            out.push((key, value));
        }
        Ok(out)
    }

    fn unread_counts(&self, me: &UserId) -> Result<Vec<(RoomId, u64)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT room, count(*) FROM messages WHERE status = 5 AND sender != ?1 GROUP BY room ORDER BY room",
        )?;
        let rows = stmt.query_map(params![me.as_str()], |r| {
            Ok((RoomId(r.get::<_, [u8; 16]>(0)?), u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn unread_up_to(
        &self,
        room: &RoomId,
        me: &UserId,
        (at, id): (Timestamp, MessageId),
        limit: usize,
    ) -> Result<Vec<MessageId>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM messages WHERE room = ?1 AND status = 5 AND sender != ?4 AND (sent_at, id) <= (?2, ?3) \
             ORDER BY sent_at DESC, id DESC",
        )?;
        let rows = stmt.query_map(params![room.as_bytes(), to_i64(at.0)?, id.as_bytes(), me.as_str()], |r| {
            Ok(MessageId(r.get::<_, [u8; 16]>(0)?))
        })?;
        Ok(rows.take(limit).collect::<Result<_, _>>()?)
    }

    fn read_marker(&self, room: &RoomId) -> Result<Option<MessageId>> {
        let conn = self.conn()?;
        Ok(conn
            .prepare_cached("SELECT message FROM read_markers WHERE room = ?1")?
            .query_row(params![room.as_bytes()], |r| Ok(MessageId(r.get::<_, [u8; 16]>(0)?)))
            .optional()?)
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<StoredMessage>> {
        // Each term is one index token (letters and digits only), quoted:
        // user input is never parsed as FTS5 syntax.
        let terms = query_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let fts: String = terms.iter().map(|t| format!("\"{t}\"")).collect::<Vec<_>>().join(" AND ");
        let mut conn = self.conn()?;
        index_all(&mut conn)?;
        // Newest stored first, in the index's own rowid order: the LIMIT
        // stops the index scan early, and only the hits returned are read
        // (and decrypted) from the messages table.
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE seq IN \
             (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1 ORDER BY rowid DESC LIMIT ?2) \
             ORDER BY seq DESC"
        );
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![fts, i64::try_from(limit).unwrap_or(i64::MAX)], message_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn outbox(&self) -> Result<Vec<(MessageId, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(outbox_head_sql!())?;
        let rows = stmt.query_map([], |r| Ok((MessageId(r.get::<_, [u8; 16]>(0)?), r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn outbox_head(&self, limit: usize) -> Result<Vec<(MessageId, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare_cached(outbox_head_sql!())?;
        let rows = stmt.query_map([], |r| Ok((MessageId(r.get::<_, [u8; 16]>(0)?), r.get(1)?)))?;
        Ok(rows.take(limit).collect::<Result<_, _>>()?)
    }

    fn outbox_len(&self) -> Result<usize> {
        let n: i64 = self.conn()?.prepare_cached("SELECT count(*) FROM outbox")?.query_row([], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn inbox_cursor(&self) -> Result<u64> {
        let bytes = self.value(INBOX_CURSOR)?;
        match bytes {
            None => Ok(0),
            Some(b) => Ok(u64::from_be_bytes(
                b.try_into().map_err(|_| StoreError::Corrupt("inbox cursor is not 8 bytes".into()))?,
            )),
        }
    }

    fn value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.conn()?;
        Ok(conn
            .prepare_cached("SELECT value FROM kv WHERE key = ?1")?
            .query_row(params![key], |r| r.get(0))
            .optional()?)
    }

    fn waiting(&self) -> Result<Vec<(MessageId, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT id, message FROM waiting ORDER BY seq")?;
        let rows = stmt.query_map([], |r| Ok((MessageId(r.get::<_, [u8; 16]>(0)?), r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn put_alert(&self, at: Timestamp, alert: &[u8]) -> Result<u64> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.prepare_cached("INSERT INTO alerts (at, alert) VALUES (?1, ?2)")?.execute(params![to_i64(at.0)?, alert])?;
        let id = tx.last_insert_rowid();
        tx.prepare_cached("DELETE FROM alerts WHERE id <= ?1")?.execute(params![id - crate::MAX_ALERTS as i64])?;
        tx.commit()?;
        Ok(id.unsigned_abs())
    }

    fn dismiss_alert(&self, id: u64) -> Result<()> {
        let Ok(id) = i64::try_from(id) else { return Ok(()) };
        self.conn()?.prepare_cached("DELETE FROM alerts WHERE id = ?1")?.execute(params![id])?;
        Ok(())
    }

    fn alerts(&self) -> Result<Vec<(u64, Timestamp, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT id, at, alert FROM alerts ORDER BY id DESC")?;
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, i64>(0)?.unsigned_abs(), Timestamp(r.get::<_, i64>(1)?.unsigned_abs()), r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn rooms(&self) -> Result<Vec<(RoomId, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT id, record FROM rooms ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((RoomId(r.get::<_, [u8; 16]>(0)?), r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn attachment(&self, id: &BlobId) -> Result<Option<Attachment>> {
        let conn = self.conn()?;
        let sql = concat!("SELECT ", attachment_columns!(), " FROM attachments WHERE id = ?1");
        Ok(conn.prepare_cached(sql)?.query_row(params![id.as_bytes()], attachment_from).optional()?)
    }

    fn attachments_of(&self, message: &MessageId) -> Result<Vec<Attachment>> {
        let conn = self.conn()?;
        let sql = concat!("SELECT ", attachment_columns!(), " FROM attachments WHERE message = ?1 ORDER BY id");
        let mut stmt = conn.prepare_cached(sql)?;
        let rows = stmt.query_map(params![message.as_bytes()], attachment_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn write_attachment_file(&self, ciphertext: &mut dyn Read) -> Result<AttachmentFile> {
        let mut dir = fs::DirBuilder::new();
        dir.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
        dir.create(&self.files)?;
        let name = AttachmentFile::random();
        let path = self.files.join(name.as_str());
        let tmp = self.files.join(format!("{}.tmp", name.as_str()));
        let written = (|| {
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&tmp)?;
            io::copy(ciphertext, &mut file)?;
            file.flush()?;
            file.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e.into());
        }
        sync_dir(&self.files)?;
        Ok(name)
    }

    fn open_attachment(&self, id: &BlobId) -> Result<Option<Box<dyn Read + Send>>> {
        Ok(match self.attachment(id)?.map(|mut a| std::mem::replace(&mut a.data, AttachmentData::Remote)) {
            None | Some(AttachmentData::Remote) => None,
            Some(AttachmentData::Inline(bytes)) => Some(Box::new(io::Cursor::new(bytes))),
            Some(AttachmentData::File(f)) => Some(Box::new(fs::File::open(self.files.join(f.as_str()))?)),
        })
    }

    fn purge_expired(&self, now: Timestamp) -> Result<PurgeReport> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let expired: Vec<MessageId> = tx
            .prepare_cached("SELECT id FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?1")?
            .query_map(params![to_i64(now.0)?], |r| Ok(MessageId(r.get(0)?)))?
            .collect::<Result<_, _>>()?;
        let mut report = PurgeReport::default();
        let mut unlink = Vec::new();
        for id in &expired {
            unlink.extend(delete_message(&tx, id, &mut report)?);
        }
        tx.commit()?;
        if report.messages > 0 {
            // Move the deleted pages out of the WAL into the database file
            // (where secure_delete has zeroed them) and truncate the WAL.
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        }
        drop(conn);
        report.files = self.remove_files(&unlink)?;
        Ok(report)
    }
}
