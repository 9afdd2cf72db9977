//! What every handler shares.

use std::sync::Arc;

use platica_changes::LiveInbox;
use platica_realtime::{Hub, HubConfig};
use platica_store::PgPool;

use crate::auth::LoginLimits;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub login_limits: Arc<LoginLimits>,
    /// Mark the session cookie `Secure` always (otherwise: when a trusted proxy says HTTPS).
    pub secure_cookies: bool,
    /// Trusted proxies, allowed origins, the metrics token.
    pub edge: Arc<crate::edge::Edge>,
    /// Connection limits of the accept loop.
    pub limits: crate::serve::Limits,
    /// The live inbox; without it inbox reads fall back to the SQL reference.
    pub live: Option<Arc<LiveInbox>>,
    /// The realtime hub (with the live inbox).
    pub hub: Option<Arc<Hub>>,
    /// The auto-reply bot, answering messages this server ingests (off in most tests).
    pub bot: Option<platica_whatsapp::bot::Bot>,
    /// Turns true when the server shuts down: WebSockets close with a proper close frame.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Channel sessions' states for /ready and /metrics (set by a session supervisor).
    pub sessions: Option<Arc<dyn crate::ops::ChannelSessions>>,
    /// The channel accounts webhooks name, cached for a few seconds.
    pub webhook_accounts: Arc<crate::webhook_accounts::WebhookAccounts>,
    /// Webhook ingestion: webhooks of messages are stored in batches.
    pub ingestor: Arc<platica_whatsapp::ingest::Ingestor>,
    /// Credentials recently verified: reads answer from them while PostgreSQL cannot.
    pub credentials: Arc<crate::credentials::Credentials>,
    /// The token of `GET /ops/verify` (the `platica` CLI reads it from the data directory's
    /// `server.json`); without one the route answers 404.
    pub ops_token: Option<Arc<str>>,
    /// Where media bytes are kept (inbound media, uploads); without it media routes answer 503
    /// `media_not_configured`.
    pub media: Option<platica_whatsapp::media::MediaStore>,
}

impl AppState {
    pub fn new(pool: PgPool) -> Self {
        AppState {
            ingestor: Arc::new(platica_whatsapp::ingest::Ingestor::new(pool.clone())),
            pool,
            login_limits: Arc::new(LoginLimits::default()),
            secure_cookies: false,
            edge: Arc::default(),
            limits: crate::serve::Limits::default(),
            live: None,
            hub: None,
            bot: None,
            shutdown: tokio::sync::watch::channel(false).0,
            sessions: None,
            webhook_accounts: Arc::default(),
            ops_token: None,
            credentials: Arc::default(),
            media: None,
        }
    }

    /// Serves the inbox from `live` and realtime through a hub fed by it.
    pub fn with_live(self, live: Arc<LiveInbox>) -> Self {
        self.with_live_and_hub(live, HubConfig::default())
    }

    /// [`AppState::with_live`] with the hub's limits.
    pub fn with_live_and_hub(mut self, live: Arc<LiveInbox>, config: HubConfig) -> Self {
        let hub = Arc::new(Hub::new(config, live.position()));
        live.set_sink(hub.clone());
        self.hub = Some(hub);
        self.live = Some(live);
        self
    }
}
