//! One module per task. `run` opens the profile (or enrolls or wipes it,
//! which need no open engine), waits until the relay has delivered what was
//! waiting, then hands the command to its module.

mod devices;
mod enroll;
mod files;
mod messages;
mod rooms;
mod status;
mod verify;
mod wipe;

use crate::cli::{Cli, Command};
use crate::output::print_alert;
use anyhow::{Context as _, anyhow, bail};
use belfry_client::profile::{KeySource, Profile, Unlock};
use belfry_client::{Engine, Event, RoomView};
use belfry_protocol::{MessageId, RoomId, UserId};
use belfry_store::MessageStatus;
use belfry_store::passphrase::KdfCost;
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};

/// What a command has to work with once the engine is open.
pub struct Ctx<'a> {
    pub engine: &'a Engine,
    /// The engine's events, subscribed before it started.
    pub events: broadcast::Receiver<Event>,
    /// Whether the relay answered while catching up.
    pub online: bool,
    /// `--timeout`: how long to wait for the relay.
    pub wait: Duration,
    /// `--json`.
    pub json: bool,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let profile = Profile::new(&cli.profile);
    let source = key_source(&cli)?;
    match &cli.command {
        Command::Enroll { invitation, org_key, device_name } => {
            let passcode = passcode(&cli)?;
            return enroll::run(profile, &source, passcode, invitation, org_key, device_name, cli.json).await;
        }
        Command::WipeSelf { yes } => return wipe::run(&profile, *yes),
        _ => {}
    }

    let unlock = match passcode(&cli)? {
        Some(passcode) => Unlock::Keychain { passcode: Some(passcode) },
        None => Unlock::from(&source),
    };
    let engine = Engine::unlock_paused(profile, &unlock).await?;
    let mut events = engine.subscribe();
    engine.start().await;
    let wait = Duration::from_secs(cli.timeout);
    let online = catch_up(&engine, &mut events, wait, cli.json).await?;
    let mut ctx = Ctx { engine: &engine, events, online, wait, json: cli.json };
    let result = command(&cli, &mut ctx).await;
    engine.close();
    result
}

async fn command(cli: &Cli, ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    match &cli.command {
        Command::Enroll { .. } | Command::WipeSelf { .. } => Ok(()),
        Command::Rooms => rooms::list(ctx).await,
        Command::Create { direct, group, members } => {
            rooms::create(ctx, direct.as_deref(), group.as_deref(), members).await
        }
        Command::Invite { room, user } => rooms::add_member(ctx, room, user).await,
        Command::Remove { room, user } => rooms::remove_member(ctx, room, user).await,
        Command::Retention { room, seconds } => rooms::retention(ctx, room, seconds).await,
        Command::Label { room, label } => rooms::label(ctx, room, label).await,
        Command::Send { room, text } => messages::send(ctx, room, text).await,
        Command::Reply { room, message, text } => messages::reply(ctx, room, message, text).await,
        Command::Edit { room, message, text } => messages::edit(ctx, room, message, text).await,
        Command::Delete { room, message } => messages::delete(ctx, room, message).await,
        Command::React { room, message, reaction } => messages::react(ctx, room, message, reaction).await,
        Command::Read { room, limit, follow } => messages::read(ctx, room, *limit, *follow).await,
        Command::Chat { room } => messages::chat(ctx, room).await,
        Command::Search { query, limit } => messages::search(ctx, query, *limit).await,
        Command::SendFile { room, path, limit_rate } => files::send(ctx, room, path, limit_rate.as_deref()).await,
        Command::GetFile { message, dest } => files::get(ctx, message, dest).await,
        Command::Uploads { wait: stay, limit_rate } => files::uploads(ctx, *stay, limit_rate.as_deref()).await,
        Command::Devices { user } => devices::run(ctx, user.as_deref()).await,
        Command::Status => status::run(ctx, cli.passphrase_env.is_some()).await,
        Command::Verify { user, device, incoming: _, yes, wait: secs } => {
            verify::run(ctx, user.as_deref(), device.as_deref(), *yes, Duration::from_secs(*secs)).await
        }
    }
}

/// Argon2id cost of a new passphrase-wrapped key. Debug builds honour
/// `BELFRY_TEST_FAST_KDF=1` so tests stay fast; release builds never do.
fn kdf_cost() -> KdfCost {
    if cfg!(debug_assertions) && std::env::var("BELFRY_TEST_FAST_KDF").as_deref() == Ok("1") {
        return KdfCost::INSECURE_FAST;
    }
    KdfCost::DEFAULT
}

fn key_source(cli: &Cli) -> anyhow::Result<KeySource> {
    match &cli.passphrase_env {
        None => Ok(KeySource::Keychain),
        Some(var) => {
            let passphrase =
                std::env::var(var).with_context(|| format!("the environment variable {var} is not set"))?;
            if passphrase.is_empty() {
                bail!("the passphrase in {var} is empty");
            }
            Ok(KeySource::Passphrase { passphrase: zeroize::Zeroizing::new(passphrase), cost: kdf_cost() })
        }
    }
}

/// The app passcode from `--passcode-env`, if given.
fn passcode(cli: &Cli) -> anyhow::Result<Option<zeroize::Zeroizing<String>>> {
    let Some(var) = &cli.passcode_env else { return Ok(None) };
    let passcode = std::env::var(var).with_context(|| format!("the environment variable {var} is not set"))?;
    if passcode.is_empty() {
        bail!("the passcode in {var} is empty");
    }
    Ok(Some(zeroize::Zeroizing::new(passcode)))
}

fn user_id(s: &str) -> anyhow::Result<UserId> {
    UserId::new(s).map_err(|e| anyhow!("{s:?} is not a user id: {e}"))
}

/// Waits until the relay says everything is processed; prints alerts.
async fn catch_up(
    engine: &Engine,
    events: &mut broadcast::Receiver<Event>,
    wait: Duration,
    json: bool,
) -> anyhow::Result<bool> {
    let caught_up = engine.wait_caught_up(wait).await;
    loop {
        match events.try_recv() {
            Ok(Event::Alert(a)) => print_alert(&a, json),
            Ok(Event::Wiped) => bail!("this device was wiped by order of your organisation; its data is erased"),
            Ok(Event::WipeIncomplete(detail)) => return Err(belfry_client::ClientError::WipeIncomplete(detail).into()),
            Ok(_) | Err(TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    if !caught_up {
        eprintln!("(offline: showing what this device has; queued messages are sent when online)");
    }
    Ok(caught_up)
}

/// The room `key` names: its id, the first digits of its id, or its name.
async fn find_room(engine: &Engine, key: &str) -> anyhow::Result<RoomView> {
    let rooms = engine.rooms().await?;
    if let Ok(id) = RoomId::from_hex(key)
        && let Some(r) = rooms.iter().find(|r| r.id == id)
    {
        return Ok(r.clone());
    }
    let matches: Vec<&RoomView> = rooms.iter().filter(|r| r.name == key || r.id.to_string().starts_with(key)).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("no room {key:?}: `belfry rooms` lists them"),
        _ => bail!("{key:?} names several rooms: use the room id"),
    }
}

/// The message of `room` that `key` (an id or its first digits) names.
async fn find_message(engine: &Engine, room: &RoomView, key: &str) -> anyhow::Result<MessageId> {
    let messages = engine.messages(&room.id, 10_000).await?;
    let matches: Vec<_> = messages.iter().filter(|m| m.id.to_string().starts_with(key)).collect();
    match matches.as_slice() {
        [one] => Ok(one.id),
        [] => bail!("no message {key:?} in {}: `belfry read` shows their ids", room.name),
        _ => bail!("{key:?} matches several messages: give more digits"),
    }
}

/// Waits for `id` to be acknowledged by the relay.
async fn wait_status(events: &mut broadcast::Receiver<Event>, id: MessageId, wait: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(Event::Status(m, MessageStatus::Sent))) if m == id => return true,
            Ok(Ok(Event::Status(m, MessageStatus::Failed))) if m == id => return false,
            Ok(Ok(_)) | Ok(Err(RecvError::Lagged(_))) => {}
            _ => return false,
        }
    }
}

/// Waits until the outbox is empty (or the time is up).
async fn settle(ctx: &Ctx<'_>) {
    if !ctx.online {
        return;
    }
    let deadline = tokio::time::Instant::now() + ctx.wait;
    while tokio::time::Instant::now() < deadline {
        if ctx.engine.pending_count().map(|n| n == 0).unwrap_or(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
