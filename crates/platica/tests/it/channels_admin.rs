//! The admin Channels screen's API (issue 24): "test connection" asks Graph (the simulator here)
//! about a number and records what it says in the number's health; Graph's errors, an
//! unreachable Graph and a slow one are answers (never a 500), bounded by the timeout; webhooks
//! move the health (last webhook, last error), the outbox counts messages sent and failed;
//! admins follow it live on `table:channel_health`; everyone else gets 403 and nothing live; and
//! no read ever returns a channel's secrets.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{self, SIM_PNID, SIM_SECRET, SimChannel, TestApp, World};

const PUBLIC: &str = "https://crm.example.test";

async fn rig(slug: &str, timeout: Duration) -> (TestApp, World, platica_simulator::SimHandle, i64) {
    let app = TestApp::spawn_configured(move |s| {
        s.public_url = Some(PUBLIC.to_owned());
        s.graph_check_timeout = timeout;
    })
    .await;
    let w = support::world(&app, slug, 1).await;
    let ch = SimChannel { kind: "cloud", ..SimChannel::DEFAULT };
    let (sim, id) = support::simulator_channel(&app, &w, support::quick_simulator(0.0), &ch).await;
    (app, w, sim, id)
}

async fn health_of(app: &TestApp, token: &str, id: i64) -> (Value, Value) {
    let r = app.get("/api/v1/channels/health", token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let one = r.body["channels"].as_array().unwrap().iter().find(|c| c["channel_account_id"] == id).cloned();
    (r.body.clone(), one.unwrap_or_else(|| panic!("channel {id} in {}", r.body)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_reports_what_graph_says_and_health_keeps_it() {
    let (app, w, sim, id) = rig("ch-test-ok", Duration::from_secs(5)).await;
    let admin = w.token(w.admin);
    let mut admin_ws = support::Ws::connect(&app, admin).await;
    admin_ws.subscribe("h", "table:channel_health", json!({})).await;
    let mut coord_ws = support::Ws::connect(&app, w.token(w.coord_both)).await;
    coord_ws.subscribe("h", "table:channel_health", json!({})).await;

    let (all, before) = health_of(&app, admin, id).await;
    assert_eq!(all["webhook_url"], format!("{PUBLIC}/api/v1/whatsapp/webhook"));
    assert_eq!((before["checked_at"].is_null(), before["sent"].as_i64()), (true, Some(0)), "{before}");

    let r = app.post(&format!("/api/v1/channels/{id}/test"), admin, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["ok"], true, "{}", r.body);
    assert_eq!(r.body["base_url"], sim.base_url());
    let n = &r.body["number"];
    assert_eq!(
        (n["id"].as_str(), n["display_phone_number"].as_str(), n["verified_name"].as_str()),
        (Some(SIM_PNID), Some("+52 55 1234 5678"), Some("Platica Simulator"))
    );
    assert_eq!((n["quality_rating"].as_str(), n["messaging_limit"].as_str()), (Some("GREEN"), Some("TIER_1K")));
    assert!(r.body["error"].is_null());

    // Graph's view changes: the next test says so, and the health keeps the latest.
    let http = reqwest::Client::new();
    let set = http
        .post(format!("{}/_sim/numbers/{SIM_PNID}", sim.url()))
        .json(&json!({"quality_rating": "YELLOW", "messaging_limit_tier": "TIER_10K"}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let r = app.post(&format!("/api/v1/channels/{id}/test"), admin, json!({})).await;
    assert_eq!(r.body["number"]["quality_rating"], "YELLOW", "{}", r.body);
    let (_, h) = health_of(&app, admin, id).await;
    assert_eq!((h["check_ok"].as_bool(), h["quality_rating"].as_str()), (Some(true), Some("YELLOW")), "{h}");
    assert_eq!(
        (h["messaging_limit"].as_str(), h["verified_name"].as_str()),
        (Some("TIER_10K"), Some("Platica Simulator"))
    );

    // Live: the admin's subscription sees the health row; a coordinator's gets nothing.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = None;
    while seen.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let f = admin_ws.next(left).await.expect("a channel_health event for the admin");
        if f["type"] == "event"
            && f["event"]["table"] == "channel_health"
            && f["event"]["row"]["quality_rating"] == "YELLOW"
        {
            seen = Some(f);
        }
    }
    let frames = coord_ws.events(Duration::from_millis(500)).await;
    assert!(frames.iter().all(|(t, _, _)| t != "channel_health"), "a coordinator got {frames:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_errors_and_an_unreachable_graph_are_answers_not_500s() {
    let (app, w, sim, id) = rig("ch-test-err", Duration::from_secs(5)).await;
    let admin = w.token(w.admin);
    let path = format!("/api/v1/channels/{id}/test");
    let test = || app.post(&path, admin, json!({}));

    // A wrong access token: Graph's 401, code 190, and its message.
    let r = app.patch(&format!("/api/v1/channels/{id}"), admin, json!({"access_token": "not-the-token"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = test().await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let e = &r.body["error"];
    assert_eq!(
        (r.body["ok"].as_bool(), e["reason"].as_str(), e["http_status"].as_u64(), e["graph_code"].as_i64()),
        (Some(false), Some("graph_refused"), Some(401), Some(190)),
        "{}",
        r.body
    );
    assert!(e["message"].as_str().unwrap().contains("access token"), "{e}");
    let (_, h) = health_of(&app, admin, id).await;
    assert_eq!((h["check_ok"].as_bool(), h["last_error_code"].as_i64()), (Some(false), Some(190)), "{h}");
    assert!(!h["last_error_at"].is_null());

    // A number Graph does not know: 404, code 100 (subcode 33).
    let r = app
        .patch(
            &format!("/api/v1/channels/{id}"),
            admin,
            json!({"access_token": support::SIM_TOKEN, "phone_number_id": "999"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = test().await;
    let e = &r.body["error"];
    assert_eq!(
        (e["reason"].as_str(), e["http_status"].as_u64(), e["graph_code"].as_i64(), e["graph_subcode"].as_i64()),
        (Some("graph_refused"), Some(404), Some(100), Some(33)),
        "{}",
        r.body
    );

    // Nothing listening: unreachable, still an answer.
    let r = app
        .patch(
            &format!("/api/v1/channels/{id}"),
            admin,
            json!({"phone_number_id": SIM_PNID, "base_url": "http://127.0.0.1:9"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = test().await;
    assert_eq!((r.status, r.body["error"]["reason"].as_str()), (StatusCode::OK, Some("unreachable")), "{}", r.body);

    // Back to the simulator: the test passes again; the last error stays, with its time, as history.
    let r = app.patch(&format!("/api/v1/channels/{id}"), admin, json!({"base_url": sim.base_url()})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(test().await.body["ok"], true);
    let (_, h) = health_of(&app, admin, id).await;
    assert_eq!((h["check_ok"].as_bool(), h["last_error_code"].as_i64()), (Some(true), None), "{h}");
    assert!(h["last_error_message"].as_str().unwrap().contains("cannot reach Graph"), "{h}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_graph_is_a_timeout_within_the_bound() {
    let (app, w, sim, id) = rig("ch-test-slow", Duration::from_millis(400)).await;
    let admin = w.token(w.admin);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/_sim/faults", sim.url()))
        .json(&json!({"phone_number_id": SIM_PNID, "delay_ms": 5000}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let started = Instant::now();
    let r = app.post(&format!("/api/v1/channels/{id}/test"), admin, json!({})).await;
    let took = started.elapsed();
    assert_eq!((r.status, r.body["ok"].as_bool()), (StatusCode::OK, Some(false)), "{}", r.body);
    assert_eq!(r.body["error"]["reason"], "timeout", "{}", r.body);
    assert!(took < Duration::from_secs(3), "the test waited {took:?} for a 400 ms bound");
    let (_, h) = health_of(&app, admin, id).await;
    assert_eq!(h["check_ok"], false, "{h}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admins_manage_channels() {
    let (app, w, sim, id) = rig("ch-403", Duration::from_secs(5)).await;
    for user in [w.coord_both, w.coord_boom, w.exec_ana] {
        let token = w.token(user);
        let test = app.post(&format!("/api/v1/channels/{id}/test"), token, json!({})).await;
        let health = app.get("/api/v1/channels/health", token).await;
        let list = app.get("/api/v1/channels", token).await;
        let edit = app.patch(&format!("/api/v1/channels/{id}"), token, json!({"display_name": "Mía"})).await;
        for r in [&test, &health, &list, &edit] {
            assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"), "{:?}", r.body);
        }
    }
    // Nothing was asked of Graph, nothing recorded.
    let (_, h) = health_of(&app, w.token(w.admin), id).await;
    assert!(h["checked_at"].is_null(), "{h}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_read_returns_a_secret() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "ch-secrets", 1).await;
    let admin = w.token(w.admin);
    let (app_secret, verify_token, access_token) =
        ("app-secret-7f3a9c1e", "verify-token-2b8d4f6a", "access-token-5e1c7a3b");
    let r = app
        .post(
            "/api/v1/channels",
            admin,
            json!({"display_name": "Secretos", "phone_number_id": "5550001", "app_secret": app_secret,
                   "verify_token": verify_token, "access_token": access_token, "default_team_id": w.boom.0,
                   "base_url": "http://127.0.0.1:9"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["channel_account_id"].as_i64().unwrap();
    let mut answers = vec![r.body.clone()];
    let patched =
        app.patch(&format!("/api/v1/channels/{id}"), admin, json!({"access_token": "access-token-9d2e4c6b"})).await;
    assert_eq!(patched.status, StatusCode::OK);
    answers.push(patched.body);
    for path in [
        "/api/v1/channels".to_owned(),
        format!("/api/v1/channels/{id}"),
        "/api/v1/channels/health".to_owned(),
        format!("/api/v1/channels/{id}/events"),
    ] {
        let r = app.get(&path, admin).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        answers.push(r.body);
    }
    answers.push(app.post(&format!("/api/v1/channels/{id}/test"), admin, json!({})).await.body);
    for a in &answers {
        let text = a.to_string();
        for s in [app_secret, verify_token, access_token, "access-token-9d2e4c6b"] {
            assert!(!text.contains(s), "an answer shows a secret: {text}");
        }
        for field in ["app_secret", "verify_token", "access_token"] {
            assert!(!text.contains(&format!("\"{field}\"")), "an answer names {field}: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_and_the_outbox_move_the_health() {
    let (app, w, sim, id) = rig("ch-health", Duration::from_secs(5)).await;
    let admin = w.token(w.admin);
    let (_, h) = health_of(&app, admin, id).await;
    assert!(h["last_webhook_at"].is_null(), "{h}");

    // A status webhook for the number: the health says a webhook arrived.
    let status = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "5215512345678", "phone_number_id": SIM_PNID},
                  "statuses": [{"id": "wamid.unknown", "status": "delivered", "timestamp": "1733000000", "recipient_id": "5215500000000"}]}}]}]});
    let (code, receipt) = app.whatsapp_webhook(SIM_SECRET, &status).await;
    assert_eq!(code, StatusCode::OK, "{receipt}");
    let (_, h) = health_of(&app, admin, id).await;
    assert!(!h["last_webhook_at"].is_null(), "{h}");
    assert!(h["last_error_code"].is_null(), "{h}");

    // An account-level error: it is the number's last error, with its code.
    let errors = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "5215512345678", "phone_number_id": SIM_PNID},
                  "errors": [{"code": 130429, "title": "Rate limit hit", "message": "Rate limit hit",
                              "error_data": {"details": "Cloud API message throughput has been reached."}}]}}]}]});
    let (code, receipt) = app.whatsapp_webhook(SIM_SECRET, &errors).await;
    assert_eq!(code, StatusCode::OK, "{receipt}");
    let (_, h) = health_of(&app, admin, id).await;
    assert_eq!(h["last_error_code"], 130429, "{h}");
    assert!(h["last_error_message"].as_str().unwrap().contains("throughput"), "{h}");

    // Sent and failed count what the outbox finished since `since` (read receipts aside).
    sqlx::query(
        "INSERT INTO outbox (tenant_id, channel_account_id, kind, payload, state, finished_at)
         VALUES ($1, $2, 'text', '{}', 'done', now()), ($1, $2, 'text', '{}', 'done', now()),
                ($1, $2, 'template', '{}', 'failed', now()), ($1, $2, 'mark_read', '{}', 'done', now()),
                ($1, $2, 'text', '{}', 'done', now() - interval '3 days')",
    )
    .bind(w.tenant.0)
    .bind(id)
    .execute(&app.pool)
    .await
    .unwrap();
    let (_, h) = health_of(&app, admin, id).await;
    assert_eq!((h["sent"].as_i64(), h["failed"].as_i64()), (Some(2), Some(1)), "{h}");
    let since = (chrono::Utc::now() - chrono::Duration::days(5)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let r = app.get(&format!("/api/v1/channels/health?since={since}"), admin).await;
    assert_eq!(r.body["channels"][0]["sent"], 3, "{}", r.body);
    // A period out of bounds is refused, not guessed.
    let r = app.get("/api/v1/channels/health?since=2001-01-01T00:00:00Z", admin).await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("since")),
        "{}",
        r.body
    );
    sim.shutdown().await;
}
