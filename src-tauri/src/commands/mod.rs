//! Every command, grouped by area. Each takes one `<Name>Args` struct (or
//! nothing), checks it, forwards to the engine, and answers a result or a
//! [`UiError`](crate::error::UiError).
//!
//! [`command_table!`] is the one list: it makes the invoke handler, the
//! names (compared with `build.rs`'s list by a test) and the TypeScript
//! `Commands` map.

pub mod devices;
pub mod files;
pub mod messages;
pub mod rooms;
pub mod session;
pub mod settings;

/// One command as the UI sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Its name (`invoke(name, ...)`).
    pub name: &'static str,
    /// The TypeScript type of `args` (`null`: none).
    pub args: String,
    /// The TypeScript type of its result.
    pub result: String,
    /// Channels passed next to `args`: (key, TypeScript type).
    pub channels: Vec<(&'static str, String)>,
}

macro_rules! command_table {
    ($( $module:ident :: $name:ident ( $args:ty $(; $key:literal : $chan:ty)? ) -> $result:ty ;)*) => {
        /// The names of every command, in table order.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];

        /// The invoke handler for every command.
        pub fn handler<R: tauri::Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
            tauri::generate_handler![$($module::$name),*]
        }

        /// The table, with TypeScript types.
        pub fn table(cfg: &ts_rs::Config) -> Vec<Entry> {
            vec![$(Entry {
                name: stringify!($name),
                args: <$args as ts_rs::TS>::name(cfg),
                result: <$result as ts_rs::TS>::name(cfg),
                channels: vec![$(($key, format!("Channel<{}>", <$chan as ts_rs::TS>::name(cfg))))?],
            }),*]
        }
    };
}

use crate::events::{AlertView, UiEvent};
use crate::views::MessageView;
use devices::*;
use files::*;
use messages::*;
use rooms::*;
use session::*;
use settings::*;

command_table! {
    session::app_state(()) -> AppState;
    session::inspect_invitation(InspectInvitationArgs) -> InvitationInfo;
    session::enroll(EnrollArgs; "onProgress": EnrollStep) -> ProfileSummary;
    session::unlock(UnlockArgs) -> ();
    session::lock(()) -> ();
    session::events((); "channel": UiEvent) -> ();
    session::report_activity(()) -> ();
    session::status(()) -> StatusView;
    rooms::room_summaries(()) -> Vec<RoomSummary>;
    rooms::room_details(RoomDetailsArgs) -> RoomDetails;
    rooms::directory(()) -> Vec<Contact>;
    rooms::create_group(CreateGroupArgs) -> String;
    rooms::open_direct(OpenDirectArgs) -> String;
    rooms::add_member(AddMemberArgs) -> ();
    rooms::remove_member(RemoveMemberArgs) -> ();
    rooms::rename_room(RenameRoomArgs) -> ();
    rooms::set_retention(SetRetentionArgs) -> ();
    rooms::set_classification(SetClassificationArgs) -> ();
    messages::messages_before(MessagesBeforeArgs) -> Vec<MessageView>;
    messages::messages_around(MessagesAroundArgs) -> Vec<MessageView>;
    messages::send_text(SendTextArgs) -> MessageView;
    messages::edit_message(EditMessageArgs) -> ();
    messages::delete_message(DeleteMessageArgs) -> ();
    messages::react(ReactArgs) -> ();
    messages::mark_read(MarkReadArgs) -> ();
    messages::retry(RetryArgs) -> ();
    messages::search(SearchArgs) -> Vec<SearchHit>;
    files::send_file(SendFileArgs) -> Option<MessageView>;
    files::send_file_bytes(SendFileBytesArgs) -> MessageView;
    files::cancel_transfer(CancelTransferArgs) -> bool;
    files::save_attachment(SaveAttachmentArgs) -> Option<String>;
    files::max_file_size(()) -> u64;
    devices::devices(DevicesArgs) -> Vec<DeviceView>;
    devices::start_verification(StartVerificationArgs) -> String;
    devices::accept_verification(AcceptVerificationArgs) -> ();
    devices::confirm_verification(ConfirmVerificationArgs) -> ();
    devices::cancel_verification(CancelVerificationArgs) -> ();
    devices::verifications(()) -> Vec<VerificationView>;
    devices::export_device(()) -> Option<DeviceExport>;
    settings::settings(()) -> Settings;
    settings::set_settings(SetSettingsArgs) -> ();
    settings::alerts(()) -> Vec<AlertView>;
    settings::dismiss_alert(DismissAlertArgs) -> ();
}

use crate::events::VerificationView;
