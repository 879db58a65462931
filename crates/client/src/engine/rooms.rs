//! Room state on this device: receiving state events into each room's
//! fork-aware [`RoomLog`], fetching the devices of signers a joining device
//! does not know yet, pausing a room in conflict, and sending a room's
//! history to this user's new devices.
//!
//! A room in conflict (events missing, a signer not fetched, a member
//! writing under a state this device lacks) does not send: its queued
//! messages wait in the outbox (see `Engine::flush`), the room's view says
//! why and an alert says so once. The conflict ends when the missing events
//! arrive and the canonical rule (`belfry_crypto::RoomLog`) has placed them.

use super::{
    Alert, Engine, Event, OutboxItem, Pending, State, address, now, queue_publish, queue_publish_keys, room_op, ser,
    state_alert,
};
use crate::error::{ClientError, Result};
use belfry_crypto::{
    Device, Directory, OutboundRoomSession, Outcome, RoomLog, RoomState, RotationPolicy, VerifiedDevice,
};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::room::{Role, RoomKind};
use belfry_protocol::{
    DisplayName, Hash256, MessageId, Request, RoomContent, RoomId, RoomStateEvent, Signed, StateContent, UserId,
};
use belfry_store::{Batch, Op};
use std::collections::BTreeSet;

/// A room whose state this device holds, or why not.
pub(super) fn joined<'a>(st: &'a State, room: &RoomId) -> Result<&'a RoomState> {
    st.rooms.get(room).and_then(RoomLog::state).ok_or_else(|| ClientError::NotFound(format!("no room {room}")))
}

/// Signs `content` on this device's head of `log` and applies it: the
/// event to publish.
pub(super) fn apply_own(
    log: &mut RoomLog,
    device: &Device,
    dir: &Directory,
    content: StateContent,
    t: Timestamp,
) -> Result<Signed<RoomStateEvent>> {
    let event =
        log.propose(device, content, t).ok_or_else(|| ClientError::NotFound(format!("no room {}", log.room())))?;
    let outcome = log.receive(&event, dir)?;
    if let Some(refused) = outcome.refused.into_iter().next() {
        return Err(refused.into());
    }
    if !outcome.changed {
        return Err(ClientError::Input("the room's state did not accept this change".into()));
    }
    Ok(event)
}

impl Engine {
    /// Renames a group room (admins only; a member who is not gets
    /// [`ClientError::State`] with [`belfry_crypto::StateError::NotAllowed`]
    /// and nothing is sent). The name follows the protocol's rules for
    /// display names (1 to 128 characters, no control, bidi, zero-width or other
    /// invisible characters; surrounding white space is dropped), else
    /// [`ClientError::Input`]. A direct room is named after the other
    /// person and cannot be renamed. Every member's device shows the new
    /// name ([`Event::Room`]) once the signed change reaches it.
    pub async fn rename_room(&self, room: RoomId, name: &str) -> Result<()> {
        let name = DisplayName::new(name.trim()).map_err(|e| ClientError::Input(format!("room name: {e}")))?;
        {
            let st = self.state().await?;
            let state = joined(&st, &room)?;
            if state.kind() == RoomKind::Direct {
                return Err(ClientError::Input("a direct room cannot be renamed".into()));
            }
            if *state.name() == name {
                return Ok(());
            }
        }
        self.change_state(room, StateContent::Name(name), Vec::new()).await
    }

    /// Changes a member's role (admins only): `Admin` lets them add and
    /// remove members and change the room's settings.
    pub async fn set_role(&self, room: RoomId, user: UserId, role: Role) -> Result<()> {
        {
            let st = self.state().await?;
            if !joined(&st, &room)?.is_member(&user) {
                return Err(ClientError::Input(format!("{user} is not a member of this room")));
            }
        }
        self.change_state(room, StateContent::Member { user, role }, Vec::new()).await
    }

    /// Takes a state event that arrived in `room` (payload and event agree
    /// on the room).
    pub(super) fn receive_state(
        &self,
        st: &mut State,
        room: RoomId,
        event: &Signed<RoomStateEvent>,
        batch: &mut Batch,
        events: &mut Vec<Event>,
        pending: &mut Pending,
    ) -> Result<()> {
        let log = st.rooms.entry(room).or_insert_with(|| RoomLog::new(room));
        let before = log.conflict();
        let received = log.receive(event, &st.dir);
        match received {
            Ok(outcome) => self.after_state(st, room, outcome, before, batch, events, pending)?,
            Err(e) => events.push(Event::Alert(state_alert(room, &e))),
        }
        // A room known only from events that were all refused is forgotten.
        if st.rooms.get(&room).is_some_and(RoomLog::is_empty) {
            st.rooms.remove(&room);
        }
        Ok(())
    }

    /// What placing (or holding) state events means for this device: alerts,
    /// the stored log, device fetches, messages that waited for the room.
    #[allow(clippy::too_many_arguments)]
    fn after_state(
        &self,
        st: &mut State,
        room: RoomId,
        outcome: Outcome,
        before: Option<String>,
        batch: &mut Batch,
        events: &mut Vec<Event>,
        pending: &mut Pending,
    ) -> Result<()> {
        for e in &outcome.refused {
            events.push(Event::Alert(state_alert(room, e)));
        }
        for fork in &outcome.forks {
            let detail = if fork.replaced {
                format!(
                    "two histories of this room split at change {}; by the rule every device applies, the other \
                     one stands and this device now follows it (members may have changed)",
                    fork.seq
                )
            } else {
                format!(
                    "two histories of this room split at change {}; by the rule every device applies, the one \
                     this device follows stands and the other was set aside",
                    fork.seq
                )
            };
            events.push(Event::Alert(Alert::StateConflict { room, detail }));
        }
        st.room_fetch.extend(outcome.fetch.iter().cloned());
        let Some(log) = st.rooms.get(&room) else { return Ok(()) };
        let after = log.conflict();
        if let (None, Some(why)) = (&before, &after) {
            events.push(Event::Alert(Alert::StateConflict { room, detail: format!("sending is paused: {why}") }));
        }
        batch.push(room_op(room, log)?);
        let Some(state) = log.state() else { return Ok(()) };
        if !outcome.changed && before == after {
            return Ok(());
        }
        let members: Vec<UserId> = state.members().keys().cloned().collect();
        st.stale.extend(members);
        events.push(Event::Room(room));
        if !outcome.changed {
            return Ok(());
        }
        // Messages that were read before this room was known.
        let mut ready = Vec::new();
        for w in std::mem::take(&mut st.waiting) {
            if w.msg.room == room && self.load_inbound(st, &super::inbound_key_of(&w.msg))? {
                ready.push(w);
            } else {
                st.waiting.push(w);
            }
        }
        for w in ready {
            batch.push(Op::DeleteWaiting(w.id));
            self.receive_room(st, w.msg, batch, events, pending, false)?;
        }
        Ok(())
    }

    /// Notes the state a message in `room` was sent under. A (past or
    /// present) member writing under a state this device does not hold puts
    /// the room in conflict: something was withheld from this device.
    pub(super) fn note_claim(
        &self,
        st: &mut State,
        room: RoomId,
        sender: &UserId,
        state_hash: &Hash256,
        batch: &mut Batch,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        let Some(log) = st.rooms.get_mut(&room) else { return Ok(()) };
        if log.state().is_none() || (log.holds(state_hash) && !log.has_claim(sender)) || !log.was_member(sender) {
            return Ok(());
        }
        let before = log.conflict();
        if log.claim(sender, state_hash) {
            events.push(Event::Alert(Alert::StateConflict {
                room,
                detail: format!(
                    "{sender} sent a message under a room state this device does not have: members may be seeing \
                     different histories"
                ),
            }));
        }
        let after = log.conflict();
        if before != after {
            if let (None, Some(why)) = (&before, &after) {
                events.push(Event::Alert(Alert::StateConflict { room, detail: format!("sending is paused: {why}") }));
            }
            batch.push(room_op(room, log)?);
            events.push(Event::Room(room));
        }
        Ok(())
    }

    /// Rooms that must not send now.
    pub(super) async fn paused_rooms(&self) -> BTreeSet<RoomId> {
        // Locked: nothing is sent at all (every send fails on the state).
        let Ok(st) = self.state().await else { return BTreeSet::new() };
        st.rooms.iter().filter(|(_, log)| log.conflict().is_some()).map(|(room, _)| *room).collect()
    }

    /// Fetches the devices of signers held events wait for, then judges
    /// those events again.
    pub(super) fn spawn_room_fetch(&self, users: BTreeSet<UserId>) {
        let engine = self.clone();
        tokio::spawn(async move {
            let users: Vec<UserId> = users.into_iter().collect();
            match engine.refresh_users(&users).await {
                Ok(()) => {
                    if let Err(e) = engine.retry_rooms().await {
                        tracing::warn!(error = %e, "judging held room state again failed");
                    }
                }
                Err(e) => tracing::warn!(error = %e, "fetching the devices of room state signers failed"),
            }
        });
    }

    /// Judges every room's held events again.
    async fn retry_rooms(&self) -> Result<()> {
        let mut st = self.state().await?;
        let st = &mut *st;
        let (mut batch, mut events, mut pending) = (Batch::new(), Vec::new(), Pending::new());
        let rooms: Vec<RoomId> = st.rooms.keys().copied().collect();
        for room in rooms {
            let Some(log) = st.rooms.get_mut(&room) else { continue };
            let before = log.conflict();
            let outcome = log.retry(&st.dir);
            if outcome == Outcome::default() && before == log.conflict() {
                continue;
            }
            self.after_state(st, room, outcome, before, &mut batch, &mut events, &mut pending)?;
        }
        // Signers still unknown stay held (and the room in conflict) until
        // the next event of the room brings a new fetch.
        st.room_fetch.clear();
        self.commit(batch).await?;
        for e in events {
            self.emit(e);
        }
        self.kick_flush();
        Ok(())
    }

    /// Queues every room's history for this user's new device `device`
    /// (the devices of other members get rooms when they join them).
    pub(super) fn queue_histories(&self, st: &State, device: &VerifiedDevice, batch: &mut Batch) -> Result<()> {
        let me = st.device.user();
        if device.user != *me || device.device == *st.device.device_id() {
            return Ok(());
        }
        for (room, log) in &st.rooms {
            if log.state().is_some_and(|s| s.is_member(me)) {
                let item = OutboxItem::History { room: *room, to: vec![address(device)] };
                batch.push(Op::Enqueue { id: MessageId(rand::random()), payload: ser(&item)?, queued: self.stamp() });
            }
        }
        Ok(())
    }

    /// Sends `room`'s state history to `to` under a one-off session shared
    /// with them only, and takes the item off the outbox. Trusted devices
    /// with no Olm channel yet (no one-time or fallback key to claim, e.g. a
    /// device that has just enrolled and not uploaded its keys) are queued
    /// again in a new item, whose id is returned: the caller skips it for
    /// the rest of this flush, and a later flush tries again.
    pub(super) async fn send_history(
        &self,
        outbox_id: MessageId,
        room: RoomId,
        to: Vec<DeviceAddress>,
    ) -> Result<Option<MessageId>> {
        self.open_channels(&to).await?;
        let mut st = self.state().await?;
        let st = &mut *st;
        let t = now();
        let mut batch = Batch::new().with(Op::Dequeue(outbox_id));
        let mut again = None;
        if let Some(log) = st.rooms.get(&room)
            && let Some(state) = log.state()
        {
            let head = state.head();
            let mut once = OutboundRoomSession::new(&st.device, room, RotationPolicy::default(), t)?;
            let mut keys = Vec::new();
            let mut reached = Vec::new();
            let mut unreached = Vec::new();
            for addr in &to {
                let Ok(peer) = st.dir.trusted(&addr.user, &addr.device).cloned() else { continue };
                let Some(ch) =
                    st.channels.iter_mut().find(|c| c.peer_user() == &addr.user && c.peer_device() == &addr.device)
                else {
                    unreached.push(addr.clone());
                    continue;
                };
                keys.push(st.device.seal_to_device(ch, &peer, once.room_key())?);
                batch.push(Op::PutOlmSession {
                    peer_user: peer.user.clone(),
                    peer_device: peer.device.clone(),
                    session_id: ch.session_id(),
                    pickle: ch.pickle(&st.pickle)?,
                });
                reached.push(addr.clone());
            }
            if !reached.is_empty() {
                let id = MessageId(rand::random());
                let request = Request::PublishToDevice { id, messages: keys };
                queue_publish_keys(&mut batch, id, request, self.stamp(), Vec::new())?;
                for event in log.events() {
                    let content = RoomContent::State(event.clone());
                    let m = once.encrypt(&st.device, MessageId(rand::random()), head, content, t)?;
                    let id = MessageId(rand::random());
                    let request = Request::PublishRoom { id, recipients: reached.clone(), message: m };
                    queue_publish(&mut batch, id, request, self.stamp())?;
                }
            }
            if !unreached.is_empty() {
                let id = MessageId(rand::random());
                let item = OutboxItem::History { room, to: unreached };
                batch.push(Op::Enqueue { id, payload: ser(&item)?, queued: self.stamp() });
                again = Some(id);
            }
        }
        self.commit(batch).await?;
        Ok(again)
    }

    /// Opens Olm channels to those of `to` that have none (one-time keys
    /// claimed from the relay).
    async fn open_channels(&self, to: &[DeviceAddress]) -> Result<()> {
        let need: Vec<DeviceAddress> = {
            let st = self.state().await?;
            to.iter()
                .filter(|a| !st.channels.iter().any(|c| c.peer_user() == &a.user && c.peer_device() == &a.device))
                .cloned()
                .collect()
        };
        if need.is_empty() {
            return Ok(());
        }
        let claimed = self.inner.link.claim_prekeys(need).await?;
        let mut guard = self.state().await?;
        let st = &mut *guard;
        let mut events = Vec::new();
        for c in claimed {
            let Ok(peer) = st.dir.trusted(&c.address.user, &c.address.device).cloned() else { continue };
            let Some(prekey) = c.prekey else { continue };
            match st.device.open_channel(&peer, &prekey) {
                Ok(ch) => st.channels.push(ch),
                Err(e) => events.push(Event::Alert(Alert::Rejected {
                    detail: format!("a key of {}/{} was refused: {e}", peer.user, peer.device),
                })),
            }
        }
        drop(guard);
        for e in events {
            self.emit(e);
        }
        Ok(())
    }
}
