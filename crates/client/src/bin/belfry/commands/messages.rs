//! Messages: send, reply, edit, delete, react, read, search.

use super::{Ctx, find_message, find_room, settle, wait_status};
use crate::output::{print_alert, print_message};
use anyhow::bail;
use belfry_client::Event;
use tokio::sync::broadcast::error::RecvError;

pub async fn send(ctx: &mut Ctx<'_>, room: &str, text: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    let id = ctx.engine.send_text(r.id, text).await?;
    let sent = ctx.online && wait_status(&mut ctx.events, id, ctx.wait).await;
    if ctx.json {
        println!("{}", serde_json::json!({"id": id.to_string(), "status": if sent {"sent"} else {"pending"}}));
    } else if sent {
        println!("sent {id}");
    } else {
        println!("queued {id}: it is sent when this device next reaches the relay");
    }
    Ok(())
}

pub async fn reply(ctx: &mut Ctx<'_>, room: &str, message: &str, text: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    let target = find_message(ctx.engine, &r, message).await?;
    let id = ctx.engine.reply(r.id, target, text).await?;
    settle(ctx).await;
    println!("sent {id}");
    Ok(())
}

pub async fn edit(ctx: &mut Ctx<'_>, room: &str, message: &str, text: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    let target = find_message(ctx.engine, &r, message).await?;
    ctx.engine.edit(r.id, target, text).await?;
    settle(ctx).await;
    println!("edited {target}");
    Ok(())
}

pub async fn delete(ctx: &mut Ctx<'_>, room: &str, message: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    let target = find_message(ctx.engine, &r, message).await?;
    ctx.engine.delete(r.id, target).await?;
    settle(ctx).await;
    println!("deleted {target}");
    Ok(())
}

pub async fn react(ctx: &mut Ctx<'_>, room: &str, message: &str, reaction: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    let target = find_message(ctx.engine, &r, message).await?;
    ctx.engine.react(r.id, target, reaction).await?;
    settle(ctx).await;
    println!("reacted {reaction} to {target}");
    Ok(())
}

pub async fn read(ctx: &mut Ctx<'_>, room: &str, limit: usize, follow: bool) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    let shown = ctx.engine.messages(&r.id, limit).await?;
    for m in &shown {
        print_message(m, ctx.json);
    }
    // What was shown is read: its senders see it.
    if let Some(last) = shown.last() {
        ctx.engine.mark_read(r.id, last.id).await?;
        settle(ctx).await;
    }
    if follow {
        loop {
            match ctx.events.recv().await {
                Ok(Event::Message(m)) if m.room == r.id => print_message(&m, ctx.json),
                Ok(Event::Alert(a)) => print_alert(&a, ctx.json),
                Ok(Event::Wiped) => bail!("this device was wiped by order of your organisation"),
                Ok(Event::WipeIncomplete(detail)) => {
                    return Err(belfry_client::ClientError::WipeIncomplete(detail).into());
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(_) => return Ok(()),
            }
        }
    }
    Ok(())
}

/// Shows the room's new messages and sends each line read from standard
/// input; ends at the end of input (after what was typed is sent) or when
/// the device is wiped.
pub async fn chat(ctx: &mut Ctx<'_>, room: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    // Standard input is read on a thread of its own (blocking reads), one
    // line at a time; the channel closes at the end of input.
    let (tx, mut lines) = tokio::sync::mpsc::channel::<std::io::Result<String>>(16);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    loop {
        tokio::select! {
            line = lines.recv() => match line.transpose()? {
                Some(text) if text.trim().is_empty() => {}
                Some(text) => {
                    ctx.engine.send_text(r.id, text.trim_end()).await?;
                }
                None => break,
            },
            event = ctx.events.recv() => match event {
                Ok(Event::Message(m)) if m.room == r.id => {
                    print_message(&m, ctx.json);
                    ctx.engine.mark_read(r.id, m.id).await?;
                }
                Ok(Event::Alert(a)) => print_alert(&a, ctx.json),
                Ok(Event::Wiped) => bail!("this device was wiped by order of your organisation"),
                Ok(Event::WipeIncomplete(detail)) => {
                    return Err(belfry_client::ClientError::WipeIncomplete(detail).into());
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(_) => return Ok(()),
            },
        }
    }
    settle(ctx).await;
    Ok(())
}

pub async fn search(ctx: &mut Ctx<'_>, query: &str, limit: usize) -> anyhow::Result<()> {
    for m in ctx.engine.search(query, limit).await? {
        print_message(&m, ctx.json);
    }
    Ok(())
}
