#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::frames::ClientFrame;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<ClientFrame>(data));
