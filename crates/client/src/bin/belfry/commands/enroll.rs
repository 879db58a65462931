//! `belfry enroll`: this device joins the organisation from its invitation,
//! then erases the invitation (it holds the enrollment secret) and leaves
//! its public certificate chain for IT to confirm.

use anyhow::{Context as _, anyhow, bail};
use belfry_client::profile::{KeySource, Profile};
use belfry_client::{Engine, EnrollOptions};
use belfry_protocol::armor::{DEVICE_LABEL, INVITATION_LABEL, armor, dearmor};
use belfry_protocol::{DeviceChain, DeviceId, DisplayName, Ed25519Public, Invitation, UserId, Wire as _};
use std::path::Path;

pub async fn run(
    profile: Profile,
    source: &KeySource,
    passcode: Option<zeroize::Zeroizing<String>>,
    invitation_path: &Path,
    org_key: &str,
    device_name: &str,
    json: bool,
) -> anyhow::Result<()> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(invitation_path)
            .with_context(|| format!("cannot read the invitation {}", invitation_path.display()))?,
    );
    let invitation = Invitation::decode(&dearmor(INVITATION_LABEL, &text)?)?;
    let org = Ed25519Public::from_base64(org_key.trim())
        .ok_or_else(|| anyhow!("--org-key is not an organisation public key (base64)"))?;
    let name = DisplayName::new(device_name).map_err(|e| anyhow!("device name: {e}"))?;
    let options = EnrollOptions { passcode, passcode_cost: super::kdf_cost() };
    let engine = Engine::enroll_with(profile, &invitation, org, name, source, &options).await?;
    let (user, device, chain) = (engine.user().await?, engine.device_id().await?, engine.device_chain().await?);
    engine.close();
    drop(invitation);
    enrolled(json, invitation_path, &user, &device, &chain, engine.relay_url())
}

/// After enrollment: writes the device's certificate chain for IT to
/// confirm (beside the invitation), erases the used invitation and says
/// what happened. Failing to erase it is an error (exit status 1) with
/// what to do, though the device is enrolled.
fn enrolled(
    json: bool,
    invitation: &Path,
    user: &UserId,
    device: &DeviceId,
    chain: &DeviceChain,
    relay: &str,
) -> anyhow::Result<()> {
    let fingerprint = chain.device.peek_unverified().map(|c| c.ed25519.fingerprint()).unwrap_or_default();
    let device_file = invitation.with_file_name(format!("{user}-{device}.belfry-device"));
    let armored = armor(DEVICE_LABEL, &chain.encode());
    let written = std::fs::write(&device_file, &armored).is_ok();
    let erased = belfry_client::secret_file::erase(invitation);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "enrolled": true, "user": user.as_str(), "device": device.as_str(),
                "fingerprint": fingerprint,
                "device_file": written.then(|| device_file.display().to_string()),
                "invitation_erased": erased.is_ok(),
            })
        );
    } else {
        println!("Enrolled {user}/{device} with {relay}.");
        println!("Device key fingerprint: {fingerprint}");
        if written {
            println!("Give IT the file {} to confirm this device", device_file.display());
        } else {
            println!("Give IT this text to confirm this device:\n{armored}");
        }
        println!("(belfry-admin confirm; IT compares the fingerprint above with what it shows).");
    }
    match erased {
        Ok(()) => {
            if !json {
                println!("The invitation {} was erased.", invitation.display());
            }
            Ok(())
        }
        Err(e) => bail!(
            "the device is enrolled, but the invitation could not be erased ({e}). Delete {} yourself now: \
             it holds a secret with which anyone can enroll a device as {user} until it expires",
            invitation.display()
        ),
    }
}
