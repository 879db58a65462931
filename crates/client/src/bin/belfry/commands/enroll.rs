//! `belfry enroll`: this device joins the organisation from its invitation.

use anyhow::{Context as _, anyhow};
use belfry_client::Engine;
use belfry_client::profile::{KeySource, Profile};
use belfry_protocol::armor::{INVITATION_LABEL, dearmor};
use belfry_protocol::{DisplayName, Ed25519Public, Invitation, Wire as _};
use std::path::Path;

pub async fn run(
    profile: Profile,
    source: &KeySource,
    invitation: &Path,
    org_key: &str,
    device_name: &str,
    json: bool,
) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(invitation)
        .with_context(|| format!("cannot read the invitation {}", invitation.display()))?;
    let invitation = Invitation::decode(&dearmor(INVITATION_LABEL, &text)?)?;
    let org = Ed25519Public::from_base64(org_key.trim())
        .ok_or_else(|| anyhow!("--org-key is not an organisation public key (base64)"))?;
    let name = DisplayName::new(device_name).map_err(|e| anyhow!("device name: {e}"))?;
    let engine = Engine::enroll(profile, &invitation, org, name, source).await?;
    let (user, device) = (engine.user().await, engine.device_id().await);
    engine.close();
    if json {
        println!("{}", serde_json::json!({"enrolled": true, "user": user.as_str(), "device": device.as_str()}));
    } else {
        println!("Enrolled {user}/{device} with {}.", engine.relay_url());
    }
    Ok(())
}
