//! `Debug` of everything the store writes or holds shows ids and lengths,
//! never pickles, named values (one is the pickle key), payloads or text:
//! pinned by a snapshot.

use belfry_protocol::cert::Timestamp;
use belfry_protocol::{BlobId, DeviceId, Ed25519Public, Hash256, MessageId, RoomId, UserId};
use belfry_store::testing::{TestKeychain, message};
use belfry_store::*;

/// 0x42 ("B") bytes stand for secrets, "Meeting moved" for private text.
const SECRET: [u8; 32] = [0x42; 32];

#[test]
fn debug_of_ops_messages_and_stores_shows_no_secret() {
    let user = UserId::new("alice").unwrap();
    let room = RoomId([7; 16]);
    let id = MessageId([1; 16]);
    let ops = vec![
        Op::PutAccount(SECRET.to_vec()),
        Op::PutOlmSession {
            peer_user: user.clone(),
            peer_device: DeviceId::new("DEVICE1").unwrap(),
            session_id: "olm-session-id".into(),
            pickle: SECRET.to_vec(),
        },
        Op::PutInboundSession {
            sender: user.clone(),
            sender_device: DeviceId::new("DEVICE1").unwrap(),
            session: Ed25519Public([0x11; 32]),
            room,
            pickle: SECRET.to_vec(),
        },
        Op::PutOutboundSession { room, pickle: SECRET.to_vec() },
        Op::MarkSeen { session: Ed25519Public([0x11; 32]), index: 3 },
        Op::PutMessage(message(1, 7, "Meeting moved to the embassy", 1_700_000_000_000)),
        Op::DeleteMessage(id),
        Op::PutAttachment(Attachment {
            id: BlobId([5; 16]),
            message: id,
            name: "Meeting moved.pdf".into(),
            mime: "application/pdf".into(),
            size: 10,
            key: SECRET.to_vec(),
            sha256: Hash256([6; 32]),
            data: AttachmentData::Inline(SECRET.to_vec()),
        }),
        Op::SetStatus { id, status: MessageStatus::Sent },
        Op::Enqueue { id, payload: SECRET.to_vec(), queued: Timestamp(5) },
        Op::Dequeue(id),
        Op::SetInboxCursor(12),
        Op::PutRoom { room, record: b"Meeting moved: members".to_vec() },
        Op::PutWaiting { id, message: SECRET.to_vec() },
        Op::DeleteWaiting(id),
        Op::PutValue { key: "pickle-key".into(), value: SECRET.to_vec() },
    ];
    let batch = Batch(ops.clone());
    let memory = MemoryStore::default();
    memory.commit(Batch(ops.into_iter().filter(|op| !matches!(op, Op::PutAttachment(_))).collect())).unwrap();
    let keychain = TestKeychain::default();
    KeychainBackend::set(&keychain, KEYCHAIN_SERVICE, "profile-1", "4242424242").unwrap();
    let out = format!("{batch:#?}\n{memory:?}\n{keychain:?}\n{:?}", StoreKey::from_bytes(SECRET));
    insta::assert_snapshot!(out);
    for leak in ["Meeting", "4242", "66, 66", "QkJC", "BBBB"] {
        assert!(!out.contains(leak), "secret printed ({leak}): {out}");
    }
}
