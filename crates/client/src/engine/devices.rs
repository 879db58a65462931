//! People and devices as a front end lists them: the organisation's users
//! this device knows (for "new chat"), every device of a user with its
//! trust (revoked ones too), and this device's own standing.

use super::Engine;
use crate::error::Result;
use belfry_protocol::{DeviceId, UserId};

/// A person of the organisation, as their certificates name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Their user id.
    pub user: UserId,
    /// Their name, as IT wrote it in their invitation.
    pub display_name: String,
}

/// How far a device is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DeviceTrust {
    /// Certified by the organisation and verified in person (SAS).
    Verified,
    /// Certified by the organisation.
    Trusted,
    /// Revoked, ordered wiped, or under a revoked or reused invitation:
    /// nothing is encrypted to it or accepted from it.
    Revoked,
}

/// One device of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceView {
    /// Its id.
    pub device: DeviceId,
    /// Its name, as its owner gave it.
    pub name: String,
    /// Its trust.
    pub trust: DeviceTrust,
    /// One of this user's own devices.
    pub own: bool,
    /// This very device.
    pub current: bool,
}

/// This device's own standing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OwnState {
    /// Revoked by a statement this device verified: it can no longer send
    /// or receive (see [`crate::Event::Revoked`]).
    pub revoked: bool,
    /// Wiped by order (or a wipe is still being finished): its data is gone.
    pub wiped: bool,
}

/// Most pages of the organisation's directory one walk asks for.
pub const MAX_DIRECTORY_PAGES: usize = 50;

impl Engine {
    /// The organisation's users this device knows of (from the
    /// certificates of their devices, this user included), sorted by name.
    /// A user none of whose devices is trusted any more is left out.
    /// The organisation's directory is first walked on the relay (see
    /// [`Engine::refresh_directory`]); offline, what is known is listed.
    pub async fn directory_users(&self) -> Result<Vec<Contact>> {
        if let Err(e) = self.refresh_directory().await {
            tracing::debug!(error = %e, "directory not refreshed");
        }
        let st = self.state().await?;
        let mut users: Vec<Contact> = st
            .dir
            .users()
            .filter_map(|user| {
                // The newest trusted device names its user.
                let newest = st.dir.trusted_devices(user).into_iter().max_by_key(|d| d.enrolled_at)?;
                Some(Contact { user: user.clone(), display_name: newest.display_name.to_string() })
            })
            .collect();
        users.sort_by(|a, b| (a.display_name.to_lowercase(), &a.user).cmp(&(b.display_name.to_lowercase(), &b.user)));
        Ok(users)
    }

    /// Every device of `user` this device knows, with its trust; revoked
    /// devices are listed as such. The relay is asked for `user`'s current
    /// list first (when it answers). This device first, then by trust and
    /// name.
    pub async fn device_list(&self, user: &UserId) -> Result<Vec<DeviceView>> {
        if let Err(e) = self.refresh_users(std::slice::from_ref(user)).await {
            tracing::debug!(error = %e, "device list not refreshed");
        }
        let st = self.state().await?;
        let (me, mine) = (st.device.user(), st.device.device_id());
        let mut list: Vec<DeviceView> = st
            .dir
            .devices_of(user)
            .into_iter()
            .map(|(d, trusted)| DeviceView {
                device: d.device.clone(),
                name: d.device_name.to_string(),
                trust: match (trusted, d.sas_verified) {
                    (false, _) => DeviceTrust::Revoked,
                    (true, true) => DeviceTrust::Verified,
                    (true, false) => DeviceTrust::Trusted,
                },
                own: d.user == *me,
                current: d.user == *me && d.device == *mine,
            })
            .collect();
        list.sort_by(|a, b| (!a.current, a.trust, &a.name, &a.device).cmp(&(!b.current, b.trust, &b.name, &b.device)));
        Ok(list)
    }

    /// Whether this device was revoked or wiped, so a front end can say so
    /// and stop. Answers after a wipe too (the engine has stopped then).
    pub async fn own_state(&self) -> Result<OwnState> {
        let profile = &self.inner.profile;
        if profile.wipe_pending() || !profile.exists() {
            return Ok(OwnState { revoked: false, wiped: true });
        }
        let st = self.state().await?;
        let revoked = st.dir.trusted(st.device.user(), st.device.device_id()).is_err();
        Ok(OwnState { revoked, wiped: false })
    }

    /// Walks the organisation's directory on the relay, page by page (at
    /// most [`MAX_DIRECTORY_PAGES`]), admitting each page as a device-list
    /// refresh does: only chains the organisation signed and statements
    /// that verify are believed, whatever the relay lists.
    pub async fn refresh_directory(&self) -> Result<()> {
        let mut after: Option<UserId> = None;
        for _ in 0..MAX_DIRECTORY_PAGES {
            let page = self.inner.link.list_directory(after.as_ref()).await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.user.clone());
            self.admit_entries(page, false).await?;
        }
        tracing::debug!("directory walk stopped after {MAX_DIRECTORY_PAGES} pages");
        Ok(())
    }
}
