//! Olm sessions in memory and in the store.
//!
//! The engine opens with the Olm sessions of the devices it shares rooms
//! with; others stay in the store. Before a to-device message is decrypted,
//! every stored session with its sender joins them
//! ([`Engine::load_channels`]): the pre-key replay check in `belfry-crypto`
//! then sees every session this device ever made with that peer, after a
//! restart too. Without that, a relay re-delivering a peer's first pre-key
//! message (on a fallback key, which is not used up) made the same session
//! again, from its start, and the store's insert-or-replace wrote it over
//! the one that had moved on.

use super::{Engine, State};
use crate::error::Result;
use belfry_crypto::{OlmChannel, VerifiedDevice};
use belfry_store::Store as _;

impl Engine {
    /// Brings every stored Olm session with `peer` into memory (those not
    /// there already).
    pub(super) fn load_channels(&self, st: &mut State, peer: &VerifiedDevice) -> Result<()> {
        let stored = self.inner.store.olm_sessions(&peer.user, &peer.device)?;
        if stored.is_empty() {
            return Ok(());
        }
        let held: Vec<String> = st
            .channels
            .iter()
            .filter(|c| c.peer_user() == &peer.user && c.peer_device() == &peer.device)
            .map(OlmChannel::session_id)
            .collect();
        for (id, pickle) in stored {
            if !held.contains(&id) {
                st.channels.push(OlmChannel::unpickle(&pickle, &st.pickle)?);
            }
        }
        Ok(())
    }
}
