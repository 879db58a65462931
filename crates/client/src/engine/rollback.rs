//! An inbox frame is all or nothing, in memory as on disk.
//!
//! `process` handles a frame under the state lock: it advances Olm
//! sessions (and the account, when a pre-key message uses a one-time key),
//! takes room keys, applies room state and statements, and commits all of
//! it with the inbox cursor in one store batch. Until that commit the store
//! still holds the state from before the frame, and it is the only
//! complete copy of it: if the commit fails, [`Engine::roll_back`] puts the
//! state in memory back to what the store holds (sessions are reloaded as
//! they are needed), and the connection is opened again so the relay
//! delivers the frame once more. Without this, the frame's Olm messages
//! would meet sessions that had already used their keys, and be refused as
//! replays: the room keys they carried would be lost.

use super::{Engine, K_DIRECTORY, K_PREKEYS_USED, PREKEY_BATCH, State, Waiting, de, trust};
use crate::error::{ClientError, Result};
use belfry_crypto::{Device, OlmChannel};
use belfry_protocol::codec::decode;
use belfry_protocol::{DeviceId, RoomId, RoomMessage, UserId};
use belfry_store::{Batch, SqlStore, Store as _};
use std::collections::{BTreeMap, BTreeSet};

/// The rooms as stored.
pub(super) fn stored_rooms(store: &SqlStore) -> Result<BTreeMap<RoomId, belfry_crypto::RoomLog>> {
    let mut rooms = BTreeMap::new();
    for (room, record) in store.rooms()? {
        rooms.insert(room, de::<belfry_crypto::RoomLog>(&record, "room")?);
    }
    Ok(rooms)
}

/// The messages waiting for a key, as stored (oldest first).
pub(super) fn stored_waiting(store: &SqlStore) -> Result<Vec<Waiting>> {
    let mut waiting = Vec::new();
    for (id, bytes) in store.waiting()? {
        let msg = decode::<RoomMessage>(&bytes)
            .map_err(|e| ClientError::Config(format!("a stored waiting message is damaged: {e}")))?;
        waiting.push(Waiting { id, msg });
    }
    Ok(waiting)
}

impl Engine {
    /// Commits a processed inbox frame.
    pub(super) async fn commit_frame(&self, batch: Batch) -> Result<()> {
        #[cfg(feature = "testing")]
        if hook::take(self) {
            return Err(ClientError::Config("the store refused the commit (a test made it fail)".into()));
        }
        self.commit(batch).await
    }

    /// Commits the ciphertexts and advanced ratchets of a group of intents.
    pub(super) async fn commit_encrypted(&self, batch: Batch) -> Result<()> {
        #[cfg(feature = "testing")]
        if hook::take_encrypt(self) {
            return Err(ClientError::Config("the store refused the commit (a test made it fail)".into()));
        }
        self.commit(batch).await
    }

    /// Puts the state in memory back to what the store holds, after a
    /// frame's commit failed. What lives only in memory (verifications in
    /// progress, device lists to fetch, answers given) is kept.
    pub(super) fn roll_back(&self, st: &mut State) -> Result<()> {
        let store = &self.inner.store;
        let need = |key: &str| -> Result<Vec<u8>> {
            store.value(key)?.ok_or_else(|| ClientError::Config(format!("the profile lacks its {key}")))
        };
        let account = store.account()?.ok_or_else(|| ClientError::Config("the profile has no device".into()))?;
        st.device = Device::unpickle(&account, &st.pickle)?;
        st.dir = de(&need(K_DIRECTORY)?, "directory")?;
        st.rooms = stored_rooms(store)?;
        st.waiting = stored_waiting(store)?;
        st.prekeys_used = match store.value(K_PREKEYS_USED)? {
            Some(b) => de(&b, "key counter")?,
            None => PREKEY_BATCH,
        };
        st.refused = trust::Refused::load(store)?;
        st.recovery.reload(store)?;
        // Megolm sessions are read from the store again as they are needed.
        st.inbound.clear();
        st.outbound.clear();
        // Olm sessions: with the same peers as before, as stored.
        let peers: BTreeSet<(UserId, DeviceId)> =
            st.channels.iter().map(|c| (c.peer_user().clone(), c.peer_device().clone())).collect();
        let mut channels = Vec::new();
        for (user, device) in &peers {
            for (_, p) in store.olm_sessions(user, device)? {
                channels.push(OlmChannel::unpickle(&p, &st.pickle)?);
            }
        }
        st.channels = channels;
        Ok(())
    }
}

#[cfg(feature = "testing")]
mod hook {
    //! Test builds only: make the next frame commit (or the next commit of
    //! encrypted intents) of one engine fail.

    use super::Engine;
    use std::collections::BTreeSet;
    use std::sync::{Arc, Mutex};

    static ARMED: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());
    static ARMED_ENCRYPT: Mutex<BTreeSet<usize>> = Mutex::new(BTreeSet::new());

    fn key(engine: &Engine) -> usize {
        Arc::as_ptr(&engine.inner) as usize
    }

    fn armed() -> std::sync::MutexGuard<'static, BTreeSet<usize>> {
        ARMED.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the engine's next frame commit must fail (and disarms it).
    pub(super) fn take(engine: &Engine) -> bool {
        armed().remove(&key(engine))
    }

    fn armed_encrypt() -> std::sync::MutexGuard<'static, BTreeSet<usize>> {
        ARMED_ENCRYPT.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the engine's next commit of encrypted intents must fail
    /// (and disarms it).
    pub(super) fn take_encrypt(engine: &Engine) -> bool {
        armed_encrypt().remove(&key(engine))
    }

    impl Engine {
        /// Test builds only: the next inbox frame this engine processes
        /// fails to commit, as if the store had refused it.
        pub fn fail_next_frame_commit_for_tests(&self) {
            armed().insert(key(self));
        }

        /// Test builds only: whether that failure is still to come.
        pub fn fail_next_frame_commit_armed_for_tests(&self) -> bool {
            armed().contains(&key(self))
        }

        /// Test builds only: the next group of intents this engine
        /// encrypts fails to commit, as if the store had refused it.
        pub fn fail_next_encrypt_commit_for_tests(&self) {
            armed_encrypt().insert(key(self));
        }

        /// Test builds only: whether that failure is still to come.
        pub fn fail_next_encrypt_commit_armed_for_tests(&self) -> bool {
            armed_encrypt().contains(&key(self))
        }
    }
}
