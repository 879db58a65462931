//! `belfry verify`: compare seven emoji with another device, in person.

use super::{Ctx, settle, user_id};
use crate::output::print_alert;
use anyhow::{anyhow, bail};
use belfry_client::{Engine, Event, VerificationState, VerificationView, describe_cancel};
use belfry_protocol::{DeviceId, FlowId, UserId};
use std::time::Duration;
use tokio::sync::broadcast::{self, error::RecvError};

pub async fn run(
    ctx: &mut Ctx<'_>,
    user: Option<&str>,
    device: Option<&str>,
    yes: bool,
    wait: Duration,
) -> anyhow::Result<()> {
    if !ctx.online {
        bail!("verification needs the relay, and this device is offline");
    }
    let verify = Verify { engine: ctx.engine, json: ctx.json, yes, deadline: tokio::time::Instant::now() + wait };
    verify.run(&mut ctx.events, user, device).await?;
    settle(ctx).await;
    Ok(())
}

struct Verify<'a> {
    engine: &'a Engine,
    json: bool,
    yes: bool,
    deadline: tokio::time::Instant,
}

impl Verify<'_> {
    async fn run(
        &self,
        events: &mut broadcast::Receiver<Event>,
        user: Option<&str>,
        device: Option<&str>,
    ) -> anyhow::Result<()> {
        let engine = self.engine;
        let flow = match user {
            Some(user) => self.start(user, device).await?,
            None => {
                let (flow, user, device) = self.incoming(events).await?;
                if !self.yes && !ask(format!("{user}/{device} asks to verify this device. Accept? [y/N] ")).await {
                    engine.cancel_verification(flow).await?;
                    bail!("verification declined");
                }
                engine.accept_verification(flow).await?;
                if self.json {
                    println!(
                        "{}",
                        serde_json::json!({"verification": flow.to_string(), "state": "accepted", "user": user.as_str(), "device": device.as_str()})
                    );
                } else {
                    println!("Verifying with {user}/{device}.");
                }
                flow
            }
        };
        loop {
            let state = self.next_state(events, flow).await;
            let Some(state) = state else {
                let _ = engine.cancel_verification(flow).await;
                bail!("the other side did not answer in time; verification cancelled");
            };
            match state {
                VerificationState::ShowSas { emoji, decimals } => {
                    self.show(flow, &emoji, decimals);
                    if self.yes || ask("Do they match? [y/N] ".into()).await {
                        engine.confirm_sas(flow).await?;
                        if !self.json {
                            println!("Confirmed; waiting for the other side to confirm too.");
                        }
                    } else {
                        engine.cancel_verification(flow).await?;
                        bail!("the emoji do not match: NOT verified (someone may be between the devices; tell IT)");
                    }
                }
                VerificationState::Verified => {
                    if self.json {
                        println!("{}", serde_json::json!({"verification": flow.to_string(), "state": "verified"}));
                    } else {
                        println!("Verified.");
                    }
                    return Ok(());
                }
                VerificationState::Cancelled { reason, by_them } => {
                    let who = if by_them { "the other side" } else { "this device" };
                    bail!("verification cancelled by {who}: {}", describe_cancel(reason));
                }
                VerificationState::Requested | VerificationState::Waiting | VerificationState::Confirmed => {}
            }
        }
    }

    /// Asks the device; returns the flow.
    async fn start(&self, user: &str, device: Option<&str>) -> anyhow::Result<FlowId> {
        let engine = self.engine;
        let user = user_id(user)?;
        let (me, this) = (engine.user().await?, engine.device_id().await?);
        let device = match device {
            Some(d) => DeviceId::new(d).map_err(|e| anyhow!("{d:?} is not a device id: {e}"))?,
            None => {
                let devices: Vec<DeviceId> = engine
                    .devices(&user)
                    .await?
                    .into_iter()
                    .map(|(d, _, _)| d)
                    .filter(|d| !(user == me && *d == this))
                    .collect();
                match devices.as_slice() {
                    [one] => one.clone(),
                    [] => bail!("{user} has no other trusted device to verify"),
                    several => {
                        let names: Vec<&str> = several.iter().map(DeviceId::as_str).collect();
                        bail!("{user} has several devices: name one of {}", names.join(", "))
                    }
                }
            }
        };
        let flow = engine.start_verification(&user, &device).await?;
        if self.json {
            println!(
                "{}",
                serde_json::json!({"verification": flow.to_string(), "state": "waiting", "user": user.as_str(), "device": device.as_str()})
            );
        } else {
            println!("Asked {user}/{device} to verify. On that device, run: belfry verify --incoming");
        }
        Ok(flow)
    }

    /// Waits for a request from another device (one that came while
    /// catching up counts).
    async fn incoming(&self, events: &mut broadcast::Receiver<Event>) -> anyhow::Result<(FlowId, UserId, DeviceId)> {
        let pending = |views: Vec<VerificationView>| {
            views.into_iter().find(|v| !v.we_started && v.state == VerificationState::Requested)
        };
        if let Some(v) = pending(self.engine.verifications().await?) {
            return Ok((v.flow, v.user, v.device));
        }
        if !self.json {
            println!("Waiting for another device to ask for verification...");
        }
        loop {
            match tokio::time::timeout_at(self.deadline, events.recv()).await {
                Ok(Ok(Event::Verification { flow, user, device, state: VerificationState::Requested })) => {
                    return Ok((flow, user, device));
                }
                Ok(Ok(Event::Alert(a))) => print_alert(&a, self.json),
                Ok(Ok(Event::Wiped)) => bail!("this device was wiped by order of your organisation"),
                Ok(Ok(Event::WipeIncomplete(detail))) => {
                    return Err(belfry_client::ClientError::WipeIncomplete(detail).into());
                }
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(_))) => {
                    if let Some(v) = pending(self.engine.verifications().await?) {
                        return Ok((v.flow, v.user, v.device));
                    }
                }
                Ok(Err(_)) => bail!("the engine stopped"),
                Err(_) => bail!("no verification request came in time"),
            }
        }
    }

    /// The next state of `flow`, or `None` when the time is up.
    async fn next_state(&self, events: &mut broadcast::Receiver<Event>, flow: FlowId) -> Option<VerificationState> {
        loop {
            match tokio::time::timeout_at(self.deadline, events.recv()).await {
                Ok(Ok(Event::Verification { flow: f, state, .. })) if f == flow => return Some(state),
                Ok(Ok(Event::Alert(a))) => print_alert(&a, self.json),
                Ok(Ok(_)) => {}
                Ok(Err(RecvError::Lagged(_))) => {
                    // Missed events: the flow's current state says enough
                    // (a locked engine ends the wait like a stopped one).
                    match self.engine.verification(flow).await.ok()? {
                        Some(v) => return Some(v.state),
                        None => {
                            return Some(VerificationState::Cancelled {
                                reason: belfry_protocol::VerificationCancelReason::UnknownFlow,
                                by_them: false,
                            });
                        }
                    }
                }
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }

    fn show(&self, flow: FlowId, emoji: &[(&str, &str)], decimals: (u16, u16, u16)) {
        if self.json {
            let emoji: Vec<String> = emoji.iter().map(|(e, name)| format!("{e} {name}")).collect();
            println!(
                "{}",
                serde_json::json!({
                    "verification": flow.to_string(), "state": "sas", "emoji": emoji,
                    "decimals": [decimals.0, decimals.1, decimals.2],
                })
            );
        } else {
            println!("Compare with the other screen:");
            let line: Vec<String> = emoji.iter().map(|(e, name)| format!("{e} {name}")).collect();
            println!("  {}", line.join("   "));
            println!("  {} {} {}", decimals.0, decimals.1, decimals.2);
        }
    }
}

/// Asks a yes/no question on the terminal; anything but y/yes is no.
async fn ask(question: String) -> bool {
    use std::io::Write as _;
    print!("{question}");
    let _ = std::io::stdout().flush();
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line).unwrap_or_default()
    })
    .await
    .map(|line| matches!(line.trim().to_lowercase().as_str(), "y" | "yes"))
    .unwrap_or(false)
}
