//! One test suite for every store implementation (feature `testing`).
//!
//! `store_test_suite!(module_name, backend_expression)` instantiates every
//! test below against a [`Backend`]; each test opens the store, and several
//! close it and open it again to check what survived.

// Test support: a failed fixture should stop the test loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::{Batch, MessageStatus, Op, Store, StoredMessage};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::{DeviceId, Ed25519Public, MessageId, RoomId, UserId};
use std::sync::Arc;

/// Opens a store; opening again after the previous handle is dropped is
/// "close and reopen".
pub trait Backend {
    /// A fresh handle on the same data.
    fn open(&self) -> Arc<dyn Store>;
}

/// The in-memory store (reopening returns the same data).
#[derive(Debug, Default)]
pub struct Memory(Arc<crate::MemoryStore>);

impl Backend for Memory {
    fn open(&self) -> Arc<dyn Store> {
        self.0.clone()
    }
}

/// A SQLCipher store in a temporary directory with a random key.
#[derive(Debug)]
pub struct Sql {
    /// The directory (deleted on drop).
    pub dir: tempfile::TempDir,
    /// The key.
    pub key: crate::StoreKey,
}

impl Sql {
    /// A new empty database.
    pub fn new() -> Self {
        match tempfile::tempdir() {
            Ok(dir) => Self { dir, key: crate::StoreKey::random() },
            Err(e) => panic!("temp dir: {e}"),
        }
    }

    /// The database file.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("belfry.db")
    }
}

impl Default for Sql {
    fn default() -> Self {
        Self::new()
    }
}

impl Backend for Sql {
    fn open(&self) -> Arc<dyn Store> {
        match crate::SqlStore::open(&self.path(), &self.key) {
            Ok(s) => Arc::new(s),
            Err(e) => panic!("open: {e}"),
        }
    }
}

/// Instantiates the suite: `store_test_suite!(sql, belfry_store::testing::Sql::new());`
#[macro_export]
macro_rules! store_test_suite {
    ($name:ident, $backend:expr) => {
        mod $name {
            use $crate::testing::*;
            #[test]
            fn empty_store_reads_empty() {
                empty_store_reads_empty_with(&$backend)
            }
            #[test]
            fn a_batch_commits_everything_and_survives_reopen() {
                a_batch_commits_everything_and_survives_reopen_with(&$backend)
            }
            #[test]
            fn a_failed_batch_changes_nothing() {
                a_failed_batch_changes_nothing_with(&$backend)
            }
            #[test]
            fn messages_come_newest_first_with_status() {
                messages_come_newest_first_with_status_with(&$backend)
            }
            #[test]
            fn search_finds_words_and_follows_changes() {
                search_finds_words_and_follows_changes_with(&$backend)
            }
            #[test]
            fn outbox_is_ordered_and_idempotent() {
                outbox_is_ordered_and_idempotent_with(&$backend)
            }
            #[test]
            fn expired_messages_are_purged() {
                expired_messages_are_purged_with(&$backend)
            }
        }
    };
}

fn user(s: &str) -> UserId {
    match UserId::new(s) {
        Ok(u) => u,
        Err(e) => panic!("{e}"),
    }
}

/// A message fixture.
pub fn message(n: u8, room: u8, body: &str, sent_at: u64) -> StoredMessage {
    StoredMessage {
        id: MessageId([n; 16]),
        room: RoomId([room; 16]),
        sender: user("alice"),
        sent_at: Timestamp(sent_at),
        status: MessageStatus::Received,
        body: body.into(),
        expires_at: None,
    }
}

#[allow(missing_docs)]
pub fn empty_store_reads_empty_with(b: &dyn Backend) {
    let s = b.open();
    assert_eq!(s.account().ok(), Some(None));
    assert_eq!(s.inbox_cursor().ok(), Some(0));
    assert_eq!(s.outbox().ok().map(|v| v.len()), Some(0));
    assert_eq!(s.search("anything", 10).ok().map(|v| v.len()), Some(0));
    assert_eq!(s.seen(&Ed25519Public([1; 32]), 0).ok(), Some(false));
}

#[allow(missing_docs)]
pub fn a_batch_commits_everything_and_survives_reopen_with(b: &dyn Backend) {
    let (bob, dev) = (user("bob"), DeviceId::new("BOBDEV").ok());
    let Some(dev) = dev else { panic!("device id") };
    let session = Ed25519Public([7; 32]);
    let batch = Batch::new()
        .with(Op::PutAccount(b"account pickle".to_vec()))
        .with(Op::PutOlmSession {
            peer_user: bob.clone(),
            peer_device: dev.clone(),
            session_id: "s1".into(),
            pickle: vec![1],
        })
        .with(Op::PutInboundSession { session, room: RoomId([1; 16]), pickle: vec![2] })
        .with(Op::PutOutboundSession { room: RoomId([1; 16]), pickle: vec![3] })
        .with(Op::MarkSeen { session, index: 4 })
        .with(Op::PutMessage(message(1, 1, "decrypted text", 10)))
        .with(Op::SetInboxCursor(42))
        .with(Op::PutValue { key: "directory".into(), value: vec![5] });
    assert!(b.open().commit(batch).is_ok());
    // Close (drop every handle) and reopen.
    let s = b.open();
    assert_eq!(s.account().ok().flatten(), Some(b"account pickle".to_vec()));
    assert_eq!(s.olm_sessions(&bob, &dev).ok(), Some(vec![("s1".to_string(), vec![1])]));
    assert_eq!(s.inbound_session(&session).ok().flatten(), Some(vec![2]));
    assert_eq!(s.outbound_session(&RoomId([1; 16])).ok().flatten(), Some(vec![3]));
    assert_eq!(s.seen(&session, 4).ok(), Some(true));
    assert_eq!(s.seen(&session, 5).ok(), Some(false));
    assert_eq!(s.message(&MessageId([1; 16])).ok().flatten(), Some(message(1, 1, "decrypted text", 10)));
    assert_eq!(s.inbox_cursor().ok(), Some(42));
    assert_eq!(s.value("directory").ok().flatten(), Some(vec![5]));
}

#[allow(missing_docs)]
pub fn a_failed_batch_changes_nothing_with(b: &dyn Backend) {
    let s = b.open();
    let mut bad = message(2, 1, "never stored", 10);
    bad.sent_at = Timestamp(u64::MAX);
    let batch = Batch::new()
        .with(Op::PutAccount(b"ratchet advanced".to_vec()))
        .with(Op::SetInboxCursor(9))
        .with(Op::PutMessage(bad));
    assert!(s.commit(batch).is_err());
    drop(s);
    let s = b.open();
    assert_eq!(s.account().ok(), Some(None), "ratchet state committed without its message");
    assert_eq!(s.inbox_cursor().ok(), Some(0), "cursor moved without its message");
}

#[allow(missing_docs)]
pub fn messages_come_newest_first_with_status_with(b: &dyn Backend) {
    let s = b.open();
    let mut batch = Batch::new();
    for i in 0..5u8 {
        batch.push(Op::PutMessage(message(i, 1, &format!("m{i}"), u64::from(i) * 10)));
    }
    batch.push(Op::PutMessage(message(9, 2, "other room", 100)));
    batch.push(Op::SetStatus { id: MessageId([3; 16]), status: MessageStatus::Read });
    assert!(s.commit(batch).is_ok());
    let got = s.messages(&RoomId([1; 16]), 3).unwrap_or_default();
    let ids: Vec<u8> = got.iter().map(|m| m.id.0[0]).collect();
    assert_eq!(ids, vec![4, 3, 2]);
    assert_eq!(got[1].status, MessageStatus::Read);
}

#[allow(missing_docs)]
pub fn search_finds_words_and_follows_changes_with(b: &dyn Backend) {
    let s = b.open();
    let batch = Batch::new()
        .with(Op::PutMessage(message(1, 1, "The embassy meeting is moved", 10)))
        .with(Op::PutMessage(message(2, 1, "Budget draft attached", 20)))
        .with(Op::PutMessage(message(3, 2, "Meeting notes from the embassy", 30)));
    assert!(s.commit(batch).is_ok());
    let ids = |q: &str| -> Vec<u8> { s.search(q, 10).unwrap_or_default().iter().map(|m| m.id.0[0]).collect() };
    assert_eq!(ids("embassy meeting"), vec![3, 1]);
    assert_eq!(ids("BUDGET"), vec![2]);
    assert_eq!(ids("nothing-like-this"), Vec::<u8>::new());
    // FTS syntax in user input is just text.
    assert_eq!(ids("\"embassy\" OR budget*"), Vec::<u8>::new());
    // An edit replaces the searchable text.
    assert!(s.commit(Batch::new().with(Op::PutMessage(message(2, 1, "Final figures attached", 20)))).is_ok());
    assert_eq!(ids("budget"), Vec::<u8>::new());
    assert_eq!(ids("figures"), vec![2]);
}

#[allow(missing_docs)]
pub fn outbox_is_ordered_and_idempotent_with(b: &dyn Backend) {
    let s = b.open();
    let q = |id: u8, at: u64| Op::Enqueue { id: MessageId([id; 16]), payload: vec![id], queued: Timestamp(at) };
    assert!(s.commit(Batch::new().with(q(2, 20)).with(q(1, 10)).with(q(3, 30))).is_ok());
    // Re-queuing the same id keeps the original (a retry is not a new message).
    assert!(
        s.commit(Batch::new().with(Op::Enqueue { id: MessageId([1; 16]), payload: vec![99], queued: Timestamp(40) }))
            .is_ok()
    );
    assert!(s.commit(Batch::new().with(Op::Dequeue(MessageId([2; 16])))).is_ok());
    drop(s);
    let got = b.open().outbox().unwrap_or_default();
    assert_eq!(got, vec![(MessageId([1; 16]), vec![1]), (MessageId([3; 16]), vec![3])]);
}

#[allow(missing_docs)]
pub fn expired_messages_are_purged_with(b: &dyn Backend) {
    let s = b.open();
    let mut gone = message(1, 1, "disappearing secret", 10);
    gone.expires_at = Some(Timestamp(100));
    let mut later = message(2, 1, "disappearing later", 10);
    later.expires_at = Some(Timestamp(1000));
    let kept = message(3, 1, "kept forever", 10);
    assert!(
        s.commit(Batch::new().with(Op::PutMessage(gone)).with(Op::PutMessage(later)).with(Op::PutMessage(kept)))
            .is_ok()
    );
    assert_eq!(s.purge_expired(Timestamp(100)).ok(), Some(1));
    assert_eq!(s.message(&MessageId([1; 16])).ok(), Some(None));
    assert_eq!(s.search("secret", 10).ok().map(|v| v.len()), Some(0), "purged text still searchable");
    assert_eq!(s.search("disappearing", 10).ok().map(|v| v.len()), Some(1));
}
