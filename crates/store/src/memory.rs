//! The in-memory store: the same contract, for engine tests.

use crate::error::{Result, StoreError};
use crate::{Batch, Op, Store, StoredMessage, query_terms};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::{DeviceId, Ed25519Public, MessageId, RoomId, UserId};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Default, Clone)]
struct Data {
    account: Option<Vec<u8>>,
    olm: BTreeMap<(UserId, DeviceId, String), Vec<u8>>,
    inbound: BTreeMap<Ed25519Public, Vec<u8>>,
    outbound: BTreeMap<RoomId, Vec<u8>>,
    seen: BTreeSet<(Ed25519Public, u32)>,
    messages: BTreeMap<MessageId, StoredMessage>,
    outbox: BTreeMap<MessageId, (Timestamp, Vec<u8>)>,
    cursor: u64,
    values: BTreeMap<String, Vec<u8>>,
}

/// A [`Store`] in memory. Batches are atomic: applied to a copy that
/// replaces the data only when every operation succeeded.
#[derive(Debug, Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> Result<MutexGuard<'_, Data>> {
        self.data.lock().map_err(|_| StoreError::Corrupt("a previous store operation panicked".into()))
    }
}

fn newest_first(mut v: Vec<StoredMessage>, limit: usize) -> Vec<StoredMessage> {
    v.sort_by_key(|m| std::cmp::Reverse((m.sent_at, m.id)));
    v.truncate(limit);
    v
}

impl Store for MemoryStore {
    fn commit(&self, batch: Batch) -> Result<()> {
        let mut data = self.data()?;
        let mut next = data.clone();
        for op in batch.0 {
            crate::check(&op)?;
            match op {
                Op::PutAccount(p) => next.account = Some(p),
                Op::PutOlmSession { peer_user, peer_device, session_id, pickle } => {
                    next.olm.insert((peer_user, peer_device, session_id), pickle);
                }
                Op::PutInboundSession { session, pickle, .. } => {
                    next.inbound.insert(session, pickle);
                }
                Op::PutOutboundSession { room, pickle } => {
                    next.outbound.insert(room, pickle);
                }
                Op::MarkSeen { session, index } => {
                    next.seen.insert((session, index));
                }
                Op::PutMessage(m) => {
                    next.messages.insert(m.id, m);
                }
                Op::SetStatus { id, status } => {
                    if let Some(m) = next.messages.get_mut(&id) {
                        m.status = status;
                    }
                }
                Op::Enqueue { id, payload, queued } => {
                    next.outbox.entry(id).or_insert((queued, payload));
                }
                Op::Dequeue(id) => {
                    next.outbox.remove(&id);
                }
                Op::SetInboxCursor(seq) => next.cursor = seq,
                Op::PutValue { key, value } => {
                    next.values.insert(key, value);
                }
            }
        }
        *data = next;
        Ok(())
    }

    fn account(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.data()?.account.clone())
    }

    fn olm_sessions(&self, peer_user: &UserId, peer_device: &DeviceId) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .data()?
            .olm
            .iter()
            .filter(|((u, d, _), _)| u == peer_user && d == peer_device)
            .map(|((_, _, id), p)| (id.clone(), p.clone()))
            .collect())
    }

    fn inbound_session(&self, session: &Ed25519Public) -> Result<Option<Vec<u8>>> {
        Ok(self.data()?.inbound.get(session).cloned())
    }

    fn outbound_session(&self, room: &RoomId) -> Result<Option<Vec<u8>>> {
        Ok(self.data()?.outbound.get(room).cloned())
    }

    fn seen(&self, session: &Ed25519Public, index: u32) -> Result<bool> {
        Ok(self.data()?.seen.contains(&(*session, index)))
    }

    fn message(&self, id: &MessageId) -> Result<Option<StoredMessage>> {
        Ok(self.data()?.messages.get(id).cloned())
    }

    fn messages(&self, room: &RoomId, limit: usize) -> Result<Vec<StoredMessage>> {
        let all = self.data()?.messages.values().filter(|m| m.room == *room).cloned().collect();
        Ok(newest_first(all, limit))
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<StoredMessage>> {
        let terms = query_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let all = self
            .data()?
            .messages
            .values()
            .filter(|m| {
                let words: Vec<String> = m.body.split(|c: char| !c.is_alphanumeric()).map(str::to_lowercase).collect();
                terms.iter().all(|t| words.iter().any(|w| w == t))
            })
            .cloned()
            .collect();
        Ok(newest_first(all, limit))
    }

    fn outbox(&self) -> Result<Vec<(MessageId, Vec<u8>)>> {
        let data = self.data()?;
        let mut v: Vec<_> = data.outbox.iter().map(|(id, (q, p))| (*q, *id, p.clone())).collect();
        v.sort_by_key(|x| (x.0, x.1));
        Ok(v.into_iter().map(|(_, id, p)| (id, p)).collect())
    }

    fn inbox_cursor(&self) -> Result<u64> {
        Ok(self.data()?.cursor)
    }

    fn value(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.data()?.values.get(key).cloned())
    }

    fn purge_expired(&self, now: Timestamp) -> Result<usize> {
        let mut data = self.data()?;
        let before = data.messages.len();
        data.messages.retain(|_, m| m.expires_at.is_none_or(|t| t > now));
        Ok(before - data.messages.len())
    }
}
