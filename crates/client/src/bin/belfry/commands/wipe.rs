//! `belfry wipe-self`: erase this device's profile.

use anyhow::bail;
use belfry_client::profile::Profile;

pub fn run(profile: &Profile, yes: bool) -> anyhow::Result<()> {
    if !yes {
        bail!("this erases every message and key of this device for good; run again with --yes");
    }
    profile.erase()?;
    println!("This device's Belfry data is erased.");
    Ok(())
}
