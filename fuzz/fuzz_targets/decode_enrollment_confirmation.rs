#![no_main]
#[path = "common.rs"]
mod common;
use belfry_protocol::cert::EnrollmentConfirmation;
libfuzzer_sys::fuzz_target!(|data: &[u8]| common::run::<EnrollmentConfirmation>(data));
