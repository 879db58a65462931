//! The one error every command returns: a stable code the UI translates,
//! and a detail for people (shown small). The UI never parses the detail.

use belfry_client::{ClientError, FileError};
use belfry_protocol::frames::ErrorCode as RelayCode;
use belfry_store::StoreError;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// What went wrong, as a code the UI translates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "camelCase")]
pub enum ErrorCode {
    /// The request itself is invalid (an id, a size, a length).
    InvalidInput,
    /// The app is locked: unlock first.
    Locked,
    /// The passphrase or passcode is wrong.
    WrongSecret,
    /// Too many wrong secrets: wait before trying again.
    TooManyTries,
    /// No device is enrolled in this profile.
    NotEnrolled,
    /// A device is enrolled here already.
    AlreadyEnrolled,
    /// The invitation has expired.
    InvitationExpired,
    /// The invitation was used, revoked or is unknown to the relay.
    InvitationRevoked,
    /// The invitation is not from the organisation this app trusts.
    InvitationOtherOrg,
    /// The text is not an invitation (or its signature does not verify).
    InvitationMalformed,
    /// The relay could not be reached.
    RelayUnreachable,
    /// The relay's certificate is not the one the invitation names.
    CertificateMismatch,
    /// Not allowed (not an admin, a revoked device).
    Forbidden,
    /// Something named does not exist.
    NotFound,
    /// Too large (a file over the limit).
    TooLarge,
    /// The destination exists; it is never overwritten.
    FileExists,
    /// The relay is not reachable now; queued work is retried.
    Offline,
    /// This device was wiped by order of the organisation.
    Wiped,
    /// This device was revoked.
    Revoked,
    /// Anything else (the detail says what).
    Internal,
}

/// A failed command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS, thiserror::Error)]
#[serde(rename_all = "camelCase")]
#[error("{code:?}: {}", detail.as_deref().unwrap_or("-"))]
pub struct UiError {
    /// What went wrong.
    pub code: ErrorCode,
    /// For people, shown small; never parsed.
    pub detail: Option<String>,
}

impl UiError {
    /// An error with a detail.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self { code, detail: Some(detail.into()) }
    }

    /// `invalidInput` with what is wrong.
    pub fn input(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, detail)
    }

    /// `locked`.
    pub fn locked() -> Self {
        Self { code: ErrorCode::Locked, detail: None }
    }

    /// `internal` with a detail.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, detail)
    }
}

/// Result of a command.
pub type UiResult<T> = Result<T, UiError>;

fn relay_code(code: RelayCode) -> ErrorCode {
    match code {
        RelayCode::Forbidden | RelayCode::BadSignature | RelayCode::Unauthenticated => ErrorCode::Forbidden,
        RelayCode::NotFound => ErrorCode::NotFound,
        RelayCode::InvitationUsed => ErrorCode::InvitationRevoked,
        RelayCode::InvitationExpired => ErrorCode::InvitationExpired,
        RelayCode::BlobTooLarge | RelayCode::QuotaExceeded | RelayCode::FrameTooLarge => ErrorCode::TooLarge,
        RelayCode::Unavailable | RelayCode::TooManyConnections | RelayCode::IdleTimeout => ErrorCode::Offline,
        _ => ErrorCode::Internal,
    }
}

impl From<ClientError> for UiError {
    fn from(e: ClientError) -> Self {
        let detail = e.to_string();
        let code = match &e {
            ClientError::Locked => ErrorCode::Locked,
            ClientError::NotFound(_) => ErrorCode::NotFound,
            ClientError::Input(_) => ErrorCode::InvalidInput,
            ClientError::Offline(_) => ErrorCode::Offline,
            ClientError::Refused(p) => relay_code(p.code),
            ClientError::Wiped | ClientError::WipeIncomplete(_) => ErrorCode::Wiped,
            ClientError::Store(StoreError::WrongPassphrase | StoreError::WrongKey { .. })
            | ClientError::WrongSecret
            | ClientError::PasscodeRequired => ErrorCode::WrongSecret,
            ClientError::TooManyTries { .. } => ErrorCode::TooManyTries,
            ClientError::State(_) => ErrorCode::Forbidden,
            ClientError::File(f) => match f {
                FileError::DestinationExists(_) => ErrorCode::FileExists,
                FileError::TooLarge { .. }
                | FileError::QuotaExceeded(_)
                | FileError::Oversized { .. }
                | FileError::PreviewTooLarge(_) => ErrorCode::TooLarge,
                FileError::NoAttachment(_) => ErrorCode::NotFound,
                FileError::Read { .. } | FileError::NotAFile(_) | FileError::UnsafeName(_) => ErrorCode::InvalidInput,
                _ => ErrorCode::Internal,
            },
            _ => ErrorCode::Internal,
        };
        Self { code, detail: Some(detail) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialises_as_the_contract_says() {
        let e = UiError::input("room: bad id");
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({ "code": "invalidInput", "detail": "room: bad id" })
        );
        let locked = serde_json::to_value(UiError::locked()).unwrap();
        assert_eq!(locked, serde_json::json!({ "code": "locked", "detail": null }));
    }

    #[test]
    fn engine_errors_keep_their_meaning() {
        assert_eq!(UiError::from(ClientError::Locked).code, ErrorCode::Locked);
        assert_eq!(UiError::from(ClientError::Store(StoreError::WrongPassphrase)).code, ErrorCode::WrongSecret);
        let exists = ClientError::File(FileError::DestinationExists("/tmp/x".into()));
        assert_eq!(UiError::from(exists).code, ErrorCode::FileExists);
    }
}
