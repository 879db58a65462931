//! Shared body of every `decode_*` target, included with `#[path]`.
//!
//! A target feeds the fuzzer's bytes to one decoder. Decoding must never
//! panic; when it succeeds, the value must survive a round trip
//! (`decode(encode(v)) == v`, and re-encoding gives the same bytes), and the
//! bodies of nested `Signed<...>` values are peeked and round-tripped too.

use belfry_protocol::cert::{
    DeviceCert, DeviceChain, EnrollmentCert, EnrollmentConfirmation, Invitation, Prekey, Revocation, Statement,
    WipeOrder,
};
use belfry_protocol::frames::{AuthProof, ClientFrame, InboxItem, Request, Response, ServerFrame};
use belfry_protocol::room::{RoomContent, RoomMessage, RoomPayload, RoomStateEvent};
use belfry_protocol::to_device::{RoomKeyClaim, ToDeviceContent, ToDeviceEnvelope, ToDevicePayload};
use belfry_protocol::{Signed, SignedBody, Wire};
use std::fmt::Debug;

/// Decodes `data` as `T`; on success checks the round trip and nested bodies.
pub fn run<T: Target>(data: &[u8]) {
    if let Ok(value) = T::decode(data) {
        round_trip(&value);
        value.peek_nested();
    }
}

/// A decodable type, with a walk over the `Signed<...>` values it holds.
pub trait Target: Wire + PartialEq + Debug {
    /// Peeks (without verifying) every nested signed body that decodes.
    fn peek_nested(&self) {}
}

fn round_trip<T: Wire + PartialEq + Debug>(value: &T) {
    let bytes = value.encode();
    let again = match T::decode(&bytes) {
        Ok(again) => again,
        Err(e) => panic!("{}: re-encoded value does not decode: {e}\n{value:?}", T::NAME),
    };
    assert_eq!(&again, value, "{}: decode(encode(v)) != v", T::NAME);
    assert_eq!(again.encode(), bytes, "{}: re-encoding is not stable", T::NAME);
}

fn peek<T: SignedBody + PartialEq + Debug>(signed: &Signed<T>) {
    // The signed body is arbitrary bytes here, so it may well not decode.
    if let Ok(body) = signed.peek_unverified() {
        round_trip(&body);
    }
}

impl Target for EnrollmentCert {}
impl Target for DeviceCert {}
impl Target for Prekey {}
impl Target for Revocation {}
impl Target for WipeOrder {}
impl Target for EnrollmentConfirmation {}
impl Target for RoomStateEvent {}
impl Target for RoomMessage {}
impl Target for ToDeviceEnvelope {}
impl Target for AuthProof {}
impl Target for RoomKeyClaim {}

impl Target for Invitation {
    fn peek_nested(&self) {
        peek(&self.enrollment);
    }
}

impl Target for DeviceChain {
    fn peek_nested(&self) {
        peek(&self.enrollment);
        peek(&self.device);
    }
}

impl Target for Statement {
    fn peek_nested(&self) {
        match self {
            Statement::Revocation(s) => peek(s),
            Statement::Wipe(s) => peek(s),
            Statement::Confirmation(s) => peek(s),
        }
    }
}

impl Target for RoomPayload {
    fn peek_nested(&self) {
        if let RoomContent::State(s) = &self.content {
            peek(s);
        }
    }
}

impl Target for ToDevicePayload {
    fn peek_nested(&self) {
        match &self.content {
            ToDeviceContent::Statement(s) => s.peek_nested(),
            ToDeviceContent::RoomKey(k) => peek(&k.claim),
            ToDeviceContent::ForwardedRoomKey(k) => peek(&k.claim),
            _ => {}
        }
    }
}

impl Target for ClientFrame {
    fn peek_nested(&self) {
        match &self.request {
            Request::Authenticate(s) => peek(s),
            Request::RegisterInvitation(s) => peek(s),
            Request::Enroll(chain) => chain.peek_nested(),
            Request::UploadPrekeys { one_time, fallback } => {
                one_time.iter().chain(fallback).for_each(peek);
            }
            Request::PublishStatement(s) => s.peek_nested(),
            _ => {}
        }
    }
}

impl Target for ServerFrame {
    fn peek_nested(&self) {
        match self {
            ServerFrame::Response { result: Ok(Response::Prekeys(claimed)), .. } => {
                claimed.iter().filter_map(|c| c.prekey.as_ref()).for_each(peek);
            }
            ServerFrame::Response { result: Ok(Response::Devices(entries)), .. } => {
                for entry in entries {
                    entry.devices.iter().for_each(Target::peek_nested);
                    entry.statements.iter().for_each(Target::peek_nested);
                }
            }
            ServerFrame::Inbox(entries) => {
                for entry in entries {
                    if let InboxItem::Statement(s) = &entry.item {
                        s.peek_nested();
                    }
                }
            }
            _ => {}
        }
    }
}
