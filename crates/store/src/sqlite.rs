//! The SQLCipher store.

use crate::error::{Result, StoreError};
use crate::key::StoreKey;
use crate::{Batch, MessageStatus, Op, Store, StoredMessage, query_terms};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::{DeviceId, Ed25519Public, MessageId, RoomId, UserId};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use std::fmt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

/// Numbered migrations, applied in order in one transaction.
const MIGRATIONS: &[&str] = &[include_str!("../migrations/001_initial.sql")];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

const INBOX_CURSOR: &str = "inbox_cursor";

/// A SQLCipher database holding one profile's data.
pub struct SqlStore {
    conn: Mutex<Connection>,
    path: String,
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
        Self::open_inner(path, Some(key))
    }

    /// The same database without encryption: the benchmark's baseline.
    /// Only with the `testing` feature; never in a shipped build.
    #[cfg(feature = "testing")]
    pub fn open_unencrypted_baseline(path: &Path) -> Result<Self> {
        Self::open_inner(path, None)
    }

    fn open_inner(path: &Path, key: Option<&StoreKey>) -> Result<Self> {
        let shown = path.display().to_string();
        let conn = Connection::open(path)?;
        if let Some(key) = key {
            // Keying writes nothing; the first read proves the key.
            conn.execute_batch(&format!("PRAGMA key = \"{}\";", key.sqlcipher_literal().as_str()))?;
            conn.pragma_update(None, "cipher_memory_security", "ON")?;
        }
        if conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0)).is_err() {
            return Err(StoreError::WrongKey { path: shown });
        }
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        let store = Self { conn: Mutex::new(conn), path: shown };
        store.migrate()?;
        Ok(store)
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>> {
        self.conn.lock().map_err(|_| StoreError::Corrupt("a previous store operation panicked".into()))
    }

    fn migrate(&self) -> Result<()> {
        let mut conn = self.conn()?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema { found, supported: SCHEMA_VERSION });
        }
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
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

    /// Test support: pretend a newer build wrote this database.
    #[cfg(feature = "testing")]
    pub fn set_user_version_for_tests(&self, version: i64) -> Result<()> {
        self.conn()?.pragma_update(None, "user_version", version)?;
        Ok(())
    }

    /// Re-encrypts the whole database under a new key (`PRAGMA rekey`).
    /// The caller stores the new key (keychain) after this returns.
    pub fn rekey(&self, new: &StoreKey) -> Result<()> {
        let conn = self.conn()?;
        conn.execute_batch(&format!("PRAGMA rekey = \"{}\";", new.sqlcipher_literal().as_str()))?;
        Ok(())
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
    })
}

/// The message columns, in `message_from` order (a macro so every query
/// stays a string literal: SQL is never built from data).
macro_rules! message_columns {
    () => {
        "id, room, sender, sent_at, status, body, expires_at"
    };
}

impl Store for SqlStore {
    fn commit(&self, batch: Batch) -> Result<()> {
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for op in batch.0 {
            crate::check(&op)?;
            match op {
                Op::PutAccount(pickle) => {
                    tx.prepare_cached("INSERT OR REPLACE INTO account (id, pickle) VALUES (1, ?1)")?
                        .execute(params![pickle])?;
                }
                Op::PutOlmSession { peer_user, peer_device, session_id, pickle } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO olm_sessions (peer_user, peer_device, session_id, pickle) VALUES (?1, ?2, ?3, ?4)")?.execute(
                        params![peer_user.as_str(), peer_device.as_str(), session_id, pickle],
                    )?;
                }
                Op::PutInboundSession { session, room, pickle } => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO inbound_sessions (session, room, pickle) VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![session.as_bytes(), room.as_bytes(), pickle])?;
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
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO messages (id, room, sender, sent_at, status, body, expires_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    )?
                    .execute(params![
                        m.id.as_bytes(),
                        m.room.as_bytes(),
                        m.sender.as_str(),
                        to_i64(m.sent_at.0)?,
                        m.status.code(),
                        m.body,
                        m.expires_at.map(|t| to_i64(t.0)).transpose()?
                    ])?;
                }
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
                Op::PutValue { key, value } => {
                    tx.prepare_cached("INSERT OR REPLACE INTO kv (key, value) VALUES (?1, ?2)")?
                        .execute(params![key, value])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn account(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.conn()?.query_row("SELECT pickle FROM account WHERE id = 1", [], |r| r.get(0)).optional()?)
    }

    fn olm_sessions(&self, peer_user: &UserId, peer_device: &DeviceId) -> Result<Vec<(String, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT session_id, pickle FROM olm_sessions WHERE peer_user = ?1 AND peer_device = ?2 ORDER BY session_id",
        )?;
        let rows = stmt.query_map(params![peer_user.as_str(), peer_device.as_str()], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn inbound_session(&self, session: &Ed25519Public) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()?
            .query_row("SELECT pickle FROM inbound_sessions WHERE session = ?1", params![session.as_bytes()], |r| {
                r.get(0)
            })
            .optional()?)
    }

    fn outbound_session(&self, room: &RoomId) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()?
            .query_row("SELECT pickle FROM outbound_sessions WHERE room = ?1", params![room.as_bytes()], |r| r.get(0))
            .optional()?)
    }

    fn seen(&self, session: &Ed25519Public, index: u32) -> Result<bool> {
        Ok(self
            .conn()?
            .query_row(
                "SELECT 1 FROM seen_indices WHERE session = ?1 AND idx = ?2",
                params![session.as_bytes(), index],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        let conn = self.conn()?;
        let sql = concat!("SELECT ", message_columns!(), " FROM messages WHERE id = ?1");
        Ok(conn.query_row(sql, params![id.as_bytes()], message_from).optional()?)
    }

    fn messages(&self, room: &RoomId, limit: usize) -> Result<Vec<StoredMessage>> {
        let conn = self.conn()?;
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE room = ?1 ORDER BY sent_at DESC, id DESC LIMIT ?2"
        );
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params![room.as_bytes(), i64::try_from(limit).unwrap_or(i64::MAX)], message_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<StoredMessage>> {
        // Each word becomes a quoted FTS5 string, so user input is never
        // parsed as FTS5 syntax.
        let terms = query_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let fts: String =
            terms.iter().map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect::<Vec<_>>().join(" AND ");
        let conn = self.conn()?;
        let sql = concat!(
            "SELECT ",
            message_columns!(),
            " FROM messages WHERE rowid IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?1) \
             ORDER BY sent_at DESC, id DESC LIMIT ?2"
        );
        let mut stmt = conn.prepare(sql)?;
        let rows = stmt.query_map(params![fts, i64::try_from(limit).unwrap_or(i64::MAX)], message_from)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn outbox(&self) -> Result<Vec<(MessageId, Vec<u8>)>> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare("SELECT id, payload FROM outbox ORDER BY queued, id")?;
        let rows = stmt.query_map([], |r| Ok((MessageId(r.get::<_, [u8; 16]>(0)?), r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn inbox_cursor(&self) -> Result<u64> {
        let bytes: Option<Vec<u8>> = self
            .conn()?
            .query_row("SELECT value FROM kv WHERE key = ?1", params![INBOX_CURSOR], |r| r.get(0))
            .optional()?;
        match bytes {
            None => Ok(0),
            Some(b) => Ok(u64::from_be_bytes(
                b.try_into().map_err(|_| StoreError::Corrupt("inbox cursor is not 8 bytes".into()))?,
            )),
        }
    }

    fn value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.conn()?.query_row("SELECT value FROM kv WHERE key = ?1", params![key], |r| r.get(0)).optional()?)
    }

    fn purge_expired(&self, now: Timestamp) -> Result<usize> {
        let conn = self.conn()?;
        Ok(conn.execute(
            "DELETE FROM messages WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            params![to_i64(now.0)?],
        )?)
    }
}
