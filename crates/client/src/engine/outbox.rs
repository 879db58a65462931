//! Sending: outbox first. Intents are encrypted in groups and committed with
//! every advanced ratchet before anything is published; publishes are
//! pipelined and their acknowledgements committed together.

use super::*;

/// How soon a room whose messages could not be prepared is tried again
/// when nothing else wakes the outbox.
const ROOM_RETRY: std::time::Duration = std::time::Duration::from_secs(60);

/// Errors that stop a whole flush: the relay is out of reach, the store
/// failed, or the engine is locked or wiped. Anything else is one room's
/// problem (see [`Engine::flush`]).
fn stops_flush(e: &ClientError) -> bool {
    matches!(e, ClientError::Offline(_) | ClientError::Store(_) | ClientError::Locked | ClientError::Wiped)
}

/// The intents at the head of `queued` (up to the first publish, history
/// item, or intent of a paused room), or only those of `only`.
fn queued_composes(
    queued: &[(MessageId, Vec<u8>)],
    paused: &BTreeSet<RoomId>,
    only: Option<RoomId>,
) -> Result<Vec<Compose>> {
    let mut composes = Vec::new();
    for (id, payload) in queued {
        match de::<OutboxItem>(payload, "outbox item")? {
            OutboxItem::Compose { room, .. } if paused.contains(&room) => break,
            OutboxItem::Compose { room, .. } if only.is_some_and(|r| r != room) => {}
            OutboxItem::Compose { id: message, room, content, history_to, members } => {
                composes.push(Compose { outbox_id: *id, message, room, content, history_to, members });
            }
            OutboxItem::Publish { .. } | OutboxItem::History { .. } => break,
        }
    }
    Ok(composes)
}

impl Engine {
    /// Commits a batch off the async threads (an fsync can take a while).
    pub(super) async fn commit(&self, batch: Batch) -> Result<()> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || store.commit(batch))
            .await
            .map_err(|e| ClientError::Config(format!("store task failed: {e}")))??;
        Ok(())
    }

    /// A strictly increasing outbox timestamp.
    pub(super) fn stamp(&self) -> Timestamp {
        let mut last = match self.inner.clock.lock() {
            Ok(l) => l,
            Err(p) => p.into_inner(),
        };
        *last = now().0.max(*last + 1);
        Timestamp(*last)
    }

    /// Queues `content` for encryption and sending as message `message`,
    /// to the room's members as they are now.
    pub(super) fn queue_compose(
        &self,
        st: &State,
        batch: &mut Batch,
        message: MessageId,
        room: RoomId,
        content: RoomContent,
        history_to: Vec<UserId>,
    ) -> Result<()> {
        // In conflict, the members this device sees may be a branch that
        // loses: whoever is a member once it is resolved, among those who
        // were members along the way, gets it (a removal still excludes).
        let members = match st.rooms.get(&room) {
            Some(log) if log.conflict().is_some() => log.ever_members().into_iter().collect(),
            Some(log) => log.state().map(|r| r.members().keys().cloned().collect()).unwrap_or_default(),
            None => Vec::new(),
        };
        self.queue_compose_to(batch, message, room, content, history_to, members)
    }

    /// [`queue_compose`](Self::queue_compose) to the members of an earlier
    /// moment (when the user sent it).
    pub(super) fn queue_compose_to(
        &self,
        batch: &mut Batch,
        message: MessageId,
        room: RoomId,
        content: RoomContent,
        history_to: Vec<UserId>,
        members: Vec<UserId>,
    ) -> Result<()> {
        let item = OutboxItem::Compose { id: message, room, content, history_to, members };
        batch.push(Op::Enqueue { id: MessageId(rand::random()), payload: ser(&item)?, queued: self.stamp() });
        Ok(())
    }

    pub(super) fn kick_flush(&self) {
        self.inner.flush_wanted.notify_one();
    }

    /// Wakes the flusher after `delay`, for an item that must be tried
    /// again (without keeping a closed engine alive meanwhile).
    pub(super) fn kick_flush_later(&self, delay: std::time::Duration) {
        let inner = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            if let Some(inner) = inner.upgrade() {
                inner.flush_wanted.notify_one();
            }
        });
    }

    /// Sends what is queued, oldest first, until the queue is empty or the
    /// relay is unreachable. Queued intents are encrypted in groups (one
    /// store commit each); ciphertexts are published in groups, pipelined
    /// on the connection, and their acknowledgements committed together.
    pub async fn flush(&self) -> Result<()> {
        const GROUP: usize = 256;
        let _one = self.inner.flushing.lock().await;
        // Intents for rooms in conflict wait where they are, and so do those
        // of rooms whose requests failed in this pass (tried again on the
        // next one); the rest go.
        let mut held: HashSet<MessageId> = HashSet::new();
        let mut failed: BTreeSet<RoomId> = BTreeSet::new();
        loop {
            let mut paused = self.paused_rooms().await;
            paused.extend(failed.iter().copied());
            let mut queued = self.inner.store.outbox_head(GROUP + held.len())?;
            queued.retain(|(id, _)| !held.contains(id));
            let Some((first_id, first)) = queued.first() else { return Ok(()) };
            match de::<OutboxItem>(first, "outbox item")? {
                OutboxItem::Compose { room, .. } if paused.contains(&room) => {
                    held.insert(*first_id);
                    continue;
                }
                OutboxItem::History { room, to } => {
                    if let Some(again) = self.send_history(*first_id, room, to).await? {
                        held.insert(again);
                        self.kick_flush_later(std::time::Duration::from_secs(2));
                    }
                    continue;
                }
                OutboxItem::Publish { .. } => {}
                OutboxItem::Compose { .. } => {
                    let group = queued_composes(&queued[..queued.len().min(GROUP)], &paused, None)?;
                    let rooms: Vec<RoomId> = group.iter().fold(Vec::new(), |mut rooms, c| {
                        if !rooms.contains(&c.room) {
                            rooms.push(c.room);
                        }
                        rooms
                    });
                    match self.encrypt_queued(group).await {
                        Ok(()) => self.room_sent(&rooms),
                        Err(e) if stops_flush(&e) => return Err(e),
                        // One room's request failed (a device list or a key
                        // claim the relay refused, a key that does not
                        // verify): each room again on its own, so that room
                        // waits and the others go.
                        Err(e) if rooms.len() == 1 => self.room_failed(rooms[0], &e, &mut failed).await,
                        Err(_) => {
                            for room in rooms {
                                let alone = queued_composes(&queued[..queued.len().min(GROUP)], &paused, Some(room))?;
                                match self.encrypt_queued(alone).await {
                                    Ok(()) => self.room_sent(&[room]),
                                    Err(e) if stops_flush(&e) => return Err(e),
                                    Err(e) => self.room_failed(room, &e, &mut failed).await,
                                }
                            }
                        }
                    }
                    continue;
                }
            }
            let mut publishes = Vec::new();
            for (id, payload) in queued.iter().take(GROUP) {
                match de::<OutboxItem>(payload, "outbox item")? {
                    OutboxItem::Publish { frame, keys_for } => {
                        let request = decode::<ClientFrame>(&frame)
                            .map_err(|e| ClientError::Config(format!("damaged outbox entry: {e}")))?
                            .request;
                        publishes.push(Queued { outbox_id: *id, request, keys_for });
                    }
                    OutboxItem::Compose { .. } | OutboxItem::History { .. } => break,
                }
            }
            self.publish_queued(publishes).await?;
        }
    }

    /// A room whose intents could not be encrypted: they stay queued, in
    /// order, while the rest of the outbox goes; the user is told once
    /// (until the room sends again or fails for another reason), and the
    /// room is tried again on the next flush (a send, a reconnect, or a
    /// minute from now).
    async fn room_failed(&self, room: RoomId, e: &ClientError, failed: &mut BTreeSet<RoomId>) {
        tracing::warn!(%room, error = %e, "a room's messages could not be prepared; they wait");
        failed.insert(room);
        let why = e.to_string();
        let news = {
            let mut known = self.inner.failing_rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            known.insert(room, why.clone()).is_none_or(|before| before != why)
        };
        if news {
            let name = match self.state().await {
                Ok(st) => st.rooms.get(&room).and_then(RoomLog::state).map(|s| s.name().to_string()),
                Err(_) => None,
            };
            let name = name.map(|n| format!("\"{n}\" ({room})")).unwrap_or_else(|| room.to_string());
            self.emit(Event::Alert(Alert::Rejected {
                detail: format!(
                    "messages in room {name} wait: {why}; the other rooms are not held up, and this one is tried again"
                ),
            }));
        }
        self.kick_flush_later(ROOM_RETRY);
    }

    /// Rooms whose intents went out: a later failure is news again.
    fn room_sent(&self, rooms: &[RoomId]) {
        let mut known = self.inner.failing_rooms.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for room in rooms {
            known.remove(room);
        }
    }

    /// Publishes in order, pipelined; commits what the relay acknowledged.
    pub(super) async fn publish_queued(&self, publishes: Vec<Queued>) -> Result<()> {
        // Submitted in queue order (Megolm numbering order), answers awaited
        // together.
        let mut answers = Vec::with_capacity(publishes.len());
        for q in &publishes {
            answers.push(self.inner.link.submit(q.request.clone()).await);
        }
        let mut results = Vec::with_capacity(answers.len());
        for a in answers {
            results.push(match a {
                Ok(answer) => answer.await,
                Err(e) => Err(e),
            });
        }
        let mut batch = Batch::new();
        let mut events = Vec::new();
        let mut offline = None;
        let mut rekey = BTreeSet::new();
        // Which publishes carry a stored message (marked sent once acked).
        let ids: Vec<MessageId> = publishes
            .iter()
            .filter_map(|q| match &q.request {
                Request::PublishRoom { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let stored: HashSet<MessageId> =
            self.inner.store.messages_by_id(&ids)?.into_iter().flatten().map(|m| m.id).collect();
        for (q, result) in publishes.into_iter().zip(results) {
            let room_message = match &q.request {
                Request::PublishRoom { id, .. } => stored.contains(id).then_some(*id),
                _ => None,
            };
            match result {
                Ok(_) => {
                    batch.push(Op::Dequeue(q.outbox_id));
                    if let Some(m) = room_message {
                        batch.push(Op::SetStatus { id: m, status: MessageStatus::Sent });
                        events.push(Event::Status(m, MessageStatus::Sent));
                    }
                }
                Err(ClientError::Refused(e))
                    if matches!(
                        e.code,
                        belfry_protocol::ErrorCode::Internal
                            | belfry_protocol::ErrorCode::RateLimited
                            | belfry_protocol::ErrorCode::Unavailable
                    ) =>
                {
                    // Worth retrying: it stays queued.
                    offline = offline.or(Some(ClientError::Refused(e)));
                }
                Err(ClientError::Refused(e)) => {
                    // The relay will never take it: do not retry forever.
                    batch.push(Op::Dequeue(q.outbox_id));
                    if let Some(m) = room_message {
                        batch.push(Op::SetStatus { id: m, status: MessageStatus::Failed });
                        events.push(Event::Status(m, MessageStatus::Failed));
                    }
                    rekey.extend(q.keys_for);
                    events.push(Event::Alert(Alert::Rejected {
                        detail: format!("the relay refused a message: {}", e.message),
                    }));
                }
                // Stays queued; resent (same id) when the relay is back.
                Err(e) => offline = offline.or(Some(e)),
            }
        }
        if rekey.is_empty() {
            self.commit(batch).await?;
        } else {
            // Room keys the relay refused to deliver: their devices were
            // marked as holding them. A new session for those rooms, shared
            // afresh with every current device before the next message.
            let mut st = self.state().await?;
            let st = &mut *st;
            let t = now();
            let mut fresh = Vec::new();
            for room in rekey {
                if st.rooms.contains_key(&room) {
                    let session = fresh_outbound(st, room, t, &mut batch)?;
                    batch.push(Op::PutOutboundSession { room, pickle: session.pickle(&st.pickle)? });
                    fresh.push((room, session));
                }
            }
            self.commit(batch).await?;
            st.outbound.extend(fresh);
        }
        for e in events {
            self.emit(e);
        }
        match offline {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Turns queued intents into ciphertext: refresh stale device lists,
    /// open Olm channels where needed, share each room key with the devices
    /// that lack it (rotating first when a device that had it is gone, or
    /// on the policy limits), encrypt; commit every advanced ratchet with
    /// the ciphertexts queued in place of the intents.
    pub(super) async fn encrypt_queued(&self, composes: Vec<Compose>) -> Result<()> {
        let rooms: BTreeSet<RoomId> = composes.iter().map(|c| c.room).collect();
        let stale: Vec<UserId> = {
            let st = self.state().await?;
            let members: BTreeSet<UserId> = rooms
                .iter()
                .filter_map(|r| st.rooms.get(r).and_then(RoomLog::state))
                .flat_map(|r| r.members().keys().cloned())
                .collect();
            members.into_iter().filter(|u| st.stale.contains(u)).collect()
        };
        self.refresh_users(&stale).await?;

        // Channels to open, for every device any of these messages goes to.
        let need_channel: Vec<DeviceAddress> = {
            let st = self.state().await?;
            let mut to = BTreeSet::new();
            for c in &composes {
                to.extend(recipients_of(&st, c));
            }
            to.into_iter()
                .filter(|a| !st.channels.iter().any(|c| c.peer_user() == &a.user && c.peer_device() == &a.device))
                .collect()
        };
        let claimed =
            if need_channel.is_empty() { Vec::new() } else { self.inner.link.claim_prekeys(need_channel).await? };

        let mut st = self.state().await?;
        let st = &mut *st;
        // Whatever fails from here leaves memory as the store has it: a
        // ratchet advanced for a ciphertext that is never stored would
        // leave a gap in its numbering when the intents are tried again.
        let (batch, events) = match self.encrypt_locked(st, claimed, composes) {
            Ok(done) => done,
            Err(e) => {
                self.roll_back(st)?;
                return Err(e);
            }
        };
        if let Err(e) = self.commit_encrypted(batch).await {
            // The ratchets advanced in memory for ciphertexts that were never
            // stored: back to what the store holds, so the intents, still
            // queued, are encrypted again from there (no gap in a session's
            // numbering, nothing encrypted under state the store lacks).
            self.roll_back(st)?;
            return Err(e);
        }
        for e in events {
            self.emit(e);
        }
        Ok(())
    }

    /// The part of [`encrypt_queued`](Self::encrypt_queued) under the state
    /// lock: opens the claimed channels, shares keys, encrypts, and returns
    /// the batch to commit (ratchets with ciphertexts) and the events to
    /// emit once it is committed.
    fn encrypt_locked(
        &self,
        st: &mut State,
        claimed: Vec<belfry_protocol::frames::ClaimedPrekey>,
        composes: Vec<Compose>,
    ) -> Result<(Batch, Vec<Event>)> {
        let t = now();
        // A message carries the time it was written (stored with it), not
        // when it was encrypted: a group encrypted together, or a message
        // that waited offline, keeps its place in everyone's timeline.
        let ids: Vec<MessageId> = composes.iter().map(|c| c.message).collect();
        let written: HashMap<MessageId, Timestamp> = self
            .inner
            .store
            .messages_by_id(&ids)?
            .into_iter()
            .flatten()
            .filter(|m| m.sender == *st.device.user())
            .map(|m| (m.id, m.sent_at))
            .collect();
        let mut batch = Batch::new();
        let mut events = Vec::new();
        for c in claimed {
            let Ok(peer) = st.dir.trusted(&c.address.user, &c.address.device).cloned() else { continue };
            let Some(prekey) = c.prekey else {
                events.push(Event::Alert(Alert::Rejected {
                    detail: format!(
                        "{}/{} has no keys on the relay; it cannot read this room yet",
                        peer.user, peer.device
                    ),
                }));
                continue;
            };
            match st.device.open_channel(&peer, &prekey) {
                Ok(ch) => st.channels.push(ch),
                Err(e) => events.push(Event::Alert(Alert::Rejected {
                    detail: format!("a key of {}/{} was refused: {e}", peer.user, peer.device),
                })),
            }
        }
        let mut touched_rooms = BTreeSet::new();
        let mut touched_peers = BTreeSet::new();
        for c in composes {
            // A room that went into conflict since the flush looked: the
            // intent stays queued.
            if st.rooms.get(&c.room).is_some_and(|log| log.conflict().is_some()) {
                continue;
            }
            batch.push(Op::Dequeue(c.outbox_id));
            if st.rooms.get(&c.room).and_then(RoomLog::state).is_none() {
                continue;
            }
            let reachable: BTreeSet<DeviceAddress> = recipients_of(st, &c)
                .into_iter()
                .filter(|a| st.channels.iter().any(|ch| ch.peer_user() == &a.user && ch.peer_device() == &a.device))
                .collect();
            let room = c.room;
            tracing::debug!(%room, message = %c.message, recipients = reachable.len(), "encrypting");
            if reachable.is_empty() {
                tracing::warn!(%room, "no device can receive this message yet");
            }
            let rotate = match st.outbound.get(&room) {
                Some(s) => s.rotation_needed(t, &reachable).is_some(),
                None => match self.inner.store.outbound_session(&room)? {
                    Some(p) => {
                        let s = OutboundRoomSession::unpickle(&p, &st.pickle)?;
                        let r = s.rotation_needed(t, &reachable).is_some();
                        st.outbound.insert(room, s);
                        r
                    }
                    None => true,
                },
            };
            if rotate {
                let session = fresh_outbound(st, room, t, &mut batch)?;
                st.outbound.insert(room, session);
            }
            let Some(session) = st.outbound.get_mut(&room) else {
                return Err(ClientError::Config("outbound session missing".into()));
            };
            let mut key_messages = Vec::new();
            for addr in session.missing(&reachable) {
                let Ok(peer) = st.dir.trusted(&addr.user, &addr.device).cloned() else { continue };
                let Some(ch) =
                    st.channels.iter_mut().find(|c| c.peer_user() == &addr.user && c.peer_device() == &addr.device)
                else {
                    continue;
                };
                key_messages.push(st.device.seal_to_device(ch, &peer, session.room_key())?);
                session.mark_shared(addr);
            }
            let state_hash =
                st.rooms.get(&room).and_then(RoomLog::state).map(RoomState::head).unwrap_or(Hash256([0; 32]));
            let at = written.get(&c.message).copied().unwrap_or(t);
            let encrypted = session.encrypt(&st.device, c.message, state_hash, c.content, at)?;
            // History for new members: the earlier state events, under a
            // one-off session shared with their devices only (the room
            // session's numbering stays the same for every member).
            let mut history = Vec::new();
            if !c.history_to.is_empty()
                && let Some(record) = st.rooms.get(&room)
            {
                let to: Vec<DeviceAddress> =
                    reachable.iter().filter(|a| c.history_to.contains(&a.user)).cloned().collect();
                let mut once = OutboundRoomSession::new(&st.device, room, RotationPolicy::default(), t)?;
                for addr in &to {
                    let Ok(peer) = st.dir.trusted(&addr.user, &addr.device).cloned() else { continue };
                    if let Some(ch) =
                        st.channels.iter_mut().find(|c| c.peer_user() == &addr.user && c.peer_device() == &addr.device)
                    {
                        key_messages.push(st.device.seal_to_device(ch, &peer, once.room_key())?);
                    }
                }
                let earlier = record.events().len().saturating_sub(1);
                for event in record.events().iter().take(earlier) {
                    let content = RoomContent::State(event.clone());
                    let m = once.encrypt(&st.device, MessageId(rand::random()), state_hash, content, t)?;
                    history.push((to.clone(), m));
                }
            }
            for messages in crate::net::to_device_batches(key_messages) {
                let id = MessageId(rand::random());
                let request = Request::PublishToDevice { id, messages };
                queue_publish_keys(&mut batch, id, request, self.stamp(), vec![room])?;
            }
            for (to, m) in history {
                let id = MessageId(rand::random());
                queue_publish(&mut batch, id, Request::PublishRoom { id, recipients: to, message: m }, self.stamp())?;
            }
            touched_peers.extend(reachable.iter().cloned());
            let recipients: Vec<DeviceAddress> = reachable.into_iter().collect();
            let request = Request::PublishRoom { id: c.message, recipients, message: encrypted };
            queue_publish(&mut batch, c.message, request, self.stamp())?;
            touched_rooms.insert(room);
        }
        // Ratchets, in the same batch as the ciphertexts they made.
        for room in touched_rooms {
            if let Some(session) = st.outbound.get(&room) {
                batch.push(Op::PutOutboundSession { room, pickle: session.pickle(&st.pickle)? });
            }
        }
        for ch in &st.channels {
            if touched_peers.iter().any(|a| ch.peer_user() == &a.user && ch.peer_device() == &a.device) {
                batch.push(Op::PutOlmSession {
                    peer_user: ch.peer_user().clone(),
                    peer_device: ch.peer_device().clone(),
                    session_id: ch.session_id(),
                    pickle: ch.pickle(&st.pickle)?,
                });
            }
        }
        Ok((batch, events))
    }
}
