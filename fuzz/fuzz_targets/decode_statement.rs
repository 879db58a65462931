#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::cert::Statement;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<Statement>(data));
