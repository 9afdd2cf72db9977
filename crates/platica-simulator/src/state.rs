//! The simulator's state and its background work: status flows, webhook delivery, generated
//! prospects, session buffers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, mpsc, watch};

use crate::config::{SimAccount, SimConfig};
use crate::generator::{Content, Generator};
use crate::graph::GraphError;

/// Most events a session buffers; older ones are discarded (and counted) beyond it.
pub(crate) const MAX_SESSION_EVENTS: usize = 50_000;

/// Most sends, idempotency keys and reads remembered per account (the oldest are forgotten), so
/// a long demo runs in bounded memory.
pub const MAX_KEPT: usize = 100_000;
/// The most statuses the simulator puts in one webhook.
pub const MAX_STATUSES_PER_WEBHOOK: usize = 100;

/// One accepted send, as `GET /_sim/sent` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    pub phone_number_id: String,
    pub wamid: String,
    /// `to` as given.
    pub to: String,
    /// The recipient's WhatsApp id (digits); empty for a send addressed by `recipient`.
    pub wa_id: String,
    /// The recipient's business-scoped user id, for a send addressed by `recipient` (the Cloud
    /// API's field for a user it shows without a phone number).
    #[serde(default)]
    pub user_id: Option<String>,
    /// `text`, `template`, `image`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The body of a text message (or the caption of media).
    pub text: Option<String>,
    /// The template name of a template message.
    pub template: Option<String>,
    pub template_language: Option<String>,
    /// The template's `components` as sent (header and body parameters).
    #[serde(default)]
    pub template_components: Option<serde_json::Value>,
    pub idempotency_key: Option<String>,
    pub biz_opaque_callback_data: Option<String>,
    /// `context.message_id` (a reply to that message).
    pub context_message_id: Option<String>,
    /// The media id of a media message (`image.id`, `document.id`...), when sent by id.
    #[serde(default)]
    pub media_id: Option<String>,
    /// RFC 3339, milliseconds.
    pub received_at: String,
    /// Statuses reported so far, in order (`sent`, `delivered`, `read` or `failed`).
    pub statuses: Vec<String>,
}

/// Counters, as `GET /_sim/stats` answers them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    pub accounts: usize,
    /// Accepted sends (duplicates not included).
    pub sends: u64,
    /// Sends answered from the idempotency record instead of sending again.
    pub duplicates: u64,
    /// Sends refused with a 4xx for the request itself (token, number, validation).
    pub rejected: u64,
    /// Answers taken from the fault queue.
    pub faults_injected: u64,
    /// Mark-as-read requests accepted.
    pub mark_read: u64,
    /// Statuses produced (as webhooks or session events).
    pub statuses_emitted: u64,
    /// Webhooks answered 2xx by the receiver.
    pub webhooks_delivered: u64,
    /// Webhooks given up after every attempt failed.
    pub webhooks_failed: u64,
    /// Attempts after a failed one.
    pub webhooks_retried: u64,
    /// Inbound messages produced (generated, replies and `/_sim/inbound`).
    pub inbound_emitted: u64,
    /// Of those, replies to outbound messages.
    pub replies: u64,
    /// Session connects being answered now, and the most there ever were at once.
    pub connects_in_flight: u64,
    pub max_connects_in_flight: u64,
    /// Session-mode accounts, by phone number id.
    pub sessions: BTreeMap<String, SessionStats>,
}

/// A session-mode account's session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionStats {
    /// `connected` or `disconnected`.
    pub state: String,
    pub session_id: Option<String>,
    pub connects: u64,
    pub drops: u64,
    /// Events waiting for an ack.
    pub buffered: usize,
    /// The seq the next event gets.
    pub next_seq: u64,
    /// Events discarded because the buffer was full.
    pub discarded: u64,
}

/// A scripted answer to the next send (`POST /_sim/faults`).
#[derive(Clone, Debug, Deserialize)]
pub struct Fault {
    /// The HTTP status of a Graph error answer (400 to 599); required unless `after_accept` is
    /// `hang` or `reset`.
    #[serde(default)]
    pub status: Option<u16>,
    pub code: Option<i64>,
    pub error_subcode: Option<i64>,
    pub message: Option<String>,
    /// Without it the send is refused (nothing is sent). With it the send is accepted first
    /// (recorded, its statuses reported) and only its answer goes wrong.
    #[serde(default)]
    pub after_accept: Option<AfterAccept>,
    /// With `after_accept: "hang"`: how long the (normal) answer waits, in milliseconds.
    #[serde(default)]
    pub hang_ms: Option<u64>,
}

/// What becomes of the answer to a send that was accepted: the client cannot tell whether it was
/// sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AfterAccept {
    /// The answer comes only after `hang_ms` (a client with a shorter timeout gives up).
    Hang,
    /// The connection is reset instead of answering.
    Reset,
    /// A Graph error answer with `status` (e.g. a 500) instead of the real one.
    Error,
}

impl Fault {
    /// Why this fault cannot be scripted, if it cannot.
    pub(crate) fn invalid(&self) -> Option<String> {
        match (self.after_accept, self.status, self.hang_ms) {
            (None | Some(AfterAccept::Error), None, _) => Some("responses[].status is required".to_owned()),
            (None | Some(AfterAccept::Error), Some(s), _) if !(400..=599).contains(&s) => {
                Some(format!("responses[].status must be 400 to 599, not {s}"))
            }
            (Some(AfterAccept::Hang), _, None) => Some("responses[].hang_ms is required with \"hang\"".to_owned()),
            (Some(AfterAccept::Hang), _, Some(ms)) if ms > 600_000 => {
                Some("responses[].hang_ms must be at most 600000".to_owned())
            }
            _ => None,
        }
    }

    pub(crate) fn to_error(&self) -> GraphError {
        let status = self
            .status
            .and_then(|s| axum::http::StatusCode::from_u16(s).ok())
            .unwrap_or(axum::http::StatusCode::BAD_REQUEST);
        let (code, message) = match status.as_u16() {
            429 => (130429, "Rate limit hit"),
            401 => (190, "Invalid OAuth access token"),
            500..=599 => (131000, "Something went wrong"),
            _ => (100, "Invalid parameter"),
        };
        let mut e =
            GraphError::new(status, self.code.unwrap_or(code), self.message.clone().unwrap_or(message.to_owned()));
        e.subcode = self.error_subcode;
        e
    }
}

pub(crate) struct Session {
    pub id: Option<String>,
    pub next_seq: u64,
    pub events: VecDeque<(u64, Value)>,
    pub connects: u64,
    pub drops: u64,
    pub discarded: u64,
    pub notify: Arc<Notify>,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            id: None,
            next_seq: 1,
            events: VecDeque::new(),
            connects: 0,
            drops: 0,
            discarded: 0,
            notify: Arc::new(Notify::new()),
        }
    }
}

impl Session {
    fn stats(&self) -> SessionStats {
        SessionStats {
            state: if self.id.is_some() { "connected" } else { "disconnected" }.to_owned(),
            session_id: self.id.clone(),
            connects: self.connects,
            drops: self.drops,
            buffered: self.events.len(),
            next_seq: self.next_seq,
            discarded: self.discarded,
        }
    }
}

pub(crate) struct Account {
    pub account: SimAccount,
    pub waba_id: String,
    /// The `value` of each webhook to deliver, in order (see [`Sim::webhook_worker`]).
    outbox: mpsc::UnboundedSender<Value>,
    pub sent: Vec<SentMessage>,
    pub sent_index: HashMap<String, usize>,
    pub idempotency: HashMap<String, Value>,
    idempotency_order: VecDeque<String>,
    pub faults: VecDeque<Fault>,
    pub delay: Duration,
    /// Behave like the Graph API, which ignores `Idempotency-Key`: a repeat is sent again.
    pub ignore_idempotency_key: bool,
    /// Sends to these recipients hang this long before they are handled.
    pub recipient_delay: HashMap<String, Duration>,
    pub reads: VecDeque<String>,
    pub session: Session,
    /// What `GET /{phone_number_id}` reports about the number (as Graph does).
    pub profile: crate::phone::Profile,
}

impl Account {
    fn new(account: SimAccount, outbox: mpsc::UnboundedSender<Value>) -> Self {
        Self {
            waba_id: waba_id(&account.phone_number_id),
            account,
            outbox,
            sent: Vec::new(),
            sent_index: HashMap::new(),
            idempotency: HashMap::new(),
            idempotency_order: VecDeque::new(),
            faults: VecDeque::new(),
            delay: Duration::ZERO,
            ignore_idempotency_key: false,
            recipient_delay: HashMap::new(),
            reads: VecDeque::new(),
            session: Session::default(),
            profile: crate::phone::Profile::default(),
        }
    }

    /// Records an accepted send and its answer (under its idempotency key), forgetting the oldest
    /// beyond [`MAX_KEPT`].
    pub fn record_send(&mut self, sent: SentMessage, answer: &Value) {
        if let Some(k) = &sent.idempotency_key {
            self.idempotency.insert(k.clone(), answer.clone());
            self.idempotency_order.push_back(k.clone());
            while self.idempotency_order.len() > MAX_KEPT {
                if let Some(old) = self.idempotency_order.pop_front() {
                    self.idempotency.remove(&old);
                }
            }
        }
        self.sent_index.insert(sent.wamid.clone(), self.sent.len());
        self.sent.push(sent);
        if self.sent.len() > MAX_KEPT {
            self.sent.drain(..MAX_KEPT / 10);
            self.sent_index = self.sent.iter().enumerate().map(|(i, s)| (s.wamid.clone(), i)).collect();
        }
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    pub accounts: BTreeMap<String, Account>,
    /// Phone number ids in the order they were added.
    pub order: Vec<String>,
    pub stats: SimStats,
    /// Each WABA's message templates, in creation order.
    pub templates: BTreeMap<String, Vec<crate::templates::SimTemplate>>,
    /// Numbers the next template id.
    pub template_seq: u64,
    /// `http://127.0.0.1:PORT`, for the media URLs it hands out.
    pub base_url: String,
    /// Media files by id (sent by prospects, or uploaded).
    pub media: HashMap<String, crate::media::SimMedia>,
    pub media_faults: Vec<crate::media::MediaFault>,
    pub media_stats: crate::media::MediaStats,
    pub uploads: Vec<crate::media::Upload>,
    /// How long a media URL works (`None`: five minutes).
    pub media_url_ttl: Option<Duration>,
}

/// What happened, for a webhook or a session event.
pub(crate) enum Event {
    Message { contact: Value, message: Value },
    Status(Value),
}

pub(crate) struct Sim {
    pub cfg: SimConfig,
    pub http: reqwest::Client,
    pub rt: tokio::runtime::Handle,
    stop: watch::Receiver<bool>,
    inner: Mutex<Inner>,
    rng: Mutex<ChaCha8Rng>,
    pub generator: Option<Mutex<Generator>>,
    id_prefix: String,
    counter: AtomicU64,
}

/// Locks, recovering from a poisoned lock (the state stays usable).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn now_secs() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// A stable numeric WABA id for a phone number id.
fn waba_id(phone_number_id: &str) -> String {
    let h =
        phone_number_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("{}", 100_000_000_000_000 + h % 900_000_000_000_000)
}

impl Sim {
    pub fn new(cfg: SimConfig, http: reqwest::Client, rt: tokio::runtime::Handle, stop: watch::Receiver<bool>) -> Self {
        let generator = cfg.inbound.as_ref().map(|i| Mutex::new(Generator::new(i.seed, i.prospects)));
        let rng = Mutex::new(ChaCha8Rng::seed_from_u64(cfg.seed));
        // Unique across runs, so a restarted demo never repeats a message id.
        let id_prefix = format!("{:016X}", rand::rng().random::<u64>());
        Self {
            cfg,
            http,
            rt,
            stop,
            inner: Mutex::new(Inner::default()),
            rng,
            generator,
            id_prefix,
            counter: AtomicU64::new(0),
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// A random value from the seeded generator of delays and outcomes.
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut ChaCha8Rng) -> T) -> T {
        f(&mut lock(&self.rng))
    }

    pub fn new_id(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{prefix}{}{n:010X}", self.id_prefix)
    }

    pub fn new_wamid(&self) -> String {
        self.new_id("wamid.HBgN")
    }

    /// Resolves when the simulator shuts down.
    pub async fn stopped(&self) {
        let mut rx = self.stop.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    pub fn is_stopped(&self) -> bool {
        *self.stop.borrow()
    }

    /// Sleeps; false when the simulator shut down meanwhile.
    pub async fn sleep(&self, d: Duration) -> bool {
        tokio::select! {
            () = self.stopped() => false,
            () = tokio::time::sleep(d) => !self.is_stopped(),
        }
    }

    pub fn stats(&self) -> SimStats {
        let inner = self.lock();
        let mut s = inner.stats.clone();
        s.accounts = inner.accounts.len();
        s.sessions = inner
            .accounts
            .iter()
            .filter(|(_, a)| a.account.session_mode)
            .map(|(id, a)| (id.clone(), a.session.stats()))
            .collect();
        s
    }

    /// Adds an account, or replaces its settings (token, secret, webhook URL, mode) keeping its
    /// history.
    pub fn add_account(self: &Arc<Self>, account: SimAccount) {
        let mut inner = self.lock();
        if let Some(a) = inner.accounts.get_mut(&account.phone_number_id) {
            a.account = account;
            return;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let id = account.phone_number_id.clone();
        tracing::info!(phone_number_id = %id, session_mode = account.session_mode, "simulator account added");
        inner.accounts.insert(id.clone(), Account::new(account, tx));
        inner.order.push(id.clone());
        drop(inner);
        self.rt.spawn(Arc::clone(self).webhook_worker(id, rx));
    }

    /// Hands an event to the account: buffered for its session in session mode, else queued as a
    /// signed webhook. False for an unknown account.
    pub fn deliver(&self, phone_number_id: &str, event: Event) -> bool {
        let mut inner = self.lock();
        let Some(acc) = inner.accounts.get_mut(phone_number_id) else { return false };
        if acc.account.session_mode {
            let s = &mut acc.session;
            let seq = s.next_seq;
            s.next_seq += 1;
            let ev = match event {
                Event::Message { contact, message } => json!({"seq": seq, "contact": contact, "message": message}),
                Event::Status(status) => json!({"seq": seq, "status": status}),
            };
            s.events.push_back((seq, ev));
            while s.events.len() > MAX_SESSION_EVENTS {
                s.events.pop_front();
                s.discarded += 1;
            }
            s.notify.notify_waiters();
            return true;
        }
        let mut value = json!({
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": acc.account.display_phone_number,
                "phone_number_id": acc.account.phone_number_id,
            },
        });
        match event {
            Event::Message { contact, message } => {
                value["contacts"] = json!([contact]);
                value["messages"] = json!([message]);
            }
            Event::Status(status) => value["statuses"] = json!([status]),
        }
        acc.outbox.send(value).is_ok()
    }

    /// Emits one inbound message from `wa_id` (digits) to the account. `message` holds the type
    /// and its object (and `context` for a reply); `from`, `id` and `timestamp` are added.
    pub fn emit_inbound(&self, phone_number_id: &str, wa_id: &str, name: &str, mut message: Value) -> Option<String> {
        let wamid = self.new_wamid();
        message["from"] = json!(wa_id);
        message["id"] = json!(wamid);
        message["timestamp"] = json!(now_secs());
        let contact = json!({"profile": {"name": name}, "wa_id": wa_id});
        if !self.deliver(phone_number_id, Event::Message { contact, message }) {
            return None;
        }
        self.lock().stats.inbound_emitted += 1;
        tracing::debug!(phone_number_id, from = wa_id, %wamid, "simulated inbound message");
        Some(wamid)
    }

    /// Reports one status of a sent message.
    fn emit_status(&self, phone_number_id: &str, wamid: &str, status: &str, failed: bool) -> bool {
        let (recipient, callback) = {
            let mut inner = self.lock();
            let Some(acc) = inner.accounts.get_mut(phone_number_id) else { return false };
            let Some(sent) = acc.sent_index.get(wamid).and_then(|&i| acc.sent.get_mut(i)) else { return false };
            sent.statuses.push(status.to_owned());
            let r = ((sent.wa_id.clone(), sent.user_id.clone()), sent.biz_opaque_callback_data.clone());
            inner.stats.statuses_emitted += 1;
            r
        };
        let mut s = json!({"id": wamid, "status": status, "timestamp": now_secs()});
        // As the Cloud API reports a send addressed by business-scoped user id: the user id, and
        // no number.
        match recipient {
            (_, Some(user_id)) => s["recipient_user_id"] = json!(user_id),
            (wa_id, None) => s["recipient_id"] = json!(wa_id),
        }
        if let Some(c) = callback {
            s["biz_opaque_callback_data"] = json!(c);
        }
        if status == "sent" || status == "delivered" {
            s["pricing"] = json!({"billable": true, "pricing_model": "PMP", "category": "service"});
        }
        if failed {
            s["errors"] = json!([{
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Message Undeliverable."},
            }]);
        }
        self.deliver(phone_number_id, Event::Status(s))
    }

    /// After an accepted send: sent, then delivered (maybe read, maybe a reply) or failed.
    pub fn spawn_status_flow(self: &Arc<Self>, phone_number_id: String, wamid: String, wa_id: String) {
        let sim = Arc::clone(self);
        self.rt.spawn(async move {
            let d = &sim.cfg.status_delays;
            let (t_sent, t_deliv, t_read, fails, reads) = sim.with_rng(|r| {
                (
                    d.sent.sample(r),
                    d.delivered.sample(r),
                    d.read.sample(r),
                    r.random_bool(sim.cfg.failure_rate.clamp(0.0, 1.0)),
                    r.random_bool(d.read_probability.clamp(0.0, 1.0)),
                )
            });
            if !sim.sleep(t_sent).await || !sim.emit_status(&phone_number_id, &wamid, "sent", false) {
                return;
            }
            if !sim.sleep(t_deliv).await {
                return;
            }
            if fails {
                sim.emit_status(&phone_number_id, &wamid, "failed", true);
                return;
            }
            if !sim.emit_status(&phone_number_id, &wamid, "delivered", false) || !reads {
                return;
            }
            if !sim.sleep(t_read).await || !sim.emit_status(&phone_number_id, &wamid, "read", false) {
                return;
            }
            sim.maybe_reply(&phone_number_id, &wamid, &wa_id).await;
        });
    }

    /// A prospect who read a message sometimes answers it.
    async fn maybe_reply(&self, phone_number_id: &str, wamid: &str, wa_id: &str) {
        let (Some(inbound), Some(generator)) = (&self.cfg.inbound, &self.generator) else { return };
        if wa_id.is_empty() {
            // Sent to a business-scoped user id: not one of the generator's prospects.
            return;
        }
        let (replies, delay) = self
            .with_rng(|r| (r.random_bool(inbound.reply_probability.clamp(0.0, 1.0)), inbound.reply_delay.sample(r)));
        if !replies || !self.sleep(delay).await {
            return;
        }
        let (name, text) = {
            let mut g = lock(generator);
            let name = g.find(wa_id).map(|p| p.name.clone()).unwrap_or_else(|| format!("+{wa_id}"));
            (name, g.reply_text())
        };
        let business = {
            let inner = self.lock();
            let Some(a) = inner.accounts.get(phone_number_id) else { return };
            a.account.display_phone_number.chars().filter(char::is_ascii_digit).collect::<String>()
        };
        let message = json!({"type": "text", "text": {"body": text}, "context": {"from": business, "id": wamid}});
        if self.emit_inbound(phone_number_id, wa_id, &name, message).is_some() {
            self.lock().stats.replies += 1;
        }
    }

    /// Delivers one account's webhooks in order, each retried with exponential backoff. Statuses
    /// that are due together go out in one webhook (up to [`MAX_STATUSES_PER_WEBHOOK`]), as the
    /// Cloud API batches them under load; a message is always a webhook of its own.
    async fn webhook_worker(self: Arc<Self>, phone_number_id: String, mut rx: mpsc::UnboundedReceiver<Value>) {
        let mut next: Option<Value> = None;
        loop {
            let mut value = match next.take() {
                Some(v) => v,
                None => tokio::select! {
                    () = self.stopped() => return,
                    v = rx.recv() => match v { Some(v) => v, None => return },
                },
            };
            while let Some(statuses) = value.get_mut("statuses").and_then(Value::as_array_mut) {
                if statuses.len() >= MAX_STATUSES_PER_WEBHOOK {
                    break;
                }
                let Ok(more) = rx.try_recv() else { break };
                match more.get("statuses").and_then(Value::as_array) {
                    Some(more) if more.len() + statuses.len() <= MAX_STATUSES_PER_WEBHOOK => {
                        statuses.extend(more.iter().cloned());
                    }
                    _ => {
                        next = Some(more);
                        break;
                    }
                }
            }
            let waba_id = self.lock().accounts.get(&phone_number_id).map(|a| a.waba_id.clone());
            let Some(waba_id) = waba_id else { return };
            let payload = json!({
                "object": "whatsapp_business_account",
                "entry": [{"id": waba_id, "changes": [{"field": "messages", "value": value}]}],
            });
            let Ok(body) = serde_json::to_vec(&payload) else { continue };
            let retry = &self.cfg.webhook_retry;
            let mut backoff = retry.initial_backoff;
            let mut attempt = 1u32;
            loop {
                let target = {
                    let inner = self.lock();
                    inner
                        .accounts
                        .get(&phone_number_id)
                        .map(|a| (a.account.webhook_url.clone(), a.account.app_secret.clone()))
                };
                let Some((url, secret)) = target else { return };
                if url.is_empty() {
                    tracing::warn!(phone_number_id, "no webhook URL: webhook dropped");
                    self.lock().stats.webhooks_failed += 1;
                    break;
                }
                let request = self
                    .http
                    .post(&url)
                    .timeout(retry.timeout)
                    .header("content-type", "application/json")
                    .header("x-hub-signature-256", platica_domain::signature::sign(&secret, &body))
                    .body(body.clone())
                    .send();
                let result = tokio::select! {
                    () = self.stopped() => return,
                    r = request => r,
                };
                let error = match result {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("status {}", r.status())),
                    Err(e) => Some(e.to_string()),
                };
                let Some(error) = error else {
                    self.lock().stats.webhooks_delivered += 1;
                    break;
                };
                if attempt >= retry.max_attempts.max(1) {
                    tracing::warn!(phone_number_id, %url, %error, attempt, "webhook given up");
                    self.lock().stats.webhooks_failed += 1;
                    break;
                }
                tracing::debug!(phone_number_id, %url, %error, attempt, "webhook failed, retrying");
                if !self.sleep(backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(retry.max_backoff);
                attempt += 1;
                self.lock().stats.webhooks_retried += 1;
            }
        }
    }

    /// Generated prospects writing in, at Poisson arrivals, to the accounts in turn at random.
    pub async fn generate(self: Arc<Self>) {
        let (Some(inbound), Some(generator)) = (&self.cfg.inbound, &self.generator) else { return };
        if inbound.rate_per_sec <= 0.0 || !inbound.rate_per_sec.is_finite() {
            return;
        }
        let mut timing = ChaCha8Rng::seed_from_u64(inbound.seed ^ 0x5eed_7133);
        loop {
            let u: f64 = timing.random_range(f64::EPSILON..1.0);
            let wait = Duration::from_secs_f64((-u.ln() / inbound.rate_per_sec).min(3600.0));
            if !self.sleep(wait).await {
                return;
            }
            let target = {
                let inner = self.lock();
                if inner.order.is_empty() {
                    continue;
                }
                inner.order[timing.random_range(0..inner.order.len())].clone()
            };
            let (prospect, content) = {
                let mut g = lock(generator);
                let m = g.next_message();
                let Some(p) = g.prospects().get(m.prospect).cloned() else { continue };
                (p, m.content)
            };
            let message = match content {
                Content::Text { body } => json!({"type": "text", "text": {"body": body}}),
                Content::Image { caption, media_id: _ } => {
                    // A real file behind the id, so Platica can fetch it.
                    let bytes = crate::media::SAMPLE_PNG;
                    let media_id = self.add_media(&target, bytes.to_vec(), "image/png");
                    json!({"type": "image", "image": {
                        "caption": caption, "mime_type": "image/png", "id": media_id,
                        "sha256": hex::encode(Sha256::digest(bytes))}})
                }
                Content::Button { id, title } => json!({"type": "interactive", "interactive": {
                    "type": "button_reply", "button_reply": {"id": id, "title": title}}}),
            };
            self.emit_inbound(&target, &prospect.wa_id, &prospect.name, message);
        }
    }

    /// Drops a random connected session now and then.
    pub async fn auto_drop(self: Arc<Self>) {
        let Some(every) = self.cfg.session.auto_drop_every else { return };
        loop {
            let wait = self.with_rng(|r| every.sample(r)).max(Duration::from_millis(10));
            if !self.sleep(wait).await {
                return;
            }
            let connected: Vec<String> = {
                let inner = self.lock();
                inner
                    .accounts
                    .iter()
                    .filter(|(_, a)| a.account.session_mode && a.session.id.is_some())
                    .map(|(id, _)| id.clone())
                    .collect()
            };
            if connected.is_empty() {
                continue;
            }
            let i = self.with_rng(|r| r.random_range(0..connected.len()));
            self.drop_session(&connected[i]);
        }
    }

    /// Drops a session (until the next connect). False for an unknown account.
    pub fn drop_session(&self, phone_number_id: &str) -> bool {
        let mut inner = self.lock();
        let Some(acc) = inner.accounts.get_mut(phone_number_id) else { return false };
        if acc.session.id.take().is_some() {
            acc.session.drops += 1;
            tracing::info!(phone_number_id, "simulated session dropped");
        }
        acc.session.notify.notify_waiters();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_remembers_a_bounded_history() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let mut acc = Account::new(SimAccount::default(), tx);
        let sent = |i: usize| SentMessage {
            phone_number_id: "1".into(),
            wamid: format!("wamid.{i}"),
            to: "5215512345678".into(),
            wa_id: "5215512345678".into(),
            user_id: None,
            kind: "text".into(),
            text: Some("x".into()),
            template: None,
            template_components: None,
            template_language: None,
            idempotency_key: Some(format!("k{i}")),
            biz_opaque_callback_data: None,
            context_message_id: None,
            media_id: None,
            received_at: String::new(),
            statuses: Vec::new(),
        };
        for i in 0..=MAX_KEPT {
            acc.record_send(sent(i), &json!({"i": i}));
        }
        assert_eq!(acc.sent.len(), MAX_KEPT + 1 - MAX_KEPT / 10);
        assert_eq!(acc.sent[0].wamid, format!("wamid.{}", MAX_KEPT / 10));
        let last = format!("wamid.{MAX_KEPT}");
        assert_eq!(acc.sent_index.get(&last).map(|&i| &acc.sent[i].wamid), Some(&last));
        assert!(!acc.sent_index.contains_key("wamid.0"));
        assert_eq!(acc.idempotency.len(), MAX_KEPT);
        assert!(!acc.idempotency.contains_key("k0") && acc.idempotency.contains_key("k1"));
    }
}
