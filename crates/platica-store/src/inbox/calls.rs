//! Calls (made by a voice agent or an executive for a prospect, reported by the call provider)
//! and scheduled calls.
//!
//! A call or scheduled call is visible exactly when its prospect is: every read joins the
//! prospect and applies [`platica_domain::visibility::sql_predicate`] to it. Ingestion from the
//! provider is idempotent by the provider's call id and never moves a status backwards.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use platica_domain::policy;
use platica_domain::{Role, TenantId, UserId, Viewer};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, QueryBuilder};

use crate::error::{StoreError, StoreResult};
use crate::inbox::prospects::push_visible;
use crate::secrets::{SecretError, SecretKey};

/// Call statuses, in order; the last three are terminal and equal in rank.
pub const CALL_STATUSES: [&str; 6] = ["queued", "ringing", "in_progress", "completed", "no_answer", "failed"];
/// Statuses of a call in progress (what the call monitor shows as active).
pub const ACTIVE_CALL_STATUSES: [&str; 3] = ["queued", "ringing", "in_progress"];
/// Scheduled call statuses.
pub const SCHEDULED_STATUSES: [&str; 4] = ["pending", "done", "missed", "cancelled"];
/// The sealed field name of the call provider's webhook secret.
pub const PROVIDER_SECRET: &str = "call_provider_settings.secret";

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Call {
    pub call_id: i64,
    pub prospect_id: i64,
    /// The prospect's name.
    pub prospect_name: String,
    /// The prospect's team.
    pub team_id: i64,
    pub executive_id: Option<i64>,
    pub provider: String,
    pub provider_call_id: String,
    pub status: String,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub duration_secs: Option<i32>,
    pub outcome: Option<String>,
    pub summary: Option<String>,
    pub recording_url: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const CALL_SELECT: &str = "SELECT c.call_id, c.prospect_id, p.name AS prospect_name, p.team_id, c.executive_id,
        c.provider, c.provider_call_id, c.status, c.started_at, c.ended_at, c.duration_secs, c.outcome,
        c.summary, c.recording_url, c.created_at, c.updated_at
    FROM calls c JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
    WHERE true";

/// Filters for listing calls.
#[derive(Clone, Debug, Default)]
pub struct CallFilter {
    pub status: Option<String>,
    pub executive_id: Option<i64>,
    pub team_id: Option<i64>,
    /// Only calls created since the start of the current day (UTC).
    pub today: bool,
    /// Only calls created at or after this instant (e.g. the user's local midnight).
    pub since: Option<DateTime<Utc>>,
    pub prospect_id: Option<i64>,
}

/// Visible calls matching `filter`, newest first; `after` is the last call id seen.
pub async fn list(
    pool: &PgPool,
    viewer: &Viewer,
    filter: &CallFilter,
    after: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<Call>> {
    let mut qb = QueryBuilder::new(CALL_SELECT);
    push_visible(&mut qb, viewer, "p");
    if let Some(s) = &filter.status {
        qb.push(" AND c.status = ").push_bind(s.clone());
    }
    if let Some(e) = filter.executive_id {
        qb.push(" AND c.executive_id = ").push_bind(e);
    }
    if let Some(t) = filter.team_id {
        qb.push(" AND p.team_id = ").push_bind(t);
    }
    if let Some(pid) = filter.prospect_id {
        qb.push(" AND c.prospect_id = ").push_bind(pid);
    }
    if filter.today {
        qb.push(" AND c.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'");
    }
    if let Some(since) = filter.since {
        qb.push(" AND c.created_at >= ").push_bind(since);
    }
    if let Some(a) = after {
        qb.push(" AND c.call_id < ").push_bind(a);
    }
    qb.push(" ORDER BY c.call_id DESC LIMIT ").push_bind(limit);
    Ok(qb.build_query_as().fetch_all(pool).await?)
}

/// Exact counts of the visible calls created at or after an instant (the call monitor's "today").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CallSummary {
    pub total: i64,
    /// Calls queued, ringing or in progress.
    pub active: i64,
    /// Every call status, with 0 for those no call has.
    pub by_status: BTreeMap<String, i64>,
    /// Each outcome the calls have (calls without an outcome are not counted here).
    pub by_outcome: BTreeMap<String, i64>,
}

/// Counts the visible calls created at or after `since`, by status and by outcome, in one query
/// under the same visibility rule as [`list`].
pub async fn summary(pool: &PgPool, viewer: &Viewer, since: DateTime<Utc>) -> StoreResult<CallSummary> {
    let mut qb = QueryBuilder::new(
        "SELECT c.status, c.outcome, count(*) AS n
    FROM calls c JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
    WHERE true",
    );
    push_visible(&mut qb, viewer, "p");
    qb.push(" AND c.created_at >= ").push_bind(since);
    qb.push(" GROUP BY c.status, c.outcome");
    let rows: Vec<(String, Option<String>, i64)> = qb.build_query_as().fetch_all(pool).await?;
    let mut s = CallSummary {
        by_status: CALL_STATUSES.iter().map(|st| ((*st).to_owned(), 0)).collect(),
        ..CallSummary::default()
    };
    for (status, outcome, n) in rows {
        s.total += n;
        if ACTIVE_CALL_STATUSES.contains(&status.as_str()) {
            s.active += n;
        }
        *s.by_status.entry(status).or_default() += n;
        if let Some(o) = outcome {
            *s.by_outcome.entry(o).or_default() += n;
        }
    }
    Ok(s)
}

/// A visible call, or not-found.
pub async fn get(pool: &PgPool, viewer: &Viewer, call_id: i64) -> StoreResult<Call> {
    let mut qb = QueryBuilder::new(CALL_SELECT);
    push_visible(&mut qb, viewer, "p");
    qb.push(" AND c.call_id = ").push_bind(call_id);
    let row: Option<Call> = qb.build_query_as().fetch_optional(pool).await?;
    row.ok_or_else(|| StoreError::not_found("call"))
}

// ---- the call provider ----

fn secret_error(e: SecretError) -> StoreError {
    StoreError::Config(e.to_string())
}

/// Sets (or replaces) a tenant's call provider webhook secret, sealed with the server key.
pub async fn set_provider_secret(
    pool: &PgPool,
    key: &SecretKey,
    tenant: TenantId,
    secret: &str,
    by: UserId,
) -> StoreResult<()> {
    let sealed = key.seal(tenant, PROVIDER_SECRET, secret).map_err(secret_error)?;
    sqlx::query(
        "INSERT INTO call_provider_settings (tenant_id, secret_ciphertext, secret_nonce, updated_by)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id) DO UPDATE SET secret_ciphertext = EXCLUDED.secret_ciphertext,
             secret_nonce = EXCLUDED.secret_nonce, updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(tenant.0)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .bind(by.0)
    .execute(pool)
    .await?;
    Ok(())
}

/// The tenant (by slug) and its opened call provider secret, when both exist.
pub async fn provider_secret(pool: &PgPool, key: &SecretKey, slug: &str) -> StoreResult<Option<(TenantId, String)>> {
    let row: Option<(i64, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT s.tenant_id, s.secret_ciphertext, s.secret_nonce
           FROM call_provider_settings s JOIN tenants t USING (tenant_id) WHERE t.slug = $1",
    )
    .bind(slug)
    .fetch_optional(pool)
    .await?;
    match row {
        None => Ok(None),
        Some((t, c, n)) => {
            let tenant = TenantId(t);
            Ok(Some((tenant, key.open(tenant, PROVIDER_SECRET, &c, &n).map_err(secret_error)?)))
        }
    }
}

/// One call event reported by the provider: the body of its webhook (`POST /calls/webhook`, which
/// validates it before [`ingest`] stores it).
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct CallEvent {
    /// The provider's name, e.g. `voicebot` (lowercase letters, digits, `_.-`).
    #[schema(pattern = "^[a-z0-9_.-]{1,40}$")]
    pub provider: String,
    /// The provider's id of the call: events of one call share it.
    #[serde(rename = "call_id")]
    #[schema(min_length = 1, max_length = 200)]
    pub provider_call_id: String,
    pub status: String,
    /// The prospect called: by id or by E.164 phone (required for a call's first event).
    pub prospect_id: Option<i64>,
    pub prospect_phone: Option<String>,
    /// The executive the call is made for; default the prospect's executive.
    pub executive_id: Option<i64>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    #[schema(minimum = 0)]
    pub duration_secs: Option<i32>,
    /// What came of the call, at most 200 characters. Send one of the codes the web app words in
    /// each language (`interested`, `not_interested`, `callback_requested`, `follow_up`,
    /// `voicemail`, `no_answer`, `busy`, `wrong_number`, `sale`, `do_not_call`); any other text
    /// is kept and shown as given.
    pub outcome: Option<String>,
    pub summary: Option<String>,
    pub recording_url: Option<String>,
}

/// What ingesting one report did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IngestOutcome {
    /// A new call.
    Created,
    /// The call moved forward (or, at the same status, gained details).
    Updated,
    /// An older status than the call's: nothing changed.
    Stale,
}

/// Stores a provider report: creates the call, or moves it forward. One statement, so
/// concurrent deliveries of the same call cannot both create it, and the status never regresses.
pub async fn ingest(pool: &PgPool, tenant: TenantId, r: &CallEvent) -> StoreResult<(i64, IngestOutcome)> {
    let mut tx = pool.begin().await?;
    let existing: Option<(i64,)> =
        sqlx::query_as("SELECT call_id FROM calls WHERE tenant_id = $1 AND provider_call_id = $2")
            .bind(tenant.0)
            .bind(&r.provider_call_id)
            .fetch_optional(&mut *tx)
            .await?;
    // The prospect is needed only for a new call.
    let placement: Option<(i64, Option<i64>)> = if existing.is_some() {
        None
    } else {
        let found: Option<(i64, Option<i64>)> = match (r.prospect_id, &r.prospect_phone) {
            (Some(id), _) => {
                sqlx::query_as(
                    "SELECT prospect_id, executive_id FROM prospects WHERE tenant_id = $1 AND prospect_id = $2",
                )
                .bind(tenant.0)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
            }
            (None, Some(phone)) => {
                sqlx::query_as("SELECT prospect_id, executive_id FROM prospects WHERE tenant_id = $1 AND phone = $2")
                    .bind(tenant.0)
                    .bind(phone)
                    .fetch_optional(&mut *tx)
                    .await?
            }
            (None, None) => {
                return Err(StoreError::Refused {
                    code: "prospect_required",
                    message: "a new call needs prospect_id or prospect_phone".into(),
                    field: Some("prospect_id"),
                    params: vec![],
                });
            }
        };
        let field = if r.prospect_id.is_some() { "prospect_id" } else { "prospect_phone" };
        Some(found.ok_or_else(|| StoreError::missing_ref("prospect", field))?)
    };
    if let Some(e) = r.executive_id {
        let ok: Option<(i64,)> = sqlx::query_as("SELECT user_id FROM users WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.0)
            .bind(e)
            .fetch_optional(&mut *tx)
            .await?;
        if ok.is_none() {
            return Err(StoreError::missing_ref("executive", "executive_id"));
        }
    }
    let (prospect_id, default_exec) = placement.unwrap_or((0, None));
    let row: Option<(i64, bool)> = sqlx::query_as(
        "INSERT INTO calls AS c (tenant_id, prospect_id, executive_id, provider, provider_call_id, status,
                started_at, ended_at, duration_secs, outcome, summary, recording_url)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (tenant_id, provider_call_id) DO UPDATE SET
             status = EXCLUDED.status,
             executive_id = coalesce($13, c.executive_id),
             started_at = coalesce(EXCLUDED.started_at, c.started_at),
             ended_at = coalesce(EXCLUDED.ended_at, c.ended_at),
             duration_secs = coalesce(EXCLUDED.duration_secs, c.duration_secs),
             outcome = coalesce(EXCLUDED.outcome, c.outcome),
             summary = coalesce(EXCLUDED.summary, c.summary),
             recording_url = coalesce(EXCLUDED.recording_url, c.recording_url),
             updated_at = now()
           WHERE call_status_rank(EXCLUDED.status) > call_status_rank(c.status) OR EXCLUDED.status = c.status
         RETURNING c.call_id, (xmax = 0) AS inserted",
    )
    .bind(tenant.0)
    .bind(prospect_id)
    .bind(r.executive_id.or(default_exec))
    .bind(&r.provider)
    .bind(&r.provider_call_id)
    .bind(&r.status)
    .bind(r.started_at)
    .bind(r.ended_at)
    .bind(r.duration_secs)
    .bind(&r.outcome)
    .bind(&r.summary)
    .bind(&r.recording_url)
    .bind(r.executive_id)
    .fetch_optional(&mut *tx)
    .await?;
    let out = match row {
        Some((id, true)) => (id, IngestOutcome::Created),
        Some((id, false)) => (id, IngestOutcome::Updated),
        None => (existing.map_or(0, |e| e.0), IngestOutcome::Stale),
    };
    tx.commit().await?;
    Ok(out)
}

// ---- scheduled calls ----

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ScheduledCall {
    pub scheduled_call_id: i64,
    pub prospect_id: i64,
    pub prospect_name: String,
    pub team_id: i64,
    pub executive_id: i64,
    pub due_at: DateTime<Utc>,
    pub status: String,
    pub note: Option<String>,
    pub created_by: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SCHEDULED_SELECT: &str = "SELECT s.scheduled_call_id, s.prospect_id, p.name AS prospect_name, p.team_id,
        s.executive_id, s.due_at, s.status, s.note, s.created_by, s.created_at, s.updated_at
    FROM scheduled_calls s JOIN prospects p ON p.tenant_id = s.tenant_id AND p.prospect_id = s.prospect_id
    WHERE true";

/// Filters for listing scheduled calls.
#[derive(Clone, Debug, Default)]
pub struct ScheduledFilter {
    pub status: Option<String>,
    pub executive_id: Option<i64>,
    pub prospect_id: Option<i64>,
}

/// Visible scheduled calls, soonest first.
pub async fn list_scheduled(
    pool: &PgPool,
    viewer: &Viewer,
    f: &ScheduledFilter,
    limit: i64,
) -> StoreResult<Vec<ScheduledCall>> {
    let mut qb = QueryBuilder::new(SCHEDULED_SELECT);
    push_visible(&mut qb, viewer, "p");
    if let Some(s) = &f.status {
        qb.push(" AND s.status = ").push_bind(s.clone());
    }
    if let Some(e) = f.executive_id {
        qb.push(" AND s.executive_id = ").push_bind(e);
    }
    if let Some(pid) = f.prospect_id {
        qb.push(" AND s.prospect_id = ").push_bind(pid);
    }
    qb.push(" ORDER BY s.due_at, s.scheduled_call_id LIMIT ").push_bind(limit);
    Ok(qb.build_query_as().fetch_all(pool).await?)
}

async fn fetch_scheduled(
    ex: impl sqlx::PgExecutor<'_>,
    viewer: &Viewer,
    id: i64,
    for_update: bool,
) -> StoreResult<ScheduledCall> {
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(SCHEDULED_SELECT);
    push_visible(&mut qb, viewer, "p");
    qb.push(" AND s.scheduled_call_id = ").push_bind(id);
    if for_update {
        qb.push(" FOR UPDATE OF s");
    }
    let row: Option<ScheduledCall> = qb.build_query_as().fetch_optional(ex).await?;
    row.ok_or_else(|| StoreError::not_found("scheduled call"))
}

/// A visible scheduled call, or not-found.
pub async fn get_scheduled(pool: &PgPool, viewer: &Viewer, id: i64) -> StoreResult<ScheduledCall> {
    fetch_scheduled(pool, viewer, id, false).await
}

/// A new scheduled call.
#[derive(Clone, Debug)]
pub struct NewScheduled {
    pub prospect_id: i64,
    /// `None`: the viewer (executives), else the prospect's executive.
    pub executive_id: Option<i64>,
    pub due_at: DateTime<Utc>,
    pub note: Option<String>,
}

/// Schedules a call for a visible prospect. Executives schedule only for themselves; the
/// executive must be an executive of the tenant.
pub async fn create_scheduled(pool: &PgPool, viewer: &Viewer, new: &NewScheduled) -> StoreResult<ScheduledCall> {
    let mut tx = pool.begin().await?;
    let mut qb: QueryBuilder<Postgres> =
        QueryBuilder::new("SELECT p.prospect_id, p.executive_id FROM prospects p WHERE p.prospect_id = ");
    qb.push_bind(new.prospect_id);
    push_visible(&mut qb, viewer, "p");
    let prospect: Option<(i64, Option<i64>)> = qb.build_query_as().fetch_optional(&mut *tx).await?;
    let (_, prospect_exec) = prospect.ok_or_else(|| StoreError::missing_ref("prospect", "prospect_id"))?;
    let executive = match new.executive_id {
        Some(e) if policy::may_schedule_for(viewer, UserId(e)) => e,
        Some(_) => return Err(StoreError::Forbidden("executives schedule calls for themselves only")),
        // An executive's own calls by default.
        None if policy::takes_assignments(viewer.role) => viewer.user_id.0,
        None => prospect_exec.ok_or_else(|| StoreError::Refused {
            code: "executive_required",
            message: "the prospect has no executive: name one in executive_id".into(),
            field: Some("executive_id"),
            params: vec![],
        })?,
    };
    check_executive(&mut tx, viewer.tenant_id, executive).await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO scheduled_calls (tenant_id, prospect_id, executive_id, due_at, note, created_by)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING scheduled_call_id",
    )
    .bind(viewer.tenant_id.0)
    .bind(new.prospect_id)
    .bind(executive)
    .bind(new.due_at)
    .bind(&new.note)
    .bind(viewer.user_id.0)
    .fetch_one(&mut *tx)
    .await?;
    let out = fetch_scheduled(&mut *tx, viewer, id, false).await?;
    tx.commit().await?;
    Ok(out)
}

async fn check_executive(tx: &mut sqlx::PgConnection, tenant: TenantId, user: i64) -> StoreResult<()> {
    let role: Option<String> =
        sqlx::query_scalar("SELECT role FROM users WHERE tenant_id = $1 AND user_id = $2 AND active")
            .bind(tenant.0)
            .bind(user)
            .fetch_optional(tx)
            .await?;
    match role.as_deref() {
        Some(r) if Role::parse(r).is_some_and(policy::takes_assignments) => Ok(()),
        Some(_) => Err(StoreError::Refused {
            code: "not_an_executive",
            message: "calls are scheduled for executives".into(),
            field: Some("executive_id"),
            params: vec![],
        }),
        None => Err(StoreError::missing_ref("executive", "executive_id")),
    }
}

/// Changes to a scheduled call.
#[derive(Clone, Debug, Default)]
pub struct ScheduledChanges {
    pub due_at: Option<DateTime<Utc>>,
    pub status: Option<String>,
    /// `Some(None)` clears the note.
    pub note: Option<Option<String>>,
    pub executive_id: Option<i64>,
}

/// Changes a visible scheduled call. Executives may not hand it to someone else.
pub async fn update_scheduled(
    pool: &PgPool,
    viewer: &Viewer,
    id: i64,
    ch: &ScheduledChanges,
) -> StoreResult<ScheduledCall> {
    let mut tx = pool.begin().await?;
    fetch_scheduled(&mut *tx, viewer, id, true).await?;
    if let Some(e) = ch.executive_id {
        if !policy::may_schedule_for(viewer, UserId(e)) {
            return Err(StoreError::Forbidden("executives schedule calls for themselves only"));
        }
        check_executive(&mut tx, viewer.tenant_id, e).await?;
    }
    sqlx::query(
        "UPDATE scheduled_calls SET due_at = coalesce($3, due_at), status = coalesce($4, status),
             note = CASE WHEN $5 THEN $6 ELSE note END, executive_id = coalesce($7, executive_id), updated_at = now()
         WHERE tenant_id = $1 AND scheduled_call_id = $2",
    )
    .bind(viewer.tenant_id.0)
    .bind(id)
    .bind(ch.due_at)
    .bind(&ch.status)
    .bind(ch.note.is_some())
    .bind(ch.note.clone().flatten())
    .bind(ch.executive_id)
    .execute(&mut *tx)
    .await?;
    let out = fetch_scheduled(&mut *tx, viewer, id, false).await?;
    tx.commit().await?;
    Ok(out)
}

/// Deletes a visible scheduled call.
pub async fn delete_scheduled(pool: &PgPool, viewer: &Viewer, id: i64) -> StoreResult<()> {
    let mut tx = pool.begin().await?;
    fetch_scheduled(&mut *tx, viewer, id, true).await?;
    sqlx::query("DELETE FROM scheduled_calls WHERE tenant_id = $1 AND scheduled_call_id = $2")
        .bind(viewer.tenant_id.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Marks every pending scheduled call whose due time has passed as missed, in every tenant;
/// returns how many. The scheduler calls it periodically.
pub async fn mark_overdue_scheduled_calls(pool: &PgPool) -> StoreResult<u64> {
    let tenants: Vec<i64> =
        sqlx::query_scalar("SELECT tenant_id FROM tenants ORDER BY tenant_id").fetch_all(pool).await?;
    let mut missed = 0;
    for t in tenants {
        missed += mark_overdue_scheduled_calls_in(pool, TenantId(t)).await?;
    }
    Ok(missed)
}

/// [`mark_overdue_scheduled_calls`] for one tenant (the scheduler's `mark_overdue_scheduled_calls`
/// job kind runs it per tenant).
pub async fn mark_overdue_scheduled_calls_in(pool: &PgPool, tenant: TenantId) -> StoreResult<u64> {
    let done = sqlx::query(
        "UPDATE scheduled_calls SET status = 'missed', updated_at = now()
         WHERE tenant_id = $1 AND status = 'pending' AND due_at < now()",
    )
    .bind(tenant.0)
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
