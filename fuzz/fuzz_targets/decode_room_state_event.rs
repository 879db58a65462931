#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::room::RoomStateEvent;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<RoomStateEvent>(data));
