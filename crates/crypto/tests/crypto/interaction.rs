//! Interaction fuzzing in the libsignal style: three devices in one room,
//! and a random schedule of send, deliver, drop, duplicate, reorder,
//! rotate and pickle-and-restart. Every delivered message must decrypt to
//! exactly what was sent, or be reported as a replay if it was delivered
//! before; nothing else is acceptable. Proptest shrinks a failing schedule
//! and records its seed.

use crate::support::*;
use belfry_crypto::*;
use belfry_protocol::room::{RoomContent, RoomMessage};
use belfry_protocol::{Hash256, MessageId};
use proptest::prelude::*;
use std::collections::BTreeSet;

const N: usize = 3;

#[derive(Debug, Clone)]
enum Action {
    Send {
        from: usize,
    },
    /// Delivers the message at position `pick` of the queue: with random
    /// picks, delivery order is a random reordering.
    Deliver {
        to: usize,
        pick: usize,
    },
    Drop {
        to: usize,
        pick: usize,
    },
    Duplicate {
        to: usize,
        pick: usize,
    },
    Rotate {
        who: usize,
    },
    Restart {
        who: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..N).prop_map(|from| Action::Send { from }),
        6 => (0..N, any::<usize>()).prop_map(|(to, pick)| Action::Deliver { to, pick }),
        1 => (0..N, any::<usize>()).prop_map(|(to, pick)| Action::Drop { to, pick }),
        1 => (0..N, any::<usize>()).prop_map(|(to, pick)| Action::Duplicate { to, pick }),
        1 => (0..N).prop_map(|who| Action::Rotate { who }),
        1 => (0..N).prop_map(|who| Action::Restart { who }),
    ]
}

struct InFlight {
    message: RoomMessage,
    from: usize,
    id: MessageId,
    text: String,
}

struct World {
    parties: Vec<Party>,
    queues: Vec<Vec<InFlight>>,
    delivered: BTreeSet<(usize, MessageId)>,
    next_id: u64,
    pickle_key: PickleKey,
}

impl World {
    fn new() -> Self {
        let org = OrgKey::generate();
        let mut parties: Vec<Party> = ["alice", "bob", "carol"].iter().map(|u| Party::enroll(&org, u)).collect();
        let chains: Vec<_> = parties.iter().map(|p| p.device.chain().clone()).collect();
        for p in &mut parties {
            for c in &chains {
                p.dir.admit(c, NOW).unwrap();
            }
        }
        let mut w = Self {
            parties,
            queues: (0..N).map(|_| Vec::new()).collect(),
            delivered: BTreeSet::new(),
            next_id: 0,
            pickle_key: PickleKey::random(),
        };
        for who in 0..N {
            w.rotate(who);
        }
        w
    }

    /// A new outbound session for `who`, its key delivered over Olm to the
    /// others (room keys travel reliably here; room messages do not).
    fn rotate(&mut self, who: usize) {
        let policy = RotationPolicy { max_messages: 7, max_age_ms: DAY_MS };
        self.parties[who].start_room(room(1), policy);
        for other in 0..N {
            if other != who {
                let (a, b) = two(&mut self.parties, who, other);
                a.share_room(room(1), b);
            }
        }
    }

    fn send(&mut self, from: usize) {
        if self.parties[from].outbound[&room(1)].rotation_needed(NOW, &self.recipients(from)).is_some() {
            self.rotate(from);
        }
        self.next_id += 1;
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_id.to_be_bytes());
        let id = MessageId(id);
        let text = format!("message {} from {from}", self.next_id);
        let message = self.parties[from].send_content(room(1), id, RoomContent::Text { body: text.clone() });
        for to in 0..N {
            if to != from {
                self.queues[to].push(InFlight { message: message.clone(), from, id, text: text.clone() });
            }
        }
    }

    fn recipients(&self, from: usize) -> BTreeSet<belfry_protocol::frames::DeviceAddress> {
        (0..N).filter(|i| *i != from).map(|i| addr(&self.parties[i].me())).collect()
    }

    fn deliver(&mut self, to: usize, pick: usize) -> Result<(), TestCaseError> {
        let q = &mut self.queues[to];
        if q.is_empty() {
            return Ok(());
        }
        let m = q.remove(pick % q.len());
        let result = self.parties[to].receive(&m.message);
        if self.delivered.contains(&(to, m.id)) {
            prop_assert!(
                matches!(result, Err(CryptoError::Replay { .. })),
                "duplicate not reported as replay: {result:?}"
            );
            return Ok(());
        }
        let got = result
            .map_err(|e| TestCaseError::fail(format!("message {:?} from {} to {to} failed: {e}", m.id, m.from)))?;
        prop_assert_eq!(&got.payload.content, &RoomContent::Text { body: m.text.clone() });
        prop_assert_eq!(&got.payload.sender, &self.parties[m.from].me().user);
        prop_assert_eq!(got.payload.id, m.id);
        prop_assert_eq!(got.payload.state_hash, Hash256([0; 32]));
        self.delivered.insert((to, m.id));
        Ok(())
    }

    /// Pickles everything one party holds and restores it, as a restart.
    fn restart(&mut self, who: usize) {
        let key = &self.pickle_key;
        let p = &mut self.parties[who];
        let device = p.device.pickle(key).unwrap();
        let channels: Vec<_> = p.channels.iter().map(|c| c.pickle(key).unwrap()).collect();
        let inbound: Vec<_> = p.inbound.values().map(|s| s.pickle(key).unwrap()).collect();
        let outbound: Vec<_> = p.outbound.values().map(|s| s.pickle(key).unwrap()).collect();
        let seen = serde_json::to_vec(&p.seen).unwrap();

        p.device = Device::unpickle(&device, key).unwrap();
        p.channels = channels.iter().map(|c| OlmChannel::unpickle(c, key).unwrap()).collect();
        p.inbound = inbound
            .iter()
            .map(|b| {
                let s = InboundRoomSession::unpickle(b, key).unwrap();
                (*s.session_id(), s)
            })
            .collect();
        p.outbound = outbound
            .iter()
            .map(|b| {
                let s = OutboundRoomSession::unpickle(b, key).unwrap();
                (*s.room(), s)
            })
            .collect();
        p.seen = serde_json::from_slice(&seen).unwrap();
    }
}

fn two(parties: &mut [Party], a: usize, b: usize) -> (&mut Party, &mut Party) {
    assert_ne!(a, b);
    if a < b {
        let (l, r) = parties.split_at_mut(b);
        (&mut l[a], &mut r[0])
    } else {
        let (l, r) = parties.split_at_mut(a);
        (&mut r[0], &mut l[b])
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn every_delivered_message_decrypts_to_what_was_sent(actions in proptest::collection::vec(action(), 1..120)) {
        let mut w = World::new();
        for a in &actions {
            match *a {
                Action::Send { from } => w.send(from),
                Action::Deliver { to, pick } => w.deliver(to, pick)?,
                Action::Drop { to, pick } => {
                    let q = &mut w.queues[to];
                    if !q.is_empty() {
                        let i = pick % q.len();
                        q.remove(i);
                    }
                }
                Action::Duplicate { to, pick } => {
                    let q = &mut w.queues[to];
                    if !q.is_empty() {
                        let m = &q[pick % q.len()];
                        let copy = InFlight { message: m.message.clone(), from: m.from, id: m.id, text: m.text.clone() };
                        q.push(copy);
                    }
                }
                Action::Rotate { who } => w.rotate(who),
                Action::Restart { who } => w.restart(who),
            }
        }
        // Drain: whatever is still in flight must decrypt too.
        for to in 0..N {
            while !w.queues[to].is_empty() {
                w.deliver(to, 0)?;
            }
        }
    }
}
