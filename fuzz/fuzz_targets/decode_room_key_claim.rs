#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::to_device::RoomKeyClaim;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<RoomKeyClaim>(data));
