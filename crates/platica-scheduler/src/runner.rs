//! The scheduler loop: every tick it reads the active jobs, finds each one's due occurrence,
//! claims it in the database and runs it.
//!
//! **Exactly once across servers.** Any number of servers may run this loop on one database. An
//! occurrence `(tenant, job, scheduled_for)` is run only by the server whose insert of its run
//! row succeeded (`INSERT ... ON CONFLICT DO NOTHING` on a unique key), so it runs at most once;
//! every server tries to claim it, so it runs as long as one server is up during its grace window.
//!
//! **Missed occurrences** (all servers down, or busy past it): at each tick only the *latest*
//! due occurrence is considered, and it is run only if it is at most `grace` old. Older missed
//! occurrences are skipped (logged), never run as a backlog. So after downtime a job runs once at
//! start-up if its latest occurrence fell within the grace window, then follows its schedule.
//! Occurrences before the job's `schedule_since` (its creation or last schedule change) never run.
//!
//! **Failures.** A run that returns an error, times out or panics is recorded `failed` with its
//! message; the loop goes on. A run left `running` by a server that stopped mid-run is marked
//! `failed` (abandoned) once it is older than the run timeout. A stopping server waits up to
//! [`SHUTDOWN_WAIT`] for its runs in flight.
//!
//! **Snoozes.** Each tick also opens the snoozed conversations whose time has come
//! (`platica_store::inbox::conversations::wake_snoozed`), so no job needs installing for it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use platica_store::{PgPool, StoreError, StoreResult};

use crate::kinds::{self, JobContext};
use crate::schedule::Schedule;
use crate::store::{self, Job, Run};

/// Largest accepted grace window: run history retention keeps at least two days, so the claim
/// of any occurrence that could still be run is never deleted.
pub const MAX_GRACE: Duration = Duration::from_secs(24 * 3600);

/// How long a stopping server waits for job runs in flight (then they are left to the
/// abandoned-run sweep of the servers still running, or of the next start).
pub const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

/// How the scheduler runs.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    /// How often due jobs are looked for.
    pub tick: Duration,
    /// How late an occurrence may still be run (see the module doc). At most [`MAX_GRACE`].
    pub grace: Duration,
    /// A run taking longer is stopped and recorded as failed.
    pub run_timeout: Duration,
    /// This server's name in the run history.
    pub instance: String,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            tick: Duration::from_secs(1),
            grace: Duration::from_secs(3600),
            run_timeout: Duration::from_secs(600),
            instance: default_instance(),
        }
    }
}

/// `<host>:<pid>`.
pub fn default_instance() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}:{}", std::process::id())
}

/// What this process's scheduler has done (for tests and metrics).
#[derive(Default, Debug)]
pub struct SchedulerStats {
    /// Occurrences this instance claimed (and so ran).
    pub claimed: AtomicU64,
    /// Occurrences another instance (or an earlier tick) had already claimed.
    pub lost: AtomicU64,
    /// Missed occurrences skipped (older than the latest due one, or older than the grace).
    pub skipped: AtomicU64,
}

struct Planned {
    updated_at: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
}

/// One scheduler instance.
pub struct Scheduler {
    pool: PgPool,
    config: SchedulerConfig,
    planned: Mutex<HashMap<(i64, i64), Planned>>,
    pub stats: SchedulerStats,
}

impl Scheduler {
    pub fn new(pool: PgPool, mut config: SchedulerConfig) -> Scheduler {
        config.grace = config.grace.min(MAX_GRACE);
        Scheduler { pool, config, planned: Mutex::new(HashMap::new()), stats: SchedulerStats::default() }
    }

    pub fn config(&self) -> &SchedulerConfig {
        &self.config
    }

    /// Looks for due occurrences at `now`, claims them and starts their runs (returned, so a
    /// caller may wait for them).
    pub async fn tick(&self, now: DateTime<Utc>) -> StoreResult<Vec<tokio::task::JoinHandle<()>>> {
        let jobs = store::active(&self.pool).await?;
        let grace = chrono::Duration::from_std(self.config.grace).unwrap_or(chrono::Duration::hours(1));
        let mut due = Vec::new();
        {
            let mut planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
            planned.retain(|k, _| jobs.iter().any(|j| (j.tenant_id, j.job_id) == *k));
            for job in &jobs {
                let schedule = match Schedule::parse(&job.schedule, &job.time_zone) {
                    Ok(s) => s,
                    Err(e) => {
                        // Only a hand edit of the table gets here: say so once per version.
                        if planned
                            .insert((job.tenant_id, job.job_id), Planned { updated_at: job.updated_at, next: None })
                            .is_none_or(|p| p.updated_at != job.updated_at)
                        {
                            tracing::warn!(job = %job.name, tenant = job.tenant_id, error = %e.message, "job has an invalid schedule");
                        }
                        continue;
                    }
                };
                let entry = planned.entry((job.tenant_id, job.job_id)).or_insert(Planned {
                    updated_at: job.updated_at,
                    next: schedule.next_from((now - grace).max(job.schedule_since)),
                });
                if entry.updated_at != job.updated_at {
                    entry.updated_at = job.updated_at;
                    entry.next = schedule.next_from((now - grace).max(job.schedule_since));
                }
                let Some(next) = entry.next else { continue };
                if next > now {
                    continue;
                }
                let Some(latest) = schedule.latest_at_or_before(now) else { continue };
                let skipped = count_between(&schedule, next, latest);
                if skipped > 0 {
                    self.stats.skipped.fetch_add(skipped, Ordering::Relaxed);
                    tracing::warn!(job = %job.name, tenant = job.tenant_id, skipped, "missed occurrences skipped");
                }
                entry.next = schedule.next_after(latest.max(now));
                if now - latest <= grace && latest >= job.schedule_since {
                    due.push((job.clone(), latest));
                } else {
                    self.stats.skipped.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(job = %job.name, tenant = job.tenant_id, occurrence = %latest, "occurrence older than the grace window skipped");
                }
            }
        }
        let mut handles = Vec::new();
        for (job, at) in due {
            match store::claim(&self.pool, &job, at, &self.config.instance).await? {
                Some(run_id) => {
                    self.stats.claimed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(job = %job.name, tenant = job.tenant_id, occurrence = %at, run_id, "job run claimed");
                    let pool = self.pool.clone();
                    let timeout = self.config.run_timeout;
                    handles.push(tokio::spawn(async move {
                        if let Err(e) = execute(&pool, job, run_id, Some(at), timeout).await {
                            tracing::error!(error = %e, run_id, "cannot record the end of a job run");
                        }
                    }));
                }
                None => {
                    self.stats.lost.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(handles)
    }

    /// Ticks until `shutdown` completes, then waits (up to the run timeout) for runs in flight.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tracing::info!(instance = %self.config.instance, grace_s = self.config.grace.as_secs(), "scheduler started");
        let mut interval = tokio::time::interval(self.config.tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut in_flight: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        let mut last_sweep: Option<std::time::Instant> = None;
        let mut failing = false;
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                _ = interval.tick() => {}
            }
            in_flight.retain(|h| !h.is_finished());
            match self.tick(Utc::now()).await {
                Ok(started) => {
                    if failing {
                        tracing::info!("scheduler reaches the database again");
                        failing = false;
                    }
                    in_flight.extend(started);
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "scheduler tick failed; retrying every tick");
                        failing = true;
                    }
                }
            }
            // Snoozes whose time has come end here, on every server (the update is idempotent).
            match platica_store::inbox::conversations::wake_snoozed(&self.pool).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(conversations = n, "snoozed conversations woken"),
                Err(e) => tracing::debug!(error = %e, "waking snoozed conversations failed"),
            }
            if last_sweep.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                last_sweep = Some(std::time::Instant::now());
                let margin = chrono::Duration::from_std(self.config.run_timeout).unwrap_or(chrono::Duration::hours(1))
                    + chrono::Duration::minutes(1);
                match store::fail_abandoned(&self.pool, Utc::now() - margin).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(runs = n, "runs abandoned by a stopped server marked failed"),
                    Err(e) => tracing::debug!(error = %e, "abandoned-run sweep failed"),
                }
            }
        }
        if !in_flight.is_empty() {
            tracing::info!(runs = in_flight.len(), "waiting for job runs in flight");
            let all = futures_join(in_flight);
            if tokio::time::timeout(self.config.run_timeout.min(SHUTDOWN_WAIT), all).await.is_err() {
                tracing::warn!("job runs still in flight at shutdown are left to the abandoned-run sweep");
            }
        }
        tracing::info!("scheduler stopped");
    }

    /// Runs a job now (a manual run, recorded like any other) and returns its finished run.
    pub async fn run_now(&self, tenant: TenantId, job_id: i64) -> StoreResult<Run> {
        run_now(&self.pool, tenant, job_id, &self.config.instance, self.config.run_timeout).await
    }
}

/// Runs a job now: a manual run (see [`Scheduler::run_now`]), for callers without a scheduler.
pub async fn run_now(
    pool: &PgPool,
    tenant: TenantId,
    job_id: i64,
    instance: &str,
    timeout: Duration,
) -> StoreResult<Run> {
    let job = store::get(pool, tenant, job_id).await?;
    let run_id = store::start_manual(pool, &job, instance).await?;
    execute(pool, job, run_id, None, timeout).await
}

async fn futures_join(handles: Vec<tokio::task::JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// Occurrences strictly between `from` (included) and `to` (excluded), capped at 10,000.
fn count_between(s: &Schedule, from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    let mut n = 0;
    let mut t = Some(from);
    while let Some(at) = t {
        if at >= to || n >= 10_000 {
            break;
        }
        n += 1;
        t = s.next_after(at);
    }
    n
}

/// Runs one claimed run of `job` and records its end. The kind runs in a task of its own, so a
/// panic is recorded as a failure too.
async fn execute(
    pool: &PgPool,
    job: Job,
    run_id: i64,
    scheduled_for: Option<DateTime<Utc>>,
    timeout: Duration,
) -> StoreResult<Run> {
    let tenant_id = job.tenant_id;
    let kind_name = job.kind.clone();
    let task_pool = pool.clone();
    let work = tokio::spawn(async move {
        let kind = kinds::find(&job.kind).map_err(|e| e.message)?;
        let time_zone = crate::schedule::parse_zone(&job.time_zone).map_err(|e| e.message)?;
        let ctx = JobContext {
            pool: &task_pool,
            tenant: TenantId(job.tenant_id),
            time_zone,
            scheduled_for,
            started_at: Utc::now(),
        };
        kind.run(&ctx, &job.args).await
    });
    let abort = work.abort_handle();
    let outcome = match tokio::time::timeout(timeout, work).await {
        Ok(Ok(result)) => result,
        Ok(Err(e)) if e.is_panic() => Err("the job panicked".to_owned()),
        Ok(Err(e)) => Err(format!("the job was cancelled: {e}")),
        Err(_) => {
            abort.abort();
            Err(format!("timed out after {} s", timeout.as_secs()))
        }
    };
    let (ok, message) = match outcome {
        Ok(m) => (true, m),
        Err(m) => (false, m),
    };
    let status = if ok { "succeeded" } else { "failed" };
    metrics::counter!("platica_job_runs_total", "kind" => kind_name.clone(), "status" => status).increment(1);
    if ok {
        tracing::info!(kind = %kind_name, run_id, message = %message, "job run succeeded");
    } else {
        tracing::warn!(kind = %kind_name, run_id, message = %message, "job run failed");
    }
    match store::finish(pool, tenant_id, run_id, ok, &message).await {
        Ok(run) => Ok(run),
        Err(StoreError::NotFound { .. }) => Err(StoreError::not_found("run (deleted while running)")),
        Err(e) => Err(e),
    }
}
