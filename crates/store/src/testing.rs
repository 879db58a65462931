//! One test suite for every store implementation (feature `testing`).
//!
//! `store_test_suite!(module_name, backend_expression)` instantiates every
//! test below against a [`Backend`]; each test opens the store, and several
//! close it and open it again to check what survived.

// Test support: a failed fixture should stop the test loudly.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::{Attachment, AttachmentData, Batch, MessageStatus, Op, PurgeReport, Store, StoreError, StoredMessage};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::{BlobId, DeviceId, Ed25519Public, Hash256, MessageId, RoomId, UserId};
use std::io::Read;
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
            fn inbound_sessions_with_one_id_from_two_senders_are_both_kept() {
                inbound_sessions_with_one_id_from_two_senders_are_both_kept_with(&$backend)
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
            #[test]
            fn purge_deletes_text_attachments_and_files() {
                purge_deletes_text_attachments_and_files_with(&$backend)
            }
            #[test]
            fn attachments_round_trip_and_survive_reopen() {
                attachments_round_trip_and_survive_reopen_with(&$backend)
            }
            #[test]
            fn an_attachment_without_its_message_or_file_is_refused() {
                an_attachment_without_its_message_or_file_is_refused_with(&$backend)
            }
            #[test]
            fn deleting_a_message_deletes_its_text_and_attachments() {
                deleting_a_message_deletes_its_text_and_attachments_with(&$backend)
            }
            #[test]
            fn search_returns_the_latest_stored_first() {
                search_returns_the_latest_stored_first_with(&$backend)
            }
            #[test]
            fn timeline_pages_replies_edits_and_unread() {
                timeline_pages_replies_edits_and_unread_with(&$backend)
            }
            #[test]
            fn receipts_only_move_forward_and_leave_with_their_message() {
                receipts_only_move_forward_and_leave_with_their_message_with(&$backend)
            }
            #[test]
            fn reactions_replace_per_member_and_leave_with_their_message() {
                reactions_replace_per_member_and_leave_with_their_message_with(&$backend)
            }
            #[test]
            fn alerts_are_kept_newest_first_bounded_and_dismissed() {
                $crate::testing::alerts_are_kept_newest_first_bounded_and_dismissed_with(&$backend);
            }
            #[test]
            fn punctuation_in_a_query_is_just_a_separator() {
                punctuation_in_a_query_is_just_a_separator_with(&$backend)
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
        reply_to: None,
        edited: false,
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
pub fn inbound_sessions_with_one_id_from_two_senders_are_both_kept_with(b: &dyn Backend) {
    let (Some(one), Some(two)) = (DeviceId::new("ONE").ok(), DeviceId::new("TWO").ok()) else { panic!("device id") };
    let (alice, mallory) = (user("alice"), user("mallory"));
    let session = Ed25519Public([7; 32]);
    let put = |sender: &UserId, device: &DeviceId, pickle: u8| Op::PutInboundSession {
        sender: sender.clone(),
        sender_device: device.clone(),
        session,
        room: RoomId([1; 16]),
        pickle: vec![pickle],
    };
    assert!(b.open().commit(Batch::new().with(put(&mallory, &two, 2)).with(put(&alice, &one, 1))).is_ok());
    let s = b.open();
    assert_eq!(s.inbound_session(&alice, &one, &session).ok().flatten(), Some(vec![1]));
    assert_eq!(s.inbound_session(&mallory, &two, &session).ok().flatten(), Some(vec![2]));
    assert_eq!(s.inbound_session(&alice, &two, &session).ok().flatten(), None);
    let mut all = s.inbound_sessions(&session).unwrap_or_default();
    all.sort();
    assert_eq!(all, vec![vec![1], vec![2]]);
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
        .with(Op::PutInboundSession {
            sender: bob.clone(),
            sender_device: dev.clone(),
            session,
            room: RoomId([1; 16]),
            pickle: vec![2],
        })
        .with(Op::PutOutboundSession { room: RoomId([1; 16]), pickle: vec![3] })
        .with(Op::MarkSeen { session, index: 4 })
        .with(Op::PutMessage(message(1, 1, "decrypted text", 10)))
        .with(Op::SetInboxCursor(42))
        .with(Op::PutValue { key: "directory".into(), value: vec![5] })
        .with(Op::PutRoom { room: RoomId([2; 16]), record: vec![6] })
        .with(Op::PutRoom { room: RoomId([1; 16]), record: vec![7] })
        .with(Op::PutRoom { room: RoomId([2; 16]), record: vec![8] })
        .with(Op::PutWaiting { id: MessageId([9; 16]), message: vec![9] })
        .with(Op::PutWaiting { id: MessageId([3; 16]), message: vec![3] })
        .with(Op::PutWaiting { id: MessageId([5; 16]), message: vec![5] })
        .with(Op::PutWaiting { id: MessageId([9; 16]), message: vec![0] })
        .with(Op::DeleteWaiting(MessageId([3; 16])));
    assert!(b.open().commit(batch).is_ok());
    // Close (drop every handle) and reopen.
    let s = b.open();
    assert_eq!(s.account().ok().flatten(), Some(b"account pickle".to_vec()));
    assert_eq!(s.olm_sessions(&bob, &dev).ok(), Some(vec![("s1".to_string(), vec![1])]));
    assert_eq!(s.inbound_session(&bob, &dev, &session).ok().flatten(), Some(vec![2]));
    assert_eq!(s.outbound_session(&RoomId([1; 16])).ok().flatten(), Some(vec![3]));
    assert_eq!(s.seen(&session, 4).ok(), Some(true));
    assert_eq!(s.seen(&session, 5).ok(), Some(false));
    assert_eq!(s.message(&MessageId([1; 16])).ok().flatten(), Some(message(1, 1, "decrypted text", 10)));
    assert_eq!(s.inbox_cursor().ok(), Some(42));
    assert_eq!(s.value("directory").ok().flatten(), Some(vec![5]));
    // One row per room, the latest record, in room id order.
    assert_eq!(s.rooms().ok(), Some(vec![(RoomId([1; 16]), vec![7]), (RoomId([2; 16]), vec![8])]));
    // Waiting messages in arrival order; a repeated id keeps its place and
    // its first bytes.
    assert_eq!(s.waiting().ok(), Some(vec![(MessageId([9; 16]), vec![9]), (MessageId([5; 16]), vec![5])]));
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
    // Several by id at once: in the order asked, `None` for an unknown id.
    let ids = [MessageId([3; 16]), MessageId([7; 16]), MessageId([9; 16]), MessageId([3; 16])];
    let found = s.messages_by_id(&ids).unwrap_or_default();
    let found: Vec<Option<(u8, MessageStatus)>> =
        found.iter().map(|m| m.as_ref().map(|m| (m.id.0[0], m.status))).collect();
    assert_eq!(
        found,
        vec![Some((3, MessageStatus::Read)), None, Some((9, MessageStatus::Received)), Some((3, MessageStatus::Read))]
    );
    assert_eq!(s.messages_by_id(&[]).ok(), Some(Vec::new()));
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
    // Timestamps say nothing about the order: a clock can go back (a
    // restart after a busy run stamped ahead of it). Queue order is kept.
    let q = |id: u8, at: u64| Op::Enqueue { id: MessageId([id; 16]), payload: vec![id], queued: Timestamp(at) };
    assert!(s.commit(Batch::new().with(q(2, 30)).with(q(1, 20)).with(q(3, 10))).is_ok());
    // Re-queuing the same id keeps the original (a retry is not a new message).
    assert!(
        s.commit(Batch::new().with(Op::Enqueue { id: MessageId([1; 16]), payload: vec![99], queued: Timestamp(40) }))
            .is_ok()
    );
    assert!(s.commit(Batch::new().with(Op::Dequeue(MessageId([2; 16])))).is_ok());
    drop(s);
    let s = b.open();
    let got = s.outbox().unwrap_or_default();
    assert_eq!(got, vec![(MessageId([1; 16]), vec![1]), (MessageId([3; 16]), vec![3])]);
    // The head of the queue, and its length, agree with the whole.
    assert_eq!(s.outbox_head(1).unwrap_or_default(), vec![(MessageId([1; 16]), vec![1])]);
    assert_eq!(s.outbox_head(10).unwrap_or_default(), got);
    assert_eq!(s.outbox_len().ok(), Some(2));
    // After a reopen, and once the outbox was empty, a new item with an
    // earlier stamp still goes last.
    assert!(s.commit(Batch::new().with(Op::Dequeue(MessageId([1; 16]))).with(Op::Dequeue(MessageId([3; 16])))).is_ok());
    assert!(s.commit(Batch::new().with(q(5, 50))).is_ok());
    drop(s);
    let s = b.open();
    assert!(s.commit(Batch::new().with(q(4, 1))).is_ok());
    let got: Vec<MessageId> = s.outbox().unwrap_or_default().into_iter().map(|(id, _)| id).collect();
    assert_eq!(got, vec![MessageId([5; 16]), MessageId([4; 16])]);
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
    assert_eq!(s.purge_expired(Timestamp(100)).ok(), Some(PurgeReport { messages: 1, attachments: 0, files: 0 }));
    assert_eq!(s.message(&MessageId([1; 16])).ok(), Some(None));
    assert_eq!(s.search("secret", 10).ok().map(|v| v.len()), Some(0), "purged text still searchable");
    assert_eq!(s.search("disappearing", 10).ok().map(|v| v.len()), Some(1));
}

/// An attachment fixture.
pub fn attachment(n: u8, message: u8, name: &str, data: AttachmentData) -> Attachment {
    Attachment {
        id: BlobId([n; 16]),
        message: MessageId([message; 16]),
        name: name.into(),
        mime: "application/pdf".into(),
        size: 1234,
        key: vec![n; 32],
        sha256: Hash256([n; 32]),
        data,
    }
}

fn read_all(s: &dyn Store, id: u8) -> Option<Vec<u8>> {
    let mut reader = s.open_attachment(&BlobId([id; 16])).unwrap()?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    Some(out)
}

#[allow(missing_docs)]
pub fn attachments_round_trip_and_survive_reopen_with(b: &dyn Backend) {
    let s = b.open();
    let file = s.write_attachment_file(&mut &b"file ciphertext"[..]).unwrap();
    let on_disk = attachment(1, 1, "report.pdf", AttachmentData::File(file));
    let inline = attachment(2, 1, "thumb.jpg", AttachmentData::Inline(b"inline ciphertext".to_vec()));
    let remote = attachment(3, 1, "video.mp4", AttachmentData::Remote);
    s.commit(
        Batch::new()
            .with(Op::PutMessage(message(1, 1, "see attached", 10)))
            .with(Op::PutAttachment(on_disk.clone()))
            .with(Op::PutAttachment(inline.clone()))
            .with(Op::PutAttachment(remote.clone())),
    )
    .unwrap();
    // An edit of the message keeps its attachments.
    s.commit(Batch::new().with(Op::PutMessage(message(1, 1, "see attached (edited)", 10)))).unwrap();
    drop(s);
    let s = b.open();
    assert_eq!(s.attachment(&BlobId([1; 16])).unwrap(), Some(on_disk.clone()));
    assert_eq!(s.attachments_of(&MessageId([1; 16])).unwrap(), vec![on_disk, inline, remote]);
    assert_eq!(read_all(&*s, 1).as_deref(), Some(&b"file ciphertext"[..]));
    assert_eq!(read_all(&*s, 2).as_deref(), Some(&b"inline ciphertext"[..]));
    assert_eq!(read_all(&*s, 3), None, "a remote attachment has no local content");
    assert_eq!(read_all(&*s, 4), None);
}

#[allow(missing_docs)]
pub fn an_attachment_without_its_message_or_file_is_refused_with(b: &dyn Backend) {
    let s = b.open();
    let orphan = attachment(1, 9, "orphan.pdf", AttachmentData::Inline(vec![1]));
    let err = s.commit(Batch::new().with(Op::SetInboxCursor(5)).with(Op::PutAttachment(orphan))).unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(s.inbox_cursor().unwrap(), 0, "a refused batch was partly applied");
    // A well-formed file name the store never wrote.
    s.commit(Batch::new().with(Op::PutMessage(message(1, 1, "m", 1)))).unwrap();
    let never_written = crate::AttachmentFile::parse("0123456789abcdef0123456789abcdef").unwrap();
    let err = s
        .commit(Batch::new().with(Op::PutAttachment(attachment(1, 1, "a", AttachmentData::File(never_written)))))
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(s.attachment(&BlobId([1; 16])).unwrap(), None);
}

#[allow(missing_docs)]
pub fn purge_deletes_text_attachments_and_files_with(b: &dyn Backend) {
    let s = b.open();
    let mut gone = message(1, 1, "vanishing dossier", 10);
    gone.expires_at = Some(Timestamp(100));
    let kept = message(2, 1, "permanent dossier", 10);
    let file = s.write_attachment_file(&mut &b"secret scan"[..]).unwrap();
    let kept_file = s.write_attachment_file(&mut &b"kept scan"[..]).unwrap();
    s.commit(
        Batch::new()
            .with(Op::PutMessage(gone))
            .with(Op::PutMessage(kept))
            .with(Op::PutAttachment(attachment(1, 1, "scan.pdf", AttachmentData::File(file))))
            .with(Op::PutAttachment(attachment(2, 1, "thumb.jpg", AttachmentData::Inline(vec![7; 10]))))
            .with(Op::PutAttachment(attachment(3, 2, "kept.pdf", AttachmentData::File(kept_file)))),
    )
    .unwrap();
    assert_eq!(s.purge_expired(Timestamp(99)).unwrap(), PurgeReport::default(), "purged before its time");
    assert_eq!(s.purge_expired(Timestamp(100)).unwrap(), PurgeReport { messages: 1, attachments: 2, files: 1 });
    drop(s);
    let s = b.open();
    assert_eq!(s.message(&MessageId([1; 16])).unwrap(), None);
    assert_eq!(s.search("vanishing", 10).unwrap(), vec![]);
    assert_eq!(s.search("dossier", 10).unwrap().len(), 1);
    assert_eq!(s.attachments_of(&MessageId([1; 16])).unwrap(), vec![]);
    assert_eq!(read_all(&*s, 1), None);
    assert_eq!(read_all(&*s, 3).as_deref(), Some(&b"kept scan"[..]));
}

#[allow(missing_docs)]
pub fn deleting_a_message_deletes_its_text_and_attachments_with(b: &dyn Backend) {
    let s = b.open();
    let file = s.write_attachment_file(&mut &b"ciphertext"[..]).unwrap();
    s.commit(
        Batch::new()
            .with(Op::PutMessage(message(1, 1, "retracted statement", 10)))
            .with(Op::PutMessage(message(2, 1, "other statement", 20)))
            .with(Op::PutAttachment(attachment(1, 1, "draft.pdf", AttachmentData::File(file)))),
    )
    .unwrap();
    s.commit(Batch::new().with(Op::DeleteMessage(MessageId([1; 16]))).with(Op::DeleteMessage(MessageId([9; 16]))))
        .unwrap();
    drop(s);
    let s = b.open();
    assert_eq!(s.message(&MessageId([1; 16])).unwrap(), None);
    assert_eq!(s.search("retracted", 10).unwrap(), vec![]);
    assert_eq!(s.search("statement", 10).unwrap().len(), 1);
    assert_eq!(s.attachment(&BlobId([1; 16])).unwrap(), None);
    assert_eq!(read_all(&*s, 1), None);
    // The id can be used again, and the new text is found.
    s.commit(Batch::new().with(Op::PutMessage(message(1, 1, "restated", 30)))).unwrap();
    assert_eq!(s.search("restated", 10).unwrap().len(), 1);
}

#[allow(missing_docs)]
pub fn punctuation_in_a_query_is_just_a_separator_with(b: &dyn Backend) {
    let s = b.open();
    s.commit(
        Batch::new()
            .with(Op::PutMessage(message(1, 1, "Re: the e-mail from the ministry", 10)))
            .with(Op::PutMessage(message(2, 1, "mail me the minutes", 20))),
    )
    .unwrap();
    let ids = |q: &str| -> Vec<u8> { s.search(q, 10).unwrap().iter().map(|m| m.id.0[0]).collect() };
    assert_eq!(ids("e-mail"), vec![1]);
    assert_eq!(ids("RE: ministry!"), vec![1]);
    assert_eq!(ids("mail"), vec![2, 1]);
    assert_eq!(ids("\"unbalanced"), Vec::<u8>::new());
    assert_eq!(ids("NEAR(mail minutes)"), Vec::<u8>::new(), "FTS5 operators are words here");
    assert_eq!(ids("***"), Vec::<u8>::new());
}

#[allow(missing_docs)]
pub fn search_returns_the_latest_stored_first_with(b: &dyn Backend) {
    let s = b.open();
    s.commit(Batch::new().with(Op::PutMessage(message(1, 1, "cable one", 50)))).unwrap();
    // Arrives later with an older timestamp (a backlog after a week offline).
    s.commit(Batch::new().with(Op::PutMessage(message(2, 1, "cable two", 10)))).unwrap();
    s.commit(Batch::new().with(Op::PutMessage(message(3, 2, "cable three", 30)))).unwrap();
    let ids = |q: &str, n: usize| -> Vec<u8> { s.search(q, n).unwrap().iter().map(|m| m.id.0[0]).collect() };
    assert_eq!(ids("cable", 10), vec![3, 2, 1]);
    assert_eq!(ids("cable", 2), vec![3, 2]);
    // An edit keeps the message's place.
    s.commit(Batch::new().with(Op::PutMessage(message(1, 1, "cable one, corrected", 50)))).unwrap();
    assert_eq!(ids("cable", 10), vec![3, 2, 1]);
    drop(s);
    let s = b.open();
    assert_eq!(s.search("cable", 10).unwrap().iter().map(|m| m.id.0[0]).collect::<Vec<_>>(), vec![3, 2, 1]);
}

/// A keychain for tests (never the developer's): entries in memory, and
/// deletes that fail on demand, as a locked or unreachable OS keychain
/// would. `Debug` shows the accounts, never the secrets.
#[derive(Default)]
pub struct TestKeychain {
    entries: std::sync::Mutex<std::collections::BTreeMap<(String, String), zeroize::Zeroizing<String>>>,
    fail_deletes: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TestKeychain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestKeychain").field("accounts", &self.accounts()).finish_non_exhaustive()
    }
}

impl TestKeychain {
    /// From now on, every delete fails (`on`) or works again.
    pub fn fail_deletes(&self, on: bool) {
        self.fail_deletes.store(on, std::sync::atomic::Ordering::SeqCst);
    }

    /// The accounts that hold an entry.
    pub fn accounts(&self) -> Vec<String> {
        self.entries.lock().unwrap().keys().map(|(_, account)| account.clone()).collect()
    }
}

impl crate::KeychainBackend for TestKeychain {
    fn set(&self, service: &str, account: &str, secret: &str) -> crate::Result<()> {
        self.entries.lock().unwrap().insert((service.into(), account.into()), zeroize::Zeroizing::new(secret.into()));
        Ok(())
    }

    fn get(&self, service: &str, account: &str) -> crate::Result<Option<zeroize::Zeroizing<String>>> {
        Ok(self.entries.lock().unwrap().get(&(service.into(), account.into())).cloned())
    }

    fn delete(&self, service: &str, account: &str) -> crate::Result<()> {
        if self.fail_deletes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::NoKeychain("the test keychain refuses deletes".into()));
        }
        self.entries.lock().unwrap().remove(&(service.into(), account.into()));
        Ok(())
    }
}

pub fn alerts_are_kept_newest_first_bounded_and_dismissed_with(b: &dyn Backend) {
    let s = b.open();
    let put = |s: &dyn Store, n: u64| s.put_alert(Timestamp(1000 + n), &n.to_be_bytes()).unwrap();
    let ids: Vec<u64> = (0..3).map(|n| put(&*s, n)).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    let kept = s.alerts().unwrap();
    assert_eq!(kept.iter().map(|(id, _, _)| *id).collect::<Vec<_>>(), ids.iter().rev().copied().collect::<Vec<_>>());
    assert_eq!(kept[0].1, Timestamp(1002));
    assert_eq!(kept[0].2, 2u64.to_be_bytes().to_vec());
    s.dismiss_alert(ids[1]).unwrap();
    // Dismissing twice, or an unknown id, is not an error.
    s.dismiss_alert(ids[1]).unwrap();
    s.dismiss_alert(u64::MAX).unwrap();
    drop(s);
    let s = b.open();
    let left: Vec<u64> = s.alerts().unwrap().iter().map(|(id, _, _)| *id).collect();
    assert_eq!(left, vec![ids[2], ids[0]]);
    // Only the newest are kept; ids are never reused.
    for n in 3..3 + crate::MAX_ALERTS as u64 {
        put(&*s, n);
    }
    let kept = s.alerts().unwrap();
    assert_eq!(kept.len(), crate::MAX_ALERTS);
    assert_eq!(kept[0].2, (2 + crate::MAX_ALERTS as u64).to_be_bytes().to_vec());
    assert_eq!(kept.last().unwrap().2, 3u64.to_be_bytes().to_vec());
    assert!(kept.iter().all(|(id, _, _)| *id > ids[2]));
}

/// Where `needle` occurs in this process's private writable memory (heap,
/// thread arenas, stacks), outside `skip` (the needle itself and the scan
/// buffer, so that looking does not find its own copies). Test support for
/// the memory-hygiene tests of the store and the client.
#[cfg(target_os = "linux")]
pub fn memory_occurrences(needle: &[u8], buf: &mut [u8]) -> Vec<usize> {
    let skip = [
        (needle.as_ptr() as usize, needle.as_ptr() as usize + needle.len()),
        (buf.as_ptr() as usize, buf.as_ptr() as usize + buf.len()),
    ];
    use std::io::{BufRead, Read, Seek, SeekFrom};
    let maps = std::fs::File::open("/proc/self/maps").unwrap();
    let regions: Vec<(usize, usize)> = std::io::BufReader::new(maps)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?;
            let path = fields.nth(3).unwrap_or("");
            // Private, readable, writable, and not a file or the vsyscall page.
            let anonymous = path.is_empty() || path == "[heap]" || path.starts_with("[stack");
            if !perms.starts_with("rw") || !perms.ends_with('p') || !anonymous {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            Some((usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?))
        })
        .collect();
    let mut mem = std::fs::File::open("/proc/self/mem").unwrap();
    let step = buf.len() - needle.len();
    let mut found = Vec::new();
    for (start, end) in regions {
        let mut at = start;
        while at < end {
            let want = (end - at).min(buf.len());
            mem.seek(SeekFrom::Start(at as u64)).unwrap();
            let Ok(got) = mem.read(&mut buf[..want]) else { break };
            for (i, w) in buf[..got].windows(needle.len()).enumerate() {
                let addr = at + i;
                if w == needle && !skip.iter().any(|&(s, e)| addr >= s && addr < e) {
                    found.push(addr);
                }
            }
            at += step.min(got.max(1));
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

#[allow(missing_docs)]
pub fn timeline_pages_replies_edits_and_unread_with(b: &dyn Backend) {
    let s = b.open();
    let mut batch = Batch::new();
    // Ten messages in room 1, two of them at the same time (ordered by id),
    // and one in room 2.
    for n in 1..=10u8 {
        let at = if n == 6 { 50 } else { u64::from(n) * 10 };
        let mut m = message(n, 1, &format!("note {n}"), at);
        if n == 7 {
            m.reply_to = Some(MessageId([3; 16]));
            m.edited = true;
        }
        batch.push(Op::PutMessage(m));
    }
    batch.push(Op::PutMessage(message(20, 2, "elsewhere", 5)));
    // This user's own, sent from another of their devices: never unread.
    let mut own = message(21, 1, "from my other laptop", 55);
    own.sender = user("me");
    batch.push(Op::PutMessage(own));
    s.commit(batch).unwrap();
    drop(s);
    let s = b.open();
    let ids = |v: &[StoredMessage]| v.iter().map(|m| m.id.0[0]).collect::<Vec<_>>();
    let room = RoomId([1; 16]);
    let newest = s.messages_before(&room, None, 4).unwrap();
    assert_eq!(ids(&newest), vec![10, 9, 8, 7]);
    let anchor = |m: &StoredMessage| (m.sent_at, m.id);
    let older = s.messages_before(&room, Some(anchor(&newest[3])), 4).unwrap();
    // 6 and 5 share a time: the higher id is the later.
    assert_eq!(ids(&older), vec![21, 6, 5, 4]);
    let oldest = s.messages_before(&room, Some(anchor(&older[3])), 4).unwrap();
    assert_eq!(ids(&oldest), vec![3, 2, 1]);
    let after = s.messages_after(&room, anchor(&older[2]), 3).unwrap();
    assert_eq!(ids(&after), vec![6, 21, 7]);
    let seven = s.message(&MessageId([7; 16])).unwrap().unwrap();
    assert_eq!((seven.reply_to, seven.edited), (Some(MessageId([3; 16])), true));
    assert!(!s.message(&MessageId([8; 16])).unwrap().unwrap().edited);
    // Unread up to 7: never this user's own (21, from their other device).
    let me = user("me");
    let up_to_seven = s.unread_up_to(&room, &me, anchor(&seven), 100).unwrap();
    assert_eq!(up_to_seven.iter().map(|m| m.0[0]).collect::<Vec<_>>(), vec![7, 6, 5, 4, 3, 2, 1]);
    // All unread (others' messages, received); reading up to 5 leaves 5.
    assert_eq!(s.unread_counts(&me).unwrap(), vec![(room, 10), (RoomId([2; 16]), 1)]);
    let five = s.message(&MessageId([5; 16])).unwrap().unwrap();
    let up_to = s.unread_up_to(&room, &me, anchor(&five), 100).unwrap();
    assert_eq!(up_to.iter().map(|m| m.0[0]).collect::<Vec<_>>(), vec![5, 4, 3, 2, 1]);
    let mut batch = Batch::new();
    for id in up_to {
        batch.push(Op::SetStatus { id, status: MessageStatus::Read });
    }
    batch.push(Op::SetReadMarker { room, message: five.id });
    s.commit(batch).unwrap();
    drop(s);
    let s = b.open();
    assert_eq!(s.unread_counts(&me).unwrap(), vec![(room, 5), (RoomId([2; 16]), 1)]);
    assert_eq!(s.read_marker(&room).unwrap(), Some(five.id));
    assert_eq!(s.read_marker(&RoomId([2; 16])).unwrap(), None);
}

#[allow(missing_docs)]
pub fn receipts_only_move_forward_and_leave_with_their_message_with(b: &dyn Backend) {
    let s = b.open();
    let mine = MessageId([1; 16]);
    let receipt = |u: &str, read: bool, at: u64| crate::Receipt { user: user(u), read, at: Timestamp(at) };
    s.commit(
        Batch::new()
            .with(Op::PutMessage(message(1, 1, "mine", 10)))
            .with(Op::PutReceipt { message: mine, receipt: receipt("bob", false, 11) })
            .with(Op::PutReceipt { message: mine, receipt: receipt("carol", true, 12) })
            // For a message that is not stored: nothing, and no error.
            .with(Op::PutReceipt { message: MessageId([9; 16]), receipt: receipt("bob", true, 13) }),
    )
    .unwrap();
    s.commit(
        Batch::new()
            .with(Op::PutReceipt { message: mine, receipt: receipt("bob", true, 14) })
            .with(Op::PutReceipt { message: mine, receipt: receipt("carol", false, 15) }),
    )
    .unwrap();
    drop(s);
    let s = b.open();
    assert_eq!(s.receipts(&mine).unwrap(), vec![receipt("bob", true, 14), receipt("carol", true, 12)]);
    assert!(s.receipts(&MessageId([9; 16])).unwrap().is_empty());
    s.commit(Batch::new().with(Op::DeleteMessage(mine))).unwrap();
    assert!(s.receipts(&mine).unwrap().is_empty());
    // Stored again with the same id, it starts with none.
    s.commit(Batch::new().with(Op::PutMessage(message(1, 1, "mine", 10)))).unwrap();
    assert!(s.receipts(&mine).unwrap().is_empty());
}

#[allow(missing_docs)]
pub fn reactions_replace_per_member_and_leave_with_their_message_with(b: &dyn Backend) {
    let s = b.open();
    let m = MessageId([1; 16]);
    let react = |u: &str, k: &str| Op::PutReaction { message: m, user: user(u), key: k.into() };
    s.commit(
        Batch::new()
            .with(Op::PutMessage(message(1, 1, "vote", 10)))
            .with(react("bob", "👍"))
            .with(react("carol", "👍"))
            .with(react("bob", "👀"))
            // For a message that is not stored: nothing, and no error.
            .with(Op::PutReaction { message: MessageId([9; 16]), user: user("bob"), key: "x".into() })
            .with(Op::PutValue { key: "reactions/a".into(), value: vec![1] })
            .with(Op::PutValue { key: "reactions/b".into(), value: vec![2] })
            .with(Op::PutValue { key: "reactionz".into(), value: vec![3] })
            .with(Op::PutValue { key: "other".into(), value: vec![4] }),
    )
    .unwrap();
    drop(s);
    let s = b.open();
    assert_eq!(s.reactions(&m).unwrap(), vec![(user("bob"), "👀".to_string()), (user("carol"), "👍".to_string())]);
    assert!(s.reactions(&MessageId([9; 16])).unwrap().is_empty());
    let listed = s.values_with_prefix("reactions/").unwrap();
    assert_eq!(listed, vec![("reactions/a".to_string(), vec![1]), ("reactions/b".to_string(), vec![2])]);
    s.commit(Batch::new().with(Op::DeleteValue("reactions/a".into())).with(Op::DeleteValue("missing".into()))).unwrap();
    assert_eq!(s.values_with_prefix("reactions/").unwrap().len(), 1);
    s.commit(Batch::new().with(Op::DeleteMessage(m))).unwrap();
    assert!(s.reactions(&m).unwrap().is_empty());
    s.commit(Batch::new().with(Op::PutMessage(message(1, 1, "vote", 10)))).unwrap();
    assert!(s.reactions(&m).unwrap().is_empty());
}
