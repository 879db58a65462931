//! Crash safety: see the test below.

use crate::support::*;
use belfry_protocol::frames::{DeviceAddress, InboxItem};
use belfry_protocol::{MessageId, Request, Response, RoomId, ServerFrame};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// SIGKILLs (each followed by a restart).
const KILLS: usize = 20;
/// Publishes one sender has in flight at once.
const WINDOW: usize = 8;
/// How long the senders may take to get their last publishes acked, and
/// the recipients to collect every acked publish, after the last restart.
const DRAIN: Duration = Duration::from_secs(30);

/// One publish as its sender made it.
#[derive(Debug, Clone)]
struct Msg {
    id: MessageId,
    body: Vec<u8>,
    /// Indices into the recipient list.
    to: Vec<usize>,
}

/// What one sender did.
#[derive(Debug, Default)]
struct SenderLog {
    /// Every publish ever sent, once each (resends not repeated).
    sent: Vec<Msg>,
    /// Those the relay acknowledged with `Published`: the only ones the
    /// sender counts as sent.
    acked: HashSet<MessageId>,
    /// Publishes in flight (sent, not acked) when a connection died.
    unacked_at_loss: usize,
    /// Publishes sent again, with the same id, on a new connection.
    resent: usize,
    reconnects: usize,
    /// Anything but `Published { id }` in answer to a publish.
    errors: Vec<String>,
}

/// What one recipient device saw.
#[derive(Debug, Default)]
struct RecipientLog {
    /// Body -> the sequence number it was first delivered under.
    got: HashMap<Vec<u8>, u64>,
    /// Inbox entries received, duplicates included.
    deliveries: usize,
    /// Entries whose body had already been received (redelivery of what was
    /// not yet acked when the relay died).
    duplicates: usize,
    /// A body delivered under two different sequence numbers: the relay
    /// stored one publish twice for this device.
    stored_twice: Vec<(String, u64, u64)>,
    /// Sequence numbers that did not increase on one connection.
    out_of_order: Vec<(u64, u64)>,
    /// Items that are not room messages from one of the senders.
    unexpected: Vec<String>,
    /// Answers to acks other than `Ok`.
    ack_errors: Vec<String>,
    reconnects: usize,
}

/// Logs in as `id` at the relay's current address, retrying (the relay may be
/// dead or restarting, its address changes on every start) until it works.
async fn login(addr: &mut watch::Receiver<SocketAddr>, config: &Arc<rustls::ClientConfig>, id: &Identity) -> Client {
    loop {
        let at = *addr.borrow_and_update();
        if let Some(c) = try_login_to(at, config.clone(), id).await {
            return c;
        }
        // Down: wait for a new address, or retry shortly.
        let _ = tokio::time::timeout(Duration::from_millis(50), addr.changed()).await;
    }
}

/// Publishes room messages continuously, `WINDOW` at a time, until `stop`;
/// then gets what is still unacked acked and returns. After a connection
/// loss it reconnects and resends every unacked publish with its id.
async fn sender(
    me: Arc<Identity>,
    recipients: Arc<Vec<DeviceAddress>>,
    room: RoomId,
    mut addr: watch::Receiver<SocketAddr>,
    config: Arc<rustls::ClientConfig>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<SenderLog>>,
) {
    let mut counter = 0u64;
    let mut pending: VecDeque<Msg> = VecDeque::new();
    loop {
        let mut c = login(&mut addr, &config, &me).await;
        // Request id on this connection -> publish.
        let mut inflight: BTreeMap<u64, Msg> = BTreeMap::new();
        loop {
            while inflight.len() < WINDOW {
                let msg = if let Some(m) = pending.pop_front() {
                    log.lock().unwrap().resent += 1;
                    m
                } else if !stop.load(Ordering::SeqCst) {
                    counter += 1;
                    let mask: u8 = rand::random_range(1..1u8 << recipients.len());
                    let m = Msg {
                        id: MessageId(random()),
                        body: format!("{} #{counter}", me.device).into_bytes(),
                        to: (0..recipients.len()).filter(|i| mask & (1 << i) != 0).collect(),
                    };
                    log.lock().unwrap().sent.push(m.clone());
                    m
                } else {
                    break;
                };
                let request = Request::PublishRoom {
                    id: msg.id,
                    recipients: msg.to.iter().map(|&r| recipients[r].clone()).collect(),
                    message: me.room_message(room, &msg.body),
                };
                // A failed send shows as the connection ending below.
                let rid = c.send(request).await;
                inflight.insert(rid, msg);
            }
            if inflight.is_empty() {
                return;
            }
            match c.frame().await {
                Some(ServerFrame::Response { id, result }) => {
                    let Some(msg) = inflight.remove(&id) else {
                        log.lock().unwrap().errors.push(format!("an answer to no request: {id} {result:?}"));
                        continue;
                    };
                    match result {
                        Ok(Response::Published { id }) if id == msg.id => {
                            log.lock().unwrap().acked.insert(id);
                        }
                        other => {
                            let body = String::from_utf8_lossy(&msg.body).into_owned();
                            log.lock().unwrap().errors.push(format!("publish {body}: {other:?}"));
                            // Not acked: the client's duty is to try again.
                            pending.push_back(msg);
                        }
                    }
                }
                Some(_) => {}
                None => {
                    // The relay died: everything in flight is unacked.
                    let mut l = log.lock().unwrap();
                    l.unacked_at_loss += inflight.len();
                    l.reconnects += 1;
                    drop(l);
                    let mut again: VecDeque<Msg> = inflight.into_values().collect();
                    again.append(&mut pending);
                    pending = again;
                    break;
                }
            }
        }
    }
}

/// Reads the inbox, records every entry, acks each pushed frame, and
/// reconnects after each kill, until `stop`.
async fn recipient(
    me: Arc<Identity>,
    room: RoomId,
    mut addr: watch::Receiver<SocketAddr>,
    config: Arc<rustls::ClientConfig>,
    mut stop: watch::Receiver<bool>,
    log: Arc<Mutex<RecipientLog>>,
) {
    loop {
        let mut c = tokio::select! {
            c = login(&mut addr, &config, &me) => c,
            () = async { let _ = stop.wait_for(|s| *s).await; } => return,
        };
        let mut last_seq = 0u64;
        loop {
            let frame = tokio::select! {
                f = c.frame() => f,
                () = async { let _ = stop.wait_for(|s| *s).await; } => return,
            };
            match frame {
                Some(ServerFrame::Inbox(entries)) => {
                    let Some(top) = entries.iter().map(|e| e.seq).max() else { continue };
                    {
                        let mut l = log.lock().unwrap();
                        for e in &entries {
                            if e.seq <= last_seq {
                                l.out_of_order.push((last_seq, e.seq));
                            }
                            last_seq = e.seq;
                            l.deliveries += 1;
                            let body = match &e.item {
                                InboxItem::Room(m)
                                    if m.room == room
                                        && m.ciphertext.starts_with(format!("{} #", m.sender_device).as_bytes()) =>
                                {
                                    m.ciphertext.clone()
                                }
                                other => {
                                    l.unexpected.push(format!("{other:?}"));
                                    continue;
                                }
                            };
                            match l.got.get(&body).copied() {
                                Some(first) => {
                                    l.duplicates += 1;
                                    if first != e.seq {
                                        let b = String::from_utf8_lossy(&body).into_owned();
                                        l.stored_twice.push((b, first, e.seq));
                                    }
                                }
                                None => {
                                    l.got.insert(body, e.seq);
                                }
                            }
                        }
                    }
                    // Acked only once recorded; an ack lost to a kill means
                    // the entries come again (at least once).
                    c.send(Request::Ack { seq: top }).await;
                }
                Some(ServerFrame::Response { result, .. }) => {
                    if result != Ok(Response::Ok) {
                        log.lock().unwrap().ack_errors.push(format!("{result:?}"));
                    }
                }
                Some(_) => {}
                None => {
                    log.lock().unwrap().reconnects += 1;
                    break;
                }
            }
        }
    }
}

/// How many there are, and the first few (a failure can involve thousands).
fn few<T: std::fmt::Debug>(items: &[T]) -> String {
    format!("{} in all, first {:?}", items.len(), &items[..items.len().min(20)])
}

fn log_tail(relay: &Relay) -> String {
    let log = relay.log();
    let start = log.len().saturating_sub(4000);
    log.get(start..).unwrap_or(&log).to_owned()
}

/// A load generator publishes continuously while the relay is SIGKILLed and
/// restarted again and again: every acked publish reaches every device it
/// named exactly once after dedup (at least once from the relay, which stores
/// a resent publish once), and nothing reaches anyone that was never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_publishes_survive_repeated_sigkill() {
    let began = Instant::now();
    let mut relay = Relay::start();
    let senders: Vec<Arc<Identity>> = [("alice", "ALICELAPTOP"), ("alice", "ALICEPHONE"), ("dave", "DAVEPC")]
        .into_iter()
        .map(|(u, d)| Arc::new(Identity::new(&relay.org, u, d)))
        .collect();
    let recipients: Vec<Arc<Identity>> = [("bob", "BOBDESK"), ("bob", "BOBTRAVEL"), ("carol", "CAROLPC")]
        .into_iter()
        .map(|(u, d)| Arc::new(Identity::new(&relay.org, u, d)))
        .collect();
    for id in senders.iter().chain(&recipients) {
        drop(relay.enroll(id, 0).await);
    }
    let addresses: Arc<Vec<DeviceAddress>> = Arc::new(recipients.iter().map(|r| r.address()).collect());
    let room = room();
    let config = Arc::new(relay.tls_config());
    let (addr_tx, addr_rx) = watch::channel(relay.addr);
    let (stop_recipients, stop_rx) = watch::channel(false);
    let stop_senders = Arc::new(AtomicBool::new(false));

    let recipient_logs: Vec<Arc<Mutex<RecipientLog>>> = recipients.iter().map(|_| Arc::default()).collect();
    let mut recipient_tasks = Vec::new();
    for (id, log) in recipients.iter().zip(&recipient_logs) {
        recipient_tasks.push(tokio::spawn(recipient(
            id.clone(),
            room,
            addr_rx.clone(),
            config.clone(),
            stop_rx.clone(),
            log.clone(),
        )));
    }
    let sender_logs: Vec<Arc<Mutex<SenderLog>>> = senders.iter().map(|_| Arc::default()).collect();
    let mut sender_tasks = Vec::new();
    for (id, log) in senders.iter().zip(&sender_logs) {
        sender_tasks.push(tokio::spawn(sender(
            id.clone(),
            addresses.clone(),
            room,
            addr_rx.clone(),
            config.clone(),
            stop_senders.clone(),
            log.clone(),
        )));
    }
    let acked = || sender_logs.iter().map(|l| l.lock().unwrap().acked.len()).sum::<usize>();

    // Kill -9 under load, restart, again.
    let mut per_round = Vec::new();
    for _ in 0..KILLS {
        let before = acked();
        tokio::time::sleep(Duration::from_millis(rand::random_range(100..400))).await;
        relay.kill9();
        per_round.push(acked() - before);
        // Down for a moment: connections are refused meanwhile.
        tokio::time::sleep(Duration::from_millis(rand::random_range(0..50))).await;
        tokio::task::block_in_place(|| relay.spawn());
        addr_tx.send_replace(relay.addr);
    }
    let killed_at = began.elapsed();

    // Senders stop publishing and get what is still in flight acked.
    stop_senders.store(true, Ordering::SeqCst);
    let drained = tokio::time::timeout(DRAIN, async {
        for t in sender_tasks {
            t.await.unwrap();
        }
    })
    .await;
    assert!(
        drained.is_ok(),
        "senders could not get their publishes acked in {DRAIN:?}; relay log:\n{}",
        log_tail(&relay)
    );

    // What each recipient must get: every acked publish naming it.
    let mut sent: HashMap<Vec<u8>, Msg> = HashMap::new();
    let mut acked_ids: HashSet<MessageId> = HashSet::new();
    let (mut unacked_at_loss, mut resent, mut sender_reconnects) = (0, 0, 0);
    for l in &sender_logs {
        let l = l.lock().unwrap();
        assert!(l.errors.is_empty(), "publishes not acked as expected: {}", few(&l.errors));
        sent.extend(l.sent.iter().map(|m| (m.body.clone(), m.clone())));
        acked_ids.extend(l.acked.iter().copied());
        unacked_at_loss += l.unacked_at_loss;
        resent += l.resent;
        sender_reconnects += l.reconnects;
    }
    let expected: Vec<HashSet<Vec<u8>>> = (0..recipients.len())
        .map(|r| {
            sent.values().filter(|m| acked_ids.contains(&m.id) && m.to.contains(&r)).map(|m| m.body.clone()).collect()
        })
        .collect();
    let complete = || {
        recipient_logs.iter().zip(&expected).all(|(l, want)| {
            let l = l.lock().unwrap();
            want.iter().all(|b| l.got.contains_key(b))
        })
    };
    let deadline = Instant::now() + DRAIN;
    while !complete() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop_recipients.send_replace(true);
    for t in recipient_tasks {
        t.await.unwrap();
    }

    println!("crash: {KILLS} SIGKILLs + restarts in {killed_at:.1?}; publishes acked between kills: {per_round:?}");
    println!(
        "crash: {} publishes sent, {} acked; {unacked_at_loss} were in flight unacked when a connection died, \
         {resent} resent with the same id; {sender_reconnects} sender reconnects",
        sent.len(),
        acked_ids.len()
    );
    for ((id, l), want) in recipients.iter().zip(&recipient_logs).zip(&expected) {
        let l = l.lock().unwrap();
        println!(
            "crash: {}/{}: {} acked publishes named it; received {} once after dedup, {} deliveries \
             ({} duplicates before dedup); {} reconnects",
            id.user,
            id.device,
            want.len(),
            l.got.len(),
            l.deliveries,
            l.duplicates,
            l.reconnects
        );
    }

    let mut failures = Vec::new();
    for (r, ((id, l), want)) in recipients.iter().zip(&recipient_logs).zip(&expected).enumerate() {
        let l = l.lock().unwrap();
        let name = format!("{}/{}", id.user, id.device);
        let mut missing: Vec<String> =
            want.iter().filter(|b| !l.got.contains_key(*b)).map(|b| String::from_utf8_lossy(b).into_owned()).collect();
        missing.sort();
        if !missing.is_empty() {
            failures.push(format!("{name}: acked publishes never arrived: {}", few(&missing)));
        }
        let foreign: Vec<String> = l
            .got
            .keys()
            .filter(|b| !sent.get(*b).is_some_and(|m| m.to.contains(&r)))
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect();
        if !foreign.is_empty() {
            failures.push(format!("{name}: received what was never sent to it: {}", few(&foreign)));
        }
        if !l.stored_twice.is_empty() {
            failures.push(format!("{name}: publishes stored twice (body, seq, seq): {}", few(&l.stored_twice)));
        }
        if !l.out_of_order.is_empty() {
            failures.push(format!("{name}: sequence numbers went backwards: {}", few(&l.out_of_order)));
        }
        if !l.unexpected.is_empty() {
            failures.push(format!("{name}: unexpected inbox items: {}", few(&l.unexpected)));
        }
        if !l.ack_errors.is_empty() {
            failures.push(format!("{name}: acks refused: {}", few(&l.ack_errors)));
        }
    }
    // Every publish was resent until acked, so in the end all are.
    if acked_ids.len() != sent.len() {
        failures.push(format!("{} of {} publishes never acked", sent.len() - acked_ids.len(), sent.len()));
    }
    let rounds_with_load = per_round.iter().filter(|&&n| n > 0).count();
    if rounds_with_load < KILLS / 2 {
        failures.push(format!("the load did not run between kills: {per_round:?}"));
    }
    assert!(failures.is_empty(), "{}\nrelay log:\n{}", failures.join("\n"), log_tail(&relay));
    println!("crash: done in {:.1?}", began.elapsed());
}
