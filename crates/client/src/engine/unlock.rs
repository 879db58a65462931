//! Opening a profile with what the person knows: the passphrase, or in
//! keychain mode the app passcode set at enrollment. Checks and back-off
//! are the profile's ([`Profile::unlock`]); this is the engine's door.

use super::Engine;
use crate::error::Result;
use crate::profile::{Profile, Unlock};
use belfry_store::passphrase::KdfCost;
use std::sync::Arc;

/// Choices made at enrollment besides the key mode.
#[derive(Clone)]
pub struct EnrollOptions {
    /// An app passcode (keychain mode only): opening the profile then
    /// needs it ([`Unlock::Keychain`]). Its Argon2id verifier is kept in
    /// the profile directory, never the passcode.
    pub passcode: Option<zeroize::Zeroizing<String>>,
    /// Argon2id cost of the passcode verifier.
    pub passcode_cost: KdfCost,
}

impl Default for EnrollOptions {
    fn default() -> Self {
        Self { passcode: None, passcode_cost: KdfCost::DEFAULT }
    }
}

impl std::fmt::Debug for EnrollOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrollOptions")
            .field("passcode", &self.passcode.as_ref().map(|_| "<redacted>"))
            .field("passcode_cost", &self.passcode_cost)
            .finish()
    }
}

impl Engine {
    /// Opens an enrolled profile with `unlock`; nothing is processed until
    /// [`start`](Self::start). A wrong secret is
    /// [`crate::ClientError::WrongSecret`], a keychain profile with a
    /// passcode opened without it [`crate::ClientError::PasscodeRequired`],
    /// and after [`crate::profile::FREE_TRIES`] wrong secrets
    /// [`crate::ClientError::TooManyTries`] until the back-off has passed.
    pub async fn unlock_paused(profile: Profile, unlock: &Unlock) -> Result<Self> {
        let store = Arc::new(profile.unlock(unlock)?);
        Self::from_store(profile, store).await
    }

    /// [`unlock_paused`](Self::unlock_paused), then [`start`](Self::start).
    pub async fn unlock(profile: Profile, unlock: &Unlock) -> Result<Self> {
        let engine = Self::unlock_paused(profile, unlock).await?;
        engine.start().await;
        Ok(engine)
    }
}
