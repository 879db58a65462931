//! Removal, revocation and wipe: what an honest engine refuses to share,
//! checked against a relay that hands the ciphertext over anyway.

use crate::support::*;
use belfry_client::{Alert, Event};
use belfry_protocol::frames::InboxItem;
use belfry_protocol::room::RoomKind;
use belfry_protocol::{Issuer, Statement, Timestamp, WipeOrder};
use std::time::Duration;

/// The Room items the relay holds for `user`/`device` from sequence `mark` on.
fn room_items_after(relay: &TestRelay, user: &str, device: &str, mark: i64) -> Vec<InboxItem> {
    relay.room_items_since(user, device, mark).into_iter().map(|(_, m)| InboxItem::Room(m)).collect()
}

async fn expect_undecryptable(dev: &mut Dev) -> String {
    match dev.wait(|e| matches!(e, Event::Alert(Alert::Undecryptable { .. }) | Event::Message(_))).await {
        Event::Alert(Alert::Undecryptable { reason, .. }) => reason,
        other => panic!("decrypted something it must not: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_member_cannot_read_what_is_sent_after_removal() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (bob_id, carol_id) = (bob.engine.user().await.unwrap(), carol.engine.user().await.unwrap());
    let carol_device = carol.engine.device_id().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Cell", &[bob_id.clone(), carol_id.clone()]).await.unwrap();
    bob.joined(&room).await;
    carol.joined(&room).await;
    let before = alice.engine.send_text(room, "before removal").await.unwrap();
    carol.wait(|e| matches!(e, Event::Message(m) if m.id == before)).await;

    alice.engine.remove_member(room, carol_id.clone()).await.unwrap();
    carol.wait(|e| *e == Event::Room(room)).await;
    assert!(!carol.engine.room(&room).await.unwrap().members.contains_key(&carol_id), "carol learns she was removed");
    // Bob is offline so the relay still holds what Alice sends next.
    let bob_device = bob.engine.device_id().await.unwrap();
    bob.shut().await;
    let mark = relay.mark("bob", bob_device.as_str());
    let after = alice.engine.send_text(room, "after removal").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while alice.engine.pending_count().unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let items = room_items_after(&relay, "bob", bob_device.as_str(), mark);
    assert!(!items.is_empty(), "the message should be held for bob");
    // The relay hands carol the ciphertext anyway: she cannot read it.
    for item in &items {
        relay.inject("carol", carol_device.as_str(), item);
    }
    let reason = expect_undecryptable(&mut carol).await;
    assert!(reason.contains("key"), "{reason}");
    assert!(carol.engine.messages(&room, 100).await.unwrap().iter().all(|m| m.id != after));
    // Bob, back online, reads it.
    bob.reopen().await;
    let has = bob.engine.messages(&room, 100).await.unwrap().iter().any(|m| m.id == after);
    if !has {
        bob.wait(|e| matches!(e, Event::Message(m) if m.id == after)).await;
    }
}

/// A message written offline waits in the outbox, perhaps for days. Someone
/// added to the room before it is finally encrypted must not be able to
/// read it, even when the relay hands them its ciphertext: it is for the
/// members of the moment it was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_offline_is_not_readable_by_a_member_added_later() {
    let mut relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut carol = Dev::enroll(&relay, "carol", "Carol laptop").await;
    let (bob_id, carol_id) = (bob.engine.user().await.unwrap(), carol.engine.user().await.unwrap());
    let (bob_device, carol_device) = (bob.engine.device_id().await.unwrap(), carol.engine.device_id().await.unwrap());
    let room = alice.engine.create_room(RoomKind::Group, "Cell", &[bob_id]).await.unwrap();
    bob.joined(&room).await;
    bob.shut().await;
    carol.shut().await;
    let mark = relay.mark("bob", bob_device.as_str());

    // Offline (the relay is down while Alice's laptop restarts): nothing
    // can be encrypted before her contacts' devices are fetched again.
    relay.kill9();
    alice.restart().await;
    let before = alice.engine.send_text(room, "before carol joined").await.unwrap();
    alice.engine.add_member(room, carol_id).await.unwrap();
    let after = alice.engine.send_text(room, "after carol joined").await.unwrap();
    assert!(alice.engine.pending_count().unwrap() >= 3, "the test needs the messages still queued");
    relay.spawn();
    alice.settle().await;

    // What the relay holds for Bob, in order: "before" comes first.
    let held = room_items_after(&relay, "bob", bob_device.as_str(), mark);
    assert!(held.len() >= 3, "expected before, the state change and after; got {}", held.len());
    carol.reopen().await;
    carol.joined(&room).await;
    if !carol.engine.messages(&room, 100).await.unwrap().iter().any(|m| m.id == after) {
        carol.wait(|e| matches!(e, Event::Message(m) if m.id == after)).await;
    }
    // The relay gives Carol the ciphertext of "before": she cannot read it.
    carol.drain();
    relay.inject("carol", carol_device.as_str(), &held[0]);
    // Her copy of the room key starts after it (not merely "already seen").
    let reason = expect_undecryptable(&mut carol).await;
    assert!(reason.contains("unknown message index"), "{reason}");
    assert!(carol.engine.messages(&room, 100).await.unwrap().iter().all(|m| m.id != before));

    bob.reopen().await;
    let bobs: Vec<_> = bob.engine.messages(&room, 100).await.unwrap().into_iter().map(|m| m.id).collect();
    assert!(bobs.contains(&before) && bobs.contains(&after), "bob gets both");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_device_gets_no_new_keys_and_a_wiped_one_erases_itself() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut bob_lost = Dev::enroll(&relay, "bob", "Bob's lost laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let lost_device = bob_lost.engine.device_id().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Cell", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    bob_lost.joined(&room).await;
    let first = alice.engine.send_text(room, "both bob devices read this").await.unwrap();
    bob_lost.wait(|e| matches!(e, Event::Message(m) if m.id == first)).await;

    // IT revokes the lost laptop; the relay operator distributes it.
    let statement = relay.org_revocation(&bob_id, &lost_device);
    relay.distribute(&statement);
    // Once the revocation reaches Alice (and she is told), her next message skips the revoked device and uses a new key.
    let lost = lost_device.clone();
    alice.wait(|e| matches!(e, Event::Alert(Alert::DeviceRevoked { device, .. }) if *device == lost)).await;
    let bob_device = bob.engine.device_id().await.unwrap();
    bob.shut().await;
    let mark = relay.mark("bob", bob_device.as_str());
    let second = alice.engine.send_text(room, "only the good laptop").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while alice.engine.pending_count().unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for item in room_items_after(&relay, "bob", bob_device.as_str(), mark) {
        relay.inject("bob", lost_device.as_str(), &item);
    }
    let reason = expect_undecryptable(&mut bob_lost).await;
    assert!(reason.contains("key"), "{reason}");
    assert!(bob_lost.engine.messages(&room, 100).await.unwrap().iter().all(|m| m.id != second));

    // Then a wipe order: the lost laptop erases its profile.
    let wipe = relay.org_wipe(&bob_id, &lost_device);
    relay.distribute(&wipe);
    bob_lost.wait(|e| *e == Event::Wiped).await;
    let left: Vec<_> = std::fs::read_dir(bob_lost.profile_dir()).unwrap().collect();
    assert!(left.is_empty(), "the wiped profile still holds {left:?}");
}

/// A wipe order the device finds only in the directory (its inbox copy was
/// dropped) is obeyed as a wipe, not taken as a mere revocation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_order_seen_only_in_the_directory_still_wipes() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let mut bob_lost = Dev::enroll(&relay, "bob", "Bob's lost laptop").await;
    let bob_id = bob.engine.user().await.unwrap();
    let lost_device = bob_lost.engine.device_id().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Group, "Cell", std::slice::from_ref(&bob_id)).await.unwrap();
    bob_lost.joined(&room).await;
    bob_lost.shut().await;

    let wipe = relay.org_wipe(&bob_id, &lost_device);
    relay.distribute(&wipe);
    let lost = lost_device.clone();
    alice.wait(|e| matches!(e, Event::Alert(Alert::DeviceRevoked { device, .. }) if *device == lost)).await;
    assert!(relay.withhold_statements("bob", lost_device.as_str()) >= 1, "the wipe order never reached the inbox");

    // Back online, the laptop writes something: fetching the room's device
    // lists before encrypting brings the wipe order with them.
    bob_lost.restart().await;
    let _ = bob_lost.engine.send_text(room, "written on the lost laptop").await;
    bob_lost.wait(|e| *e == Event::Wiped).await;
    let left: Vec<_> = std::fs::read_dir(bob_lost.profile_dir()).unwrap().collect();
    assert!(left.is_empty(), "the wiped profile still holds {left:?}");
    assert!(alice.engine.messages(&room, 10).await.unwrap().iter().all(|m| m.body != "written on the lost laptop"));
}

impl TestRelay {
    pub(crate) fn org_revocation(
        &self,
        user: &belfry_protocol::UserId,
        device: &belfry_protocol::DeviceId,
    ) -> Statement {
        Statement::Revocation(self.org.sign(&belfry_protocol::Revocation {
            org: self.org.public(),
            target: belfry_protocol::RevocationTarget::Device { user: user.clone(), device: device.clone() },
            issuer: Issuer::Org,
            reason: belfry_protocol::DisplayName::new("lost").unwrap(),
            issued_at: Timestamp(now().0),
        }))
    }

    fn org_wipe(&self, user: &belfry_protocol::UserId, device: &belfry_protocol::DeviceId) -> Statement {
        Statement::Wipe(self.org.sign(&WipeOrder {
            org: self.org.public(),
            user: user.clone(),
            device: device.clone(),
            issuer: Issuer::Org,
            issued_at: Timestamp(now().0),
        }))
    }
}

/// A wipe order on a device whose keychain refuses to delete the store key
/// does not report success: the engine says the wipe is incomplete, and the
/// next start finishes it before anything else. The finished wipe leaves no
/// key slot: the current key and one being rotated to are both gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wipe_the_keychain_refuses_is_reported_and_finished_at_next_start() {
    use belfry_client::profile::{KeySource, Profile};
    use belfry_client::{ClientError, Engine};
    use belfry_store::KeychainBackend as _;
    let relay = TestRelay::start();
    let keychain = std::sync::Arc::new(belfry_store::testing::TestKeychain::default());
    let mut lost = Dev::enroll_in_keychain(&relay, "bob", "Bob's lost laptop", keychain.clone()).await;
    let bob_id = lost.engine.user().await.unwrap();
    let lost_device = lost.engine.device_id().await.unwrap();
    // A key rotation interrupted after its new key was saved: two slots.
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lost.profile_dir().join("profile.json")).unwrap()).unwrap();
    let id = profile["keychain_id"].as_str().unwrap().to_owned();
    keychain.set(belfry_store::KEYCHAIN_SERVICE, &format!("{id}.rotating"), &"ab".repeat(32)).unwrap();
    assert_eq!(keychain.accounts(), vec![id.clone(), format!("{id}.rotating")]);

    // The keychain is locked when the wipe order comes.
    keychain.fail_deletes(true);
    relay.distribute(&relay.org_wipe(&bob_id, &lost_device));
    let outcome = lost.wait(|e| matches!(e, Event::Wiped | Event::WipeIncomplete(_))).await;
    let Event::WipeIncomplete(detail) = outcome else { panic!("a wipe that kept the key reported {outcome:?}") };
    assert!(detail.contains("could not be erased"), "{detail}");
    assert_eq!(keychain.accounts().len(), 2, "the test keychain lost entries it refused to delete");
    assert!(!lost.profile_dir().join("belfry.db").exists(), "the files go even when the key cannot");

    // At the next start the keychain works again: the wipe is finished
    // first, and nothing is opened.
    keychain.fail_deletes(false);
    let again = Engine::open(Profile::with_keychain(lost.profile_dir(), keychain.clone()), &KeySource::Keychain).await;
    assert!(matches!(again, Err(ClientError::Wiped)), "{:?}", again.map(|_| ()));
    assert!(keychain.accounts().is_empty(), "key slots survived the wipe: {:?}", keychain.accounts());
    let left: Vec<_> = std::fs::read_dir(lost.profile_dir()).unwrap().collect();
    assert!(left.is_empty(), "the wiped profile still holds {left:?}");
}
