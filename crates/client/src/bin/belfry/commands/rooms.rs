//! Rooms: list, create, members, disappearing messages, labels.

use super::{Ctx, find_room, settle, user_id};
use crate::output::{print_room, print_room_with};
use anyhow::{anyhow, bail};
use belfry_protocol::room::RoomKind;

pub async fn list(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    // The most recently active first, with what is unread.
    for s in ctx.engine.room_summaries().await? {
        print_room_with(&s.room, Some(s.unread), ctx.json);
    }
    Ok(())
}

pub async fn create(
    ctx: &mut Ctx<'_>,
    direct: Option<&str>,
    group: Option<&str>,
    members: &[String],
) -> anyhow::Result<()> {
    let (kind, name, members) = match (direct, group) {
        (Some(other), None) => {
            let me = ctx.engine.user().await?;
            (RoomKind::Direct, format!("{me} and {other}"), vec![user_id(other)?])
        }
        (None, Some(name)) => {
            (RoomKind::Group, name.to_owned(), members.iter().map(|m| user_id(m)).collect::<Result<_, _>>()?)
        }
        _ => bail!("give --direct USER, or --group NAME with --member USER for each member"),
    };
    let room = ctx.engine.create_room(kind, &name, &members).await?;
    settle(ctx).await;
    let view = ctx.engine.room(&room).await?;
    print_room(&view, ctx.json);
    Ok(())
}

pub async fn add_member(ctx: &mut Ctx<'_>, room: &str, user: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    ctx.engine.add_member(r.id, user_id(user)?).await?;
    settle(ctx).await;
    println!("{user} added to {}", r.name);
    Ok(())
}

pub async fn remove_member(ctx: &mut Ctx<'_>, room: &str, user: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    ctx.engine.remove_member(r.id, user_id(user)?).await?;
    settle(ctx).await;
    println!("{user} removed from {}", r.name);
    Ok(())
}

pub async fn retention(ctx: &mut Ctx<'_>, room: &str, seconds: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    let secs = match seconds {
        "off" => None,
        s => Some(s.parse::<u64>().map_err(|_| anyhow!("give a number of seconds, or off"))?),
    };
    ctx.engine.set_retention(r.id, secs).await?;
    settle(ctx).await;
    println!("disappearing messages in {}: {}", r.name, secs.map_or("off".into(), |s| format!("after {s} s")));
    Ok(())
}

pub async fn label(ctx: &mut Ctx<'_>, room: &str, label: &str) -> anyhow::Result<()> {
    let r = find_room(ctx.engine, room).await?;
    let label = (label != "off").then_some(label);
    ctx.engine.set_classification(r.id, label).await?;
    settle(ctx).await;
    println!("label of {}: {}", r.name, label.unwrap_or("none"));
    Ok(())
}
