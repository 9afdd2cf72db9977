//! Scheduled jobs (admin): list, create, alter, run now, unschedule, and their run history.
//! Jobs belong to the admin's tenant; the scheduler (`platica-scheduler`) runs them.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use platica_scheduler::store::{self, Job, JobChanges, NewJob, Run};
use platica_scheduler::{Schedule, kinds};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, PathId, Query, limit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(kinds_list))
        .routes(routes!(get, alter, unschedule))
        .routes(routes!(run_now))
        .routes(routes!(history))
}

/// How long a manual run may take before it is recorded as failed.
pub const MANUAL_RUN_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Serialize, ToSchema)]
pub struct JobView {
    #[serde(flatten)]
    pub job: Job,
    /// The next occurrence the schedule gives (the scheduler runs it if the job is active).
    pub next_run: Option<DateTime<Utc>>,
}

fn view(job: Job) -> JobView {
    let next_run = Schedule::parse(&job.schedule, &job.time_zone)
        .ok()
        .and_then(|s| s.next_after(Utc::now().max(job.schedule_since)));
    JobView { job, next_run }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateJob {
    /// Unique in the tenant: lower-case letters, digits, `_`, `.`, `-`.
    pub name: String,
    /// 5-field cron expression, e.g. `0 3 * * *`.
    pub schedule: String,
    /// IANA time zone the schedule is read in (default `UTC`).
    pub time_zone: Option<String>,
    /// A kind from `GET /jobs/kinds`.
    pub kind: String,
    /// The kind's arguments (default: the kind's defaults).
    #[schema(value_type = Option<Object>)]
    pub args: Option<serde_json::Value>,
    /// Default true.
    pub active: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlterJob {
    /// A new schedule: occurrences restart from now.
    pub schedule: Option<String>,
    pub time_zone: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub args: Option<serde_json::Value>,
    pub active: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct KindInfo {
    pub name: &'static str,
    pub description: &'static str,
    #[schema(value_type = Object)]
    pub default_args: serde_json::Value,
    /// The job of this kind the server recommends (absent when it recommends none).
    pub recommended: Option<RecommendedJob>,
}

/// A recommended job: what an admin's "add the recommended jobs" creates for a kind (as
/// `platica jobs recommended` does). The schedule is read in the zone the job gets.
#[derive(Serialize, ToSchema)]
pub struct RecommendedJob {
    pub name: &'static str,
    /// 5-field cron expression.
    pub schedule: &'static str,
    #[schema(value_type = Object)]
    pub args: serde_json::Value,
}

fn recommended(kind: &str) -> Option<RecommendedJob> {
    let (name, schedule, _, args) = store::RECOMMENDED.iter().find(|r| r.2 == kind)?;
    match serde_json::from_str(args) {
        Ok(args) => Some(RecommendedJob { name, schedule, args }),
        Err(e) => {
            tracing::error!(kind, error = %e, "a recommended job has bad arguments");
            None
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Page size (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_before` of the previous page.
    pub before: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct RunPage {
    /// Newest first.
    pub runs: Vec<Run>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<i64>,
}

fn tenant(admin: &Admin) -> TenantId {
    admin.viewer().tenant_id
}

/// The tenant's jobs, by name.
#[utoipa::path(get, path = "/jobs", tag = "jobs",
    responses((status = 200, body = Vec<JobView>), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<Vec<JobView>>> {
    Ok(Json(store::list(&state.pool, tenant(&admin)).await?.into_iter().map(view).collect()))
}

/// Schedules a job.
#[utoipa::path(post, path = "/jobs", tag = "jobs", request_body = CreateJob,
    responses((status = 201, body = JobView), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<CreateJob>,
) -> ApiResult<(StatusCode, Json<JobView>)> {
    let args = match input.args {
        Some(a) => a,
        None => kinds::find(&input.kind)?.default_args(),
    };
    let job = NewJob {
        name: input.name,
        schedule: input.schedule,
        time_zone: input.time_zone.unwrap_or_else(|| "UTC".into()),
        kind: input.kind,
        args,
        active: input.active.unwrap_or(true),
    };
    let created = store::create(&state.pool, tenant(&admin), &job).await?;
    Ok((StatusCode::CREATED, Json(view(created))))
}

/// The job kinds this server runs, with their default arguments and recommended job.
#[utoipa::path(get, path = "/jobs/kinds", tag = "jobs",
    responses((status = 200, body = Vec<KindInfo>), (status = 403, body = ErrorBody)))]
async fn kinds_list(_admin: Admin) -> Json<Vec<KindInfo>> {
    Json(
        kinds::REGISTRY
            .iter()
            .map(|k| KindInfo {
                name: k.name(),
                description: k.description(),
                default_args: k.default_args(),
                recommended: recommended(k.name()),
            })
            .collect(),
    )
}

/// One job.
#[utoipa::path(get, path = "/jobs/{job_id}", tag = "jobs", params(("job_id" = i64, Path)),
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<Json<JobView>> {
    Ok(Json(view(store::get(&state.pool, tenant(&admin), id).await?)))
}

/// Alters a job's schedule, time zone, arguments or active flag.
#[utoipa::path(patch, path = "/jobs/{job_id}", tag = "jobs", params(("job_id" = i64, Path)), request_body = AlterJob,
    responses((status = 200, body = JobView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn alter(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
    Json(input): Json<AlterJob>,
) -> ApiResult<Json<JobView>> {
    let changes =
        JobChanges { schedule: input.schedule, time_zone: input.time_zone, args: input.args, active: input.active };
    Ok(Json(view(store::alter(&state.pool, tenant(&admin), id, &changes).await?)))
}

/// Unschedules (deletes) a job and its run history.
#[utoipa::path(delete, path = "/jobs/{job_id}", tag = "jobs", params(("job_id" = i64, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn unschedule(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<StatusCode> {
    store::unschedule(&state.pool, tenant(&admin), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs a job now (active or not) and answers its finished run (`succeeded` or `failed`). The
/// run goes on if the client disconnects.
#[utoipa::path(post, path = "/jobs/{job_id}/run", tag = "jobs", params(("job_id" = i64, Path)),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody)))]
async fn run_now(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<Json<Run>> {
    let pool = state.pool.clone();
    let tenant = tenant(&admin);
    let instance = platica_scheduler::runner::default_instance();
    let run = tokio::spawn(async move {
        platica_scheduler::runner::run_now(&pool, tenant, id, &instance, MANUAL_RUN_TIMEOUT).await
    })
    .await
    .map_err(|e| {
        tracing::error!(error = %e, "manual job run task failed");
        crate::error::ApiError::internal()
    })??;
    Ok(Json(run))
}

/// A job's runs, newest first, a page at a time.
#[utoipa::path(get, path = "/jobs/{job_id}/runs", tag = "jobs", params(("job_id" = i64, Path), HistoryQuery),
    responses((status = 200, body = RunPage), (status = 404, body = ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    admin: Admin,
    PathId(id): PathId,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<RunPage>> {
    let limit = limit(q.limit, 50, 500)?;
    if let Some(b) = q.before
        && b <= 0
    {
        return Err(crate::error::ApiError::invalid("before", "before must be a run id from next_before"));
    }
    let tenant = tenant(&admin);
    store::get(&state.pool, tenant, id).await?;
    let mut runs = store::history(&state.pool, tenant, Some(id), q.before, limit + 1).await?;
    let next_before = if runs.len() as i64 > limit {
        runs.truncate(limit as usize);
        runs.last().map(|r| r.run_id)
    } else {
        None
    };
    Ok(Json(RunPage { runs, next_before }))
}
