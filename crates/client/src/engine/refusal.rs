//! A login the relay refuses because this device was revoked or ordered
//! wiped while it was away (its inbox copy of the statement may be long
//! gone): the relay hands over the signed statements it holds, and each is
//! checked against the org key this device trusts, as on every other path.
//! A refusal without a statement that verifies changes nothing: the device
//! stays enrolled and only reports that the relay refused it.

use super::*;

impl Engine {
    /// Obeys what verifies among `statements`: a revocation of this device
    /// makes it revoked ([`Event::Revoked`], once), a wipe order erases it.
    pub(super) async fn receive_refusal(&self, statements: Vec<Statement>) -> Result<()> {
        let mut st = self.state().await?;
        let st = &mut *st;
        let mut batch = Batch::new();
        let mut events = Vec::new();
        let mut changed = false;
        for statement in statements.iter().take(belfry_protocol::limits::MAX_REFUSAL_STATEMENTS) {
            changed |= self.obey_statement(st, statement, &mut batch, &mut events)?;
        }
        if changed {
            batch.push(value(K_DIRECTORY, ser(&st.dir)?));
        }
        if !batch.0.is_empty() {
            self.commit(batch).await?;
        }
        for e in events {
            self.emit(e);
        }
        Ok(())
    }
}
