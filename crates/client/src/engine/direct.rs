//! To-device messages outside the room-key path: verification steps, key
//! requests and forwarded keys. Sealed over Olm under the state lock, queued
//! in the outbox in the same batch as the advanced Olm sessions (ratchets
//! are stored before their ciphertext leaves), published by the flusher.
//! Only to trusted devices: chain verified to the org root, not revoked.

use super::{Alert, Engine, Event, State, queue_publish};
use crate::error::Result;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::{MessageId, Request, ToDeviceContent, ToDeviceEnvelope};
use belfry_store::{Batch, Op};
use std::collections::BTreeSet;

fn has_channel(st: &State, to: &DeviceAddress) -> bool {
    st.channels.iter().any(|c| c.peer_user() == &to.user && c.peer_device() == &to.device)
}

/// Messages sealed for one publish.
#[derive(Debug, Default)]
pub(super) struct Outgoing {
    envelopes: Vec<ToDeviceEnvelope>,
    peers: BTreeSet<DeviceAddress>,
}

impl Outgoing {
    /// Seals `content` for `to` over an Olm channel this device already has.
    /// `false` (nothing sealed) when `to` is not a trusted device, there is
    /// no channel with it yet ([`Engine::ensure_channels`] opens one), or
    /// sealing failed (logged).
    pub(super) fn seal(&mut self, st: &mut State, to: &DeviceAddress, content: ToDeviceContent) -> Result<bool> {
        let Ok(peer) = st.dir.trusted(&to.user, &to.device).cloned() else { return Ok(false) };
        let Some(channel) = st.channels.iter_mut().find(|c| c.peer_user() == &to.user && c.peer_device() == &to.device)
        else {
            return Ok(false);
        };
        // A failure here concerns one message to one device: it must not
        // stop the frame being processed (that would stall the inbox).
        match st.device.seal_to_device(channel, &peer, content) {
            Ok(envelope) => {
                self.envelopes.push(envelope);
                self.peers.insert(to.clone());
                Ok(true)
            }
            Err(e) => {
                tracing::warn!(error = %e, user = %to.user, device = %to.device, "cannot seal a message");
                Ok(false)
            }
        }
    }

    /// Queues what was sealed as one publish in `batch`, with every Olm
    /// session of the peers it went to.
    pub(super) fn queue(self, engine: &Engine, st: &State, batch: &mut Batch) -> Result<()> {
        if self.envelopes.is_empty() {
            return Ok(());
        }
        for messages in crate::net::to_device_batches(self.envelopes) {
            let id = MessageId(rand::random());
            queue_publish(batch, id, Request::PublishToDevice { id, messages }, engine.stamp())?;
        }
        for ch in &st.channels {
            let peer = DeviceAddress { user: ch.peer_user().clone(), device: ch.peer_device().clone() };
            if self.peers.contains(&peer) {
                batch.push(Op::PutOlmSession {
                    peer_user: peer.user,
                    peer_device: peer.device,
                    session_id: ch.session_id(),
                    pickle: ch.pickle(&st.pickle)?,
                });
            }
        }
        Ok(())
    }
}

impl Engine {
    /// Seals one message for `to` and queues it in `batch`; `false` when
    /// there is no channel with that trusted device.
    pub(super) fn send_sealed(
        &self,
        st: &mut State,
        batch: &mut Batch,
        to: &DeviceAddress,
        content: ToDeviceContent,
    ) -> Result<bool> {
        let mut out = Outgoing::default();
        if !out.seal(st, to, content)? {
            return Ok(false);
        }
        out.queue(self, st, batch)?;
        Ok(true)
    }

    /// Opens an Olm channel to each trusted device of `to` that has none,
    /// from a prekey claimed from the relay (needs the relay).
    pub(super) async fn ensure_channels(&self, to: &[DeviceAddress]) -> Result<()> {
        let need: Vec<DeviceAddress> = {
            let st = self.state().await?;
            to.iter()
                .filter(|a| st.dir.trusted(&a.user, &a.device).is_ok() && !has_channel(&st, a))
                .cloned()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        if need.is_empty() {
            return Ok(());
        }
        let claimed = self.inner.link.claim_prekeys(need).await?;
        let mut st = self.state().await?;
        let mut events = Vec::new();
        for c in claimed {
            let Ok(peer) = st.dir.trusted(&c.address.user, &c.address.device).cloned() else { continue };
            // Another task may have opened one meanwhile.
            if has_channel(&st, &c.address) {
                continue;
            }
            let Some(prekey) = c.prekey else {
                events.push(Event::Alert(Alert::Rejected {
                    detail: format!("{}/{} has no keys on the relay; it cannot be reached yet", peer.user, peer.device),
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
        drop(st);
        for e in events {
            self.emit(e);
        }
        Ok(())
    }
}
