//! Operator endpoints for admins: the live inbox's state and its verification against SQL, and
//! publishing a new web version (force update).

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Admin;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(inbox_status)).routes(routes!(verify)).routes(routes!(release_web))
}

#[derive(Serialize, ToSchema)]
pub struct InboxStatus {
    /// Whether the live inbox is streaming (false while it rebuilds after a failure).
    pub streaming: bool,
    /// The position reads reflect (an LSN, `X/Y`).
    pub position: String,
    /// Commit LSN of the last applied transaction.
    pub applied_lsn: String,
    /// The server's current WAL position.
    pub server_lsn: String,
    /// WAL the server has written past the applied position (includes WAL of tables Platica does
    /// not follow, so it is an upper bound).
    pub lag_bytes: i64,
    /// Commit-to-visible delay of the last applied transaction, in milliseconds.
    pub last_apply_delay_ms: f64,
    pub transactions: u64,
    pub changes: u64,
    /// The consistent point the state was loaded at, and how long the load took.
    pub loaded_at_lsn: String,
    pub load_millis: u64,
    pub loaded_conversations: u64,
    pub loaded_messages: u64,
    pub rebuilds: u64,
    pub last_error: Option<String>,
}

fn live(state: &AppState) -> ApiResult<&std::sync::Arc<platica_changes::LiveInbox>> {
    state.live.as_ref().ok_or_else(|| {
        ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the live inbox is not running")
    })
}

/// The live inbox's position, lag and load statistics.
#[utoipa::path(get, path = "/admin/inbox-status", tag = "admin",
    responses((status = 200, body = InboxStatus), (status = 403, body = ErrorBody)))]
async fn inbox_status(State(state): State<AppState>, _admin: Admin) -> ApiResult<Json<InboxStatus>> {
    let live = live(&state)?;
    let s = live.status();
    let server: String = sqlx::query_scalar("SELECT pg_current_wal_lsn()::text")
        .fetch_one(&state.pool)
        .await
        .map_err(platica_store::StoreError::from)?;
    let server_lsn = platica_changes::lsn::parse(&server).unwrap_or(0);
    let fmt = platica_changes::lsn::format;
    Ok(Json(InboxStatus {
        streaming: s.streaming,
        position: fmt(s.position),
        applied_lsn: fmt(s.applied_lsn),
        server_lsn: server,
        lag_bytes: server_lsn.saturating_sub(s.position) as i64,
        last_apply_delay_ms: s.last_apply_delay_ms,
        transactions: s.transactions,
        changes: s.changes,
        loaded_at_lsn: fmt(s.loaded_at_lsn),
        load_millis: s.load.millis as u64,
        loaded_conversations: s.load.conversations,
        loaded_messages: s.load.messages,
        rebuilds: s.rebuilds,
        last_error: s.last_error,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct VerifyReport {
    /// True when the engine equals the SQL recomputation.
    pub clean: bool,
    /// The LSN both were compared at.
    pub lsn: String,
    pub conversations: usize,
    pub users: usize,
    pub difference_count: usize,
    /// The differences (at most 200 listed).
    pub differences: Vec<String>,
    /// Report counters (`report_days`) that differ from their recomputation from the rows
    /// (`platica_store::reports::counter_differences`); counted in `clean`.
    pub report_differences: i64,
}

/// Compares the live inbox of the caller's tenant with its recomputation in SQL, at the same LSN,
/// and its report counters with theirs.
#[utoipa::path(get, path = "/admin/verify", tag = "admin",
    responses((status = 200, body = VerifyReport), (status = 403, body = ErrorBody)))]
async fn verify(State(state): State<AppState>, admin: Admin) -> ApiResult<Json<VerifyReport>> {
    let live = live(&state)?;
    let report = platica_changes::verify::verify(live, Some(admin.viewer().tenant_id)).await.map_err(|e| {
        tracing::error!(error = %e, "verification failed to run");
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("verification could not run: {e}"),
        )
    })?;
    let report_differences = platica_store::reports::counter_differences(&state.pool, admin.viewer().tenant_id).await?;
    if report_differences != 0 {
        tracing::warn!(report_differences, "report counters differ from their recomputation");
    }
    Ok(Json(VerifyReport {
        clean: report.is_clean() && report_differences == 0,
        report_differences,
        lsn: report.lsn,
        conversations: report.conversations,
        users: report.users,
        difference_count: report.difference_count,
        differences: report.differences,
    }))
}

#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReleaseWeb {
    /// The new web version, e.g. `2.3.0`.
    pub version: String,
    /// Make every open tab reload (default false: they offer to).
    #[serde(default)]
    pub force: bool,
}

/// Publishes a new web version for the admin's tenant (`app_version` in system config): every
/// connected client with a `system` subscription is told at once, and clients connecting later
/// hear it in their hello frame. The same as `platica release-web`.
#[utoipa::path(post, path = "/admin/release-web", tag = "admin", request_body = ReleaseWeb,
    responses((status = 200, body = platica_store::config::ConfigEntry), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn release_web(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<ReleaseWeb>,
) -> ApiResult<Json<platica_store::config::ConfigEntry>> {
    let value = serde_json::json!({"version": input.version.trim(), "force_update": input.force});
    platica_store::config::validate_value("app_version", &value).map_err(|m| ApiError::invalid("version", m))?;
    let v = admin.viewer();
    Ok(Json(platica_store::config::put(&state.pool, v.tenant_id, "app_version", &value, Some(v.user_id)).await?))
}
