//! `Debug` of what the engine hands a front end shows ids and sizes, never
//! message text or file names: pinned by a snapshot.

use belfry_client::{AttachmentInfo, Event, MessageView, ReactionView, ReceiptView};
use belfry_protocol::{MessageId, RoomId, Timestamp, UserId};

#[test]
fn debug_of_messages_and_events_shows_no_text() {
    let view = MessageView {
        id: MessageId([1; 16]),
        room: RoomId([7; 16]),
        sender: UserId::new("alice").unwrap(),
        sent_at: Timestamp(1_700_000_000_000),
        status: belfry_store::MessageStatus::Received,
        body: "Meeting moved to the embassy".into(),
        attachment: Some(AttachmentInfo {
            name: "Meeting moved.pdf".into(),
            mime: "application/pdf".into(),
            size: 10,
            local: false,
        }),
        reply_to: Some(MessageId([2; 16])),
        edited: true,
        reactions: vec![ReactionView { key: "Meeting".into(), users: vec![UserId::new("bob").unwrap()] }],
        receipts: vec![ReceiptView { user: UserId::new("bob").unwrap(), read: true, at: Timestamp(1_700_000_000_001) }],
        expires_at: Some(Timestamp(1_700_000_086_400)),
    };
    let out = format!("{:#?}", Event::Message(view));
    insta::assert_snapshot!(out);
    assert!(!out.contains("Meeting"), "text printed: {out}");
}
