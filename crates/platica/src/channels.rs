//! The WhatsApp side of a running server: the outbox sender, the session supervisor, the campaign
//! dispatcher, the bot, resuming idle bots, and
//! (for the demo) the built-in Cloud API simulator wired to the demo's number.

use std::time::Duration;

use anyhow::Context;
use platica_domain::TenantId;
use platica_simulator::{InboundConfig, SimAccount, SimConfig, SimHandle, Simulator};
use platica_store::PgPool;
use platica_whatsapp::bot::Bot;
use platica_whatsapp::sender::{Sender, SenderConfig};
use platica_whatsapp::supervisor::{Supervisor, SupervisorConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often automatic bot pauses past their idle time are lifted.
pub const RESUME_BOTS_EVERY: Duration = Duration::from_secs(30);

/// The background work of the WhatsApp channel; stops with the server's shutdown signal.
pub struct Channels {
    sender: Sender,
    supervisor: Supervisor,
    resumer: JoinHandle<()>,
    campaigns: JoinHandle<()>,
}

impl Channels {
    /// Starts the outbox sender, the session supervisor (sessions answered by `bot`) and the
    /// idle-bot resumer; webhooks reach the bot through [`platica_http::AppState::bot`].
    pub fn start(
        pool: &PgPool,
        sender: SenderConfig,
        sessions: SupervisorConfig,
        bot: Option<Bot>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Channels> {
        let key = platica_store::secrets::global().context("loading the secret key")?;
        let supervisor = Supervisor::start(pool.clone(), key, sessions, bot, shutdown.clone())
            .context("starting the session supervisor")?;
        let sender = Sender::start(pool.clone(), key, sender, shutdown.clone());
        let campaigns = platica_whatsapp::campaigns::start(pool.clone(), Default::default(), shutdown.clone());
        let resumer = tokio::spawn(resume_bots(pool.clone(), shutdown));
        Ok(Channels { sender, supervisor, resumer, campaigns })
    }

    /// Waits until in-flight sends are finished and recorded and sessions are closed (after the
    /// shutdown signal).
    pub async fn finished(self) {
        self.sender.finished().await;
        self.supervisor.finished().await;
        let _ = self.resumer.await;
        let _ = self.campaigns.await;
    }
}

async fn resume_bots(pool: PgPool, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(RESUME_BOTS_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.changed() => if *shutdown.borrow() { return },
            _ = every.tick() => {
                if let Err(e) = platica_store::bot::resume_idle(&pool).await {
                    tracing::warn!(error = %e, "cannot resume idle bots");
                }
            }
        }
    }
}

/// Starts the Cloud API simulator for the demo, points the demo tenant's number at it, and
/// registers Platica's webhook (at `webhook_base`) with it. Simulated prospects also write in on
/// their own (new numbers become new prospects, assigned round-robin).
pub async fn start_demo_simulator(pool: &PgPool, tenant: TenantId, webhook_base: &str) -> anyhow::Result<SimHandle> {
    use platica_demo::whatsapp as demo;
    let config = SimConfig {
        inbound: Some(InboundConfig {
            rate_per_sec: 0.05,
            prospects: 40,
            seed: 11,
            reply_probability: 0.4,
            ..InboundConfig::default()
        }),
        ..SimConfig::default()
    };
    let sim = Simulator::start(config).await.context("starting the WhatsApp simulator")?;
    let key = platica_store::secrets::global().context("loading the secret key")?;
    demo::ensure_account(pool, key, tenant, &sim.base_url()).await.context("setting up the demo's WhatsApp number")?;
    sim.add_account(SimAccount {
        phone_number_id: demo::PHONE_NUMBER_ID.to_owned(),
        display_phone_number: demo::DISPLAY_PHONE_NUMBER.to_owned(),
        access_token: demo::ACCESS_TOKEN.to_owned(),
        app_secret: demo::APP_SECRET.to_owned(),
        webhook_url: format!("{}/api/v1/whatsapp/webhook", webhook_base.trim_end_matches('/')),
        session_mode: false,
    });
    tracing::info!(simulator = %sim.url(), "WhatsApp simulator serving the demo's number");
    Ok(sim)
}
