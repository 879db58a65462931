//! The command line: global options and one subcommand per task.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
pub struct Cli {
    /// The profile directory (one enrolled device)
    #[arg(long, env = "BELFRY_PROFILE", global = true, default_value = "belfry-profile")]
    pub profile: PathBuf,
    /// Read the store passphrase from this environment variable (passphrase
    /// mode); without it the key is kept in the OS keychain
    #[arg(long, global = true, value_name = "VAR")]
    pub passphrase_env: Option<String>,
    /// Read the app passcode from this environment variable (keychain
    /// mode): set at `enroll`, required to open the profile from then on
    #[arg(long, global = true, value_name = "VAR", conflicts_with = "passphrase_env")]
    pub passcode_env: Option<String>,
    /// Machine-readable output (one JSON object per line)
    #[arg(long, global = true)]
    pub json: bool,
    /// Seconds to wait for the relay
    #[arg(long, global = true, default_value_t = 15)]
    pub timeout: u64,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    /// Talk in a room from the terminal: show its new messages as they
    /// arrive and send each line typed on standard input (until end of
    /// input)
    Chat {
        /// Room id or name
        room: String,
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
