//! Room keys a device missed, recovered from the user's own other devices.
//!
//! A room message whose Megolm session this device does not hold waits (see
//! `receive_room`). This module then asks the user's other trusted devices
//! (chain verified, not revoked) for the session with a
//! [`ToDeviceContent::RoomKeyRequest`]: once per session, again at most
//! every [`ASK_AGAIN_AFTER_MS`], at most [`MAX_SESSIONS_PER_PASS`] sessions a
//! pass.
//!
//! An own device that holds the session, for a room this user is a member
//! of, answers with a [`ToDeviceContent::ForwardedRoomKey`] exported at the
//! earliest index it has; otherwise with
//! [`ToDeviceContent::RoomKeyUnavailable`]. It answers only own devices the
//! user has verified in person (SAS) from this device: a chain-valid device
//! is not enough, because a stolen invitation makes one, and forwarding
//! would hand it the history of every room (as matrix-rust-sdk shares keys
//! only with cross-signing-verified own devices). An unverified own device
//! that asks gets nothing, and this device says so, naming it. A request
//! from another user's device is refused with an alert, never the key.
//!
//! A forwarded key is accepted only from one of the user's own devices
//! verified in person, only for a session this device asked for (and for
//! the room it asked about), only when the creator's signed claim verifies
//! against the trusted device it names, and never in place of a session
//! already held. Then the waiting messages decrypt. Anything else is refused
//! with an alert and the messages keep waiting.

use super::{Alert, Engine, Event, K_KEY_REQUESTS, State, address, de, now, ser, value};
use crate::error::Result;
use belfry_crypto::{InboundRoomSession, ReceivedToDevice, VerifiedDevice};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::{DeviceId, Ed25519Public, RoomId, RoomMessage, ToDeviceContent, UserId};
use belfry_store::{Batch, SqlStore, Store as _};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// A session is asked for again after this long without an answer.
pub const ASK_AGAIN_AFTER_MS: u64 = 15 * 60 * 1000;
/// Most sessions asked for in one pass.
pub const MAX_SESSIONS_PER_PASS: usize = 32;
/// The same device gets the same session again only after this long.
const ANSWER_AGAIN_AFTER: Duration = Duration::from_secs(60);

/// A session asked of this user's other devices.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Asked {
    room: RoomId,
    at: Timestamp,
}

/// What this device asked for (kept in the store) and answered (in memory).
#[derive(Debug, Default)]
pub(super) struct Recovery {
    asked: BTreeMap<Ed25519Public, Asked>,
    answered: HashMap<(DeviceAddress, Ed25519Public), Instant>,
    reported_unavailable: HashSet<(DeviceId, Ed25519Public)>,
    /// Requests of own devices not verified in person (reported once):
    /// answered if the device is verified later.
    unverified_asked: HashMap<(DeviceId, Ed25519Public), RoomId>,
    /// A frame left messages waiting for a key: run a pass after it.
    pub(super) wanted: bool,
    /// A pass is running; another one was wanted meanwhile.
    running: bool,
    again: bool,
}

impl Recovery {
    /// The requests kept in `store`.
    pub(super) fn load(store: &SqlStore) -> Result<Self> {
        let asked = match store.value(K_KEY_REQUESTS)? {
            Some(b) => de(&b, "key requests")?,
            None => BTreeMap::new(),
        };
        Ok(Self { asked, ..Self::default() })
    }

    /// The requests as `store` keeps them again (after a failed commit);
    /// the rest lives in memory only and stays.
    pub(super) fn reload(&mut self, store: &SqlStore) -> Result<()> {
        self.asked = Self::load(store)?.asked;
        Ok(())
    }
}

fn own_others(st: &State) -> Vec<DeviceAddress> {
    let me = st.device.device_id();
    st.dir.trusted_devices(st.device.user()).into_iter().filter(|d| d.device != *me).map(address).collect()
}

impl Engine {
    /// Why a message waits for its key, for the alert; a pass asking this
    /// user's other devices follows the frame.
    pub(super) fn missing_key(&self, st: &mut State, msg: &RoomMessage) -> String {
        st.recovery.wanted = true;
        if st.recovery.asked.contains_key(&msg.session) {
            "its key has not reached this device; your other devices were asked for it".into()
        } else {
            "its key has not reached this device (it was not shared with it, or not yet); asking your other \
             devices for it"
                .into()
        }
    }

    /// Forgets a request once its session is held.
    pub(super) fn forget_key_request(&self, st: &mut State, session: &Ed25519Public, batch: &mut Batch) -> Result<()> {
        if st.recovery.asked.remove(session).is_some() {
            batch.push(value(K_KEY_REQUESTS, ser(&st.recovery.asked)?));
        }
        Ok(())
    }

    /// Runs a request pass in the background.
    pub(super) fn spawn_key_recovery(&self) {
        let engine = self.clone();
        tokio::spawn(async move {
            if let Err(e) = engine.request_missing_keys().await {
                tracing::debug!(error = %e, "asking own devices for missing room keys stopped");
            }
        });
    }

    /// Asks this user's other devices for the sessions messages wait for.
    async fn request_missing_keys(&self) -> Result<()> {
        {
            let mut st = self.state().await?;
            if st.recovery.running {
                st.recovery.again = true;
                return Ok(());
            }
            st.recovery.running = true;
        }
        let mut result = Ok(());
        loop {
            if let Err(e) = self.request_pass().await {
                result = Err(e);
                break;
            }
            let mut st = self.state().await?;
            if !std::mem::take(&mut st.recovery.again) {
                break;
            }
        }
        let mut st = self.state().await?;
        st.recovery.running = false;
        st.recovery.again = false;
        result
    }

    async fn request_pass(&self) -> Result<()> {
        let t = now();
        // What to ask for, and whose devices to look up first: the senders
        // (to check the forwarded claims against) and this user.
        let (todo, users) = {
            let mut guard = self.state().await?;
            let st = &mut *guard;
            let waiting: BTreeSet<Ed25519Public> = st.waiting.iter().map(|m| m.session).collect();
            let before = st.recovery.asked.len();
            st.recovery.asked.retain(|s, _| waiting.contains(s));
            if st.recovery.asked.len() != before {
                let batch = Batch::new().with(value(K_KEY_REQUESTS, ser(&st.recovery.asked)?));
                self.commit(batch).await?;
            }
            let mut todo: BTreeMap<Ed25519Public, &RoomMessage> = BTreeMap::new();
            for m in &st.waiting {
                let due =
                    st.recovery.asked.get(&m.session).is_none_or(|a| t.0.saturating_sub(a.at.0) >= ASK_AGAIN_AFTER_MS);
                if due && todo.len() < MAX_SESSIONS_PER_PASS {
                    todo.entry(m.session).or_insert(m);
                }
            }
            let mut users: BTreeSet<UserId> = todo
                .values()
                .filter(|m| st.dir.trusted(&m.sender, &m.sender_device).is_err())
                .map(|m| m.sender.clone())
                .collect();
            users.insert(st.device.user().clone());
            let todo: Vec<(Ed25519Public, RoomId, UserId, DeviceId)> =
                todo.into_iter().map(|(s, m)| (s, m.room, m.sender.clone(), m.sender_device.clone())).collect();
            (todo, users)
        };
        if todo.is_empty() {
            return Ok(());
        }
        self.refresh_users(&users.into_iter().collect::<Vec<_>>()).await?;
        let others = own_others(&*self.state().await?);
        if others.is_empty() {
            // Nobody to ask: say so once per session (and again only after
            // the retry interval).
            let mut st = self.state().await?;
            let mut events = Vec::new();
            for (session, room, sender, _) in &todo {
                st.recovery.asked.insert(*session, Asked { room: *room, at: t });
                events.push(Event::Alert(Alert::Undecryptable {
                    room: *room,
                    sender: sender.clone(),
                    reason: "its key has not reached this device, and you have no other device that could have it"
                        .into(),
                }));
            }
            self.commit(Batch::new().with(value(K_KEY_REQUESTS, ser(&st.recovery.asked)?))).await?;
            drop(st);
            for e in events {
                self.emit(e);
            }
            return Ok(());
        }
        self.ensure_channels(&others).await?;
        let mut guard = self.state().await?;
        let st = &mut *guard;
        let mut out = super::direct::Outgoing::default();
        let mut asked_any = false;
        for (session, room, sender, device) in &todo {
            // Arrived meanwhile?
            if self.load_inbound(st, &(sender.clone(), device.clone(), *session))? {
                continue;
            }
            let mut sent = false;
            for to in &others {
                sent |= out.seal(st, to, ToDeviceContent::RoomKeyRequest { room: *room, session: *session })?;
            }
            if sent {
                st.recovery.asked.insert(*session, Asked { room: *room, at: t });
                asked_any = true;
                tracing::debug!(%room, session = %session.to_base64(), "asked own devices for a missing room key");
            }
        }
        if !asked_any {
            return Ok(());
        }
        let mut batch = Batch::new();
        out.queue(self, st, &mut batch)?;
        batch.push(value(K_KEY_REQUESTS, ser(&st.recovery.asked)?));
        self.commit(batch).await?;
        drop(guard);
        self.kick_flush();
        Ok(())
    }

    /// Another device asks this one for a room key.
    pub(super) fn answer_key_request(
        &self,
        st: &mut State,
        sender: &VerifiedDevice,
        room: RoomId,
        session: Ed25519Public,
        batch: &mut Batch,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        let me = st.device.user().clone();
        if sender.user != me {
            events.push(Event::Alert(Alert::Rejected {
                detail: format!(
                    "{}/{} asked this device for a room key; only your own devices may ask, so nothing was sent",
                    sender.user, sender.device
                ),
            }));
            return Ok(());
        }
        let from = address(sender);
        if !sender.sas_verified {
            // Said once per device and session, not on every retry.
            if st.recovery.unverified_asked.insert((sender.device.clone(), session), room).is_none() {
                events.push(Event::Alert(Alert::Rejected {
                    detail: format!(
                        "your device {} ({}) asked for the key to older messages; it gets none until you verify \
                         it in person from this device (belfry verify {} {})",
                        sender.device, sender.device_name, sender.user, sender.device
                    ),
                }));
            }
            return Ok(());
        }
        let at = Instant::now();
        st.recovery.answered.retain(|_, when| at.duration_since(*when) < ANSWER_AGAIN_AFTER);
        if st.recovery.answered.contains_key(&(from.clone(), session)) {
            return Ok(());
        }
        st.recovery.answered.insert((from.clone(), session), at);
        let member = st.rooms.get(&room).and_then(belfry_crypto::RoomLog::state).is_some_and(|r| r.is_member(&me));
        // A request names the session by id only: every session held under
        // that id for that room goes (one, unless someone claimed another's
        // id; the asking device checks each creator's claim).
        let mut contents = Vec::new();
        if member {
            for p in self.inner.store.inbound_sessions(&session)? {
                let held = InboundRoomSession::unpickle(&p, &st.pickle)?;
                if *held.room() == room {
                    contents.push(held.forward());
                }
            }
        }
        let forwarded = !contents.is_empty();
        if contents.is_empty() {
            contents.push(ToDeviceContent::RoomKeyUnavailable { room, session });
        }
        for content in contents {
            if self.send_sealed(st, batch, &from, content)? {
                tracing::debug!(%room, device = %from.device, forwarded, "answered a room key request of our own device");
            }
        }
        Ok(())
    }

    /// One of this user's devices was just verified in person: it may now
    /// ask again (this device re-asks at once what it still waits for) and
    /// is answered what it asked while unverified.
    pub(super) fn own_device_verified(
        &self,
        st: &mut State,
        device: &VerifiedDevice,
        batch: &mut Batch,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        // What this device asked is asked again at once, now of a device
        // that may answer. The requests stay on record: an answer to one
        // of them already on its way must still be accepted as asked for.
        for asked in st.recovery.asked.values_mut() {
            asked.at = Timestamp(0);
        }
        batch.push(value(K_KEY_REQUESTS, ser(&st.recovery.asked)?));
        st.recovery.wanted = true;
        let forget_answers = |st: &mut State| {
            st.recovery.answered.retain(|(to, _), _| to.user != device.user || to.device != device.device)
        };
        forget_answers(st);
        let pending: Vec<(Ed25519Public, RoomId)> = st
            .recovery
            .unverified_asked
            .iter()
            .filter(|((d, _), _)| *d == device.device)
            .map(|((_, session), room)| (*session, *room))
            .collect();
        for (session, room) in pending {
            st.recovery.unverified_asked.remove(&(device.device.clone(), session));
            self.answer_key_request(st, device, room, session, batch, events)?;
        }
        // Its next requests are answered even though an answer went out
        // just now: that answer may reach it before it has verified this
        // device, and then it asks again.
        forget_answers(st);
        self.spawn_key_recovery();
        Ok(())
    }

    /// One of this user's devices cannot supply a key this device asked for.
    pub(super) fn receive_key_unavailable(
        &self,
        st: &mut State,
        sender: &VerifiedDevice,
        room: RoomId,
        session: &Ed25519Public,
        events: &mut Vec<Event>,
    ) {
        if sender.user != *st.device.user() || st.recovery.asked.get(session).is_none_or(|a| a.room != room) {
            return;
        }
        if !st.recovery.reported_unavailable.insert((sender.device.clone(), *session)) {
            return;
        }
        if let Some(m) = st.waiting.iter().find(|m| m.session == *session) {
            events.push(Event::Alert(Alert::Undecryptable {
                room,
                sender: m.sender.clone(),
                reason: format!(
                    "its key has not reached this device, and your device {} ({}) does not have it either",
                    sender.device, sender.device_name
                ),
            }));
        }
    }

    /// A room key forwarded by another device.
    pub(super) fn receive_forwarded_key(
        &self,
        st: &mut State,
        received: &ReceivedToDevice,
        batch: &mut Batch,
        events: &mut Vec<Event>,
        retry: &mut Vec<RoomMessage>,
    ) -> Result<()> {
        let by = received.sender();
        let refuse = |events: &mut Vec<Event>, why: String| {
            events.push(Event::Alert(Alert::Rejected {
                detail: format!("a room key forwarded by {}/{} was refused: {why}", by.user, by.device),
            }));
        };
        let me = st.device.user().clone();
        if by.user != me {
            refuse(events, "only your own devices may forward keys".into());
            return Ok(());
        }
        if !by.sas_verified {
            refuse(events, "that device of yours is not verified in person from this one".into());
            return Ok(());
        }
        let ToDeviceContent::ForwardedRoomKey(key) = received.content() else { return Ok(()) };
        let claim = match key.claim.peek_unverified() {
            Ok(c) => c,
            Err(e) => {
                refuse(events, format!("its claim does not decode: {e}"));
                return Ok(());
            }
        };
        // A held key is never replaced (a later export could only lose
        // messages; a different one would be a forgery).
        if self.load_inbound(st, &(claim.sender.clone(), claim.sender_device.clone(), claim.session))? {
            tracing::debug!(session = %claim.session.to_base64(), "forwarded key for a session already held; kept ours");
            return self.forget_key_request(st, &claim.session, batch);
        }
        match st.recovery.asked.get(&claim.session) {
            Some(asked) if asked.room == claim.room => {}
            _ => {
                refuse(events, "this device did not ask for it (for that room)".into());
                return Ok(());
            }
        }
        let original = match st.dir.trusted(&claim.sender, &claim.sender_device) {
            Ok(d) => d.clone(),
            Err(e) => {
                refuse(events, format!("the device it names as the key's creator is not trusted: {e}"));
                return Ok(());
            }
        };
        match InboundRoomSession::from_forwarded_key(received, &me, &original) {
            Ok(session) => {
                tracing::debug!(room = %session.room(), by = %by.device, "imported a forwarded room key");
                self.hold_inbound(st, session, batch, retry)
            }
            Err(e) => {
                refuse(events, e.to_string());
                Ok(())
            }
        }
    }
}
