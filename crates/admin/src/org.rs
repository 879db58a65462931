//! The organisation directory and its `org.json`:
//!
//! ```text
//! <dir>/org.json          name, public key, creation time, sealed secret key
//! <dir>/issued.log        one JSON line per invitation issued
//! <dir>/invitations/      invitation files (secret: they travel like passwords)
//! <dir>/statements/       signed revocations and wipe orders for the relay
//! ```

use crate::error::{AdminError, Result};
use crate::files;
use belfry_crypto::OrgKey;
use belfry_crypto::seal::{self, KdfCost, SealError, SealedKey};
use belfry_protocol::{DisplayName, Ed25519Public, Timestamp};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// File name of the org file inside the directory.
pub const ORG_FILE: &str = "org.json";
/// Value of the `format` field.
const FORMAT: &str = "belfry-org";
/// The org file version this build writes and reads.
const VERSION: u32 = 1;

/// `org.json` as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrgFile {
    format: String,
    version: u32,
    name: Option<String>,
    /// Unpadded standard base64.
    public_key: String,
    /// Milliseconds since the Unix epoch.
    created_at: u64,
    secret_key: SealedKey,
}

/// Just enough of the file to tell a foreign or newer file from a damaged one.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

/// An organisation directory with a readable `org.json`. The secret key
/// stays sealed until [`Org::unlock`].
#[derive(Debug)]
pub struct Org {
    dir: PathBuf,
    name: Option<String>,
    public: Ed25519Public,
    created_at: Timestamp,
    sealed: SealedKey,
}

impl Org {
    /// Creates `dir` (mode 0700) and a new org key sealed under `passphrase`.
    /// Refuses if `dir/org.json` exists.
    pub fn create(
        dir: &Path,
        name: Option<DisplayName>,
        passphrase: &str,
        cost: KdfCost,
        now: Timestamp,
    ) -> Result<Self> {
        let path = dir.join(ORG_FILE);
        if path.exists() {
            return Err(AdminError::OrgExists { path });
        }
        files::create_private_dir(dir)?;
        let key = OrgKey::generate();
        let public = key.public();
        let sealed =
            seal::seal(&key.secret_bytes(), passphrase.as_bytes(), cost, public.as_bytes()).map_err(|e| match e {
                SealError::Kdf(reason) | SealError::Corrupt(reason) => AdminError::Kdf(reason),
                SealError::WrongKey | SealError::Encrypt => AdminError::Encrypt,
            })?;
        let org = Self { dir: dir.to_owned(), name: name.map(String::from), public, created_at: now, sealed };
        let file = OrgFile {
            format: FORMAT.into(),
            version: VERSION,
            name: org.name.clone(),
            public_key: public.to_base64(),
            created_at: now.0,
            secret_key: org.sealed.clone(),
        };
        let mut json = serde_json::to_string_pretty(&file)
            .map_err(|e| AdminError::OrgCorrupt { path: path.clone(), reason: e.to_string() })?;
        json.push('\n');
        files::write_new(&path, json.as_bytes(), files::SECRET_MODE).map_err(|e| match e {
            AdminError::OutExists { path } => AdminError::OrgExists { path },
            other => other,
        })?;
        Ok(org)
    }

    /// Reads `dir/org.json`.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(ORG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(AdminError::NoOrg { dir: dir.to_owned() });
            }
            Err(source) => return Err(AdminError::Io { action: "read", path, source }),
        };
        let corrupt = |reason: String| AdminError::OrgCorrupt { path: path.clone(), reason };
        let header: Header = serde_json::from_str(&text).map_err(|e| corrupt(format!("not valid JSON ({e})")))?;
        if header.format.as_deref() != Some(FORMAT) {
            return Err(corrupt(format!("not a belfry-admin organisation file (\"format\" is not \"{FORMAT}\")")));
        }
        match header.version {
            Some(v) if v == u64::from(VERSION) => {}
            Some(v) => {
                return Err(corrupt(format!(
                    "format version {v} is not supported (this belfry-admin reads version {VERSION})"
                )));
            }
            None => return Err(corrupt("the \"version\" field is missing".into())),
        }
        let file: OrgFile = serde_json::from_str(&text).map_err(|e| corrupt(e.to_string()))?;
        let public = Ed25519Public::from_base64(&file.public_key)
            .ok_or_else(|| corrupt("\"public_key\" is not a base64 Ed25519 public key".into()))?;
        Ok(Self {
            dir: dir.to_owned(),
            name: file.name,
            public,
            created_at: Timestamp(file.created_at),
            sealed: file.secret_key,
        })
    }

    /// Decrypts the org key.
    pub fn unlock(&self, passphrase: &str) -> Result<OrgKey> {
        let path = self.file_path();
        let secret = seal::open(&self.sealed, passphrase.as_bytes(), self.public.as_bytes()).map_err(|e| match e {
            SealError::WrongKey => AdminError::WrongPassphrase { path: path.clone() },
            SealError::Corrupt(reason) => AdminError::OrgCorrupt { path: path.clone(), reason },
            SealError::Kdf(reason) => AdminError::Kdf(reason),
            SealError::Encrypt => AdminError::Encrypt,
        })?;
        let key = OrgKey::from_secret_bytes(&secret);
        if key.public() != self.public {
            // Cannot happen unless the file was crafted: the public key is
            // the associated data of the ciphertext.
            return Err(AdminError::OrgCorrupt {
                path,
                reason: "the decrypted secret key does not belong to the stored public key".into(),
            });
        }
        Ok(key)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `dir/org.json`.
    pub fn file_path(&self) -> PathBuf {
        self.dir.join(ORG_FILE)
    }

    /// The organisation's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The org root public key.
    pub fn public(&self) -> Ed25519Public {
        self.public
    }

    /// When `org init` ran.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// The Argon2 cost the secret key is sealed with.
    pub fn kdf_cost(&self) -> KdfCost {
        self.sealed.kdf.cost()
    }

    /// `dir/issued.log`.
    pub fn issued_log(&self) -> PathBuf {
        self.dir.join("issued.log")
    }

    /// `dir/confirmed.log`: one line per device confirmed.
    pub fn confirmed_log(&self) -> PathBuf {
        self.dir.join("confirmed.log")
    }

    /// `dir/invitations`.
    pub fn invitations_dir(&self) -> PathBuf {
        self.dir.join("invitations")
    }

    /// `dir/statements`.
    pub fn statements_dir(&self) -> PathBuf {
        self.dir.join("statements")
    }
}
