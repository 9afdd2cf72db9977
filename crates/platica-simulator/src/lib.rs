//! Platica's built-in fake of the WhatsApp Business Cloud API: a real HTTP server that takes
//! sends like the Cloud API, reports their statuses as signed webhooks, makes simulated prospects
//! write in, and serves linked-device style sessions. `platica demo` and the tests point
//! Platica's outbound worker at [`SimHandle::base_url`] and register Platica's webhook URL in
//! each [`SimAccount`]. It never touches the internet.
//!
//! ```no_run
//! # async fn demo() -> Result<(), platica_simulator::SimError> {
//! use platica_simulator::{SimAccount, SimConfig, Simulator};
//! let sim = Simulator::start(SimConfig::default()).await?;
//! sim.add_account(SimAccount {
//!     phone_number_id: "106540352242922".into(),
//!     display_phone_number: "+52 55 1234 5678".into(),
//!     access_token: "token".into(),
//!     app_secret: "secret".into(),
//!     webhook_url: "http://127.0.0.1:8080/api/v1/whatsapp/webhook".into(),
//!     session_mode: false,
//! });
//! // POST {sim.base_url()}/106540352242922/messages ...
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Cloud API (`/{version}/...`, any `vN[.M]` version)
//!
//! `POST /{version}/{phone_number_id}/messages`, `Authorization: Bearer <access_token>`:
//! - a send (`type` `text` (default), `template`, `image`, `audio`, `video`, `document`,
//!   `sticker`, `location`, `contacts`, `interactive`, `reaction`; optional `context.message_id`,
//!   `biz_opaque_callback_data` up to 512 chars) answers
//!   `{"messaging_product":"whatsapp","contacts":[{"input":to,"wa_id":digits}],"messages":[{"id":"wamid..."}]}`;
//! - a mark-as-read `{"messaging_product":"whatsapp","status":"read","message_id":..,
//!   "typing_indicator":{"type":"text"}?}` answers `{"success":true}`.
//!
//! Errors have Graph's shape `{"error":{"message","type":"OAuthException","code",
//! "error_subcode"?,"error_data"?:{"messaging_product","details"},"fbtrace_id"}}`: 401 code 190
//! for a missing or wrong token, 404 code 100 subcode 33 for an unknown phone number id, 400
//! code 100 for invalid input (missing `messaging_product`, `to`, body; text over 4096 chars;
//! unknown type), 400 code 131009 for a `to` that is not 7 to 15 digits.
//!
//! An `Idempotency-Key` header makes a send once per phone number id: a repeated key answers
//! the original response and sends nothing (counted in `duplicates`), unless the number was set
//! to ignore it, as the Graph API does (`/_sim/faults`).
//!
//! After a send is accepted, its statuses are reported at random delays
//! ([`StatusDelays`]): `sent`, then `delivered` and maybe `read`, or (`failure_rate`) `failed`
//! with `errors:[{"code":131026,"title":"Message undeliverable",..}]`. Each is a Cloud API webhook
//! `{"object":"whatsapp_business_account","entry":[{"id":<waba>,"changes":[{"field":"messages",
//! "value":{"messaging_product","metadata":{"display_phone_number","phone_number_id"},
//! "statuses":[{"id","status","timestamp","recipient_id","biz_opaque_callback_data"?,..}]}}]}]}`
//! POSTed to the account's `webhook_url` with `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of
//! the body with app_secret>`. Inbound messages are webhooks with `contacts` and `messages`
//! instead. One account's webhooks are delivered one at a time, in order; a non-2xx answer or a
//! connection error is retried with exponential backoff ([`WebhookRetry`]), then given up.
//!
//! `GET /{version}/{phone_number_id}[?fields=..]` (Bearer: the number's token) answers what Graph
//! says about a business number: `id`, `display_phone_number`, `verified_name`,
//! `quality_rating`, `messaging_limit_tier`, `code_verification_status`, `platform_type`,
//! `throughput` (Platica's "test connection"); `POST /_sim/numbers/{phone_number_id}` changes
//! what it says, and the number's `/_sim/faults` `delay_ms` slows it down.
//!
//! # Media (see [`media`])
//!
//! `GET /{version}/{media_id}` (Bearer: the number's token) answers `{"messaging_product",
//! "url","mime_type","sha256","file_size","id"}`; the `url` (`/whatsapp_business/attachments/...`,
//! Bearer too) serves the bytes for five minutes. `POST /{version}/{phone_number_id}/media`
//! (multipart `messaging_product`, `type`, `file`) uploads one and answers `{"id"}`. Generated
//! prospects' images are real files. `POST /_sim/media/faults` `{"stage":"info"|"download"|
//! "upload","status","times"?}` makes the next requests of a stage fail; `GET /_sim/media` gives
//! the counters and the uploads.
//!
//! # Message templates (`/{version}/{waba_id}/message_templates`)
//!
//! Bearer: a token of one of the WABA's numbers ([`SimHandle::waba_id`] gives a number's WABA).
//!
//! - `GET` `?limit=N&after=<cursor>`: `{"data":[{"id","name","language","category","components",
//!   "status","rejected_reason"?}..],"paging":{"cursors":{"before","after"},"next"?}}` (25 a page
//!   by default, at most 100; `next` while more remain).
//! - `POST` `{"name","language","category":"MARKETING"|"UTILITY"|"AUTHENTICATION","components":[..]}`
//!   (a `BODY` component with text is required): `{"id","status":"PENDING","category"}`; 400 code
//!   100 subcode 2388024 when the name and language exist.
//! - `POST /_sim/templates/status` `{"waba_id","id"? | "name"+"language","status","reason"?}`: the
//!   review's outcome (`APPROVED`, `REJECTED`...), or any later change; answers the template.
//!
//! # Control API (`/_sim/...`, no authentication: bind it to loopback)
//!
//! - `POST /_sim/accounts` with a [`SimAccount`] as JSON: adds or updates it; 201.
//! - `POST /_sim/inbound` `{"phone_number_id","from":"+5215512345678","name"?:"Ana","text":"hola",
//!   "context_id"?:"wamid..."}`: one inbound text now (a webhook, or a session event in session
//!   mode); answers `{"id":"wamid..."}`.
//! - `POST /_sim/faults` `{"phone_number_id","responses"?:[{"status":429},{"status":400,
//!   "code":131047,"message":"Re-engagement message","error_subcode"?:N}],"delay_ms"?:N,
//!   "ignore_idempotency_key"?:bool}`: the next sends (and mark-as-reads) to that number get
//!   these answers in order, then normal behaviour resumes. A response without `after_accept` is
//!   a Graph error answer and nothing is sent. With `after_accept` the send is accepted first
//!   (recorded, its statuses reported as usual) and then only its answer goes wrong, so the
//!   client cannot know whether it was sent:
//!   - `{"after_accept":"hang","hang_ms":N}`: the normal answer comes after N ms (at most
//!     600 000); a client with a shorter timeout gives up;
//!   - `{"after_accept":"reset"}`: no answer, the connection is reset;
//!   - `{"after_accept":"error","status":500,"code"?,"message"?}`: this Graph error answer.
//!
//!   `delay_ms` delays every answer of that number from now on (0 to stop) — the send itself
//!   happens before the delay, so a client that times out does not know whether it was sent.
//!   `ignore_idempotency_key: true` makes the number behave like the Graph API, which ignores
//!   `Idempotency-Key`: a repeated send is sent again (false restores the default). Answers
//!   `{"queued":N,"delay_ms":N,"ignore_idempotency_key":bool}`.
//! - `GET /_sim/sent[?phone_number_id=]`: `{"sent":[SentMessage..]}` (see [`SentMessage`]), by
//!   account then in order. An account remembers its last [`MAX_KEPT`] sends, idempotency keys and
//!   reads.
//! - `GET /_sim/reads[?phone_number_id=]`: `{"reads":[{"phone_number_id","message_id"}..]}`.
//! - `GET /_sim/stats`: [`SimStats`].
//! - `POST /_sim/sessions/{phone_number_id}/drop`: drops the session until the next connect.
//!
//! # Sessions (`/_session/{phone_number_id}/...`, accounts with `session_mode`)
//!
//! Inbound messages and statuses of a session-mode account are not POSTed: they are buffered as
//! events numbered by `seq` (from 1) until acknowledged.
//! - `POST .../connect` (Bearer): `{"session_id","state":"connected"}`.
//! - `GET .../health`: 200 `{"state":"connected","session_id"}` or 503 `{"state":"disconnected"}`.
//! - `GET .../events?after=<seq>&wait_ms=<n>` (Bearer): the buffered events with a seq above
//!   `after` (at most 500), waiting up to `wait_ms` (at most 30 000) for one:
//!   `{"events":[{"seq","contact":{"profile":{"name"},"wa_id"},"message":{..}} |
//!   {"seq","status":{..}}],"next":<last seq returned, or after>}`. 503 `{"state":"disconnected"}`
//!   while the session is dropped.
//! - `POST .../ack` `{"seq":N}` (Bearer): forgets the events up to N; `{"acked","buffered"}`. Events
//!   not acknowledged are returned again to a later poll from a lower `after`.

mod cloud;
mod config;
mod control;
pub mod generator;
mod graph;
pub mod media;
mod net;
mod phone;
mod state;
mod templates;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{DurRange, InboundConfig, SessionConfig, SimAccount, SimConfig, StatusDelays, WebhookRetry};
pub use state::{MAX_KEPT, SentMessage, SessionStats, SimStats};
pub use templates::SimTemplate;

use state::Sim;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("Simulator::start must run inside a Tokio runtime")]
    NoRuntime,
}

/// The simulator server.
pub struct Simulator;

impl Simulator {
    /// Binds the server and spawns its tasks (webhook delivery, generated prospects, session
    /// drops). It runs until [`SimHandle::shutdown`] or until the handle is dropped.
    pub async fn start(config: SimConfig) -> Result<SimHandle, SimError> {
        let rt = tokio::runtime::Handle::try_current().map_err(|_| SimError::NoRuntime)?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| SimError::Bind { addr: config.listen, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { addr: config.listen, source })?;
        let http = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(4).build()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let sim = Arc::new(Sim::new(config, http, rt.clone(), stop_rx));
        sim.lock().base_url = format!("http://{addr}");
        let app = router(Arc::clone(&sim)).into_make_service_with_connect_info::<net::Conn>();
        let stopping = Arc::clone(&sim);
        let server = rt.spawn(async move {
            let serve = axum::serve(net::SimListener(listener), app)
                .with_graceful_shutdown(async move { stopping.stopped().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "simulator server failed");
            }
        });
        rt.spawn(Arc::clone(&sim).generate());
        rt.spawn(Arc::clone(&sim).auto_drop());
        tracing::info!(%addr, "WhatsApp Cloud API simulator listening");
        Ok(SimHandle { addr, sim, stop: stop_tx, server: Some(server) })
    }
}

fn router(sim: Arc<Sim>) -> Router {
    Router::new()
        .route("/{version}/{phone_number_id}/messages", post(cloud::messages))
        .route("/{version}/{phone_number_id}", get(media::info))
        .route("/{version}/{phone_number_id}/media", post(media::upload))
        .route("/whatsapp_business/attachments/", get(media::download))
        .route("/_sim/media/faults", post(media::faults))
        .route("/_sim/media", get(media::stats))
        .route("/{version}/{phone_number_id}/message_templates", get(templates::list).post(templates::create))
        .route("/_sim/accounts", post(control::add_account))
        .route("/_sim/numbers/{phone_number_id}", post(phone::set_profile))
        .route("/_sim/templates/status", post(templates::set_status))
        .route("/_sim/inbound", post(control::inbound))
        .route("/_sim/faults", post(control::faults))
        .route("/_sim/sent", get(control::sent))
        .route("/_sim/reads", get(control::reads))
        .route("/_sim/stats", get(control::stats))
        .route("/_sim/sessions/{phone_number_id}/drop", post(control::drop_session))
        .route("/_session/{phone_number_id}/connect", post(control::connect))
        .route("/_session/{phone_number_id}/health", get(control::health))
        .route("/_session/{phone_number_id}/events", get(control::events))
        .route("/_session/{phone_number_id}/ack", post(control::ack))
        .fallback(control::fallback)
        .with_state(sim)
}

/// A running simulator. Dropping it shuts the simulator down.
pub struct SimHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    sim: Arc<Sim>,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

/// The Graph API version in [`SimHandle::base_url`].
pub const API_VERSION: &str = "v21.0";

impl SimHandle {
    /// The Cloud API base URL, `http://127.0.0.1:PORT/v21.0`: sends go to
    /// `{base_url}/{phone_number_id}/messages`.
    pub fn base_url(&self) -> String {
        format!("{}/{API_VERSION}", self.url())
    }

    /// The server's root, `http://127.0.0.1:PORT` (for `/_sim` and `/_session`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds an account, or updates the settings of one with the same phone number id (its sends,
    /// buffers and counters are kept).
    pub fn add_account(&self, account: SimAccount) {
        self.sim.add_account(account);
    }

    /// The counters (as `GET /_sim/stats`).
    pub fn stats(&self) -> SimStats {
        self.sim.stats()
    }

    /// Every accepted send of one number, in order (as `GET /_sim/sent`).
    pub fn sent(&self, phone_number_id: &str) -> Vec<SentMessage> {
        self.sim.lock().accounts.get(phone_number_id).map(|a| a.sent.clone()).unwrap_or_default()
    }

    /// Emits one inbound text message now (as `POST /_sim/inbound`); its wamid, or `None` for an
    /// unknown account.
    pub fn inbound_text(&self, phone_number_id: &str, from: &str, name: &str, text: &str) -> Option<String> {
        let wa_id = from.trim().trim_start_matches('+');
        self.sim.emit_inbound(phone_number_id, wa_id, name, serde_json::json!({"type": "text", "text": {"body": text}}))
    }

    /// The WhatsApp Business Account id of a number (its templates live there).
    pub fn waba_id(&self, phone_number_id: &str) -> Option<String> {
        self.sim.waba_of(phone_number_id)
    }

    /// Adds a template to a WABA as it stands (any status, e.g. already `APPROVED`); its id.
    pub fn add_template(&self, waba_id: &str, template: SimTemplate) -> String {
        self.sim.add_template(waba_id, template)
    }

    /// A review's outcome or a later change (as `POST /_sim/templates/status`): the template
    /// named by `id`, or by `name` and `language`, takes `status` (`APPROVED`, `REJECTED`...).
    pub fn set_template_status(
        &self,
        waba_id: &str,
        id: Option<&str>,
        name_language: Option<(&str, &str)>,
        status: &str,
        reason: Option<&str>,
    ) -> Result<SimTemplate, String> {
        let (name, language) = name_language.unzip();
        self.sim.set_template_status(waba_id, id, name, language, status, reason.map(str::to_owned))
    }

    /// A WABA's templates, in creation order.
    pub fn templates(&self, waba_id: &str) -> Vec<SimTemplate> {
        self.sim.templates_of(waba_id)
    }

    /// Adds a media file of a number, as if a prospect had sent it: its media id (for an inbound
    /// message's `image.id`, `document.id`...).
    pub fn add_media(&self, phone_number_id: &str, bytes: Vec<u8>, mime_type: &str) -> String {
        self.sim.add_media(phone_number_id, bytes, mime_type)
    }

    /// Emits one inbound media message now: `kind` (`image`, `document`...) with the media id
    /// [`SimHandle::add_media`] gave, and an optional caption; its wamid.
    pub fn inbound_media(
        &self,
        phone_number_id: &str,
        from: &str,
        name: &str,
        kind: &str,
        media_id: &str,
        caption: Option<&str>,
    ) -> Option<String> {
        let wa_id = from.trim().trim_start_matches('+');
        let (mime, sha) = {
            let inner = self.sim.lock();
            let m = inner.media.get(media_id);
            (m.map(|m| m.mime_type.clone()), m.map(|m| m.sha256.clone()))
        };
        let mut object = serde_json::json!({"id": media_id, "mime_type": mime, "sha256": sha});
        if let Some(c) = caption {
            object["caption"] = serde_json::json!(c);
        }
        let mut message = serde_json::json!({"type": kind});
        message[kind] = object;
        self.sim.emit_inbound(phone_number_id, wa_id, name, message)
    }

    /// Scripts failures of media requests (as `POST /_sim/media/faults`): the next `times`
    /// requests of `stage` (all of them when `None`) answer a Graph error with `status`.
    pub fn media_fault(&self, stage: media::MediaStage, status: u16, times: Option<u32>) {
        self.sim.lock().media_faults.push(media::MediaFault { stage, status, times });
    }

    /// Removes every scripted media failure.
    pub fn clear_media_faults(&self) {
        self.sim.lock().media_faults.clear();
    }

    /// How long media URLs work from now on (Graph's: five minutes).
    pub fn set_media_url_ttl(&self, ttl: std::time::Duration) {
        self.sim.lock().media_url_ttl = Some(ttl);
    }

    /// Media counters.
    pub fn media_stats(&self) -> media::MediaStats {
        self.sim.lock().media_stats.clone()
    }

    /// Every upload received, in order.
    pub fn uploads(&self) -> Vec<media::Upload> {
        self.sim.lock().uploads.clone()
    }

    /// Drops a session-mode account's session (as `POST /_sim/sessions/{id}/drop`).
    pub fn drop_session(&self, phone_number_id: &str) -> bool {
        self.sim.drop_session(phone_number_id)
    }

    /// Stops the server and its tasks, and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}
