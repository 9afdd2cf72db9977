//! The outbox sender: one worker per channel account sends the account's outbox rows to its
//! Cloud API endpoint.
//!
//! - **One sender per number in the cluster**: a worker sends only while it holds the account's
//!   PostgreSQL advisory lock (on a connection of its own), so several servers share the work
//!   by account and the per-number rate holds cluster-wide. Rows are also claimed with
//!   `FOR UPDATE SKIP LOCKED`, so even two holders could never claim one row.
//! - **Woken at once**: an insert into `outbox` notifies `platica_outbox` (see the migration); a
//!   poll every [`SenderConfig::poll`] is the safety net.
//! - **Rate and order**: sends pass a per-account rate limiter; messages to one recipient go
//!   one after another in outbox order (when one must wait for a retry, the rest of its batch to
//!   that recipient waits too); different recipients are sent concurrently.
//! - **Retries**: a refusal that took nothing (429, WhatsApp's throttling codes, no connection)
//!   is retried with exponential backoff and jitter (at least any `Retry-After`) up to
//!   [`SenderConfig::max_attempts`]; any other refusal fails the message with WhatsApp's reason.
//! - **Never twice**: every message send carries its outbox row as `biz_opaque_callback_data`.
//!   A send whose outcome is unknown (timeout, connection cut after the request was written, 5xx,
//!   answer cut short) is retried at once only where the endpoint honours `Idempotency-Key` (the
//!   simulator) and for read receipts (marking read twice is harmless). To the Graph API its row
//!   goes `unconfirmed` and waits for a status webhook naming it, which finishes it; only after
//!   [`SenderConfig::unconfirmed_window`] without one is it sent again, as one more attempt
//!   (later messages to the same recipient do not wait for it). See [`platica_store::whatsapp::outbox`],
//!   also for rows a crash left `sending`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use platica_domain::TenantId;
use platica_store::PgPool;
use platica_store::secrets::SecretKey;
use platica_store::whatsapp::channels::{self, SenderAccount};
use platica_store::whatsapp::outbox::{self, Claimed, Failure};
use rand::Rng;
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgListener};
use tokio::sync::{Notify, watch};
use tokio::task::{JoinHandle, JoinSet};

use crate::cloud::{CloudClient, DEFAULT_BASE_URL, Endpoint, Outcome, PAIR_LIMIT_CODE, THROUGHPUT_CODES};

/// The sender's settings.
#[derive(Clone, Debug)]
pub struct SenderConfig {
    /// Where accounts without their own `base_url` send.
    pub default_base_url: String,
    /// Messages per second per number, unless the account says otherwise (WhatsApp's default
    /// throughput is 80).
    pub default_rate_per_sec: u32,
    /// Attempts before a retryable failure becomes final.
    pub max_attempts: i32,
    /// First retry delay; doubles each attempt (with jitter), up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long a claimed row may stay `sending` before it counts as abandoned.
    pub lease: Duration,
    pub request_timeout: Duration,
    /// Longest wait between looks at the queue when no notification comes.
    pub poll: Duration,
    /// How often the list of accounts is read again.
    pub refresh: Duration,
    /// Sends in flight at once, per account (`whatsapp.send_concurrency`).
    pub concurrency: usize,
    /// The first wait of a recipient's message after WhatsApp's pair rate limit (131056); it
    /// doubles while the limit is hit again, up to `backoff_max`.
    pub pair_gap: Duration,
    /// How long a send whose outcome is unknown waits for a status webhook before it may be sent
    /// again (to endpoints that ignore `Idempotency-Key`).
    pub unconfirmed_window: Duration,
    /// Where outbound attachments' bytes are (`None`: attachments cannot be sent and wait).
    pub media_store: Option<crate::media::MediaStore>,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            default_base_url: DEFAULT_BASE_URL.to_owned(),
            default_rate_per_sec: 80,
            max_attempts: 8,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(600),
            lease: Duration::from_secs(60),
            request_timeout: Duration::from_secs(20),
            poll: Duration::from_secs(1),
            refresh: Duration::from_secs(5),
            concurrency: 32,
            pair_gap: Duration::from_secs(6),
            unconfirmed_window: Duration::from_secs(600),
            media_store: None,
        }
    }
}

/// The retry delay before attempt `attempt + 1`: `base · 2^(attempt-1)` capped at `max`, of which
/// the upper half is random ("equal jitter": never immediate, never in lockstep).
pub fn backoff(attempt: i32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let exp = u32::try_from(attempt.saturating_sub(1)).unwrap_or(0).min(30);
    let full = base.saturating_mul(1u32 << exp).min(max);
    let half = full / 2;
    half + half.mul_f64(rng.random::<f64>())
}

/// The running sender; stops when the shutdown signal turns true, after finishing the sends in
/// flight.
pub struct Sender {
    task: JoinHandle<()>,
}

impl Sender {
    pub fn start(pool: PgPool, key: &'static SecretKey, config: SenderConfig, shutdown: watch::Receiver<bool>) -> Self {
        let task = tokio::spawn(manage(pool, key, Arc::new(config), shutdown));
        Sender { task }
    }

    /// Waits for every worker to finish (after the shutdown signal).
    pub async fn finished(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the outbox sender panicked");
        }
    }
}

struct Worker {
    updated_at: chrono::DateTime<Utc>,
    wake: Arc<Notify>,
    /// Tells this worker to finish its batch and stop.
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

async fn manage(pool: PgPool, key: &'static SecretKey, config: Arc<SenderConfig>, mut shutdown: watch::Receiver<bool>) {
    let client = match CloudClient::new(config.request_timeout) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client: nothing will be sent");
            return;
        }
    };
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen("platica_outbox").await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for outbox rows; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot LISTEN for outbox rows; polling only");
            None
        }
    };
    let mut workers: HashMap<(i64, i64), Worker> = HashMap::new();
    let mut refresh = tokio::time::interval(config.refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.changed() => {
                if *shutdown.borrow() { break; }
            }
            _ = refresh.tick() => {
                match channels::sender_accounts(&pool).await {
                    Ok(accounts) => reconcile(&mut workers, accounts, &pool, key, &config, &client),
                    Err(e) => tracing::warn!(error = %e, "cannot read channel accounts"),
                }
            }
            n = recv(&mut listener) => match n {
                Some(payload) => {
                    let parsed = payload.split_once(':').and_then(|(t, a)| Some((t.parse().ok()?, a.parse().ok()?)));
                    match parsed.and_then(|k| workers.get(&k)) {
                        Some(w) => w.wake.notify_one(),
                        // A new account: the next refresh starts its worker.
                        None => refresh.reset_immediately(),
                    }
                }
                None => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
    tracing::info!(workers = workers.len(), "outbox sender stopping: finishing sends in flight");
    for w in workers.values() {
        let _ = w.stop.send(true);
    }
    for (_, w) in workers {
        let _ = w.task.await;
    }
    tracing::info!("outbox sender stopped");
}

/// The next notification payload; `None` after an error (the caller waits a little).
async fn recv(listener: &mut Option<PgListener>) -> Option<String> {
    match listener {
        Some(l) => match l.recv().await {
            Ok(n) => Some(n.payload().to_owned()),
            Err(e) => {
                tracing::warn!(error = %e, "outbox notifications interrupted");
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// Starts workers for new or changed accounts and stops those of removed ones.
fn reconcile(
    workers: &mut HashMap<(i64, i64), Worker>,
    accounts: Vec<SenderAccount>,
    pool: &PgPool,
    key: &'static SecretKey,
    config: &Arc<SenderConfig>,
    client: &CloudClient,
) {
    let keys: std::collections::HashSet<(i64, i64)> =
        accounts.iter().map(|a| (a.tenant_id.0, a.channel_account_id)).collect();
    workers.retain(|k, w| {
        let keep = keys.contains(k) && !w.task.is_finished();
        if !keep {
            // Removed: it finishes its batch (if any) and stops.
            let _ = w.stop.send(true);
        }
        keep
    });
    for account in accounts {
        let k = (account.tenant_id.0, account.channel_account_id);
        if workers.get(&k).is_some_and(|w| w.updated_at == account.updated_at) {
            continue;
        }
        if let Some(old) = workers.remove(&k) {
            // Changed (token, URL, rate): the old worker finishes its batch and releases the
            // lock; the new one takes it over.
            let _ = old.stop.send(true);
        }
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = watch::channel(false);
        let ctx = WorkerCtx {
            pool: pool.clone(),
            key,
            config: config.clone(),
            client: client.clone(),
            wake: wake.clone(),
            shutdown: stopped,
            idempotent: account.kind != "cloud",
        };
        let updated_at = account.updated_at;
        let task = tokio::spawn(work(ctx, account));
        workers.insert(k, Worker { updated_at, wake, stop, task });
    }
}

struct WorkerCtx {
    pool: PgPool,
    key: &'static SecretKey,
    config: Arc<SenderConfig>,
    client: CloudClient,
    wake: Arc<Notify>,
    shutdown: watch::Receiver<bool>,
    /// The account's endpoint honours `Idempotency-Key` (every kind but `cloud`): a repeat with
    /// the same key is never sent twice.
    idempotent: bool,
}

impl WorkerCtx {
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps up to `d`, or less when woken or stopping.
    async fn pause(&mut self, d: Duration) {
        let wake = self.wake.clone();
        tokio::select! {
            () = tokio::time::sleep(d) => {}
            () = wake.notified() => {}
            _ = self.shutdown.changed() => {}
        }
    }
}

/// The advisory lock that makes this worker the account's only sender, on its own connection.
async fn take_lock(pool: &PgPool, account: &SenderAccount) -> Result<Option<PgConnection>, sqlx::Error> {
    let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
    let got: bool =
        sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended('platica.outbox:' || $1 || ':' || $2, 0))")
            .bind(account.tenant_id.0)
            .bind(account.channel_account_id)
            .fetch_one(&mut conn)
            .await?;
    if got {
        Ok(Some(conn))
    } else {
        let _ = conn.close().await;
        Ok(None)
    }
}

async fn work(mut ctx: WorkerCtx, account: SenderAccount) {
    let tenant = account.tenant_id;
    let id = account.channel_account_id;
    let endpoint = loop {
        match account.access_token(ctx.key) {
            Ok(token) => {
                break Endpoint {
                    base_url: account.base_url.clone().unwrap_or_else(|| ctx.config.default_base_url.clone()),
                    phone_number_id: account.phone_number_id.clone(),
                    access_token: token,
                };
            }
            Err(e) => {
                tracing::error!(tenant_id = tenant.0, channel_account_id = id, error = %e,
                    "cannot open the account's access token: its messages wait");
                ctx.pause(Duration::from_secs(30)).await;
                if ctx.stopping() {
                    return;
                }
            }
        }
    };
    let rate =
        account.send_rate_per_sec.and_then(|r| u32::try_from(r).ok()).unwrap_or(ctx.config.default_rate_per_sec).max(1);
    let shared = Arc::new(Shared {
        pool: ctx.pool.clone(),
        config: ctx.config.clone(),
        client: ctx.client.clone(),
        endpoint,
        idempotent: ctx.idempotent,
        pacer: Pacer::new(rate),
        pairs: Mutex::new(HashMap::new()),
        in_flight: Mutex::new(HashSet::new()),
        tenant,
        account: id,
        media: crate::media::GraphMedia::new(ctx.config.request_timeout).ok(),
    });
    while !ctx.stopping() {
        let lock = match take_lock(&ctx.pool, &account).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                // Another server sends for this number; stand by.
                ctx.pause(Duration::from_secs(5)).await;
                continue;
            }
            Err(e) => {
                tracing::warn!(tenant_id = tenant.0, channel_account_id = id, error = %e, "cannot take the sender lock");
                ctx.pause(Duration::from_secs(2)).await;
                continue;
            }
        };
        tracing::info!(tenant_id = tenant.0, channel_account_id = id, rate, "sending for this number");
        lead(&mut ctx, &shared, lock).await;
    }
}

/// What the sends of one account share.
struct Shared {
    pool: PgPool,
    config: Arc<SenderConfig>,
    client: CloudClient,
    endpoint: Endpoint,
    idempotent: bool,
    /// The number's pace: its configured rate, slowed down while WhatsApp says it is exceeded.
    pacer: Pacer,
    /// Recipients that hit the pair rate limit (131056), and the gap their next retry waits.
    pairs: Mutex<HashMap<String, Duration>>,
    /// Rows being sent now (a slow answer's lapsed lease is not a crash).
    in_flight: Mutex<HashSet<i64>>,
    tenant: TenantId,
    account: i64,
    /// Uploads outbound attachments to Graph.
    media: Option<crate::media::GraphMedia>,
}

impl Shared {
    fn in_flight(&self) -> Vec<i64> {
        self.in_flight.lock().map(|s| s.iter().copied().collect()).unwrap_or_default()
    }

    /// The recipient hit the pair limit again: its gap (doubling from [`SenderConfig::pair_gap`]).
    fn pair_limited(&self, to: &str) -> Duration {
        let Ok(mut pairs) = self.pairs.lock() else { return self.config.pair_gap };
        let gap = pairs.entry(to.to_owned()).or_insert(Duration::ZERO);
        *gap = if gap.is_zero() { self.config.pair_gap } else { gap.saturating_mul(2).min(self.config.backoff_max) };
        *gap
    }

    fn pair_ok(&self, to: &str) {
        if let Ok(mut pairs) = self.pairs.lock()
            && !pairs.is_empty()
        {
            pairs.remove(to);
        }
    }
}

/// A number's send pace: a GCRA limiter (`rate` per second, bursts of a tenth of a second's
/// worth) that WhatsApp's throughput errors slow down (halved, and paused for any Retry-After)
/// and successes speed up again, by a fiftieth of the configured rate each, up to it.
pub struct Pacer {
    max_rate: f64,
    state: Mutex<PacerState>,
}

struct PacerState {
    rate: f64,
    /// The theoretical arrival time of the next send.
    tat: Instant,
    paused_until: Instant,
}

impl Pacer {
    pub fn new(rate_per_sec: u32) -> Pacer {
        let now = Instant::now();
        let max_rate = f64::from(rate_per_sec.max(1));
        Pacer { max_rate, state: Mutex::new(PacerState { rate: max_rate, tat: now, paused_until: now }) }
    }

    /// The current rate, messages per second.
    pub fn rate(&self) -> f64 {
        self.state.lock().map(|s| s.rate).unwrap_or(self.max_rate)
    }

    /// Reserves the next send slot and waits for it.
    pub async fn ready(&self) {
        let at = {
            let Ok(mut s) = self.state.lock() else { return };
            let now = Instant::now().max(s.paused_until);
            let interval = Duration::from_secs_f64(1.0 / s.rate);
            let burst = (s.rate / 10.0).floor().max(1.0);
            let tolerance = interval.mul_f64(burst - 1.0);
            let at = now.max(s.tat.checked_sub(tolerance).unwrap_or(now));
            s.tat = s.tat.max(at) + interval;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }

    /// WhatsApp said the number's throughput is exceeded: half the rate, and nothing before
    /// `retry_after` (one second when it did not say).
    pub fn throttled(&self, retry_after: Option<Duration>) {
        if let Ok(mut s) = self.state.lock() {
            s.rate = (s.rate / 2.0).max(1.0);
            let until = Instant::now() + retry_after.unwrap_or(Duration::from_secs(1));
            s.paused_until = s.paused_until.max(until);
            s.tat = s.tat.max(until);
        }
    }

    /// A send was accepted: back towards the configured rate.
    pub fn accepted(&self) {
        if let Ok(mut s) = self.state.lock()
            && s.rate < self.max_rate
        {
            s.rate = (s.rate + self.max_rate / 50.0).min(self.max_rate);
        }
    }
}

/// While most slots are busy, the longest a free one waits for others before rows are claimed for
/// it (claims come in small batches under load, at once otherwise).
const CLAIM_GAP: Duration = Duration::from_millis(20);

/// Sends while holding the lock; returns when stopping (after the sends in flight finish) or when
/// the lock's connection fails.
///
/// Up to [`SenderConfig::concurrency`] sends are in flight at once, each its own task; whenever one
/// finishes, more are claimed. The claim takes only the head of each recipient's queue (see
/// [`outbox::claim`]), so one recipient's slow answer holds back that recipient's next messages
/// and no one else's.
async fn lead(ctx: &mut WorkerCtx, shared: &Arc<Shared>, mut lock: PgConnection) {
    let (tenant, id) = (shared.tenant, shared.account);
    let concurrency = ctx.config.concurrency.max(1);
    let mut tasks: JoinSet<()> = JoinSet::new();
    let claim_batch = (concurrency / 4).max(1);
    let mut last_claim = tokio::time::Instant::now() - CLAIM_GAP;
    let mut last_recovery = tokio::time::Instant::now() - ctx.config.lease;
    let mut last_lock_check = tokio::time::Instant::now();
    let mut last_reconcile = tokio::time::Instant::now() - ctx.config.poll;
    while !ctx.stopping() {
        while let Some(done) = tasks.try_join_next() {
            if let Err(e) = done {
                tracing::error!(error = %e, "a send task failed");
            }
        }
        if last_reconcile.elapsed() >= ctx.config.poll {
            last_reconcile = tokio::time::Instant::now();
            match outbox::reconcile_unconfirmed(&ctx.pool, tenant, id, ctx.config.max_attempts).await {
                Ok((0, 0)) => {}
                Ok((resent, failed)) => tracing::warn!(
                    tenant_id = tenant.0,
                    channel_account_id = id,
                    resent,
                    failed,
                    "unconfirmed sends had no status within the window"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot reconcile unconfirmed outbox rows"),
            }
        }
        if last_recovery.elapsed() >= ctx.config.lease / 2 {
            last_recovery = tokio::time::Instant::now();
            match outbox::recover_lapsed(&ctx.pool, tenant, id, shared.idempotent, &shared.in_flight()).await {
                Ok((0, 0)) => {}
                Ok((requeued, failed)) => tracing::warn!(
                    tenant_id = tenant.0,
                    channel_account_id = id,
                    requeued,
                    failed,
                    "recovered rows an interrupted sender left"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot recover abandoned outbox rows"),
            }
        }
        if last_lock_check.elapsed() >= Duration::from_secs(10) {
            last_lock_check = tokio::time::Instant::now();
            if let Err(e) = lock.ping().await {
                tracing::warn!(tenant_id = tenant.0, channel_account_id = id, error = %e, "lost the sender lock's connection");
                break;
            }
        }
        let free = concurrency.saturating_sub(tasks.len());
        let since_claim = last_claim.elapsed();
        let wait = if free == 0 {
            // Every slot busy: the next one to finish frees one.
            ctx.config.poll
        } else if free < claim_batch && since_claim < CLAIM_GAP {
            // Busy: gather a few free slots per claim rather than one query per finished send,
            // but never hold a free slot longer than CLAIM_GAP.
            CLAIM_GAP - since_claim
        } else {
            last_claim = tokio::time::Instant::now();
            match outbox::claim(&ctx.pool, tenant, id, free as i64, ctx.config.lease).await {
                Ok(rows) => {
                    let all = rows.len() == free;
                    if let Ok(mut f) = shared.in_flight.lock() {
                        f.extend(rows.iter().map(|r| r.outbox_id));
                    }
                    for row in rows {
                        let shared = shared.clone();
                        tasks.spawn(async move { send_one(&shared, row).await });
                    }
                    if all {
                        // Perhaps more are due: claim again when a slot frees.
                        continue;
                    }
                    match outbox::next_due(&ctx.pool, tenant, id).await {
                        Ok(Some(due)) => (due - Utc::now()).to_std().unwrap_or(Duration::ZERO).min(ctx.config.poll),
                        _ => ctx.config.poll,
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim outbox rows");
                    Duration::from_secs(1)
                }
            }
        };
        // Due now, yet nothing was claimed: a row added meanwhile, or one locked for a moment.
        let wait = wait.max(Duration::from_millis(5));
        let wake = ctx.wake.clone();
        tokio::select! {
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a send task failed");
                }
            }
            () = tokio::time::sleep(wait) => {}
            () = wake.notified() => {}
            _ = ctx.shutdown.changed() => {}
        }
    }
    // Finish the sends in flight (their outcomes are recorded) before letting go of the lock.
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a send task failed");
        }
    }
    let _ = lock.close().await;
}

/// Sends one claimed row at the number's pace and records what came of it.
async fn send_one(shared: &Shared, row: Claimed) {
    shared.pacer.ready().await;
    let started = std::time::Instant::now();
    let outcome = match payload_for(shared, &row).await {
        Ok(payload) => shared.client.send(&shared.endpoint, &payload, &row.idempotency_key()).await,
        // The attachment's upload failed: nothing was sent.
        Err(crate::media::Failure::Transient(error)) => {
            Outcome::Retry { http_status: None, code: None, error, retry_after: None }
        }
        Err(crate::media::Failure::Final(reason)) => Outcome::Refused(crate::cloud::Refusal {
            http_status: 422,
            code: None,
            title: "the attachment could not be uploaded to WhatsApp".to_owned(),
            detail: Some(reason),
        }),
    };
    metrics::histogram!("platica_outbox_send_seconds").record(started.elapsed().as_secs_f64());
    settle(shared, &row, outcome).await;
    if let Ok(mut f) = shared.in_flight.lock() {
        f.remove(&row.outbox_id);
    }
}

/// The request body to send. An attachment (`kind` `media`) is first uploaded to Graph, once per
/// file and account (`media::upload_once` keeps WhatsApp's id), and sent by that id.
async fn payload_for(shared: &Shared, row: &Claimed) -> Result<serde_json::Value, crate::media::Failure> {
    use crate::media::Failure;
    let mut payload = row.payload_to_send();
    if row.kind != "media" {
        return Ok(payload);
    }
    let media_id = payload
        .get("platica_media_id")
        .and_then(serde_json::Value::as_i64)
        .ok_or_else(|| Failure::Final("the outbox row names no attachment".to_owned()))?;
    let kind = payload.get("type").and_then(serde_json::Value::as_str).unwrap_or("document").to_owned();
    let (Some(store), Some(graph)) = (shared.config.media_store.as_ref(), shared.media.as_ref()) else {
        return Err(Failure::Transient("this server has no media store: the attachment waits".to_owned()));
    };
    let to = crate::media::GraphEndpoint {
        base_url: shared.endpoint.base_url.clone(),
        phone_number_id: shared.endpoint.phone_number_id.clone(),
        access_token: shared.endpoint.access_token.clone(),
    };
    let wa_id =
        crate::media::upload_once(&shared.pool, store, graph, &to, row.tenant_id, row.channel_account_id, media_id)
            .await?;
    if let Some(obj) = payload.as_object_mut() {
        obj.remove("platica_media_id");
        if let Some(m) = obj.get_mut(&kind).and_then(serde_json::Value::as_object_mut) {
            m.insert("id".to_owned(), serde_json::Value::String(wa_id));
        }
    }
    Ok(payload)
}

/// Records what a send came to.
async fn settle(shared: &Shared, row: &Claimed, outcome: Outcome) {
    let ids = (row.tenant_id, row.outbox_id, row.message_id);
    match outcome {
        Outcome::Accepted { http_status, external_id } => {
            metrics::counter!("platica_outbox_sends_total", "outcome" => "accepted").increment(1);
            tracing::debug!(tenant_id = ids.0, outbox_id = ids.1, message_id = ?ids.2, external_id = ?external_id, "sent");
            shared.pacer.accepted();
            if let Some(to) = row.recipient() {
                shared.pair_ok(to);
            }
            record(|| outbox::complete(&shared.pool, row, external_id.as_deref(), http_status)).await;
        }
        // Perhaps sent, to an endpoint that would send it again: wait for a status to say.
        Outcome::Unknown { http_status, error } if row.is_message() && !shared.idempotent => {
            metrics::counter!("platica_outbox_sends_total", "outcome" => "unconfirmed").increment(1);
            tracing::warn!(tenant_id = ids.0, outbox_id = ids.1, message_id = ?ids.2, attempt = row.attempts,
                window_s = shared.config.unconfirmed_window.as_secs(), error = %error,
                "send outcome unknown: not resent until a status or the end of the window");
            let window = shared.config.unconfirmed_window;
            record(|| async {
                outbox::mark_unconfirmed(&shared.pool, row, window, http_status, &error).await.map(drop)
            })
            .await;
        }
        // Perhaps sent, but a repeat is harmless: the endpoint honours the idempotency key, or it
        // is a read receipt.
        Outcome::Unknown { http_status, error } => retry(shared, row, http_status, None, error, None).await,
        Outcome::Retry { http_status, code, error, retry_after } => {
            let mut wait = retry_after;
            if code.is_some_and(|c| THROUGHPUT_CODES.contains(&c)) || http_status == Some(429) {
                metrics::counter!("platica_whatsapp_throttled_total", "kind" => "throughput").increment(1);
                shared.pacer.throttled(retry_after);
                tracing::warn!(tenant_id = ids.0, channel_account_id = shared.account, code = ?code,
                    rate = shared.pacer.rate(), "WhatsApp says the number's throughput is exceeded: slowing down");
            } else if code == Some(PAIR_LIMIT_CODE)
                && let Some(to) = row.recipient()
            {
                metrics::counter!("platica_whatsapp_throttled_total", "kind" => "pair").increment(1);
                let gap = shared.pair_limited(to);
                wait = Some(wait.unwrap_or_default().max(gap));
            }
            retry(shared, row, http_status, code, error, wait).await
        }
        Outcome::Refused(r) => {
            metrics::counter!("platica_outbox_sends_total", "outcome" => "failed").increment(1);
            let f = Failure {
                http_status: Some(r.http_status),
                code: r.code.and_then(|c| i32::try_from(c).ok()),
                title: r.title,
                detail: r.detail,
                retryable: platica_store::inbox::messages::retryable_code(r.code),
                attempts: row.attempts,
            };
            record(|| outbox::fail(&shared.pool, row, &f)).await;
        }
    }
}

/// Retries a row that was not sent (or whose repeat is harmless) after a backoff (at least
/// `retry_after`), or fails it after the last attempt. Its recipient's later rows wait for it
/// (the claim takes only the head of each recipient's queue).
async fn retry(
    shared: &Shared,
    row: &Claimed,
    http_status: Option<u16>,
    code: Option<i64>,
    error: String,
    retry_after: Option<Duration>,
) {
    let ids = (row.tenant_id, row.outbox_id);
    let config = &shared.config;
    if row.attempts >= config.max_attempts {
        metrics::counter!("platica_outbox_sends_total", "outcome" => "failed").increment(1);
        let f = Failure {
            http_status,
            code: code.and_then(|c| i32::try_from(c).ok()),
            title: format!("gave up after {} attempts", row.attempts),
            detail: Some(error),
            retryable: true,
            attempts: row.attempts,
        };
        record(|| outbox::fail(&shared.pool, row, &f)).await;
        return;
    }
    metrics::counter!("platica_outbox_sends_total", "outcome" => "retry").increment(1);
    let delay = backoff(row.attempts, config.backoff_base, config.backoff_max, &mut rand::rng())
        .max(retry_after.unwrap_or_default());
    tracing::info!(tenant_id = ids.0, outbox_id = ids.1, attempt = row.attempts, retry_in_ms = delay.as_millis() as u64,
        error = %error, "send will be retried");
    record(|| outbox::retry_later(&shared.pool, row, delay, http_status, &error)).await;
}

/// Runs a bookkeeping write, retrying briefly: a row whose outcome cannot be written stays
/// `sending` and is recovered when its lease lapses.
async fn record<F, Fut>(write: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = platica_store::StoreResult<()>>,
{
    let mut delay = Duration::from_millis(100);
    for attempt in 1..=5 {
        match write().await {
            Ok(()) => return,
            Err(e) if attempt == 5 => {
                tracing::error!(error = %e, "cannot record a send's outcome; the row is recovered after its lease")
            }
            Err(e) => {
                tracing::warn!(error = %e, attempt, "cannot record a send's outcome; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_doubles_with_jitter_within_bounds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_secs(2);
        let max = Duration::from_secs(600);
        for attempt in 1..=20 {
            let full = base.saturating_mul(1 << (attempt - 1).min(30)).min(max);
            for _ in 0..200 {
                let d = backoff(attempt, base, max, &mut rng);
                assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?} not in [{:?}, {full:?}]", full / 2);
            }
        }
        // Attempt 0 (never tried) waits like the first.
        assert!(backoff(0, base, max, &mut rng) <= base);
    }

    #[tokio::test]
    async fn the_pacer_keeps_the_rate_and_slows_down_when_throttled() {
        let pacer = Pacer::new(100);
        let started = Instant::now();
        for _ in 0..60 {
            pacer.ready().await;
        }
        // 100/s with bursts of 10: 60 sends take at least 0.5 s.
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(480), "{took:?}");
        pacer.throttled(Some(Duration::from_millis(300)));
        assert!((pacer.rate() - 50.0).abs() < 1e-9);
        let paused = Instant::now();
        pacer.ready().await;
        assert!(paused.elapsed() >= Duration::from_millis(290), "Retry-After is honoured");
        for _ in 0..25 {
            pacer.accepted();
        }
        assert!((pacer.rate() - 100.0).abs() < 1e-9, "back to the configured rate");
        pacer.throttled(None);
        pacer.throttled(None);
        assert!((pacer.rate() - 25.0).abs() < 1e-9);
    }
}
