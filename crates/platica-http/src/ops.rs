//! Liveness and readiness for orchestrators and operators.
//!
//! `/health`: the process answers. `/ready`: it can do its job — the database answers, every
//! migration the binary knows is applied, the live inbox is streaming and not far behind the WAL.
//! Each check is reported with what it saw, so a failing probe explains itself.
//!
//! Channel sessions (the WhatsApp session supervisor) plug in through
//! [`crate::state::ChannelSessions`]: set `AppState::sessions` and `/ready` and `/metrics` report
//! its states. Without one, `/ready`
//! reports the channel accounts configured.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::state::AppState;

/// WAL the live inbox may trail the server by and still be ready.
pub const MAX_READY_LAG_BYTES: u64 = 64 * 1024 * 1024;
/// How long each database check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

fn check(ok: bool, detail: Value) -> Value {
    json!({"ok": ok, "detail": detail})
}

pub async fn ready(State(state): State<AppState>) -> Response {
    let mut checks = serde_json::Map::new();

    let db = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_scalar::<_, String>("SELECT pg_current_wal_lsn()::text").fetch_one(&state.pool),
    )
    .await;
    let server_lsn = match db {
        Ok(Ok(lsn)) => {
            checks.insert("database".into(), check(true, json!("reachable")));
            platica_changes::lsn::parse(&lsn)
        }
        Ok(Err(e)) => {
            checks.insert("database".into(), check(false, json!(format!("query failed: {e}"))));
            None
        }
        Err(_) => {
            checks.insert("database".into(), check(false, json!(format!("no answer within {CHECK_TIMEOUT:?}"))));
            None
        }
    };

    if server_lsn.is_some() {
        let known: Vec<i64> = platica_store::pg::db::MIGRATOR.iter().map(|m| m.version).collect();
        let applied = tokio::time::timeout(
            CHECK_TIMEOUT,
            sqlx::query_scalar::<_, i64>("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
                .fetch_all(&state.pool),
        )
        .await;
        let c = match applied {
            Ok(Ok(applied)) => {
                let missing: Vec<i64> = known.iter().filter(|v| !applied.contains(v)).copied().collect();
                check(missing.is_empty(), json!({"known": known.len(), "applied": applied.len(), "missing": missing}))
            }
            Ok(Err(e)) => check(false, json!(format!("cannot read migrations: {e}"))),
            Err(_) => check(false, json!("timed out reading migrations")),
        };
        checks.insert("migrations".into(), c);
    }

    match &state.live {
        Some(live) => {
            let s = live.status();
            let lag = server_lsn.map(|l| l.saturating_sub(s.position));
            let ok = s.streaming && lag.is_some_and(|l| l <= MAX_READY_LAG_BYTES);
            checks.insert(
                "live_inbox".into(),
                check(
                    ok,
                    json!({
                        "streaming": s.streaming,
                        "stale_since": s.stale_since,
                        "failures": s.failures,
                        "resumes": s.resumes,
                        "rebuilds": s.rebuilds,
                        "position": platica_changes::lsn::format(s.position),
                        "lag_bytes": lag,
                        "max_lag_bytes": MAX_READY_LAG_BYTES,
                        "last_error": s.last_error,
                    }),
                ),
            );
        }
        None => {
            checks.insert("live_inbox".into(), check(false, json!("not running")));
        }
    }
    if let Some(hub) = &state.hub {
        let (connections, subscriptions) = hub.counts();
        checks.insert(
            "realtime".into(),
            check(true, json!({"connections": connections, "subscriptions": subscriptions})),
        );
    }

    if server_lsn.is_some() {
        checks.insert("channels".into(), channels_check(&state).await);
    }

    let ready = checks.values().all(|c| c["ok"] == true);
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(json!({"ready": ready, "checks": checks}))).into_response()
}

/// Channel accounts configured, and the session supervisor's states when there is one.
async fn channels_check(state: &AppState) -> Value {
    let accounts = tokio::time::timeout(
        CHECK_TIMEOUT,
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM channel_accounts").fetch_one(&state.pool),
    )
    .await;
    let accounts = match accounts {
        Ok(Ok(n)) => json!(n),
        Ok(Err(e)) => return check(false, json!(format!("cannot count channel accounts: {e}"))),
        Err(_) => return check(false, json!("timed out counting channel accounts")),
    };
    // Errors WhatsApp reported about accounts in the last hour (informational: they do not make
    // the server unready).
    let errors = match tokio::time::timeout(
        CHECK_TIMEOUT,
        platica_store::whatsapp::channel_events::last_hour(&state.pool),
    )
    .await
    {
        Ok(Ok(rows)) => json!(rows),
        Ok(Err(e)) => json!(format!("cannot read channel events: {e}")),
        Err(_) => json!("timed out reading channel events"),
    };
    match &state.sessions {
        Some(sessions) => {
            let verdict = sessions.ready();
            check(
                verdict.is_ok(),
                json!({"accounts": accounts, "sessions": sessions.states(), "problem": verdict.err(),
                    "webhook_errors": errors}),
            )
        }
        None => check(
            true,
            json!({"accounts": accounts, "sessions": "no session supervisor running", "webhook_errors": errors}),
        ),
    }
}

/// `GET /ops/verify`: the live engine of this server against SQL, for every tenant, at one LSN
/// (what `platica verify` asks a running server). Authorised by the server's ops token
/// (`Authorization: Bearer`, from `server.json` in its data directory), not by a user: 404 when
/// the server has none, 401 for a wrong one, 503 when the verification cannot run (the live
/// inbox is not streaming), else 200 with the report (`clean` says whether it found nothing).
pub async fn verify(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    let Some(token) = &state.ops_token else {
        return ApiError::not_found("no such route").into_response();
    };
    let given = crate::edge::bearer(&headers);
    if !given.is_some_and(|g| crate::edge::constant_time_eq(g.as_bytes(), token.as_bytes())) {
        return ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "/ops/verify needs the server's ops token")
            .into_response();
    }
    let Some(live) = &state.live else {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "the live inbox is not running")
            .into_response();
    };
    match platica_changes::verify::verify(live, None).await {
        Ok(report) => {
            let mut body = serde_json::to_value(&report).unwrap_or(Value::Null);
            body["clean"] = json!(report.is_clean());
            axum::Json(body).into_response()
        }
        Err(e) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", format!("verification could not run: {e}"))
                .into_response()
        }
    }
}
