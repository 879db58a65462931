//! Enrolls one device from each invitation file written by `belfry-admin`
//! and lets them talk through Olm and a Megolm room, in one process, with a
//! relay trick refused along the way. Used by `scripts/run.sh` until the
//! relay and the client exist.
//!
//! `cargo run -p belfry-crypto --example demo -- ORG_PUBLIC_KEY INVITE_A INVITE_B`

use belfry_crypto::{Device, Directory, InboundRoomSession, OutboundRoomSession, RotationPolicy, SeenIndices};
use belfry_protocol::armor::{INVITATION_LABEL, dearmor};
use belfry_protocol::cert::Timestamp;
use belfry_protocol::room::RoomContent;
use belfry_protocol::{DisplayName, Ed25519Public, Hash256, Invitation, MessageId, RoomId, Wire};
use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

type Res<T> = Result<T, Box<dyn Error>>;

fn read_invitation(path: &str) -> Res<Invitation> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Ok(Invitation::decode(&dearmor(INVITATION_LABEL, &text)?)?)
}

fn text(body: &str) -> RoomContent {
    RoomContent::Text { body: body.into() }
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [org, a, b] = args.as_slice() else {
        return Err("usage: demo ORG_PUBLIC_KEY INVITATION_A INVITATION_B".into());
    };
    let org = Ed25519Public::from_base64(org).ok_or("the org public key is not 32 bytes of base64")?;
    let now = Timestamp(u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?);

    let mut alice = Device::enroll(&read_invitation(a)?, &org, DisplayName::new("Travel laptop")?, now)?;
    let mut bob = Device::enroll(&read_invitation(b)?, &org, DisplayName::new("Office desktop")?, now)?;
    for d in [&alice, &bob] {
        println!("enrolled   {}/{} (Ed25519 {})", d.user(), d.device_id(), d.ed25519().fingerprint());
    }

    // Each side checks the other's certificate chain against the org root.
    let mut alice_dir = Directory::new(org);
    let mut bob_dir = Directory::new(org);
    let bob_seen_by_alice = alice_dir.admit(bob.chain(), now)?.device().clone();
    let alice_seen_by_bob = bob_dir.admit(alice.chain(), now)?.device().clone();
    println!("verified   each device's chain: org root -> enrollment key -> device");

    // Alice claims one of Bob's signed one-time keys and opens an Olm channel.
    let prekey = bob.generate_prekeys(1).remove(0);
    bob.mark_prekeys_published();
    let mut alice_channel = alice.open_channel(&bob_seen_by_alice, &prekey)?;

    // She creates a room session and sends its key to Bob over Olm.
    let room = RoomId([7; 16]);
    let mut session = OutboundRoomSession::new(&alice, room, RotationPolicy::default(), now)?;
    let key_message = alice.seal_to_device(&mut alice_channel, &bob_seen_by_alice, session.room_key())?;
    println!("olm        room key sent to {}: {} bytes of ciphertext", bob.user(), key_message.ciphertext.len());
    let mut bob_channels = Vec::new();
    let received = bob.open_to_device(&key_message, &alice_seen_by_bob, &mut bob_channels)?;
    let mut bob_inbound = InboundRoomSession::from_room_key(&received)?;
    let mut bob_seen = SeenIndices::default();

    for (i, body) in ["The draft communiqué is ready.", "Meeting moved to 15:00."].iter().enumerate() {
        let id = MessageId([u8::try_from(i)?; 16]);
        let message = session.encrypt(&alice, id, Hash256([0; 32]), text(body), now)?;
        println!("megolm     {} -> room: {} bytes of ciphertext", alice.user(), message.ciphertext.len());
        let got = bob_inbound.decrypt(&message, &mut bob_seen)?;
        if let RoomContent::Text { body } = got.payload.content {
            println!("           {} reads: {body:?}", bob.user());
        }
        // The relay tries to deliver the same message again.
        if let Err(e) = bob_inbound.decrypt(&message, &mut bob_seen) {
            println!("           replay refused: {e}");
        }
    }

    // Bob answers over Olm (his channel was created by Alice's pre-key message).
    let mut alice_channels = vec![alice_channel];
    let reply =
        bob.seal_to_device(&mut bob_channels[0], &alice_seen_by_bob, belfry_protocol::ToDeviceContent::Dummy)?;
    alice.open_to_device(&reply, &bob_seen_by_alice, &mut alice_channels)?;
    println!("olm        {} -> {}: reply decrypted and bound to both devices", bob.user(), alice.user());

    // A relay that moves a message to another room is caught.
    let mut moved = session.encrypt(&alice, MessageId([9; 16]), Hash256([0; 32]), text("for this room only"), now)?;
    moved.room = RoomId([8; 16]);
    match bob_inbound.decrypt(&moved, &mut bob_seen) {
        Err(e) => println!("relay      moved a message to another room: refused ({e})"),
        Ok(_) => return Err("a moved message was accepted".into()),
    }
    println!("bob-device {}/{}", bob.user(), bob.device_id());
    Ok(())
}
