//! WhatsApp campaigns: who may run them and to whom, pause/resume/cancel, and a 10,000-recipient
//! campaign through the real outbox and the Cloud API simulator that keeps the number's rate,
//! survives a crash midway without sending anyone twice, and reports progress equal to SQL.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use platica_simulator::{DurRange, SimConfig, StatusDelays};
use platica_whatsapp::campaigns::CampaignConfig;
use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{SimChannel, TestApp, World, world};
use tokio::sync::watch;

const PNID: &str = "106540352240001";

fn sender_config() -> SenderConfig {
    SenderConfig {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(100),
        refresh: Duration::from_millis(200),
        ..SenderConfig::default()
    }
}

fn campaign_config() -> CampaignConfig {
    CampaignConfig { tick: Duration::from_millis(100), chunk: 250, max_backlog: 500, ..CampaignConfig::default() }
}

async fn template(app: &TestApp, w: &World) {
    let r = app
        .post(
            "/api/v1/templates",
            w.token(w.admin),
            json!({"name": "promo_noviembre", "language": "es_MX",
            "body": "Hola {{1}}, este mes tu plan tiene {{2}} de descuento."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

fn create_body(filter: Value) -> Value {
    json!({"name": "Promo noviembre", "template": {"name": "promo_noviembre", "language": "es_MX",
        "parameters": ["{first_name}", "20%"]}, "filter": filter})
}

#[tokio::test]
async fn campaigns_are_for_admins_and_coordinators_over_what_they_see() {
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 2).await;
    support::sending_channel(&app, &w).await;
    template(&app, &w).await;
    let exec = app.post("/api/v1/campaigns", w.token(w.exec_ana), create_body(json!({}))).await;
    assert_eq!(exec.status, StatusCode::FORBIDDEN, "{:?}", exec.body);
    // Realtime: admins and the creator follow campaigns; other coordinators do not.
    let mut admin_ws = support::Ws::connect(&app, w.token(w.admin)).await;
    let mut ven_ws = support::Ws::connect(&app, w.token(w.coord_ven)).await;
    let mut boom_ws = support::Ws::connect(&app, w.token(w.coord_boom)).await;
    for ws in [&mut admin_ws, &mut ven_ws, &mut boom_ws] {
        ws.subscribe("c", "table:campaigns", json!({})).await;
    }
    // A coordinator reaches her team only, whatever the filter says.
    let later = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let mut body = create_body(json!({}));
    body["scheduled_at"] = json!(later);
    let c = app.post("/api/v1/campaigns", w.token(w.coord_ven), body).await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
    let ven: i64 = sqlx::query_scalar("SELECT count(*) FROM prospects WHERE tenant_id = $1 AND team_id = $2")
        .bind(w.tenant.0)
        .bind(w.ven.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(c.body["progress"]["total"], ven);
    assert_eq!((&c.body["status"], &c.body["progress"]["pending"]), (&json!("scheduled"), &json!(ven)));
    let id = c.body["campaign_id"].as_i64().unwrap();
    // Recipients come by prospect id, named while the caller sees them.
    let r = app.get(&format!("/api/v1/campaigns/{id}/recipients?limit=2"), w.token(w.coord_ven)).await;
    let page = r.body.as_array().unwrap();
    assert_eq!(page.len(), 2, "{:?}", r.body);
    assert!(page[0]["prospect_id"].as_i64() < page[1]["prospect_id"].as_i64());
    assert!(page.iter().all(|x| x["state"] == "pending" && x["prospect_name"].is_string()), "{page:?}");
    for (who, ws, sees) in
        [("admin", &mut admin_ws, true), ("creator", &mut ven_ws, true), ("other", &mut boom_ws, false)]
    {
        let events = ws.events(Duration::from_millis(1500)).await;
        let inserted = events.iter().any(|(t, op, row)| t == "campaigns" && op == "insert" && row["campaign_id"] == id);
        assert_eq!(inserted, sees, "{who}: {events:?}");
    }
    // Listing an invisible prospect is refused, naming the field; nothing is created.
    let boom: i64 = sqlx::query_scalar("SELECT min(prospect_id) FROM prospects WHERE tenant_id = $1 AND team_id = $2")
        .bind(w.tenant.0)
        .bind(w.boom.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut bad = create_body(Value::Null);
    bad.as_object_mut().unwrap().remove("filter");
    bad["prospect_ids"] = json!([boom]);
    let r = app.post("/api/v1/campaigns", w.token(w.coord_ven), bad).await;
    assert_eq!((r.status, &r.body["error"]["field"]), (StatusCode::NOT_FOUND, &json!("prospect_ids")));
    let r = app
        .post(
            "/api/v1/campaigns",
            w.token(w.admin),
            json!({"name": "x", "template": {"name": "nope", "language": "es_MX"}, "filter": {}}),
        )
        .await;
    assert_eq!((r.status, &r.body["error"]["field"]), (StatusCode::NOT_FOUND, &json!("template.name")));
    // Others' campaigns are not visible to a coordinator; the admin sees all.
    assert_eq!(app.get(&format!("/api/v1/campaigns/{id}"), w.token(w.coord_boom)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/campaigns", w.token(w.admin)).await.body.as_array().unwrap().len(), 1);
    // Pause, resume, cancel; a cancelled campaign cannot resume.
    let p = app.post(&format!("/api/v1/campaigns/{id}/pause"), w.token(w.coord_ven), json!({})).await;
    assert_eq!(p.body["status"], "paused", "{:?}", p.body);
    // Paused before its time: resuming waits for that time again instead of sending at once.
    let r = app.post(&format!("/api/v1/campaigns/{id}/resume"), w.token(w.coord_ven), json!({})).await;
    assert_eq!((r.status, &r.body["status"]), (StatusCode::OK, &json!("scheduled")), "{:?}", r.body);
    let p = app.post(&format!("/api/v1/campaigns/{id}/pause"), w.token(w.coord_ven), json!({})).await;
    assert_eq!(p.body["status"], "paused", "{:?}", p.body);
    let x = app.post(&format!("/api/v1/campaigns/{id}/cancel"), w.token(w.coord_ven), json!({})).await;
    assert_eq!((&x.body["status"], &x.body["progress"]["cancelled"]), (&json!("cancelled"), &json!(ven)));
    let r = app.post(&format!("/api/v1/campaigns/{id}/resume"), w.token(w.coord_ven), json!({})).await;
    assert_eq!((r.status, &r.body["error"]["code"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("invalid_state")));
}

/// Sender and dispatcher in a runtime of their own, killed the way a crash would.
struct Crashable {
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Crashable {
    fn start(db_url: String) -> Crashable {
        let (kill, killed) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let pool = sqlx::postgres::PgPoolOptions::new().max_connections(6).connect(&db_url).await.unwrap();
                let (_stop, stopped) = watch::channel(false);
                let _sender =
                    Sender::start(pool.clone(), support::install_test_key(), sender_config(), stopped.clone());
                let _dispatch = platica_whatsapp::campaigns::start(pool, campaign_config(), stopped);
                tokio::task::spawn_blocking(move || killed.recv()).await.ok();
            });
            rt.shutdown_background();
        });
        Crashable { kill: Some(kill), thread: Some(thread) }
    }

    fn crash(mut self) {
        drop(self.kill.take());
        self.thread.take().unwrap().join().unwrap();
    }
}

#[tokio::test]
async fn a_10000_recipient_campaign_keeps_the_rate_survives_a_crash_and_counts_true() {
    let _alone = support::exclusive().await;
    const N: i64 = 10_000;
    const RATE: i64 = 500;
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 0).await;
    sqlx::query(
        "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id)
         SELECT $1, 'Cliente ' || i, '+52155' || lpad(i::text, 8, '0'), $2, $3 FROM generate_series(1, $4) i",
    )
    .bind(w.tenant.0)
    .bind(w.boom.0)
    .bind(w.exec_ana.0)
    .bind(N)
    .execute(&app.pool)
    .await
    .unwrap();
    let config = SimConfig {
        status_delays: StatusDelays {
            sent: DurRange::millis(10, 50),
            delivered: DurRange::millis(10, 50),
            read: DurRange::millis(10, 100),
            read_probability: 0.0,
        },
        failure_rate: 0.01,
        ..SimConfig::default()
    };
    let channel = SimChannel {
        display_name: "Campañas",
        phone_number_id: PNID,
        display_phone_number: "+52 55 0000 0001",
        access_token: "t",
        app_secret: "s",
        verify_token: "v",
        send_rate_per_sec: Some(RATE),
        ..SimChannel::DEFAULT
    };
    let (sim, _) = support::simulator_channel(&app, &w, config, &channel).await;
    template(&app, &w).await;

    let crashable = Crashable::start(app.db_url.clone());
    let c = app.post("/api/v1/campaigns", w.token(w.admin), create_body(json!({"team_id": w.boom.0}))).await;
    assert_eq!((c.status, &c.body["progress"]["total"]), (StatusCode::CREATED, &json!(N)), "{:?}", c.body);
    let id = c.body["campaign_id"].as_i64().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while sim.stats().sends < 3_000 {
        assert!(Instant::now() < deadline, "the campaign does not progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    crashable.crash();
    let at_crash = sim.stats().sends;
    assert!(at_crash < N as u64, "crashed midway ({at_crash} sent)");

    // Started again: it carries on where it was.
    let stop = watch::channel(false).0;
    let _sender = Sender::start(app.pool.clone(), support::install_test_key(), sender_config(), stop.subscribe());
    let _dispatch = platica_whatsapp::campaigns::start(app.pool.clone(), campaign_config(), stop.subscribe());
    // At 500/s the rest takes about 15 s; the bound is for a loaded machine, where other tests
    // of this process run beside this one (on 2 shared cores it once needed more than 120 s).
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let v = app.get(&format!("/api/v1/campaigns/{id}"), w.token(w.admin)).await.body;
        let p = &v["progress"];
        if v["status"] == "completed" && p["pending"] == 0 && p["queued"] == 0 && p["sent"] == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the campaign did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Nobody twice: one accepted send per recipient (resends after the crash were recognised).
    let sent = sim.sent(PNID);
    let stats = sim.stats();
    assert_eq!(stats.sends, N as u64, "duplicates recognised: {}", stats.duplicates);
    let recipients: BTreeSet<&str> = sent.iter().map(|m| m.wa_id.as_str()).collect();
    assert_eq!(recipients.len(), N as usize);
    assert!(sent.iter().all(|m| m.template.as_deref() == Some("promo_noviembre")));

    // The number's rate held. The limiter paces requests as they leave; they reach the simulator
    // over up to 32 connections at once, so arrival times bunch a little: allow 10% for that.
    let mut times: Vec<i64> =
        sent.iter().map(|m| chrono::DateTime::parse_from_rfc3339(&m.received_at).unwrap().timestamp_millis()).collect();
    times.sort_unstable();
    let burst = RATE / 10;
    for (i, t) in times.iter().enumerate() {
        let in_second = times[i..].iter().take_while(|u| **u - *t < 1000).count() as i64;
        assert!(in_second <= (RATE + burst) * 11 / 10, "{in_second} sends within one second");
    }
    let span = (times[times.len() - 1] - times[0]) as f64 / 1000.0;
    assert!(N as f64 / span <= (RATE + burst) as f64, "{N} sends in {span} s");
    eprintln!(
        "{N} campaign sends in {span:.1} s ({:.0}/s, limit {RATE}/s), {} resent after the crash and recognised",
        N as f64 / span,
        stats.duplicates
    );

    // Progress equals the SQL truth, counted independently from the messages.
    let v = app.get(&format!("/api/v1/campaigns/{id}"), w.token(w.admin)).await.body;
    let truth: Vec<(String, i64)> = sqlx::query_as(
        "SELECT status, count(*) FROM messages WHERE tenant_id = $1 AND direction = 'out' AND sender_kind = 'system'
         GROUP BY status ORDER BY status",
    )
    .bind(w.tenant.0)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut total = 0;
    for (status, n) in &truth {
        assert_eq!(v["progress"][status.as_str()], json!(n), "{status}: {v}");
        total += n;
    }
    assert_eq!(total, N);
    assert_eq!(v["progress"]["total"], N);
    assert!(v["progress"]["failed"].as_i64().unwrap() > 0, "the simulator fails about 1%: {v}");
    // Personalised: the template's first parameter is the prospect's first name.
    let body: String = sqlx::query_scalar(
        "SELECT m.body FROM messages m JOIN conversations c USING (tenant_id, conversation_id)
         JOIN prospects p USING (tenant_id, prospect_id) WHERE m.tenant_id = $1 AND p.name = 'Cliente 42' AND m.sender_kind = 'system'",
    )
    .bind(w.tenant.0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(body, "Hola Cliente, este mes tu plan tiene 20% de descuento.");
    // Its creator was notified once that it finished.
    let finished: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT title, body FROM notifications WHERE tenant_id = $1 AND user_id = $2 AND kind = 'campaign_finished'",
    )
    .bind(w.tenant.0)
    .bind(w.admin.0)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert_eq!(finished[0].0, "Campaign finished: Promo noviembre");
    let _ = stop.send(true);
}
