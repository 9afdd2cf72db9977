//! Campaign safeguards (issue 24): the preview's count is exactly who creation reaches (after
//! filters, opt-outs and duplicates), a confirmed count that went stale is refused, bad input
//! names its field, a scheduled campaign sends nothing before its time, a throttled one never
//! exceeds its rate at the Cloud API simulator, and campaign messages know their campaign (in
//! message pages and in live rows).
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::{Duration, Instant};

use platica_whatsapp::campaigns::CampaignConfig;
use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{SimChannel, TestApp, World, world};
use tokio::sync::watch;

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

fn body(segment: Value) -> Value {
    let mut b = json!({"name": "Promo noviembre", "template": {"name": "promo_noviembre", "language": "es_MX",
        "parameters": ["{first_name}", "20%"]}});
    for (k, v) in segment.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// Marks a prospect as having stopped marketing messages the way WhatsApp reports it: an earlier
/// template to them failed with error 131050.
async fn opt_out(app: &TestApp, w: &World, prospect: i64) {
    let (conversation, _) = {
        let mut tx = app.pool.begin().await.unwrap();
        let c = platica_store::inbox::conversations::ensure_whatsapp(&mut tx, w.tenant, prospect).await.unwrap();
        tx.commit().await.unwrap();
        c
    };
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, error)
         VALUES ($1, $2, 'out', 'system', 'Promo de octubre', 'failed',
                 '{\"code\": 131050, \"title\": \"User has stopped marketing messages\", \"retryable\": false}')",
    )
    .bind(w.tenant.0)
    .bind(conversation)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn recipients_of(app: &TestApp, w: &World, campaign: i64) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT prospect_id FROM campaign_recipients WHERE tenant_id = $1 AND campaign_id = $2 ORDER BY prospect_id",
    )
    .bind(w.tenant.0)
    .bind(campaign)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_preview_counts_exactly_who_creation_reaches() {
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 3).await;
    support::sending_channel(&app, &w).await;
    template(&app, &w).await;
    let ven: Vec<i64> = w.prospects.iter().filter(|(_, t, _)| *t == w.ven).map(|(p, _, _)| *p).collect();
    let opted = ven[1];
    opt_out(&app, &w, opted).await;

    // A filter: the coordinator's team, less the one who opted out.
    let f = body(json!({"filter": {}}));
    let p = app.post("/api/v1/campaigns/preview", w.token(w.coord_ven), f.clone()).await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    assert_eq!(p.body["matched"], json!(ven.len()));
    assert_eq!(p.body["recipients"], json!(ven.len() - 1));
    assert_eq!(p.body["excluded"], json!({"opted_out": 1, "duplicates": 0}));
    assert_eq!(p.body["template_name"], "promo_noviembre");
    assert_eq!(p.body["sample"], "Hola Ana, este mes tu plan tiene 20% de descuento.");
    // The preview wrote nothing.
    let campaigns: i64 = sqlx::query_scalar("SELECT count(*) FROM campaigns").fetch_one(&app.pool).await.unwrap();
    assert_eq!(campaigns, 0);
    // Created with the confirmed count: exactly those recipients.
    let mut confirmed = f.clone();
    confirmed["confirm_count"] = p.body["recipients"].clone();
    let c = app.post("/api/v1/campaigns", w.token(w.coord_ven), confirmed).await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
    assert_eq!(c.body["progress"]["total"], p.body["recipients"]);
    let got = recipients_of(&app, &w, c.body["campaign_id"].as_i64().unwrap()).await;
    let want: Vec<i64> = ven.iter().copied().filter(|x| *x != opted).collect();
    assert_eq!(got, want);

    // A list with duplicates: each once, the opted-out left out, the count still exact.
    let listed = vec![ven[0], ven[0], ven[1], ven[2], ven[2], ven[2]];
    let l = body(json!({"prospect_ids": listed}));
    let p = app.post("/api/v1/campaigns/preview", w.token(w.admin), l.clone()).await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    assert_eq!(
        (&p.body["matched"], &p.body["recipients"], &p.body["excluded"]),
        (&json!(3), &json!(2), &json!({"opted_out": 1, "duplicates": 3}))
    );
    // A count that no longer holds is refused, and nothing is created.
    let mut stale = l.clone();
    stale["confirm_count"] = json!(3);
    let r = app.post("/api/v1/campaigns", w.token(w.admin), stale).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(
        (&r.body["error"]["code"], &r.body["error"]["field"], &r.body["error"]["params"]["count"]),
        (&json!("recipients_changed"), &json!("confirm_count"), &json!("2"))
    );
    let campaigns: i64 = sqlx::query_scalar("SELECT count(*) FROM campaigns").fetch_one(&app.pool).await.unwrap();
    assert_eq!(campaigns, 1);
    let mut ok = l.clone();
    ok["confirm_count"] = json!(2);
    let c = app.post("/api/v1/campaigns", w.token(w.admin), ok).await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
    assert_eq!(recipients_of(&app, &w, c.body["campaign_id"].as_i64().unwrap()).await, vec![ven[0], ven[2]]);

    // Nobody matches: the preview says 0; creating is refused.
    let none = body(json!({"filter": {"q": "Zzz"}}));
    let p = app.post("/api/v1/campaigns/preview", w.token(w.admin), none.clone()).await;
    assert_eq!((p.status, &p.body["recipients"]), (StatusCode::OK, &json!(0)), "{:?}", p.body);
    let r = app.post("/api/v1/campaigns", w.token(w.admin), none).await;
    assert_eq!((r.status, &r.body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("segment")));

    // Executives neither preview nor send.
    let r = app.post("/api/v1/campaigns/preview", w.token(w.exec_ana), f.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);

    // Bad input names its field, for the preview and the creation alike.
    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let cases = [
        (json!({"max_per_minute": 0}), StatusCode::UNPROCESSABLE_ENTITY, "max_per_minute"),
        (json!({"max_per_minute": 100_001}), StatusCode::UNPROCESSABLE_ENTITY, "max_per_minute"),
        (json!({"scheduled_at": past}), StatusCode::UNPROCESSABLE_ENTITY, "scheduled_at"),
        (json!({"template": {"name": "nope", "language": "es_MX"}}), StatusCode::NOT_FOUND, "template.name"),
        (json!({"confirm_count": 0}), StatusCode::UNPROCESSABLE_ENTITY, "confirm_count"),
    ];
    for (patch, status, field) in cases {
        let mut b = f.clone();
        for (k, v) in patch.as_object().unwrap() {
            b[k] = v.clone();
        }
        for path in ["/api/v1/campaigns/preview", "/api/v1/campaigns"] {
            if field == "confirm_count" && path.ends_with("preview") {
                continue;
            }
            let r = app.post(path, w.token(w.admin), b.clone()).await;
            assert_eq!((r.status, &r.body["error"]["field"]), (status, &json!(field)), "{path} {patch}: {:?}", r.body);
        }
    }
}

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

/// A tenant with `n` prospects of Ana's on the simulator's number, the template, and the sender
/// and campaign dispatcher running.
async fn sending_world(app: &TestApp, per_cell: usize) -> (World, platica_simulator::SimHandle, watch::Sender<bool>) {
    support::install_test_key();
    let w = world(app, "acme", per_cell).await;
    let (sim, _) = support::simulator_channel(app, &w, support::quick_simulator(0.0), &SimChannel::DEFAULT).await;
    template(app, &w).await;
    let stop = watch::channel(false).0;
    let _sender = Sender::start(app.pool.clone(), support::install_test_key(), sender_config(), stop.subscribe());
    let config = CampaignConfig { tick: Duration::from_millis(100), ..CampaignConfig::default() };
    let _dispatch = platica_whatsapp::campaigns::start(app.pool.clone(), config, stop.subscribe());
    (w, sim, stop)
}

fn received_ms(m: &platica_simulator::SentMessage) -> i64 {
    chrono::DateTime::parse_from_rfc3339(&m.received_at).unwrap().timestamp_millis()
}

#[tokio::test]
async fn a_scheduled_campaign_sends_nothing_before_its_time_and_its_messages_say_so() {
    let app = TestApp::spawn().await;
    let (w, sim, stop) = sending_world(&app, 1).await;
    let ana: Vec<i64> = w.prospects.iter().filter(|(_, _, e)| *e == Some(w.exec_ana)).map(|(p, _, _)| *p).collect();
    let at = chrono::Utc::now() + chrono::Duration::seconds(4);
    let c = app
        .post(
            "/api/v1/campaigns",
            w.token(w.admin),
            json!({"name": "Buen fin", "template": {"name": "promo_noviembre", "language": "es_MX",
                   "parameters": ["{first_name}", "30%"]}, "filter": {"executive_id": w.exec_ana.0},
                   "scheduled_at": at.to_rfc3339()}),
        )
        .await;
    assert_eq!((c.status, &c.body["status"]), (StatusCode::CREATED, &json!("scheduled")), "{:?}", c.body);
    let id = c.body["campaign_id"].as_i64().unwrap();
    // Ana follows one of her conversations live.
    let mut ws = support::Ws::connect(&app, w.token(w.exec_ana)).await;
    let conversation = {
        let mut tx = app.pool.begin().await.unwrap();
        let (cid, _) = platica_store::inbox::conversations::ensure_whatsapp(&mut tx, w.tenant, ana[0]).await.unwrap();
        tx.commit().await.unwrap();
        cid
    };
    ws.subscribe("c", &format!("conversation:{conversation}"), json!({})).await;
    // Before its time: nothing reaches WhatsApp.
    while chrono::Utc::now() < at - chrono::Duration::milliseconds(300) {
        assert_eq!(sim.stats().sends, 0, "sent before {at}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (sim.sent(support::SIM_PNID).len() as u64) < ana.len() as u64 {
        assert!(Instant::now() < deadline, "the scheduled campaign did not send");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = sim.sent(support::SIM_PNID);
    assert!(sent.iter().all(|m| received_ms(m) >= at.timestamp_millis()), "sent before its time");
    // The live row of the campaign's message names its campaign.
    let events = ws.events(Duration::from_millis(1500)).await;
    let live = events.iter().find(|(t, op, _)| t == "messages" && op == "insert").expect("the message arrives live");
    assert_eq!(live.2["campaign_id"], json!(id), "{events:?}");
    // Its page says which campaign it came from, to the executive who sees the conversation.
    let page = app.get(&format!("/api/v1/conversations/{conversation}/messages"), w.token(w.exec_ana)).await;
    assert_eq!(page.status, StatusCode::OK, "{:?}", page.body);
    let m = &page.body["items"][0];
    assert_eq!(
        (&m["campaign_id"], &m["campaign_name"], &m["sender_kind"]),
        (&json!(id), &json!("Buen fin"), &json!("system"))
    );
    let _ = stop.send(true);
}

#[tokio::test]
async fn a_throttled_campaign_never_exceeds_its_rate() {
    let _alone = support::exclusive().await;
    let app = TestApp::spawn().await;
    let (w, sim, stop) = sending_world(&app, 2).await;
    // Ana's four prospects, at most two messages a minute.
    let c = app
        .post(
            "/api/v1/campaigns",
            w.token(w.admin),
            json!({"name": "Despacio", "template": {"name": "promo_noviembre", "language": "es_MX",
                   "parameters": ["{first_name}", "5%"]}, "filter": {"executive_id": w.exec_ana.0},
                   "max_per_minute": 2, "confirm_count": 4}),
        )
        .await;
    assert_eq!(c.status, StatusCode::CREATED, "{:?}", c.body);
    let id = c.body["campaign_id"].as_i64().unwrap();
    assert_eq!(c.body["max_per_minute"], 2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while sim.sent(support::SIM_PNID).len() < 2 {
        assert!(Instant::now() < deadline, "the throttled campaign did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Within the minute nothing more goes, whatever the number's own rate would allow.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(sim.sent(support::SIM_PNID).len(), 2, "more than two within the minute");
    let v = app.get(&format!("/api/v1/campaigns/{id}"), w.token(w.admin)).await.body;
    assert_eq!((&v["status"], &v["progress"]["pending"]), (&json!("running"), &json!(2)), "{v}");
    // Pause and resume keep working on a throttled campaign.
    let p = app.post(&format!("/api/v1/campaigns/{id}/pause"), w.token(w.admin), json!({})).await;
    assert_eq!(p.body["status"], "paused", "{:?}", p.body);
    let r = app.post(&format!("/api/v1/campaigns/{id}/resume"), w.token(w.admin), json!({})).await;
    assert_eq!(r.body["status"], "running", "{:?}", r.body);
    // The other two go once the minute has passed, and the campaign completes.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let v = app.get(&format!("/api/v1/campaigns/{id}"), w.token(w.admin)).await.body;
        if v["status"] == "completed" && sim.sent(support::SIM_PNID).len() == 4 {
            break;
        }
        assert!(Instant::now() < deadline, "the throttled campaign did not finish: {v}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // At the simulator: no 60 seconds hold more than two of its messages.
    let mut times: Vec<i64> = sim.sent(support::SIM_PNID).iter().map(received_ms).collect();
    times.sort_unstable();
    for (i, t) in times.iter().enumerate() {
        let in_minute = times[i..].iter().take_while(|u| **u - *t < 60_000).count();
        assert!(in_minute <= 2, "{in_minute} messages within a minute: {times:?}");
    }
    assert_eq!(times.len(), 4);
    assert!(times[2] - times[0] >= 60_000, "four messages at two a minute take over a minute: {times:?}");
    let _ = stop.send(true);
}
