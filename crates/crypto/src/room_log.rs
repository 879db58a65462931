//! A room's state log as one device holds it: the chain it follows, the
//! events it cannot place yet, and whether the room may send.
//!
//! The rules, the same on every device (ARCHITECTURE.md, "Room state"):
//!
//! - An event is judged against the state at its parent (the event its
//!   `prev` names), never against this device's head, whoever carried it:
//!   it is valid only if its signer was a member allowed to make the change
//!   under the history before it.
//! - Its signing device must have been trusted when it signed: trusted now,
//!   or revoked by a statement dated after the event. An event of a device
//!   revoked since is taken only once a device trusted now has built on it
//!   (a later event names it as its history), so a revoked device cannot
//!   add history by backdating what it signs.
//! - Two valid events with the same parent are a fork, resolved the same
//!   way everywhere: an event that removes or demotes the other's signer
//!   wins (a removal beats any concurrent change by the removed member);
//!   otherwise, or when each removes the other, the event of the senior
//!   admin wins (admin since the earlier position: the creator first);
//!   then the lower hash. The losing branch and everything built on it are
//!   set aside.
//! - The room is in conflict, and must not send, while this device knows
//!   it lacks something: events whose parent it does not hold, a signer
//!   whose devices it has not fetched yet, or a message naming a state it
//!   does not hold.

use crate::device::Device;
use crate::error::TrustError;
use crate::room_state::{Applied, RoomState, StateError};
use crate::trust::Directory;
use belfry_protocol::cert::Timestamp;
use belfry_protocol::room::{Role, RoomKind, RoomStateEvent, StateContent};
use belfry_protocol::{DisplayName, Hash256, RoomId, Signed, UserId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Events held at most: a flood of events that never place costs the
/// oldest of them, not memory.
const MAX_HELD: usize = 256;
/// Members' claims of unknown states remembered at most.
const MAX_CLAIMS: usize = 64;

/// How one fork was resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkResolution {
    /// The contested position.
    pub seq: u64,
    /// The branch this device followed lost: its events were set aside and
    /// the state rebuilt from the winner (members may have changed).
    pub replaced: bool,
}

/// What receiving (or retrying) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The state changed (the head moved).
    pub changed: bool,
    /// Forks met and resolved.
    pub forks: Vec<ForkResolution>,
    /// Events refused (and set aside), with why.
    pub refused: Vec<StateError>,
    /// Users whose devices must be fetched before held events can be judged.
    pub fetch: BTreeSet<UserId>,
}

/// One room's log: see the module documentation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomLog {
    room: RoomId,
    /// The state at the head of the chain; `None` until its Create placed.
    state: Option<RoomState>,
    /// The chain this device follows, index = position.
    events: Vec<Signed<RoomStateEvent>>,
    /// Events not placed yet: parent not held, signer not fetched, or
    /// signed by a device revoked since and not yet built on.
    held: Vec<Signed<RoomStateEvent>>,
    /// Hashes of events set aside: refused, or on a losing branch.
    dropped: BTreeSet<Hash256>,
    /// Members whose latest message named a state this device lacks.
    claims: BTreeMap<UserId, Hash256>,
    /// Signers whose devices this device has yet to fetch.
    unknown_signers: BTreeSet<UserId>,
}

impl RoomLog {
    /// A room this device knows only by id, its Create not yet placed.
    pub fn new(room: RoomId) -> Self {
        Self {
            room,
            state: None,
            events: Vec::new(),
            held: Vec::new(),
            dropped: BTreeSet::new(),
            claims: BTreeMap::new(),
            unknown_signers: BTreeSet::new(),
        }
    }

    /// Creates a room ([`RoomState::create`]); returns the log and the
    /// Create event to publish.
    pub fn create(
        device: &Device,
        kind: RoomKind,
        name: DisplayName,
        now: Timestamp,
    ) -> Result<(Self, Signed<RoomStateEvent>), StateError> {
        let (state, create) = RoomState::create(device, kind, name, now)?;
        let mut log = Self::new(*state.room());
        log.state = Some(state);
        log.events.push(create.clone());
        Ok((log, create))
    }

    /// The room.
    pub fn room(&self) -> &RoomId {
        &self.room
    }

    /// The room's state, once its Create is placed.
    pub fn state(&self) -> Option<&RoomState> {
        self.state.as_ref()
    }

    /// The chain this device follows, Create first: what a new member or
    /// device is sent.
    pub fn events(&self) -> &[Signed<RoomStateEvent>] {
        &self.events
    }

    /// Signs the next event on this device's head (`None` before the
    /// Create is placed). Receive it like any other to apply it.
    pub fn propose(&self, device: &Device, content: StateContent, now: Timestamp) -> Option<Signed<RoomStateEvent>> {
        self.state.as_ref().map(|s| s.propose(device, content, now))
    }

    /// Takes an event, however it arrived: places it (and whatever held
    /// events it unblocks), holds it until what it needs arrives, or
    /// refuses it.
    pub fn receive(&mut self, event: &Signed<RoomStateEvent>, dir: &Directory) -> Result<Outcome, StateError> {
        let e = event.peek_unverified().map_err(|_| StateError::BadSignature)?;
        if e.room != self.room {
            return Err(StateError::WrongRoom);
        }
        if (e.seq == 0) != e.prev.is_none() {
            return Err(StateError::BadCreate);
        }
        let hash = event.hash();
        if self.knows(&hash) || self.dropped.contains(&hash) || self.held.iter().any(|h| h.hash() == hash) {
            return Ok(Outcome::default());
        }
        // Its parent held, it must sit right after it.
        if let Some(prev) = e.prev
            && let Some(p) = self.position(&prev)
            && usize::try_from(e.seq).ok() != Some(p + 1)
        {
            return Err(StateError::Gap { head: u64::try_from(p).unwrap_or(u64::MAX), found: e.seq });
        }
        match check_signer(&e, event, dir) {
            Ok(_) | Err(StateError::Untrusted(TrustError::UnknownDevice { .. })) => {}
            Err(refused) => return Err(refused),
        }
        self.held.push(event.clone());
        while self.held.len() > MAX_HELD {
            self.held.remove(0);
        }
        Ok(self.settle(dir))
    }

    /// Judges the held events again (after a device fetch).
    pub fn retry(&mut self, dir: &Directory) -> Outcome {
        self.settle(dir)
    }

    /// Notes the state a member's message was sent under: `true` if this
    /// device does not hold it (the room is in conflict until it does, or
    /// until that member writes under a state it holds).
    pub fn claim(&mut self, sender: &UserId, state_hash: &Hash256) -> bool {
        if self.knows(state_hash) || self.dropped.contains(state_hash) {
            self.claims.remove(sender);
            return false;
        }
        if self.claims.len() < MAX_CLAIMS || self.claims.contains_key(sender) {
            self.claims.insert(sender.clone(), *state_hash);
        }
        true
    }

    /// Why this room must not send now, if it must not.
    pub fn conflict(&self) -> Option<String> {
        let mut why = Vec::new();
        let orphans = self.held.iter().filter(|ev| ev.peek_unverified().is_ok_and(|e| !self.anchored(&e))).count();
        if orphans > 0 {
            why.push(format!("{orphans} state change(s) arrived without the earlier ones: events are missing"));
        }
        if !self.unknown_signers.is_empty() {
            let users: Vec<&str> = self.unknown_signers.iter().map(UserId::as_str).collect();
            why.push(format!("waiting for the devices of {}", users.join(", ")));
        }
        if !self.claims.is_empty() {
            let users: Vec<&str> = self.claims.keys().map(UserId::as_str).collect();
            why.push(format!("{} wrote under a room state this device does not hold", users.join(", ")));
        }
        (!why.is_empty()).then(|| why.join("; "))
    }

    /// Neither a state nor anything held: nothing worth keeping.
    pub fn is_empty(&self) -> bool {
        self.state.is_none() && self.held.is_empty()
    }

    /// Whether `hash` is a state this device holds, or one it set aside
    /// (the losing side of a fork, refused): either way nothing is missing.
    pub fn holds(&self, hash: &Hash256) -> bool {
        self.knows(hash) || self.dropped.contains(hash)
    }

    /// Whether `user`'s latest message named a state this device lacks.
    pub fn has_claim(&self, user: &UserId) -> bool {
        self.claims.contains_key(user)
    }

    /// Whether `user` is or was a member along the chain this device
    /// follows (a member removed on one side of a fork may have seen more).
    pub fn was_member(&self, user: &UserId) -> bool {
        self.state.as_ref().is_some_and(|s| s.is_member(user)) || self.ever_members().contains(user)
    }

    /// Everyone who is or was a member along the chain this device follows.
    pub fn ever_members(&self) -> BTreeSet<UserId> {
        let mut users = BTreeSet::new();
        for e in self.events.iter().filter_map(|e| e.peek_unverified().ok()) {
            match e.content {
                StateContent::Create { .. } => {
                    users.insert(e.sender);
                }
                StateContent::Member { user, .. } => {
                    users.insert(user);
                }
                _ => {}
            }
        }
        users
    }

    fn knows(&self, hash: &Hash256) -> bool {
        self.state.as_ref().is_some_and(|s| s.knows(hash))
    }

    fn position(&self, hash: &Hash256) -> Option<usize> {
        self.state.as_ref()?;
        self.events.iter().position(|e| e.hash() == *hash)
    }

    /// Whether an event's parent is in the chain at the place before it.
    fn anchored(&self, e: &RoomStateEvent) -> bool {
        match e.prev {
            None => true,
            Some(prev) => usize::try_from(e.seq)
                .ok()
                .and_then(|s| s.checked_sub(1))
                .and_then(|p| self.events.get(p))
                .is_some_and(|parent| self.state.is_some() && parent.hash() == prev),
        }
    }

    /// Whether a device trusted now has built on `event`: a held event,
    /// signed by one, descends from it.
    fn endorsed(&self, event: &Signed<RoomStateEvent>, dir: &Directory) -> bool {
        let mut frontier = vec![event.hash()];
        let mut seen = BTreeSet::new();
        while let Some(h) = frontier.pop() {
            if !seen.insert(h) {
                continue;
            }
            for child in &self.held {
                let Ok(c) = child.peek_unverified() else { continue };
                if c.prev != Some(h) {
                    continue;
                }
                if matches!(check_signer(&c, child, dir), Ok(true)) {
                    return true;
                }
                frontier.push(child.hash());
            }
        }
        false
    }

    /// Places every held event that can be placed, until none can.
    fn settle(&mut self, dir: &Directory) -> Outcome {
        let mut out = Outcome::default();
        loop {
            let mut progress = false;
            let mut i = 0;
            while i < self.held.len() {
                let ev = self.held[i].clone();
                let Ok(e) = ev.peek_unverified() else {
                    self.held.remove(i);
                    continue;
                };
                if !self.anchored(&e) {
                    i += 1;
                    continue;
                }
                match check_signer(&e, &ev, dir) {
                    Err(StateError::Untrusted(TrustError::UnknownDevice { .. })) => {
                        out.fetch.insert(e.sender.clone());
                        i += 1;
                        continue;
                    }
                    Err(refused) => {
                        self.held.remove(i);
                        self.dropped.insert(ev.hash());
                        out.refused.push(refused);
                        progress = true;
                        continue;
                    }
                    Ok(false) if !self.endorsed(&ev, dir) => {
                        i += 1;
                        continue;
                    }
                    Ok(_) => {}
                }
                self.held.remove(i);
                self.place(&ev, e, &mut out);
                progress = true;
            }
            if !progress {
                break;
            }
        }
        // Whatever was built on a set-aside event is set aside too.
        loop {
            let before = self.held.len();
            let dropped = &mut self.dropped;
            self.held.retain(|ev| match ev.peek_unverified().ok().and_then(|e| e.prev) {
                Some(prev) if dropped.contains(&prev) => {
                    dropped.insert(ev.hash());
                    false
                }
                _ => true,
            });
            if self.held.len() == before {
                break;
            }
        }
        let claims = std::mem::take(&mut self.claims);
        self.claims = claims.into_iter().filter(|(_, h)| !self.knows(h) && !self.dropped.contains(h)).collect();
        self.unknown_signers = out.fetch.clone();
        out
    }

    /// Places an anchored event whose signer is settled: a Create, the next
    /// event, or one side of a fork.
    fn place(&mut self, ev: &Signed<RoomStateEvent>, e: RoomStateEvent, out: &mut Outcome) {
        let hash = ev.hash();
        let refuse = |dropped: &mut BTreeSet<Hash256>, out: &mut Outcome, err: StateError| {
            dropped.insert(hash);
            out.refused.push(err);
        };
        let Some(state) = self.state.as_mut() else {
            match RoomState::from_verified_create(ev, e) {
                Ok(s) => {
                    self.state = Some(s);
                    self.events.push(ev.clone());
                    out.changed = true;
                }
                Err(err) => refuse(&mut self.dropped, out, err),
            }
            return;
        };
        let Some(pos) = usize::try_from(e.seq).ok().filter(|p| *p > 0) else {
            return refuse(&mut self.dropped, out, StateError::BadCreate);
        };
        if pos == self.events.len() {
            match state.apply_verified(ev, e) {
                Ok(Applied::Changed) => {
                    self.events.push(ev.clone());
                    out.changed = true;
                }
                Ok(Applied::Duplicate) => {}
                Err(err) => refuse(&mut self.dropped, out, err),
            }
            return;
        }
        let Some(ours) = self.events.get(pos).cloned() else { return };
        if ours.hash() == hash {
            return;
        }
        let (parent, theirs_state) = match self.replay(pos) {
            Ok(parent) => {
                let mut theirs = parent.clone();
                match theirs.apply_verified(ev, e.clone()) {
                    Ok(_) => (parent, theirs),
                    Err(err) => return refuse(&mut self.dropped, out, err),
                }
            }
            Err(err) => return refuse(&mut self.dropped, out, err),
        };
        let Ok(ours_body) = ours.peek_unverified() else { return };
        let prefix = &self.events[..pos];
        let theirs_wins =
            rank(&parent, prefix, &e, &ours_body, &hash) < rank(&parent, prefix, &ours_body, &e, &ours.hash());
        if theirs_wins {
            for lost in self.events.drain(pos..) {
                self.dropped.insert(lost.hash());
            }
            self.events.push(ev.clone());
            self.state = Some(theirs_state);
            out.changed = true;
        } else {
            self.dropped.insert(hash);
        }
        out.forks.push(ForkResolution { seq: e.seq, replaced: theirs_wins });
    }

    /// The state after the first `upto` events of the chain (each was
    /// judged when placed; only the room's rules run again).
    fn replay(&self, upto: usize) -> Result<RoomState, StateError> {
        let mut events = self.events.iter().take(upto);
        let first = events.next().ok_or(StateError::BadCreate)?;
        let body = first.peek_unverified().map_err(|_| StateError::BadSignature)?;
        let mut state = RoomState::from_verified_create(first, body)?;
        for ev in events {
            let body = ev.peek_unverified().map_err(|_| StateError::BadSignature)?;
            state.apply_verified(ev, body)?;
        }
        Ok(state)
    }
}

/// Checks an event's signature and that its device was trusted when it
/// signed: `Ok(true)` if it is trusted now, `Ok(false)` if revoked since.
fn check_signer(e: &RoomStateEvent, event: &Signed<RoomStateEvent>, dir: &Directory) -> Result<bool, StateError> {
    let device = dir.known(&e.sender, &e.sender_device).map_err(StateError::Untrusted)?;
    event.verify(&device.ed25519).map_err(|_| StateError::BadSignature)?;
    dir.trusted_at(&e.sender, &e.sender_device, e.ts).map_err(StateError::Untrusted)?;
    Ok(dir.trusted(&e.sender, &e.sender_device).is_ok())
}

/// An event's place in the fork order against a competitor with the same
/// parent (lower wins): beaten by a removal or demotion of its signer,
/// then the signer's seniority as an admin, then its hash.
fn rank(
    parent: &RoomState,
    prefix: &[Signed<RoomStateEvent>],
    x: &RoomStateEvent,
    other: &RoomStateEvent,
    hash: &Hash256,
) -> (bool, u64, [u8; 32]) {
    let beaten = other.sender != x.sender
        && match &other.content {
            StateContent::Remove { user } => *user == x.sender,
            StateContent::Member { user, role: Role::Member } => {
                *user == x.sender && parent.members().get(&x.sender) == Some(&Role::Admin)
            }
            _ => false,
        };
    (beaten, admin_since(prefix, &x.sender).unwrap_or(u64::MAX), *hash.as_bytes())
}

/// The position since which `user` has been an admin, along `prefix`.
fn admin_since(prefix: &[Signed<RoomStateEvent>], user: &UserId) -> Option<u64> {
    let mut since = None;
    for e in prefix.iter().filter_map(|ev| ev.peek_unverified().ok()) {
        match &e.content {
            StateContent::Create { .. } if e.sender == *user => since = Some(0),
            StateContent::Member { user: u, role: Role::Admin } if u == user => since = since.or(Some(e.seq)),
            StateContent::Member { user: u, role: Role::Member } if u == user => since = None,
            StateContent::Remove { user: u } if u == user => since = None,
            _ => {}
        }
    }
    since
}
