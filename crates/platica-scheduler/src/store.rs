//! Every query about jobs and their runs (tables `jobs` and `job_runs`, migration 0006).

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use platica_domain::validate::Invalid;
use platica_store::{PgPool, StoreError, StoreResult};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::kinds;
use crate::schedule::Schedule;

/// A job as stored.
#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Job {
    pub job_id: i64,
    #[serde(skip)]
    pub tenant_id: i64,
    pub name: String,
    /// 5-field cron expression.
    pub schedule: String,
    /// IANA time zone the expression is read in.
    pub time_zone: String,
    /// A kind from the registry (`GET /api/v1/jobs/kinds`).
    pub kind: String,
    #[schema(value_type = Object)]
    pub args: Value,
    pub active: bool,
    /// Occurrences before this instant are never run (creation or last schedule change).
    pub schedule_since: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One run of a job (like pg_cron's `job_run_details`).
#[derive(Clone, Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct Run {
    pub run_id: i64,
    pub job_id: i64,
    /// The cron occurrence this run is (absent for a manual run).
    pub scheduled_for: Option<DateTime<Utc>>,
    /// `schedule` or `manual`.
    pub trigger: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// What the run did, or why it failed.
    pub message: Option<String>,
    /// The server process that ran it.
    pub instance: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Milliseconds from start to end.
    pub duration_ms: Option<f64>,
}

/// A new job, validated by [`NewJob::validate`].
#[derive(Clone, Debug)]
pub struct NewJob {
    pub name: String,
    pub schedule: String,
    pub time_zone: String,
    pub kind: String,
    pub args: Value,
    pub active: bool,
}

/// Changes to a job; absent fields stay.
#[derive(Clone, Debug, Default)]
pub struct JobChanges {
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    pub args: Option<Value>,
    pub active: Option<bool>,
}

/// Checks a job name: lower-case letters, digits, `_`, `.`, `-`, at most 63.
pub fn validate_name(name: &str) -> Result<(), Invalid> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| c.is_ascii_lowercase() || c.is_ascii_digit() || (i > 0 && matches!(c, '_' | '.' | '-')));
    if ok {
        Ok(())
    } else {
        Err(Invalid::new(
            "name",
            format!("{name:?} is not a job name: use 1 to 63 lower-case letters, digits, '_', '.' or '-'"),
        ))
    }
}

impl NewJob {
    /// Checks every field: name, schedule and zone, kind, and the kind's arguments.
    pub fn validate(&self) -> Result<(), Invalid> {
        validate_name(&self.name)?;
        Schedule::parse(&self.schedule, &self.time_zone)?;
        let kind = kinds::find(&self.kind)?;
        kind.validate(&self.args)
    }
}

const JOB_COLUMNS: &str =
    "job_id, tenant_id, name, schedule, time_zone, kind, args, active, schedule_since, created_at, updated_at";
const RUN_COLUMNS: &str = "run_id, job_id, scheduled_for, trigger, status, message, instance, started_at, ended_at, \
     (extract(epoch FROM ended_at - started_at) * 1000)::float8 AS duration_ms";

fn conflict(e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e
        && db.constraint() == Some("jobs_name_unique")
    {
        return StoreError::Conflict { message: "a job with this name already exists".into(), field: Some("name") };
    }
    StoreError::from(e)
}

/// Creates a job (validated first).
pub async fn create(pool: &PgPool, tenant: TenantId, job: &NewJob) -> StoreResult<Job> {
    job.validate()?;
    let sql = format!(
        "INSERT INTO jobs (tenant_id, name, schedule, time_zone, kind, args, active) VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING {JOB_COLUMNS}"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(&job.name)
        .bind(job.schedule.trim())
        .bind(&job.time_zone)
        .bind(&job.kind)
        .bind(&job.args)
        .bind(job.active)
        .fetch_one(pool)
        .await
        .map_err(conflict)
}

/// Every job of a tenant, by name.
pub async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 ORDER BY name");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_all(pool).await?)
}

/// Every active job of every tenant (what the scheduler runs).
pub async fn active(pool: &PgPool) -> StoreResult<Vec<Job>> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE active ORDER BY tenant_id, job_id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await?)
}

pub async fn get(pool: &PgPool, tenant: TenantId, job_id: i64) -> StoreResult<Job> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND job_id = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(job_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::not_found("job"))
}

pub async fn get_by_name(pool: &PgPool, tenant: TenantId, name: &str) -> StoreResult<Job> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND name = $2");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(name)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound { message: format!("no job named {name:?}"), field: Some("name") })
}

/// Alters a job. A new schedule or time zone restarts its occurrences from now
/// (`schedule_since`): nothing is caught up under the new schedule.
pub async fn alter(pool: &PgPool, tenant: TenantId, job_id: i64, changes: &JobChanges) -> StoreResult<Job> {
    let mut tx = pool.begin().await?;
    let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE tenant_id = $1 AND job_id = $2 FOR UPDATE");
    let job: Job = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(job_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::not_found("job"))?;
    let schedule = changes.schedule.as_deref().map(str::trim).unwrap_or(&job.schedule).to_owned();
    let zone = changes.time_zone.clone().unwrap_or_else(|| job.time_zone.clone());
    Schedule::parse(&schedule, &zone)?;
    let args = changes.args.clone().unwrap_or_else(|| job.args.clone());
    kinds::find(&job.kind)?.validate(&args)?;
    let rescheduled = schedule != job.schedule || zone != job.time_zone;
    let sql = format!(
        "UPDATE jobs SET schedule = $3, time_zone = $4, args = $5, active = $6, updated_at = now(),
             schedule_since = CASE WHEN $7 THEN now() ELSE schedule_since END
         WHERE tenant_id = $1 AND job_id = $2 RETURNING {JOB_COLUMNS}"
    );
    let job = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(job_id)
        .bind(&schedule)
        .bind(&zone)
        .bind(&args)
        .bind(changes.active.unwrap_or(job.active))
        .bind(rescheduled)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(job)
}

/// Deletes a job and its history.
pub async fn unschedule(pool: &PgPool, tenant: TenantId, job_id: i64) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM jobs WHERE tenant_id = $1 AND job_id = $2")
        .bind(tenant.0)
        .bind(job_id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("job"));
    }
    Ok(())
}

/// Claims a scheduled occurrence: inserts its `running` row unless one exists. `Some(run_id)`
/// means this caller won and must run it; `None` that another server (or an earlier tick) has.
pub async fn claim(pool: &PgPool, job: &Job, scheduled_for: DateTime<Utc>, instance: &str) -> StoreResult<Option<i64>> {
    Ok(sqlx::query_scalar(
        "INSERT INTO job_runs (tenant_id, job_id, scheduled_for, trigger, status, instance)
         VALUES ($1, $2, $3, 'schedule', 'running', $4)
         ON CONFLICT (tenant_id, job_id, scheduled_for) DO NOTHING RETURNING run_id",
    )
    .bind(job.tenant_id)
    .bind(job.job_id)
    .bind(scheduled_for)
    .bind(instance)
    .fetch_optional(pool)
    .await?)
}

/// Starts a manual run (never deduplicated).
pub async fn start_manual(pool: &PgPool, job: &Job, instance: &str) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO job_runs (tenant_id, job_id, trigger, status, instance)
         VALUES ($1, $2, 'manual', 'running', $3) RETURNING run_id",
    )
    .bind(job.tenant_id)
    .bind(job.job_id)
    .bind(instance)
    .fetch_one(pool)
    .await?)
}

/// Records the end of a run.
pub async fn finish(pool: &PgPool, tenant_id: i64, run_id: i64, ok: bool, message: &str) -> StoreResult<Run> {
    let sql = format!(
        "UPDATE job_runs SET status = $3, message = $4, ended_at = clock_timestamp()
         WHERE tenant_id = $1 AND run_id = $2 RETURNING {RUN_COLUMNS}"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant_id)
        .bind(run_id)
        .bind(if ok { "succeeded" } else { "failed" })
        .bind(message)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::not_found("run"))
}

/// Runs still `running` that started before `before` belong to a server that stopped mid-run
/// (a live server ends every run within its timeout): they are marked failed.
pub async fn fail_abandoned(pool: &PgPool, before: DateTime<Utc>) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE job_runs SET status = 'failed', ended_at = clock_timestamp(),
             message = 'abandoned: the server running it stopped before it finished'
         WHERE status = 'running' AND started_at < $1",
    )
    .bind(before)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}

/// A page of a job's runs, newest first; `before` is the last `run_id` of the previous page.
pub async fn history(
    pool: &PgPool,
    tenant: TenantId,
    job_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<Run>> {
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM job_runs
         WHERE tenant_id = $1 AND ($2::bigint IS NULL OR job_id = $2) AND ($3::bigint IS NULL OR run_id < $3)
         ORDER BY run_id DESC LIMIT $4"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(job_id)
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Failed runs since `since`, every tenant: (tenant slug, job name, message, started_at).
pub async fn recent_failures(
    pool: &PgPool,
    since: DateTime<Utc>,
) -> StoreResult<Vec<(String, String, Option<String>, DateTime<Utc>)>> {
    Ok(sqlx::query_as(
        "SELECT t.slug, j.name, r.message, r.started_at FROM job_runs r
         JOIN jobs j ON j.tenant_id = r.tenant_id AND j.job_id = r.job_id
         JOIN tenants t ON t.tenant_id = r.tenant_id
         WHERE r.status = 'failed' AND r.started_at >= $1 ORDER BY r.started_at DESC LIMIT 50",
    )
    .bind(since)
    .fetch_all(pool)
    .await?)
}

/// The recommended jobs of a tenant: (name, schedule, kind, args). Times are in the tenant's
/// zone, at night; the daily snapshot covers the day that just ended.
pub const RECOMMENDED: &[(&str, &str, &str, &str)] = &[
    ("close-idle-conversations", "0 3 * * *", "close_idle_conversations", r#"{"days": 30}"#),
    ("purge-expired-sessions", "30 3 * * *", "purge_expired_sessions", r#"{"keep_days": 0}"#),
    ("run-history-retention", "45 3 * * *", "run_history_retention", r#"{"keep_days": 30}"#),
    ("daily-stats-snapshot", "5 0 * * *", "daily_stats_snapshot", r#"{"day": "previous"}"#),
    ("resume-paused-bots", "* * * * *", "resume_paused_bots", "{}"),
    ("webhook-events-retention", "15 4 * * *", "webhook_events_retention", r#"{"keep_days": 30}"#),
    ("mark-overdue-scheduled-calls", "*/5 * * * *", "mark_overdue_scheduled_calls", "{}"),
    ("purge-idempotency-keys", "20 * * * *", "purge_idempotency_keys", "{}"),
];

/// Creates the [`RECOMMENDED`] jobs the tenant does not have yet (by name), in `time_zone`.
/// Returns the jobs created; running it again creates nothing.
pub async fn install_recommended(pool: &PgPool, tenant: TenantId, time_zone: &str) -> StoreResult<Vec<Job>> {
    crate::schedule::parse_zone(time_zone)?;
    let mut created = Vec::new();
    for (name, schedule, kind, args) in RECOMMENDED {
        let args: Value = serde_json::from_str(args)
            .map_err(|e| StoreError::Config(format!("recommended job {name} has bad arguments: {e}")))?;
        let job = NewJob {
            name: (*name).to_owned(),
            schedule: (*schedule).to_owned(),
            time_zone: time_zone.to_owned(),
            kind: (*kind).to_owned(),
            args,
            active: true,
        };
        match create(pool, tenant, &job).await {
            Ok(j) => created.push(j),
            Err(StoreError::Conflict { field: Some("name"), .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(created)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_recommended_jobs_are_valid() {
        for (name, schedule, kind, args) in RECOMMENDED {
            let job = NewJob {
                name: (*name).to_owned(),
                schedule: (*schedule).to_owned(),
                time_zone: "America/Mexico_City".into(),
                kind: (*kind).to_owned(),
                args: serde_json::from_str(args).unwrap(),
                active: true,
            };
            job.validate().unwrap();
        }
    }
}
