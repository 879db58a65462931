//! The timeline as a front end reads it: pages of history in the room's
//! order (the senders' times, then ids), a page around a search hit, room
//! summaries with unread counts, read markers, and sending a failed
//! message again. Messages come with what the store keeps beside them:
//! the reply target, the edited flag, reactions and receipts.

use super::*;

/// Receipts sent in one message at most (a receiver reads no more).
const RECEIPT_TARGETS: usize = 1024;

/// One reaction key on a message and who chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionView {
    /// The emoji or short word.
    pub key: String,
    /// Who reacted with it, sorted.
    pub users: Vec<UserId>,
}

/// A member's receipt for one of this user's own messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptView {
    /// The member.
    pub user: UserId,
    /// Read on one of their devices (not only delivered).
    pub read: bool,
    /// When, as their device said.
    pub at: Timestamp,
}

/// A room as a room list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomSummary {
    /// The room.
    pub room: RoomView,
    /// Its newest message.
    pub last: Option<MessageView>,
    /// Messages of others not read yet (this user's own never count).
    pub unread: u32,
    /// The newest message's time, or the room's latest state change if
    /// that is later (a room just created or joined).
    pub last_activity: Timestamp,
    /// The last message read here ([`Engine::mark_read`]): the timeline
    /// shows what is new below it.
    pub read_up_to: Option<MessageId>,
}

/// Where reactions were kept before they had a table: one named value per
/// message, a map from member to key.
const LEGACY_REACTIONS: &str = "reactions/";

/// Moves reactions kept as named values (before store schema 9) into the
/// store's table, where they are deleted with their message; those of
/// messages gone already are dropped. One batch, on open.
pub(super) fn move_legacy_reactions(store: &SqlStore) -> Result<()> {
    let legacy = store.values_with_prefix(LEGACY_REACTIONS)?;
    if legacy.is_empty() {
        return Ok(());
    }
    let mut batch = Batch::new();
    for (name, bytes) in legacy {
        let message = name.strip_prefix(LEGACY_REACTIONS).and_then(hex_id);
        let map: Option<BTreeMap<String, String>> = postcard::from_bytes(&bytes).ok();
        if let (Some(message), Some(map)) = (message, map) {
            for (user, key) in map {
                if let Ok(user) = UserId::new(user) {
                    batch.push(Op::PutReaction { message, user, key });
                }
            }
        }
        batch.push(Op::DeleteValue(name));
    }
    Ok(store.commit(batch)?)
}

/// A message id from its hex form (as `Display` writes it).
fn hex_id(hex: &str) -> Option<MessageId> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(MessageId(id))
}

/// Where a message stands in its room's timeline.
fn position(m: &StoredMessage) -> (Timestamp, MessageId) {
    (m.sent_at, m.id)
}

impl Engine {
    /// Messages as a front end shows them: with their attachment, their
    /// reactions (per key) and, for this user's own, each member's receipt.
    pub(super) fn views(&self, stored: Vec<StoredMessage>) -> Result<Vec<MessageView>> {
        let mut views = self.with_attachments(stored.into_iter().map(Into::into).collect())?;
        for v in &mut views {
            let mut by_key: BTreeMap<String, Vec<UserId>> = BTreeMap::new();
            for (user, key) in self.inner.store.reactions(&v.id)? {
                by_key.entry(key).or_default().push(user);
            }
            v.reactions = by_key
                .into_iter()
                .map(|(key, mut users)| {
                    users.sort();
                    ReactionView { key, users }
                })
                .collect();
            // Only this user's own messages have receipts (from whichever
            // of their devices they were sent).
            v.receipts = self
                .inner
                .store
                .receipts(&v.id)?
                .into_iter()
                .map(|r| ReceiptView { user: r.user, read: r.read, at: r.at })
                .collect();
        }
        Ok(views)
    }

    /// A message of `room`, or `NotFound`.
    fn message_of(&self, room: &RoomId, id: &MessageId) -> Result<StoredMessage> {
        self.inner
            .store
            .message(id)?
            .filter(|m| m.room == *room)
            .ok_or_else(|| ClientError::NotFound(format!("no message {id} in this room")))
    }

    /// Up to `limit` messages of `room` just before `before` (`None`: the
    /// newest), oldest first: the timeline's next page back. Pages follow
    /// one another without gap or repeat, whatever arrives meanwhile.
    pub async fn messages_before(
        &self,
        room: &RoomId,
        before: Option<MessageId>,
        limit: usize,
    ) -> Result<Vec<MessageView>> {
        self.unlocked()?;
        let anchor = before.map(|id| self.message_of(room, &id)).transpose()?;
        let mut page = self.inner.store.messages_before(room, anchor.as_ref().map(position), limit)?;
        page.reverse();
        self.views(page)
    }

    /// Up to `limit` messages of `room` with `message` in the middle (as
    /// far as there are messages on each side), oldest first: a search
    /// hit shown in its place.
    pub async fn messages_around(&self, room: &RoomId, message: MessageId, limit: usize) -> Result<Vec<MessageView>> {
        self.unlocked()?;
        let hit = self.message_of(room, &message)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let others = limit - 1;
        let older = self.inner.store.messages_before(room, Some(position(&hit)), others)?;
        let newer = self.inner.store.messages_after(room, position(&hit), others)?;
        // Half each side; a side with fewer leaves the rest to the other.
        let mut want_old = others / 2;
        let want_new = (others - want_old).min(newer.len());
        want_old = (others - want_new).min(older.len());
        let mut page: Vec<StoredMessage> = older.into_iter().take(want_old).collect();
        page.reverse();
        page.push(hit);
        page.extend(newer.into_iter().take(want_new));
        self.views(page)
    }

    /// Every room with its newest message, unread count and last activity,
    /// the most recently active first.
    pub async fn room_summaries(&self) -> Result<Vec<RoomSummary>> {
        let rooms: Vec<(RoomView, Option<Timestamp>)> = {
            let st = self.state().await?;
            st.rooms
                .values()
                .filter_map(|log| {
                    let changed = log.events().last().and_then(|e| e.peek_unverified().ok()).map(|e| e.ts);
                    view(log).map(|v| (v, changed))
                })
                .collect()
        };
        let me = self.user().await?;
        let unread: BTreeMap<RoomId, u64> = self.inner.store.unread_counts(&me)?.into_iter().collect();
        let mut out = Vec::with_capacity(rooms.len());
        for (room, changed) in rooms {
            let last = self.views(self.inner.store.messages_before(&room.id, None, 1)?)?.pop();
            let last_activity = last.as_ref().map(|m| m.sent_at).max(changed).unwrap_or(Timestamp(0));
            out.push(RoomSummary {
                unread: u32::try_from(unread.get(&room.id).copied().unwrap_or(0)).unwrap_or(u32::MAX),
                read_up_to: self.inner.store.read_marker(&room.id)?,
                room,
                last,
                last_activity,
            });
        }
        out.sort_by(|a, b| b.last_activity.cmp(&a.last_activity).then_with(|| a.room.id.cmp(&b.room.id)));
        Ok(out)
    }

    /// Marks the messages of others in `room` up to and including `upto`
    /// (in the timeline's order) as read: they no longer count as unread,
    /// the room's read marker moves there (never back), and their senders
    /// get read receipts.
    pub async fn mark_read(&self, room: RoomId, upto: MessageId) -> Result<()> {
        self.unlocked()?;
        let anchor = self.message_of(&room, &upto)?;
        let me = self.user().await?;
        let unread = self.inner.store.unread_up_to(&room, &me, position(&anchor), usize::MAX)?;
        let mut batch = Batch::new();
        let marker = match self.inner.store.read_marker(&room)? {
            Some(id) => self.inner.store.message(&id)?.filter(|m| m.room == room),
            None => None,
        };
        if marker.is_none_or(|m| position(&m) < position(&anchor)) {
            batch.push(Op::SetReadMarker { room, message: upto });
        }
        for id in &unread {
            batch.push(Op::SetStatus { id: *id, status: MessageStatus::Read });
        }
        if batch.0.is_empty() {
            return Ok(());
        }
        if !unread.is_empty() {
            let st = self.state().await?;
            for targets in unread.chunks(RECEIPT_TARGETS) {
                let receipt = RoomContent::Receipt { read: true, targets: targets.to_vec() };
                self.queue_compose(&st, &mut batch, MessageId(rand::random()), room, receipt, Vec::new())?;
            }
        }
        self.commit(batch).await?;
        for id in unread {
            self.emit(Event::Status(id, MessageStatus::Read));
        }
        self.kick_flush();
        Ok(())
    }

    /// Sends one of this user's messages that failed (the relay refused
    /// it) again, under the same id, to the room's members as they are
    /// now. A file is sent again from the file itself.
    pub async fn retry(&self, message: MessageId) -> Result<()> {
        self.unlocked()?;
        let m = self
            .inner
            .store
            .message(&message)?
            .ok_or_else(|| ClientError::NotFound(format!("no message {message}")))?;
        let st = self.state().await?;
        if m.sender != *st.device.user() || m.status != MessageStatus::Failed {
            return Err(ClientError::Input("only a message of yours that failed can be sent again".into()));
        }
        if !self.inner.store.attachments_of(&message)?.is_empty() {
            return Err(ClientError::Input("a file that failed is sent again from the file".into()));
        }
        if !rooms::joined(&st, &m.room)?.is_member(st.device.user()) {
            return Err(ClientError::Input("you are not a member of this room".into()));
        }
        let content = match m.reply_to {
            Some(to) => RoomContent::Reply { to, body: m.body.clone() },
            None => RoomContent::Text { body: m.body.clone() },
        };
        let mut batch = Batch::new().with(Op::SetStatus { id: message, status: MessageStatus::Pending });
        self.queue_compose(&st, &mut batch, message, m.room, content, Vec::new())?;
        drop(st);
        self.commit(batch).await?;
        self.emit(Event::Status(message, MessageStatus::Pending));
        self.kick_flush();
        Ok(())
    }
}
