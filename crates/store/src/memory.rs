//! The in-memory store: the same contract, for engine tests.

use crate::error::{Result, StoreError};
use crate::{
    Attachment, AttachmentData, AttachmentFile, Batch, MessageStatus, Op, PurgeReport, Receipt, Store, StoredMessage,
    query_terms,
};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::{BlobId, DeviceId, Ed25519Public, MessageId, RoomId, UserId};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::sync::{Mutex, MutexGuard};

/// Everything the store holds; `Debug` shows counts only.
#[derive(Default, Clone)]
struct Data {
    account: Option<Vec<u8>>,
    olm: BTreeMap<(UserId, DeviceId, String), Vec<u8>>,
    inbound: BTreeMap<(Ed25519Public, UserId, DeviceId), Vec<u8>>,
    outbound: BTreeMap<RoomId, Vec<u8>>,
    seen: BTreeSet<(Ed25519Public, u32)>,
    messages: BTreeMap<MessageId, StoredMessage>,
    /// By id: (queue position, payload).
    outbox: BTreeMap<MessageId, (u64, Vec<u8>)>,
    /// The next queue position (never reused, as SQLite's AUTOINCREMENT).
    next_queued: u64,
    cursor: u64,
    values: BTreeMap<String, Vec<u8>>,
    rooms: BTreeMap<RoomId, Vec<u8>>,
    /// In arrival order.
    waiting: Vec<(MessageId, Vec<u8>)>,
    /// By id (ids never reused, as SQLite's AUTOINCREMENT).
    alerts: BTreeMap<u64, (Timestamp, Vec<u8>)>,
    next_alert: u64,
    attachments: BTreeMap<BlobId, Attachment>,
    /// Arrival order of each message (search returns the latest first).
    arrival: BTreeMap<MessageId, u64>,
    next_arrival: u64,
    /// Receipts by message and member.
    receipts: BTreeMap<MessageId, BTreeMap<UserId, Receipt>>,
    /// Reactions by message and member.
    reactions: BTreeMap<MessageId, BTreeMap<UserId, String>>,
    read_markers: BTreeMap<RoomId, MessageId>,
}

impl std::fmt::Debug for Data {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Data")
            .field("account", &self.account.is_some())
            .field("olm", &self.olm.len())
            .field("inbound", &self.inbound.len())
            .field("outbound", &self.outbound.len())
            .field("seen", &self.seen.len())
            .field("messages", &self.messages.len())
            .field("outbox", &self.outbox.len())
            .field("cursor", &self.cursor)
            .field("values", &self.values.keys().collect::<Vec<_>>())
            .field("rooms", &self.rooms.len())
            .field("waiting", &self.waiting.len())
            .field("attachments", &self.attachments.len())
            .finish_non_exhaustive()
    }
}

impl Data {
    /// Removes a message and its attachment records; returns the files to
    /// delete once the change is committed.
    fn delete_message(&mut self, id: &MessageId, report: &mut PurgeReport) -> Vec<AttachmentFile> {
        if self.messages.remove(id).is_none() {
            return Vec::new();
        }
        self.arrival.remove(id);
        self.receipts.remove(id);
        self.reactions.remove(id);
        report.messages += 1;
        let mut files = Vec::new();
        self.attachments.retain(|_, a| {
            if a.message != *id {
                return true;
            }
            report.attachments += 1;
            if let AttachmentData::File(f) = &a.data {
                files.push(f.clone());
            }
            false
        });
        files
    }
}

/// A [`Store`] in memory. Batches are atomic: applied to a copy that
/// replaces the data only when every operation succeeded. Attachment files
/// live beside the data, as files live beside the database on disk.
#[derive(Default)]
pub struct MemoryStore {
    data: Mutex<Data>,
    files: Mutex<BTreeMap<AttachmentFile, Vec<u8>>>,
}

impl std::fmt::Debug for MemoryStore {
    /// Counts only: never the stored values.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("MemoryStore");
        if let Ok(data) = self.data.try_lock() {
            d.field("messages", &data.messages.len()).field("attachments", &data.attachments.len());
        }
        d.finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn data(&self) -> Result<MutexGuard<'_, Data>> {
        self.data.lock().map_err(|_| StoreError::Corrupt("a previous store operation panicked".into()))
    }

    fn files(&self) -> Result<MutexGuard<'_, BTreeMap<AttachmentFile, Vec<u8>>>> {
        self.files.lock().map_err(|_| StoreError::Corrupt("a previous store operation panicked".into()))
    }

    fn remove_files(&self, unlink: &[AttachmentFile]) -> Result<usize> {
        let mut files = self.files()?;
        Ok(unlink.iter().filter(|f| files.remove(f).is_some()).count())
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
        let mut unlink = Vec::new();
        let mut report = PurgeReport::default();
        for op in batch.0 {
            crate::check(&op)?;
            match op {
                Op::DeleteMessage(id) => unlink.extend(next.delete_message(&id, &mut report)),
                Op::PutAttachment(a) => {
                    if !next.messages.contains_key(&a.message) {
                        return Err(StoreError::Conflict(format!(
                            "attachment {} belongs to a message that is not stored",
                            a.id
                        )));
                    }
                    if let AttachmentData::File(f) = &a.data
                        && !self.files()?.contains_key(f)
                    {
                        return Err(StoreError::Conflict(format!("attachment {}: its file was never written", a.id)));
                    }
                    if let Some(AttachmentData::File(old)) = next.attachments.get(&a.id).map(|o| &o.data)
                        && a.data != AttachmentData::File(old.clone())
                    {
                        unlink.push(old.clone());
                    }
                    next.attachments.insert(a.id, a);
                }
                Op::PutAccount(p) => next.account = Some(p),
                Op::PutOlmSession { peer_user, peer_device, session_id, pickle } => {
                    next.olm.insert((peer_user, peer_device, session_id), pickle);
                }
                Op::PutInboundSession { sender, sender_device, session, pickle, .. } => {
                    next.inbound.insert((session, sender, sender_device), pickle);
                }
                Op::PutOutboundSession { room, pickle } => {
                    next.outbound.insert(room, pickle);
                }
                Op::MarkSeen { session, index } => {
                    next.seen.insert((session, index));
                }
                Op::PutMessage(m) => {
                    if !next.arrival.contains_key(&m.id) {
                        next.next_arrival += 1;
                        next.arrival.insert(m.id, next.next_arrival);
                    }
                    next.messages.insert(m.id, m);
                }
                Op::SetStatus { id, status } => {
                    if let Some(m) = next.messages.get_mut(&id) {
                        m.status = status;
                    }
                }
                Op::Enqueue { id, payload, queued: _ } => {
                    if let std::collections::btree_map::Entry::Vacant(slot) = next.outbox.entry(id) {
                        slot.insert((next.next_queued, payload));
                        next.next_queued += 1;
                    }
                }
                Op::Dequeue(id) => {
                    next.outbox.remove(&id);
                }
                Op::SetInboxCursor(seq) => next.cursor = seq,
                Op::PutRoom { room, record } => {
                    next.rooms.insert(room, record);
                }
                Op::PutWaiting { id, message } => {
                    if !next.waiting.iter().any(|(w, _)| *w == id) {
                        next.waiting.push((id, message));
                    }
                }
                Op::DeleteWaiting(id) => next.waiting.retain(|(w, _)| *w != id),
                Op::PutValue { key, value } => {
                    next.values.insert(key, value);
                }
                Op::PutReceipt { message, receipt } => {
                    if next.messages.contains_key(&message) {
                        let held = next.receipts.entry(message).or_default();
                        if held.get(&receipt.user).is_none_or(|r| receipt.read && !r.read) {
                            held.insert(receipt.user.clone(), receipt);
                        }
                    }
                }
                Op::PutReaction { message, user, key } => {
                    if next.messages.contains_key(&message) {
                        next.reactions.entry(message).or_default().insert(user, key);
                    }
                }
                Op::DeleteValue(key) => {
                    next.values.remove(&key);
                }
                Op::SetReadMarker { room, message } => {
                    next.read_markers.insert(room, message);
                }
            }
        }
        *data = next;
        drop(data);
        self.remove_files(&unlink)?;
        Ok(())
    }

    fn account(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.data()?.account.clone())
    }

    fn put_alert(&self, at: Timestamp, alert: &[u8]) -> Result<u64> {
        if at.0 > i64::MAX as u64 {
            return Err(StoreError::Corrupt("timestamp out of range".into()));
        }
        let mut data = self.data()?;
        data.next_alert += 1;
        let id = data.next_alert;
        data.alerts.insert(id, (at, alert.to_vec()));
        while data.alerts.len() > crate::MAX_ALERTS {
            data.alerts.pop_first();
        }
        Ok(id)
    }

    fn dismiss_alert(&self, id: u64) -> Result<()> {
        self.data()?.alerts.remove(&id);
        Ok(())
    }

    fn alerts(&self) -> Result<Vec<(u64, Timestamp, Vec<u8>)>> {
        Ok(self.data()?.alerts.iter().rev().map(|(id, (at, a))| (*id, *at, a.clone())).collect())
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

    fn inbound_session(
        &self,
        sender: &UserId,
        sender_device: &DeviceId,
        session: &Ed25519Public,
    ) -> Result<Option<Vec<u8>>> {
        Ok(self.data()?.inbound.get(&(*session, sender.clone(), sender_device.clone())).cloned())
    }

    fn inbound_sessions(&self, session: &Ed25519Public) -> Result<Vec<Vec<u8>>> {
        let data = self.data()?;
        Ok(data.inbound.iter().filter(|((s, _, _), _)| s == session).map(|(_, p)| p.clone()).collect())
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

    fn messages_before(
        &self,
        room: &RoomId,
        before: Option<(Timestamp, MessageId)>,
        limit: usize,
    ) -> Result<Vec<StoredMessage>> {
        let all = self
            .data()?
            .messages
            .values()
            .filter(|m| m.room == *room && before.is_none_or(|b| (m.sent_at, m.id) < b))
            .cloned()
            .collect();
        Ok(newest_first(all, limit))
    }

    fn messages_after(&self, room: &RoomId, after: (Timestamp, MessageId), limit: usize) -> Result<Vec<StoredMessage>> {
        let mut v: Vec<StoredMessage> =
            self.data()?.messages.values().filter(|m| m.room == *room && (m.sent_at, m.id) > after).cloned().collect();
        v.sort_by_key(|m| (m.sent_at, m.id));
        v.truncate(limit);
        Ok(v)
    }

    fn receipts(&self, message: &MessageId) -> Result<Vec<Receipt>> {
        Ok(self.data()?.receipts.get(message).map(|r| r.values().cloned().collect()).unwrap_or_default())
    }

    fn reactions(&self, message: &MessageId) -> Result<Vec<(UserId, String)>> {
        Ok(self
            .data()?
            .reactions
            .get(message)
            .map(|r| r.iter().map(|(u, k)| (u.clone(), k.clone())).collect())
            .unwrap_or_default())
    }

    fn values_with_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        Ok(self
            .data()?
            .values
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn unread_counts(&self, me: &UserId) -> Result<Vec<(RoomId, u64)>> {
        let mut counts: BTreeMap<RoomId, u64> = BTreeMap::new();
        for m in self.data()?.messages.values().filter(|m| m.status == MessageStatus::Received && m.sender != *me) {
            *counts.entry(m.room).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    fn unread_up_to(
        &self,
        room: &RoomId,
        me: &UserId,
        up_to: (Timestamp, MessageId),
        limit: usize,
    ) -> Result<Vec<MessageId>> {
        let all = self
            .data()?
            .messages
            .values()
            .filter(|m| {
                m.room == *room && m.status == MessageStatus::Received && m.sender != *me && (m.sent_at, m.id) <= up_to
            })
            .cloned()
            .collect();
        Ok(newest_first(all, limit).into_iter().map(|m| m.id).collect())
    }

    fn read_marker(&self, room: &RoomId) -> Result<Option<MessageId>> {
        Ok(self.data()?.read_markers.get(room).copied())
    }

    fn search(&self, query: &str, limit: usize) -> Result<Vec<StoredMessage>> {
        let terms = query_terms(query);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let data = self.data()?;
        let mut hits: Vec<(u64, StoredMessage)> = data
            .messages
            .values()
            .filter(|m| {
                let words = query_terms(&m.body);
                terms.iter().all(|t| words.iter().any(|w| w == t))
            })
            .map(|m| (data.arrival.get(&m.id).copied().unwrap_or(0), m.clone()))
            .collect();
        hits.sort_by_key(|(arrival, _)| std::cmp::Reverse(*arrival));
        Ok(hits.into_iter().take(limit).map(|(_, m)| m).collect())
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

    fn waiting(&self) -> Result<Vec<(MessageId, Vec<u8>)>> {
        Ok(self.data()?.waiting.clone())
    }

    fn rooms(&self) -> Result<Vec<(RoomId, Vec<u8>)>> {
        Ok(self.data()?.rooms.iter().map(|(r, v)| (*r, v.clone())).collect())
    }

    fn attachment(&self, id: &BlobId) -> Result<Option<Attachment>> {
        Ok(self.data()?.attachments.get(id).cloned())
    }

    fn attachments_of(&self, message: &MessageId) -> Result<Vec<Attachment>> {
        Ok(self.data()?.attachments.values().filter(|a| a.message == *message).cloned().collect())
    }

    fn write_attachment_file(&self, ciphertext: &mut dyn Read) -> Result<AttachmentFile> {
        let mut bytes = Vec::new();
        ciphertext.read_to_end(&mut bytes)?;
        let name = AttachmentFile::random();
        self.files()?.insert(name.clone(), bytes);
        Ok(name)
    }

    fn open_attachment(&self, id: &BlobId) -> Result<Option<Box<dyn Read + Send>>> {
        let data = self.data()?.attachments.get(id).map(|a| a.data.clone());
        Ok(match data {
            None | Some(AttachmentData::Remote) => None,
            Some(AttachmentData::Inline(bytes)) => Some(Box::new(std::io::Cursor::new(bytes))),
            Some(AttachmentData::File(f)) => {
                let bytes =
                    self.files()?.get(&f).cloned().ok_or_else(|| {
                        StoreError::Corrupt(format!("attachment {id}: file {} is missing", f.as_str()))
                    })?;
                Some(Box::new(std::io::Cursor::new(bytes)))
            }
        })
    }

    fn purge_expired(&self, now: Timestamp) -> Result<PurgeReport> {
        let mut data = self.data()?;
        let expired: Vec<MessageId> =
            data.messages.values().filter(|m| m.expires_at.is_some_and(|t| t <= now)).map(|m| m.id).collect();
        let mut report = PurgeReport::default();
        let mut unlink = Vec::new();
        for id in &expired {
            unlink.extend(data.delete_message(id, &mut report));
        }
        drop(data);
        report.files = self.remove_files(&unlink)?;
        Ok(report)
    }
}
