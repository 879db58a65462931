//! Alerts kept until the user dismisses them: every [`Alert`] the engine
//! emits is also written to the store (the newest
//! [`belfry_store::MAX_ALERTS`]), so a front end that starts later, or
//! was not listening, still lists it.

use super::{Alert, Engine, Event, de, now, ser};
use crate::error::{ClientError, Result};
use belfry_protocol::cert::Timestamp;
use belfry_store::Store as _;

/// An alert as kept in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAlert {
    /// Its id (grows; never reused).
    pub id: u64,
    /// When it was raised (this device's clock).
    pub at: Timestamp,
    /// What it says.
    pub alert: Alert,
}

impl Engine {
    /// Writes `alert` to the store off the caller's task, then announces it
    /// with its id ([`Event::AlertStored`]). A locked engine keeps nothing.
    pub(super) fn keep_alert(&self, alert: Alert) {
        let Ok(bytes) = ser(&alert) else { return };
        let store = self.inner.store.clone();
        let events = self.inner.events.clone();
        let write = move || {
            let at = now();
            match store.put_alert(at, &bytes) {
                Ok(id) => {
                    let _ = events.send(Event::AlertStored(StoredAlert { id, at, alert }));
                }
                Err(e) => tracing::debug!(error = %e, "an alert was not kept"),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(write)),
            Err(_) => write(),
        }
    }

    /// The kept alerts, newest first. One that cannot be read (damaged)
    /// is left out, never in the way of the others.
    pub fn alerts(&self) -> Result<Vec<StoredAlert>> {
        self.unlocked()?;
        Ok(self
            .inner
            .store
            .alerts()?
            .into_iter()
            .filter_map(|(id, at, bytes)| match de(&bytes, "alert") {
                Ok(alert) => Some(StoredAlert { id, at, alert }),
                Err(e) => {
                    tracing::warn!(id, error = %e, "a kept alert cannot be read");
                    None
                }
            })
            .collect())
    }

    /// Dismisses a kept alert (an unknown or already dismissed id is not
    /// an error).
    pub fn dismiss_alert(&self, id: u64) -> Result<()> {
        self.unlocked()?;
        self.inner.store.dismiss_alert(id).map_err(ClientError::from)
    }
}
