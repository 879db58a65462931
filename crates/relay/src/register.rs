//! Operator commands that take IT's files: `belfry-relay register` (the
//! registration files `belfry-admin invite` writes, so a device can enroll
//! from the matching invitation once) and `belfry-relay statement` (the
//! revocations and wipe orders `belfry-admin revoke` and `wipe` write, for
//! every device). Each file is checked against the org key first.

use crate::admission;
use crate::config::{Config, Paths};
use crate::error::{RelayError, Result};
use crate::server::now_ms;
use crate::session::store_signed;
use crate::storage::{NewInvitation, OpError, SqliteStorage, Storage};
use belfry_protocol::armor::{INVITATION_LABEL, REGISTRATION_LABEL, STATEMENT_LABEL, dearmor};
use belfry_protocol::frames::InboxItem;
use belfry_protocol::{Registration, Statement, Wire as _};
use sha2::Digest as _;
use std::path::Path;

/// The relay's org key and storage, for an operator command.
fn open(dir: &Path) -> Result<(belfry_protocol::Ed25519Public, SqliteStorage)> {
    let paths = Paths::new(dir);
    let config = Config::load(dir)?;
    let org = config.org_key().map_err(|reason| RelayError::Config { path: paths.config(), reason })?;
    Ok((org, SqliteStorage::open(&paths.database())?))
}

/// One registered invitation, for the report.
#[derive(Debug, Clone)]
pub struct Registered {
    /// Invitation id.
    pub invitation: String,
    /// For whom.
    pub user: String,
}

/// Registers each file; stops at the first that is refused (those before
/// it stay registered: registering again is harmless).
pub async fn register(dir: &Path, files: &[std::path::PathBuf]) -> Result<Vec<Registered>> {
    let (org, storage) = open(dir)?;
    let mut done = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| RelayError::Read { path: file.clone(), source })?;
        let bad = |reason: String| RelayError::Config { path: file.clone(), reason };
        if dearmor(INVITATION_LABEL, &text).is_ok() {
            return Err(bad(
                "this is the user's invitation, which holds a secret: give the relay the .belfry-registration \
                 file written next to it"
                    .into(),
            ));
        }
        let bytes = dearmor(REGISTRATION_LABEL, &text).map_err(|e| bad(e.to_string()))?;
        let registration = Registration::decode(&bytes).map_err(|e| bad(e.to_string()))?;
        let cert = admission::invitation(&org, &registration.enrollment).map_err(|e| bad(e.message))?;
        let inv = NewInvitation {
            id: cert.invitation,
            user: cert.user.clone(),
            enrollment_key: cert.enrollment_key,
            expires_at: cert.expires_at.0,
            cert: store_signed(&registration.enrollment),
        };
        storage.register_invitation(inv, now_ms()).await.map_err(|e| match e {
            OpError::Refused(p) => bad(p.message),
            OpError::Failed(e) => e,
        })?;
        done.push(Registered { invitation: cert.invitation.to_string(), user: cert.user.to_string() });
    }
    Ok(done)
}

/// One distributed statement, for the report.
#[derive(Debug, Clone)]
pub struct Distributed {
    /// Whom it concerns (a user, or every device for an invitation).
    pub concerns: String,
    /// False if the relay had it already.
    pub new: bool,
}

/// Stores each org-signed statement file and delivers it to every device.
/// Devices connected to a running relay receive it within a minute (the
/// relay polls inboxes alongside its keep-alive pings).
pub async fn statements(dir: &Path, files: &[std::path::PathBuf]) -> Result<Vec<Distributed>> {
    let (org, storage) = open(dir)?;
    let mut done = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).map_err(|source| RelayError::Read { path: file.clone(), source })?;
        let bad = |reason: String| RelayError::Config { path: file.clone(), reason };
        let bytes = dearmor(STATEMENT_LABEL, &text).map_err(|e| bad(e.to_string()))?;
        let statement = Statement::decode(&bytes).map_err(|e| bad(e.to_string()))?;
        let scope = admission::statement(&org, &statement).map_err(|e| bad(e.message))?;
        if scope.signed_by_device.is_some() {
            return Err(bad("only statements signed by the organisation are taken from files".into()));
        }
        let st = crate::storage::NewStatement {
            user: scope.user.clone(),
            device: scope.device.clone(),
            revokes: scope.revokes,
            enrollment_key: scope.enrollment_key,
            hash: sha2::Sha256::digest(&bytes).into(),
            statement: bytes,
            item: belfry_protocol::codec::encode(&InboxItem::Statement(statement)),
        };
        let outcome = storage.publish_statement(st, now_ms()).await.map_err(|e| match e {
            OpError::Refused(p) => bad(p.message),
            OpError::Failed(e) => e,
        })?;
        done.push(Distributed {
            concerns: scope.user.map_or_else(|| "every device (an invitation)".into(), |u| u.to_string()),
            new: matches!(outcome, crate::storage::Published::Stored(_)),
        });
    }
    Ok(done)
}
