//! Files: send one, download one, and the uploads a crash or ^C cut off.

use super::{Ctx, find_room};
use crate::output::{print_alert, progress_bar};
use anyhow::{anyhow, bail};
use belfry_client::{Direction, Engine, Event, Transfer};
use belfry_protocol::MessageId;
use belfry_store::MessageStatus;
use std::path::Path;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};

pub async fn send(ctx: &mut Ctx<'_>, room: &str, path: &Path, limit_rate: Option<&str>) -> anyhow::Result<()> {
    let engine = ctx.engine;
    let r = find_room(engine, room).await?;
    if let Some(rate) = limit_rate {
        engine.set_upload_rate_limit(Some(parse_rate(rate)?));
    }
    let id = engine.send_file(r.id, path).await?;
    let info = engine.attachment(&id)?.ok_or_else(|| anyhow!("the file's record is missing"))?;
    let bar = progress_bar(ctx.json, info.size, &info.name);
    let sent = ctx.online && wait_upload(&mut ctx.events, id, ctx.wait, bar.as_ref()).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "id": id.to_string(), "name": info.name, "size": info.size,
                "status": if sent {"sent"} else {"pending"},
            })
        );
    } else if sent {
        println!("sent {id}: {} ({} bytes)", info.name, info.size);
    } else {
        println!("queued {id}: the upload resumes the next time belfry runs (`belfry uploads --wait`)");
    }
    Ok(())
}

pub async fn get(ctx: &mut Ctx<'_>, message: &str, dest: &Path) -> anyhow::Result<()> {
    let engine = ctx.engine;
    let id = find_file_message(engine, message).await?;
    let info = engine.attachment(&id)?.ok_or_else(|| anyhow!("message {id} has no file"))?;
    let bar = progress_bar(ctx.json, info.size, &info.name);
    let shown = bar.clone().map(|bar| {
        let mut events = engine.subscribe();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(Event::Transfer(t)) if t.message == id && t.direction == Direction::Download => {
                        bar.set_position(t.done);
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
        })
    });
    let result = engine.download_file(id, dest).await;
    if let Some(task) = shown {
        task.abort();
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let path = result?;
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "id": id.to_string(), "name": info.name, "size": info.size, "path": path.display().to_string(),
            })
        );
    } else {
        println!("saved {} ({} bytes)", path.display(), info.size);
    }
    Ok(())
}

pub async fn uploads(ctx: &mut Ctx<'_>, stay: bool, limit_rate: Option<&str>) -> anyhow::Result<()> {
    let engine = ctx.engine;
    if let Some(rate) = limit_rate {
        engine.set_upload_rate_limit(Some(parse_rate(rate)?));
    }
    let pending = engine.pending_uploads()?;
    for u in &pending {
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({
                    "id": u.message.to_string(), "room": u.room.to_string(), "name": u.name, "size": u.size,
                })
            );
        } else {
            println!("{}  {} ({} bytes)", u.message, u.name, u.size);
        }
    }
    if stay && ctx.online {
        let bar = progress_bar(ctx.json, 0, "uploading");
        let mut quiet_since = tokio::time::Instant::now();
        loop {
            let left = engine.pending_uploads()?.len() + engine.pending_count()?;
            if left == 0 || quiet_since.elapsed() > ctx.wait {
                break;
            }
            match tokio::time::timeout(Duration::from_millis(200), ctx.events.recv()).await {
                Ok(Ok(Event::Transfer(t))) => {
                    quiet_since = tokio::time::Instant::now();
                    if let Some(bar) = &bar {
                        bar.set_length(t.total);
                        bar.set_position(t.done);
                    }
                }
                Ok(Ok(Event::Status(..))) => quiet_since = tokio::time::Instant::now(),
                _ => {}
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }
    let left = engine.pending_uploads()?.len();
    if ctx.json {
        println!("{}", serde_json::json!({"pending_uploads": left}));
    } else if left == 0 {
        println!("no uploads pending");
    } else {
        println!("{left} upload(s) pending: they resume the next time belfry runs");
    }
    Ok(())
}

/// "500000", "800K", "2M": bytes per second.
fn parse_rate(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1024),
        Some((i, 'm' | 'M')) => (&s[..i], 1024 * 1024),
        _ => (s, 1),
    };
    let n: u64 =
        digits.trim().parse().map_err(|_| anyhow!("{s:?} is not a rate: give bytes per second, e.g. 500K or 2M"))?;
    match n.checked_mul(unit) {
        Some(0) | None => bail!("{s:?} is not a usable rate"),
        Some(rate) => Ok(rate),
    }
}

/// The message with a file that `key` (an id or its first digits) names.
async fn find_file_message(engine: &Engine, key: &str) -> anyhow::Result<MessageId> {
    if let Ok(id) = MessageId::from_hex(key)
        && engine.attachment(&id)?.is_some()
    {
        return Ok(id);
    }
    let mut matches = Vec::new();
    for room in engine.rooms().await? {
        for m in engine.messages(&room.id, 10_000).await? {
            if m.attachment.is_some() && m.id.to_string().starts_with(key) {
                matches.push(m.id);
            }
        }
    }
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => bail!("no message with a file matches {key:?}: `belfry read` shows their ids"),
        _ => bail!("{key:?} matches several messages: give more digits"),
    }
}

/// Follows an upload until its message is sent; `false` if it fails or
/// nothing moves for `wait`.
async fn wait_upload(
    events: &mut broadcast::Receiver<Event>,
    id: MessageId,
    wait: Duration,
    bar: Option<&indicatif::ProgressBar>,
) -> bool {
    loop {
        match tokio::time::timeout(wait, events.recv()).await {
            Ok(Ok(Event::Transfer(Transfer { message, direction: Direction::Upload, done, .. }))) if message == id => {
                if let Some(bar) = bar {
                    bar.set_position(done);
                }
            }
            Ok(Ok(Event::Status(m, MessageStatus::Sent))) if m == id => return true,
            Ok(Ok(Event::Status(m, MessageStatus::Failed))) if m == id => return false,
            Ok(Ok(Event::Alert(a))) => {
                if let Some(bar) = bar {
                    bar.suspend(|| print_alert(&a, false));
                } else {
                    print_alert(&a, true);
                }
            }
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            _ => return false,
        }
    }
}
