//! Test fixtures: an organisation, enrolled parties with their state, and a
//! "malicious client": a raw vodozemac account with a genuine certificate,
//! which can encrypt whatever it likes.

use belfry_crypto::*;
use belfry_protocol::cert::*;
use belfry_protocol::frames::DeviceAddress;
use belfry_protocol::room::*;
use belfry_protocol::signed;
use belfry_protocol::to_device::*;
use belfry_protocol::*;
use std::collections::{BTreeMap, BTreeSet};
use vodozemac::Ed25519SecretKey;

pub const NOW: Timestamp = Timestamp(1_750_000_000_000);
pub const DAY_MS: u64 = 24 * 3600 * 1000;

pub fn ca_der() -> Vec<u8> {
    b"0\x82 test relay CA certificate (fixture)".to_vec()
}

pub fn user(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

pub fn name(s: &str) -> DisplayName {
    DisplayName::new(s).unwrap()
}

pub fn invite(org: &OrgKey, who: &str) -> Invitation {
    org.invite(
        &InvitationRequest {
            user: user(who),
            display_name: name(who),
            relay_url: "wss://relay.test:7443".into(),
            relay_ca_der: ca_der(),
            valid_for_ms: 7 * DAY_MS,
        },
        NOW,
    )
    .unwrap()
}

pub fn addr(d: &VerifiedDevice) -> DeviceAddress {
    DeviceAddress { user: d.user.clone(), device: d.device.clone() }
}

/// One enrolled device with everything a client engine would store.
pub struct Party {
    pub device: Device,
    pub dir: Directory,
    pub channels: Vec<OlmChannel>,
    pub inbound: BTreeMap<Ed25519Public, InboundRoomSession>,
    pub outbound: BTreeMap<RoomId, OutboundRoomSession>,
    pub seen: SeenIndices,
}

impl Party {
    pub fn enroll(org: &OrgKey, who: &str) -> Self {
        Self::from_invitation(org, &invite(org, who))
    }

    pub fn from_invitation(org: &OrgKey, inv: &Invitation) -> Self {
        let device = Device::enroll(inv, &org.public(), name("Laptop"), NOW).unwrap();
        let mut dir = Directory::new(org.public());
        dir.admit(device.chain(), NOW).unwrap();
        Self {
            device,
            dir,
            channels: Vec::new(),
            inbound: BTreeMap::new(),
            outbound: BTreeMap::new(),
            seen: SeenIndices::default(),
        }
    }

    pub fn me(&self) -> VerifiedDevice {
        self.device.identity().clone()
    }

    /// Admits another device's chain, as after a directory fetch.
    pub fn learn(&mut self, chain: &DeviceChain) {
        self.dir.admit(chain, NOW).unwrap();
    }

    pub fn peer(&self, d: &VerifiedDevice) -> VerifiedDevice {
        self.dir.trusted(&d.user, &d.device).unwrap().clone()
    }

    /// Seals `content` to `to`, opening an Olm channel from a fresh claimed
    /// prekey if there is none yet.
    pub fn seal(&mut self, to: &mut Party, content: ToDeviceContent) -> ToDeviceEnvelope {
        let peer = self.peer(&to.me());
        let idx =
            match self.channels.iter().position(|c| c.peer_user() == &peer.user && c.peer_device() == &peer.device) {
                Some(i) => i,
                None => {
                    let prekey = to.device.generate_prekeys(1).remove(0);
                    to.device.mark_prekeys_published();
                    self.channels.push(self.device.open_channel(&peer, &prekey).unwrap());
                    self.channels.len() - 1
                }
            };
        self.device.seal_to_device(&mut self.channels[idx], &peer, content).unwrap()
    }

    /// Receives a to-device envelope the way the engine will: look the
    /// sender up in the directory, then decrypt.
    pub fn open(&mut self, env: &ToDeviceEnvelope) -> Result<ReceivedToDevice> {
        let sender = self.dir.trusted(&env.sender, &env.sender_device).map_err(CryptoError::from)?.clone();
        self.device.open_to_device(env, &sender, &mut self.channels)
    }

    /// Receives and installs a room key.
    pub fn accept_room_key(&mut self, env: &ToDeviceEnvelope) -> Result<()> {
        let received = self.open(env)?;
        let session = match InboundRoomSession::claimed_original_sender(&received) {
            Some((user, device)) => {
                let original = self.dir.trusted(&user, &device).map_err(CryptoError::from)?.clone();
                InboundRoomSession::from_forwarded_key(&received, self.device.user(), &original)?
            }
            None => InboundRoomSession::from_room_key(&received)?,
        };
        self.inbound.insert(*session.session_id(), session);
        Ok(())
    }

    pub fn start_room(&mut self, room: RoomId, policy: RotationPolicy) {
        let s = OutboundRoomSession::new(&self.device, room, policy, NOW).unwrap();
        self.outbound.insert(room, s);
    }

    /// Shares this party's room session with `to` over Olm.
    pub fn share_room(&mut self, room: RoomId, to: &mut Party) {
        let key = self.outbound[&room].room_key();
        let env = self.seal(to, key);
        to.accept_room_key(&env).unwrap();
        let a = addr(&to.me());
        self.outbound.get_mut(&room).unwrap().mark_shared(a);
    }

    pub fn send(&mut self, room: RoomId, id: u8, text: &str) -> RoomMessage {
        let content = RoomContent::Text { body: text.into() };
        self.send_content(room, MessageId([id; 16]), content)
    }

    pub fn send_content(&mut self, room: RoomId, id: MessageId, content: RoomContent) -> RoomMessage {
        let session = self.outbound.get_mut(&room).unwrap();
        session.encrypt(&self.device, id, Hash256([0; 32]), content, NOW).unwrap()
    }

    pub fn receive(&mut self, msg: &RoomMessage) -> Result<DecryptedRoomMessage> {
        let session =
            self.inbound.get_mut(&msg.session).ok_or_else(|| CryptoError::MegolmDecrypt("no session".into()))?;
        session.decrypt(msg, &mut self.seen)
    }

    pub fn text_of(&mut self, msg: &RoomMessage) -> String {
        match self.receive(msg).unwrap().payload.content {
            RoomContent::Text { body } => body,
            other => panic!("unexpected content {other:?}"),
        }
    }
}

/// Lets each party admit every other party's chain.
pub fn introduce(parties: &mut [&mut Party]) {
    let chains: Vec<DeviceChain> = parties.iter().map(|p| p.device.chain().clone()).collect();
    for p in parties.iter_mut() {
        for c in &chains {
            p.dir.admit(c, NOW).unwrap();
        }
    }
}

/// A member turned hostile: a genuine, certified device whose owner runs
/// their own code on raw vodozemac, so they can encrypt arbitrary bytes.
pub struct Rogue {
    pub account: vodozemac::olm::Account,
    pub chain: DeviceChain,
    pub identity: VerifiedDevice,
}

impl Rogue {
    pub fn enroll(org: &OrgKey, who: &str, device: &str) -> Self {
        Self::from_invitation(org, &invite(org, who), device, NOW)
    }

    /// Certifies a raw account with the invitation's enrollment key, with a
    /// chosen device id and issue time (for expiry and reuse attacks).
    pub fn from_invitation(org: &OrgKey, inv: &Invitation, device: &str, issued_at: Timestamp) -> Self {
        let account = vodozemac::olm::Account::new();
        let chain = certify(inv, &account, device, issued_at);
        let identity = verify_chain(&org.public(), &chain, issued_at).unwrap_or_else(|_| VerifiedDevice {
            // Chains that are meant to fail verification still get an identity
            // so tests can use the account.
            user: chain.device.peek_unverified().unwrap().user,
            device: DeviceId::new(device).unwrap(),
            display_name: name("x"),
            device_name: name("x"),
            ed25519: Ed25519Public(*account.identity_keys().ed25519.as_bytes()),
            curve25519: Curve25519Public(account.identity_keys().curve25519.to_bytes()),
            enrollment_key: chain.device.peek_unverified().unwrap().enrollment_key,
            enrolled_at: issued_at,
            sas_verified: false,
        });
        Self { account, chain, identity }
    }

    /// An Olm session to `to` carrying `payload` bytes of the rogue's choice.
    pub fn olm_raw(&mut self, to: &mut Party, plaintext: &[u8]) -> ToDeviceEnvelope {
        let mut session = self.olm_session(to);
        self.envelope(&mut session, &to.me(), plaintext)
    }

    /// A fresh outbound Olm session to `to`, from one of its one-time keys.
    pub fn olm_session(&self, to: &mut Party) -> vodozemac::olm::Session {
        let prekey = to.device.generate_prekeys(1).remove(0).peek_unverified().unwrap();
        to.device.mark_prekeys_published();
        self.account
            .create_outbound_session(
                vodozemac::olm::SessionConfig::version_1(),
                vodozemac::Curve25519PublicKey::from_bytes(to.me().curve25519.0),
                vodozemac::Curve25519PublicKey::from_bytes(prekey.key.0),
            )
            .unwrap()
    }

    /// Encrypts arbitrary bytes on `session` into an envelope for `to`.
    pub fn envelope(
        &self,
        session: &mut vodozemac::olm::Session,
        to: &VerifiedDevice,
        plaintext: &[u8],
    ) -> ToDeviceEnvelope {
        let (kind, ciphertext) = match session.encrypt(plaintext).unwrap() {
            vodozemac::olm::OlmMessage::PreKey(m) => (OlmKind::PreKey, m.to_bytes()),
            vodozemac::olm::OlmMessage::Normal(m) => (OlmKind::Normal, m.to_bytes()),
        };
        ToDeviceEnvelope {
            sender: self.identity.user.clone(),
            sender_device: self.identity.device.clone(),
            sender_key: self.identity.curve25519,
            recipient: to.user.clone(),
            recipient_device: to.device.clone(),
            kind,
            ciphertext,
        }
    }

    /// A room-key claim for `session`, signed by this rogue's device.
    pub fn claim(&self, room: RoomId, session: Ed25519Public) -> Signed<RoomKeyClaim> {
        let claim = RoomKeyClaim {
            room,
            session,
            sender: self.identity.user.clone(),
            sender_device: self.identity.device.clone(),
        };
        Signed::sign(&claim, |m| Signature(self.account.sign(m).to_bytes()))
    }

    /// A room payload from this rogue, correctly bound; tests then lie in it.
    pub fn room_payload(&self, room: RoomId, body: &str) -> RoomPayload {
        RoomPayload {
            id: MessageId([1; 16]),
            room,
            sender: self.identity.user.clone(),
            sender_device: self.identity.device.clone(),
            state_hash: Hash256([0; 32]),
            sent_at: NOW,
            content: RoomContent::Text { body: body.into() },
        }
    }

    /// A correctly bound to-device payload from this rogue to `to`.
    pub fn payload_to(&self, to: &Party, content: ToDeviceContent) -> ToDevicePayload {
        let me = &self.identity;
        let them = to.me();
        ToDevicePayload {
            sender: me.user.clone(),
            sender_device: me.device.clone(),
            sender_ed25519: me.ed25519,
            recipient: them.user,
            recipient_device: them.device,
            recipient_ed25519: them.ed25519,
            content,
        }
    }

    /// Starts a raw Megolm session, hands its key to `to` over Olm (as a
    /// genuine room key for `room`) and returns it.
    pub fn megolm_to(&mut self, to: &mut Party, room: RoomId) -> vodozemac::megolm::GroupSession {
        let session = vodozemac::megolm::GroupSession::new(vodozemac::megolm::SessionConfig::version_1());
        let claim = self.claim(room, Ed25519Public::from_base64(&session.session_id()).unwrap());
        let key = ToDeviceContent::RoomKey(RoomKey {
            claim,
            session_key: SecretBytes::new(session.session_key().to_bytes()),
        });
        let bytes = self.payload_to(to, key).encode();
        let env = self.olm_raw(to, &bytes);
        to.accept_room_key(&env).unwrap();
        session
    }

    /// A room message carrying arbitrary plaintext on a raw Megolm session.
    pub fn megolm_raw(
        &self,
        session: &mut vodozemac::megolm::GroupSession,
        room: RoomId,
        plaintext: &[u8],
    ) -> RoomMessage {
        RoomMessage {
            room,
            sender: self.identity.user.clone(),
            sender_device: self.identity.device.clone(),
            session: Ed25519Public::from_base64(&session.session_id()).unwrap(),
            ciphertext: session.encrypt(plaintext).to_bytes(),
        }
    }
}

/// Signs a device certificate for `account` with the invitation's secret.
pub fn certify(inv: &Invitation, account: &vodozemac::olm::Account, device: &str, issued_at: Timestamp) -> DeviceChain {
    let ec = inv.enrollment.peek_unverified().unwrap();
    let keys = account.identity_keys();
    let cert = DeviceCert {
        org: ec.org,
        user: ec.user.clone(),
        device: DeviceId::new(device).unwrap(),
        device_name: name("Rogue"),
        ed25519: Ed25519Public(*keys.ed25519.as_bytes()),
        curve25519: Curve25519Public(keys.curve25519.to_bytes()),
        enrollment_key: ec.enrollment_key,
        issued_at,
    };
    sign_chain(inv, account, &cert)
}

/// Signs `cert` with the invitation's enrollment secret and proves
/// possession with `account`: what a device holding that invitation can do.
pub fn sign_chain(inv: &Invitation, account: &vodozemac::olm::Account, cert: &DeviceCert) -> DeviceChain {
    let secret = Ed25519SecretKey::from_slice(inv.enrollment_secret.expose());
    let device = Signed::sign(cert, |m| Signature(secret.sign(m).to_bytes()));
    let possession = Signature(account.sign(signed::labelled_message(POSSESSION_LABEL, device.body())).to_bytes());
    DeviceChain { enrollment: inv.enrollment.clone(), device, possession }
}

/// Alice and Bob, introduced.
pub fn pair() -> (OrgKey, Party, Party) {
    let org = OrgKey::generate();
    let mut a = Party::enroll(&org, "alice");
    let mut b = Party::enroll(&org, "bob");
    introduce(&mut [&mut a, &mut b]);
    (org, a, b)
}

/// Alice and Bob in room 1, with alice's session shared to bob.
pub fn room_pair() -> (OrgKey, Party, Party, RoomId) {
    let (org, mut a, mut b) = pair();
    let r = room(1);
    a.start_room(r, RotationPolicy::default());
    a.share_room(r, &mut b);
    (org, a, b, r)
}

/// Alice and Bob, introduced, and Mallory's rogue device which both know.
pub fn alice_bob_and_rogue() -> (OrgKey, Party, Party, Rogue) {
    let org = OrgKey::generate();
    let mut alice = Party::enroll(&org, "alice");
    let mut bob = Party::enroll(&org, "bob");
    let rogue = Rogue::enroll(&org, "mallory", "MALLORY");
    alice.learn(&rogue.chain);
    bob.learn(&rogue.chain);
    introduce(&mut [&mut alice, &mut bob]);
    (org, alice, bob, rogue)
}

pub fn room(n: u8) -> RoomId {
    RoomId([n; 16])
}

pub fn recipients(parties: &[&VerifiedDevice]) -> BTreeSet<DeviceAddress> {
    parties.iter().map(|d| addr(d)).collect()
}
