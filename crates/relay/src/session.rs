//! One WebSocket connection: challenge, authentication bound to the TLS
//! session, requests, and pushing the device's inbox.

use crate::admission;
use crate::error::{internal, refuse};
use crate::server::{ConnInfo, HubSeat, Shared, now_ms};
use crate::storage::{Delivery, DeviceRow, NewDevice, NewInvitation, NewStatement, OpError, Published, Storage};
use axum::extract::ws::{Message, WebSocket};
use belfry_protocol::codec::{decode, encode};
use belfry_protocol::frames::{AuthProof, ClaimedPrekey, DeviceAddress, DirectoryEntry, InboxEntry, InboxItem};
use belfry_protocol::limits::{
    MAX_CLAIMS_PER_REQUEST, MAX_DIRECTORY_PAGE, MAX_ITEMS_PER_PUSH, MAX_PREKEYS_PER_UPLOAD, MAX_RECIPIENTS,
};
use belfry_protocol::{
    BlobId, ClientFrame, DeviceChain, ErrorCode, Prekey, ProtocolError, Request, Response, ServerFrame, Signature,
    Signed, SignedBody, Statement, UserId,
};
use sha2::Digest as _;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Entries pushed but not yet acked, at most, per connection.
const PUSH_WINDOW: u64 = 4096;
/// Bytes of inbox items in one pushed frame, at most (a frame is at most
/// `MAX_FRAME_LEN`; one item is at most `MAX_ROOM_MESSAGE_LEN`).
const PUSH_BYTES: usize = belfry_protocol::limits::MAX_FRAME_LEN - 128 * 1024;
/// Bytes of directory entries in one answer, at most (the frame limit less
/// room for the rest of the frame).
const DIRECTORY_BYTES: usize = belfry_protocol::limits::MAX_FRAME_LEN - 64 * 1024;
/// Publishes of one connection being committed at once, at most.
const MAX_IN_FLIGHT: usize = 256;

/// A publish queued for the next group commit: the request id and its answer.
type InFlight = std::pin::Pin<Box<dyn std::future::Future<Output = (u64, Result<Response, ProtocolError>)> + Send>>;

/// Wrong authentication answers before the connection is closed.
const MAX_AUTH_FAILURES: u32 = 3;

/// A signed value as stored: its body, then its 64-byte signature.
pub fn store_signed<T: SignedBody>(s: &Signed<T>) -> Vec<u8> {
    let mut v = s.body().to_vec();
    v.extend_from_slice(&s.signature().0);
    v
}

/// The inverse of [`store_signed`].
pub fn load_signed<T: SignedBody>(bytes: &[u8]) -> Option<Signed<T>> {
    let split = bytes.len().checked_sub(64)?;
    let sig: [u8; 64] = bytes[split..].try_into().ok()?;
    Some(Signed::from_parts(bytes[..split].to_vec(), Signature(sig)))
}

struct Authed {
    device: DeviceRow,
    _seat: HubSeat,
    changes: broadcast::Receiver<Vec<UserId>>,
    /// Highest sequence number pushed on this connection.
    pushed: u64,
    /// Highest sequence number acked.
    acked: u64,
    /// Entries were pushed (or the device just authenticated) and the
    /// empty "caught up" frame has not followed yet.
    owe_caught_up: bool,
}

struct Session<S> {
    shared: Arc<Shared<S>>,
    info: ConnInfo,
    nonce: [u8; 32],
    authed: Option<Authed>,
    auth_failures: u32,
    /// Statements that revoke the device whose login was just refused,
    /// sent before the refusal ([`ServerFrame::Revoked`]).
    refusal: Option<Vec<Statement>>,
}

enum Flow {
    Continue,
    Close(ProtocolError),
}

/// Runs one connection to its end.
pub async fn run<S: Storage>(mut socket: WebSocket, shared: Arc<Shared<S>>, info: ConnInfo) {
    let mut nonce = [0u8; 32];
    rand::fill(&mut nonce[..]);
    let mut s = Session { shared, info, nonce, authed: None, auth_failures: 0, refusal: None };
    if s.send(&mut socket, &ServerFrame::Challenge { nonce }).await.is_err() {
        return;
    }
    let limits = s.shared.config.limits.clone();
    let idle = Duration::from_secs(limits.idle_timeout_secs.max(1));
    // The deadline set when the connection was accepted.
    let auth_deadline = s.info.sign_in_by;
    let mut ping = tokio::time::interval(idle / 3);
    ping.tick().await;
    let mut last_heard = Instant::now();
    let mut stopping = s.shared.stopping.clone();
    let mut in_flight: futures_util::stream::FuturesOrdered<InFlight> = futures_util::stream::FuturesOrdered::new();

    let reason = loop {
        let notify = s.authed.as_ref().map(|a| a._seat.notify.clone());
        let deadline = if s.authed.is_some() { last_heard + idle } else { auth_deadline.min(last_heard + idle) };
        tokio::select! {
            biased;
            () = async { let _ = stopping.wait_for(|v| *v).await; } => {
                break Some(refuse(ErrorCode::Unavailable, "the relay is restarting; reconnect shortly"));
            }
            msg = socket.recv() => {
                let Some(msg) = msg else { break None };
                last_heard = Instant::now();
                match msg {
                    Ok(Message::Binary(bytes)) => {
                        s.shared.metrics.frame("in");
                        match s.frame(&mut socket, &bytes, &mut in_flight).await {
                            Ok(Flow::Continue) => {}
                            Ok(Flow::Close(e)) => break Some(e),
                            Err(()) => break None,
                        }
                    }
                    Ok(Message::Text(_)) => {
                        break Some(refuse(ErrorCode::Malformed, "text frames are not part of the protocol"));
                    }
                    Ok(Message::Ping(_) | Message::Pong(_)) => {}
                    Ok(Message::Close(_)) => break None,
                    Err(e) => {
                        let too_big = e.to_string().to_lowercase().contains("too long")
                            || e.to_string().to_lowercase().contains("too big")
                            || e.to_string().to_lowercase().contains("capacity");
                        break if too_big {
                            Some(refuse(ErrorCode::FrameTooLarge, "frame exceeds the relay's size limit"))
                        } else {
                            Some(refuse(ErrorCode::Malformed, "invalid WebSocket data"))
                        };
                    }
                }
            }
            Some((id, result)) = futures_util::StreamExt::next(&mut in_flight), if !in_flight.is_empty() => {
                if s.answer(&mut socket, id, result).await.is_err() { break None }
            }
            () = async { if let Some(n) = &notify { n.notified().await } else { std::future::pending().await } } => {
                if s.push(&mut socket).await.is_err() { break None }
            }
            change = async {
                match s.authed.as_mut() { Some(a) => a.changes.recv().await, None => std::future::pending().await }
            } => {
                let users = match change {
                    Ok(users) => users,
                    // Missed some: the client refetches what it follows.
                    Err(broadcast::error::RecvError::Lagged(_)) => Vec::new(),
                    Err(broadcast::error::RecvError::Closed) => continue,
                };
                if s.send(&mut socket, &ServerFrame::DevicesChanged(users)).await.is_err() { break None }
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() { break None }
                // Entries written by another process (`belfry-relay
                // statement`) or another relay instance wake nobody here.
                if s.push(&mut socket).await.is_err() { break None }
            }
            () = tokio::time::sleep_until(deadline.into()) => {
                break Some(if s.authed.is_some() {
                    refuse(ErrorCode::IdleTimeout, "no frames for too long")
                } else {
                    refuse(ErrorCode::Unauthenticated, "authenticate or enroll promptly after connecting")
                });
            }
        }
    };
    // Publishes already queued are committed by the writer either way;
    // answer them if the connection still carries answers.
    while let Some((id, result)) = futures_util::StreamExt::next(&mut in_flight).await {
        if s.answer(&mut socket, id, result).await.is_err() {
            break;
        }
    }
    if let Some(reason) = reason {
        s.shared.metrics.error(reason.code);
        let _ = s.send(&mut socket, &ServerFrame::Closing(reason)).await;
    }
    let _ = socket.send(Message::Close(None)).await;
    // The closing handshake: wait briefly for the peer's close, so the
    // socket is not torn down with unread data (which would reset the
    // connection and could discard the Closing frame before it is read).
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(msg)) = socket.recv().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    if s.authed.is_some() {
        s.shared.metrics.authenticated.dec();
    }
}

impl<S: Storage> Session<S> {
    async fn send(&self, socket: &mut WebSocket, frame: &ServerFrame) -> Result<(), ()> {
        self.shared.metrics.frame("out");
        socket.send(Message::Binary(encode(frame).into())).await.map_err(|_| ())
    }

    async fn answer(&self, socket: &mut WebSocket, id: u64, result: Result<Response, ProtocolError>) -> Result<(), ()> {
        if let Err(e) = &result {
            self.shared.metrics.error(e.code);
        }
        self.send(socket, &ServerFrame::Response { id, result }).await
    }

    async fn frame(
        &mut self,
        socket: &mut WebSocket,
        bytes: &[u8],
        in_flight: &mut futures_util::stream::FuturesOrdered<InFlight>,
    ) -> Result<Flow, ()> {
        use futures_util::StreamExt as _;
        let frame: ClientFrame = match decode(bytes) {
            Ok(f) => f,
            Err(e) => return Ok(Flow::Close(refuse(ErrorCode::Malformed, format!("frame did not decode: {e}")))),
        };
        let was_authed = self.authed.is_some();
        // Publishes are queued in arrival order and answered as their group
        // commit lands, so one connection's publishes share commits.
        if was_authed && matches!(frame.request, Request::PublishRoom { .. } | Request::PublishToDevice { .. }) {
            let id = frame.id;
            match self.queue_publish(frame.request).await {
                Ok(done) => {
                    in_flight.push_back(Box::pin(async move { (id, done.await) }));
                    if in_flight.len() >= MAX_IN_FLIGHT
                        && let Some((id, result)) = in_flight.next().await
                    {
                        self.answer(socket, id, result).await?;
                    }
                }
                Err(e) => self.answer(socket, id, Err(e)).await?,
            }
            return Ok(Flow::Continue);
        }
        // Anything else waits for the publishes before it.
        while let Some((id, result)) = in_flight.next().await {
            self.answer(socket, id, result).await?;
        }
        let result = self.request(frame.request).await;
        if let Err(e) = &result {
            self.shared.metrics.error(e.code);
        }
        let close_after = matches!(&result, Err(e) if e.code == ErrorCode::BadSignature && !was_authed)
            .then(|| {
                self.auth_failures += 1;
                self.auth_failures >= MAX_AUTH_FAILURES
            })
            .unwrap_or(false);
        if let Some(statements) = self.refusal.take() {
            self.send(socket, &ServerFrame::Revoked(statements)).await?;
        }
        self.send(socket, &ServerFrame::Response { id: frame.id, result }).await?;
        if close_after {
            return Ok(Flow::Close(refuse(ErrorCode::BadSignature, "too many failed authentication attempts")));
        }
        if !was_authed && self.authed.is_some() {
            self.push(socket).await?;
        }
        Ok(Flow::Continue)
    }

    /// Sends the next inbox entries, within the window and frame size.
    async fn push(&mut self, socket: &mut WebSocket) -> Result<(), ()> {
        loop {
            let Some(a) = self.authed.as_ref() else { return Ok(()) };
            if a.pushed.saturating_sub(a.acked) >= PUSH_WINDOW {
                return Ok(());
            }
            let (key, after) = (a.device.key, a.pushed);
            let rows = match self.shared.storage.inbox(key, after, MAX_ITEMS_PER_PUSH).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = ?e, "inbox read failed");
                    return Ok(());
                }
            };
            let mut entries = Vec::with_capacity(rows.len());
            let mut bytes = 0;
            let mut last = after;
            for (seq, item) in rows {
                if bytes + item.len() > PUSH_BYTES && !entries.is_empty() {
                    break;
                }
                bytes += item.len();
                last = seq;
                match decode::<InboxItem>(&item) {
                    Ok(item) => entries.push(InboxEntry { seq, item }),
                    // Cannot happen for what this relay stored; skip rather
                    // than wedge the inbox.
                    Err(e) => tracing::error!(seq, error = %e, "undecodable stored inbox item skipped"),
                }
            }
            if last == after {
                // Nothing more: an empty Inbox frame tells the device it has
                // everything the relay holds for it right now.
                if let Some(a) = self.authed.as_mut().filter(|a| a.owe_caught_up) {
                    a.owe_caught_up = false;
                    self.send(socket, &ServerFrame::Inbox(Vec::new())).await?;
                }
                return Ok(());
            }
            let n = entries.len() as u64;
            if let Some(a) = self.authed.as_mut() {
                a.pushed = last;
                a.owe_caught_up = true;
            }
            if !entries.is_empty() {
                self.send(socket, &ServerFrame::Inbox(entries)).await?;
                self.shared.metrics.deliveries.inc_by(n);
            }
            // Loop until a read finds nothing; that pass sends "caught up".
        }
    }

    fn device(&self) -> Result<&DeviceRow, ProtocolError> {
        self.authed.as_ref().map(|a| &a.device).ok_or_else(|| refuse(ErrorCode::Unauthenticated, "authenticate first"))
    }

    /// The authenticated device, re-read so a revocation since
    /// authentication applies at once.
    async fn active_device(&mut self) -> Result<DeviceRow, ProtocolError> {
        let d = self.device()?.clone();
        let fresh = self
            .shared
            .storage
            .device(d.user.clone(), d.device.clone())
            .await
            .map_err(|e| match e {
                OpError::Refused(p) => p,
                OpError::Failed(e) => internal(&e),
            })?
            .ok_or_else(|| refuse(ErrorCode::Forbidden, "this device is no longer enrolled"))?;
        if fresh.revoked {
            if let Some(a) = self.authed.as_mut() {
                a.device.revoked = true;
            }
            return Err(refuse(ErrorCode::Forbidden, "this device is revoked"));
        }
        Ok(fresh)
    }

    async fn request(&mut self, request: Request) -> Result<Response, ProtocolError> {
        let shared = self.shared.clone();
        let storage = &shared.storage;
        let limits = &shared.config.limits;
        let op = |e: OpError| match e {
            OpError::Refused(p) => p,
            OpError::Failed(e) => internal(&e),
        };
        match request {
            Request::Authenticate(signed) => {
                if self.authed.is_some() {
                    return Err(refuse(ErrorCode::Forbidden, "already authenticated"));
                }
                let proof: AuthProof =
                    signed.peek_unverified().map_err(|e| refuse(ErrorCode::Malformed, e.to_string()))?;
                let unknown = || refuse(ErrorCode::BadSignature, "unknown device, or a signature that does not verify");
                let device =
                    storage.device(proof.user.clone(), proof.device.clone()).await.map_err(op)?.ok_or_else(unknown)?;
                signed.verify(&device.ed25519).map_err(|_| unknown())?;
                if proof.challenge != self.nonce || proof.tls_exporter != self.info.exporter {
                    return Err(refuse(ErrorCode::BadSignature, "the proof was made for another connection"));
                }
                if device.revoked {
                    // Refused, with the signed statements that say why: the
                    // device believes those, not this answer.
                    let held =
                        storage.statements_against(device.user.clone(), device.device.clone()).await.map_err(op)?;
                    self.refusal = Some(held.iter().filter_map(|b| decode::<Statement>(b).ok()).collect());
                    tracing::info!(peer = %self.info.peer, user = %device.user, device = %device.device, "revoked device refused");
                    return Err(refuse(ErrorCode::Forbidden, "this device is revoked"));
                }
                let seat = shared.hub.join(device.key, limits.connections_per_device).ok_or_else(|| {
                    refuse(
                        ErrorCode::TooManyConnections,
                        format!("this device already has {} connections", limits.connections_per_device),
                    )
                })?;
                let next_seq = storage.first_unacked(device.key).await.map_err(op)?;
                tracing::info!(peer = %self.info.peer, user = %device.user, device = %device.device, "authenticated");
                // Signed in: no longer counted or limited as a stranger.
                self.info.pre_auth.release();
                shared.metrics.authenticated.inc();
                let start = next_seq.saturating_sub(1);
                self.authed = Some(Authed {
                    device,
                    _seat: seat,
                    changes: shared.device_changes.subscribe(),
                    pushed: start,
                    acked: start,
                    owe_caught_up: true,
                });
                Ok(Response::Authenticated { next_seq })
            }
            Request::RegisterInvitation(signed) => {
                let cert = admission::invitation(&shared.org, &signed)?;
                let inv = NewInvitation {
                    id: cert.invitation,
                    user: cert.user,
                    enrollment_key: cert.enrollment_key,
                    expires_at: cert.expires_at.0,
                    cert: store_signed(&signed),
                };
                storage.register_invitation(inv, now_ms()).await.map_err(op)?;
                Ok(Response::Ok)
            }
            Request::Enroll(chain) => {
                let now = now_ms();
                let (enrollment, cert) = admission::chain(&shared.org, &chain, now)?;
                let (row, new) = storage
                    .enroll(
                        NewDevice {
                            invitation: enrollment.invitation,
                            cert: store_signed(&chain.enrollment),
                            user: cert.user.clone(),
                            device: cert.device.clone(),
                            ed25519: cert.ed25519,
                            enrollment_key: cert.enrollment_key,
                            chain: encode::<DeviceChain>(&chain),
                        },
                        now,
                    )
                    .await
                    .map_err(op)?;
                // A repeat changes nothing: no one needs to fetch again.
                if new {
                    tracing::info!(user = %row.user, device = %row.device, "device enrolled");
                    let _ = shared.device_changes.send(vec![row.user]);
                }
                Ok(Response::Ok)
            }
            Request::UploadPrekeys { one_time, fallback } => {
                let dev = self.active_device().await?;
                if one_time.len() > MAX_PREKEYS_PER_UPLOAD {
                    return Err(refuse(
                        ErrorCode::TooMany,
                        format!("at most {MAX_PREKEYS_PER_UPLOAD} keys per upload"),
                    ));
                }
                let check = |s: &Signed<Prekey>, want_fallback: bool| -> Result<[u8; 32], ProtocolError> {
                    let k = s
                        .verify(&dev.ed25519)
                        .map_err(|_| refuse(ErrorCode::BadSignature, "a prekey is not signed by this device"))?;
                    if k.user != dev.user || k.device != dev.device || k.fallback != want_fallback {
                        return Err(refuse(ErrorCode::Forbidden, "a prekey names another device or the wrong kind"));
                    }
                    Ok(k.key.0)
                };
                let mut keys = Vec::with_capacity(one_time.len());
                for s in &one_time {
                    keys.push((check(s, false)?, store_signed(s)));
                }
                let fallback = match &fallback {
                    Some(s) => {
                        check(s, true)?;
                        Some(store_signed(s))
                    }
                    None => None,
                };
                storage.upload_prekeys(dev.key, keys, fallback).await.map_err(op)?;
                Ok(Response::Ok)
            }
            Request::ClaimPrekeys(addresses) => {
                let dev = self.active_device().await?;
                if addresses.len() > MAX_CLAIMS_PER_REQUEST {
                    return Err(refuse(
                        ErrorCode::TooMany,
                        format!("at most {MAX_CLAIMS_PER_REQUEST} devices per claim"),
                    ));
                }
                let n = u32::try_from(addresses.len()).unwrap_or(u32::MAX);
                if !shared.claims.allow(dev.key, n, limits.key_claims_per_minute) {
                    return Err(refuse(
                        ErrorCode::RateLimited,
                        format!("at most {} key claims per minute; retry later", limits.key_claims_per_minute),
                    ));
                }
                // One claimer gets few one-time keys of one target per hour,
                // then its fallback key: nobody can drain them.
                let one_time = addresses
                    .iter()
                    .map(|a| {
                        shared.one_time_claims.allow((dev.key, a.clone()), 1, limits.one_time_keys_per_target_per_hour)
                    })
                    .collect();
                let claimed = storage.claim_prekeys(addresses.clone(), one_time).await.map_err(op)?;
                Ok(Response::Prekeys(
                    addresses
                        .into_iter()
                        .zip(claimed)
                        .map(|(address, k)| ClaimedPrekey { address, prekey: k.and_then(|b| load_signed(&b)) })
                        .collect(),
                ))
            }
            Request::FetchDevices(users) => {
                self.device()?;
                if users.len() > MAX_CLAIMS_PER_REQUEST {
                    return Err(refuse(
                        ErrorCode::TooMany,
                        format!("at most {MAX_CLAIMS_PER_REQUEST} users per fetch"),
                    ));
                }
                Ok(Response::Devices(directory_entries(storage, users).await?))
            }
            Request::ListDirectory { after, limit } => {
                self.device()?;
                let limit = limit.min(MAX_DIRECTORY_PAGE) as usize;
                let users = storage.directory_users(after, limit).await.map_err(op)?;
                Ok(Response::Devices(directory_entries(storage, users).await?))
            }
            // Only reached before authentication (authenticated publishes
            // are pipelined by `frame`): `queue_publish` refuses them.
            request @ (Request::PublishRoom { .. } | Request::PublishToDevice { .. }) => {
                self.queue_publish(request).await?.await
            }
            Request::PublishStatement(statement) => {
                let publisher = self.device()?.key;
                let scope = admission::statement(&shared.org, &statement)?;
                if let (Some((device, key)), Some(user)) = (&scope.signed_by_device, &scope.user) {
                    // Signed by a device, not the org: few per hour, and
                    // only about a device that exists.
                    if !shared.device_statements.allow(publisher, 1, limits.device_statements_per_hour) {
                        return Err(refuse(
                            ErrorCode::RateLimited,
                            format!(
                                "at most {} device-signed statements per hour; retry later",
                                limits.device_statements_per_hour
                            ),
                        ));
                    }
                    let row = storage.device(user.clone(), device.clone()).await.map_err(op)?;
                    if !admission::may_sign_for(row.as_ref(), key) {
                        return Err(refuse(
                            ErrorCode::BadSignature,
                            "the statement is not signed by an enrolled device of the same user",
                        ));
                    }
                    let target = match &scope.device {
                        Some(target) => storage.device(user.clone(), target.clone()).await.map_err(op)?,
                        None => None,
                    };
                    let Some(target) = target else {
                        return Err(refuse(ErrorCode::NotFound, "the statement names no enrolled device"));
                    };
                    if target.revoked && matches!(statement, Statement::Revocation(_)) {
                        return Err(refuse(ErrorCode::Forbidden, "that device is already revoked"));
                    }
                }
                let encoded = encode::<Statement>(&statement);
                let st = NewStatement {
                    user: scope.user.clone(),
                    device: scope.device.clone(),
                    revokes: scope.revokes,
                    enrollment_key: scope.enrollment_key,
                    hash: sha2::Sha256::digest(&encoded).into(),
                    statement: encoded,
                    item: encode(&InboxItem::Statement(statement)),
                };
                match storage.publish_statement(st, now_ms()).await.map_err(op)? {
                    Published::Stored(devices) => {
                        shared.metrics.publishes.inc();
                        shared.hub.wake(&devices);
                        if let Some(user) = scope.user {
                            let _ = shared.device_changes.send(vec![user]);
                        }
                    }
                    Published::Duplicate => {}
                }
                Ok(Response::Ok)
            }
            Request::Ack { seq } => {
                let key = self.device()?.key;
                let Some(a) = self.authed.as_mut() else {
                    return Err(refuse(ErrorCode::Unauthenticated, "authenticate first"));
                };
                // Never delete what this connection has not delivered.
                let seq = seq.min(a.pushed);
                if seq > a.acked {
                    storage.ack(key, seq).await.map_err(op)?;
                    if let Some(a) = self.authed.as_mut() {
                        let reopened = a.pushed.saturating_sub(a.acked) >= PUSH_WINDOW;
                        a.acked = seq;
                        if reopened {
                            a._seat.notify.notify_one();
                        }
                    }
                }
                Ok(Response::Ok)
            }
            Request::CreateBlob { len } => {
                let dev = self.active_device().await?;
                if len > limits.max_blob_bytes {
                    return Err(refuse(
                        ErrorCode::BlobTooLarge,
                        format!("blobs are limited to {} bytes on this relay", limits.max_blob_bytes),
                    ));
                }
                let mut id = [0u8; 16];
                rand::fill(&mut id[..]);
                storage.create_blob(dev.key, id, len, limits.blob_quota_bytes, now_ms()).await.map_err(op)?;
                Ok(Response::BlobCreated { blob: BlobId(id) })
            }
        }
    }

    /// Checks a publish and queues its write; the future answers it.
    async fn queue_publish(
        &mut self,
        request: Request,
    ) -> Result<
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<Response, ProtocolError>> + Send>>,
        ProtocolError,
    > {
        let dev = self.device()?.clone();
        let (id, deliveries) = match request {
            Request::PublishRoom { id, recipients, message } => {
                if message.sender != dev.user || message.sender_device != dev.device {
                    return Err(refuse(ErrorCode::Forbidden, "a device may only publish as itself"));
                }
                if recipients.len() > MAX_RECIPIENTS {
                    return Err(refuse(ErrorCode::TooMany, format!("at most {MAX_RECIPIENTS} recipient devices")));
                }
                (id, vec![Delivery { item: encode(&InboxItem::Room(message)), to: recipients }])
            }
            Request::PublishToDevice { id, messages } => {
                if messages.len() > MAX_RECIPIENTS {
                    return Err(refuse(ErrorCode::TooMany, format!("at most {MAX_RECIPIENTS} messages per publish")));
                }
                if messages.iter().any(|m| m.sender != dev.user || m.sender_device != dev.device) {
                    return Err(refuse(ErrorCode::Forbidden, "a device may only publish as itself"));
                }
                let deliveries = messages
                    .into_iter()
                    .map(|m| {
                        let to = vec![DeviceAddress { user: m.recipient.clone(), device: m.recipient_device.clone() }];
                        Delivery { item: encode(&InboxItem::ToDevice(m)), to }
                    })
                    .collect();
                (id, deliveries)
            }
            _ => return Err(refuse(ErrorCode::Internal, "not a publish")),
        };
        let shared = self.shared.clone();
        let op = |e: OpError| match e {
            OpError::Refused(p) => p,
            OpError::Failed(e) => internal(&e),
        };
        let committed = shared
            .storage
            .publish_queued(dev.key, id, deliveries, now_ms(), shared.config.limits.inbox())
            .await
            .map_err(op)?;
        Ok(Box::pin(async move {
            if let Published::Stored(devices) = committed.await.map_err(op)? {
                shared.metrics.publishes.inc();
                shared.hub.wake(&devices);
            }
            Ok(Response::Published { id })
        }))
    }
}

/// The directory entries of `users`, paged by user: the first users whose
/// entries fit in one frame (at least one); the device asks again for the
/// rest.
async fn directory_entries<S: Storage>(storage: &S, users: Vec<UserId>) -> Result<Vec<DirectoryEntry>, ProtocolError> {
    let rows = storage.directory(users.clone()).await.map_err(|e| match e {
        OpError::Refused(p) => p,
        OpError::Failed(e) => internal(&e),
    })?;
    let mut bytes = 0;
    let mut entries = Vec::new();
    for (user, r) in users.into_iter().zip(rows) {
        let len = r.chains.iter().chain(&r.statements).map(|b| b.len() + 8).sum::<usize>() + 64;
        if !entries.is_empty() && bytes + len > DIRECTORY_BYTES {
            break;
        }
        bytes += len;
        entries.push(DirectoryEntry {
            user,
            devices: r.chains.iter().filter_map(|c| decode(c).ok()).collect(),
            statements: r.statements.iter().filter_map(|s| decode(s).ok()).collect(),
        });
    }
    Ok(entries)
}
