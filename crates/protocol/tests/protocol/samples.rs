//! One deterministic sample of every wire type, for snapshots and as seeds
//! for the mutation tests.

use belfry_protocol::cert::*;
use belfry_protocol::frames::*;
use belfry_protocol::room::*;
use belfry_protocol::to_device::*;
use belfry_protocol::*;
use ed25519_dalek::{Signer, SigningKey};

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn public(k: &SigningKey) -> Ed25519Public {
    Ed25519Public(k.verifying_key().to_bytes())
}

pub fn sign<T: SignedBody>(k: &SigningKey, value: &T) -> Signed<T> {
    Signed::sign(value, |m| Signature(k.sign(m).to_bytes()))
}

pub fn user(s: &str) -> UserId {
    UserId::new(s).unwrap()
}

pub fn device(s: &str) -> DeviceId {
    DeviceId::new(s).unwrap()
}

pub fn name(s: &str) -> DisplayName {
    DisplayName::new(s).unwrap()
}

pub fn enrollment_cert() -> EnrollmentCert {
    EnrollmentCert {
        org: public(&key(1)),
        invitation: InvitationId([3; 16]),
        user: user("alice"),
        display_name: name("Alice Martin"),
        enrollment_key: public(&key(2)),
        relay: RelayInfo { url: "wss://relay.example:7443".into(), ca_sha256: Hash256([4; 32]) },
        not_before: Timestamp(1_700_000_000_000),
        expires_at: Timestamp(1_700_604_800_000),
    }
}

pub fn device_cert() -> DeviceCert {
    DeviceCert {
        org: public(&key(1)),
        user: user("alice"),
        device: device("KQJXWBNRTA"),
        device_name: name("Travel laptop"),
        ed25519: public(&key(5)),
        curve25519: Curve25519Public([6; 32]),
        enrollment_key: public(&key(2)),
        issued_at: Timestamp(1_700_000_100_000),
    }
}

pub fn chain() -> DeviceChain {
    let device = sign(&key(2), &device_cert());
    let possession =
        Signature(key(5).sign(&belfry_protocol::signed::labelled_message(POSSESSION_LABEL, device.body())).to_bytes());
    DeviceChain { enrollment: sign(&key(1), &enrollment_cert()), device, possession }
}

pub fn invitation() -> Invitation {
    Invitation {
        enrollment: sign(&key(1), &enrollment_cert()),
        enrollment_secret: SecretKey32::new([2; 32]),
        relay_ca_der: vec![0x30, 0x82, 0x01, 0x0a],
    }
}

pub fn prekey() -> Prekey {
    Prekey { user: user("alice"), device: device("KQJXWBNRTA"), key: Curve25519Public([7; 32]), fallback: false }
}

pub fn revocation() -> Revocation {
    Revocation {
        org: public(&key(1)),
        target: RevocationTarget::Device { user: user("alice"), device: device("KQJXWBNRTA") },
        issuer: Issuer::Org,
        reason: name("Laptop lost at border"),
        issued_at: Timestamp(1_700_000_200_000),
    }
}

pub fn wipe() -> WipeOrder {
    WipeOrder {
        org: public(&key(1)),
        user: user("alice"),
        device: device("KQJXWBNRTA"),
        issuer: Issuer::Device { device: device("OTHERDEVICE"), ed25519: public(&key(8)) },
        issued_at: Timestamp(1_700_000_300_000),
    }
}

pub fn statement() -> Statement {
    Statement::Revocation(sign(&key(1), &revocation()))
}

pub fn confirmation() -> EnrollmentConfirmation {
    EnrollmentConfirmation {
        org: public(&key(1)),
        invitation: InvitationId([3; 16]),
        enrollment_key: public(&key(2)),
        user: user("alice"),
        device: device("KQJXWBNRTA"),
        ed25519: public(&key(5)),
        curve25519: Curve25519Public([6; 32]),
        issued_at: Timestamp(1_700_000_600_000),
    }
}

pub fn confirmation_statement() -> Statement {
    Statement::Confirmation(sign(&key(1), &confirmation()))
}

pub fn state_event() -> RoomStateEvent {
    RoomStateEvent {
        room: RoomId([9; 16]),
        seq: 1,
        prev: Some(Hash256([10; 32])),
        sender: user("alice"),
        sender_device: device("KQJXWBNRTA"),
        ts: Timestamp(1_700_000_400_000),
        content: StateContent::Member { user: user("bob"), role: Role::Member },
    }
}

pub fn room_message() -> RoomMessage {
    RoomMessage {
        room: RoomId([9; 16]),
        sender: user("alice"),
        sender_device: device("KQJXWBNRTA"),
        session: public(&key(11)),
        ciphertext: vec![3, 0x08, 0x01, 0x12, 0x04, 0xde, 0xad, 0xbe, 0xef],
    }
}

pub fn room_payload() -> RoomPayload {
    RoomPayload {
        id: MessageId([12; 16]),
        room: RoomId([9; 16]),
        sender: user("alice"),
        sender_device: device("KQJXWBNRTA"),
        state_hash: Hash256([13; 32]),
        sent_at: Timestamp(1_700_000_500_000),
        content: RoomContent::Reply { to: MessageId([14; 16]), body: "On my way.".into() },
    }
}

pub fn to_device_envelope() -> ToDeviceEnvelope {
    ToDeviceEnvelope {
        sender: user("alice"),
        sender_device: device("KQJXWBNRTA"),
        sender_key: Curve25519Public([6; 32]),
        recipient: user("bob"),
        recipient_device: device("BOBDESKTOP"),
        kind: OlmKind::PreKey,
        ciphertext: vec![3, 0x0a, 0x20, 0x01],
    }
}

pub fn to_device_payload() -> ToDevicePayload {
    ToDevicePayload {
        sender: user("alice"),
        sender_device: device("KQJXWBNRTA"),
        sender_ed25519: public(&key(5)),
        recipient: user("bob"),
        recipient_device: device("BOBDESKTOP"),
        recipient_ed25519: public(&key(15)),
        content: ToDeviceContent::RoomKey(RoomKey {
            claim: sign(&key(5), &room_key_claim()),
            session_key: SecretBytes::new(vec![2; 8]),
        }),
    }
}

/// The sample payload with other content: one per kind of to-device
/// message, each pinned by its own snapshot.
pub fn to_device_payload_with(content: ToDeviceContent) -> ToDevicePayload {
    ToDevicePayload { content, ..to_device_payload() }
}

/// One sample of every [`ToDeviceContent`] variant, in declaration order
/// (the wire uses the variant index: new ones are appended).
pub fn to_device_contents() -> Vec<(&'static str, ToDeviceContent)> {
    let flow = FlowId([18; 16]);
    vec![
        (
            "room_key",
            ToDeviceContent::RoomKey(RoomKey {
                claim: sign(&key(5), &room_key_claim()),
                session_key: SecretBytes::new(vec![2; 8]),
            }),
        ),
        (
            "forwarded_room_key",
            ToDeviceContent::ForwardedRoomKey(ForwardedRoomKey {
                claim: sign(&key(5), &room_key_claim()),
                exported_key: SecretBytes::new(vec![19; 8]),
            }),
        ),
        ("room_key_request", ToDeviceContent::RoomKeyRequest { room: RoomId([9; 16]), session: public(&key(11)) }),
        ("statement", ToDeviceContent::Statement(statement())),
        ("dummy", ToDeviceContent::Dummy),
        ("verification_request", ToDeviceContent::VerificationRequest { flow }),
        ("verification_accept", ToDeviceContent::VerificationAccept { flow, commitment: Hash256([20; 32]) }),
        ("verification_key", ToDeviceContent::VerificationKey { flow, key: Curve25519Public([21; 32]) }),
        ("verification_mac", ToDeviceContent::VerificationMac { flow, mac: [22; 32] }),
        (
            "verification_cancel",
            ToDeviceContent::VerificationCancel { flow, reason: VerificationCancelReason::MacMismatch },
        ),
        ("verification_done", ToDeviceContent::VerificationDone { flow }),
        (
            "room_key_unavailable",
            ToDeviceContent::RoomKeyUnavailable { room: RoomId([9; 16]), session: public(&key(11)) },
        ),
    ]
}

pub fn room_key_claim() -> RoomKeyClaim {
    RoomKeyClaim {
        room: RoomId([9; 16]),
        session: public(&key(11)),
        sender: user("alice"),
        sender_device: device("KQJXWBNRTA"),
    }
}

pub fn auth_proof() -> AuthProof {
    AuthProof { challenge: [16; 32], tls_exporter: [17; 32], user: user("alice"), device: device("KQJXWBNRTA") }
}

pub fn client_frame() -> ClientFrame {
    ClientFrame {
        id: 42,
        request: Request::PublishRoom {
            id: MessageId([12; 16]),
            recipients: vec![DeviceAddress { user: user("bob"), device: device("BOBDESKTOP") }],
            message: room_message(),
        },
    }
}

pub fn server_frame() -> ServerFrame {
    ServerFrame::Inbox(vec![
        InboxEntry { seq: 7, item: InboxItem::Room(room_message()) },
        InboxEntry { seq: 8, item: InboxItem::ToDevice(to_device_envelope()) },
    ])
}

pub fn server_error_frame() -> ServerFrame {
    ServerFrame::Response {
        id: 43,
        result: Err(ProtocolError { code: ErrorCode::InboxFull, message: "bob/BOBDESKTOP inbox is full".into() }),
    }
}

/// Every sample, encoded, with its type name.
pub fn all_encoded() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("enrollment_cert", enrollment_cert().encode()),
        ("invitation", invitation().encode()),
        ("device_cert", device_cert().encode()),
        ("device_chain", chain().encode()),
        ("prekey", prekey().encode()),
        ("revocation", revocation().encode()),
        ("wipe_order", wipe().encode()),
        ("statement", statement().encode()),
        ("enrollment_confirmation", confirmation().encode()),
        ("confirmation_statement", confirmation_statement().encode()),
        ("room_state_event", state_event().encode()),
        ("room_message", room_message().encode()),
        ("room_payload", room_payload().encode()),
        ("to_device_envelope", to_device_envelope().encode()),
        ("to_device_payload", to_device_payload().encode()),
        ("room_key_claim", room_key_claim().encode()),
        ("auth_proof", auth_proof().encode()),
        ("client_frame", client_frame().encode()),
        ("server_frame", server_frame().encode()),
        ("server_error_frame", server_error_frame().encode()),
    ]
}

/// Every to-device content sample inside a payload, encoded, with its name.
pub fn to_device_encoded() -> Vec<(String, Vec<u8>)> {
    to_device_contents()
        .into_iter()
        .map(|(name, content)| (format!("to_device_{name}"), to_device_payload_with(content).encode()))
        .collect()
}
