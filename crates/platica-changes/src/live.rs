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
//! A transaction that removed a conversation's newest message (a delete, or its time moved back)
//! is completed before it counts as applied: the conversation's newest message is read back from
//! the database and merged in ("newest wins"), then the position advances. A read at that
//! position never sees the conversation without its last message, and a later delete cannot be
//! overtaken by a stale read-back. (The read-back sees the database as of now, possibly a little
//! ahead of the stream; the stream converges on it.)
//!
//! # Read-your-writes
//!
//! The applied *position* is the end of the last applied commit, or the LSN of a barrier message
//! (`pg_logical_emit_message(false, 'platica.barrier', '')`) once everything before it is applied.
//! A writer emits a barrier after its commit and hands its LSN to the client; a read with
//! `min_lsn` waits until the position reaches it ([`LiveInbox::wait_for`]).
//!
//! # Failure
//!
//! The replication client reconnects by itself and resumes from the acknowledged position. If it
//! gives up, or a change cannot be decoded, the pipeline is rebuilt from a fresh slot and snapshot
//! and swapped in whole; readers keep the old state until then.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
pub use pg_walstream::CancellationToken;
use pg_walstream::{
    EventStream, EventType, LogicalReplicationStream, ReplicationStreamConfig, RetryConfig, SnapshotOutcome,
    StreamingMode,
};
use platica_domain::TenantId;
use platica_inbox::change::{Change, Direction, MessageRow, SenderKind};
use platica_inbox::{Applied, Engine, Transaction};
use sqlx::{Connection, PgConnection, Row};
use tokio::sync::{mpsc, oneshot, watch};

use crate::decode::{Relations, RowEvent, decode};
use crate::load::{LoadStats, load};

/// Prefix of the barrier messages writers emit for read-your-writes.
pub const BARRIER_PREFIX: &str = "platica.barrier";
/// Prefix of the transactional marker `verify` emits to move the stream past its snapshot.
pub const MARKER_PREFIX: &str = "platica.verify";

/// How long reading back the newest messages after a delete may take.
const HINT_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// Tenants with more than [`MAX_FANOUT_ROWS`] row changes in this transaction: their rows are
    /// not held (memory stays bounded); their subscribers are told to refetch instead.
    pub overflow: Vec<TenantId>,
    /// What the engine reported applying it.
    pub applied: Applied,
}

/// Row changes of one transaction held for fan-out; past it, subscribers refetch.
pub const MAX_FANOUT_ROWS: usize = 5_000;

/// Receives every applied transaction, right after it is applied, with the engine read-locked
/// (so the sink sees the state the transaction left). Must not block.
pub trait ChangeSink: Send + Sync {
    fn committed(&self, engine: &Engine, tx: &Committed);
    /// The engine was rebuilt from a fresh snapshot: anything derived from it starts over.
    fn reset(&self, engine: &Engine, lsn: u64);
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
}

impl LiveInbox {
    /// Loads the engine and starts following the stream. Returns once the engine is loaded.
    pub async fn start(
        config: StreamConfig,
        shutdown: CancellationToken,
    ) -> Result<(Arc<LiveInbox>, tokio::task::JoinHandle<()>), StreamError> {
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (position, _) = watch::channel(0);
        let pipeline = Pipeline::open(&config).await?;
        let live = Arc::new(LiveInbox {
            engine: RwLock::new(Arc::new(RwLock::new(Engine::default()))),
            sink: RwLock::new(None),
            position,
            status: Mutex::new(Status::default()),
            control: control_tx,
            config,
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
        self.advance(consistent_point);
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
        match self.status.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
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

fn stream_config(config: &StreamConfig) -> ReplicationStreamConfig {
    ReplicationStreamConfig::builder(config.slot.clone(), config.publication.clone())
        .with_protocol_version(1)
        .with_streaming_mode(StreamingMode::Off)
        .with_binary(true)
        .with_messages(true)
        .with_feedback_interval(Duration::from_secs(1))
        .with_connection_timeout(Duration::from_secs(10))
        .with_retry_config(RetryConfig {
            max_attempts: 20,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            multiplier: 2.0,
            max_duration: Duration::from_secs(120),
            jitter: true,
        })
}

impl Pipeline {
    async fn open(config: &StreamConfig) -> Result<Pipeline, StreamError> {
        drop_stale_slot(config).await?;
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

async fn drop_stale_slot(config: &StreamConfig) -> Result<(), StreamError> {
    let mut conn = PgConnection::connect(&config.database_url).await?;
    let row = sqlx::query("SELECT active FROM pg_replication_slots WHERE slot_name = $1")
        .bind(&config.slot)
        .fetch_optional(&mut conn)
        .await?;
    if let Some(row) = row {
        let active: bool = row.get(0);
        if active {
            return Err(StreamError::Setup(format!(
                "replication slot {:?} is in use by another connection: give each Platica server its \
                 own slot name",
                config.slot
            )));
        }
        tracing::info!(slot = %config.slot, "dropping the stale replication slot of a previous run");
        sqlx::query("SELECT pg_drop_replication_slot($1)").bind(&config.slot).execute(&mut conn).await?;
    }
    conn.close().await?;
    Ok(())
}

/// State of the apply loop between events.
struct Loop {
    live: Arc<LiveInbox>,
    engine: Arc<RwLock<Engine>>,
    buffer: Vec<Change>,
    rows: Vec<RowEvent>,
    overflow: Vec<TenantId>,
    relations: Relations,
    in_tx: bool,
    last_commit: u64,
    paused: bool,
    until: Option<(u64, Job)>,
}

async fn run(
    live: Arc<LiveInbox>,
    stream: LogicalReplicationStream,
    mut control: mpsc::UnboundedReceiver<Control>,
    shutdown: CancellationToken,
) {
    let mut stream = stream;
    loop {
        let engine = live.current();
        let mut state = Loop {
            live: Arc::clone(&live),
            engine,
            buffer: Vec::new(),
            rows: Vec::new(),
            overflow: Vec::new(),
            relations: Relations::default(),
            in_tx: false,
            last_commit: 0,
            paused: false,
            until: None,
        };
        let mut events = stream.into_stream(shutdown.clone());
        // The flushed position the client reports is capped to what it received, so this reports
        // everything received as flushed (see module docs). Safe: with streaming off, a
        // transaction's rows arrive only when its commit is decoded, each event is applied
        // before the next is read, and resuming after a reconnect still starts from the
        // *applied* position.
        events.update_flushed_lsn(u64::MAX);
        let outcome = state.follow(&mut events, &mut control, &shutdown).await;
        let _ = events.shutdown().await;
        match outcome {
            Ok(()) => return,
            Err(e) => {
                tracing::error!(error = %e, "live inbox stream failed; rebuilding from a fresh snapshot");
                live.update_status(|s| {
                    s.streaming = false;
                    s.last_error = Some(e.to_string());
                });
            }
        }
        // Rebuild: a fresh slot and snapshot, retried with backoff until it works or we stop.
        let mut delay = Duration::from_millis(500);
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match Pipeline::open(&live.config).await {
                Ok(p) => {
                    live.install(p.engine, p.consistent_point, p.stats);
                    live.update_status(|s| s.rebuilds += 1);
                    stream = p.stream;
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rebuilding the live inbox failed; retrying");
                    live.update_status(|s| s.last_error = Some(e.to_string()));
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        () = shutdown.cancelled() => return,
                    }
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
}

impl Loop {
    async fn follow(
        &mut self,
        events: &mut EventStream,
        control: &mut mpsc::UnboundedReceiver<Control>,
        shutdown: &CancellationToken,
    ) -> Result<(), StreamError> {
        loop {
            if self.paused {
                // Not reading the stream: nothing is applied until told where to stop.
                tokio::select! {
                    msg = control.recv() => match msg {
                        Some(m) => self.control(m),
                        None => return Ok(()),
                    },
                    () = shutdown.cancelled() => return Ok(()),
                }
                continue;
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                msg = control.recv() => match msg {
                    Some(m) => self.control(m),
                    None => return Ok(()),
                },
                event = events.next_event() => match event {
                    Ok(ev) => self.event(ev.event_type, events).await?,
                    Err(pg_walstream::ReplicationError::Cancelled(_)) => return Ok(()),
                    Err(e) => return Err(e.into()),
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

    async fn event(&mut self, event: EventType, events: &mut EventStream) -> Result<(), StreamError> {
        match event {
            EventType::Begin { .. } => {
                // A Begin inside a transaction is a replay after a reconnect: start over.
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
                events.update_applied_lsn(end_lsn.value());
                self.live.advance(end_lsn.value());
            }
            EventType::Message { flags, message_lsn, prefix, .. } => {
                if flags & 1 == 0 && &*prefix == BARRIER_PREFIX && !self.in_tx {
                    self.live.advance(message_lsn.value());
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
            let mut tenants: Vec<TenantId> = self.rows.drain(..).map(|r| r.tenant_id).collect();
            tenants.sort();
            tenants.dedup();
            self.rows.shrink_to_fit();
            self.overflow = tenants;
        }
        if !self.overflow.contains(&row.tenant_id) {
            self.overflow.push(row.tenant_id);
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
        (rows, overflow): (Vec<RowEvent>, Vec<TenantId>),
        end_lsn: u64,
        committed: DateTime<Utc>,
    ) -> Result<(), StreamError> {
        let started = Instant::now();
        let mut applied = write(&self.engine).apply(&tx);
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
            // Part of applying the transaction (see module docs). Failing it fails the stream: the
            // pipeline is rebuilt from a fresh snapshot rather than left without a last message.
            let hints = tokio::time::timeout(HINT_TIMEOUT, newest_messages(&self.live.config.database_url, &refresh))
                .await
                .map_err(|_| StreamError::Setup("reading the newest messages after a delete timed out".into()))??;
            let mut engine = write(&self.engine);
            for c in &hints {
                engine.apply_change(c, &mut applied);
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

/// Reads the newest message of each conversation (after its newest was deleted).
async fn newest_messages(url: &str, which: &[(TenantId, i64)]) -> Result<Vec<Change>, sqlx::Error> {
    let mut conn = PgConnection::connect(url).await?;
    let mut out = Vec::new();
    for (tenant, conversation) in which {
        let row = sqlx::query(
            "SELECT message_id, direction, sender_kind, left(body, 120), created_at, read_at IS NOT NULL
             FROM messages WHERE tenant_id = $1 AND conversation_id = $2
             ORDER BY created_at DESC, message_id DESC LIMIT 1",
        )
        .bind(tenant.0)
        .bind(conversation)
        .fetch_optional(&mut conn)
        .await?;
        if let Some(r) = row {
            let direction: String = r.get(1);
            let sender: String = r.get(2);
            let at: DateTime<Utc> = r.get(4);
            out.push(Change::LastMessageHint(MessageRow {
                tenant_id: *tenant,
                message_id: r.get(0),
                conversation_id: *conversation,
                direction: if direction == "in" { Direction::In } else { Direction::Out },
                sender_kind: SenderKind::parse(&sender).unwrap_or(SenderKind::System),
                body: r.get(3),
                created_at: at.timestamp_micros(),
                read: r.get(5),
            }));
        }
    }
    conn.close().await?;
    Ok(out)
}
