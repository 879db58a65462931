#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::to_device::ToDevicePayload;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<ToDevicePayload>(data));
