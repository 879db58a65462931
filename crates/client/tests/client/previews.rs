//! Image previews: decrypted in memory, decoded and re-encoded as PNG by
//! the engine under size and pixel caps, for files that came through the
//! real relay.

use crate::support::*;
use belfry_client::{ClientError, Event, FileError};
use belfry_protocol::MessageId;
use belfry_protocol::room::RoomKind;
use std::path::Path;

const RED: [u8; 3] = [220, 20, 20];
const BLUE: [u8; 3] = [20, 20, 220];

/// Left half red, right half blue.
fn picture(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, _| image::Rgb(if x < width / 2 { RED } else { BLUE }))
}

fn encoded(img: &image::RgbImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), format).unwrap();
    out
}

fn close(a: &[u8], b: [u8; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| x.abs_diff(y) < 40)
}

/// Alice sends `data` as `name`; Bob has the message.
async fn sent(alice: &Dev, bob: &mut Dev, room: belfry_protocol::RoomId, name: &str, data: &[u8]) -> MessageId {
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join(name);
    std::fs::write(&path, data).unwrap();
    let id = alice.engine.send_file(room, &path).await.unwrap();
    bob.wait(|e| matches!(e, Event::Message(m) if m.id == id && m.attachment.is_some())).await;
    id
}

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
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

/// A PNG and a JPEG from Alice preview on Bob's device at their shape,
/// scaled down to fit (never up), with their colours, and neither the
/// image nor its preview is ever written to Bob's disk in the clear. A
/// file that is not an image (whatever its name says) has no preview.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_png_and_a_jpeg_preview_at_their_shape_and_never_touch_the_disk() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = alice.engine.create_room(RoomKind::Direct, "Desk", &[bob.engine.user().await.unwrap()]).await.unwrap();
    bob.joined(&room).await;

    let png = encoded(&picture(640, 480), image::ImageFormat::Png);
    let jpeg = encoded(&picture(300, 800), image::ImageFormat::Jpeg);
    let png_id = sent(&alice, &mut bob, room, "photo.png", &png).await;
    let jpeg_id = sent(&alice, &mut bob, room, "scan.jpg", &jpeg).await;
    let gif = encoded(&picture(400, 100), image::ImageFormat::Gif);
    let webp = encoded(&picture(100, 400), image::ImageFormat::WebP);
    let gif_id = sent(&alice, &mut bob, room, "wave.gif", &gif).await;
    let webp_id = sent(&alice, &mut bob, room, "chart.webp", &webp).await;
    let text_id = sent(&alice, &mut bob, room, "notes.txt", b"minutes of the meeting").await;
    let fake_id = sent(&alice, &mut bob, room, "fake.png", b"not a picture at all, only words").await;

    let mut previews = Vec::new();
    let cases =
        [(png_id, 256, (256, 192)), (jpeg_id, 256, (96, 256)), (png_id, 1024, (640, 480)), (gif_id, 200, (200, 50))];
    for (id, side, want) in cases.into_iter().chain([(webp_id, 200, (50, 200))]) {
        let p = bob.engine.attachment_preview(id, side).await.unwrap().expect("an image has a preview");
        assert_eq!((p.width, p.height), want);
        let decoded = image::load_from_memory_with_format(&p.png, image::ImageFormat::Png).unwrap().to_rgb8();
        assert_eq!(decoded.dimensions(), want, "the PNG is what it says");
        let (w, h) = want;
        assert!(close(&decoded.get_pixel(2, h / 2).0, RED), "left: {:?}", decoded.get_pixel(2, h / 2));
        assert!(close(&decoded.get_pixel(w - 3, h / 2).0, BLUE), "right: {:?}", decoded.get_pixel(w - 3, h / 2));
        previews.push(p.png);
    }
    assert_eq!(bob.engine.attachment_preview(text_id, 256).await.unwrap(), None);
    assert_eq!(bob.engine.attachment_preview(fake_id, 256).await.unwrap(), None);
    let r = bob.engine.attachment_preview(png_id, 0).await;
    assert!(matches!(r, Err(ClientError::Input(_))), "{r:?}");

    // Nothing of the images or previews is on disk (the attachment area
    // holds ciphertext; the database is encrypted).
    let needles: Vec<&[u8]> =
        [&png[..], &jpeg[..]].into_iter().chain(previews.iter().map(Vec::as_slice)).map(|b| &b[..64]).collect();
    for file in files_under(bob.profile_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == *needle),
                "{} holds an image in the clear",
                file.display()
            );
        }
    }
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for b in bytes {
        crc ^= u32::from(*b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// The attack: a decompression bomb. A file of a few hundred bytes whose
/// header declares 100,000 × 100,000 pixels (40 GB to decode) is refused
/// from its header, before the decoder allocates anything for the pixels.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decompression_bomb_is_refused_from_its_header() {
    let relay = TestRelay::start();
    let alice = Dev::enroll(&relay, "alice", "Alice laptop").await;
    let mut bob = Dev::enroll(&relay, "bob", "Bob laptop").await;
    let room = alice.engine.create_room(RoomKind::Direct, "Desk", &[bob.engine.user().await.unwrap()]).await.unwrap();
    bob.joined(&room).await;

    // A real 1 × 1 PNG whose IHDR is rewritten (with its checksum) to
    // declare 100,000 × 100,000.
    let mut bomb = encoded(&picture(1, 1), image::ImageFormat::Png);
    assert_eq!(&bomb[12..16], b"IHDR");
    bomb[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let id = sent(&alice, &mut bob, room, "holiday.png", &bomb).await;

    let started = std::time::Instant::now();
    let r = bob.engine.attachment_preview(id, 256).await;
    let Err(ClientError::File(FileError::PreviewTooLarge(why))) = r else { panic!("not refused: {r:?}") };
    assert!(why.contains("100000 × 100000"), "refused by its header: {why}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "it took {:?}", started.elapsed());
}
