//! The WhatsApp side of a running server: the outbox sender, the session supervisor, the campaign
//! dispatcher, the bot (idle pauses are lifted by the scheduler's `resume_paused_bots` job), and
//! (for the demo) the built-in Cloud API simulator wired to the demo's number.

use anyhow::Context;
use platica_domain::TenantId;
use platica_simulator::{InboundConfig, SimAccount, SimConfig, SimHandle, Simulator};
use platica_store::PgPool;
use platica_store::secrets::SecretKey;
use platica_whatsapp::bot::Bot;
use platica_whatsapp::sender::{Sender, SenderConfig};
use platica_whatsapp::supervisor::{Supervisor, SupervisorConfig};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The background work of the WhatsApp channel; stops with the server's shutdown signal.
pub struct Channels {
    sender: Sender,
    supervisor: Supervisor,
    campaigns: JoinHandle<()>,
}

impl Channels {
    /// Starts the outbox sender, the session supervisor (sessions answered by `bot`) and the
    /// campaign dispatcher; webhooks reach the bot through [`platica_http::AppState::bot`].
    pub fn start(
        pool: &PgPool,
        key: &'static SecretKey,
        sender: SenderConfig,
        sessions: SupervisorConfig,
        bot: Option<Bot>,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Channels> {
        let supervisor = Supervisor::start(pool.clone(), key, sessions, bot, shutdown.clone())
            .context("starting the session supervisor")?;
        let sender = Sender::start(pool.clone(), key, sender, shutdown.clone());
        let campaigns = platica_whatsapp::campaigns::start(pool.clone(), Default::default(), shutdown);
        Ok(Channels { sender, supervisor, campaigns })
    }

    /// The sessions' states, for /ready and /metrics.
    pub fn readiness(&self) -> std::sync::Arc<dyn platica_http::state::ChannelSessions> {
        std::sync::Arc::new(SessionsReadiness(self.supervisor.view()))
    }

    /// Waits until in-flight sends are finished and recorded and sessions are closed (after the
    /// shutdown signal).
    pub async fn finished(self) {
        self.sender.finished().await;
        self.supervisor.finished().await;
        let _ = self.campaigns.await;
    }
}

/// Starts the Cloud API simulator for the demo, points the demo tenant's number at it, and
/// registers Platica's webhook (at `webhook_base`) with it. Simulated prospects also write in on
/// their own (new numbers become new prospects, assigned round-robin) when `write_in`; without it
/// nobody writes in unprompted (`demo --rate 0`: no simulated traffic at all).
pub async fn start_demo_simulator(
    pool: &PgPool,
    key: &SecretKey,
    tenant: TenantId,
    webhook_base: &str,
    write_in: bool,
) -> anyhow::Result<SimHandle> {
    let config = SimConfig {
        inbound: write_in.then(|| InboundConfig {
            rate_per_sec: 0.05,
            prospects: 40,
            seed: 11,
            reply_probability: 0.4,
            ..InboundConfig::default()
        }),
        ..SimConfig::default()
    };
    start_simulator_for_demo_number(pool, key, tenant, webhook_base, config).await
}

/// [`start_demo_simulator`] with the simulator's settings given (the browser tests run campaigns
/// against the demo's number with no simulated prospects writing in).
pub async fn start_simulator_for_demo_number(
    pool: &PgPool,
    key: &SecretKey,
    tenant: TenantId,
    webhook_base: &str,
    config: SimConfig,
) -> anyhow::Result<SimHandle> {
    use platica_demo::whatsapp as demo;
    let sim = Simulator::start(config).await.context("starting the WhatsApp simulator")?;
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

/// Readiness of channel sessions: a session whose circuit is open (it failed to connect again and
/// again) makes the server not ready; reconnecting ones do not (their messages wait at the source).
struct SessionsReadiness(platica_whatsapp::supervisor::SessionsView);

impl platica_http::state::ChannelSessions for SessionsReadiness {
    fn states(&self) -> std::collections::BTreeMap<String, u64> {
        self.0.states()
    }

    fn ready(&self) -> Result<(), String> {
        let open = self.0.open_circuits();
        if open.is_empty() {
            Ok(())
        } else {
            let names: Vec<String> = open.iter().map(|(t, a)| format!("tenant {t} account {a}")).collect();
            Err(format!("session circuit open (repeated connect failures): {}", names.join(", ")))
        }
    }
}
