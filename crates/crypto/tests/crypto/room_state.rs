//! Room state: a signed hash chain the relay can store but not rewrite.

use crate::support::*;
use belfry_crypto::*;
use belfry_protocol::cert::Statement;
use belfry_protocol::room::{Role, RoomKind, RoomStateEvent, StateContent};
use belfry_protocol::*;

fn group(org: &OrgKey) -> (Party, Party, Party, RoomState, Vec<Signed<RoomStateEvent>>) {
    let mut a = Party::enroll(org, "alice");
    let mut b = Party::enroll(org, "bob");
    let mut c = Party::enroll(org, "carol");
    introduce(&mut [&mut a, &mut b, &mut c]);
    let (mut state, create) = RoomState::create(&a.device, RoomKind::Group, name("Crisis cell"), NOW).unwrap();
    let add_bob = state.propose(&a.device, StateContent::Member { user: b.me().user, role: Role::Member }, NOW);
    state.apply(&add_bob, &a.dir).unwrap();
    (a, b, c, state, vec![create, add_bob])
}

fn replay(log: &[Signed<RoomStateEvent>], dir: &Directory) -> Result<RoomState, StateError> {
    let mut s = RoomState::from_create(&log[0], dir)?;
    for e in &log[1..] {
        s.apply(e, dir)?;
    }
    Ok(s)
}

#[test]
fn every_member_validates_the_same_chain_and_head() {
    let org = OrgKey::generate();
    let (a, b, c, mut state, mut log) = group(&org);
    let rename = state.propose(&a.device, StateContent::Name(name("Crisis cell (closed)")), NOW);
    state.apply(&rename, &a.dir).unwrap();
    log.push(rename);
    let retention = state.propose(&a.device, StateContent::Retention(Some(86_400)), NOW);
    state.apply(&retention, &a.dir).unwrap();
    log.push(retention);
    let label = state.propose(&a.device, StateContent::Classification(Some(name("RESTRICTED"))), NOW);
    state.apply(&label, &a.dir).unwrap();
    log.push(label);

    for dir in [&b.dir, &c.dir] {
        let theirs = replay(&log, dir).unwrap();
        assert_eq!(theirs, state);
        assert_eq!(theirs.head(), state.head());
    }
    assert_eq!(state.seq(), 4);
    assert_eq!(state.retention_secs(), Some(86_400));
    assert_eq!(state.classification(), Some(&name("RESTRICTED")));
    assert!(state.is_member(&b.me().user));
    assert!(!state.is_member(&c.me().user));
    assert!(state.knows(&log[1].hash()), "older states stay known for messages sent under them");
    let stored: RoomState = serde_json::from_str(&serde_json::to_string(&state).unwrap()).unwrap();
    assert_eq!(stored, state);
}

#[test]
fn refuses_member_added_by_the_relay() {
    let org = OrgKey::generate();
    let (a, b, _c, mut state, _) = group(&org);
    // The relay writes an event adding its agent, with alice's name on it,
    // signed by a key of its own.
    let relay = OrgKey::generate();
    let body = RoomStateEvent {
        room: *state.room(),
        seq: 2,
        prev: Some(state.head()),
        sender: a.me().user,
        sender_device: a.me().device,
        ts: NOW,
        content: StateContent::Member { user: user("agent"), role: Role::Admin },
    };
    let forged = relay.sign(&body);
    assert_eq!(state.apply(&forged, &b.dir), Err(StateError::BadSignature));
    // Or with a device of its own that nobody trusts.
    let outsider = Party::enroll(&OrgKey::generate(), "agent");
    let mut body = body;
    body.sender = outsider.me().user;
    body.sender_device = outsider.me().device;
    let forged = outsider.device.sign(&body);
    assert!(matches!(state.apply(&forged, &b.dir), Err(StateError::Untrusted(_))));
    assert!(!state.is_member(&user("agent")));
}

#[test]
fn refuses_member_added_by_a_non_admin() {
    let org = OrgKey::generate();
    let (_a, b, c, mut state, _) = group(&org);
    let event = state.propose(&b.device, StateContent::Member { user: c.me().user, role: Role::Member }, NOW);
    assert_eq!(state.apply(&event, &b.dir), Err(StateError::NotAllowed(b.me().user)));
    // Nor may a member promote themselves.
    let event = state.propose(&b.device, StateContent::Member { user: b.me().user, role: Role::Admin }, NOW);
    assert_eq!(state.apply(&event, &b.dir), Err(StateError::NotAllowed(b.me().user)));
}

#[test]
fn refuses_changes_from_a_non_member() {
    let org = OrgKey::generate();
    let (_a, _b, c, mut state, _) = group(&org);
    let event = state.propose(&c.device, StateContent::Member { user: c.me().user, role: Role::Admin }, NOW);
    assert_eq!(state.apply(&event, &c.dir), Err(StateError::NotAMember(c.me().user)));
}

#[test]
fn refuses_changes_from_a_revoked_device() {
    let org = OrgKey::generate();
    let (a, mut b, c, mut state, _) = group(&org);
    b.dir.apply(&Statement::Revocation(org.revoke_device(a.me().user, a.me().device, name("stolen"), NOW))).unwrap();
    let event = state.propose(&a.device, StateContent::Member { user: c.me().user, role: Role::Member }, NOW);
    assert!(matches!(state.apply(&event, &b.dir), Err(StateError::Untrusted(TrustError::Revoked { .. }))));
}

#[test]
fn detects_different_histories_shown_to_different_members() {
    // Alice (or a relay replaying a stolen device) signs two different
    // events for position 2; the relay shows one to bob, the other to
    // carol. When either sees the other branch, it is a fork.
    let org = OrgKey::generate();
    let (a, b, c, state, log) = group(&org);
    let to_bob = state.propose(&a.device, StateContent::Name(name("Version for bob")), NOW);
    let to_carol = state.propose(&a.device, StateContent::Member { user: c.me().user, role: Role::Member }, NOW);
    let mut bobs = replay(&log, &b.dir).unwrap();
    bobs.apply(&to_bob, &b.dir).unwrap();
    assert_eq!(bobs.apply(&to_carol, &b.dir), Err(StateError::Fork { seq: 2 }));
    // A branch that continues from a head we do not have is a fork too.
    let mut carols = replay(&log, &c.dir).unwrap();
    carols.apply(&to_carol, &c.dir).unwrap();
    let mut bob_branch = bobs.clone();
    let next = bob_branch.propose(&a.device, StateContent::Name(name("again")), NOW);
    bob_branch.apply(&next, &a.dir).unwrap();
    assert_eq!(carols.apply(&next, &c.dir), Err(StateError::Fork { seq: 3 }));
    assert_ne!(bobs.head(), carols.head(), "messages carry the head, so the split shows there too");
}

#[test]
fn detects_withheld_events() {
    let org = OrgKey::generate();
    let (a, b, c, mut state, log) = group(&org);
    let e2 = state.propose(&a.device, StateContent::Member { user: c.me().user, role: Role::Member }, NOW);
    state.apply(&e2, &a.dir).unwrap();
    let e3 = state.propose(&a.device, StateContent::Remove { user: c.me().user }, NOW);
    // The relay withholds e2 from bob and delivers e3.
    let mut bobs = replay(&log, &b.dir).unwrap();
    assert_eq!(bobs.apply(&e3, &b.dir), Err(StateError::Gap { head: 1, found: 3 }));
}

#[test]
fn duplicates_are_harmless_and_events_for_other_rooms_refused() {
    let org = OrgKey::generate();
    let (a, b, _c, mut state, log) = group(&org);
    assert_eq!(state.apply(&log[1], &b.dir), Ok(Applied::Duplicate));
    let (_, other_create) = RoomState::create(&a.device, RoomKind::Group, name("other"), NOW).unwrap();
    assert_eq!(state.apply(&other_create, &a.dir), Err(StateError::WrongRoom));
    // A log must start with Create, and only once.
    assert_eq!(RoomState::from_create(&log[1], &b.dir), Err(StateError::BadCreate));
}

#[test]
fn members_may_leave_but_not_remove_others() {
    let org = OrgKey::generate();
    let (a, b, c, mut state, _) = group(&org);
    let add = state.propose(&a.device, StateContent::Member { user: c.me().user, role: Role::Member }, NOW);
    state.apply(&add, &a.dir).unwrap();
    let kick = state.propose(&b.device, StateContent::Remove { user: c.me().user }, NOW);
    assert_eq!(state.apply(&kick, &b.dir), Err(StateError::NotAllowed(b.me().user)));
    let leave = state.propose(&b.device, StateContent::Remove { user: b.me().user }, NOW);
    state.apply(&leave, &b.dir).unwrap();
    assert!(!state.is_member(&b.me().user));
    // The only admin cannot leave while others remain.
    let leave = state.propose(&a.device, StateContent::Remove { user: a.me().user }, NOW);
    assert_eq!(state.apply(&leave, &a.dir), Err(StateError::NoAdminLeft));
}

#[test]
fn a_direct_room_holds_two_people() {
    let org = OrgKey::generate();
    let mut a = Party::enroll(&org, "alice");
    let mut b = Party::enroll(&org, "bob");
    let mut c = Party::enroll(&org, "carol");
    introduce(&mut [&mut a, &mut b, &mut c]);
    let (mut state, _) = RoomState::create(&a.device, RoomKind::Direct, name("alice, bob"), NOW).unwrap();
    let add = state.propose(&a.device, StateContent::Member { user: b.me().user, role: Role::Admin }, NOW);
    state.apply(&add, &a.dir).unwrap();
    let third = state.propose(&a.device, StateContent::Member { user: c.me().user, role: Role::Member }, NOW);
    assert_eq!(state.apply(&third, &a.dir), Err(StateError::DirectRoomFull));
}

#[test]
fn only_admins_change_settings() {
    // A member shortens the disappearing-message timer or changes the
    // classification label: refused.
    let org = OrgKey::generate();
    let (_a, b, _c, mut state, _) = group(&org);
    for content in [
        StateContent::Retention(Some(1)),
        StateContent::Classification(Some(name("UNCLASSIFIED"))),
        StateContent::Name(name("renamed")),
    ] {
        let event = state.propose(&b.device, content, NOW);
        assert_eq!(state.apply(&event, &b.dir), Err(StateError::NotAllowed(b.me().user)));
    }
}

#[test]
fn refuses_a_create_event_anywhere_but_first() {
    let org = OrgKey::generate();
    let (a, b, _c, mut state, _) = group(&org);
    // A Create that claims to continue a log cannot start one...
    let late_create = a.device.sign(&RoomStateEvent {
        room: *state.room(),
        seq: 5,
        prev: Some(state.head()),
        sender: a.me().user,
        sender_device: a.me().device,
        ts: NOW,
        content: StateContent::Create { kind: RoomKind::Group, name: name("reset") },
    });
    assert_eq!(RoomState::from_create(&late_create, &b.dir), Err(StateError::BadCreate));
    // ...and a second Create in the log (which would reset the members) is refused.
    let recreate = state.propose(&a.device, StateContent::Create { kind: RoomKind::Group, name: name("reset") }, NOW);
    assert_eq!(state.apply(&recreate, &b.dir), Err(StateError::BadCreate));
}

#[test]
fn refuses_a_create_whose_room_id_is_not_its_hash() {
    // Mallory knows the id of Alice's room (the relay routes it in the
    // clear) and signs a Create of her own for it, to hand to a future
    // member before Alice adds them: the id is not her event's hash.
    let org = OrgKey::generate();
    let (a, b, c, state, _) = group(&org);
    let squat = RoomStateEvent {
        room: *state.room(),
        seq: 0,
        prev: None,
        sender: c.me().user,
        sender_device: c.me().device,
        ts: NOW,
        content: StateContent::Create { kind: RoomKind::Group, name: name("Crisis cell") },
    };
    assert_eq!(RoomState::from_create(&c.device.sign(&squat), &b.dir), Err(StateError::RoomIdMismatch));
    // A genuine Create hashes to its room, and its room only.
    let (mine, create) = RoomState::create(&a.device, RoomKind::Group, name("Crisis cell"), NOW).unwrap();
    assert_eq!(*mine.room(), create.peek_unverified().unwrap().derived_room_id());
    assert_eq!(RoomState::from_create(&create, &b.dir).unwrap(), mine);
    let (later, _) = RoomState::create(&a.device, RoomKind::Group, name("Crisis cell"), NOW.plus_ms(1)).unwrap();
    assert_ne!(later.room(), mine.room(), "another time, another id");
}

/// Feeds events to a log in order; returns the outcomes.
fn feed(log: &mut RoomLog, events: &[&Signed<RoomStateEvent>], dir: &Directory) -> Vec<Outcome> {
    events.iter().map(|e| log.receive(e, dir).unwrap()).collect()
}

#[test]
fn a_removal_beats_a_concurrent_change_by_the_removed_member_whatever_the_order() {
    // Alice (creator) made Carol an admin and removes her; Carol, at the
    // same position, removes Alice. Every device settles on Alice's side,
    // whichever it saw first.
    let org = OrgKey::generate();
    let (a, b, c, mut state, mut log) = group(&org);
    let add = state.propose(&a.device, StateContent::Member { user: c.me().user, role: Role::Admin }, NOW);
    state.apply(&add, &a.dir).unwrap();
    log.push(add);
    let removal = state.propose(&a.device, StateContent::Remove { user: c.me().user }, NOW);
    let counter = state.propose(&c.device, StateContent::Remove { user: a.me().user }, NOW);
    let mut heads = Vec::new();
    for order in [[&removal, &counter], [&counter, &removal]] {
        let mut bobs = RoomLog::new(*state.room());
        feed(&mut bobs, &log.iter().collect::<Vec<_>>(), &b.dir);
        let outcomes = feed(&mut bobs, &order, &b.dir);
        let s = bobs.state().unwrap();
        assert!(s.is_member(&a.me().user) && !s.is_member(&c.me().user), "order {}", order[0].hash() == counter.hash());
        assert_eq!(outcomes[1].forks.len(), 1);
        assert_eq!(outcomes[1].forks[0].replaced, order[0].hash() == counter.hash());
        assert!(bobs.conflict().is_none());
        heads.push(s.head());
    }
    assert_eq!(heads[0], heads[1], "the same history everywhere");
    assert_eq!(heads[0], removal.hash());
}

#[test]
fn a_fork_between_unrelated_changes_is_won_by_the_senior_admin() {
    let org = OrgKey::generate();
    let (a, b, c, mut state, mut log) = group(&org);
    let add = state.propose(&a.device, StateContent::Member { user: c.me().user, role: Role::Admin }, NOW);
    state.apply(&add, &a.dir).unwrap();
    log.push(add);
    let by_alice = state.propose(&a.device, StateContent::Name(name("alice's")), NOW);
    let by_carol = state.propose(&c.device, StateContent::Name(name("carol's")), NOW);
    for order in [[&by_alice, &by_carol], [&by_carol, &by_alice]] {
        let mut bobs = RoomLog::new(*state.room());
        feed(&mut bobs, &log.iter().collect::<Vec<_>>(), &b.dir);
        feed(&mut bobs, &order, &b.dir);
        assert_eq!(bobs.state().unwrap().name(), &name("alice's"));
    }
}

#[test]
fn events_after_a_missing_one_wait_and_the_room_is_in_conflict_until_it_arrives() {
    let org = OrgKey::generate();
    let (a, b, c, mut state, log) = group(&org);
    let e2 = state.propose(&a.device, StateContent::Member { user: c.me().user, role: Role::Member }, NOW);
    state.apply(&e2, &a.dir).unwrap();
    let e3 = state.propose(&a.device, StateContent::Remove { user: b.me().user }, NOW);
    let mut carols = RoomLog::new(*state.room());
    feed(&mut carols, &log.iter().collect::<Vec<_>>(), &c.dir);
    let held = carols.receive(&e3, &c.dir).unwrap();
    assert!(!held.changed);
    assert!(carols.conflict().is_some(), "an event is missing: the room must not send");
    assert!(carols.state().unwrap().is_member(&b.me().user));
    let placed = carols.receive(&e2, &c.dir).unwrap();
    assert!(placed.changed);
    assert!(carols.conflict().is_none());
    assert!(!carols.state().unwrap().is_member(&b.me().user));
    assert_eq!(carols.state().unwrap().head(), e3.hash());
}

#[test]
fn a_member_writing_under_a_state_this_device_lacks_puts_the_room_in_conflict() {
    let org = OrgKey::generate();
    let (a, b, _c, state, log) = group(&org);
    let mut bobs = RoomLog::new(*state.room());
    feed(&mut bobs, &log.iter().collect::<Vec<_>>(), &b.dir);
    assert!(bobs.claim(&a.me().user, &Hash256([7; 32])));
    assert!(bobs.conflict().unwrap().contains("alice"));
    // Alice writes again under a state bob holds: the claim is over.
    assert!(!bobs.claim(&a.me().user, &state.head()));
    assert!(bobs.conflict().is_none());
}

#[test]
fn history_signed_before_a_revocation_stands_once_a_trusted_device_built_on_it() {
    // Alice's first laptop created the room and added Bob; it is lost and
    // revoked; her second laptop adds Carol. Carol, who learns of the
    // revocation before the history, takes all of it.
    let org = OrgKey::generate();
    let mut a1 = Party::enroll(&org, "alice");
    let mut a2 = Party::from_invitation(&org, &invite(&org, "alice"));
    let mut b = Party::enroll(&org, "bob");
    let mut c = Party::enroll(&org, "carol");
    introduce(&mut [&mut a1, &mut a2, &mut b, &mut c]);
    let (mut state, create) = RoomState::create(&a1.device, RoomKind::Group, name("Cell"), NOW).unwrap();
    let add_bob = state.propose(&a1.device, StateContent::Member { user: b.me().user, role: Role::Member }, NOW);
    state.apply(&add_bob, &a1.dir).unwrap();
    let lost =
        Statement::Revocation(org.revoke_device(a1.me().user, a1.me().device, name("lost"), NOW.plus_ms(60_000)));
    for p in [&mut a2, &mut c] {
        p.dir.apply(&lost).unwrap();
    }
    let add_carol =
        state.propose(&a2.device, StateContent::Member { user: c.me().user, role: Role::Member }, NOW.plus_ms(120_000));
    state.apply(&add_carol, &a2.dir).unwrap();
    // The lost laptop, backdating, removes Bob on top: never built on.
    let thief = state.propose(&a1.device, StateContent::Remove { user: b.me().user }, NOW.plus_ms(1));

    let mut carols = RoomLog::new(*state.room());
    let out = feed(&mut carols, &[&create, &add_bob], &c.dir);
    assert!(out.iter().all(|o| !o.changed), "nothing a revoked device signed is taken on its own word");
    assert!(carols.state().is_none());
    assert!(carols.receive(&add_carol, &c.dir).unwrap().changed);
    let s = carols.state().unwrap();
    assert!(s.is_member(&b.me().user) && s.is_member(&c.me().user));
    assert_eq!(s.head(), add_carol.hash());
    assert!(!carols.receive(&thief, &c.dir).unwrap().changed);
    assert!(carols.state().unwrap().is_member(&b.me().user));
    // An event dated after the revocation is refused outright.
    let late = state.propose(&a1.device, StateContent::Remove { user: b.me().user }, NOW.plus_ms(90_000));
    assert!(matches!(carols.receive(&late, &c.dir), Err(StateError::Untrusted(_))));
}
