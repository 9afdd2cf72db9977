//! The session supervisor: keeps the long-lived sessions of `session` channel accounts (a
//! linked-device style connection, as the built-in simulator offers) connected, and stores what
//! they receive.
//!
//! - **Restore**: at start-up every session account connects, at most
//!   [`SupervisorConfig::connect_concurrency`] at a time (the same bound holds for every later
//!   reconnect), with progress in the logs.
//! - **Reading**: each session long-polls its events after its persisted cursor, stores them
//!   through the same ingestion as webhooks (idempotent by message id), then moves the cursor and
//!   acknowledges. Events are acknowledged only after they are stored, so the source keeps
//!   whatever arrived while a session was down (or Platica was) and it is read on reconnect.
//! - **Health**: a loop checks every connected session (first after
//!   [`SupervisorConfig::first_check`], then every [`SupervisorConfig::check_every`]) and
//!   reconnects only the unhealthy ones. A session that fails while reading reconnects at once.
//! - **Backoff and breaker**: reconnects back off exponentially with jitter; after
//!   [`SupervisorConfig::breaker_threshold`] consecutive failures the circuit opens for
//!   [`SupervisorConfig::breaker_cooldown`], then one attempt is let through.
//! - **State** is persisted in `channel_sessions` on every change (GET /api/v1/channels and
//!   /ready read it) and counted in metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use platica_domain::TenantId;
use platica_store::PgPool;
use platica_store::secrets::SecretKey;
use platica_store::whatsapp::channels::{self, SenderAccount, WebhookAccount};
use platica_store::whatsapp::ingest::{self as stored, WebhookEvent};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, Notify, Semaphore, watch};
use tokio::task::JoinHandle;

use crate::bot::Bot;
use crate::payload;
use crate::sender::backoff;

/// The supervisor's settings.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    /// Sessions connecting at once (at start-up and later).
    pub connect_concurrency: usize,
    /// The first health check after start-up.
    pub first_check: Duration,
    /// Health checks after the first.
    pub check_every: Duration,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Consecutive failed connects that open the circuit.
    pub breaker_threshold: u32,
    /// How long an open circuit waits before one more attempt.
    pub breaker_cooldown: Duration,
    /// How long one events request waits for something to arrive.
    pub poll_wait: Duration,
    /// How often the list of session accounts is read again.
    pub refresh: Duration,
    pub request_timeout: Duration,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            connect_concurrency: 5,
            first_check: Duration::from_secs(30),
            check_every: Duration::from_secs(120),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(300),
            poll_wait: Duration::from_secs(20),
            refresh: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Where a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    Connecting,
    Connected,
    Reconnecting,
    OpenCircuit,
    Stopped,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Reconnecting => "reconnecting",
            State::OpenCircuit => "open_circuit",
            State::Stopped => "stopped",
        }
    }
}

/// One session as the supervisor sees it now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionStatus {
    pub tenant_id: TenantId,
    pub channel_account_id: i64,
    pub phone_number_id: String,
    pub state: State,
    pub failures: u32,
    pub last_error: Option<String>,
    pub cursor: i64,
}

/// The running supervisor.
pub struct Supervisor {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    pool: PgPool,
    key: &'static SecretKey,
    config: SupervisorConfig,
    http: reqwest::Client,
    bot: Option<Bot>,
    connects: Semaphore,
    sessions: std::sync::Mutex<HashMap<(i64, i64), Arc<Session>>>,
    /// Each session's state, readable without waiting (readiness, metrics).
    summary: Arc<std::sync::Mutex<BTreeMap<(i64, i64), State>>>,
}

/// A cheap, synchronous view of the sessions' states.
#[derive(Clone)]
pub struct SessionsView {
    summary: Arc<std::sync::Mutex<BTreeMap<(i64, i64), State>>>,
}

impl SessionsView {
    /// How many sessions are in each state.
    pub fn states(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        if let Ok(s) = self.summary.lock() {
            for st in s.values() {
                *out.entry(st.as_str().to_owned()).or_insert(0) += 1;
            }
        }
        out
    }

    /// Sessions whose circuit is open: they failed to connect again and again.
    pub fn open_circuits(&self) -> Vec<(i64, i64)> {
        self.summary
            .lock()
            .map(|s| s.iter().filter(|(_, st)| **st == State::OpenCircuit).map(|(k, _)| *k).collect())
            .unwrap_or_default()
    }
}

struct Session {
    account: SenderAccount,
    status: Mutex<SessionStatus>,
    /// The health loop found it dead: reconnect.
    unhealthy: Notify,
    stop: watch::Sender<bool>,
    task: std::sync::Mutex<Option<JoinHandle<()>>>,
    session_id: Mutex<Option<String>>,
}

impl Supervisor {
    pub fn start(
        pool: PgPool,
        key: &'static SecretKey,
        config: SupervisorConfig,
        bot: Option<Bot>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Supervisor, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(config.request_timeout + config.poll_wait).build()?;
        let shared = Arc::new(Shared {
            pool,
            key,
            connects: Semaphore::new(config.connect_concurrency.max(1)),
            config,
            http,
            bot,
            sessions: std::sync::Mutex::new(HashMap::new()),
            summary: Arc::new(std::sync::Mutex::new(BTreeMap::new())),
        });
        let task = tokio::spawn(manage(shared.clone(), shutdown));
        Ok(Supervisor { shared, task })
    }

    /// A synchronous view of the sessions' states.
    pub fn view(&self) -> SessionsView {
        SessionsView { summary: self.shared.summary.clone() }
    }

    /// Every session's current status.
    pub async fn statuses(&self) -> Vec<SessionStatus> {
        statuses(&self.shared).await
    }

    /// Waits for every session task to stop (after the shutdown signal).
    pub async fn finished(self) {
        let _ = self.task.await;
    }
}

async fn statuses(shared: &Shared) -> Vec<SessionStatus> {
    let sessions: Vec<Arc<Session>> = shared.sessions.lock().map(|s| s.values().cloned().collect()).unwrap_or_default();
    let mut out = Vec::with_capacity(sessions.len());
    for s in &sessions {
        out.push(s.status.lock().await.clone());
    }
    out.sort_by_key(|s| (s.tenant_id.0, s.channel_account_id));
    out
}

async fn manage(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut refresh = tokio::time::interval(shared.config.refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let first = tokio::time::Instant::now() + shared.config.first_check;
    let mut health = tokio::time::interval_at(first, shared.config.check_every);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut restored_once = false;
    loop {
        tokio::select! {
            _ = shutdown.changed() => if *shutdown.borrow() { break },
            _ = refresh.tick() => {
                match channels::sender_accounts(&shared.pool).await {
                    Ok(accounts) => {
                        let sessions: Vec<SenderAccount> = accounts.into_iter().filter(|a| a.kind == "session").collect();
                        if !restored_once && !sessions.is_empty() {
                            tracing::info!(sessions = sessions.len(), concurrency = shared.config.connect_concurrency,
                                "restoring channel sessions");
                        }
                        restored_once = true;
                        reconcile(&shared, sessions);
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read session accounts"),
                }
            }
            _ = health.tick() => check_health(&shared).await,
        }
    }
    let all: Vec<Arc<Session>> =
        shared.sessions.lock().map(|mut s| s.drain().map(|(_, v)| v).collect()).unwrap_or_default();
    for s in &all {
        let _ = s.stop.send(true);
    }
    for s in all {
        let task = s.task.lock().ok().and_then(|mut t| t.take());
        if let Some(t) = task {
            let _ = t.await;
        }
    }
    tracing::info!("session supervisor stopped");
}

fn reconcile(shared: &Arc<Shared>, accounts: Vec<SenderAccount>) {
    let Ok(mut sessions) = shared.sessions.lock() else { return };
    let wanted: HashMap<(i64, i64), SenderAccount> =
        accounts.into_iter().map(|a| ((a.tenant_id.0, a.channel_account_id), a)).collect();
    sessions.retain(|k, s| {
        let keep = wanted.get(k).is_some_and(|a| a.updated_at == s.account.updated_at);
        if !keep {
            let _ = s.stop.send(true);
            if let Ok(mut summary) = shared.summary.lock() {
                summary.remove(k);
            }
        }
        keep
    });
    for (k, account) in wanted {
        if sessions.contains_key(&k) {
            continue;
        }
        let status = SessionStatus {
            tenant_id: account.tenant_id,
            channel_account_id: account.channel_account_id,
            phone_number_id: account.phone_number_id.clone(),
            state: State::Connecting,
            failures: 0,
            last_error: None,
            cursor: 0,
        };
        let session = Arc::new(Session {
            account,
            status: Mutex::new(status),
            unhealthy: Notify::new(),
            stop: watch::channel(false).0,
            task: std::sync::Mutex::new(None),
            session_id: Mutex::new(None),
        });
        let task = tokio::spawn(drive(shared.clone(), session.clone()));
        if let Ok(mut t) = session.task.lock() {
            *t = Some(task);
        }
        sessions.insert(k, session);
    }
}

/// Checks every connected session; wakes the ones that are not healthy.
async fn check_health(shared: &Arc<Shared>) {
    let sessions: Vec<Arc<Session>> = shared.sessions.lock().map(|s| s.values().cloned().collect()).unwrap_or_default();
    let mut unhealthy = 0;
    for s in &sessions {
        if s.status.lock().await.state != State::Connected {
            continue;
        }
        let ours = s.session_id.lock().await.clone();
        let healthy = match client(shared, &s.account) {
            Ok(c) => c.health().await.is_ok_and(|id| id.is_some() && id == ours),
            Err(_) => false,
        };
        let _ =
            platica_store::whatsapp::sessions::checked(&shared.pool, s.account.tenant_id, s.account.channel_account_id)
                .await;
        metrics::counter!("platica_session_health_checks_total", "healthy" => healthy.to_string()).increment(1);
        if !healthy {
            unhealthy += 1;
            tracing::warn!(
                tenant_id = s.account.tenant_id.0,
                channel_account_id = s.account.channel_account_id,
                "health check failed: reconnecting this session"
            );
            s.unhealthy.notify_one();
        }
    }
    tracing::debug!(checked = sessions.len(), unhealthy, "session health checked");
}

/// The session endpoints of an account: its base URL without the Cloud API version segment.
fn session_root(base_url: &str) -> String {
    let trimmed = base_url.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((root, last)) if last.starts_with('v') && last[1..].chars().all(|c| c.is_ascii_digit() || c == '.') => {
            root.to_owned()
        }
        _ => trimmed.to_owned(),
    }
}

struct Client<'a> {
    http: &'a reqwest::Client,
    root: String,
    pnid: &'a str,
    token: String,
}

#[derive(Debug)]
enum SessionError {
    /// The session is gone (503): reconnect.
    Dropped,
    Failed(String),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::Dropped => f.write_str("the session was dropped"),
            SessionError::Failed(e) => f.write_str(e),
        }
    }
}

#[derive(Deserialize)]
struct Events {
    #[serde(default)]
    events: Vec<Value>,
}

fn client<'a>(shared: &'a Shared, account: &'a SenderAccount) -> Result<Client<'a>, String> {
    let base = account.base_url.as_deref().ok_or("a session account needs a base_url")?;
    let token = account.access_token(shared.key).map_err(|e| e.to_string())?;
    Ok(Client { http: &shared.http, root: session_root(base), pnid: &account.phone_number_id, token })
}

impl Client<'_> {
    fn url(&self, what: &str) -> String {
        format!("{}/_session/{}/{what}", self.root, self.pnid)
    }

    async fn connect(&self) -> Result<String, SessionError> {
        let resp = self.http.post(self.url("connect")).bearer_auth(&self.token).send().await.map_err(fail)?;
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(SessionError::Failed(format!("connect answered {status}: {body}")));
        }
        body.get("session_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SessionError::Failed("connect answered no session_id".to_owned()))
    }

    /// The connected session's id, or `None` when the source says it is disconnected.
    async fn health(&self) -> Result<Option<String>, SessionError> {
        let resp = self.http.get(self.url("health")).send().await.map_err(fail)?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        let body: Value = resp.json().await.map_err(fail)?;
        Ok(body.get("session_id").and_then(Value::as_str).map(str::to_owned))
    }

    async fn events(&self, after: i64, wait: Duration) -> Result<Vec<Value>, SessionError> {
        let resp = self
            .http
            .get(self.url("events"))
            .bearer_auth(&self.token)
            .query(&[("after", after.to_string()), ("wait_ms", wait.as_millis().to_string())])
            .send()
            .await
            .map_err(fail)?;
        if resp.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Err(SessionError::Dropped);
        }
        if !resp.status().is_success() {
            return Err(SessionError::Failed(format!("events answered {}", resp.status())));
        }
        Ok(resp.json::<Events>().await.map_err(fail)?.events)
    }

    async fn ack(&self, seq: i64) -> Result<(), SessionError> {
        let resp = self
            .http
            .post(self.url("ack"))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"seq": seq}))
            .send()
            .await
            .map_err(fail)?;
        if resp.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
            return Err(SessionError::Dropped);
        }
        Ok(())
    }
}

fn fail(e: reqwest::Error) -> SessionError {
    SessionError::Failed(e.to_string())
}

impl Session {
    async fn set(&self, shared: &Shared, state: State, failures: u32, error: Option<String>) {
        let sid = self.session_id.lock().await.clone();
        {
            let mut st = self.status.lock().await;
            st.state = state;
            st.failures = failures;
            if error.is_some() || state == State::Connected {
                st.last_error = error.clone();
            }
        }
        metrics::counter!("platica_session_transitions_total", "state" => state.as_str()).increment(1);
        let a = &self.account;
        if let Ok(mut summary) = shared.summary.lock() {
            summary.insert((a.tenant_id.0, a.channel_account_id), state);
        }
        if let Err(e) = platica_store::whatsapp::sessions::set_state(
            &shared.pool,
            a.tenant_id,
            a.channel_account_id,
            state.as_str(),
            sid.as_deref(),
            failures,
            error.as_deref(),
        )
        .await
        {
            tracing::warn!(error = %e, "cannot record a session's state");
        }
    }

    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

/// One session's life: connect (bounded, with backoff and breaker), read, reconnect.
async fn drive(shared: Arc<Shared>, s: Arc<Session>) {
    let a = s.account.clone();
    let (tenant, id) = (a.tenant_id, a.channel_account_id);
    let mut stop = s.stop.subscribe();
    let mut cursor = match platica_store::whatsapp::sessions::load(&shared.pool, tenant, id).await {
        Ok(row) => row.cursor,
        Err(e) => {
            tracing::error!(tenant_id = tenant.0, channel_account_id = id, error = %e, "cannot load the session's cursor");
            0
        }
    };
    s.status.lock().await.cursor = cursor;
    let client = match client(&shared, &a) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(tenant_id = tenant.0, channel_account_id = id, error = %e, "session cannot start");
            s.set(&shared, State::Stopped, 0, Some(e)).await;
            return;
        }
    };
    let mut failures: u32 = 0;
    'life: while !s.stopping() {
        // Connect, within the shared bound.
        let connected = {
            let Ok(_permit) = shared.connects.acquire().await else { return };
            if s.stopping() {
                break;
            }
            client.connect().await
        };
        match connected {
            Ok(session_id) => {
                *s.session_id.lock().await = Some(session_id.clone());
                failures = 0;
                s.set(&shared, State::Connected, 0, None).await;
                metrics::counter!("platica_session_connects_total", "outcome" => "ok").increment(1);
                tracing::info!(tenant_id = tenant.0, channel_account_id = id, %session_id, cursor, "session connected");
            }
            Err(e) => {
                failures += 1;
                metrics::counter!("platica_session_connects_total", "outcome" => "failed").increment(1);
                let wait = if failures >= shared.config.breaker_threshold {
                    tracing::warn!(tenant_id = tenant.0, channel_account_id = id, failures, error = %e,
                        cooldown_s = shared.config.breaker_cooldown.as_secs(), "session circuit open");
                    s.set(&shared, State::OpenCircuit, failures, Some(e.to_string())).await;
                    shared.config.breaker_cooldown
                } else {
                    tracing::warn!(tenant_id = tenant.0, channel_account_id = id, failures, error = %e, "session connect failed");
                    s.set(&shared, State::Reconnecting, failures, Some(e.to_string())).await;
                    backoff(failures as i32, shared.config.backoff_base, shared.config.backoff_max, &mut rand::rng())
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                continue;
            }
        }
        // Read until the session fails or the health loop finds it dead.
        loop {
            let polled = tokio::select! {
                r = client.events(cursor, shared.config.poll_wait) => r,
                () = s.unhealthy.notified() => Err(SessionError::Dropped),
                _ = stop.changed() => break 'life,
            };
            let result = match polled {
                Ok(events) if events.is_empty() => Ok(()),
                Ok(events) => store(&shared, &s, &client, &events, &mut cursor).await,
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(tenant_id = tenant.0, channel_account_id = id, error = %e, "session lost: reconnecting");
                failures = 1;
                s.set(&shared, State::Reconnecting, failures, Some(e.to_string())).await;
                let wait = backoff(1, shared.config.backoff_base, shared.config.backoff_max, &mut rand::rng());
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
                continue 'life;
            }
        }
    }
    s.set(&shared, State::Stopped, failures, None).await;
}

/// Stores a batch of events, then moves the cursor and acknowledges them.
async fn store(
    shared: &Shared,
    s: &Session,
    client: &Client<'_>,
    events: &[Value],
    cursor: &mut i64,
) -> Result<(), SessionError> {
    let a = &s.account;
    let account: WebhookAccount = channels::find_by_phone_number_id(&shared.pool, &a.phone_number_id)
        .await
        .map_err(|e| SessionError::Failed(e.to_string()))?
        .ok_or_else(|| SessionError::Failed("the account is gone".to_owned()))?;
    let mut messages = Vec::new();
    let mut statuses = Vec::new();
    let mut reactions = Vec::new();
    let mut number_changes = Vec::new();
    let mut problems = Vec::new();
    let mut last = *cursor;
    for e in events {
        let Some(seq) = e.get("seq").and_then(Value::as_i64) else {
            problems.push("an event without seq".to_owned());
            continue;
        };
        if seq <= *cursor {
            continue;
        }
        last = last.max(seq);
        if let Some(m) = e.get("message") {
            let names = payload::Contacts::read(e.get("contact").map(|c| serde_json::json!([c])).as_ref());
            // As the webhook reads them: a reaction is not a message, a number change is also one.
            if let Some(r) = payload::reaction(m) {
                match r {
                    Ok(r) => reactions.push(r),
                    Err(p) => problems.push(p),
                }
                continue;
            }
            match payload::message(m.clone(), &names) {
                Ok(m) => {
                    match payload::number_change(&m) {
                        Some(Ok(c)) => number_changes.push(c),
                        Some(Err(p)) => problems.push(p),
                        None => {}
                    }
                    messages.push(m);
                }
                Err(p) => problems.push(p),
            }
        } else if let Some(st) = e.get("status") {
            match payload::status(st.clone()) {
                Ok(st) => statuses.push(st),
                Err(p) => problems.push(p),
            }
        } else {
            problems.push(format!("event {seq} carries neither a message nor a status"));
        }
    }
    let report = stored::ingest(&shared.pool, &account, &messages, &statuses)
        .await
        .map_err(|e| SessionError::Failed(format!("storing session events: {e}")))?;
    // After the messages, which a reaction or a number change may name.
    stored::react(&shared.pool, a.tenant_id, &reactions)
        .await
        .map_err(|e| SessionError::Failed(format!("storing session reactions: {e}")))?;
    for change in &number_changes {
        stored::change_number(&shared.pool, a.tenant_id, change)
            .await
            .map_err(|e| SessionError::Failed(format!("storing a number change: {e}")))?;
    }
    if !problems.is_empty() {
        let payload = serde_json::to_vec(events).unwrap_or_default();
        let _ = stored::log_event(
            &shared.pool,
            &WebhookEvent {
                tenant: a.tenant_id,
                channel_account_id: Some(a.channel_account_id),
                kind: "invalid_session_event",
                outcome: if messages.is_empty() && statuses.is_empty() && reactions.is_empty() {
                    "ignored"
                } else {
                    "partial"
                },
                error: Some(&problems.join("; ")),
                payload: &payload,
            },
        )
        .await;
    }
    if let Some(bot) = &shared.bot {
        bot.on_inbound(a.tenant_id, &report.stored);
    }
    platica_store::whatsapp::sessions::advance(&shared.pool, a.tenant_id, a.channel_account_id, last)
        .await
        .map_err(|e| SessionError::Failed(e.to_string()))?;
    *cursor = last;
    s.status.lock().await.cursor = last;
    metrics::counter!("platica_session_events_total").increment(events.len() as u64);
    tracing::debug!(
        tenant_id = a.tenant_id.0,
        channel_account_id = a.channel_account_id,
        stored = report.messages_stored,
        statuses = report.statuses_applied,
        cursor = last,
        "session events stored"
    );
    client.ack(last).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_root_drops_the_api_version() {
        assert_eq!(session_root("http://127.0.0.1:9000/v21.0"), "http://127.0.0.1:9000");
        assert_eq!(session_root("http://127.0.0.1:9000/v21.0/"), "http://127.0.0.1:9000");
        assert_eq!(session_root("https://sessions.example/x/v3"), "https://sessions.example/x");
        assert_eq!(session_root("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
        assert_eq!(session_root("http://127.0.0.1:9000/sessions"), "http://127.0.0.1:9000/sessions");
    }
}
