//! Person-to-person verification of a device with a short authentication
//! string (SAS). It raises trust on top of the org chain and never replaces
//! it: only chain-verified, unrevoked devices take part, and a verified
//! device that is revoked later is not trusted, verified or not.
//!
//! The flow, every step over Olm:
//!
//! ```text
//! asking device A                                  asked device B
//!   VerificationRequest{flow}               ──▶    its person accepts
//!                                           ◀──    VerificationAccept{flow, commitment to B's key}
//!   VerificationKey{flow, A's key}          ──▶
//!                                           ◀──    VerificationKey{flow, B's key}
//!   B's key must match the commitment
//!   both devices show the same 7 emoji (and 3 numbers) unless a key was
//!   substituted; each person compares them with the other screen
//!   VerificationMac{flow, MAC(A's Ed25519)} ──▶    (each sent only once its
//!                                           ◀──     person confirmed)
//!   each checks the other's MAC and marks the other device verified
//!   VerificationDone{flow}                  ◀─▶
//! ```
//!
//! Commit, then reveal: B fixes its key before it sees A's, so a device in
//! between gets one guess at 42 bits of emoji. A MAC or commitment that does
//! not match cancels the flow on both sides and raises an alert; so does
//! anything out of order. A flow not finished in time (10 minutes by
//! default) is cancelled. Flows live in memory: a restart ends them (the
//! other side is told its flow is unknown when it next writes).

use super::{Alert, Engine, Event, K_DIRECTORY, State, address, ser, value};
use crate::error::{ClientError, Result};
use belfry_crypto::VerifiedDevice;
use belfry_crypto::sas::{EstablishedVerification, SasVerification, SasVerified};
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::{DeviceId, FlowId, Hash256, ToDeviceContent, UserId, VerificationCancelReason};
use belfry_store::Batch;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a verification may take, from its request to its end.
pub const DEFAULT_VERIFICATION_TIMEOUT: Duration = Duration::from_secs(600);

/// Most verifications in progress at once (requests beyond are declined).
const MAX_FLOWS: usize = 16;
/// Most incoming requests in progress from one device: one device cannot
/// fill every slot and block this device's verifications for the timeout.
const MAX_FLOWS_PER_DEVICE: usize = 2;

/// Where a verification stands, as a front end shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerificationState {
    /// The other device asks to verify: [`Engine::accept_verification`] or
    /// [`Engine::cancel_verification`].
    Requested,
    /// Waiting for the other device (to accept, or to send its key).
    Waiting,
    /// Compare these with the other screen, then
    /// [`Engine::confirm_sas`] if they match, or cancel if not.
    ShowSas {
        /// Seven (emoji, English name) pairs.
        emoji: Vec<(&'static str, &'static str)>,
        /// The same secret as three four-digit numbers.
        decimals: (u16, u16, u16),
    },
    /// This side confirmed; waiting for the other person to confirm.
    Confirmed,
    /// Both confirmed and the other device's MAC verified: it is marked
    /// verified here.
    Verified,
    /// Over, without verifying.
    Cancelled {
        /// Why.
        reason: VerificationCancelReason,
        /// The other device ended it (else this one did).
        by_them: bool,
    },
}

/// A verification in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationView {
    /// The flow.
    pub flow: FlowId,
    /// The other device's user.
    pub user: UserId,
    /// The other device.
    pub device: DeviceId,
    /// This device asked.
    pub we_started: bool,
    /// Where it stands.
    pub state: VerificationState,
}

/// Words for a reason a verification ended.
pub fn describe_cancel(reason: VerificationCancelReason) -> &'static str {
    match reason {
        VerificationCancelReason::User => "cancelled by a person",
        VerificationCancelReason::Timeout => "not finished in time",
        VerificationCancelReason::UnexpectedMessage => "a step came out of order",
        VerificationCancelReason::UnknownFlow => "the other device does not know this verification (it restarted?)",
        VerificationCancelReason::CommitmentMismatch => {
            "a key did not match its commitment: someone may be between the devices"
        }
        VerificationCancelReason::MacMismatch => {
            "the devices did not see the same keys: someone may be between the devices"
        }
        VerificationCancelReason::NotTrusted => "the other device is not (or no longer) trusted",
    }
}

enum Phase {
    /// We asked; our ephemeral key is made and kept until they accept.
    Asked(SasVerification),
    /// They asked; waiting for our person to accept.
    Incoming,
    /// We accepted and sent our commitment; waiting for their key.
    Accepted(SasVerification),
    /// Their commitment came and we sent our key; waiting for theirs.
    KeySent(SasVerification, Hash256),
    /// Both keys known: emoji shown.
    Established {
        sas: Box<EstablishedVerification>,
        /// Our person confirmed (and our MAC went out).
        confirmed: bool,
        /// Their MAC, checked.
        theirs: Option<SasVerified>,
    },
}

struct Flow {
    peer: VerifiedDevice,
    we_started: bool,
    phase: Phase,
    deadline: Instant,
    shown: VerificationState,
}

impl Flow {
    fn to(&self) -> DeviceAddress {
        address(&self.peer)
    }
}

/// The verifications of this device.
pub(super) struct Flows {
    flows: HashMap<FlowId, Flow>,
    timeout: Duration,
}

impl Default for Flows {
    fn default() -> Self {
        Self { flows: HashMap::new(), timeout: DEFAULT_VERIFICATION_TIMEOUT }
    }
}

/// Records a new state of `flow` and the event that reports it.
fn note(events: &mut Vec<Event>, flow: FlowId, f: &mut Flow, state: VerificationState) {
    f.shown = state.clone();
    events.push(Event::Verification { flow, user: f.peer.user.clone(), device: f.peer.device.clone(), state });
}

fn flow_of(content: &ToDeviceContent) -> Option<FlowId> {
    match content {
        ToDeviceContent::VerificationRequest { flow }
        | ToDeviceContent::VerificationAccept { flow, .. }
        | ToDeviceContent::VerificationKey { flow, .. }
        | ToDeviceContent::VerificationMac { flow, .. }
        | ToDeviceContent::VerificationCancel { flow, .. }
        | ToDeviceContent::VerificationDone { flow } => Some(*flow),
        _ => None,
    }
}

impl Engine {
    /// How long verifications started or received from now on may take
    /// (default [`DEFAULT_VERIFICATION_TIMEOUT`]).
    pub async fn set_verification_timeout(&self, timeout: Duration) -> Result<()> {
        self.state().await?.flows.timeout = timeout;
        Ok(())
    }

    /// Asks `user`'s device `device` to verify with emoji. Events
    /// [`Event::Verification`] follow; returns the flow id.
    pub async fn start_verification(&self, user: &UserId, device: &DeviceId) -> Result<FlowId> {
        let known = self.state().await?.dir.trusted(user, device).is_ok();
        if !known {
            let _ = self.refresh_users(std::slice::from_ref(user)).await;
        }
        let to = DeviceAddress { user: user.clone(), device: device.clone() };
        {
            let st = self.state().await?;
            if user == st.device.user() && device == st.device.device_id() {
                return Err(ClientError::Input("that is this device: verify another one".into()));
            }
            st.dir.trusted(user, device)?;
            if st.flows.flows.len() >= MAX_FLOWS {
                return Err(ClientError::Input("too many verifications in progress: finish or cancel one".into()));
            }
        }
        self.ensure_channels(std::slice::from_ref(&to)).await?;
        let flow = FlowId(rand::random());
        let mut guard = self.state().await?;
        let st = &mut *guard;
        let peer = st.dir.trusted(user, device)?.clone();
        let sas = SasVerification::start(&st.device, &peer, flow.0);
        let mut batch = Batch::new();
        if !self.send_sealed(st, &mut batch, &to, ToDeviceContent::VerificationRequest { flow })? {
            return Err(ClientError::Offline(format!("{user}/{device} cannot be reached yet (no keys on the relay)")));
        }
        self.commit(batch).await?;
        let deadline = Instant::now() + st.flows.timeout;
        let mut f =
            Flow { peer, we_started: true, phase: Phase::Asked(sas), deadline, shown: VerificationState::Waiting };
        let mut events = Vec::new();
        note(&mut events, flow, &mut f, VerificationState::Waiting);
        st.flows.flows.insert(flow, f);
        drop(guard);
        self.finish_step(events, Some((flow, deadline)));
        Ok(flow)
    }

    /// Accepts a verification the other device asked for.
    pub async fn accept_verification(&self, flow: FlowId) -> Result<()> {
        let mut guard = self.state().await?;
        let st = &mut *guard;
        let mut f = self.take_flow(st, flow)?;
        if !matches!(f.phase, Phase::Incoming) {
            st.flows.flows.insert(flow, f);
            return Err(ClientError::Input("this verification is not waiting to be accepted".into()));
        }
        let mut batch = Batch::new();
        let mut events = Vec::new();
        if st.dir.trusted(&f.peer.user, &f.peer.device).is_err() {
            self.end(st, &mut batch, &mut events, flow, f, VerificationCancelReason::NotTrusted, None)?;
            self.commit(batch).await?;
            drop(guard);
            self.finish_step(events, None);
            return Err(ClientError::Input("that device is no longer trusted".into()));
        }
        let sas = SasVerification::start(&st.device, &f.peer, flow.0);
        let commitment = sas.commitment();
        if !self.send_sealed(st, &mut batch, &f.to(), ToDeviceContent::VerificationAccept { flow, commitment })? {
            st.flows.flows.insert(flow, f);
            return Err(ClientError::Offline("the other device cannot be reached".into()));
        }
        self.commit(batch).await?;
        f.phase = Phase::Accepted(sas);
        note(&mut events, flow, &mut f, VerificationState::Waiting);
        st.flows.flows.insert(flow, f);
        drop(guard);
        self.finish_step(events, None);
        Ok(())
    }

    /// The person says the emoji match: sends our MAC, and marks the other
    /// device verified once its MAC checks out.
    pub async fn confirm_sas(&self, flow: FlowId) -> Result<()> {
        let mut guard = self.state().await?;
        let st = &mut *guard;
        let mut f = self.take_flow(st, flow)?;
        let to = f.to();
        let Phase::Established { sas, confirmed: false, theirs } = f.phase else {
            let already = matches!(f.phase, Phase::Established { confirmed: true, .. });
            st.flows.flows.insert(flow, f);
            return if already { Ok(()) } else { Err(ClientError::Input("there are no emoji to confirm yet".into())) };
        };
        let mut batch = Batch::new();
        let mut events = Vec::new();
        if st.dir.trusted(&f.peer.user, &f.peer.device).is_err() {
            f.phase = Phase::Incoming;
            self.end(st, &mut batch, &mut events, flow, f, VerificationCancelReason::NotTrusted, None)?;
            self.commit(batch).await?;
            drop(guard);
            self.finish_step(events, None);
            return Err(ClientError::Input("that device is no longer trusted".into()));
        }
        let mac: [u8; 32] = sas
            .confirm()
            .try_into()
            .map_err(|_| ClientError::Config("the verification MAC has an unexpected length".into()))?;
        if !self.send_sealed(st, &mut batch, &to, ToDeviceContent::VerificationMac { flow, mac })? {
            f.phase = Phase::Established { sas, confirmed: false, theirs };
            st.flows.flows.insert(flow, f);
            return Err(ClientError::Offline("the other device cannot be reached".into()));
        }
        match theirs {
            Some(verified) => {
                f.phase = Phase::Established { sas, confirmed: true, theirs: None };
                self.verified(st, &mut batch, &mut events, flow, f, &verified)?;
            }
            None => {
                f.phase = Phase::Established { sas, confirmed: true, theirs: None };
                note(&mut events, flow, &mut f, VerificationState::Confirmed);
                st.flows.flows.insert(flow, f);
            }
        }
        self.commit(batch).await?;
        drop(guard);
        self.finish_step(events, None);
        Ok(())
    }

    /// Ends a verification (the emoji differ, or the person declines); the
    /// other device is told.
    pub async fn cancel_verification(&self, flow: FlowId) -> Result<()> {
        let mut guard = self.state().await?;
        let st = &mut *guard;
        let f = self.take_flow(st, flow)?;
        let mut batch = Batch::new();
        let mut events = Vec::new();
        self.end(st, &mut batch, &mut events, flow, f, VerificationCancelReason::User, None)?;
        self.commit(batch).await?;
        drop(guard);
        self.finish_step(events, None);
        Ok(())
    }

    /// One verification in progress.
    pub async fn verification(&self, flow: FlowId) -> Result<Option<VerificationView>> {
        let st = self.state().await?;
        Ok(st.flows.flows.get(&flow).map(|f| view(flow, f)))
    }

    /// Every verification in progress.
    pub async fn verifications(&self) -> Result<Vec<VerificationView>> {
        let st = self.state().await?;
        let mut all: Vec<VerificationView> = st.flows.flows.iter().map(|(id, f)| view(*id, f)).collect();
        all.sort_by_key(|v| v.flow);
        Ok(all)
    }

    fn take_flow(&self, st: &mut State, flow: FlowId) -> Result<Flow> {
        st.flows.flows.remove(&flow).ok_or_else(|| ClientError::NotFound(format!("no verification {flow} in progress")))
    }

    /// After a committed step: events out, the timer armed, the outbox woken.
    fn finish_step(&self, events: Vec<Event>, timer: Option<(FlowId, Instant)>) {
        for e in events {
            self.emit(e);
        }
        if let Some((flow, deadline)) = timer {
            self.expire_at(flow, deadline);
        }
        self.kick_flush();
    }

    /// Cancels `flow` at `deadline` if it is still in progress then. Holds
    /// the engine weakly: a closed engine is not kept alive by its timers.
    fn expire_at(&self, flow: FlowId, deadline: Instant) {
        let weak = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            let Some(inner) = weak.upgrade() else { return };
            let engine = Engine { inner };
            if let Err(e) = engine.expire_verification(flow).await {
                tracing::warn!(error = %e, %flow, "ending a timed-out verification failed");
            }
        });
    }

    async fn expire_verification(&self, flow: FlowId) -> Result<()> {
        let mut guard = self.state().await?;
        let st = &mut *guard;
        if st.flows.flows.get(&flow).is_none_or(|f| Instant::now() < f.deadline) {
            return Ok(());
        }
        let f = self.take_flow(st, flow)?;
        let mut batch = Batch::new();
        let mut events = Vec::new();
        self.end(st, &mut batch, &mut events, flow, f, VerificationCancelReason::Timeout, None)?;
        self.commit(batch).await?;
        drop(guard);
        self.finish_step(events, None);
        Ok(())
    }

    /// Ends `flow` from this side: the other device is told why, the user
    /// sees it, and an alert is raised when a check failed.
    #[allow(clippy::too_many_arguments)]
    fn end(
        &self,
        st: &mut State,
        batch: &mut Batch,
        events: &mut Vec<Event>,
        flow: FlowId,
        mut f: Flow,
        reason: VerificationCancelReason,
        alert: Option<String>,
    ) -> Result<()> {
        // The peer may be unreachable (revoked, no channel): ending here
        // matters more than telling it.
        let _ = self.send_sealed(st, batch, &f.to(), ToDeviceContent::VerificationCancel { flow, reason })?;
        note(events, flow, &mut f, VerificationState::Cancelled { reason, by_them: false });
        if let Some(detail) = alert {
            events.push(Event::Alert(Alert::VerificationFailed {
                user: f.peer.user.clone(),
                device: f.peer.device.clone(),
                detail,
            }));
        }
        tracing::info!(%flow, reason = describe_cancel(reason), "verification cancelled");
        Ok(())
    }

    /// Both persons confirmed and the other device's MAC verified: mark it,
    /// tell it, report it.
    fn verified(
        &self,
        st: &mut State,
        batch: &mut Batch,
        events: &mut Vec<Event>,
        flow: FlowId,
        mut f: Flow,
        verified: &SasVerified,
    ) -> Result<()> {
        // Still trusted now (a revocation may have come meanwhile), and
        // still the key that was compared.
        let marked = st
            .dir
            .trusted(&verified.user, &verified.device)
            .map(|_| ())
            .and_then(|()| st.dir.mark_sas_verified(&verified.user, &verified.device, &verified.ed25519));
        if let Err(e) = marked {
            let detail = format!("the device cannot be marked verified: {e}");
            return self.end(st, batch, events, flow, f, VerificationCancelReason::NotTrusted, Some(detail));
        }
        batch.push(value(K_DIRECTORY, ser(&st.dir)?));
        let _ = self.send_sealed(st, batch, &f.to(), ToDeviceContent::VerificationDone { flow })?;
        // After the Done, so the other device has marked this one verified
        // before any key this one forwards reaches it.
        if verified.user == *st.device.user()
            && let Ok(device) = st.dir.trusted(&verified.user, &verified.device).cloned()
        {
            self.own_device_verified(st, &device, batch, events)?;
        }
        note(events, flow, &mut f, VerificationState::Verified);
        tracing::info!(%flow, user = %verified.user, device = %verified.device, "device verified in person");
        Ok(())
    }

    /// A verification message from a trusted device, inside a frame.
    pub(super) fn receive_verification(
        &self,
        st: &mut State,
        sender: &VerifiedDevice,
        content: &ToDeviceContent,
        batch: &mut Batch,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        let Some(flow) = flow_of(content) else { return Ok(()) };
        let from = address(sender);
        if let ToDeviceContent::VerificationRequest { .. } = content {
            if st.flows.flows.contains_key(&flow) {
                tracing::warn!(%flow, "a second request for a known verification flow; ignored");
                return Ok(());
            }
            let from_this_device = st
                .flows
                .flows
                .values()
                .filter(|f| f.peer.user == sender.user && f.peer.device == sender.device)
                .count();
            if st.flows.flows.len() >= MAX_FLOWS || from_this_device >= MAX_FLOWS_PER_DEVICE {
                let reason = VerificationCancelReason::UnexpectedMessage;
                self.send_sealed(st, batch, &from, ToDeviceContent::VerificationCancel { flow, reason })?;
                return Ok(());
            }
            let deadline = Instant::now() + st.flows.timeout;
            let mut f = Flow {
                peer: sender.clone(),
                we_started: false,
                phase: Phase::Incoming,
                deadline,
                shown: VerificationState::Requested,
            };
            note(events, flow, &mut f, VerificationState::Requested);
            st.flows.flows.insert(flow, f);
            self.expire_at(flow, deadline);
            return Ok(());
        }
        let Some(mut f) = st.flows.flows.remove(&flow) else {
            // Answering a cancel or a done could ping-pong forever.
            if !matches!(content, ToDeviceContent::VerificationCancel { .. } | ToDeviceContent::VerificationDone { .. })
            {
                let reason = VerificationCancelReason::UnknownFlow;
                self.send_sealed(st, batch, &from, ToDeviceContent::VerificationCancel { flow, reason })?;
            }
            return Ok(());
        };
        if f.peer.user != sender.user || f.peer.device != sender.device {
            // Another device cannot step into someone else's flow.
            st.flows.flows.insert(flow, f);
            events.push(Event::Alert(Alert::Rejected {
                detail: format!(
                    "{}/{} sent a step of a verification it is not part of; ignored",
                    sender.user, sender.device
                ),
            }));
            return Ok(());
        }
        if Instant::now() >= f.deadline {
            return self.end(st, batch, events, flow, f, VerificationCancelReason::Timeout, None);
        }
        let who = format!("{}/{}", f.peer.user, f.peer.device);
        let phase = std::mem::replace(&mut f.phase, Phase::Incoming);
        match (phase, content) {
            (Phase::Asked(sas), ToDeviceContent::VerificationAccept { commitment, .. }) => {
                let key = sas.public_key();
                f.phase = Phase::KeySent(sas, *commitment);
                if !self.send_sealed(st, batch, &from, ToDeviceContent::VerificationKey { flow, key })? {
                    return self.end(st, batch, events, flow, f, VerificationCancelReason::NotTrusted, None);
                }
                st.flows.flows.insert(flow, f);
            }
            (Phase::KeySent(sas, commitment), ToDeviceContent::VerificationKey { key, .. }) => {
                match sas.receive_committed_key(key, &commitment) {
                    Ok(established) => self.show_sas(st, events, flow, f, established),
                    Err(_) => {
                        let detail = format!(
                            "{who} revealed a key other than the one it committed to: someone may be between \
                             the devices; not verified"
                        );
                        let reason = VerificationCancelReason::CommitmentMismatch;
                        self.end(st, batch, events, flow, f, reason, Some(detail))?;
                    }
                }
            }
            (Phase::Accepted(sas), ToDeviceContent::VerificationKey { key, .. }) => {
                let ours = sas.public_key();
                match sas.receive_key(key) {
                    Ok(established) => {
                        if !self.send_sealed(st, batch, &from, ToDeviceContent::VerificationKey { flow, key: ours })? {
                            return self.end(st, batch, events, flow, f, VerificationCancelReason::NotTrusted, None);
                        }
                        self.show_sas(st, events, flow, f, established);
                    }
                    Err(e) => {
                        let detail = format!("{who} sent an unusable verification key: {e}");
                        let reason = VerificationCancelReason::UnexpectedMessage;
                        self.end(st, batch, events, flow, f, reason, Some(detail))?;
                    }
                }
            }
            (Phase::Established { sas, confirmed, theirs: None }, ToDeviceContent::VerificationMac { mac, .. }) => {
                match sas.verify_their_mac(mac) {
                    Ok(verified) if confirmed => {
                        f.phase = Phase::Established { sas, confirmed, theirs: None };
                        self.verified(st, batch, events, flow, f, &verified)?;
                    }
                    Ok(verified) => {
                        f.phase = Phase::Established { sas, confirmed, theirs: Some(verified) };
                        st.flows.flows.insert(flow, f);
                    }
                    Err(_) => {
                        let detail = format!(
                            "the confirmation from {who} does not match the keys this device saw: someone may \
                             be between the devices; not verified"
                        );
                        self.end(st, batch, events, flow, f, VerificationCancelReason::MacMismatch, Some(detail))?;
                    }
                }
            }
            (_, ToDeviceContent::VerificationCancel { reason, .. }) => {
                note(events, flow, &mut f, VerificationState::Cancelled { reason: *reason, by_them: true });
                if matches!(
                    reason,
                    VerificationCancelReason::MacMismatch | VerificationCancelReason::CommitmentMismatch
                ) {
                    events.push(Event::Alert(Alert::VerificationFailed {
                        user: f.peer.user.clone(),
                        device: f.peer.device.clone(),
                        detail: format!("{who} reports: {}; not verified", describe_cancel(*reason)),
                    }));
                }
            }
            // Their side finished first; ours finishes with their MAC.
            (phase, ToDeviceContent::VerificationDone { .. }) => {
                f.phase = phase;
                st.flows.flows.insert(flow, f);
            }
            (_, _) => {
                let detail = format!("{who} sent a verification step out of order; not verified");
                self.end(st, batch, events, flow, f, VerificationCancelReason::UnexpectedMessage, Some(detail))?;
            }
        }
        Ok(())
    }

    fn show_sas(
        &self,
        st: &mut State,
        events: &mut Vec<Event>,
        flow: FlowId,
        mut f: Flow,
        established: EstablishedVerification,
    ) {
        let state = VerificationState::ShowSas { emoji: established.emoji(), decimals: established.decimals() };
        f.phase = Phase::Established { sas: Box::new(established), confirmed: false, theirs: None };
        note(events, flow, &mut f, state);
        st.flows.flows.insert(flow, f);
    }
}

fn view(flow: FlowId, f: &Flow) -> VerificationView {
    VerificationView {
        flow,
        user: f.peer.user.clone(),
        device: f.peer.device.clone(),
        we_started: f.we_started,
        state: f.shown.clone(),
    }
}
