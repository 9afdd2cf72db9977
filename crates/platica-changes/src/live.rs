//! The live inbox: the engine, kept current from the replication stream by one task.
//!
//! # Start-up
//!
//! 1. A stale slot of ours (left by a crashed process) is dropped; an active one means another
//!    process uses the name: refuse.
//! 2. The slot is created with an exported snapshot; its consistent point `C` is the LSN at which
//!    the snapshot and the stream meet: the snapshot holds every transaction committed below `C`,
//!    the slot streams every transaction committed at or after `C`.
//! 3. The engine is loaded inside that snapshot ([`crate::load`]), then streaming starts at `C`.
//!
//! # Applying
//!
//! Events are buffered per transaction and applied at its commit, in commit order, under the
//! engine's write lock, so a reader never sees half a transaction. After applying, the commit's
//! end LSN is acknowledged (the slot's confirmed flush position advances, and PostgreSQL may
//! recycle WAL up to there). A transaction whose commit LSN is not above the last applied one is a
//! replay after a reconnect and is skipped: nothing is applied twice, and nothing is acknowledged
//! before it is applied, so nothing is skipped.
//!
//! The slot's confirmed *flush* position also follows what the server reported between
//! transactions (keepalives), as PostgreSQL's own apply worker does: WAL after the last commit
//! that holds nothing for us (aborted transactions, checkpoints) is confirmed too. A server
//! shutting down waits until each walsender's last position is confirmed; without this, a
//! transaction aborted by the shutdown itself would hold it up forever.
//!
//! A transaction that may remove a conversation's newest message (a delete, or its time moved
//! back) is completed *before* it is applied: the conversation's newest message is read back from
//! the database first, and the transaction and the read-back are applied together under one write
//! lock ([`Engine::newest_needed`], [`Engine::apply_with_newest`]). A reader never sees the
//! conversation without its last message, a state that never existed. (The read-back sees the
//! database as of now, possibly a little ahead of the stream; "newest wins" makes the stream
//! converge on it.)
//!
//! # Visible before announced
//!
//! PostgreSQL writes a commit record to the WAL (where the walsender may already stream it) an
//! instant before the transaction becomes visible to new snapshots. So before a transaction is
//! read back or handed to the sink, the task waits until it is visible: a snapshot
//! (`pg_current_snapshot()`) no longer lists its xid as running (`Visibility`). A client that
//! reads the database after an event therefore always sees the commit the event announced. One
//! snapshot answers for every transaction that started before it, so under load most commits
//! cost no query; the others cost one round trip on the task's own connection (a pooled query
//! would cost three: sqlx pings a connection when it is acquired and again when it is released).
//!
//! # Read-your-writes
//!
//! The applied *position* is the end of the last applied commit, or the LSN of a barrier message
//! (`pg_logical_emit_message(false, 'platica.barrier', '')`) once everything before it is applied.
//! A writer emits a barrier after its commit and hands its LSN to the client; a read with
//! `min_lsn` waits until the position reaches it ([`LiveInbox::wait_for`]).
//!
//! # Failure, and healing
//!
//! The task owns every reconnect: the replication client itself never retries (so a lost
//! connection is known at once). A connection that dies silently (a partition that drops packets
//! without a reset) looks like an idle stream, so after [`HEARTBEAT_AFTER`] of silence the task
//! writes a heartbeat (a barrier message, which this slot streams back like any other) and takes
//! the connection for lost when nothing arrives [`STALL_AFTER`] later. When the stream fails, the live inbox is *degraded*: it records
//! since when ([`LiveInbox::stale_since`]), tells the sink at once ([`ChangeSink::degraded`]) and
//! goes on answering reads from the state it has. It then retries, with backoff capped at
//! [`MAX_RETRY_DELAY`], forever (until shutdown):
//!
//! - **resume**: the slot still exists, so a new connection streams from the last applied commit
//!   (a walsender left holding the slot by a dead connection is terminated first: the slot is
//!   ours alone). A barrier is emitted before streaming starts; once it is applied, everything
//!   committed during the outage is too, and the inbox is live again.
//! - **rebuild**: the slot is gone (dropped by hand, or never created), a change could not be
//!   decoded or completed, or resuming failed [`RESUME_ATTEMPTS_BEFORE_REBUILD`] times in a row
//!   on a reachable server: a fresh slot and snapshot are loaded and swapped in whole.
//!
//! Either way the sink is told to start over ([`ChangeSink::reset`]) when the inbox is live again.
//! Each connection has its own cancellation token, a child of the server's: closing a stream
//! never cancels anything else.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
pub use pg_walstream::CancellationToken;
use pg_walstream::lsn::SharedLsnFeedback;
use pg_walstream::{
    EventType, LogicalReplicationStream, ReplicationStreamConfig, RetryConfig, SnapshotOutcome, StreamingMode,
};
use platica_domain::TenantId;
use platica_inbox::change::{Change, Direction, MessageRow, SenderKind};
use platica_inbox::{Applied, Engine, Newest, Transaction};
use sqlx::{PgConnection, Row};
use tokio::sync::{mpsc, oneshot, watch};

use crate::decode::{Relations, RowEvent, decode};
use crate::load::{LoadStats, load};

/// Prefix of the barrier messages writers emit for read-your-writes.
pub const BARRIER_PREFIX: &str = "platica.barrier";
/// Prefix of the transactional marker `verify` emits to move the stream past its snapshot.
pub const MARKER_PREFIX: &str = "platica.verify";

/// How long reading back the newest messages after a delete may take.
pub const HINT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a streamed commit may take to become visible before it is announced anyway (with a
/// warning): far above the microseconds it takes.
const VISIBLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The longest wait between two attempts to reconnect: the stream is back within about this
/// (plus `CONNECT_TIMEOUT`) of PostgreSQL being reachable again.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(1);
/// The first wait after a failure.
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
/// How long one connection attempt may take (a partitioned network drops packets silently).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the publication is compared with the tables the code expects while streaming.
pub const PUBLICATION_CHECK: Duration = Duration::from_secs(5);
/// Consecutive failed resumes on a reachable server before the pipeline is rebuilt instead.
pub const RESUME_ATTEMPTS_BEFORE_REBUILD: u32 = 3;
/// After this long with nothing from the stream, a heartbeat (a barrier message) is written so
/// the stream has something to deliver: an idle stream and a silently dead one look alike.
pub const HEARTBEAT_AFTER: Duration = Duration::from_secs(1);
/// How long the stream may stay silent after a heartbeat was written before the connection is
/// taken for dead (a network partition that drops packets without a reset).
pub const STALL_AFTER: Duration = Duration::from_secs(3);

/// Where to stream from.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// A normal connection URL to the database.
    pub database_url: String,
    /// The replication slot Platica owns (one per running server).
    pub slot: String,
    /// The publication (created by migration).
    pub publication: String,
}

impl StreamConfig {
    pub fn new(database_url: impl Into<String>) -> Self {
        StreamConfig { database_url: database_url.into(), slot: "platica".into(), publication: "platica".into() }
    }

    fn replication_url(&self) -> String {
        let sep = if self.database_url.contains('?') { '&' } else { '?' };
        format!("{}{sep}replication=database", self.database_url)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("replication: {0}")]
    Replication(#[from] pg_walstream::ReplicationError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    #[error(transparent)]
    Decode(#[from] crate::decode::DecodeError),
    #[error("{0}")]
    Setup(String),
    #[error("the replication stream delivered nothing for {0:?} after a heartbeat")]
    Stalled(Duration),
}

/// What the live inbox reports about itself.
#[derive(Clone, Debug, Default)]
pub struct Status {
    /// Whether the stream is up and the engine current.
    pub streaming: bool,
    /// The commit LSN of the last applied transaction.
    pub applied_lsn: u64,
    /// The applied position (see module docs): reads with `min_lsn` up to it are answered.
    pub position: u64,
    /// The slot's consistent point the current state was loaded at.
    pub loaded_at_lsn: u64,
    pub load: LoadStats,
    pub transactions: u64,
    pub changes: u64,
    /// Commit time of the last applied transaction.
    pub last_commit_at: Option<DateTime<Utc>>,
    /// How long after its commit the last transaction became visible, in milliseconds.
    pub last_apply_delay_ms: f64,
    /// Times the pipeline was rebuilt after a failure.
    pub rebuilds: u64,
    /// Times the stream was resumed on its slot after a failure.
    pub resumes: u64,
    /// Times the stream failed (each starts or prolongs a degraded period).
    pub failures: u64,
    /// Since when the engine has not been following the stream (`None` while live); read from
    /// [`LiveInbox::stale_since`].
    pub stale_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

type Job = Box<dyn FnOnce(&Engine) + Send>;

/// A committed transaction as the live inbox applied it: for whoever fans changes out.
#[derive(Debug)]
pub struct Committed {
    /// The position after it (its commit's end LSN).
    pub lsn: u64,
    /// Its row changes as JSON, in order (none of a tenant in `overflow`).
    pub rows: Vec<RowEvent>,
    /// When the transaction has more than [`MAX_FANOUT_ROWS`] row changes, none is held (memory
    /// stays bounded): instead, each tenant and table they changed, once. Subscribers they
    /// concern are told to refetch.
    pub overflow: Vec<(TenantId, String)>,
    /// What the engine reported applying it.
    pub applied: Applied,
}

/// Row changes of one transaction held for fan-out; past it, subscribers refetch.
pub const MAX_FANOUT_ROWS: usize = 5_000;

/// Receives every applied transaction, right after it is applied, with the engine read-locked
/// (so the sink sees the state the transaction left). Must not block.
pub trait ChangeSink: Send + Sync {
    fn committed(&self, engine: &Engine, tx: &Committed);
    /// The engine was rebuilt from a fresh snapshot, or is live again after an outage of the
    /// stream: anything derived from it starts over.
    fn reset(&self, engine: &Engine, lsn: u64);
    /// The stream failed: from `since`, the engine's state may be stale until the next
    /// [`ChangeSink::reset`]. Called once per outage, at its start. Must not block.
    fn degraded(&self, since: DateTime<Utc>, reason: &str);
}

/// Several sinks fed as one, in order (the realtime hub, the HTTP layer's credentials, ...).
pub struct Fanout(pub Vec<Arc<dyn ChangeSink>>);

impl ChangeSink for Fanout {
    fn committed(&self, engine: &Engine, tx: &Committed) {
        for s in &self.0 {
            s.committed(engine, tx);
        }
    }

    fn reset(&self, engine: &Engine, lsn: u64) {
        for s in &self.0 {
            s.reset(engine, lsn);
        }
    }

    fn degraded(&self, since: DateTime<Utc>, reason: &str) {
        for s in &self.0 {
            s.degraded(since, reason);
        }
    }
}

enum Control {
    /// Stop applying (after the current transaction) until `ResumeUntil`.
    Pause(oneshot::Sender<u64>),
    /// Apply every transaction committed below `lsn`, run `job` on that state, go on.
    ResumeUntil { lsn: u64, job: Job },
    /// Go on applying (after a pause that led nowhere).
    Resume,
}

/// The engine and the task keeping it current.
pub struct LiveInbox {
    engine: RwLock<Arc<RwLock<Engine>>>,
    sink: RwLock<Option<Arc<dyn ChangeSink>>>,
    position: watch::Sender<u64>,
    status: Mutex<Status>,
    control: mpsc::UnboundedSender<Control>,
    config: StreamConfig,
    /// Microseconds since the epoch of the start of the current outage; 0 while live.
    stale_since: AtomicI64,
    /// A one-connection pool of its own (connected lazily, `CONNECT_TIMEOUT` to acquire) for
    /// its side queries: the publication guard, slot handling, read-backs after deletes.
    pool: sqlx::PgPool,
    /// Held for a whole verification (pause, reference, compare): the engine has one pending
    /// `ResumeUntil` at a time, so concurrent verifications take turns.
    pub(crate) verifying: tokio::sync::Mutex<()>,
}

impl LiveInbox {
    /// Loads the engine and starts following the stream. Returns once the engine is loaded.
    ///
    /// The task ends when `shutdown` is cancelled, and only then: every failure of the stream is
    /// retried (see the module docs). The task never cancels `shutdown` itself.
    pub async fn start(
        config: StreamConfig,
        shutdown: CancellationToken,
    ) -> Result<(Arc<LiveInbox>, tokio::task::JoinHandle<()>), StreamError> {
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (position, _) = watch::channel(0);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect_lazy(&config.database_url)?;
        let pipeline = Pipeline::open(&config, &pool, false).await?;
        let live = Arc::new(LiveInbox {
            engine: RwLock::new(Arc::new(RwLock::new(Engine::default()))),
            sink: RwLock::new(None),
            position,
            status: Mutex::new(Status::default()),
            control: control_tx,
            config,
            stale_since: AtomicI64::new(0),
            pool,
            verifying: tokio::sync::Mutex::new(()),
        });
        live.install(pipeline.engine, pipeline.consistent_point, pipeline.stats.clone());
        let task = tokio::spawn(run(Arc::clone(&live), pipeline.stream, control_rx, shutdown));
        Ok((live, task))
    }

    /// Sets who receives every applied transaction.
    pub fn set_sink(&self, sink: Arc<dyn ChangeSink>) {
        if let Ok(mut s) = self.sink.write() {
            *s = Some(sink);
        }
    }

    fn sink(&self) -> Option<Arc<dyn ChangeSink>> {
        self.sink.read().ok().and_then(|s| s.clone())
    }

    fn has_sink(&self) -> bool {
        self.sink.read().is_ok_and(|s| s.is_some())
    }

    fn install(&self, engine: Engine, consistent_point: u64, load: LoadStats) {
        if let Ok(mut slot) = self.engine.write() {
            *slot = Arc::new(RwLock::new(engine));
        }
        if let Some(sink) = self.sink() {
            self.read(|e| sink.reset(e, consistent_point));
        }
        self.update_status(|s| {
            s.loaded_at_lsn = consistent_point;
            s.load = load;
            s.streaming = true;
        });
        self.stale_since.store(0, Ordering::Release);
        self.advance(consistent_point);
    }

    /// The stream failed: degraded from now (if not already), and the sink is told at once.
    fn degrade(&self, error: &str) {
        let now = Utc::now();
        let first =
            self.stale_since.compare_exchange(0, now.timestamp_micros().max(1), Ordering::AcqRel, Ordering::Acquire);
        self.update_status(|s| {
            s.streaming = false;
            s.failures += 1;
            s.last_error = Some(error.to_owned());
        });
        if first.is_ok() {
            tracing::warn!(
                error,
                "live inbox degraded: reads answer from the last applied state until the stream is back"
            );
            if let Some(sink) = self.sink() {
                sink.degraded(now, error);
            }
        }
    }

    /// The resumed stream has applied everything committed during the outage: live again.
    fn recovered(&self, lsn: u64) {
        let since = self.stale_since.swap(0, Ordering::AcqRel);
        self.update_status(|s| {
            s.streaming = true;
            s.resumes += 1;
        });
        if since != 0 {
            let seconds = (Utc::now().timestamp_micros() - since) as f64 / 1e6;
            tracing::info!(lsn = %crate::lsn::format(lsn), seconds, "live inbox is live again (resumed on its slot)");
        }
        if let Some(sink) = self.sink() {
            self.read(|e| sink.reset(e, lsn));
        }
    }

    /// Since when the engine has not been following the stream; `None` while it is live.
    pub fn stale_since(&self) -> Option<DateTime<Utc>> {
        match self.stale_since.load(Ordering::Acquire) {
            0 => None,
            micros => DateTime::from_timestamp_micros(micros),
        }
    }

    fn current(&self) -> Arc<RwLock<Engine>> {
        match self.engine.read() {
            Ok(e) => Arc::clone(&e),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Runs `f` on the engine under its read lock. Keep `f` short: the apply loop waits for it.
    pub fn read<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        let engine = self.current();
        let guard = match engine.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&guard)
    }

    /// The applied position.
    pub fn position(&self) -> u64 {
        *self.position.borrow()
    }

    /// Waits until the applied position reaches `lsn`; `false` on timeout.
    pub async fn wait_for(&self, lsn: u64, timeout: Duration) -> bool {
        let mut rx = self.position.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|p| *p >= lsn)).await.is_ok_and(|r| r.is_ok())
    }

    /// A receiver that changes whenever the position advances.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.position.subscribe()
    }

    pub fn status(&self) -> Status {
        let mut s = match self.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        };
        s.stale_since = self.stale_since();
        s
    }

    pub fn config(&self) -> &StreamConfig {
        &self.config
    }

    fn update_status(&self, f: impl FnOnce(&mut Status)) {
        match self.status.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    fn advance(&self, lsn: u64) {
        self.position.send_if_modified(|p| {
            if lsn > *p {
                *p = lsn;
                true
            } else {
                false
            }
        });
        self.update_status(|s| s.position = s.position.max(lsn));
    }

    /// Runs `job` on the engine exactly as of `lsn`: after every transaction committed below it
    /// and before any at or past it. The engine must be paused first ([`LiveInbox::pause`]), and a
    /// transaction committing at or past `lsn` must follow (or the call waits for one).
    pub async fn run_at<R: Send + 'static>(
        &self,
        lsn: u64,
        job: impl FnOnce(&Engine) -> R + Send + 'static,
    ) -> Result<R, StreamError> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |engine| {
            let _ = tx.send(job(engine));
        });
        self.control
            .send(Control::ResumeUntil { lsn, job })
            .map_err(|_| StreamError::Setup("the live inbox has stopped".into()))?;
        rx.await.map_err(|_| StreamError::Setup("the live inbox stopped before reaching the LSN".into()))
    }

    /// Goes on applying after [`LiveInbox::pause`].
    pub fn resume(&self) {
        let _ = self.control.send(Control::Resume);
    }

    /// Stops applying after the current transaction; returns the last applied commit LSN.
    pub async fn pause(&self) -> Result<u64, StreamError> {
        let (tx, rx) = oneshot::channel();
        self.control.send(Control::Pause(tx)).map_err(|_| StreamError::Setup("the live inbox has stopped".into()))?;
        rx.await.map_err(|_| StreamError::Setup("the live inbox stopped".into()))
    }
}

/// A freshly loaded engine and the stream positioned right after its snapshot.
struct Pipeline {
    engine: Engine,
    stream: LogicalReplicationStream,
    consistent_point: u64,
    stats: LoadStats,
}

/// The replication client never retries by itself (one connection attempt, no reconnect inside
/// a read): every failure reaches the task at once, which retries as the module docs say.
fn stream_config(config: &StreamConfig) -> ReplicationStreamConfig {
    ReplicationStreamConfig::builder(config.slot.clone(), config.publication.clone())
        .with_protocol_version(1)
        .with_streaming_mode(StreamingMode::Off)
        .with_binary(true)
        .with_messages(true)
        .with_feedback_interval(Duration::from_secs(1))
        .with_connection_timeout(CONNECT_TIMEOUT)
        .with_retry_config(RetryConfig {
            max_attempts: 1,
            initial_delay: FIRST_RETRY_DELAY,
            max_delay: MAX_RETRY_DELAY,
            multiplier: 2.0,
            max_duration: CONNECT_TIMEOUT,
            jitter: true,
        })
}

impl Pipeline {
    /// A fresh slot, its snapshot loaded. `take_over`: a walsender holding a slot of this name
    /// is ours (a connection of this process that died), so it is terminated; at start-up it
    /// would be another server's, and opening fails instead.
    async fn open(config: &StreamConfig, pool: &sqlx::PgPool, take_over: bool) -> Result<Pipeline, StreamError> {
        repair_publication(config, pool).await?;
        drop_stale_slot(config, pool, take_over).await?;
        let stream = LogicalReplicationStream::new(&config.replication_url(), stream_config(config)).await?;
        let snapshot = match stream.snapshot().await? {
            SnapshotOutcome::Available(s) => s,
            SnapshotOutcome::Unavailable(_) => {
                return Err(StreamError::Setup(format!(
                    "replication slot {:?} already existed, so no snapshot could be exported; \
                     is another Platica server using it?",
                    config.slot
                )));
            }
        };
        let consistent_point = snapshot.consistent_point().value();
        let name = snapshot
            .stream()
            .exported_snapshot_name()
            .ok_or_else(|| StreamError::Setup("the slot exported no snapshot".into()))?
            .to_owned();
        let mut engine = Engine::default();
        let stats = load(&config.database_url, &name, &mut engine).await?;
        let mut stream = snapshot.abandon().await?;
        stream.start(None).await?;
        tracing::info!(
            slot = %config.slot,
            lsn = %crate::lsn::format(consistent_point),
            conversations = stats.conversations,
            messages = stats.messages,
            millis = stats.millis,
            "live inbox loaded; streaming"
        );
        Ok(Pipeline { engine, stream, consistent_point, stats })
    }
}

/// Makes the publication what the code expects ([`platica_store::pg::publication::repair`]); `Some`
/// with what differed when it had to change it. Only Platica's own publication is guarded.
async fn repair_publication(config: &StreamConfig, pool: &sqlx::PgPool) -> Result<Option<String>, StreamError> {
    if config.publication != platica_store::pg::publication::NAME {
        return Ok(None);
    }
    let d = platica_store::pg::publication::repair(pool)
        .await
        .map_err(|e| StreamError::Setup(format!("checking the publication: {e}")))?;
    if d.is_clean() {
        return Ok(None);
    }
    let what = format!(
        "the publication {:?} had been altered (exists: {}, missing: {:?}, unexpected: {:?}, other columns: {:?}); \
         it is repaired",
        config.publication, d.exists, d.missing, d.unexpected, d.wrong_columns
    );
    tracing::warn!("{what}");
    Ok(Some(what))
}

async fn drop_stale_slot(config: &StreamConfig, pool: &sqlx::PgPool, take_over: bool) -> Result<(), StreamError> {
    let mut conn = pool.acquire().await?;
    let row = sqlx::query("SELECT active FROM pg_replication_slots WHERE slot_name = $1")
        .bind(&config.slot)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = row {
        let active: bool = row.get(0);
        if active && !take_over {
            return Err(StreamError::Setup(format!(
                "replication slot {:?} is in use by another connection: give each Platica server its \
                 own slot name",
                config.slot
            )));
        }
        if active {
            release_slot(&mut conn, &config.slot).await?;
        }
        tracing::info!(slot = %config.slot, "dropping the previous replication slot");
        sqlx::query("SELECT pg_drop_replication_slot($1)").bind(&config.slot).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Terminates the walsender holding our slot (a connection of ours that died: after a network
/// partition, PostgreSQL notices only after `wal_sender_timeout`) and waits until it lets go.
async fn release_slot(conn: &mut PgConnection, slot: &str) -> Result<(), StreamError> {
    let started = Instant::now();
    loop {
        let pid: Option<Option<i32>> =
            sqlx::query_scalar("SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1")
                .bind(slot)
                .fetch_optional(&mut *conn)
                .await?;
        let Some(Some(pid)) = pid else { return Ok(()) };
        if started.elapsed() > Duration::from_secs(5) {
            return Err(StreamError::Setup(format!("replication slot {slot:?} is still held by process {pid}")));
        }
        tracing::info!(slot, pid, "terminating the walsender left holding our replication slot");
        sqlx::query("SELECT pg_terminate_backend($1, 1000)").bind(pid).execute(&mut *conn).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Why reconnecting failed.
enum Reconnect {
    /// The slot cannot be resumed: rebuild from a fresh one.
    Rebuild(String),
    /// Try again later (PostgreSQL unreachable, or a transient refusal).
    Retry(String),
}

/// A new connection on the existing slot, streaming from `from` (the end of the last applied
/// commit), and the LSN of a barrier emitted just before: once it is applied, so is everything
/// committed while the stream was down.
async fn resume(
    config: &StreamConfig,
    pool: &sqlx::PgPool,
    from: u64,
) -> Result<(LogicalReplicationStream, u64), Reconnect> {
    let retry = |e: StreamError| Reconnect::Retry(e.to_string());
    let mut conn = pool.acquire().await.map_err(|e| retry(e.into()))?;
    let exists: Option<bool> = sqlx::query_scalar("SELECT true FROM pg_replication_slots WHERE slot_name = $1")
        .bind(&config.slot)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| retry(e.into()))?;
    if exists.is_none() {
        return Err(Reconnect::Rebuild(format!("replication slot {:?} no longer exists", config.slot)));
    }
    release_slot(&mut conn, &config.slot).await.map_err(retry)?;
    let barrier: String = sqlx::query_scalar("SELECT pg_logical_emit_message(false, $1, '')::text")
        .bind(BARRIER_PREFIX)
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| retry(e.into()))?;
    drop(conn);
    let barrier = crate::lsn::parse(&barrier).ok_or_else(|| Reconnect::Retry(format!("unreadable LSN {barrier:?}")))?;
    let opened = async {
        let mut stream = LogicalReplicationStream::new(
            &config.replication_url(),
            stream_config(config).with_existing_slot_required(true),
        )
        .await?;
        stream.start(Some(from)).await?;
        Ok::<_, pg_walstream::ReplicationError>(stream)
    };
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, opened).await {
        Ok(Ok(stream)) => Ok((stream, barrier)),
        Ok(Err(pg_walstream::ReplicationError::ReplicationSlot(e))) => {
            Err(Reconnect::Rebuild(format!("replication slot {:?}: {e}", config.slot)))
        }
        Ok(Err(e)) => Err(Reconnect::Retry(format!("replication: {e}"))),
        Err(_) => Err(Reconnect::Retry("starting replication timed out".into())),
    }
}

/// State of the apply loop between events.
struct Loop {
    live: Arc<LiveInbox>,
    engine: Arc<RwLock<Engine>>,
    buffer: Vec<Change>,
    rows: Vec<RowEvent>,
    overflow: Vec<(TenantId, String)>,
    relations: Relations,
    in_tx: bool,
    /// Commit LSN of the last applied transaction: anything not above it is a replay.
    last_commit: u64,
    /// End LSN of the last applied transaction: where a resumed stream starts.
    acked: u64,
    /// After a resume: the barrier whose arrival makes the inbox live again.
    live_at: Option<u64>,
    paused: bool,
    until: Option<(u64, Job)>,
    /// The xid of the transaction being received.
    xid: u32,
    /// The newest snapshot read: which transactions are visible.
    visibility: Visibility,
    /// The connection snapshots are read on, opened on first use and dropped on any error. Not
    /// the pool: a pooled query costs a ping on acquire and another on release, three round
    /// trips where this costs one, on every commit of a quiet stream.
    snapshots: Option<PgConnection>,
}

impl Loop {
    fn new(live: Arc<LiveInbox>, loaded_at: u64) -> Loop {
        let engine = live.current();
        Loop {
            live,
            engine,
            buffer: Vec::new(),
            rows: Vec::new(),
            overflow: Vec::new(),
            relations: Relations::default(),
            in_tx: false,
            last_commit: 0,
            acked: loaded_at,
            live_at: None,
            paused: false,
            until: None,
            xid: 0,
            visibility: Visibility::default(),
            snapshots: None,
        }
    }

    /// A new connection: relations are announced again, a transaction in flight starts over.
    fn connected(&mut self) {
        self.engine = self.live.current();
        self.buffer.clear();
        self.rows.clear();
        self.overflow.clear();
        self.relations = Relations::default();
        self.in_tx = false;
    }

    /// The engine was rebuilt from a fresh slot whose snapshot holds everything below `at`.
    fn rebuilt(&mut self, at: u64) {
        self.last_commit = 0;
        self.acked = at;
        self.live_at = None;
    }

    /// The applied position reached `lsn`: after a resume, that may make the inbox live again.
    fn advanced(&mut self, lsn: u64) {
        self.live.advance(lsn);
        if self.live_at.is_some_and(|b| lsn >= b) {
            self.live_at = None;
            self.live.recovered(lsn);
        }
    }
}

/// How a connection's stream ended.
enum Ended {
    /// Shutdown (or the control channel closed).
    Stopped,
    /// The stream failed; `rebuild` when the state cannot be resumed (a change could not be
    /// decoded or completed), `suspect` when it was not a lost connection.
    Failed { error: StreamError, rebuild: bool, suspect: bool },
}

async fn run(
    live: Arc<LiveInbox>,
    stream: LogicalReplicationStream,
    mut control: mpsc::UnboundedReceiver<Control>,
    shutdown: CancellationToken,
) {
    let mut state = Loop::new(Arc::clone(&live), live.status().loaded_at_lsn);
    let mut stream = stream;
    // Resumes in a row that failed for a reason other than a lost connection.
    let mut suspect_failures = 0u32;
    loop {
        state.connected();
        // This connection's own token: closing it cancels nothing else.
        let token = shutdown.child_token();
        // The flushed position the client reports is capped to what it received, so this reports
        // everything received as flushed (see module docs). Safe: with streaming off, a
        // transaction's rows arrive only when its commit is decoded, each event is applied
        // before the next is read, and resuming after a failure starts from the *applied*
        // position.
        stream.shared_lsn_feedback.update_flushed_lsn(u64::MAX);
        let ended = state.follow(&mut stream, &mut control, &shutdown, &token).await;
        token.cancel();
        let rebuild = match ended {
            Ended::Stopped => {
                let _ = tokio::time::timeout(Duration::from_secs(5), stream.stop()).await;
                return;
            }
            Ended::Failed { error, rebuild, suspect } => {
                drop(stream);
                tracing::error!(error = %error, rebuild, "live inbox stream failed");
                live.degrade(&error.to_string());
                suspect_failures = if suspect { suspect_failures + 1 } else { 0 };
                rebuild || suspect_failures >= RESUME_ATTEMPTS_BEFORE_REBUILD
            }
        };
        if rebuild {
            suspect_failures = 0;
        }
        stream = match reconnect(&live, &mut state, &shutdown, rebuild).await {
            Some(s) => s,
            None => return,
        };
    }
}

/// Retries until the stream is back (resumed, or rebuilt), or `None` at shutdown.
async fn reconnect(
    live: &Arc<LiveInbox>,
    state: &mut Loop,
    shutdown: &CancellationToken,
    mut rebuild: bool,
) -> Option<LogicalReplicationStream> {
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        // Full jitter below the current bound, so many servers do not retry in step.
        let wait = delay.mul_f64(0.5 + rand::random::<f64>() * 0.5);
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shutdown.cancelled() => return None,
        }
        if rebuild {
            tracing::info!("rebuilding the live inbox from a fresh slot and snapshot");
            match Pipeline::open(&live.config, &live.pool, true).await {
                Ok(p) => {
                    live.install(p.engine, p.consistent_point, p.stats);
                    live.update_status(|s| s.rebuilds += 1);
                    state.rebuilt(p.consistent_point);
                    return Some(p.stream);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rebuilding the live inbox failed; retrying");
                    live.update_status(|s| s.last_error = Some(e.to_string()));
                }
            }
        } else {
            // Changes to tables taken out of the publication were never streamed: rebuild.
            match repair_publication(&live.config, &live.pool).await {
                Ok(Some(why)) => {
                    live.update_status(|s| s.last_error = Some(why));
                    rebuild = true;
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    live.update_status(|s| s.last_error = Some(e.to_string()));
                    delay = (delay * 2).min(MAX_RETRY_DELAY);
                    continue;
                }
            }
            match resume(&live.config, &live.pool, state.acked).await {
                Ok((stream, barrier)) => {
                    tracing::info!(
                        from = %crate::lsn::format(state.acked),
                        barrier = %crate::lsn::format(barrier),
                        "live inbox stream resumed on its slot; catching up"
                    );
                    state.live_at = Some(barrier);
                    return Some(stream);
                }
                Err(Reconnect::Rebuild(why)) => {
                    tracing::warn!(reason = %why, "the stream cannot be resumed; rebuilding");
                    live.update_status(|s| s.last_error = Some(why));
                    rebuild = true;
                    delay = FIRST_RETRY_DELAY;
                    continue;
                }
                Err(Reconnect::Retry(why)) => {
                    tracing::debug!(reason = %why, "resuming the live inbox stream failed; retrying");
                    live.update_status(|s| s.last_error = Some(why));
                }
            }
        }
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

/// The stream's liveness while it is idle: when nothing arrived for [`HEARTBEAT_AFTER`], a barrier
/// is written; when it cannot be, or nothing arrives [`STALL_AFTER`] after that, the connection is
/// taken for lost.
#[derive(Debug)]
struct Heartbeat {
    /// Since when nothing arrived.
    quiet_since: tokio::time::Instant,
    /// When the heartbeat was written (None: not yet).
    sent_at: Option<tokio::time::Instant>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat { quiet_since: tokio::time::Instant::now(), sent_at: None }
    }
}

impl Heartbeat {
    /// When to act next: write the heartbeat, or give the connection up.
    fn due(&self) -> tokio::time::Instant {
        match self.sent_at {
            None => self.quiet_since + HEARTBEAT_AFTER,
            Some(at) => at + STALL_AFTER,
        }
    }

    /// Whether a heartbeat went unanswered for [`STALL_AFTER`].
    fn stalled(&self) -> bool {
        self.sent_at.is_some_and(|at| at.elapsed() >= STALL_AFTER)
    }
}

/// Writes a barrier message (it reaches this server's stream like any barrier); `false` when the
/// database cannot be reached within [`CONNECT_TIMEOUT`].
async fn emit_heartbeat(pool: &sqlx::PgPool) -> bool {
    let emit = sqlx::query("SELECT pg_logical_emit_message(false, $1, '')").bind(BARRIER_PREFIX).execute(pool);
    match tokio::time::timeout(CONNECT_TIMEOUT, emit).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "writing a stream heartbeat failed");
            false
        }
        Err(_) => false,
    }
}

/// Whether a replication error says the connection was lost (PostgreSQL down or restarting, the
/// walsender terminated, the network), as opposed to a refusal that may repeat on every resume.
fn lost_connection(e: &pg_walstream::ReplicationError) -> bool {
    use pg_walstream::ReplicationError as E;
    matches!(
        e,
        E::TransientConnection(_) | E::PermanentConnection(_) | E::ReplicationConnection(_) | E::Io(_) | E::Timeout(_)
    )
}

impl Loop {
    async fn follow(
        &mut self,
        stream: &mut LogicalReplicationStream,
        control: &mut mpsc::UnboundedReceiver<Control>,
        shutdown: &CancellationToken,
        token: &CancellationToken,
    ) -> Ended {
        let feedback = Arc::clone(&stream.shared_lsn_feedback);
        let mut guard = tokio::time::interval(PUBLICATION_CHECK);
        guard.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        guard.tick().await;
        // Silence is measured while waiting for the stream only (not while applying), so a slow
        // apply is never taken for a dead connection.
        let mut heartbeat = Heartbeat::default();
        loop {
            if self.paused {
                // Not reading the stream: nothing is applied until told where to stop.
                tokio::select! {
                    msg = control.recv() => match msg {
                        Some(m) => self.control(m),
                        None => return Ended::Stopped,
                    },
                    () = shutdown.cancelled() => return Ended::Stopped,
                }
                continue;
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ended::Stopped,
                msg = control.recv() => match msg {
                    Some(m) => self.control(m),
                    None => return Ended::Stopped,
                },
                _ = guard.tick(), if !self.in_tx => {
                    // Someone altered the publication: what it stopped streaming is lost to this
                    // slot, so the state is rebuilt once the publication is repaired.
                    if let Ok(Some(why)) = repair_publication(&self.live.config, &self.live.pool).await {
                        return Ended::Failed { error: StreamError::Setup(why), rebuild: true, suspect: true };
                    }
                }
                () = tokio::time::sleep_until(heartbeat.due()) => {
                    // Unanswered, or not even writable (the database unreachable from here too):
                    // the connection is lost either way.
                    if heartbeat.stalled() || !emit_heartbeat(&self.live.pool).await {
                        let silent = heartbeat.quiet_since.elapsed();
                        return Ended::Failed { error: StreamError::Stalled(silent), rebuild: false, suspect: false };
                    }
                    heartbeat.sent_at = Some(tokio::time::Instant::now());
                }
                event = stream.next_event(token) => match event {
                    Ok(ev) => {
                        heartbeat = Heartbeat::default();
                        if let Err(error) = self.event(ev.event_type, &feedback).await {
                            // A change that cannot be decoded or completed: the state cannot
                            // simply resume past it.
                            return Ended::Failed { error, rebuild: true, suspect: true };
                        }
                    }
                    Err(pg_walstream::ReplicationError::Cancelled(_)) if shutdown.is_cancelled() => return Ended::Stopped,
                    Err(e) => {
                        let suspect = !lost_connection(&e);
                        return Ended::Failed { error: e.into(), rebuild: false, suspect };
                    }
                },
            }
        }
    }

    fn control(&mut self, msg: Control) {
        match msg {
            Control::Pause(reply) => {
                self.paused = true;
                let _ = reply.send(self.last_commit);
            }
            Control::Resume => self.paused = false,
            Control::ResumeUntil { lsn, job } => {
                self.paused = false;
                self.until = Some((lsn, job));
            }
        }
    }

    async fn event(&mut self, event: EventType, feedback: &SharedLsnFeedback) -> Result<(), StreamError> {
        match event {
            EventType::Begin { transaction_id, .. } => {
                // A Begin inside a transaction is a replay after a reconnect: start over.
                self.xid = transaction_id;
                self.buffer.clear();
                self.rows.clear();
                self.overflow.clear();
                self.in_tx = true;
            }
            EventType::Commit { commit_lsn, end_lsn, commit_timestamp } => {
                self.in_tx = false;
                let commit = commit_lsn.value();
                let changes = std::mem::take(&mut self.buffer);
                let rows = std::mem::take(&mut self.rows);
                let overflow = std::mem::take(&mut self.overflow);
                self.run_due_job(commit);
                if commit > self.last_commit {
                    let fanout = (rows, overflow);
                    self.apply(Transaction { commit_lsn: commit, changes }, fanout, end_lsn.value(), commit_timestamp)
                        .await?;
                    self.last_commit = commit;
                }
                feedback.update_applied_lsn(end_lsn.value());
                self.acked = self.acked.max(end_lsn.value());
                self.advanced(end_lsn.value());
            }
            EventType::Message { flags, message_lsn, prefix, .. } => {
                if flags & 1 == 0 && &*prefix == BARRIER_PREFIX && !self.in_tx {
                    self.advanced(message_lsn.value());
                }
            }
            other => {
                if self.relations.observe(&other) {
                    return Ok(());
                }
                if self.in_tx {
                    self.buffer.extend(decode(&other)?);
                    // Rows as JSON only for a sink: a transaction's are held until its commit.
                    if self.live.has_sink()
                        && let Some(row) = self.relations.row_event(&other)
                    {
                        self.hold(row);
                    }
                }
            }
        }
        Ok(())
    }

    /// Holds a row for fan-out, up to [`MAX_FANOUT_ROWS`] per transaction; past that, only which
    /// tenants it touched is kept.
    fn hold(&mut self, row: RowEvent) {
        if self.overflow.is_empty() && self.rows.len() < MAX_FANOUT_ROWS {
            self.rows.push(row);
            return;
        }
        if self.overflow.is_empty() {
            let mut changed: Vec<(TenantId, String)> = self.rows.drain(..).map(|r| (r.tenant_id, r.table)).collect();
            changed.sort();
            changed.dedup();
            self.rows.shrink_to_fit();
            self.overflow = changed;
        }
        if !self.overflow.iter().any(|(t, table)| *t == row.tenant_id && *table == row.table) {
            self.overflow.push((row.tenant_id, row.table));
        }
    }

    fn run_due_job(&mut self, commit: u64) {
        if self.until.as_ref().is_some_and(|(lsn, _)| commit >= *lsn)
            && let Some((_, job)) = self.until.take()
        {
            job(&read(&self.engine));
        }
    }

    async fn apply(
        &mut self,
        tx: Transaction,
        (rows, overflow): (Vec<RowEvent>, Vec<(TenantId, String)>),
        end_lsn: u64,
        committed: DateTime<Utc>,
    ) -> Result<(), StreamError> {
        let started = Instant::now();
        if !tx.changes.is_empty() {
            self.await_visible().await;
        }
        // Read back, before applying, the newest message of conversations this may take it from.
        let needed = read(&self.engine).newest_needed(&tx);
        let newest = if needed.is_empty() {
            Newest::new()
        } else {
            tokio::time::timeout(HINT_TIMEOUT, newest_messages(&self.live.pool, &needed))
                .await
                .map_err(|_| StreamError::Setup("reading the newest messages after a delete timed out".into()))??
        };
        let mut applied = write(&self.engine).apply_with_newest(&tx, &newest);
        let (transactions, changes) = read(&self.engine).stats();
        let delay = (Utc::now() - committed).num_microseconds().unwrap_or(0) as f64 / 1000.0;
        self.live.update_status(|s| {
            s.applied_lsn = tx.commit_lsn;
            s.transactions = transactions;
            s.changes = changes;
            s.last_commit_at = Some(committed);
            s.last_apply_delay_ms = delay.max(0.0);
        });
        if started.elapsed() > Duration::from_millis(200) {
            tracing::info!(
                changes = tx.changes.len(),
                millis = started.elapsed().as_millis(),
                "applied a large transaction"
            );
        }
        let refresh = std::mem::take(&mut applied.refresh_last_message);
        if !refresh.is_empty() {
            // Not foreseen by `newest_needed` (it is a superset, so this is a defect): complete
            // the transaction now rather than leave a conversation without its last message.
            tracing::warn!(conversations = refresh.len(), "newest messages read back after applying");
            let hints = tokio::time::timeout(HINT_TIMEOUT, newest_messages(&self.live.pool, &refresh))
                .await
                .map_err(|_| StreamError::Setup("reading the newest messages after a delete timed out".into()))??;
            let mut engine = write(&self.engine);
            for m in hints.into_values().flatten() {
                engine.apply_change(&Change::LastMessageHint(m), &mut applied);
            }
        }
        if let Some(sink) = self.live.sink() {
            let tx = Committed { lsn: end_lsn, rows, overflow, applied };
            sink.committed(&read(&self.engine), &tx);
        }
        Ok(())
    }
}

fn write(engine: &RwLock<Engine>) -> std::sync::RwLockWriteGuard<'_, Engine> {
    match engine.write() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn read(engine: &RwLock<Engine>) -> std::sync::RwLockReadGuard<'_, Engine> {
    match engine.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Waits until the transaction being applied is visible to new snapshots (see module docs).
/// Best effort: if the database cannot be asked, or the wait is unusually long, it goes on.
impl Loop {
    async fn await_visible(&mut self) {
        let xid = self.xid;
        let started = Instant::now();
        let mut pause = Duration::from_micros(50);
        while !self.visibility.shows(xid) {
            if started.elapsed() > VISIBLE_TIMEOUT {
                tracing::warn!(xid, "a streamed commit is still not visible after 2 s; applying it anyway");
                return;
            }
            if self.visibility.taken.is_some_and(|at| at >= started) {
                // A snapshot taken since still saw it running: it is about to end.
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            let at = Instant::now();
            let text = match tokio::time::timeout(VISIBLE_TIMEOUT, self.snapshot()).await {
                Ok(Ok(text)) => text,
                Err(_) => {
                    self.snapshots = None;
                    tracing::warn!("reading a snapshot timed out; not waiting for visibility");
                    return;
                }
                Ok(Err(e)) => {
                    self.snapshots = None;
                    tracing::debug!(error = %e, "cannot read a snapshot; not waiting for visibility");
                    return;
                }
            };
            match Visibility::parse(&text, at) {
                Some(v) => self.visibility = v,
                None => {
                    tracing::warn!(snapshot = %text, "unreadable snapshot; not waiting for visibility");
                    return;
                }
            }
        }
    }
}

impl Loop {
    /// Reads `pg_current_snapshot()` on the loop's own connection, opening it if need be.
    async fn snapshot(&mut self) -> Result<String, sqlx::Error> {
        use sqlx::Connection;
        let conn = match &mut self.snapshots {
            Some(conn) => conn,
            None => {
                let options = self.live.pool.connect_options();
                let opened = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options))
                    .await
                    .map_err(|_| sqlx::Error::PoolTimedOut)??;
                self.snapshots.insert(opened)
            }
        };
        sqlx::query_scalar::<_, String>("SELECT pg_current_snapshot()::text").fetch_one(conn).await
    }
}

/// What one snapshot says about which transactions are visible (`xmin:xmax:xip,...`, full 64-bit
/// xids).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Visibility {
    xmin: u64,
    xmax: u64,
    running: Vec<u64>,
    taken: Option<Instant>,
}

impl Visibility {
    /// Parses `pg_current_snapshot()::text`.
    fn parse(text: &str, taken: Instant) -> Option<Visibility> {
        let mut parts = text.trim().splitn(3, ':');
        let xmin = parts.next()?.parse().ok()?;
        let xmax = parts.next()?.parse().ok()?;
        let running = match parts.next()? {
            "" => Vec::new(),
            list => list.split(',').map(|x| x.parse().ok()).collect::<Option<Vec<u64>>>()?,
        };
        Some(Visibility { xmin, xmax, running, taken: Some(taken) })
    }

    /// The full xid of a 32-bit xid from the stream: the one within 2^31 of this snapshot's xmax.
    fn widen(&self, xid: u32) -> u64 {
        let diff = i64::from(xid.wrapping_sub(self.xmax as u32) as i32);
        (self.xmax as i64 + diff).max(0) as u64
    }

    /// Whether a transaction (committed, as every streamed one is) is visible in this snapshot:
    /// it started before the snapshot and was not running when it was taken.
    fn shows(&self, xid: u32) -> bool {
        if self.taken.is_none() {
            return false;
        }
        let full = self.widen(xid);
        full < self.xmin || (full < self.xmax && !self.running.contains(&full))
    }
}

/// Reads the newest message of each conversation (after its newest may have been deleted): one
/// query per tenant, an index lookup per conversation.
async fn newest_messages(pool: &sqlx::PgPool, which: &[(TenantId, i64)]) -> Result<Newest, sqlx::Error> {
    let mut by_tenant: std::collections::BTreeMap<TenantId, Vec<i64>> = Default::default();
    for (tenant, conversation) in which {
        by_tenant.entry(*tenant).or_default().push(*conversation);
    }
    let mut conn = pool.acquire().await?;
    let mut out = Newest::new();
    for (tenant, conversations) in by_tenant {
        let rows = sqlx::query(
            "SELECT c.id, m.message_id, m.direction, m.sender_kind, left(m.body, 120), m.created_at,
                    m.read_at IS NOT NULL
             FROM unnest($2::bigint[]) AS c(id)
             LEFT JOIN LATERAL (
                 SELECT message_id, direction, sender_kind, body, created_at, read_at FROM messages
                 WHERE tenant_id = $1 AND conversation_id = c.id AND kind = 'message'
                 ORDER BY created_at DESC, message_id DESC LIMIT 1
             ) m ON true",
        )
        .bind(tenant.0)
        .bind(&conversations)
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            let conversation: i64 = r.get(0);
            let message_id: Option<i64> = r.get(1);
            let newest = match message_id {
                None => None,
                Some(message_id) => {
                    let direction: String = r.get(2);
                    let sender: String = r.get(3);
                    let at: DateTime<Utc> = r.get(5);
                    Some(MessageRow {
                        tenant_id: tenant,
                        message_id,
                        conversation_id: conversation,
                        direction: if direction == "in" { Direction::In } else { Direction::Out },
                        sender_kind: SenderKind::parse(&sender).unwrap_or(SenderKind::System),
                        body: r.get(4),
                        created_at: at.timestamp_micros(),
                        read: r.get(6),
                    })
                }
            };
            out.insert((tenant, conversation), newest);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(text: &str) -> Visibility {
        Visibility::parse(text, Instant::now()).expect("parses")
    }

    #[test]
    fn a_snapshot_shows_what_ended_before_it() {
        let v = snap("100:110:103,107");
        assert!(v.shows(99), "below xmin");
        assert!(v.shows(104), "ended between xmin and xmax");
        assert!(!v.shows(103), "running when taken");
        assert!(!v.shows(110), "started after it");
        assert!(!v.shows(200), "started after it");
        assert!(snap("5:5:").shows(4));
        assert!(!Visibility::default().shows(1), "no snapshot shows nothing");
    }

    #[test]
    fn stream_xids_are_widened_around_the_epoch() {
        // xmax in epoch 1, just past the wrap: xid 4294967290 is of epoch 0 (ended), 3 of epoch 1.
        let base = 1u64 << 32;
        let v = snap(&format!("{}:{}:{}", base + 1, base + 10, base + 3));
        assert!(v.shows(u32::MAX - 5));
        assert!(!v.shows(3));
        assert!(v.shows(5));
        assert!(!v.shows(12));
    }

    #[test]
    fn unreadable_snapshots_are_refused() {
        for bad in ["", "1", "1:2", "a:2:", "1:2:x", "1:2:3,,4"] {
            assert!(Visibility::parse(bad, Instant::now()).is_none(), "{bad:?}");
        }
    }
}
