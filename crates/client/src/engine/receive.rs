//! Receiving: an inbox frame is handled in one store transaction, cursor
//! included, then acknowledged; to-device and room messages, the room keys
//! they carry, messages waiting for their key.

use super::*;

impl Engine {
    /// Handles a frame of inbox entries in one store transaction, cursor
    /// included, then acknowledges it to the relay.
    pub(super) async fn process(&self, entries: Vec<InboxEntry>) -> Result<()> {
        let cursor = self.inner.store.inbox_cursor()?;
        // Entries already handled (redelivered after a reconnect) are
        // skipped; new ones must come in strictly increasing order, or the
        // relay is playing games: stop there and say so.
        let mut fresh = Vec::with_capacity(entries.len());
        let mut prev = cursor;
        let mut disorder = false;
        for entry in entries {
            if entry.seq <= cursor {
                continue;
            }
            if entry.seq <= prev {
                disorder = true;
                break;
            }
            prev = entry.seq;
            fresh.push(entry);
        }
        if disorder {
            self.emit(Event::Alert(Alert::Rejected {
                detail: "the relay delivered inbox entries out of order; the rest of that delivery was refused".into(),
            }));
        }
        // Senders this device does not know yet are looked up first, so
        // the whole frame is then handled under one lock, commit included:
        // nothing else can commit an older copy of the same state between.
        let unknown: Vec<UserId> = {
            let st = self.state().await?;
            let mut users = BTreeSet::new();
            for e in &fresh {
                if let InboxItem::ToDevice(env) = &e.item
                    && st.dir.trusted(&env.sender, &env.sender_device).is_err()
                {
                    users.insert(env.sender.clone());
                }
            }
            users.into_iter().collect()
        };
        if !unknown.is_empty() {
            // On other errors the senders stay unknown; their messages say so.
            if let Err(ClientError::Wiped) = self.refresh_users(&unknown).await {
                return Err(ClientError::Wiped);
            }
        }
        let Some(last) = fresh.last().map(|e| e.seq) else {
            self.ack(cursor);
            return Ok(());
        };
        let mut st = self.state().await?;
        let st = &mut *st;
        let mut batch = Batch::new();
        let mut events = Vec::new();
        let mut pending = Pending::new();
        st.recovery.wanted = false;
        for entry in fresh {
            let mut retry = Vec::new();
            match entry.item {
                InboxItem::ToDevice(env) => self.receive_to_device(st, env, &mut batch, &mut events, &mut retry)?,
                InboxItem::Room(msg) => self.receive_room(st, msg, &mut batch, &mut events, &mut pending, true)?,
                InboxItem::Statement(statement) => self.receive_statement(st, &statement, &mut batch, &mut events)?,
            }
            // Messages that waited for a key that has now arrived.
            for msg in retry {
                self.receive_room(st, msg, &mut batch, &mut events, &mut pending, false)?;
            }
        }
        // One "delivered" receipt per room for the messages of others in
        // this frame, queued in the same transaction.
        let me = st.device.user().clone();
        let mut delivered: BTreeMap<RoomId, Vec<MessageId>> = BTreeMap::new();
        for e in &events {
            if let Event::Message(m) = e
                && m.sender != me
                && m.status == MessageStatus::Received
            {
                delivered.entry(m.room).or_default().push(m.id);
            }
        }
        for (room, targets) in delivered {
            let receipt = RoomContent::Receipt { read: false, targets };
            self.queue_compose(st, &mut batch, MessageId(rand::random()), room, receipt, Vec::new())?;
        }
        batch.push(Op::SetInboxCursor(last));
        if let Err(e) = self.commit_frame(batch).await {
            // Nothing of this frame stays, in memory either: the relay
            // delivers it again (see `rollback`).
            self.roll_back(st)?;
            return Err(e);
        }
        for e in events {
            self.emit(e);
        }
        self.ack(last);
        self.kick_flush();
        if std::mem::take(&mut st.recovery.wanted) {
            self.spawn_key_recovery();
        }
        let fetch = std::mem::take(&mut st.room_fetch);
        if !fetch.is_empty() {
            self.spawn_room_fetch(fetch);
        }
        Ok(())
    }

    /// Tells the relay everything up to `seq` is processed (and stored).
    pub(super) fn ack(&self, seq: u64) {
        if seq == 0 {
            return;
        }
        let link = self.inner.link.clone();
        tokio::spawn(async move {
            let _ = link.request(Request::Ack { seq }).await;
        });
    }

    pub(super) fn receive_to_device(
        &self,
        st: &mut State,
        env: ToDeviceEnvelope,
        batch: &mut Batch,
        events: &mut Vec<Event>,
        retry: &mut Vec<RoomMessage>,
    ) -> Result<()> {
        let sender = match st.dir.trusted(&env.sender, &env.sender_device) {
            Ok(d) => d.clone(),
            Err(e) => {
                events.push(Event::Alert(Alert::Rejected {
                    detail: format!("a message from {}/{}: {e}", env.sender, env.sender_device),
                }));
                return Ok(());
            }
        };
        // Every session with this peer, stored or in memory: a pre-key
        // message for any of them is a replay.
        self.load_channels(st, &sender)?;
        let before = st.channels.len();
        let received = match st.device.open_to_device(&env, &sender, &mut st.channels) {
            Ok(r) => r,
            Err(e) => {
                events.push(Event::Alert(Alert::Rejected {
                    detail: format!("an encrypted message from {}/{} was refused: {e}", env.sender, env.sender_device),
                }));
                return Ok(());
            }
        };
        if st.channels.len() > before {
            st.prekeys_used += 1;
            batch.push(value(K_PREKEYS_USED, ser(&st.prekeys_used)?));
        }
        // The account (one-time key used) and every channel with this peer.
        batch.push(Op::PutAccount(st.device.pickle(&st.pickle)?));
        for ch in st.channels.iter().filter(|c| c.peer_user() == &sender.user && c.peer_device() == &sender.device) {
            batch.push(Op::PutOlmSession {
                peer_user: sender.user.clone(),
                peer_device: sender.device.clone(),
                session_id: ch.session_id(),
                pickle: ch.pickle(&st.pickle)?,
            });
        }
        match received.content() {
            ToDeviceContent::RoomKey(_) => match InboundRoomSession::from_room_key(&received) {
                // A key this device holds already is kept: a second copy
                // (a replay, or one exported later) could only lose messages.
                Ok(session) if self.load_inbound(st, &inbound_key(&session))? => {}
                Ok(session) => self.hold_inbound(st, session, batch, retry)?,
                Err(e) => events.push(Event::Alert(Alert::Rejected {
                    detail: format!("a room key from {}/{} was refused: {e}", sender.user, sender.device),
                })),
            },
            ToDeviceContent::Statement(statement) => {
                let statement = statement.clone();
                self.receive_statement(st, &statement, batch, events)?;
            }
            ToDeviceContent::ForwardedRoomKey(_) => self.receive_forwarded_key(st, &received, batch, events, retry)?,
            ToDeviceContent::RoomKeyRequest { room, session } => {
                self.answer_key_request(st, &sender, *room, *session, batch, events)?;
            }
            ToDeviceContent::RoomKeyUnavailable { room, session } => {
                self.receive_key_unavailable(st, &sender, *room, session, events);
            }
            ToDeviceContent::VerificationRequest { .. }
            | ToDeviceContent::VerificationAccept { .. }
            | ToDeviceContent::VerificationKey { .. }
            | ToDeviceContent::VerificationMac { .. }
            | ToDeviceContent::VerificationCancel { .. }
            | ToDeviceContent::VerificationDone { .. } => {
                self.receive_verification(st, &sender, received.content(), batch, events)?;
            }
            ToDeviceContent::Dummy => {}
        }
        Ok(())
    }

    /// Keeps a new inbound session (the caller checked this device holds
    /// none with its id: a held key is never replaced) and hands back the
    /// messages that waited for it.
    pub(super) fn hold_inbound(
        &self,
        st: &mut State,
        session: InboundRoomSession,
        batch: &mut Batch,
        retry: &mut Vec<RoomMessage>,
    ) -> Result<()> {
        let key = inbound_key(&session);
        let id = key.2;
        batch.push(put_inbound(&session, &st.pickle)?);
        st.inbound.insert(key.clone(), session);
        let (ready, still): (Vec<_>, Vec<_>) = st.waiting.drain(..).partition(|w| inbound_key_of(&w.msg) == key);
        st.waiting = still;
        for w in ready {
            batch.push(Op::DeleteWaiting(w.id));
            retry.push(w.msg);
        }
        self.forget_key_request(st, &id, batch)
    }

    pub(super) fn load_inbound(&self, st: &mut State, key: &InboundKey) -> Result<bool> {
        if st.inbound.contains_key(key) {
            return Ok(true);
        }
        let (user, device, session) = key;
        let Some(p) = self.inner.store.inbound_session(user, device, session)? else { return Ok(false) };
        let held = InboundRoomSession::unpickle(&p, &st.pickle)?;
        // A row stored before sessions were keyed by creator names its
        // creator only inside: it counts only if that is this one.
        if inbound_key(&held) != *key {
            return Ok(false);
        }
        st.inbound.insert(key.clone(), held);
        Ok(true)
    }

    pub(super) fn receive_room(
        &self,
        st: &mut State,
        msg: RoomMessage,
        batch: &mut Batch,
        events: &mut Vec<Event>,
        pending: &mut Pending,
        may_wait: bool,
    ) -> Result<()> {
        // This device never gets its own messages: one that comes back was
        // reflected by the relay (it would decrypt, with the copy of our
        // own session kept for key recovery).
        if msg.sender == *st.device.user() && msg.sender_device == *st.device.device_id() {
            events.push(Event::Alert(Alert::Rejected {
                detail: "the relay sent this device one of its own messages back; refused".into(),
            }));
            return Ok(());
        }
        // Trust is checked per sending device, at every message: a device
        // revoked since it shared its session is refused, session or not.
        if let Some(detail) = Self::untrusted_sender(st, &msg) {
            events.push(Event::Alert(Alert::Rejected { detail }));
            return Ok(());
        }
        let key = inbound_key_of(&msg);
        if !self.load_inbound(st, &key)? {
            if may_wait {
                // Keys are published before the messages they open, so this
                // is unusual: say so (it decrypts if the key comes later, or
                // when another of this user's devices forwards it).
                events.push(Event::Alert(Alert::Undecryptable {
                    room: msg.room,
                    sender: msg.sender.clone(),
                    reason: self.missing_key(st, &msg),
                }));
                // Bounded: a relay flooding this device with messages no
                // key will ever open costs it the oldest of them, not its
                // memory and disk.
                self.keep_waiting(st, msg, batch, events);
            }
            return Ok(());
        }
        let mut guard = StoreGuard { store: &self.inner.store, pending, new: Vec::new() };
        let Some(session) = st.inbound.get_mut(&key) else { return Ok(()) };
        let decrypted = match session.decrypt(&msg, &mut guard) {
            Ok(d) => d,
            Err(e) => {
                events.push(Event::Alert(Alert::Undecryptable {
                    room: msg.room,
                    sender: msg.sender.clone(),
                    reason: e.to_string(),
                }));
                return Ok(());
            }
        };
        // Decrypted before its room's state arrived (keys recovered out of
        // order, or a relay reordering): it waits, with nothing recorded, so
        // it decrypts again once the room is known, instead of being lost.
        if !matches!(decrypted.payload.content, RoomContent::State(_))
            && st.rooms.get(&decrypted.payload.room).and_then(RoomLog::state).is_none()
        {
            if may_wait {
                events.push(Event::Alert(Alert::Undecryptable {
                    room: msg.room,
                    sender: msg.sender.clone(),
                    reason: "its room's state has not reached this device yet; it waits for it".into(),
                }));
                self.keep_waiting(st, msg, batch, events);
            }
            return Ok(());
        }
        let index = decrypted.index;
        let earlier_seen = index == session.first_known_index() || guard.was_seen(&msg.session, index - 1);
        let later_seen = guard.was_seen(&msg.session, index.saturating_add(1));
        for (s, i) in guard.new {
            batch.push(Op::MarkSeen { session: s, index: i });
            pending.insert((s, i));
        }
        // Each sender numbers its messages per session, and every recipient
        // gets every one: a hole before this one means a message was
        // withheld or delayed; a filled hole means one arrived late.
        if !earlier_seen {
            events.push(Event::Alert(Alert::Delivery {
                room: msg.room,
                sender: msg.sender.clone(),
                detail: format!(
                    "a message from {} sent before this one has not arrived: it was withheld or is delayed",
                    msg.sender
                ),
            }));
        }
        if later_seen {
            events.push(Event::Alert(Alert::Delivery {
                room: msg.room,
                sender: msg.sender.clone(),
                detail: format!("a message from {} arrived late, after later ones", msg.sender),
            }));
        }
        let payload = decrypted.payload;
        let room = payload.room;
        match payload.content {
            RoomContent::State(event) => {
                // The event names its room, and so does the payload: a
                // Create (or any event) carried under another room's id
                // would file one room's history under another.
                if event.peek_unverified().map(|e| e.room).ok() != Some(room) {
                    events.push(Event::Alert(Alert::Rejected {
                        detail: format!(
                            "{} sent a room state event inside a message for another room; refused",
                            payload.sender
                        ),
                    }));
                    return Ok(());
                }
                self.receive_state(st, room, &event, batch, events, pending)?;
            }
            content => {
                // The state it was sent under, noted before anything else:
                // a state this device lacks puts the room in conflict.
                self.note_claim(st, room, &payload.sender, &payload.state_hash, batch, events)?;
                let Some(record) = st.rooms.get(&room).and_then(RoomLog::state) else {
                    events.push(Event::Alert(Alert::Rejected {
                        detail: format!("a message from {} for a room this device does not know", payload.sender),
                    }));
                    return Ok(());
                };
                if !record.is_member(&payload.sender) {
                    events.push(Event::Alert(Alert::Rejected {
                        detail: format!("{} sent a message to a room they are not a member of", payload.sender),
                    }));
                    return Ok(());
                }
                let expires_at = record.retention_secs().map(|s| now().plus_ms(s.saturating_mul(1000)));
                let sender = payload.sender;
                // Edits, deletions and reactions refer to an earlier message
                // (perhaps one earlier in this same frame, not yet stored);
                // only its own sender may edit or delete it.
                let own_target = |target: &MessageId| -> Result<Option<StoredMessage>> {
                    Ok(self.message_in(batch, target)?.filter(|m| m.sender == sender && m.room == room))
                };
                let attachment = match &content {
                    RoomContent::Attachment(a) => Some(a.clone()),
                    _ => None,
                };
                let reply_to = match &content {
                    RoomContent::Reply { to, .. } => Some(*to),
                    _ => None,
                };
                let body = match content {
                    RoomContent::Text { body } | RoomContent::Reply { body, .. } => body,
                    RoomContent::Attachment(a) => files::attachment_body(&a.name, a.size),
                    RoomContent::Edit { target, body } => {
                        match own_target(&target)? {
                            Some(mut m) => {
                                m.body = body;
                                m.edited = true;
                                // In full: a front end replaces what it shows.
                                events.extend(self.views(vec![m.clone()])?.into_iter().map(Event::Message));
                                batch.push(Op::PutMessage(m));
                            }
                            None => events.push(Event::Alert(Alert::Rejected {
                                detail: format!(
                                    "{sender} tried to edit a message that is not theirs (or unknown here)"
                                ),
                            })),
                        }
                        return Ok(());
                    }
                    RoomContent::Delete { target } => {
                        match own_target(&target)? {
                            Some(_) => {
                                events.push(Event::Removed(target));
                                batch.push(Op::DeleteMessage(target));
                            }
                            None => events.push(Event::Alert(Alert::Rejected {
                                detail: format!(
                                    "{sender} tried to delete a message that is not theirs (or unknown here)"
                                ),
                            })),
                        }
                        return Ok(());
                    }
                    RoomContent::Reaction { target, key } => {
                        if self.message_in(batch, &target)?.is_some_and(|m| m.room == room) {
                            batch.push(Op::PutReaction { message: target, user: sender, key });
                            events.push(Event::Reaction(target));
                        }
                        return Ok(());
                    }
                    RoomContent::Receipt { read, targets } => {
                        // Only receipts for this user's own messages change
                        // anything, and only forwards (sent → delivered →
                        // read): the message's status, and the member's own
                        // receipt for it.
                        let status = if read { MessageStatus::Read } else { MessageStatus::Delivered };
                        let targets = &targets[..targets.len().min(1024)];
                        let stored = self.inner.store.messages_by_id(targets)?;
                        for (target, m) in targets.iter().zip(stored) {
                            let Some(m) = m else { continue };
                            if m.room != room || m.sender != *st.device.user() || m.sender == sender {
                                continue;
                            }
                            let held = self.inner.store.receipts(target)?;
                            if held.iter().any(|r| r.user == sender && (r.read || !read)) {
                                continue;
                            }
                            let receipt = belfry_store::Receipt { user: sender.clone(), read, at: payload.sent_at };
                            batch.push(Op::PutReceipt { message: *target, receipt });
                            if matches!(
                                m.status,
                                MessageStatus::Pending | MessageStatus::Sent | MessageStatus::Delivered
                            ) && m.status < status
                            {
                                batch.push(Op::SetStatus { id: *target, status });
                                events.push(Event::Status(*target, status));
                            } else {
                                // Another member's receipt: same status.
                                events.push(Event::Status(*target, m.status));
                            }
                        }
                        return Ok(());
                    }
                    RoomContent::State(_) => return Ok(()),
                };
                // A message id names one message: another sender (or room)
                // reusing it would overwrite someone else's words.
                if let Some(existing) = self.message_in(batch, &payload.id)?
                    && (existing.sender != sender || existing.room != room)
                {
                    events.push(Event::Alert(Alert::Rejected {
                        detail: format!("{sender} sent a message reusing the id of another message"),
                    }));
                    return Ok(());
                }
                let message = StoredMessage {
                    id: payload.id,
                    room,
                    sender,
                    sent_at: payload.sent_at,
                    status: MessageStatus::Received,
                    body,
                    expires_at,
                    reply_to,
                    edited: false,
                };
                let mut view: MessageView = message.clone().into();
                batch.push(Op::PutMessage(message));
                if let Some(a) = attachment {
                    view.attachment = self.receive_attachment(a, payload.id, batch, events)?;
                }
                events.push(Event::Message(view));
            }
        }
        Ok(())
    }

    /// Keeps a room message until what it needs arrives (its key, or its
    /// room's state). Bounded: a relay flooding this device with messages
    /// that never open costs it the oldest of them, not its memory and disk.
    pub(super) fn keep_waiting(&self, st: &mut State, msg: RoomMessage, batch: &mut Batch, events: &mut Vec<Event>) {
        let bytes = |w: &[Waiting]| w.iter().map(|w| w.msg.ciphertext.len()).sum::<usize>();
        while !st.waiting.is_empty()
            && (st.waiting.len() >= MAX_WAITING || bytes(&st.waiting) + msg.ciphertext.len() > MAX_WAITING_BYTES)
        {
            let oldest = st.waiting.remove(0);
            batch.push(Op::DeleteWaiting(oldest.id));
            events.push(Event::Alert(Alert::Undecryptable {
                room: oldest.msg.room,
                sender: oldest.msg.sender,
                reason: "too many messages wait; the oldest is given up".into(),
            }));
        }
        let id = MessageId(rand::random());
        batch.push(Op::PutWaiting { id, message: encode(&msg) });
        st.waiting.push(Waiting { id, msg });
    }

    /// A message as it will be once `batch` commits: the batch's own
    /// writes first (the latest one wins), then the store.
    pub(super) fn message_in(&self, batch: &Batch, id: &MessageId) -> Result<Option<StoredMessage>> {
        for op in batch.0.iter().rev() {
            match op {
                Op::PutMessage(m) if m.id == *id => return Ok(Some(m.clone())),
                Op::DeleteMessage(d) if d == id => return Ok(None),
                _ => {}
            }
        }
        Ok(self.inner.store.message(id)?)
    }
}
