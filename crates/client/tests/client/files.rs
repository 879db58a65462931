//! Encrypted attachments end to end: a real relay, real TLS, real
//! SQLCipher; the relay's disk and database are the attacker's.

use crate::support::*;
use belfry_client::{ClientError, Direction, Event, FileError, Transfer};
use belfry_protocol::MessageId;
use belfry_protocol::room::RoomKind;
use belfry_store::MessageStatus;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

fn random_bytes(len: usize) -> Vec<u8> {
    let mut data = vec![0u8; len];
    rand::fill(&mut data[..]);
    data
}

/// Writes `data` as `name` in a fresh directory outside every profile.
fn file_with(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

/// Transfer events for `id` in `direction`, until `until` matches an event.
async fn transfers_until(
    dev: &mut Dev,
    id: MessageId,
    direction: Direction,
    until: impl Fn(&Event) -> bool,
) -> Vec<Transfer> {
    let mut seen = Vec::new();
    loop {
        let e = dev.wait(|e| matches!(e, Event::Transfer(_)) || until(e)).await;
        if let Event::Transfer(t) = &e
            && t.message == id
            && t.direction == direction
        {
            seen.push(*t);
        }
        if until(&e) {
            return seen;
        }
    }
}

fn assert_monotonic_to(transfers: &[Transfer], size: u64, what: &str) {
    assert!(!transfers.is_empty(), "{what}: no progress events");
    for pair in transfers.windows(2) {
        assert!(pair[0].done < pair[1].done, "{what}: progress went back or repeated: {transfers:?}");
    }
    assert!(transfers.iter().all(|t| t.total == size && t.done <= size), "{what}: {transfers:?}");
    assert_eq!(transfers.last().unwrap().done, size, "{what}: progress does not end at the size");
}

/// Files in a directory tree (the profile: database, WAL, attachment area).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() { stack.push(p) } else { out.push(p) }
        }
    }
    out
}

fn attachment_area(dev: &Dev) -> Vec<PathBuf> {
    files_under(&dev.profile_dir().join("belfry.db.attachments"))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

async fn direct_room(alice: &Dev, bob: &Dev) -> belfry_protocol::RoomId {
    let bob_id = bob.engine.user().await.unwrap();
    let room = alice.engine.create_room(RoomKind::Direct, "files", std::slice::from_ref(&bob_id)).await.unwrap();
    bob.joined(&room).await;
    room
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_reaches_another_user_and_the_senders_other_device_byte_identical() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut alice_desk = Dev::enroll(&relay, "alice", "Alice desk").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    alice_desk.joined(&room).await;

    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(3 * MIB + 12_345);
    let size = data.len() as u64;
    let path = file_with(work.path(), "Q3 budget.xlsx", &data);
    let id = alice.engine.send_file(room, &path).await.unwrap();
    let up = transfers_until(&mut alice, id, Direction::Upload, |e| *e == Event::Status(id, MessageStatus::Sent)).await;
    assert_monotonic_to(&up, size, "upload");
    assert_eq!(up[0].done, 0);

    for (dev, who) in [(&mut bob, "bob"), (&mut alice_desk, "alice's desk")] {
        let got = dev.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
        let Event::Message(m) = got else { unreachable!() };
        let a = m.attachment.expect("the message shows its file");
        assert_eq!((a.name.as_str(), a.size, a.local), ("Q3 budget.xlsx", size, false), "{who}");
        assert_eq!(a.mime, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        let out = tempfile::tempdir().unwrap();
        let engine = dev.engine.clone();
        let download = tokio::spawn(async move {
            let r = engine.download_file(id, out.path()).await;
            (r, out)
        });
        let down = transfers_until(dev, id, Direction::Download, |e| {
            matches!(e, Event::Transfer(t) if t.message == id && t.direction == Direction::Download && t.done == t.total)
        })
        .await;
        let (saved, out) = download.await.unwrap();
        let saved = saved.unwrap();
        assert_eq!(saved, out.path().join("Q3 budget.xlsx"), "{who}");
        assert!(std::fs::read(&saved).unwrap() == data, "{who}: the file differs");
        assert_monotonic_to(&down, size, who);
        // The view says it is on this device now; a second copy never
        // overwrites the first.
        let views = dev.engine.messages(&room, 10).await.unwrap();
        assert!(views.iter().any(|v| v.id == id && v.attachment.as_ref().is_some_and(|a| a.local)), "{who}");
        let again = dev.engine.download_file(id, out.path()).await;
        assert!(matches!(again, Err(ClientError::File(FileError::DestinationExists(_)))), "{who}: {again:?}");
        assert!(std::fs::read(&saved).unwrap() == data);
    }
    // The sender opens its own copy from its store.
    let out = tempfile::tempdir().unwrap();
    let mine = alice.engine.download_file(id, &out.path().join("copy.xlsx")).await.unwrap();
    assert!(std::fs::read(mine).unwrap() == data);
    assert!(alice.engine.pending_uploads().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_blob_altered_or_swapped_by_the_relay_and_writes_nothing() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    let work = tempfile::tempdir().unwrap();

    // Two files of the same size: only the hash in the message tells them apart.
    let mut sent = Vec::new();
    for name in ["cable-1.pdf", "cable-2.pdf"] {
        let data = random_bytes(MIB + 777);
        let id = alice.engine.send_file(room, &file_with(work.path(), name, &data)).await.unwrap();
        alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
        bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
        let blob = relay.blob_files().last().unwrap().clone();
        sent.push((id, data, blob));
    }
    let (first, first_data, first_blob) = &sent[0];
    let (_, _, second_blob) = &sent[1];
    assert_ne!(first_blob, second_blob);
    let original = std::fs::read(first_blob).unwrap();

    let out = tempfile::tempdir().unwrap();
    let refused = |r: Result<PathBuf, ClientError>, what: &str| {
        assert!(matches!(r, Err(ClientError::File(FileError::HashMismatch))), "{what}: {r:?}");
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "{what}: something was written");
        assert!(attachment_area(&bob).is_empty(), "{what}: the bad ciphertext was kept");
    };
    // One flipped byte in the middle of the stored ciphertext.
    let mut flipped = original.clone();
    flipped[original.len() / 2] ^= 0x01;
    std::fs::write(first_blob, &flipped).unwrap();
    refused(bob.engine.download_file(*first, out.path()).await, "a flipped byte");
    // Another valid blob of the same size in its place.
    std::fs::copy(second_blob, first_blob).unwrap();
    refused(bob.engine.download_file(*first, out.path()).await, "a swapped blob");
    // A truncated blob.
    std::fs::write(first_blob, &original[..original.len() - 1]).unwrap();
    refused(bob.engine.download_file(*first, out.path()).await, "a truncated blob");
    // A longer blob: the download stops at the message's length.
    let mut longer = original.clone();
    longer.extend(random_bytes(MIB));
    std::fs::write(first_blob, &longer).unwrap();
    refused(bob.engine.download_file(*first, out.path()).await, "a longer blob");

    // The genuine blob still comes through.
    std::fs::write(first_blob, &original).unwrap();
    let saved = bob.engine.download_file(*first, out.path()).await.unwrap();
    assert!(std::fs::read(saved).unwrap() == *first_data);

    // The copy now kept on Bob's laptop is checked again before each use:
    // altered on his disk, it is refused the same way.
    let kept = attachment_area(&bob);
    assert_eq!(kept.len(), 1);
    let mut local = std::fs::read(&kept[0]).unwrap();
    local[100] ^= 0x80;
    std::fs::write(&kept[0], &local).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let r = bob.engine.download_file(*first, elsewhere.path()).await;
    assert!(matches!(r, Err(ClientError::File(FileError::HashMismatch))), "a locally altered copy: {r:?}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0, "something was written");
}

/// A TCP proxy on loopback in front of the relay that breaks, once, the
/// first connection carrying more than `cut_after` bytes towards the client,
/// and counts every byte it passes that way. [`CuttingProxy::slowing`]
/// instead slows every connection past 256 KiB towards the client.
pub(crate) struct CuttingProxy {
    pub(crate) url: String,
    pub(crate) cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    to_client: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CuttingProxy {
    pub(crate) async fn start(relay: &TestRelay, cut_after: u64) -> Self {
        Self::start_with(relay, cut_after, Duration::ZERO).await
    }

    /// Cuts nothing; waits `pause` before passing on each read (at most
    /// 16 KiB) once a connection has carried 256 KiB towards the client.
    pub(crate) async fn slowing(relay: &TestRelay, pause: Duration) -> Self {
        Self::start_with(relay, u64::MAX, pause).await
    }

    async fn start_with(relay: &TestRelay, cut_after: u64, pause: Duration) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let port = relay.url.rsplit(':').next().unwrap().to_owned();
        let upstream = format!("127.0.0.1:{port}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("wss://localhost:{}", listener.local_addr().unwrap().port());
        let cut = Arc::new(AtomicBool::new(false));
        let to_client = Arc::new(AtomicU64::new(0));
        let (cut2, counted) = (cut.clone(), to_client.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    let _ = sw.shutdown().await;
                });
                let (cut, counted) = (cut2.clone(), counted.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut this_conn = 0u64;
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        this_conn += n as u64;
                        if this_conn > cut_after && !cut.swap(true, Ordering::SeqCst) {
                            up.abort();
                            return; // both halves dropped: the connection breaks
                        }
                        counted.fetch_add(n as u64, Ordering::SeqCst);
                        if !pause.is_zero() && this_conn > 256 * 1024 {
                            tokio::time::sleep(pause).await;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = cw.shutdown().await;
                });
            }
        });
        Self { url, cut, to_client }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_cut_off_midway_resumes_where_it_stopped() {
    use std::sync::atomic::Ordering;
    let relay = TestRelay::start();
    let proxy = CuttingProxy::start(&relay, MIB as u64).await;
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll_at(&relay, "bob", "Bob laptop", &proxy.url).await;
    let room = direct_room(&alice, &bob).await;
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(3 * MIB);
    let size = data.len() as u64;
    let id = alice.engine.send_file(room, &file_with(work.path(), "annex.pdf", &data)).await.unwrap();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;

    let before = proxy.to_client.load(Ordering::SeqCst);
    let out = tempfile::tempdir().unwrap();
    let engine = bob.engine.clone();
    let download = tokio::spawn(async move { (engine.download_file(id, out.path()).await, out) });
    let down = transfers_until(&mut bob, id, Direction::Download, |e| {
        matches!(e, Event::Transfer(t) if t.message == id && t.direction == Direction::Download && t.done == t.total)
    })
    .await;
    let (saved, _out) = download.await.unwrap();
    assert!(std::fs::read(saved.unwrap()).unwrap() == data);
    assert!(proxy.cut.load(Ordering::SeqCst), "the download was never cut");
    assert_monotonic_to(&down, size, "download across a broken connection");
    // Resumed, not restarted: about one copy of the file went through.
    let passed = proxy.to_client.load(Ordering::SeqCst) - before;
    assert!(passed < size + (MIB as u64) / 2, "{passed} bytes for a {size}-byte file: the download started over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_cut_by_shutdown_resumes_from_the_relays_offset_and_sends_once() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(4 * MIB + 3);
    let size = data.len() as u64;

    // A slow link, so the shutdown lands mid-upload.
    alice.engine.set_upload_rate_limit(Some(MIB as u64));
    let id = alice.engine.send_file(room, &file_with(work.path(), "minutes.txt", &data)).await.unwrap();
    alice.wait(|e| matches!(e, Event::Transfer(t) if t.message == id && t.done >= MIB as u64)).await;
    alice.shut().await;
    // The relay keeps what arrived.
    let blob = relay.blob_files().last().unwrap().clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let partial = loop {
        let n = relay.blob_received(&blob);
        if n > 0 {
            break n;
        }
        assert!(tokio::time::Instant::now() < deadline, "the relay never recorded the partial upload");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!((partial as u64) < size, "the upload finished before the shutdown");
    assert!(bob.engine.messages(&room, 10).await.unwrap().is_empty(), "sent before the file was uploaded");

    // After the restart the upload continues from the relay's count (its
    // first progress is there, not at zero), then the message goes once.
    alice.restart().await;
    let up = transfers_until(&mut alice, id, Direction::Upload, |e| *e == Event::Status(id, MessageStatus::Sent)).await;
    assert_monotonic_to(&up, size, "resumed upload");
    assert!(up[0].done > 0, "the upload started again from zero: {up:?}");
    assert_eq!(relay.blob_received(&blob) as u64, belfry_crypto::attachment::ciphertext_len(size).unwrap());

    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    let out = tempfile::tempdir().unwrap();
    let saved = bob.engine.download_file(id, out.path()).await.unwrap();
    assert!(std::fs::read(saved).unwrap() == data);
    // Exactly one message, on both sides, even after another restart.
    alice.reopen().await;
    alice.settle().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for dev in [&alice, &bob] {
        let with_files: Vec<_> =
            dev.engine.messages(&room, 100).await.unwrap().into_iter().filter(|m| m.attachment.is_some()).collect();
        assert_eq!(with_files.len(), 1, "{with_files:?}");
    }
    assert!(alice.engine.pending_uploads().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_over_the_limit_is_refused_before_anything_is_stored_or_uploaded() {
    let relay = TestRelay::start_with(|t| *t = t.replace("max_blob_bytes = 104857600", "max_blob_bytes = 1048576"));
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    let work = tempfile::tempdir().unwrap();

    // Over this relay's limit.
    let big = file_with(work.path(), "scan.tiff", &random_bytes(MIB + 1));
    let r = alice.engine.send_file(room, &big).await;
    let Err(ClientError::File(e @ FileError::TooLarge { .. })) = r else { panic!("not refused: {r:?}") };
    assert!(e.to_string().contains("1048576"), "the limit is not in the message: {e}");
    // Over what Belfry sends at all (a sparse file: nothing is read).
    let huge = work.path().join("disk.img");
    std::fs::File::create(&huge).unwrap().set_len(belfry_protocol::limits::MAX_BLOB_LEN + 1).unwrap();
    let r = alice.engine.send_file(room, &huge).await;
    assert!(matches!(r, Err(ClientError::File(FileError::TooLarge { .. }))), "{r:?}");
    // A directory is not a file.
    let r = alice.engine.send_file(room, work.path()).await;
    assert!(matches!(r, Err(ClientError::File(FileError::NotAFile(_)))), "{r:?}");

    assert!(alice.engine.messages(&room, 10).await.unwrap().is_empty());
    assert!(alice.engine.pending_uploads().unwrap().is_empty());
    assert!(attachment_area(&alice).is_empty());
    assert!(relay.blob_files().is_empty(), "something was uploaded");
    // A file within the limit goes.
    let small = file_with(work.path(), "note.txt", &random_bytes(MIB / 2));
    let id = alice.engine.send_file(room, &small).await.unwrap();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_a_file_whose_sender_claims_more_bytes_than_belfry_carries() {
    use belfry_client::Alert;
    use belfry_protocol::frames::InboxItem;
    use belfry_protocol::room::AttachmentRef;
    use belfry_protocol::{BlobId, Hash256, RoomContent, SecretKey32};
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    let bob_dev = bob.engine.device_id().await.unwrap();

    // A genuine message while Bob is away: it gives Alice's room session
    // to Bob and, still held for him, the room's state hash.
    bob.shut().await;
    let mark = relay.mark("bob", bob_dev.as_str());
    alice.engine.send_text(room, "the report follows").await.unwrap();
    alice.settle().await;
    alice.shut().await;
    let (_, held) = relay.room_items_since("bob", bob_dev.as_str(), mark).pop().expect("held for bob");
    let mut insider = Insider::open(alice.profile_dir());
    let mut seen = belfry_crypto::SeenIndices::default();
    let state_hash = insider.inbound(&held.session).decrypt(&held, &mut seen).unwrap().payload.state_hash;

    // Alice's device, under modified code, names a file of 2^48 bytes: a
    // download bounded only by that would fill Bob's disk.
    let claimed = 1u64 << 48;
    let (id, message) = insider.room_message(
        room,
        state_hash,
        RoomContent::Attachment(AttachmentRef {
            blob: BlobId(rand::random()),
            name: "backup.iso".into(),
            mime: "application/octet-stream".into(),
            size: claimed,
            key: SecretKey32::new(rand::random()),
            sha256: Hash256(rand::random()),
        }),
    );
    relay.inject("bob", bob_dev.as_str(), &InboxItem::Room(message));
    drop(insider);

    bob.restart().await;
    let (mut alert, mut shown) = (None, None);
    while alert.is_none() || shown.is_none() {
        match bob
            .wait(|e| {
                matches!(e, Event::Alert(Alert::Rejected { detail }) if detail.contains("Belfry accepts"))
                    || matches!(e, Event::Message(m) if m.id == id)
            })
            .await
        {
            Event::Alert(Alert::Rejected { detail }) => alert = Some(detail),
            Event::Message(m) => shown = Some(m),
            _ => unreachable!(),
        }
    }
    let (alert, shown) = (alert.unwrap(), shown.unwrap());
    assert!(alert.contains("refused") && alert.contains(&claimed.to_string()), "{alert}");
    assert_eq!(shown.attachment, None, "the refused file is offered for download");
    assert!(shown.body.contains("backup.iso") && shown.body.contains("refused"), "{}", shown.body);
    assert_eq!(bob.engine.attachment(&id).unwrap(), None);
    let out = tempfile::tempdir().unwrap();
    let r = bob.engine.download_file(id, out.path()).await;
    assert!(matches!(r, Err(ClientError::File(FileError::NoAttachment(_)))), "{r:?}");

    // A record a version without this check stored is bounded the same way
    // when downloaded: refused before anything is fetched or written.
    bob.shut().await;
    {
        use belfry_store::Store as _;
        let store = belfry_client::profile::Profile::new(bob.profile_dir()).open(&key_source()).unwrap();
        let record = belfry_store::Attachment {
            id: BlobId(rand::random()),
            message: id,
            name: "backup.iso".into(),
            mime: "application/octet-stream".into(),
            size: claimed,
            key: vec![7; 32],
            sha256: Hash256(rand::random()),
            data: belfry_store::AttachmentData::Remote,
        };
        store.commit(belfry_store::Batch::new().with(belfry_store::Op::PutAttachment(record))).unwrap();
    }
    bob.reopen().await;
    let r = bob.engine.download_file(id, out.path()).await;
    assert!(matches!(r, Err(ClientError::File(FileError::Oversized { size })) if size == claimed), "{r:?}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "something was written");
    assert!(attachment_area(&bob).is_empty(), "something was stored");
}

/// A TCP proxy on loopback in front of the relay that counts the
/// connections carrying more than `big` bytes towards the relay (blob
/// uploads). With `black_hole`, the first such connection becomes one once
/// it passes `big`: the proxy keeps taking the client's bytes, forwards
/// nothing more either way, and ends the relay's side (a network that
/// stalls, a relay that never answers).
struct UploadProxy {
    url: String,
    big_connections: std::sync::Arc<std::sync::atomic::AtomicU64>,
    swallowed: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl UploadProxy {
    async fn start(relay: &TestRelay, big: u64, black_hole: bool) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let port = relay.url.rsplit(':').next().unwrap().to_owned();
        let upstream = format!("127.0.0.1:{port}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("wss://localhost:{}", listener.local_addr().unwrap().port());
        let big_connections = Arc::new(AtomicU64::new(0));
        let swallowed = Arc::new(AtomicBool::new(false));
        let (counted, swallow) = (big_connections.clone(), swallowed.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else { continue };
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, sw) = server.into_split();
                // This connection is the black hole; the client has left.
                let hole = Arc::new(AtomicBool::new(false));
                let (left, client_left) = tokio::sync::oneshot::channel::<()>();
                let in_hole = hole.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n) = sr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        if !in_hole.load(Ordering::SeqCst) && cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    // A black hole keeps the client's side open: only the
                    // client's own timeout ends it.
                    if in_hole.load(Ordering::SeqCst) {
                        let _ = client_left.await;
                    }
                    let _ = cw.shutdown().await;
                });
                let (counted, swallow) = (counted.clone(), swallow.clone());
                tokio::spawn(async move {
                    let mut sw = Some(sw);
                    let mut buf = vec![0u8; 16 * 1024];
                    let mut this_conn = 0u64;
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let was = this_conn;
                        this_conn += n as u64;
                        if was <= big && this_conn > big {
                            counted.fetch_add(1, Ordering::SeqCst);
                            if black_hole && !swallow.swap(true, Ordering::SeqCst) {
                                hole.store(true, Ordering::SeqCst);
                                // The relay sees the upload end here.
                                sw = None;
                            }
                        }
                        let Some(w) = sw.as_mut() else { continue };
                        if w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    if let Some(mut w) = sw {
                        let _ = w.shutdown().await;
                    }
                    drop(left);
                });
            }
        });
        Self { url, big_connections, swallowed }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_longer_than_the_idle_timeout_goes_through_on_one_connection() {
    use std::sync::atomic::Ordering;
    let relay = TestRelay::start();
    let proxy = UploadProxy::start(&relay, 256 * 1024, false).await;
    let mut alice = Dev::enroll_at(&relay, "alice", "Alice laptop", &proxy.url).await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    let idle = Duration::from_secs(2);
    alice.engine.set_transfer_idle_timeout(idle);
    alice.engine.set_upload_rate_limit(Some(192 * 1024));

    // About five seconds at that rate: more than twice the timeout.
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(MIB);
    let size = data.len() as u64;
    let started = tokio::time::Instant::now();
    let id = alice.engine.send_file(room, &file_with(work.path(), "slow.pdf", &data)).await.unwrap();
    let up = transfers_until(&mut alice, id, Direction::Upload, |e| *e == Event::Status(id, MessageStatus::Sent)).await;
    let took = started.elapsed();
    assert!(took > 2 * idle, "the upload was not slow enough to show anything: {took:?}");
    assert_monotonic_to(&up, size, "slow upload");
    assert_eq!(
        proxy.big_connections.load(Ordering::SeqCst),
        1,
        "the upload was cut and resumed on another connection (took {took:?})"
    );

    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    let out = tempfile::tempdir().unwrap();
    let saved = bob.engine.download_file(id, out.path()).await.unwrap();
    assert!(std::fs::read(saved).unwrap() == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_whose_connection_stalls_is_dropped_after_the_idle_timeout_and_resumed() {
    use std::sync::atomic::Ordering;
    let relay = TestRelay::start();
    let proxy = UploadProxy::start(&relay, 300 * 1024, true).await;
    let mut alice = Dev::enroll_at(&relay, "alice", "Alice laptop", &proxy.url).await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    alice.engine.set_transfer_idle_timeout(Duration::from_secs(1));

    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(MIB);
    let id = alice.engine.send_file(room, &file_with(work.path(), "stalled.pdf", &data)).await.unwrap();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
    assert!(proxy.swallowed.load(Ordering::SeqCst), "the upload never stalled");
    assert_eq!(proxy.big_connections.load(Ordering::SeqCst), 2, "not exactly one resumption");

    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    let out = tempfile::tempdir().unwrap();
    let saved = bob.engine.download_file(id, out.path()).await.unwrap();
    assert!(std::fs::read(saved).unwrap() == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disappearing_files_are_purged_with_their_messages() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    alice.engine.set_retention(room, Some(4)).await.unwrap();
    bob.wait(|e| *e == Event::Room(room)).await;
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(300_000);
    let id = alice.engine.send_file(room, &file_with(work.path(), "photo.jpg", &data)).await.unwrap();
    let sent_at = tokio::time::Instant::now();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    let out = tempfile::tempdir().unwrap();
    bob.engine.download_file(id, out.path()).await.unwrap();
    assert_eq!(attachment_area(&alice).len(), 1);
    assert_eq!(attachment_area(&bob).len(), 1);

    tokio::time::sleep_until(sent_at + Duration::from_secs(6)).await;
    assert!(alice.engine.purge_expired().await.unwrap() >= 1);
    assert!(bob.engine.purge_expired().await.unwrap() >= 1);
    for (dev, who) in [(&alice, "alice"), (&bob, "bob")] {
        assert!(attachment_area(dev).is_empty(), "{who}: the ciphertext outlived its message");
        assert_eq!(dev.engine.attachment(&id).unwrap(), None, "{who}");
        assert!(dev.engine.messages(&room, 10).await.unwrap().iter().all(|m| m.id != id), "{who}");
        let r = dev.engine.download_file(id, out.path()).await;
        assert!(matches!(r, Err(ClientError::File(FileError::NoAttachment(_)))), "{who}: {r:?}");
        assert!(dev.engine.search("photo", 10).await.unwrap().is_empty(), "{who}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_plaintext_name_or_content_reaches_the_profile_directories() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    let work = tempfile::tempdir().unwrap();
    let name = "EYES-ONLY-negotiation-line-7Q4Z.txt";
    let marker = b"EYES ONLY: our red line in the negotiation is clause 7Q4Z. ";
    let mut data = marker.repeat(2000);
    data.extend(random_bytes(2 * MIB));
    data.extend(marker.repeat(2000));
    let path = file_with(work.path(), name, &data);
    let id = alice.engine.send_file(room, &path).await.unwrap();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    let out = tempfile::tempdir().unwrap();
    let saved = bob.engine.download_file(id, out.path()).await.unwrap();
    alice.shut().await;
    bob.shut().await;

    let mut needles: Vec<&[u8]> = vec![&marker[..]];
    let random_part = &data[marker.len() * 2000..marker.len() * 2000 + 2 * MIB];
    for at in [0, MIB / 3, MIB, 2 * MIB - 64] {
        needles.push(&random_part[at..at + 32]);
    }
    // The check finds plaintext where there is some: in the saved file.
    let exported = std::fs::read(&saved).unwrap();
    assert!(needles.iter().all(|n| contains(&exported, n)));
    needles.push(name.as_bytes());
    for dev in [&alice, &bob] {
        let files = files_under(dev.profile_dir());
        assert!(files.iter().any(|f| f.to_string_lossy().contains(".attachments")), "no attachment area?");
        for f in files {
            let bytes = std::fs::read(&f).unwrap();
            for n in &needles {
                assert!(!contains(&bytes, n), "{} holds plaintext ({} bytes of it)", f.display(), n.len());
            }
        }
    }
}

mod cli {
    use super::*;
    use std::process::{Command, Output, Stdio};

    const BELFRY: &str = env!("CARGO_BIN_EXE_belfry");

    fn belfry(profile: &Path) -> Command {
        let mut c = Command::new(BELFRY);
        c.arg("--profile")
            .arg(profile)
            .args(["--passphrase-env", "TEST_PASSPHRASE", "--timeout", "20", "--json"])
            .env("TEST_PASSPHRASE", "correct horse battery staple")
            .env("BELFRY_TEST_FAST_KDF", "1");
        c
    }

    fn ok(out: Output) -> Vec<serde_json::Value> {
        assert!(
            out.status.success(),
            "stdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }

    fn enroll(relay: &TestRelay, user: &str, home: &Path) -> PathBuf {
        use belfry_protocol::Wire as _;
        use belfry_protocol::armor::{INVITATION_LABEL, armor};
        let invitation = home.join(format!("{user}.belfry-invite"));
        std::fs::write(&invitation, armor(INVITATION_LABEL, &relay.invite(user).encode())).unwrap();
        let profile = home.join(user);
        let org = relay.org.public().to_base64();
        ok(belfry(&profile).args(["enroll", invitation.to_str().unwrap(), "--org-key", &org]).output().unwrap());
        profile
    }

    #[test]
    fn send_file_and_get_file_with_the_cli_in_json() {
        let relay = TestRelay::start();
        let home = tempfile::tempdir().unwrap();
        let alice = enroll(&relay, "alice", home.path());
        let bob = enroll(&relay, "bob", home.path());
        let created = ok(belfry(&alice).args(["create", "--direct", "bob"]).output().unwrap());
        let room = created.last().unwrap()["id"].as_str().unwrap().to_owned();

        let data = random_bytes(2 * MIB + 5);
        let path = file_with(home.path(), "report.pdf", &data);
        let sent = ok(belfry(&alice).args(["send-file", &room]).arg(&path).output().unwrap());
        let sent = sent.last().unwrap();
        assert_eq!(sent["status"], "sent", "{sent}");
        assert_eq!(sent["name"], "report.pdf");
        assert_eq!(sent["size"], data.len() as u64);
        let id = sent["id"].as_str().unwrap().to_owned();

        let read = ok(belfry(&bob).args(["read", &room]).output().unwrap());
        let shown = read.iter().find(|v| v["id"] == id.as_str()).expect("bob sees the message");
        assert_eq!(shown["attachment"]["name"], "report.pdf");
        assert_eq!(shown["attachment"]["size"], data.len() as u64);
        assert_eq!(shown["attachment"]["downloaded"], false);

        let out = home.path().join("downloads");
        std::fs::create_dir(&out).unwrap();
        // By the first digits of the id, as `read` shows them.
        let got = ok(belfry(&bob).args(["get-file", &id[..8]]).arg(&out).output().unwrap());
        let got = got.last().unwrap();
        assert_eq!(got["path"], out.join("report.pdf").display().to_string());
        assert!(std::fs::read(out.join("report.pdf")).unwrap() == data);
        // Never over an existing file; a clear error.
        let again = belfry(&bob).args(["get-file", &id]).arg(&out).output().unwrap();
        assert!(!again.status.success());
        assert!(String::from_utf8_lossy(&again.stderr).contains("exists"), "{again:?}");
        let none = ok(belfry(&alice).arg("uploads").output().unwrap());
        assert_eq!(none.last().unwrap()["pending_uploads"], 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cli_killed_mid_upload_resumes_and_the_recipient_gets_one_message() {
        let relay = TestRelay::start();
        let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
        let home = tempfile::tempdir().unwrap();
        let alice = enroll(&relay, "alice", home.path());
        let created = ok(belfry(&alice).args(["create", "--direct", "bob"]).output().unwrap());
        let room = created.last().unwrap()["id"].as_str().unwrap().to_owned();
        let room_id = belfry_protocol::RoomId::from_hex(&room).unwrap();
        bob.joined(&room_id).await;

        let data = random_bytes(3 * MIB);
        let path = file_with(home.path(), "dossier.zip", &data);
        let mut child = belfry(&alice)
            .args(["send-file", &room, "--limit-rate", "512K"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // SIGKILL once part of the file is on the relay.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let partial = relay.blob_files().first().map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0));
            if partial.is_some_and(|n| n >= 256 * 1024) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the upload never started");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let blob = relay.blob_files()[0].clone();
        assert!((std::fs::metadata(&blob).unwrap().len() as usize) < data.len(), "the upload finished before the kill");

        // Any later run resumes the upload; `uploads --wait` stays until it is sent.
        let done = ok(belfry(&alice).args(["uploads", "--wait"]).output().unwrap());
        assert_eq!(done.last().unwrap()["pending_uploads"], 0, "{done:?}");

        let got = bob.wait(|e| matches!(e, Event::Message(m) if m.attachment.is_some())).await;
        let Event::Message(m) = got else { unreachable!() };
        let out = tempfile::tempdir().unwrap();
        let saved = bob.engine.download_file(m.id, out.path()).await.unwrap();
        assert!(std::fs::read(saved).unwrap() == data);
        tokio::time::sleep(Duration::from_secs(1)).await;
        let with_files: Vec<_> =
            bob.engine.messages(&room_id, 100).await.unwrap().into_iter().filter(|m| m.attachment.is_some()).collect();
        assert_eq!(with_files.len(), 1, "{with_files:?}");
        let read = ok(belfry(&alice).args(["read", &room]).output().unwrap());
        let mine: Vec<_> = read.iter().filter(|v| v["attachment"].is_object()).collect();
        assert_eq!(mine.len(), 1, "{read:?}");
        assert!(["sent", "delivered", "read"].contains(&mine[0]["status"].as_str().unwrap()), "{read:?}");
    }
}

/// A transparent TCP proxy in front of the relay that reads each
/// connection's TLS ClientHello (with rustls' own parser) and records the
/// key exchange groups and key shares it offers, then forwards every byte
/// unchanged: the handshake is the client's and the real relay's.
struct HelloRecorder {
    url: String,
    /// Per connection: (supported groups, or None when the parse failed).
    offered: std::sync::Arc<std::sync::Mutex<Vec<Option<Vec<rustls::NamedGroup>>>>>,
}

impl HelloRecorder {
    async fn start(relay: &TestRelay) -> Self {
        use std::sync::{Arc, Mutex};
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let port = relay.url.rsplit(':').next().unwrap().to_owned();
        let upstream = format!("127.0.0.1:{port}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("wss://localhost:{}", listener.local_addr().unwrap().port());
        let offered = Arc::new(Mutex::new(Vec::new()));
        let record = offered.clone();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let record = record.clone();
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    // Read until rustls has a whole ClientHello.
                    let mut seen = Vec::new();
                    let mut acceptor = rustls::server::Acceptor::default();
                    let groups = loop {
                        let mut buf = [0u8; 4096];
                        let n = match client.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        seen.extend_from_slice(&buf[..n]);
                        if acceptor.read_tls(&mut &buf[..n]).is_err() {
                            break None;
                        }
                        match acceptor.accept() {
                            Ok(Some(accepted)) => break accepted.client_hello().named_groups().map(<[_]>::to_vec),
                            Ok(None) => {}
                            Err(_) => break None,
                        }
                    };
                    record.lock().unwrap().push(groups);
                    let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    if server.write_all(&seen).await.is_err() {
                        return;
                    }
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                });
            }
        });
        Self { url, offered }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_offers_only_the_hybrid_post_quantum_key_exchange() {
    let relay = TestRelay::start();
    let recorder = HelloRecorder::start(&relay).await;
    // Alice's engine reaches the relay only through the recorder: the frame
    // connection (enrollment, then the engine's link) and the blob uploads.
    let alice = Dev::enroll_at(&relay, "alice", "Alice laptop", &recorder.url).await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    let work = tempfile::tempdir().unwrap();
    let data = random_bytes(64 * 1024);
    let id = alice.engine.send_file(room, &file_with(work.path(), "memo.pdf", &data)).await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;

    let offered = recorder.offered.lock().unwrap().clone();
    assert!(offered.len() >= 3, "enrollment, the link and a blob transfer went through the recorder: {offered:?}");
    for groups in &offered {
        assert_eq!(
            groups.as_deref(),
            Some(&[rustls::NamedGroup::X25519MLKEM768][..]),
            "every ClientHello must offer X25519MLKEM768 and nothing else"
        );
    }
}

/// A file pasted or dropped into the app is sent from memory: the other
/// member downloads exactly those bytes under the name made safe; neither
/// the name nor the content reaches the sender's profile in plaintext.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_from_memory_reaches_the_other_member_byte_identical() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;

    let data = random_bytes(2 * MIB + 777);
    let size = data.len() as u64;
    let id = alice.engine.send_file_bytes(room, "../pasted\u{202E}gnp.exe", data.clone()).await.unwrap();
    let up = transfers_until(&mut alice, id, Direction::Upload, |e| *e == Event::Status(id, MessageStatus::Sent)).await;
    assert_monotonic_to(&up, size, "upload from memory");

    let got = bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    let Event::Message(m) = got else { unreachable!() };
    let a = m.attachment.expect("the message shows its file");
    assert_eq!((a.name.as_str(), a.size), ("pastedgnp.exe", size));
    let out = tempfile::tempdir().unwrap();
    let saved = bob.engine.download_file(id, out.path()).await.unwrap();
    assert_eq!(saved, out.path().join("pastedgnp.exe"));
    assert!(std::fs::read(&saved).unwrap() == data, "the file differs");

    // Nothing of the plaintext is in the sender's profile.
    alice.shut().await;
    for f in files_under(alice.profile_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(!contains(&bytes, &data[1000..1064]), "plaintext in {}", f.display());
        assert!(!contains(&bytes, b"pastedgnp"), "the name in plaintext in {}", f.display());
    }
}

/// Bytes over the relay's limit are refused when it answers the
/// reservation: no message, nothing encrypted into the store, nothing
/// uploaded. Within the limit they go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_from_memory_over_the_limit_is_refused_before_anything_is_stored_or_uploaded() {
    let relay = TestRelay::start_with(|t| *t = t.replace("max_blob_bytes = 104857600", "max_blob_bytes = 1048576"));
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;

    let r = alice.engine.send_file_bytes(room, "scan.tiff", random_bytes(MIB + 1)).await;
    let Err(ClientError::File(e @ FileError::TooLarge { .. })) = r else { panic!("not refused: {r:?}") };
    assert!(e.to_string().contains("1048576") && e.to_string().contains("scan.tiff"), "{e}");
    assert!(alice.engine.messages(&room, 10).await.unwrap().is_empty());
    assert!(alice.engine.pending_uploads().unwrap().is_empty());
    assert!(attachment_area(&alice).is_empty());
    assert!(relay.blob_files().is_empty(), "something was uploaded");

    let id = alice.engine.send_file_bytes(room, "note.txt", random_bytes(MIB / 2)).await.unwrap();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
}

/// A cancelled upload stops at once: the message is marked failed on the
/// sender's device and never announced to the room, the relay stops
/// receiving, and the sender's own encrypted copy still saves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_upload_stops_and_is_never_announced() {
    let relay = TestRelay::start();
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = direct_room(&alice, &bob).await;
    // About sixteen seconds for the file: plenty of time to cancel.
    alice.engine.set_upload_rate_limit(Some(64 * 1024));

    let data = random_bytes(MIB);
    let size = data.len() as u64;
    let id = alice.engine.send_file_bytes(room, "draft.pdf", data.clone()).await.unwrap();
    alice.wait(|e| matches!(e, Event::Transfer(t) if t.message == id && t.done > 0 && t.done < t.total)).await;
    assert!(alice.engine.cancel_transfer(id).await.unwrap(), "nothing was cancelled");
    let mut last = None;
    let mut failed = false;
    while last.is_none() || !failed {
        match alice
            .wait(|e| {
                matches!(e, Event::Transfer(t) if t.message == id) || *e == Event::Status(id, MessageStatus::Failed)
            })
            .await
        {
            Event::Transfer(t) if t.cancelled => last = Some(t),
            Event::Transfer(_) => assert!(last.is_none(), "progress after the cancellation"),
            _ => failed = true,
        }
    }
    let last = last.unwrap();
    assert!(last.direction == Direction::Upload && last.total == size && last.done < size, "{last:?}");
    assert!(alice.engine.pending_uploads().unwrap().is_empty());
    assert!(!alice.engine.cancel_transfer(id).await.unwrap(), "cancelled twice");

    // The relay stops receiving.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let blob = relay.blob_files();
    assert_eq!(blob.len(), 1, "{blob:?}");
    let received = relay.blob_received(&blob[0]);
    assert!((received as u64) < size, "the whole file was uploaded");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(relay.blob_received(&blob[0]), received, "the upload went on");
    // Nothing moves any more: no progress for it in those 2.5 seconds.
    let after: Vec<_> =
        alice.drain().into_iter().filter(|e| matches!(e, Event::Transfer(t) if t.message == id)).collect();
    assert!(after.is_empty(), "the upload went on after its cancellation: {after:?}");

    // Nothing reached the room; the message stays failed here.
    alice.engine.set_upload_rate_limit(None);
    let marker = alice.engine.send_text(room, "after the file").await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == marker)).await;
    assert!(bob.engine.messages(&room, 10).await.unwrap().iter().all(|m| m.id != id), "the file was announced");
    let mine = alice.engine.messages(&room, 10).await.unwrap();
    assert!(mine.iter().any(|m| m.id == id && m.status == MessageStatus::Failed), "{mine:?}");
    let out = tempfile::tempdir().unwrap();
    let saved = alice.engine.download_file(id, out.path()).await.unwrap();
    assert!(std::fs::read(saved).unwrap() == data);
}

/// A cancelled download stops at once and keeps nothing (no part of the
/// ciphertext in the store, nothing at the destination); downloading the
/// file again later works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_download_keeps_nothing_and_can_be_started_again() {
    let relay = TestRelay::start();
    // Bob's downloads crawl past their first 256 KiB (16 KiB every 50 ms):
    // the cancellation lands in the middle of one.
    let proxy = CuttingProxy::slowing(&relay, Duration::from_millis(50)).await;
    let mut alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll_at(&relay, "bob", "Bob laptop", &proxy.url).await;
    let room = direct_room(&alice, &bob).await;
    let data = random_bytes(2 * MIB);
    let size = data.len() as u64;
    let id = alice.engine.send_file_bytes(room, "annex.pdf", data.clone()).await.unwrap();
    alice.wait(|e| *e == Event::Status(id, MessageStatus::Sent)).await;
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id)).await;
    assert!(!bob.engine.cancel_transfer(id).await.unwrap(), "nothing runs yet");

    let out = tempfile::tempdir().unwrap();
    let engine = bob.engine.clone();
    let dest = out.path().to_owned();
    let download = tokio::spawn(async move { engine.download_file(id, &dest).await });
    bob.wait(|e| matches!(e, Event::Transfer(t) if t.message == id && t.done > 0 && t.done < t.total)).await;
    assert!(bob.engine.cancel_transfer(id).await.unwrap(), "nothing was cancelled");
    let r = download.await.unwrap();
    assert!(matches!(r, Err(ClientError::File(FileError::Cancelled(m))) if m == id), "{r:?}");
    let last = bob.wait(|e| matches!(e, Event::Transfer(t) if t.message == id && t.cancelled)).await;
    let Event::Transfer(last) = last else { unreachable!() };
    assert!(last.direction == Direction::Download && last.total == size && last.done < size, "{last:?}");
    assert!(attachment_area(&bob).is_empty(), "part of the download was kept: {:?}", attachment_area(&bob));
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0, "something was written");
    let views = bob.engine.messages(&room, 10).await.unwrap();
    assert!(views.iter().any(|v| v.id == id && v.attachment.as_ref().is_some_and(|a| !a.local)), "{views:?}");

    let saved = bob.engine.download_file(id, out.path()).await.unwrap();
    assert!(std::fs::read(saved).unwrap() == data);
}
