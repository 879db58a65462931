#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::frames::AuthProof;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<AuthProof>(data));
