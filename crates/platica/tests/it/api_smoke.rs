//! A first end-to-end check of the harness: log in, list, send, read.
#![allow(clippy::unwrap_used)]

use crate::support;

use reqwest::StatusCode;
use serde_json::json;
use support::{PASSWORD, TestApp, world};

#[tokio::test]
async fn login_list_send_and_read() {
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 2).await;
    support::sending_channel(&app, &w).await;
    let token = app.login("acme", "ana@acme.test", PASSWORD).await;

    let me = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(me.body["role"], "executive");

    let inbox = app.get("/api/v1/conversations", &token).await;
    assert_eq!(inbox.status, StatusCode::OK, "{:?}", inbox.body);
    assert_eq!(inbox.body["total"], 4, "Ana has 2 prospects in BOOM and 2 in VEN");
    assert_eq!(inbox.body["unread"], 4);

    let conv = inbox.body["items"][0]["conversation_id"].as_i64().unwrap();
    let sent = app
        .post(&format!("/api/v1/conversations/{conv}/messages"), &token, json!({"body": "¡Hola! ¿Cómo estás?"}))
        .await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    assert_eq!(sent.body["status"], "queued");

    let read = app.post(&format!("/api/v1/conversations/{conv}/read"), &token, json!({})).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.body);
    assert_eq!(read.body["marked"], 1);

    let row = app.get(&format!("/api/v1/conversations/{conv}"), &token).await;
    assert_eq!(row.body["unread_count"], 0);
    assert_eq!(row.body["last_message_preview"], "¡Hola! ¿Cómo estás?");
    assert_eq!(row.body["message_count"], 2);

    let admin_inbox = app.get("/api/v1/conversations?limit=3", w.token(w.admin)).await;
    assert_eq!(admin_inbox.body["total"], 10);
    assert_eq!(admin_inbox.body["unread"], 9);
    assert_eq!(admin_inbox.body["items"][0]["conversation_id"], conv, "the conversation just written to is on top");
}

#[tokio::test]
async fn an_inbound_message_reopens_a_closed_conversation_once() {
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 1).await;
    let admin = w.token(w.admin);
    let conv =
        app.get("/api/v1/conversations?limit=1", admin).await.body["items"][0]["conversation_id"].as_i64().unwrap();
    let closed = app.patch(&format!("/api/v1/conversations/{conv}"), admin, json!({"status": "closed"})).await;
    assert_eq!(closed.body["status"], "closed");

    let cid = platica_domain::ConversationId(conv);
    let first = platica_store::inbox::messages::ingest_inbound(&app.pool, w.tenant, cid, "wamid.1", "¿Siguen ahí?")
        .await
        .unwrap();
    assert!(first.is_some());
    let again = platica_store::inbox::messages::ingest_inbound(&app.pool, w.tenant, cid, "wamid.1", "¿Siguen ahí?")
        .await
        .unwrap();
    assert!(again.is_none(), "a redelivered message is stored once");

    let row = app.get(&format!("/api/v1/conversations/{conv}"), admin).await;
    assert_eq!(row.body["status"], "open");
    assert_eq!(row.body["message_count"], 2);
    assert_eq!(row.body["last_message_preview"], "¿Siguen ahí?");
}

#[tokio::test]
async fn ready_reports_each_check_and_fails_on_a_missing_migration() {
    let app = TestApp::spawn().await;
    let health = app.call(reqwest::Method::GET, "/health", None, None).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = app.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    for check in ["database", "migrations", "live_inbox", "realtime", "channels"] {
        assert_eq!(ready.body["checks"][check]["ok"], true, "{check}: {}", ready.body);
    }
    // A migration the binary knows but the database lacks: not ready, and it says which.
    let last: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations").fetch_one(&app.pool).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(last).execute(&app.pool).await.unwrap();
    let ready = app.call(reqwest::Method::GET, "/ready", None, None).await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["ready"], false);
    assert_eq!(ready.body["checks"]["migrations"]["detail"]["missing"], json!([last]));
}

/// /metrics is Prometheus text: every sample line is `name{labels} value`, and the HTTP, live
/// inbox and realtime figures are there.
#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = TestApp::spawn().await;
    let w = world(&app, "m", 1).await;
    app.get("/api/v1/inbox", w.token(w.admin)).await;
    app.get("/api/v1/prospects/999999", w.token(w.admin)).await;
    // A job run, counted by kind and status.
    let job = app
        .post(
            "/api/v1/jobs",
            w.token(w.admin),
            json!({"name": "purge", "schedule": "0 4 * * *", "kind": "purge_expired_sessions"}),
        )
        .await;
    let id = job.body["job_id"].as_i64().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/jobs/{id}/run"), w.token(w.admin), json!({})).await.body["status"],
        "succeeded"
    );
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    let mut names = std::collections::BTreeSet::new();
    let mut types = std::collections::BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(parts.len(), 4, "{line}");
        assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&parts[3]), "{line}");
        types.insert(parts[2].to_owned(), parts[3].to_owned());
    }
    for line in text.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        assert!(value.parse::<f64>().is_ok(), "value of {line}");
        let name = series.split('{').next().unwrap();
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "name of {line}");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')), "labels of {line}");
        }
        names.insert(name.to_owned());
    }
    for expected in [
        "http_request_duration_seconds_bucket",
        "platica_inbox_applied_lsn",
        "platica_inbox_streaming",
        "platica_ws_connections",
        "platica_ws_subscriptions",
        "platica_ws_frames_sent",
        "platica_inbox_lag_bytes",
        "platica_inbox_changes_applied_total",
        "platica_job_runs_total",
        "platica_outbox_depth",
    ] {
        assert!(names.contains(expected), "{expected} missing from {names:?}");
    }
    assert_eq!(types["platica_inbox_changes_applied_total"], "counter");
    assert_eq!(types["platica_job_runs_total"], "counter");
    assert_eq!(types["http_request_duration_seconds"], "histogram");
    assert!(
        text.lines().any(|l| l.starts_with("platica_job_runs_total{")
            && l.contains(r#"kind="purge_expired_sessions""#)
            && l.contains(r#"status="succeeded""#)),
        "job runs by kind and status"
    );
    assert!(
        text.lines().any(|l| l.starts_with("http_request_duration_seconds_bucket{")
            && l.contains(r#"status="404""#)
            && l.contains("le=")),
        "latency histogram by route and status"
    );
    assert!(text.contains(r#"route="/api/v1/prospects/{prospect_id}""#), "routes are templates, not raw paths");
}

/// Every route is under the request time limit: a request held up (here by a lock on the table
/// it reads) is answered 503 `timeout` with `Retry-After` once the limit passes, in the API's
/// error shape, instead of holding the connection; once the lock goes, the same request works.
#[tokio::test]
async fn a_slow_request_is_answered_with_a_clear_timeout_error() {
    let limit = std::time::Duration::from_secs(1);
    let app = TestApp::spawn_configured(move |s| s.request_timeout = limit).await;
    let w = world(&app, "slow", 1).await;
    let token = w.token(w.admin).to_owned();
    let mut lock = app.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE prospects IN ACCESS EXCLUSIVE MODE").execute(&mut *lock).await.unwrap();

    let started = std::time::Instant::now();
    let r = app.get("/api/v1/prospects", &token).await;
    let took = started.elapsed();
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "timeout", "{:?}", r.body);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("too long"), "{:?}", r.body);
    assert_eq!(r.headers["retry-after"], "1");
    assert!(took >= limit && took < limit * 10, "answered after {took:?}");

    lock.rollback().await.unwrap();
    let r = app.get("/api/v1/prospects", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
}
