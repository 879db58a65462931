#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::cert::DeviceCert;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<DeviceCert>(data));
