//! WhatsApp business-scoped user ids (BSUIDs, issue 17 part 4): a sender WhatsApp shows without a
//! phone number (`contacts[].user_id`, `messages[].from_user_id`, no `from`) is stored and shown
//! in the inbox; redeliveries change nothing; a prospect known by one key takes the other when a
//! webhook names both; two prospects (one by phone, one by BSUID) that turn out to be one person
//! merge into the older one with every message kept; and a reply to a prospect without a phone
//! reaches the (simulated) Cloud API addressed by `recipient`, as WhatsApp documents.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use platica_simulator::{DurRange, SimAccount, SimConfig, Simulator, StatusDelays};
use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, World, until, world};
use tokio::sync::watch;

const PNID: &str = "106540352242922";
const SECRET: &str = "bsuid-app-secret";
const TOKEN: &str = "bsuid-access-token";
const BSUID: &str = "MX.13491208655302741918";
const PHONE: &str = "5215512340001";

/// The tenant's channel account, sending to `base_url` (the simulator) when given.
async fn channel(app: &TestApp, w: &World, base_url: Option<String>) {
    let r = app
        .post(
            "/api/v1/channels",
            w.token(w.admin),
            json!({"display_name": "Ventas", "phone_number_id": PNID, "app_secret": SECRET,
                   "verify_token": "verify", "access_token": TOKEN, "default_team_id": w.boom.0,
                   "base_url": base_url}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

/// A text message from a sender with the given keys, as the Cloud API sends it: `from` only
/// when the number is shown, `from_user_id` and `contacts[].user_id` for the BSUID.
fn text(phone: Option<&str>, bsuid: Option<&str>, profile: Value, wamid: &str, body: &str) -> Value {
    let mut contact = json!({"profile": profile});
    let mut message = json!({"id": wamid, "timestamp": "1732520000", "type": "text", "text": {"body": body}});
    if let Some(p) = phone {
        contact["wa_id"] = json!(p);
        message["from"] = json!(p);
    }
    if let Some(b) = bsuid {
        contact["user_id"] = json!(b);
        message["from_user_id"] = json!(b);
    }
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [{
        "field": "messages",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550001111", "phone_number_id": PNID},
                  "contacts": [contact], "messages": [message]}}]}]})
}

async fn deliver(app: &TestApp, payload: &Value) -> Value {
    let (status, body) = app.whatsapp_webhook(SECRET, payload).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Every prospect of the tenant: (id, name, phone, bsuid).
async fn prospects(app: &TestApp, w: &World) -> Vec<(i64, String, Option<String>, Option<String>)> {
    sqlx::query_as("SELECT prospect_id, name, phone, bsuid FROM prospects WHERE tenant_id = $1 ORDER BY prospect_id")
        .bind(w.tenant.0)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// The bodies of a conversation's messages as the API shows them (oldest first).
async fn bodies(app: &TestApp, w: &World, conversation: i64) -> Vec<String> {
    let r = app.get(&format!("/api/v1/conversations/{conversation}/messages"), w.token(w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut b: Vec<String> =
        r.body["items"].as_array().unwrap().iter().map(|m| m["body"].as_str().unwrap().to_owned()).collect();
    b.reverse();
    b
}

/// The admin's inbox rows (from the live engine), after it has applied every commit, checked
/// against the SQL reference.
async fn inbox(app: &TestApp, w: &World) -> Vec<Value> {
    app.sync().await;
    let report = platica_changes::verify::verify(&app.live, Some(w.tenant)).await.unwrap();
    assert!(report.is_clean(), "engine and SQL differ:\n{}", report.differences.join("\n"));
    let r = app.get("/api/v1/inbox", w.token(w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_sender_without_a_phone_is_stored_shown_and_redeliveries_change_nothing() {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, None).await;

    // Known only by its BSUID, with a username and no profile name; then one with neither.
    let first = text(None, Some(BSUID), json!({"username": "@ana.compras"}), "wamid.U1", "hola, ¿precios?");
    let r = deliver(&app, &first).await;
    assert_eq!((r["messages_stored"].as_i64(), r["prospects_created"].as_i64()), (Some(1), Some(1)), "{r}");
    let other = "US.98765";
    deliver(&app, &text(None, Some(other), json!({}), "wamid.U2", "buenas")).await;
    let ps = prospects(&app, &w).await;
    assert_eq!(
        ps.iter().map(|p| (p.1.as_str(), p.2.as_deref(), p.3.as_deref())).collect::<Vec<_>>(),
        [("@ana.compras", None, Some(BSUID)), ("WhatsApp user", None, Some(other))]
    );

    // Redelivered (as the Cloud API retries): nothing more is written.
    let before = app.snapshot_all().await;
    let r = deliver(&app, &first).await;
    assert_eq!((r["messages_stored"].as_i64(), r["messages_duplicate"].as_i64()), (Some(0), Some(1)), "{r}");
    assert_eq!(app.snapshot_all().await, before, "a redelivery changed something");

    // In the inbox, with no phone.
    let rows = inbox(&app, &w).await;
    let ana = rows.iter().find(|r| r["prospect_name"] == "@ana.compras").unwrap();
    assert_eq!(ana["prospect_phone"], Value::Null);
    assert_eq!(ana["last_message_preview"], "hola, ¿precios?");
    assert_eq!(ana["unread_count"], 1);
    let p = app.get(&format!("/api/v1/prospects/{}", ps[0].0), w.token(w.admin)).await;
    assert_eq!((&p.body["phone"], &p.body["bsuid"]), (&Value::Null, &json!(BSUID)), "{:?}", p.body);
    // A reaction from it lands on its message like anyone's.
    let mut react = text(None, Some(BSUID), json!({}), "wamid.U3", "x");
    react["entry"][0]["changes"][0]["value"]["messages"][0] = json!({"from_user_id": BSUID, "id": "wamid.U3",
        "type": "reaction", "reaction": {"message_id": "wamid.U1", "emoji": "👍"}});
    deliver(&app, &react).await;
    let reaction: Option<String> = sqlx::query_scalar("SELECT reaction FROM messages WHERE external_id = 'wamid.U1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(reaction.as_deref(), Some("👍"));

    // A malformed BSUID is refused (logged), not stored.
    let r = deliver(&app, &text(None, Some("not-a-bsuid"), json!({}), "wamid.U4", "x")).await;
    assert_eq!(r["messages_stored"].as_i64(), Some(0), "{r}");
    assert_eq!(prospects(&app, &w).await.len(), 2);
}

#[tokio::test]
async fn a_prospect_takes_the_key_it_lacked_when_a_webhook_names_both() {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, None).await;

    // By BSUID first, then the number shows up: the same prospect takes it.
    deliver(&app, &text(None, Some(BSUID), json!({"name": "Ana"}), "wamid.A1", "uno")).await;
    let r = deliver(&app, &text(Some(PHONE), Some(BSUID), json!({"name": "Ana"}), "wamid.A2", "dos")).await;
    assert_eq!((r["messages_stored"].as_i64(), r["prospects_created"].as_i64()), (Some(1), Some(0)), "{r}");
    // By phone first, then its BSUID appears: the same prospect takes it.
    let (phone2, bsuid2) = ("5215512340002", "MX.555");
    deliver(&app, &text(Some(phone2), None, json!({"name": "Beto"}), "wamid.B1", "uno")).await;
    deliver(&app, &text(Some(phone2), Some(bsuid2), json!({"name": "Beto"}), "wamid.B2", "dos")).await;
    // And from then on either key alone finds it (the single-statement path).
    deliver(&app, &text(None, Some(bsuid2), json!({}), "wamid.B3", "tres")).await;
    deliver(&app, &text(Some(phone2), None, json!({}), "wamid.B4", "cuatro")).await;

    let ps = prospects(&app, &w).await;
    let keys: Vec<(Option<&str>, Option<&str>)> = ps.iter().map(|p| (p.2.as_deref(), p.3.as_deref())).collect();
    assert_eq!(keys, [(Some("+5215512340001"), Some(BSUID)), (Some("+5215512340002"), Some(bsuid2))]);
    let rows = inbox(&app, &w).await;
    assert_eq!(rows.len(), 2);
    let conv = |name: &str| rows.iter().find(|r| r["prospect_name"] == name).unwrap()["conversation_id"].as_i64();
    assert_eq!(bodies(&app, &w, conv("Ana").unwrap()).await, ["uno", "dos"]);
    assert_eq!(bodies(&app, &w, conv("Beto").unwrap()).await, ["uno", "dos", "tres", "cuatro"]);
}

#[tokio::test]
async fn two_prospects_that_are_one_person_merge_into_the_older_with_every_message() {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 1).await;
    channel(&app, &w, None).await;

    // The same person, as two prospects: first by phone (created through the API, assigned and
    // staged by a person), then by BSUID from WhatsApp.
    let created = app
        .post(
            "/api/v1/prospects",
            w.token(w.admin),
            json!({"name": "Ana Pérez", "phone": format!("+{PHONE}"),
              "team_id": w.boom.0, "executive_id": w.exec_ana.0}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{:?}", created.body);
    let older = created.body["prospect_id"].as_i64().unwrap();
    app.patch(&format!("/api/v1/prospects/{older}"), w.token(w.admin), json!({"stage": "interested"})).await;
    deliver(&app, &text(Some(PHONE), None, json!({"name": "Ana"}), "wamid.M1", "por teléfono")).await;
    deliver(&app, &text(None, Some(BSUID), json!({"username": "@ana"}), "wamid.M2", "por usuario")).await;
    let ps = prospects(&app, &w).await;
    let named: Vec<i64> = ps.iter().filter(|p| p.2.is_some() || p.3.is_some()).map(|p| p.0).collect();
    assert!(named.contains(&older));
    let newer = ps.iter().find(|p| p.3.as_deref() == Some(BSUID)).unwrap().0;
    assert_ne!(newer, older);
    let before = ps.len();
    assert_eq!(inbox(&app, &w).await.iter().filter(|r| r["prospect_phone"].is_null()).count(), 1);

    // A webhook names both: one prospect stays (the older, as it was), with every message.
    let r = deliver(&app, &text(Some(PHONE), Some(BSUID), json!({"name": "Ana"}), "wamid.M3", "ambos")).await;
    assert_eq!((r["messages_stored"].as_i64(), r["prospects_created"].as_i64()), (Some(1), Some(0)), "{r}");
    let ps = prospects(&app, &w).await;
    assert_eq!(ps.len(), before - 1, "the newer prospect is gone");
    let kept = ps.iter().find(|p| p.0 == older).unwrap();
    assert_eq!(
        (kept.1.as_str(), kept.2.as_deref(), kept.3.as_deref()),
        ("Ana Pérez", Some("+5215512340001"), Some(BSUID))
    );
    let p = app.get(&format!("/api/v1/prospects/{older}"), w.token(w.admin)).await;
    assert_eq!((&p.body["stage"], &p.body["executive_id"]), (&json!("interested"), &json!(w.exec_ana.0)));
    let gone = app.get(&format!("/api/v1/prospects/{newer}"), w.token(w.admin)).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // One conversation continues, in the inbox, with the whole history in order.
    let rows = inbox(&app, &w).await;
    let mine: Vec<&Value> = rows.iter().filter(|r| r["prospect_id"] == older).collect();
    assert_eq!(mine.len(), 1);
    assert!(rows.iter().all(|r| r["prospect_id"] != newer));
    assert_eq!(mine[0]["prospect_phone"], "+5215512340001");
    assert_eq!(mine[0]["unread_count"], 3);
    let conversation = mine[0]["conversation_id"].as_i64().unwrap();
    assert_eq!(bodies(&app, &w, conversation).await, ["por teléfono", "por usuario", "ambos"]);
    // The executive who had the older prospect sees the whole conversation.
    let r = app.get(&format!("/api/v1/conversations/{conversation}/messages"), w.token(w.exec_ana)).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(3), "{:?}", r.body);

    // Either key alone finds it now; a redelivery of the merging webhook changes nothing.
    let snapshot = app.snapshot_all().await;
    let r = deliver(&app, &text(Some(PHONE), Some(BSUID), json!({"name": "Ana"}), "wamid.M3", "ambos")).await;
    assert_eq!(r["messages_duplicate"].as_i64(), Some(1), "{r}");
    assert_eq!(app.snapshot_all().await, snapshot);
    deliver(&app, &text(None, Some(BSUID), json!({}), "wamid.M4", "otra")).await;
    assert_eq!(bodies(&app, &w, conversation).await.len(), 4);
}

#[tokio::test]
async fn a_reply_to_a_prospect_without_a_phone_is_addressed_by_recipient() {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 0).await;
    let sim = Simulator::start(SimConfig {
        status_delays: StatusDelays {
            sent: DurRange::millis(10, 30),
            delivered: DurRange::millis(10, 30),
            read: DurRange::millis(10, 30),
            read_probability: 1.0,
        },
        failure_rate: 0.0,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    channel(&app, &w, Some(sim.base_url())).await;
    sim.add_account(SimAccount {
        phone_number_id: PNID.into(),
        display_phone_number: "+52 55 1234 5678".into(),
        access_token: TOKEN.into(),
        app_secret: SECRET.into(),
        webhook_url: app.url("/api/v1/whatsapp/webhook"),
        session_mode: false,
    });
    let stop = watch::channel(false).0;
    let config = SenderConfig {
        backoff_base: Duration::from_millis(50),
        poll: Duration::from_millis(200),
        refresh: Duration::from_millis(200),
        ..SenderConfig::default()
    };
    let _sender = Sender::start(app.pool.clone(), support::install_test_key(), config, stop.subscribe());

    deliver(&app, &text(None, Some(BSUID), json!({"name": "Ana"}), "wamid.R1", "¿tienen envío?")).await;
    let conversation: i64 = sqlx::query_scalar(
        "SELECT c.conversation_id FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
         WHERE p.tenant_id = $1 AND p.bsuid = $2",
    )
    .bind(w.tenant.0)
    .bind(BSUID)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let r = app
        .post(
            &format!("/api/v1/conversations/{conversation}/messages"),
            w.token(w.admin),
            json!({"body": "Sí, a todo el país"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let message = r.body["message_id"].as_i64().unwrap();

    // The Cloud API received it by `recipient` (no `to`), and answered for that user id.
    let sent = until(10, "the reply to reach the simulator", || async {
        sim.sent(PNID).into_iter().find(|m| m.text.as_deref() == Some("Sí, a todo el país"))
    })
    .await;
    assert_eq!((sent.to.as_str(), sent.wa_id.as_str(), sent.user_id.as_deref()), (BSUID, "", Some(BSUID)));
    // Its statuses (naming the user id, no number) come back and settle the one message.
    let status = until(10, "the reply to be read", || async {
        let s: String = sqlx::query_scalar("SELECT status FROM messages WHERE message_id = $1")
            .bind(message)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (s == "read").then_some(s)
    })
    .await;
    assert_eq!(status, "read");
    assert_eq!(sim.sent(PNID).len(), 1, "sent once");
    let _ = stop.send(true);
}
