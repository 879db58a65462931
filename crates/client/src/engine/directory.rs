//! Statements (revocations, wipe orders, confirmations) and the device
//! directory: what the relay serves is checked before it is believed.

use super::*;

impl Engine {
    pub(super) fn receive_statement(
        &self,
        st: &mut State,
        statement: &Statement,
        batch: &mut Batch,
        events: &mut Vec<Event>,
    ) -> Result<()> {
        if self.obey_statement(st, statement, batch, events)? {
            batch.push(value(K_DIRECTORY, ser(&st.dir)?));
        }
        Ok(())
    }

    /// Applies an org- or own-device-signed statement, however it arrived
    /// (inbox, Olm or device fetch): `true` if the directory changed. A
    /// device it takes trust from is announced once (a revocation, an
    /// enrollment key revocation, a wipe order: whichever comes first); a
    /// statement that does not verify, once per statement. A wipe order for
    /// this device erases it here and now ([`ClientError::Wiped`]).
    pub(super) fn obey_statement(
        &self,
        st: &mut State,
        statement: &Statement,
        batch: &mut Batch,
        events: &mut Vec<Event>,
    ) -> Result<bool> {
        match self.try_statement(st, statement, events)? {
            Ok(()) => Ok(true),
            Err(e) => {
                self.statement_refused(st, statement, &e, batch, events)?;
                Ok(false)
            }
        }
    }

    /// [`obey_statement`](Self::obey_statement) without announcing a refusal.
    pub(super) fn try_statement(
        &self,
        st: &mut State,
        statement: &Statement,
        events: &mut Vec<Event>,
    ) -> Result<std::result::Result<(), belfry_crypto::TrustError>> {
        let at_stake = trust::trusted_among(&st.dir, &trust::named_devices(&st.dir, statement));
        match st.dir.apply(statement) {
            Ok(effect) => {
                if let StatementEffect::Wipe { user, device } = &effect
                    && user == st.device.user()
                    && device == st.device.device_id()
                {
                    self.erase_self();
                    return Err(ClientError::Wiped);
                }
                self.trust_lost(st, at_stake, events);
                // A device that used a copy of a confirmed invitation.
                if let StatementEffect::EnrollmentConfirmed { refused, .. } = effect {
                    events.extend(
                        refused.into_iter().map(|(user, device)| Event::Alert(Alert::DeviceRevoked { user, device })),
                    );
                }
                Ok(Ok(()))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    /// Obeys a wipe order for this device: stops syncing, closes the store
    /// (its tasks may still hold it; nothing more is written) and erases
    /// the profile: keychain entry or wrapped key first, then the files.
    pub(super) fn erase_self(&self) {
        self.inner.link.stop();
        if let Err(e) = self.inner.store.close() {
            tracing::warn!(error = %e, "closing the store before the wipe failed");
        }
        match self.inner.profile.erase() {
            Ok(()) => self.emit(Event::Wiped),
            Err(e) => {
                tracing::error!(error = %e, "the wipe did not erase everything");
                self.emit(Event::WipeIncomplete(e.to_string()));
            }
        }
    }

    /// Fetches the device lists of `users` and admits what verifies.
    pub(super) async fn refresh_users(&self, users: &[UserId]) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        let entries = self.inner.link.fetch_devices(users).await?;
        self.admit_entries(entries, true).await
    }

    /// Admits what verifies of directory entries the relay served (for
    /// named users or a directory page): nothing in them is believed
    /// without the organisation's chain or a verified statement. Unless
    /// `first_sight` is set, the devices of a user this device knew no
    /// device of are not announced (a directory walk meets every colleague).
    pub(super) async fn admit_entries(
        &self,
        entries: Vec<belfry_protocol::frames::DirectoryEntry>,
        first_sight: bool,
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut st = self.state().await?;
        let st = &mut *st;
        let mut events = Vec::new();
        let mut batch = Batch::new();
        let t = now();
        for entry in entries {
            // Statements come with every fetch: only a device trusted until
            // now makes news, and a refused statement only the first time.
            // A wipe order for this device is obeyed even if its inbox never
            // carried it. One signed by a device of the user that is listed
            // in this same answer is tried again once the devices are in.
            let mut retry = Vec::new();
            for statement in &entry.statements {
                match self.try_statement(st, statement, &mut events)? {
                    Ok(()) => {}
                    Err(_) => retry.push(statement),
                }
            }
            let trusted_before: BTreeSet<DeviceAddress> =
                st.dir.trusted_devices(&entry.user).into_iter().map(address).collect();
            let announce = first_sight || !st.dir.devices_of(&entry.user).is_empty();
            for chain in &entry.devices {
                match st.dir.admit(chain, t) {
                    Ok(Admission::New(d)) => {
                        self.queue_histories(st, &d, &mut batch)?;
                        if announce && d.device != *st.device.device_id() {
                            events.push(Event::Alert(Alert::NewDevice {
                                own: d.user == *st.device.user(),
                                user: d.user.clone(),
                                device: d.device.clone(),
                                name: d.device_name.to_string(),
                            }));
                        }
                    }
                    Ok(Admission::Known(_)) => {}
                    Err(e) => events.push(Event::Alert(Alert::Rejected {
                        detail: format!("a device of {} offered by the relay does not verify: {e}", entry.user),
                    })),
                }
            }
            // A second device under one enrollment key burns the key: the
            // first one is no longer trusted either.
            self.trust_lost(st, trusted_before, &mut events);
            for statement in retry {
                self.obey_statement(st, statement, &mut batch, &mut events)?;
            }
            st.stale.remove(&entry.user);
        }
        batch.push(value(K_DIRECTORY, ser(&st.dir)?));
        let histories = batch.0.len() > 1;
        self.commit(batch).await?;
        for e in events {
            self.emit(e);
        }
        if histories {
            self.kick_flush();
        }
        Ok(())
    }
}
