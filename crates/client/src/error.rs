//! What can go wrong, in words a person can act on.

use belfry_protocol::ProtocolError;

/// A client error.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The profile or its settings are unusable.
    #[error("{0}")]
    Config(String),
    /// The relay cannot be reached right now (queued work is retried).
    #[error("offline: {0}")]
    Offline(String),
    /// The relay refused a request.
    #[error("the relay refused: {}", .0.message)]
    Refused(ProtocolError),
    /// The relay sent something that does not follow the protocol.
    #[error("the relay misbehaved: {0}")]
    Relay(String),
    /// The local store failed (nothing was half-written).
    #[error("local store: {0}")]
    Store(#[from] belfry_store::StoreError),
    /// Encryption or a trust check failed.
    #[error("{0}")]
    Crypto(#[from] belfry_crypto::CryptoError),
    /// A device's certificate chain or a statement did not check out.
    #[error("{0}")]
    Trust(#[from] belfry_crypto::TrustError),
    /// A room state change was refused.
    #[error("room state: {0}")]
    State(#[from] belfry_crypto::StateError),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request itself is invalid.
    #[error("{0}")]
    Input(String),
    /// A file could not be sent or fetched.
    #[error(transparent)]
    File(#[from] crate::engine::FileError),
    /// This device was wiped by order of the organisation.
    #[error("this device was wiped by order of the organisation; its data is gone")]
    Wiped,
    /// A wipe could not erase everything: the store key may survive. The
    /// wipe is finished the next time the profile is opened.
    #[error(
        "THE WIPE DID NOT COMPLETE: {0}. The store key may survive; Belfry finishes the wipe the next time this \
         profile is opened"
    )]
    WipeIncomplete(String),
    /// A profile was opened before the host called
    /// [`crate::hardening::harden_process`] (a bug in the host).
    #[error(
        "this program opened a Belfry profile before hardening the process (harden_process at the start of main); \
         nothing was opened"
    )]
    NotHardened,
    /// The device is locked: its keys left memory. Open the profile again
    /// to unlock.
    #[error("this device is locked; unlock it (open the profile again) to continue")]
    Locked,
    /// The passphrase or app passcode given is wrong (counted: see
    /// [`crate::profile::FREE_TRIES`]).
    #[error("wrong passphrase or passcode")]
    WrongSecret,
    /// Too many wrong passphrases or passcodes: nothing is tried until
    /// `retry_after` has passed.
    #[error("too many wrong tries; try again in {} s", .retry_after.as_secs().max(1))]
    TooManyTries {
        /// How long to wait.
        retry_after: std::time::Duration,
    },
    /// This profile has an app passcode: give it to open the profile.
    #[error("this profile is protected by an app passcode: give it to unlock")]
    PasscodeRequired,
}

/// Result alias.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
