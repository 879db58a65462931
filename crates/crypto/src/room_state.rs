//! Room membership and settings as a signed, hash-chained log.
//!
//! Every change is a [`RoomStateEvent`] signed by a trusted device of a
//! member allowed to make it, naming the hash of the previous event. Clients
//! validate the whole chain, so a relay that stores and forwards the log
//! cannot add a member, drop a removal or show two members two different
//! histories without it being detected: a second, different event at a
//! position already taken is a [`StateError::Fork`].

use crate::device::Device;
use crate::error::TrustError;
use crate::trust::Directory;
use belfry_protocol::cert::Timestamp;
use belfry_protocol::room::{Role, RoomKind, RoomStateEvent, StateContent};
use belfry_protocol::{DisplayName, Hash256, RoomId, Signed, UserId};
use std::collections::BTreeMap;

/// Why a state event was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The sending device is not trusted (unknown, revoked, ...).
    #[error("state event from an untrusted device: {0}")]
    Untrusted(#[source] TrustError),
    /// The signature does not verify with the sending device's key.
    #[error("state event signature does not verify")]
    BadSignature,
    /// The event belongs to another room.
    #[error("state event for another room")]
    WrongRoom,
    /// The first event is not a `Create`, or a later one is.
    #[error("a room log must start with exactly one Create event")]
    BadCreate,
    /// A different event at a position this client already has: the relay
    /// (or a member) is showing different histories to different people.
    #[error("state fork at position {seq}: two different events claim the same place")]
    Fork {
        /// The contested position.
        seq: u64,
    },
    /// The event does not follow the current head.
    #[error("state event {found} does not follow the head at {head}: missing events")]
    Gap {
        /// Our latest position.
        head: u64,
        /// The event's position.
        found: u64,
    },
    /// The sender is not a member of the room.
    #[error("{0} is not a member of this room")]
    NotAMember(UserId),
    /// The sender's role does not allow this change.
    #[error("{0} may not make this change (admins only)")]
    NotAllowed(UserId),
    /// A direct room has exactly two members.
    #[error("a direct room cannot have more than two members")]
    DirectRoomFull,
    /// The last admin cannot leave or be demoted while others remain.
    #[error("the room would be left without an admin")]
    NoAdminLeft,
}

/// What applying an event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The state changed; the head moved.
    Changed,
    /// This exact event was already applied (a harmless duplicate).
    Duplicate,
}

/// The validated state of one room. Serializable so the store can keep it
/// (the store is local and encrypted; the log itself is validated here).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RoomState {
    room: RoomId,
    kind: RoomKind,
    name: DisplayName,
    members: BTreeMap<UserId, Role>,
    retention_secs: Option<u64>,
    classification: Option<DisplayName>,
    /// Hash of the event at each position, index = seq.
    hashes: Vec<Hash256>,
}

impl RoomState {
    /// Creates a room: returns its state and the signed `Create` event to
    /// publish. The creator is its first admin.
    pub fn create(
        device: &Device,
        room: RoomId,
        kind: RoomKind,
        name: DisplayName,
        now: Timestamp,
    ) -> Result<(Self, Signed<RoomStateEvent>), StateError> {
        let event = device.sign(&RoomStateEvent {
            room,
            seq: 0,
            prev: None,
            sender: device.user().clone(),
            sender_device: device.device_id().clone(),
            ts: now,
            content: StateContent::Create { kind, name },
        });
        let mut dir = Directory::new(*device.org());
        dir.admit_own(device, now).map_err(StateError::Untrusted)?;
        let state = Self::from_create(&event, &dir)?;
        Ok((state, event))
    }

    /// Starts validating a room from its `Create` event.
    pub fn from_create(event: &Signed<RoomStateEvent>, dir: &Directory) -> Result<Self, StateError> {
        let e = verify(event, dir)?;
        let (StateContent::Create { kind, name }, 0, None) = (&e.content, e.seq, e.prev) else {
            return Err(StateError::BadCreate);
        };
        let mut members = BTreeMap::new();
        members.insert(e.sender.clone(), Role::Admin);
        Ok(Self {
            room: e.room,
            kind: *kind,
            name: name.clone(),
            members,
            retention_secs: None,
            classification: None,
            hashes: vec![event.hash()],
        })
    }

    /// Validates and applies the next event of the log.
    pub fn apply(&mut self, event: &Signed<RoomStateEvent>, dir: &Directory) -> Result<Applied, StateError> {
        let e = verify(event, dir)?;
        if e.room != self.room {
            return Err(StateError::WrongRoom);
        }
        let head = self.seq();
        if let Some(ours) = usize::try_from(e.seq).ok().and_then(|i| self.hashes.get(i)) {
            return if *ours == event.hash() { Ok(Applied::Duplicate) } else { Err(StateError::Fork { seq: e.seq }) };
        }
        if e.seq != head + 1 {
            return Err(StateError::Gap { head, found: e.seq });
        }
        if e.prev != Some(self.head()) {
            return Err(StateError::Fork { seq: e.seq });
        }
        let sender_role = *self.members.get(&e.sender).ok_or_else(|| StateError::NotAMember(e.sender.clone()))?;
        let admin = sender_role == Role::Admin;
        let mut next = self.members.clone();
        match &e.content {
            StateContent::Create { .. } => return Err(StateError::BadCreate),
            StateContent::Member { user, role } => {
                if !admin {
                    return Err(StateError::NotAllowed(e.sender.clone()));
                }
                next.insert(user.clone(), *role);
                if self.kind == RoomKind::Direct && next.len() > 2 {
                    return Err(StateError::DirectRoomFull);
                }
            }
            StateContent::Remove { user } => {
                if !admin && *user != e.sender {
                    return Err(StateError::NotAllowed(e.sender.clone()));
                }
                if next.remove(user).is_none() {
                    return Err(StateError::NotAMember(user.clone()));
                }
            }
            StateContent::Name(_) | StateContent::Retention(_) | StateContent::Classification(_) => {
                if !admin {
                    return Err(StateError::NotAllowed(e.sender.clone()));
                }
            }
        }
        if !next.is_empty() && !next.values().any(|r| *r == Role::Admin) {
            return Err(StateError::NoAdminLeft);
        }
        self.members = next;
        match e.content {
            StateContent::Name(name) => self.name = name,
            StateContent::Retention(secs) => self.retention_secs = secs,
            StateContent::Classification(label) => self.classification = label,
            _ => {}
        }
        self.hashes.push(event.hash());
        Ok(Applied::Changed)
    }

    /// Signs the next event: `content` applied on top of the current head.
    /// The caller publishes it and applies it like any other.
    pub fn propose(&self, device: &Device, content: StateContent, now: Timestamp) -> Signed<RoomStateEvent> {
        device.sign(&RoomStateEvent {
            room: self.room,
            seq: self.seq() + 1,
            prev: Some(self.head()),
            sender: device.user().clone(),
            sender_device: device.device_id().clone(),
            ts: now,
            content,
        })
    }

    /// The room.
    pub fn room(&self) -> &RoomId {
        &self.room
    }

    /// Direct or group.
    pub fn kind(&self) -> RoomKind {
        self.kind
    }

    /// The room's name.
    pub fn name(&self) -> &DisplayName {
        &self.name
    }

    /// Current members and their roles.
    pub fn members(&self) -> &BTreeMap<UserId, Role> {
        &self.members
    }

    /// Whether `user` is a member.
    pub fn is_member(&self, user: &UserId) -> bool {
        self.members.contains_key(user)
    }

    /// Disappearing-message timer, in seconds.
    pub fn retention_secs(&self) -> Option<u64> {
        self.retention_secs
    }

    /// Classification label.
    pub fn classification(&self) -> Option<&DisplayName> {
        self.classification.as_ref()
    }

    /// Position of the latest event.
    pub fn seq(&self) -> u64 {
        u64::try_from(self.hashes.len()).unwrap_or(u64::MAX).saturating_sub(1)
    }

    /// Hash of the latest event: the state hash every message carries.
    pub fn head(&self) -> Hash256 {
        self.hashes.last().copied().unwrap_or(Hash256([0; 32]))
    }

    /// Whether `hash` is a state this client has seen in this room (a
    /// message sent under an older state is fine; under an unknown one it
    /// means the sender saw a history we did not).
    pub fn knows(&self, hash: &Hash256) -> bool {
        self.hashes.contains(hash)
    }
}

/// Checks the event's signature against its sender device, which must be
/// trusted, and returns the event.
fn verify(event: &Signed<RoomStateEvent>, dir: &Directory) -> Result<RoomStateEvent, StateError> {
    let claimed = event.peek_unverified().map_err(|_| StateError::BadSignature)?;
    let device = dir.trusted(&claimed.sender, &claimed.sender_device).map_err(StateError::Untrusted)?;
    event.verify(&device.ed25519).map_err(|_| StateError::BadSignature)
}
