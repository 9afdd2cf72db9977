//! Prometheus metrics at `/metrics`.
//!
//! HTTP requests are timed by a middleware (by route template, method and status); the live
//! inbox's and the realtime hub's figures are read when the endpoint is scraped; job runs are
//! counted by the scheduler (`platica_job_runs_total{kind,status}`).

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process-wide recorder (installed on first use; `None` if another recorder was installed).
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
                .ok()
        })
        .as_ref()
}

/// Installs the recorder early, so the first requests are counted.
pub fn init() {
    let _ = handle();
}

/// Times every request by its route template (never the raw path: ids would explode the labels).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::histogram!("http_request_duration_seconds", "route" => route, "method" => method, "status" => status)
        .record(started.elapsed().as_secs_f64());
    resp
}

/// The scrape endpoint (Prometheus text format).
pub async fn scrape(State(state): State<AppState>) -> Response {
    if let Some(live) = &state.live {
        let s = live.status();
        metrics::gauge!("platica_inbox_streaming").set(if s.streaming { 1.0 } else { 0.0 });
        metrics::gauge!("platica_inbox_applied_lsn").set(s.applied_lsn as f64);
        metrics::gauge!("platica_inbox_position_lsn").set(s.position as f64);
        metrics::gauge!("platica_inbox_last_apply_delay_seconds").set(s.last_apply_delay_ms / 1000.0);
        // Counters (rate() gives transactions and changes applied per second).
        metrics::counter!("platica_inbox_transactions_applied_total").absolute(s.transactions);
        metrics::counter!("platica_inbox_changes_applied_total").absolute(s.changes);
        let server = tokio::time::timeout(
            std::time::Duration::from_secs(1),
            sqlx::query_scalar::<_, String>("SELECT pg_current_wal_lsn()::text").fetch_one(&state.pool),
        )
        .await;
        if let Ok(Ok(lsn)) = server
            && let Some(lsn) = platica_changes::lsn::parse(&lsn)
        {
            metrics::gauge!("platica_server_wal_lsn").set(lsn as f64);
            metrics::gauge!("platica_inbox_lag_bytes").set(lsn.saturating_sub(s.position) as f64);
        }
        metrics::gauge!("platica_inbox_transactions_applied").set(s.transactions as f64);
        metrics::gauge!("platica_inbox_changes_applied").set(s.changes as f64);
        metrics::gauge!("platica_inbox_rebuilds").set(s.rebuilds as f64);
        // An outage of the change stream: how long the inbox has been stale (0 while live), and
        // how often the stream failed and came back by resuming on its slot.
        let stale = s.stale_since.map_or(0.0, |t| (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!("platica_inbox_stale_seconds").set(stale);
        metrics::counter!("platica_inbox_stream_failures_total").absolute(s.failures);
        metrics::counter!("platica_inbox_stream_resumes_total").absolute(s.resumes);
        metrics::gauge!("platica_inbox_load_seconds").set(s.load.millis as f64 / 1000.0);
    }
    // The outbox: rows waiting to be sent, being sent, and sent with an unknown outcome waiting
    // for a status (sends by outcome are counted by the sender as
    // platica_outbox_sends_total{outcome}).
    let depth =
        tokio::time::timeout(std::time::Duration::from_secs(1), platica_store::whatsapp::outbox::depth(&state.pool))
            .await;
    if let Ok(Ok(depth)) = depth {
        for st in ["pending", "sending", "unconfirmed"] {
            let n = depth.iter().find(|(s, _)| s == st).map_or(0, |(_, n)| *n);
            metrics::gauge!("platica_outbox_depth", "state" => st).set(n as f64);
        }
    }
    if let Some(hub) = &state.hub {
        let (connections, subscriptions) = hub.counts();
        let ordering = std::sync::atomic::Ordering::Relaxed;
        metrics::gauge!("platica_ws_connections").set(connections as f64);
        metrics::gauge!("platica_ws_subscriptions").set(subscriptions as f64);
        metrics::gauge!("platica_ws_frames_sent").set(hub.stats.frames.load(ordering) as f64);
        metrics::gauge!("platica_ws_events_routed").set(hub.stats.events_routed.load(ordering) as f64);
        metrics::gauge!("platica_ws_slow_client_resets").set(hub.stats.slow_resets.load(ordering) as f64);
    }
    if let Some(sessions) = &state.sessions {
        for (session_state, n) in sessions.states() {
            metrics::gauge!("platica_channel_sessions", "state" => session_state).set(n as f64);
        }
    }
    let body = handle().map(|h| h.render()).unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}
