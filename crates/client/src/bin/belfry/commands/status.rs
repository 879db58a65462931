//! `belfry status`: this device, its relay, and what protects its data.

use super::Ctx;
use belfry_client::hardening::Swap;

pub async fn run(ctx: &mut Ctx<'_>, passphrase_mode: bool) -> anyhow::Result<()> {
    let (user, device) = (ctx.engine.user().await?, ctx.engine.device_id().await?);
    let h = belfry_client::hardening::hardening();
    let (key, key_text) = if passphrase_mode {
        ("passphrase", "wrapped by a passphrase (Argon2id)")
    } else {
        ("keychain", "in the OS keychain")
    };
    let memory = match h.memory {
        belfry_store::MemoryProtection::WipeOnFree => "wiped when SQLite frees it",
        belfry_store::MemoryProtection::CipherMemorySecurity => {
            "wiped when SQLite frees it (SQLCipher cipher_memory_security)"
        }
    };
    let process = if h.not_dumpable {
        "no core dumps; other programs of this user cannot read its memory"
    } else {
        "NOT protected: core dumps and same-user debuggers are possible"
    };
    let (swap, swap_text) = match belfry_client::hardening::swap() {
        Swap::Off => ("off", "off".to_owned()),
        Swap::Safe => ("safe", "in RAM or encrypted".to_owned()),
        Swap::NotEncrypted(areas) => (
            "not_encrypted",
            format!(
                "NOT ENCRYPTED ({}): decrypted messages in memory may be written there; ask IT to \
                 encrypt swap or turn it off",
                areas.join(", ")
            ),
        ),
        Swap::Unknown => ("unknown", "not known on this system".to_owned()),
    };
    if ctx.json {
        println!(
            "{}",
            serde_json::json!({
                "swap": swap,
                "user": user.as_str(),
                "device": device.as_str(),
                "relay": ctx.engine.relay_url(),
                "online": ctx.online,
                "store_key": key,
                "memory_protection": format!("{:?}", h.memory),
                "not_dumpable": h.not_dumpable,
            })
        );
    } else {
        println!("device:   {user}/{device}");
        println!("relay:    {} ({})", ctx.engine.relay_url(), if ctx.online { "online" } else { "offline" });
        println!("store:    SQLCipher, key {key_text}");
        println!("memory:   {memory}; Belfry's own heap is wiped when freed too");
        println!("process:  {process}");
        println!("swap:     {swap_text}");
    }
    Ok(())
}
