#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::room::RoomPayload;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<RoomPayload>(data));
