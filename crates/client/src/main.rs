//! `belfry`: the command-line client.

use anyhow::{Context as _, anyhow, bail};
use belfry_client::hardening::Swap;
use belfry_client::profile::{KeySource, Profile};
use belfry_client::{
    Alert, Direction, Engine, Event, MessageView, RoomView, Transfer, VerificationState, describe_cancel,
};
use belfry_protocol::armor::{INVITATION_LABEL, dearmor};
use belfry_protocol::room::RoomKind;
use belfry_protocol::{DeviceId, DisplayName, Ed25519Public, FlowId, Invitation, RoomId, UserId, Wire as _};
use belfry_store::MessageStatus;
use belfry_store::passphrase::KdfCost;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// Belfry: end-to-end-encrypted messaging through your organisation's relay.
#[derive(Debug, Parser)]
#[command(
    name = "belfry",
    version,
    after_help = "\
First enroll this device from the invitation IT gave you:
  belfry --profile ~/.belfry enroll alice.belfry-invite --org-key <organisation key>
Then:
  belfry --profile ~/.belfry create --direct bob
  belfry --profile ~/.belfry send <room> \"Hello\"
  belfry --profile ~/.belfry send-file <room> report.pdf
  belfry --profile ~/.belfry read <room> --follow
  belfry --profile ~/.belfry get-file <message> ~/Downloads"
)]
struct Cli {
    /// The profile directory (one enrolled device)
    #[arg(long, env = "BELFRY_PROFILE", global = true, default_value = "belfry-profile")]
    profile: PathBuf,
    /// Read the store passphrase from this environment variable (passphrase
    /// mode); without it the key is kept in the OS keychain
    #[arg(long, global = true, value_name = "VAR")]
    passphrase_env: Option<String>,
    /// Machine-readable output (one JSON object per line)
    #[arg(long, global = true)]
    json: bool,
    /// Seconds to wait for the relay
    #[arg(long, global = true, default_value_t = 15)]
    timeout: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Enroll this device from an invitation file
    Enroll {
        /// The invitation file (.belfry-invite)
        invitation: PathBuf,
        /// The organisation's public key, as IT publishes it
        #[arg(long, env = "BELFRY_ORG_KEY")]
        org_key: String,
        /// A name for this device, shown to your contacts
        #[arg(long, default_value = "Laptop")]
        device_name: String,
    },
    /// List your rooms
    Rooms,
    /// Create a room: a direct room with one person, or a named group
    Create {
        /// The other person of a direct room
        #[arg(long, conflicts_with = "group")]
        direct: Option<String>,
        /// The name of a group room
        #[arg(long)]
        group: Option<String>,
        /// Members of the group (repeat)
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// Add a person to a group room (admins)
    Invite {
        /// Room id or name
        room: String,
        /// The person
        user: String,
    },
    /// Remove a person from a room (admins, or yourself)
    Remove {
        /// Room id or name
        room: String,
        /// The person
        user: String,
    },
    /// Send a text message
    Send {
        /// Room id or name
        room: String,
        /// The text
        text: String,
    },
    /// Send a file, end-to-end encrypted (progress on stderr)
    SendFile {
        /// Room id or name
        room: String,
        /// The file
        path: PathBuf,
        /// Upload at most this many bytes per second (suffix K or M)
        #[arg(long, value_name = "RATE")]
        limit_rate: Option<String>,
    },
    /// Download, check and decrypt the file of a message
    GetFile {
        /// The message (id, or the first digits `read` shows)
        message: String,
        /// A directory (the file keeps its name) or a new file's path
        #[arg(default_value = ".")]
        dest: PathBuf,
    },
    /// List files whose upload has not finished (they resume whenever
    /// belfry runs)
    Uploads {
        /// Stay until they are all uploaded and sent
        #[arg(long)]
        wait: bool,
        /// Upload at most this many bytes per second (suffix K or M)
        #[arg(long, value_name = "RATE")]
        limit_rate: Option<String>,
    },
    /// Reply to a message
    Reply {
        /// Room id or name
        room: String,
        /// The message (id, or the first digits `read` shows)
        message: String,
        /// The text
        text: String,
    },
    /// Change the text of one of your messages, for everyone
    Edit {
        /// Room id or name
        room: String,
        /// The message
        message: String,
        /// The new text
        text: String,
    },
    /// Delete one of your messages, for everyone
    Delete {
        /// Room id or name
        room: String,
        /// The message
        message: String,
    },
    /// React to a message
    React {
        /// Room id or name
        room: String,
        /// The message
        message: String,
        /// An emoji or a short word
        reaction: String,
    },
    /// Set a room's disappearing-message timer (admins)
    Retention {
        /// Room id or name
        room: String,
        /// Seconds, or "off"
        seconds: String,
    },
    /// Set a room's classification label, such as RESTRICTED (admins)
    Label {
        /// Room id or name
        room: String,
        /// The label, or "off"
        label: String,
    },
    /// Show a room's messages
    Read {
        /// Room id or name
        room: String,
        /// How many of the newest
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Keep showing new messages until interrupted
        #[arg(long)]
        follow: bool,
    },
    /// Search every room's messages
    Search {
        /// Words to find
        query: String,
        /// At most this many results
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// List a person's devices (yours without a name)
    Devices {
        /// The person
        user: Option<String>,
    },
    /// Verify a person's device by comparing seven emoji on both screens
    /// (the other side runs `belfry verify --incoming`)
    Verify {
        /// The person whose device to verify; without it, wait for another
        /// device to ask
        user: Option<String>,
        /// Their device (needed when they have several)
        device: Option<String>,
        /// Wait for another device to ask (the same as naming nobody)
        #[arg(long, conflicts_with = "user")]
        incoming: bool,
        /// Accept and confirm without asking (for scripts: compare the
        /// printed emoji with the other side yourself)
        #[arg(long)]
        yes: bool,
        /// Seconds to wait for the other side
        #[arg(long, default_value_t = 600)]
        wait: u64,
    },
    /// This device: who it is, its relay, and what protects its data
    Status,
    /// Erase this device's profile: messages, keys, keychain entry
    WipeSelf {
        /// Confirm: this cannot be undone
        #[arg(long)]
        yes: bool,
    },
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("belfry: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<()> {
    // Before any thread exists: no core dumps or same-user debuggers, and
    // how SQLite's freed memory is wiped, settled while nothing else can
    // touch SQLite.
    belfry_client::hardening::harden_process();
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(cli))
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

fn user_id(s: &str) -> anyhow::Result<UserId> {
    UserId::new(s).map_err(|e| anyhow!("{s:?} is not a user id: {e}"))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let profile = Profile::new(&cli.profile);
    let source = key_source(&cli)?;
    let wait = Duration::from_secs(cli.timeout);
    if let Command::Enroll { invitation, org_key, device_name } = &cli.command {
        let text = std::fs::read_to_string(invitation)
            .with_context(|| format!("cannot read the invitation {}", invitation.display()))?;
        let invitation = Invitation::decode(&dearmor(INVITATION_LABEL, &text)?)?;
        let org = Ed25519Public::from_base64(org_key.trim())
            .ok_or_else(|| anyhow!("--org-key is not an organisation public key (base64)"))?;
        let name = DisplayName::new(device_name.as_str()).map_err(|e| anyhow!("device name: {e}"))?;
        let engine = Engine::enroll(profile, &invitation, org, name, &source).await?;
        let (user, device) = (engine.user().await, engine.device_id().await);
        engine.close();
        if cli.json {
            println!("{}", serde_json::json!({"enrolled": true, "user": user.as_str(), "device": device.as_str()}));
        } else {
            println!("Enrolled {user}/{device} with {}.", engine.relay_url());
        }
        return Ok(());
    }
    if let Command::WipeSelf { yes } = &cli.command {
        if !yes {
            bail!("this erases every message and key of this device for good; run again with --yes");
        }
        profile.erase()?;
        println!("This device's Belfry data is erased.");
        return Ok(());
    }

    let engine = Engine::open_paused(profile, &source).await?;
    let mut events = engine.subscribe();
    engine.start().await;
    let online = catch_up(&engine, &mut events, wait, cli.json).await?;
    let result = command(&cli, &engine, &mut events, online, wait).await;
    engine.close();
    result
}

/// Waits until the relay says everything is processed; prints alerts.
async fn catch_up(
    engine: &Engine,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    wait: Duration,
    json: bool,
) -> anyhow::Result<bool> {
    let caught_up = engine.wait_caught_up(wait).await;
    loop {
        match events.try_recv() {
            Ok(Event::Alert(a)) => print_alert(&a, json),
            Ok(Event::Wiped) => bail!("this device was wiped by order of your organisation; its data is erased"),
            Ok(_) | Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => break,
        }
    }
    if !caught_up {
        eprintln!("(offline: showing what this device has; queued messages are sent when online)");
    }
    Ok(caught_up)
}

fn print_alert(a: &Alert, json: bool) {
    let text = match a {
        Alert::NewDevice { user, device, name, own: true } => {
            format!("NEW DEVICE on your own account: {device} ({name}) of {user}. If this was not you, tell IT now.")
        }
        Alert::NewDevice { user, device, name, own: false } => format!("{user} has a new device: {device} ({name})"),
        Alert::DeviceRevoked { user, device } => format!("device {device} of {user} was revoked"),
        Alert::StateConflict { room, detail } => format!("WARNING in room {room}: {detail}"),
        Alert::Rejected { detail } => format!("refused: {detail}"),
        Alert::Delivery { room, detail, .. } => format!("WARNING in room {room}: {detail}"),
        Alert::Undecryptable { room, sender, reason } => {
            format!("a message from {sender} in room {room} cannot be decrypted: {reason}")
        }
        Alert::VerificationFailed { user, device, detail } => {
            format!("VERIFICATION FAILED with {user}/{device}: {detail}")
        }
    };
    if json {
        println!("{}", serde_json::json!({"alert": text}));
    } else {
        eprintln!("! {text}");
    }
}

async fn find_room(engine: &Engine, key: &str) -> anyhow::Result<RoomView> {
    let rooms = engine.rooms().await;
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

async fn find_message(engine: &Engine, room: &RoomView, key: &str) -> anyhow::Result<belfry_protocol::MessageId> {
    let messages = engine.messages(&room.id, 10_000).await?;
    let matches: Vec<_> = messages.iter().filter(|m| m.id.to_string().starts_with(key)).collect();
    match matches.as_slice() {
        [one] => Ok(one.id),
        [] => bail!("no message {key:?} in {}: `belfry read` shows their ids", room.name),
        _ => bail!("{key:?} matches several messages: give more digits"),
    }
}

fn status_word(s: MessageStatus) -> &'static str {
    match s {
        MessageStatus::Pending => "pending",
        MessageStatus::Sent => "sent",
        MessageStatus::Delivered => "delivered",
        MessageStatus::Read => "read",
        MessageStatus::Failed => "FAILED",
        MessageStatus::Received => "received",
    }
}

fn print_message(m: &MessageView, json: bool) {
    if json {
        let attachment = m
            .attachment
            .as_ref()
            .map(|a| serde_json::json!({"name": a.name, "mime": a.mime, "size": a.size, "downloaded": a.local}));
        println!(
            "{}",
            serde_json::json!({
                "id": m.id.to_string(), "room": m.room.to_string(), "sender": m.sender.as_str(),
                "sent_at": m.sent_at.0, "status": status_word(m.status), "body": m.body,
                "attachment": attachment,
            })
        );
    } else {
        let short: String = m.id.to_string().chars().take(8).collect();
        println!("{short} [{}] {}: {}", status_word(m.status), m.sender, m.body);
    }
}

fn print_room(r: &RoomView, json: bool) {
    let members: Vec<&str> = r.members.keys().map(UserId::as_str).collect();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "id": r.id.to_string(), "name": r.name, "kind": format!("{:?}", r.kind).to_lowercase(),
                "members": members, "retention_secs": r.retention_secs, "classification": r.classification,
                "conflict": r.conflict,
            })
        );
    } else {
        let label = r.classification.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default();
        println!("{}  {}{}  ({})", r.id, r.name, label, members.join(", "));
        if let Some(why) = &r.conflict {
            println!("  ! not sending: {why}");
        }
    }
}

async fn command(
    cli: &Cli,
    engine: &Engine,
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    online: bool,
    wait: Duration,
) -> anyhow::Result<()> {
    let json = cli.json;
    match &cli.command {
        Command::Enroll { .. } | Command::WipeSelf { .. } => Ok(()),
        Command::Rooms => {
            for r in engine.rooms().await {
                print_room(&r, json);
            }
            Ok(())
        }
        Command::Create { direct, group, members } => {
            let (kind, name, members) = match (direct, group) {
                (Some(other), None) => {
                    let me = engine.user().await;
                    (RoomKind::Direct, format!("{me} and {other}"), vec![user_id(other)?])
                }
                (None, Some(name)) => {
                    (RoomKind::Group, name.clone(), members.iter().map(|m| user_id(m)).collect::<Result<_, _>>()?)
                }
                _ => bail!("give --direct USER, or --group NAME with --member USER for each member"),
            };
            let room = engine.create_room(kind, &name, &members).await?;
            settle(engine, wait, online).await;
            let view = engine.room(&room).await?;
            print_room(&view, json);
            Ok(())
        }
        Command::Invite { room, user } => {
            let r = find_room(engine, room).await?;
            engine.add_member(r.id, user_id(user)?).await?;
            settle(engine, wait, online).await;
            println!("{user} added to {}", r.name);
            Ok(())
        }
        Command::Remove { room, user } => {
            let r = find_room(engine, room).await?;
            engine.remove_member(r.id, user_id(user)?).await?;
            settle(engine, wait, online).await;
            println!("{user} removed from {}", r.name);
            Ok(())
        }
        Command::Send { room, text } => {
            let r = find_room(engine, room).await?;
            let id = engine.send_text(r.id, text).await?;
            let sent = online && wait_status(events, id, wait).await;
            if json {
                println!("{}", serde_json::json!({"id": id.to_string(), "status": if sent {"sent"} else {"pending"}}));
            } else if sent {
                println!("sent {id}");
            } else {
                println!("queued {id}: it is sent when this device next reaches the relay");
            }
            Ok(())
        }
        Command::SendFile { room, path, limit_rate } => {
            let r = find_room(engine, room).await?;
            if let Some(rate) = limit_rate {
                engine.set_upload_rate_limit(Some(parse_rate(rate)?));
            }
            let id = engine.send_file(r.id, path).await?;
            let info = engine.attachment(&id)?.ok_or_else(|| anyhow!("the file's record is missing"))?;
            let bar = progress_bar(json, info.size, &info.name);
            let sent = online && wait_upload(events, id, wait, bar.as_ref()).await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            if json {
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
        Command::GetFile { message, dest } => {
            let id = find_file_message(engine, message).await?;
            let info = engine.attachment(&id)?.ok_or_else(|| anyhow!("message {id} has no file"))?;
            let bar = progress_bar(json, info.size, &info.name);
            let shown = bar.clone().map(|bar| {
                let mut events = engine.subscribe();
                tokio::spawn(async move {
                    loop {
                        match events.recv().await {
                            Ok(Event::Transfer(t)) if t.message == id && t.direction == Direction::Download => {
                                bar.set_position(t.done);
                            }
                            Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
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
            if json {
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
        Command::Uploads { wait: stay, limit_rate } => {
            if let Some(rate) = limit_rate {
                engine.set_upload_rate_limit(Some(parse_rate(rate)?));
            }
            let pending = engine.pending_uploads()?;
            for u in &pending {
                if json {
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
            if *stay && online {
                let bar = progress_bar(json, 0, "uploading");
                let mut quiet_since = tokio::time::Instant::now();
                loop {
                    let left = engine.pending_uploads()?.len() + engine.pending_count()?;
                    if left == 0 || quiet_since.elapsed() > wait {
                        break;
                    }
                    match tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
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
            if json {
                println!("{}", serde_json::json!({"pending_uploads": left}));
            } else if left == 0 {
                println!("no uploads pending");
            } else {
                println!("{left} upload(s) pending: they resume the next time belfry runs");
            }
            Ok(())
        }
        Command::Read { room, limit, follow } => {
            let r = find_room(engine, room).await?;
            let shown = engine.messages(&r.id, *limit).await?;
            for m in &shown {
                print_message(m, json);
            }
            // What was shown is read: its senders see it.
            if let Some(last) = shown.last() {
                engine.mark_read(r.id, last.id).await?;
                settle(engine, wait, online).await;
            }
            if *follow {
                loop {
                    match events.recv().await {
                        Ok(Event::Message(m)) if m.room == r.id => print_message(&m, json),
                        Ok(Event::Alert(a)) => print_alert(&a, json),
                        Ok(Event::Wiped) => bail!("this device was wiped by order of your organisation"),
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return Ok(()),
                    }
                }
            }
            Ok(())
        }
        Command::Reply { room, message, text } => {
            let r = find_room(engine, room).await?;
            let target = find_message(engine, &r, message).await?;
            let id = engine.reply(r.id, target, text).await?;
            settle(engine, wait, online).await;
            println!("sent {id}");
            Ok(())
        }
        Command::Edit { room, message, text } => {
            let r = find_room(engine, room).await?;
            let target = find_message(engine, &r, message).await?;
            engine.edit(r.id, target, text).await?;
            settle(engine, wait, online).await;
            println!("edited {target}");
            Ok(())
        }
        Command::Delete { room, message } => {
            let r = find_room(engine, room).await?;
            let target = find_message(engine, &r, message).await?;
            engine.delete(r.id, target).await?;
            settle(engine, wait, online).await;
            println!("deleted {target}");
            Ok(())
        }
        Command::React { room, message, reaction } => {
            let r = find_room(engine, room).await?;
            let target = find_message(engine, &r, message).await?;
            engine.react(r.id, target, reaction).await?;
            settle(engine, wait, online).await;
            println!("reacted {reaction} to {target}");
            Ok(())
        }
        Command::Retention { room, seconds } => {
            let r = find_room(engine, room).await?;
            let secs = match seconds.as_str() {
                "off" => None,
                s => Some(s.parse::<u64>().map_err(|_| anyhow!("give a number of seconds, or off"))?),
            };
            engine.set_retention(r.id, secs).await?;
            settle(engine, wait, online).await;
            println!("disappearing messages in {}: {}", r.name, secs.map_or("off".into(), |s| format!("after {s} s")));
            Ok(())
        }
        Command::Label { room, label } => {
            let r = find_room(engine, room).await?;
            let label = (label != "off").then_some(label.as_str());
            engine.set_classification(r.id, label).await?;
            settle(engine, wait, online).await;
            println!("label of {}: {}", r.name, label.unwrap_or("none"));
            Ok(())
        }
        Command::Search { query, limit } => {
            for m in engine.search(query, *limit).await? {
                print_message(&m, json);
            }
            Ok(())
        }
        Command::Devices { user } => {
            let user = match user {
                Some(u) => user_id(u)?,
                None => engine.user().await,
            };
            for (device, name, sas) in engine.devices(&user).await? {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"user": user.as_str(), "device": device.as_str(), "name": name, "sas_verified": sas})
                    );
                } else {
                    println!("{user}/{device}  {name}{}", if sas { "  (verified in person)" } else { "" });
                }
            }
            Ok(())
        }
        Command::Status => {
            let (user, device) = (engine.user().await, engine.device_id().await);
            let h = belfry_client::hardening::hardening();
            let (key, key_text) = if cli.passphrase_env.is_some() {
                ("passphrase", "wrapped by a passphrase (Argon2id)")
            } else {
                ("keychain", "in the OS keychain")
            };
            let memory = match h.memory {
                belfry_store::MemoryProtection::WipeOnFree => "wiped when SQLite frees it",
                belfry_store::MemoryProtection::CipherMemorySecurity => {
                    "wiped when SQLite frees it (SQLCipher cipher_memory_security)"
                }
            };
            let process = if h.not_dumpable {
                "no core dumps; other programs of this user cannot read its memory"
            } else {
                "NOT protected: core dumps and same-user debuggers are possible"
            };
            let (swap, swap_text) = match belfry_client::hardening::swap() {
                Swap::Off => ("off", "off".to_owned()),
                Swap::Safe => ("safe", "in RAM or encrypted".to_owned()),
                Swap::NotEncrypted(areas) => (
                    "not_encrypted",
                    format!(
                        "NOT ENCRYPTED ({}): decrypted messages in memory may be written there; ask IT to \
                         encrypt swap or turn it off",
                        areas.join(", ")
                    ),
                ),
                Swap::Unknown => ("unknown", "not known on this system".to_owned()),
            };
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "swap": swap,
                        "user": user.as_str(),
                        "device": device.as_str(),
                        "relay": engine.relay_url(),
                        "online": online,
                        "store_key": key,
                        "memory_protection": format!("{:?}", h.memory),
                        "not_dumpable": h.not_dumpable,
                    })
                );
            } else {
                println!("device:   {user}/{device}");
                println!("relay:    {} ({})", engine.relay_url(), if online { "online" } else { "offline" });
                println!("store:    SQLCipher, key {key_text}");
                println!("memory:   {memory}");
                println!("process:  {process}");
                println!("swap:     {swap_text}");
            }
            Ok(())
        }
        Command::Verify { user, device, incoming: _, yes, wait: secs } => {
            if !online {
                bail!("verification needs the relay, and this device is offline");
            }
            let verify =
                Verify { engine, json, yes: *yes, deadline: tokio::time::Instant::now() + Duration::from_secs(*secs) };
            verify.run(events, user.as_deref(), device.as_deref()).await?;
            settle(engine, wait, online).await;
            Ok(())
        }
    }
}

/// `belfry verify`: one flow, from the request to its end.
struct Verify<'a> {
    engine: &'a Engine,
    json: bool,
    yes: bool,
    deadline: tokio::time::Instant,
}

impl Verify<'_> {
    async fn run(
        &self,
        events: &mut tokio::sync::broadcast::Receiver<Event>,
        user: Option<&str>,
        device: Option<&str>,
    ) -> anyhow::Result<()> {
        let engine = self.engine;
        let flow = match user {
            Some(user) => self.start(user, device).await?,
            None => {
                let (flow, user, device) = self.incoming(events).await?;
                if !self.yes && !ask(format!("{user}/{device} asks to verify this device. Accept? [y/N] ")).await {
                    engine.cancel_verification(flow).await?;
                    bail!("verification declined");
                }
                engine.accept_verification(flow).await?;
                if self.json {
                    println!(
                        "{}",
                        serde_json::json!({"verification": flow.to_string(), "state": "accepted", "user": user.as_str(), "device": device.as_str()})
                    );
                } else {
                    println!("Verifying with {user}/{device}.");
                }
                flow
            }
        };
        loop {
            let state = self.next_state(events, flow).await;
            let Some(state) = state else {
                let _ = engine.cancel_verification(flow).await;
                bail!("the other side did not answer in time; verification cancelled");
            };
            match state {
                VerificationState::ShowSas { emoji, decimals } => {
                    self.show(flow, &emoji, decimals);
                    if self.yes || ask("Do they match? [y/N] ".into()).await {
                        engine.confirm_sas(flow).await?;
                        if !self.json {
                            println!("Confirmed; waiting for the other side to confirm too.");
                        }
                    } else {
                        engine.cancel_verification(flow).await?;
                        bail!("the emoji do not match: NOT verified (someone may be between the devices; tell IT)");
                    }
                }
                VerificationState::Verified => {
                    if self.json {
                        println!("{}", serde_json::json!({"verification": flow.to_string(), "state": "verified"}));
                    } else {
                        println!("Verified.");
                    }
                    return Ok(());
                }
                VerificationState::Cancelled { reason, by_them } => {
                    let who = if by_them { "the other side" } else { "this device" };
                    bail!("verification cancelled by {who}: {}", describe_cancel(reason));
                }
                VerificationState::Requested | VerificationState::Waiting | VerificationState::Confirmed => {}
            }
        }
    }

    /// Asks the device; returns the flow.
    async fn start(&self, user: &str, device: Option<&str>) -> anyhow::Result<FlowId> {
        let engine = self.engine;
        let user = user_id(user)?;
        let (me, this) = (engine.user().await, engine.device_id().await);
        let device = match device {
            Some(d) => DeviceId::new(d).map_err(|e| anyhow!("{d:?} is not a device id: {e}"))?,
            None => {
                let devices: Vec<DeviceId> = engine
                    .devices(&user)
                    .await?
                    .into_iter()
                    .map(|(d, _, _)| d)
                    .filter(|d| !(user == me && *d == this))
                    .collect();
                match devices.as_slice() {
                    [one] => one.clone(),
                    [] => bail!("{user} has no other trusted device to verify"),
                    several => {
                        let names: Vec<&str> = several.iter().map(DeviceId::as_str).collect();
                        bail!("{user} has several devices: name one of {}", names.join(", "))
                    }
                }
            }
        };
        let flow = engine.start_verification(&user, &device).await?;
        if self.json {
            println!(
                "{}",
                serde_json::json!({"verification": flow.to_string(), "state": "waiting", "user": user.as_str(), "device": device.as_str()})
            );
        } else {
            println!("Asked {user}/{device} to verify. On that device, run: belfry verify --incoming");
        }
        Ok(flow)
    }

    /// Waits for a request from another device (one that came while
    /// catching up counts).
    async fn incoming(
        &self,
        events: &mut tokio::sync::broadcast::Receiver<Event>,
    ) -> anyhow::Result<(FlowId, UserId, DeviceId)> {
        let pending = |views: Vec<belfry_client::VerificationView>| {
            views.into_iter().find(|v| !v.we_started && v.state == VerificationState::Requested)
        };
        if let Some(v) = pending(self.engine.verifications().await) {
            return Ok((v.flow, v.user, v.device));
        }
        if !self.json {
            println!("Waiting for another device to ask for verification...");
        }
        loop {
            match tokio::time::timeout_at(self.deadline, events.recv()).await {
                Ok(Ok(Event::Verification { flow, user, device, state: VerificationState::Requested })) => {
                    return Ok((flow, user, device));
                }
                Ok(Ok(Event::Alert(a))) => print_alert(&a, self.json),
                Ok(Ok(Event::Wiped)) => bail!("this device was wiped by order of your organisation"),
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    if let Some(v) = pending(self.engine.verifications().await) {
                        return Ok((v.flow, v.user, v.device));
                    }
                }
                Ok(Err(_)) => bail!("the engine stopped"),
                Err(_) => bail!("no verification request came in time"),
            }
        }
    }

    /// The next state of `flow`, or `None` when the time is up.
    async fn next_state(
        &self,
        events: &mut tokio::sync::broadcast::Receiver<Event>,
        flow: FlowId,
    ) -> Option<VerificationState> {
        loop {
            match tokio::time::timeout_at(self.deadline, events.recv()).await {
                Ok(Ok(Event::Verification { flow: f, state, .. })) if f == flow => return Some(state),
                Ok(Ok(Event::Alert(a))) => print_alert(&a, self.json),
                Ok(Ok(_)) => {}
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {
                    // Missed events: the flow's current state says enough.
                    match self.engine.verification(flow).await {
                        Some(v) => return Some(v.state),
                        None => {
                            return Some(VerificationState::Cancelled {
                                reason: belfry_protocol::VerificationCancelReason::UnknownFlow,
                                by_them: false,
                            });
                        }
                    }
                }
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    fn show(&self, flow: FlowId, emoji: &[(&str, &str)], decimals: (u16, u16, u16)) {
        if self.json {
            let emoji: Vec<String> = emoji.iter().map(|(e, name)| format!("{e} {name}")).collect();
            println!(
                "{}",
                serde_json::json!({
                    "verification": flow.to_string(), "state": "sas", "emoji": emoji,
                    "decimals": [decimals.0, decimals.1, decimals.2],
                })
            );
        } else {
            println!("Compare with the other screen:");
            let line: Vec<String> = emoji.iter().map(|(e, name)| format!("{e} {name}")).collect();
            println!("  {}", line.join("   "));
            println!("  {} {} {}", decimals.0, decimals.1, decimals.2);
        }
    }
}

/// Asks a yes/no question on the terminal; anything but y/yes is no.
async fn ask(question: String) -> bool {
    use std::io::Write as _;
    print!("{question}");
    let _ = std::io::stdout().flush();
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line).unwrap_or_default()
    })
    .await
    .map(|line| matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
    .unwrap_or(false)
}

/// A progress bar on stderr for people (none in JSON mode, none when
/// stderr is not a terminal).
fn progress_bar(json: bool, total: u64, name: &str) -> Option<indicatif::ProgressBar> {
    if json {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(name.chars().filter(|c| !c.is_control()).take(40).collect::<String>());
    Some(bar)
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
async fn find_file_message(engine: &Engine, key: &str) -> anyhow::Result<belfry_protocol::MessageId> {
    if let Ok(id) = belfry_protocol::MessageId::from_hex(key)
        && engine.attachment(&id)?.is_some()
    {
        return Ok(id);
    }
    let mut matches = Vec::new();
    for room in engine.rooms().await {
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
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    id: belfry_protocol::MessageId,
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
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            _ => return false,
        }
    }
}

/// Waits for `id` to be acknowledged by the relay.
async fn wait_status(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    id: belfry_protocol::MessageId,
    wait: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(Event::Status(m, MessageStatus::Sent))) if m == id => return true,
            Ok(Ok(Event::Status(m, MessageStatus::Failed))) if m == id => return false,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            _ => return false,
        }
    }
}

/// Waits until the outbox is empty (or the time is up).
async fn settle(engine: &Engine, wait: Duration, online: bool) {
    if !online {
        return;
    }
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if engine.pending_count().map(|n| n == 0).unwrap_or(true) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
