//! `belfry devices`: a person's devices, and which were verified in person.

use super::{Ctx, user_id};

pub async fn run(ctx: &mut Ctx<'_>, user: Option<&str>) -> anyhow::Result<()> {
    let user = match user {
        Some(u) => user_id(u)?,
        None => ctx.engine.user().await?,
    };
    for (device, name, sas) in ctx.engine.devices(&user).await? {
        if ctx.json {
            println!(
                "{}",
                serde_json::json!({"user": user.as_str(), "device": device.as_str(), "name": name, "sas_verified": sas})
            );
        } else {
            println!("{user}/{device}  {name}{}", if sas { "  (verified in person)" } else { "" });
        }
    }
    Ok(())
}
