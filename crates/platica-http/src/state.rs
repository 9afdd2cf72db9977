//! What every handler shares. Everything the state holds is defined in a module below it (none of
//! them imports the state back), so the crate's modules form a tree.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use platica_changes::LiveInbox;
use platica_realtime::{Hub, HubConfig};
use platica_store::PgPool;
use platica_store::secrets::SecretKey;

use crate::edge::Edge;
use crate::error::{ApiError, ApiResult};
use crate::login_limits::LoginLimits;
use crate::serve::Limits;
use crate::webhook_accounts::WebhookAccounts;

/// What a channel session supervisor tells operators (`/ready` and `/metrics` report it).
pub trait ChannelSessions: Send + Sync {
    /// How many sessions are in each state (e.g. `connected`, `reconnecting`, `logged_out`).
    fn states(&self) -> BTreeMap<String, u64>;
    /// Whether sessions are in a state the server can serve in; `detail` explains a `false`.
    fn ready(&self) -> Result<(), String>;
}

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub login_limits: Arc<LoginLimits>,
    /// Mark the session cookie `Secure` always (otherwise: when a trusted proxy says HTTPS).
    pub secure_cookies: bool,
    /// Trusted proxies, allowed origins, the metrics token.
    pub edge: Arc<Edge>,
    /// Connection limits of the accept loop.
    pub limits: Limits,
    /// Every request is answered within this (503 `timeout` otherwise); default
    /// [`crate::extract::REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// The server's key for channel and provider secrets at rest; without one the routes that
    /// need it answer 500 (and log why).
    pub secret_key: Option<&'static SecretKey>,
    /// The live inbox; without it inbox reads fall back to the SQL reference.
    pub live: Option<Arc<LiveInbox>>,
    /// The realtime hub (with the live inbox).
    pub hub: Option<Arc<Hub>>,
    /// The auto-reply bot, answering messages this server ingests (off in most tests).
    pub bot: Option<platica_whatsapp::bot::Bot>,
    /// Turns true when the server shuts down: WebSockets close with a proper close frame.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// Channel sessions' states for /ready and /metrics (set by a session supervisor).
    pub sessions: Option<Arc<dyn ChannelSessions>>,
    /// The channel accounts webhooks name, cached for a few seconds.
    pub webhook_accounts: Arc<WebhookAccounts>,
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
    /// Where a channel without a base URL of its own asks Graph ("test connection"): the
    /// configured `whatsapp.base_url`, by default [`platica_whatsapp::cloud::DEFAULT_BASE_URL`].
    pub graph_base_url: String,
    /// How long "test connection" waits for Graph.
    pub graph_check_timeout: Duration,
    /// The address the Internet reaches this server at (`server.public_url`): the channel screen
    /// shows `{public_url}/api/v1/whatsapp/webhook` to paste into Meta's console.
    pub public_url: Option<String>,
    /// When a webhook last refreshed each number's health here (few writes per number).
    pub webhook_touches: Arc<crate::webhook_accounts::Touches>,
}

impl AppState {
    pub fn new(pool: PgPool) -> Self {
        AppState {
            ingestor: Arc::new(platica_whatsapp::ingest::Ingestor::new(pool.clone())),
            pool,
            login_limits: Arc::new(LoginLimits::default()),
            secure_cookies: false,
            edge: Arc::default(),
            limits: Limits::default(),
            request_timeout: crate::extract::REQUEST_TIMEOUT,
            secret_key: None,
            live: None,
            hub: None,
            bot: None,
            shutdown: tokio::sync::watch::channel(false).0,
            sessions: None,
            webhook_accounts: Arc::default(),
            ops_token: None,
            credentials: Arc::default(),
            media: None,
            graph_base_url: platica_whatsapp::cloud::DEFAULT_BASE_URL.to_owned(),
            graph_check_timeout: platica_whatsapp::phone::DEFAULT_TIMEOUT,
            public_url: None,
            webhook_touches: Arc::default(),
        }
    }

    /// Serves the inbox from `live` and realtime through a hub fed by it.
    pub fn with_live(self, live: Arc<LiveInbox>) -> Self {
        self.with_live_and_hub(live, HubConfig::default())
    }

    /// [`AppState::with_live`] with the hub's limits.
    pub fn with_live_and_hub(mut self, live: Arc<LiveInbox>, config: HubConfig) -> Self {
        let hub = Arc::new(Hub::new(config, live.position()));
        // The hub fans changes out to sockets; the credentials forget what they revoke.
        live.set_sink(Arc::new(platica_changes::Fanout(vec![hub.clone(), self.credentials.watching()])));
        self.hub = Some(hub);
        self.live = Some(live);
        self
    }

    /// The server's key for secrets; a server started without one has a configuration error
    /// (logged, 500).
    pub fn secret_key(&self) -> ApiResult<&'static SecretKey> {
        self.secret_key.ok_or_else(|| {
            tracing::error!("the server was started without its secret key: channel secrets cannot be read");
            ApiError::internal()
        })
    }
}
