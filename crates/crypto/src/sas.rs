//! Person-to-person verification with a short authentication string
//! (vodozemac's SAS), on top of the org chain.
//!
//! Both devices exchange ephemeral Curve25519 keys over the relay, derive
//! seven emoji from the shared secret and show them; the people compare
//! them out of band. The derivation info names both devices' user, device,
//! Ed25519 key and ephemeral key, so a relay that substitutes any key makes
//! the emoji differ. Each side then sends a MAC of its own Ed25519 key, which
//! the other checks before marking the device verified.
//!
//! Commit, then reveal (as Matrix's `m.key.verification`): the accepting
//! device sends [`commitment`] of its ephemeral key first and reveals the key
//! only after it has the asking device's key, which the asking device checks
//! with [`SasVerification::receive_committed_key`]. Whoever sits between
//! them must fix every key it uses before it sees the honest one it would
//! need to match, so it gets one guess at 42 bits of emoji, not as many as
//! it can compute.

use crate::device::Device;
use crate::error::{CryptoError, Result};
use crate::trust::VerifiedDevice;
use belfry_protocol::{Curve25519Public, DeviceId, Ed25519Public, Hash256, UserId};
use std::fmt;
use vodozemac::Curve25519PublicKey;
use vodozemac::sas::{EstablishedSas, Mac, Sas};

/// The 64 SAS emoji and their English names (Matrix specification table).
pub const EMOJI: [(&str, &str); 64] = [
    ("🐶", "Dog"),
    ("🐱", "Cat"),
    ("🦁", "Lion"),
    ("🐎", "Horse"),
    ("🦄", "Unicorn"),
    ("🐷", "Pig"),
    ("🐘", "Elephant"),
    ("🐰", "Rabbit"),
    ("🐼", "Panda"),
    ("🐓", "Rooster"),
    ("🐧", "Penguin"),
    ("🐢", "Turtle"),
    ("🐟", "Fish"),
    ("🐙", "Octopus"),
    ("🦋", "Butterfly"),
    ("🌷", "Flower"),
    ("🌳", "Tree"),
    ("🌵", "Cactus"),
    ("🍄", "Mushroom"),
    ("🌏", "Globe"),
    ("🌙", "Moon"),
    ("☁️", "Cloud"),
    ("🔥", "Fire"),
    ("🍌", "Banana"),
    ("🍎", "Apple"),
    ("🍓", "Strawberry"),
    ("🌽", "Corn"),
    ("🍕", "Pizza"),
    ("🎂", "Cake"),
    ("❤️", "Heart"),
    ("🙂", "Smiley"),
    ("🤖", "Robot"),
    ("🎩", "Hat"),
    ("👓", "Glasses"),
    ("🔧", "Spanner"),
    ("🎅", "Santa"),
    ("👍", "Thumbs Up"),
    ("☂️", "Umbrella"),
    ("⌛", "Hourglass"),
    ("⏰", "Clock"),
    ("🎁", "Gift"),
    ("💡", "Light Bulb"),
    ("📕", "Book"),
    ("✏️", "Pencil"),
    ("📎", "Paperclip"),
    ("✂️", "Scissors"),
    ("🔒", "Lock"),
    ("🔑", "Key"),
    ("🔨", "Hammer"),
    ("☎️", "Telephone"),
    ("🏁", "Flag"),
    ("🚂", "Train"),
    ("🚲", "Bicycle"),
    ("✈️", "Aeroplane"),
    ("🚀", "Rocket"),
    ("🏆", "Trophy"),
    ("⚽", "Ball"),
    ("🎸", "Guitar"),
    ("🎺", "Trumpet"),
    ("🔔", "Bell"),
    ("⚓", "Anchor"),
    ("🎧", "Headphones"),
    ("📁", "Folder"),
    ("📌", "Pin"),
];

#[derive(Clone)]
struct Party {
    user: UserId,
    device: DeviceId,
    ed25519: Ed25519Public,
}

impl Party {
    fn describe(&self, sas_key: &Curve25519Public) -> String {
        format!("{}|{}|{}|{}", self.user, self.device, self.ed25519.to_base64(), sas_key.to_base64())
    }
}

/// A verification in progress, before the other side's key arrived.
pub struct SasVerification {
    sas: Sas,
    flow: [u8; 16],
    us: Party,
    them: Party,
}

/// A verification whose shared secret is established: show the emoji.
pub struct EstablishedVerification {
    sas: EstablishedSas,
    flow: [u8; 16],
    us: Party,
    them: Party,
    our_key: Curve25519Public,
    their_key: Curve25519Public,
}

/// A device key a person verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SasVerified {
    /// The user.
    pub user: UserId,
    /// The device.
    pub device: DeviceId,
    /// Its Ed25519 key, as verified.
    pub ed25519: Ed25519Public,
}

/// The accepting device's commitment to its ephemeral `key` in `flow`.
pub fn commitment(flow: &[u8; 16], key: &Curve25519Public) -> Hash256 {
    let mut data = [0u8; 48];
    data[..16].copy_from_slice(flow);
    data[16..].copy_from_slice(&key.0);
    Hash256::of("sas-key-commitment", &data)
}

impl SasVerification {
    /// The flow id.
    pub fn flow(&self) -> [u8; 16] {
        self.flow
    }

    /// Our commitment to our ephemeral key, for the accepting device to send
    /// before it reveals the key.
    pub fn commitment(&self) -> Hash256 {
        commitment(&self.flow, &self.public_key())
    }

    /// Starts verifying `them` from `me`. Both sides use the same `flow` id
    /// (chosen by the initiator and sent with its key).
    pub fn start(me: &Device, them: &VerifiedDevice, flow: [u8; 16]) -> Self {
        Self {
            sas: Sas::new(),
            flow,
            us: Party { user: me.user().clone(), device: me.device_id().clone(), ed25519: me.ed25519() },
            them: Party { user: them.user.clone(), device: them.device.clone(), ed25519: them.ed25519 },
        }
    }

    /// Our ephemeral key, to send to the other device.
    pub fn public_key(&self) -> Curve25519Public {
        Curve25519Public(self.sas.public_key().to_bytes())
    }

    /// Takes the accepting device's ephemeral key, which must match the
    /// commitment it sent before it saw ours.
    pub fn receive_committed_key(
        self,
        their_key: &Curve25519Public,
        their_commitment: &Hash256,
    ) -> Result<EstablishedVerification> {
        if commitment(&self.flow, their_key) != *their_commitment {
            return Err(CryptoError::Verification("the other device's key does not match its commitment"));
        }
        self.receive_key(their_key)
    }

    /// Takes the other device's ephemeral key (the accepting device takes
    /// the asking device's this way; the asking device must use
    /// [`Self::receive_committed_key`]).
    pub fn receive_key(self, their_key: &Curve25519Public) -> Result<EstablishedVerification> {
        let our_key = self.public_key();
        let sas = self
            .sas
            .diffie_hellman(Curve25519PublicKey::from_bytes(their_key.0))
            .map_err(|_| CryptoError::Verification("the other device's key is not usable"))?;
        Ok(EstablishedVerification {
            sas,
            flow: self.flow,
            us: self.us,
            them: self.them,
            our_key,
            their_key: *their_key,
        })
    }
}

impl EstablishedVerification {
    fn sas_info(&self) -> String {
        let mut sides = [self.us.describe(&self.our_key), self.them.describe(&self.their_key)];
        sides.sort();
        format!("BELFRY_SAS_V1|{}|{}|{}", hex(&self.flow), sides[0], sides[1])
    }

    fn mac_info(&self, from: &Party, to: &Party) -> String {
        format!("BELFRY_SAS_MAC_V1|{}|{}|{}|{}|{}", hex(&self.flow), from.user, from.device, to.user, to.device)
    }

    /// Seven indices into [`EMOJI`]; both devices show the same ones only if
    /// nobody substituted a key.
    pub fn emoji_indices(&self) -> [u8; 7] {
        self.sas.bytes(&self.sas_info()).emoji_indices()
    }

    /// The seven emoji with their names.
    pub fn emoji(&self) -> Vec<(&'static str, &'static str)> {
        self.emoji_indices().iter().filter_map(|i| EMOJI.get(usize::from(*i)).copied()).collect()
    }

    /// Three four-digit numbers, for people who prefer digits.
    pub fn decimals(&self) -> (u16, u16, u16) {
        self.sas.bytes(&self.sas_info()).decimals()
    }

    /// After the person confirmed the emoji match: the MAC of our Ed25519
    /// key to send to the other device.
    pub fn confirm(&self) -> Vec<u8> {
        self.sas.calculate_mac(&self.us.ed25519.to_base64(), &self.mac_info(&self.us, &self.them)).as_bytes().to_vec()
    }

    /// Checks the other device's MAC over the Ed25519 key we expect it to
    /// have. Success means the person verified exactly that key.
    pub fn verify_their_mac(&self, mac: &[u8]) -> Result<SasVerified> {
        self.sas
            .verify_mac(&self.them.ed25519.to_base64(), &self.mac_info(&self.them, &self.us), &Mac::from_slice(mac))
            .map_err(|_| CryptoError::Verification("the other device's key does not match what was verified"))?;
        Ok(SasVerified { user: self.them.user.clone(), device: self.them.device.clone(), ed25519: self.them.ed25519 })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl fmt::Debug for SasVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SasVerification").field("them", &self.them.device).finish_non_exhaustive()
    }
}

impl fmt::Debug for EstablishedVerification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EstablishedVerification").field("them", &self.them.device).finish_non_exhaustive()
    }
}
