//! Trust as it changes under this device: who may still post, what a
//! revocation takes away, and alerts that are raised once.
//!
//! - Every room message is checked against the directory when it is
//!   processed ([`Engine::untrusted_sender`]): a device revoked by id, by
//!   its enrollment key, under a burned enrollment key or by a wipe order is
//!   refused, whatever Megolm session it still has with this device.
//! - A device that stops being trusted (trusted before a statement or an
//!   admission, not after) is announced once, whichever statement and path
//!   did it, and its inbound sessions leave memory
//!   ([`Engine::trust_lost`]).
//! - A statement that does not verify (a forgery, a statement from a device
//!   that may not make it) is announced once per statement, whichever path
//!   brought it (inbox, Olm, directory): the digests of those already
//!   announced are kept in the store ([`Refused`]).

use super::{Alert, Engine, Event, State, de, ser, value};
use crate::error::Result;
use belfry_crypto::{Directory, TrustError};
use belfry_protocol::codec::encode;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::{DeviceId, RevocationTarget, RoomMessage, Statement, UserId};
use belfry_store::{Batch, SqlStore, Store as _};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeSet, HashSet, VecDeque};

/// Named value: digests of the refused statements already announced.
pub(super) const K_REFUSED_STATEMENTS: &str = "refused-statements";
/// Refused statements remembered, at most (the oldest are forgotten: one
/// could then be announced a second time, never silently accepted).
const MAX_REMEMBERED: usize = 4096;

/// Refused statements already announced, oldest first.
#[derive(Debug, Default)]
pub(super) struct Refused {
    order: VecDeque<[u8; 32]>,
    seen: HashSet<[u8; 32]>,
}

impl Refused {
    /// The digests kept in `store`.
    pub(super) fn load(store: &SqlStore) -> Result<Self> {
        let order: VecDeque<[u8; 32]> = match store.value(K_REFUSED_STATEMENTS)? {
            Some(b) => de(&b, "refused statements")?,
            None => VecDeque::new(),
        };
        let seen = order.iter().copied().collect();
        Ok(Self { order, seen })
    }

    /// `true` the first time `digest` is seen (and remembers it).
    fn first_time(&mut self, digest: [u8; 32]) -> bool {
        if !self.seen.insert(digest) {
            return false;
        }
        self.order.push_back(digest);
        while self.order.len() > MAX_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

fn digest(statement: &Statement) -> [u8; 32] {
    Sha256::digest(encode(statement)).into()
}

/// The devices a statement names (read before it is verified, only to know
/// whose trust to compare before and after it is applied).
pub(super) fn named_devices(dir: &Directory, statement: &Statement) -> Vec<DeviceAddress> {
    let named: Option<(UserId, DeviceId)> = match statement {
        Statement::Revocation(signed) => signed.peek_unverified().ok().and_then(|r| match r.target {
            RevocationTarget::Device { user, device } => Some((user, device)),
            RevocationTarget::Enrollment { key } => dir.enrolled_by(&key),
        }),
        Statement::Wipe(signed) => signed.peek_unverified().ok().map(|w| (w.user, w.device)),
        // Whom it refuses is known once it is applied (see `try_statement`).
        Statement::Confirmation(_) => None,
    };
    named.into_iter().map(|(user, device)| DeviceAddress { user, device }).collect()
}

/// Which of `devices` the directory trusts now.
pub(super) fn trusted_among(dir: &Directory, devices: &[DeviceAddress]) -> BTreeSet<DeviceAddress> {
    devices.iter().filter(|a| dir.trusted(&a.user, &a.device).is_ok()).cloned().collect()
}

impl Engine {
    /// Devices of `before` (trusted until now) that the directory no longer
    /// trusts: each is announced once, here, and its inbound Megolm
    /// sessions leave memory (the stored copies stay, refused by
    /// [`Engine::untrusted_sender`] at every message).
    pub(super) fn trust_lost(&self, st: &mut State, before: BTreeSet<DeviceAddress>, events: &mut Vec<Event>) {
        for gone in before {
            if st.dir.trusted(&gone.user, &gone.device).is_ok() {
                continue;
            }
            st.inbound.retain(|_, s| !(s.sender() == &gone.user && s.sender_device() == &gone.device));
            let this_device = gone.user == *st.device.user() && gone.device == *st.device.device_id();
            events.push(Event::Alert(Alert::DeviceRevoked { user: gone.user, device: gone.device }));
            if this_device {
                events.push(Event::Revoked);
            }
        }
    }

    /// A statement refused by the directory: announced the first time this
    /// device sees it, however it came.
    pub(super) fn statement_refused(
        &self,
        st: &mut State,
        statement: &Statement,
        error: &TrustError,
        batch: &mut Batch,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        if st.refused.first_time(digest(statement)) {
            events.push(Event::Alert(Alert::Rejected { detail: format!("a revocation or wipe order: {error}") }));
            batch.push(value(K_REFUSED_STATEMENTS, ser(&st.refused.order)?));
        }
        Ok(())
    }

    /// Why a room message must be refused because of who sent it: its
    /// sending device is known and no longer trusted (revoked, its
    /// enrollment key revoked or burned, ordered wiped). A device this
    /// directory has never seen has given this device no session (keys
    /// come only from trusted devices, and the directory forgets none), so
    /// its message waits for a key like any other, or fails to decrypt.
    pub(super) fn untrusted_sender(st: &State, msg: &RoomMessage) -> Option<String> {
        match st.dir.trusted(&msg.sender, &msg.sender_device) {
            Ok(_) | Err(TrustError::UnknownDevice { .. }) => None,
            Err(e) => Some(format!("a message from {}/{} was refused: {e}", msg.sender, msg.sender_device)),
        }
    }
}
