//! The one way a Platica server starts and stops: `platica serve`, `platica demo` and the test
//! harness all build a [`Server`] from [`ServerOptions`].
//!
//! A server is the live inbox (following the change stream), the realtime hub it feeds, the HTTP
//! API, and optionally the scheduler and the WhatsApp background work (sender, sessions,
//! campaigns, the media fetcher). Its background tasks hang off one cancellation-token tree: the server's root
//! token, a child for the change stream (which gives each of its connections a child of its own,
//! so a closing connection never cancels anything above it) and a child for the scheduler.
//!
//! Shutdown, once the `shutdown` future given to [`Server::start`] completes, runs in one order:
//! HTTP stops accepting and answers what it accepted, WebSockets close with 1001; the WhatsApp
//! work records its sends in flight and stops; the root token is cancelled, so the scheduler waits
//! for its runs in flight and the stream stops; the applied LSN is logged.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use platica_changes::live::CancellationToken;
use platica_changes::{LiveInbox, StreamConfig};
use platica_http::AppState;
use platica_realtime::{Hub, HubConfig};
use platica_scheduler::SchedulerConfig;
use platica_store::PgPool;
use platica_store::secrets::SecretKey;
use platica_whatsapp::media::{Fetcher, FetcherConfig, MediaStore};
use platica_whatsapp::sender::SenderConfig;
use platica_whatsapp::supervisor::SupervisorConfig;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::channels::Channels;

/// What a server runs besides the live inbox and HTTP, and how.
pub struct ServerOptions {
    /// Where the change stream connects: the database (or, in fault tests, a proxy to it).
    pub stream_url: String,
    /// The replication slot; `None` is the database's default slot ([`crate::slot_name`]).
    pub slot: Option<String>,
    /// The realtime hub's limits; `None` serves no realtime at all.
    pub hub: Option<HubConfig>,
    /// The scheduler, when this server runs scheduled jobs.
    pub scheduler: Option<SchedulerConfig>,
    /// The WhatsApp background work (outbox sender, session supervisor, campaign dispatcher).
    pub whatsapp: Option<(SenderConfig, SupervisorConfig)>,
    /// The auto-reply bot answers what this server ingests.
    pub bot: bool,
    /// The key sealing channel secrets at rest, handed to the HTTP state and the WhatsApp work
    /// (nothing reads it from a global); without one the routes that need it answer 500 and the
    /// WhatsApp work cannot start.
    pub secret_key: Option<&'static SecretKey>,
    /// Media: where the bytes are kept (served by the API, read by the sender to upload
    /// attachments) and, when given, the fetcher of inbound media.
    pub media: Option<MediaOptions>,
    /// The address the Internet reaches this server at (`server.public_url`), for the webhook URL
    /// the channel screen shows.
    pub public_url: Option<String>,
}

/// A server's media (see [`ServerOptions::media`]).
pub struct MediaOptions {
    pub store: MediaStore,
    /// Fetch inbound media from WhatsApp (a background worker stopped with the server).
    pub fetcher: Option<FetcherConfig>,
}

impl ServerOptions {
    /// The live inbox on `stream_url` and the realtime hub with its default limits; nothing else.
    pub fn new(stream_url: impl Into<String>) -> ServerOptions {
        ServerOptions {
            stream_url: stream_url.into(),
            slot: None,
            hub: Some(HubConfig::default()),
            scheduler: None,
            whatsapp: None,
            bot: false,
            media: None,
            secret_key: None,
            public_url: None,
        }
    }
}

/// A running server (see the module docs).
pub struct Server {
    addr: SocketAddr,
    live: Arc<LiveInbox>,
    hub: Option<Arc<Hub>>,
    root: CancellationToken,
    stream: JoinHandle<()>,
    scheduler: Option<JoinHandle<()>>,
    channels: Option<Channels>,
    fetcher: Option<Fetcher>,
    /// Writes `last_used_at` of the API tokens reads authenticated from memory.
    token_use: JoinHandle<()>,
    http: JoinHandle<anyhow::Result<()>>,
}

impl Server {
    /// Loads the live inbox, starts the background work `options` asks for, lets `configure`
    /// finish the HTTP state (cookies, edge, limits, ops token...), and serves HTTP on `listener`
    /// until `shutdown` completes. Call [`Server::stopped`] to wait for the whole shutdown.
    pub async fn start(
        pool: PgPool,
        listener: TcpListener,
        options: ServerOptions,
        configure: impl FnOnce(&mut AppState),
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Server> {
        let addr = listener.local_addr().context("the listener has no address")?;
        let root = CancellationToken::new();
        let mut stream_config = StreamConfig::new(&options.stream_url);
        stream_config.slot = options.slot.unwrap_or_else(|| crate::slot_name(&options.stream_url));
        let (live, stream) =
            LiveInbox::start(stream_config, root.child_token()).await.context("cannot start the live inbox")?;
        let scheduler =
            options.scheduler.map(|config| crate::start_scheduler(pool.clone(), config, root.child_token()));
        let mut state = AppState::new(pool.clone());
        state.secret_key = options.secret_key;
        state.public_url = options.public_url.clone();
        state = match options.hub {
            Some(hub) => state.with_live_and_hub(Arc::clone(&live), hub),
            None => {
                // Without realtime, the credentials still follow the stream.
                live.set_sink(state.credentials.watching());
                state.live = Some(Arc::clone(&live));
                state
            }
        };
        let token_use = tokio::spawn(write_token_use(pool.clone(), Arc::clone(&state.credentials), root.child_token()));
        if options.bot {
            state.bot = Some(platica_whatsapp::bot::Bot::new(pool.clone()));
        }
        let mut fetcher = None;
        if let Some(media) = options.media {
            state.media = Some(media.store.clone());
            if let Some(config) = media.fetcher {
                let key = options.secret_key.context("the media fetcher needs the secret key")?;
                fetcher = Some(Fetcher::start(pool.clone(), key, media.store, config, state.shutdown.subscribe()));
            }
        }
        let channels = match options.whatsapp {
            Some((mut sender, sessions)) => {
                sender.media_store = state.media.clone();
                // "Test connection" asks the Graph API the sender sends to.
                state.graph_base_url = sender.default_base_url.clone();
                let key = options.secret_key.context("the WhatsApp work needs the secret key")?;
                let channels =
                    Channels::start(&pool, key, sender, sessions, state.bot.clone(), state.shutdown.subscribe())?;
                state.sessions = Some(channels.readiness());
                Some(channels)
            }
            None => None,
        };
        configure(&mut state);
        let hub = state.hub.clone();
        let http = tokio::spawn(crate::serve(listener, state, shutdown));
        Ok(Server { addr, live, hub, root, stream, scheduler, channels, fetcher, token_use, http })
    }

    /// The address HTTP is served on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The live inbox.
    pub fn live(&self) -> &Arc<LiveInbox> {
        &self.live
    }

    /// The realtime hub, unless the server runs without realtime.
    pub fn hub(&self) -> Option<&Arc<Hub>> {
        self.hub.as_ref()
    }

    /// A token for work of the caller's that must stop with the server (a child of its root).
    pub fn child_token(&self) -> CancellationToken {
        self.root.child_token()
    }

    /// The parts that have stopped although no shutdown was asked for: a failure anywhere (the
    /// change stream above all) must never end the server's other work. Empty while all is well.
    pub fn failed_parts(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.root.is_cancelled() {
            out.push("the server's root token was cancelled");
        }
        if self.stream.is_finished() {
            out.push("the live inbox's task ended");
        }
        if self.http.is_finished() {
            out.push("the HTTP server stopped");
        }
        if self.scheduler.as_ref().is_some_and(JoinHandle::is_finished) {
            out.push("the scheduler stopped");
        }
        out
    }

    /// Waits for the shutdown future, then stops everything in order (see the module docs) and
    /// returns how HTTP ended.
    pub async fn stopped(self) -> anyhow::Result<()> {
        let served = match self.http.await {
            Ok(served) => served,
            Err(e) => Err(anyhow::anyhow!("the HTTP server panicked: {e}")),
        };
        if let Some(channels) = self.channels {
            channels.finished().await;
        }
        if let Some(fetcher) = self.fetcher {
            fetcher.finished().await;
        }
        self.root.cancel();
        if let Some(scheduler) = self.scheduler {
            let _ = scheduler.await;
        }
        let _ = self.stream.await;
        let _ = self.token_use.await;
        crate::log_stopped(&self.live);
        served
    }
}

/// How often the API tokens reads used from memory get their `last_used_at` written.
const TOKEN_USE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes, every [`TOKEN_USE_EVERY`] and once more at shutdown, when the API tokens that reads
/// authenticated from memory were last used (one statement per batch, instead of a write per
/// request).
async fn write_token_use(
    pool: platica_store::PgPool,
    credentials: Arc<platica_http::credentials::Credentials>,
    stop: CancellationToken,
) {
    loop {
        let stopping = tokio::select! {
            () = tokio::time::sleep(TOKEN_USE_EVERY) => false,
            () = stop.cancelled() => true,
        };
        let used = credentials.take_used();
        if let Err(e) = platica_store::org::auth::touch_api_tokens(&pool, &used).await {
            tracing::warn!(error = %e, tokens = used.len(), "cannot write when API tokens were last used");
        }
        if stopping {
            return;
        }
    }
}
