//! WhatsApp Cloud API, inbound: channel accounts (secrets write-only, encrypted at rest), the
//! webhook handshake, signed webhooks (nothing stored unless the signature holds), idempotent
//! ingestion, monotonic statuses, new prospects assigned round-robin, typed placeholders, and
//! garbage logged without touching the domain tables.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeMap;

use platica_domain::TeamId;
use platica_domain::signature::sign;
use platica_store::secrets::{self, SecretKey};
use platica_store::whatsapp::channels::{self, ChannelChanges};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, World, world};

const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
const VERIFY_TOKEN: &str = "verify-me-acme-42";
const ACCESS_TOKEN: &str = "EAAG-access-token-acme";
const PHONE_NUMBER_ID: &str = "106540352242922";
const WEBHOOK: &str = "/api/v1/whatsapp/webhook";

/// The tables this feature adds (the harness's snapshot lists the original ones).
const WA_TABLES: &[&str] = &["channel_accounts", "webhook_events", "message_statuses", "whatsapp_messages"];

/// The fixed test key, installed in this test process.
fn install_test_key() {
    secrets::install(SecretKey::from_bytes([42; 32])).unwrap();
}

async fn spawn() -> TestApp {
    install_test_key();
    TestApp::spawn().await
}

/// Creates the tenant's channel account through the API; returns its id.
async fn channel(app: &TestApp, w: &World, phone_number_id: &str, team: TeamId) -> i64 {
    let r = app
        .post(
            "/api/v1/channels",
            w.token(w.admin),
            json!({"display_name": "Ventas", "phone_number_id": phone_number_id, "app_secret": APP_SECRET,
                   "verify_token": VERIFY_TOKEN, "access_token": ACCESS_TOKEN, "default_team_id": team.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    r.body["channel_account_id"].as_i64().unwrap()
}

/// Every table, the original ones and this feature's.
async fn everything(app: &TestApp) -> BTreeMap<&'static str, Vec<Value>> {
    let mut all = app.snapshot_all().await;
    for t in WA_TABLES {
        all.insert(*t, app.snapshot(t).await);
    }
    all
}

/// POSTs a webhook body with the given signature header (or none).
async fn deliver_raw(app: &TestApp, body: &[u8], signature: Option<&str>) -> (StatusCode, Value) {
    let mut req = app.client.post(app.url(WEBHOOK)).header("content-type", "application/json").body(body.to_vec());
    if let Some(s) = signature {
        req = req.header("x-hub-signature-256", s);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let bytes = resp.bytes().await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// POSTs a webhook signed with the app secret.
async fn deliver(app: &TestApp, payload: &Value) -> (StatusCode, Value) {
    let body = serde_json::to_vec(payload).unwrap();
    deliver_raw(app, &body, Some(&sign(APP_SECRET, &body))).await
}

fn notification(phone_number_id: &str, value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": phone_number_id});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
}

fn text_message(wa_id: &str, name: &str, wamid: &str, text: &str) -> Value {
    notification(
        PHONE_NUMBER_ID,
        json!({"contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
               "messages": [{"from": wa_id, "id": wamid, "timestamp": "1732520000", "type": "text",
                             "text": {"body": text}}]}),
    )
}

fn status_update(wamid: &str, status: &str, errors: Option<Value>) -> Value {
    let mut s = json!({"id": wamid, "status": status, "timestamp": "1732520100", "recipient_id": "5215500000000"});
    if let Some(e) = errors {
        s["errors"] = e;
    }
    notification(PHONE_NUMBER_ID, json!({"statuses": [s]}))
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.pool).await.unwrap()
}

async fn message_by_wamid(app: &TestApp, wamid: &str) -> (i64, i64, String, String) {
    sqlx::query_as("SELECT message_id, conversation_id, body, status FROM messages WHERE external_id = $1")
        .bind(wamid)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn get_text(app: &TestApp, path: &str) -> (StatusCode, String, String) {
    let resp = app.client.get(app.url(path)).send().await.unwrap();
    let status = resp.status();
    let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    (status, ct, resp.text().await.unwrap())
}

#[tokio::test]
async fn verification_handshake() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;

    let (status, ct, body) = get_text(
        &app,
        &format!("{WEBHOOK}?hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert_eq!(body, "1158201444");

    let (status, _, body) =
        get_text(&app, &format!("{WEBHOOK}?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=CH4LL3NGE")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(!body.contains("CH4LL3NGE"), "the challenge is not echoed: {body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"]["code"], "forbidden");
    // A prefix of the right token is no match either.
    let (status, _, _) = get_text(
        &app,
        &format!("{WEBHOOK}?hub.mode=subscribe&hub.verify_token={}&hub.challenge=1", &VERIFY_TOKEN[..5]),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _, _) =
        get_text(&app, &format!("{WEBHOOK}?hub.mode=unsubscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1"))
            .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, _, body) = get_text(&app, &format!("{WEBHOOK}?hub.mode=subscribe&hub.challenge=1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no token at all: {body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn signatures_valid_missing_wrong_and_tampered() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let payload = text_message("5491100000001", "Marta", "wamid.SIG1", "Hola");
    let body = serde_json::to_vec(&payload).unwrap();
    let good = sign(APP_SECRET, &body);

    let before = everything(&app).await;
    let (status, err) = deliver_raw(&app, &body, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "missing: {err}");
    assert_eq!(err["error"]["code"], "unauthorized");
    let (status, _) = deliver_raw(&app, &body, Some(&sign("another-apps-secret", &body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "wrong secret");
    let (status, _) = deliver_raw(&app, &body, Some("sha256=nothex")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "malformed header");
    let (status, _) = deliver_raw(&app, &body, Some(good.trim_start_matches("sha256="))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "no sha256= prefix");
    let tampered = String::from_utf8(body.clone()).unwrap().replace("Hola", "Holb");
    let (status, _) = deliver_raw(&app, tampered.as_bytes(), Some(&good)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "body tampered after signing");
    // Garbage with a bad signature is refused too, and not logged.
    let (status, _) = deliver_raw(&app, b"{not json", Some(&good)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(everything(&app).await, before, "nothing stored for an unauthenticated webhook");

    let (status, receipt) = deliver_raw(&app, &body, Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["messages_stored"], 1);
    let (_, _, text, st) = message_by_wamid(&app, "wamid.SIG1").await;
    assert_eq!((text.as_str(), st.as_str()), ("Hola", "delivered"));
}

/// Accounts are cached by the webhook for a few seconds; a rotated app secret still works from
/// its first webhook, whether this server or another one (here: the store, directly) rotated it,
/// and the old secret stops working.
#[tokio::test]
async fn a_rotated_app_secret_works_from_its_first_webhook() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    let id = channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let sent = |n: u32| text_message("5491100000009", "Marta", &format!("wamid.ROT{n}"), "Hola");
    let deliver_with = |secret: &'static str, payload: Value| {
        let body = serde_json::to_vec(&payload).unwrap();
        let app = &app;
        async move { deliver_raw(app, &body, Some(&sign(secret, &body))).await.0 }
    };
    assert_eq!(deliver_with(APP_SECRET, sent(1)).await, StatusCode::OK, "cached from here on");

    // Another server rotates it: this one's cached key no longer verifies, so it asks again.
    let changes = ChannelChanges { app_secret: Some("rotated-elsewhere".into()), ..Default::default() };
    channels::update(&app.pool, &SecretKey::from_bytes([42; 32]), w.tenant, id, &changes).await.unwrap();
    assert_eq!(deliver_with("rotated-elsewhere", sent(2)).await, StatusCode::OK);
    assert_eq!(deliver_with(APP_SECRET, sent(3)).await, StatusCode::UNAUTHORIZED, "the old secret");

    // This server rotates it: the cache is cleared at once.
    let r = app.patch(&format!("/api/v1/channels/{id}"), w.token(w.admin), json!({"app_secret": "rotated-here"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(deliver_with("rotated-elsewhere", sent(4)).await, StatusCode::UNAUTHORIZED, "the old secret");
    assert_eq!(deliver_with("rotated-here", sent(5)).await, StatusCode::OK);
    let stored = count(&app, "SELECT count(*) FROM messages WHERE external_id LIKE 'wamid.ROT%'").await;
    assert_eq!(stored, 3, "exactly the webhooks answered 200");
}

/// A prospect writing reopens their closed conversation, whether the message comes alone (one
/// statement) or in a batch with a new sender (a transaction); a redelivery reopens nothing.
#[tokio::test]
async fn a_message_reopens_a_closed_conversation_and_a_redelivery_does_not() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let status = |app: &TestApp, wamid: &'static str| {
        let pool = app.pool.clone();
        async move {
            let s: String = sqlx::query_scalar(
                "SELECT c.status FROM conversations c JOIN messages m USING (tenant_id, conversation_id)
                 WHERE m.external_id = $1",
            )
            .bind(wamid)
            .fetch_one(&pool)
            .await
            .unwrap();
            s
        }
    };
    let close = |app: &TestApp, wamid: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query(
                "UPDATE conversations SET status = 'closed' WHERE (tenant_id, conversation_id) IN
                 (SELECT tenant_id, conversation_id FROM messages WHERE external_id = $1)",
            )
            .bind(wamid)
            .execute(&pool)
            .await
            .unwrap();
        }
    };
    let first = text_message("5491100000021", "Lía", "wamid.RO1", "hola");
    assert_eq!(deliver(&app, &first).await.1["messages_stored"], 1);
    close(&app, "wamid.RO1").await;
    // A redelivery of the first message: a duplicate, the conversation stays closed.
    assert_eq!(deliver(&app, &first).await.1["messages_duplicate"], 1);
    assert_eq!(status(&app, "wamid.RO1").await, "closed");
    // Alone: reopened.
    let (_, r) = deliver(&app, &text_message("5491100000021", "Lía", "wamid.RO2", "¿siguen ahí?")).await;
    assert_eq!(r["messages_stored"], 1, "{r}");
    assert_eq!(status(&app, "wamid.RO2").await, "open");

    // In a batch with a new sender: both stored, the closed one reopened once.
    close(&app, "wamid.RO1").await;
    let batch = notification(
        PHONE_NUMBER_ID,
        json!({"contacts": [{"profile": {"name": "Lía"}, "wa_id": "5491100000021"},
                            {"profile": {"name": "Nuevo"}, "wa_id": "5491100000022"}],
               "messages": [
                   {"from": "5491100000021", "id": "wamid.RO3", "timestamp": "1732520000", "type": "text", "text": {"body": "uno"}},
                   {"from": "5491100000022", "id": "wamid.RO4", "timestamp": "1732520001", "type": "text", "text": {"body": "dos"}},
                   {"from": "5491100000021", "id": "wamid.RO5", "timestamp": "1732520002", "type": "text", "text": {"body": "tres"}}]}),
    );
    let (code, r) = deliver(&app, &batch).await;
    assert_eq!(code, StatusCode::OK, "{r}");
    assert_eq!((r["messages_stored"].as_i64(), r["prospects_created"].as_i64()), (Some(3), Some(1)), "{r}");
    assert_eq!(status(&app, "wamid.RO3").await, "open");
    assert_eq!(status(&app, "wamid.RO4").await, "open");
    let (_, c3, _, _) = message_by_wamid(&app, "wamid.RO3").await;
    let (_, c5, _, _) = message_by_wamid(&app, "wamid.RO5").await;
    assert_eq!(c3, c5, "one conversation per prospect");
    assert_eq!(count(&app, "SELECT count(*) FROM whatsapp_messages").await, 5, "details for every stored message");
}

/// Webhooks of messages are stored in batches (one statement for many, see
/// platica_whatsapp::ingest): what one batch answers for each webhook, deterministically.
#[tokio::test]
async fn a_batch_stores_known_senders_once_and_hands_back_the_rest() {
    use platica_store::whatsapp::ingest::{InboundMessage, KnownJob, store_known_batch};
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    // Two known senders (the first with a closed conversation), one message already stored.
    for (wa, id) in [("5491100000031", "wamid.B0"), ("5491100000032", "wamid.B1")] {
        assert_eq!(deliver(&app, &text_message(wa, "Conocido", id, "hola")).await.1["messages_stored"], 1);
    }
    sqlx::query("UPDATE conversations SET status = 'closed' WHERE (tenant_id, conversation_id) IN (SELECT tenant_id, conversation_id FROM messages WHERE external_id = 'wamid.B0')").execute(&app.pool).await.unwrap();
    let account = channels::find_by_phone_number_id(&app.pool, PHONE_NUMBER_ID).await.unwrap().unwrap();
    let msg = |phone: &str, id: &str, body: &str| InboundMessage {
        external_id: id.into(),
        phone: Some(format!("+{phone}")),
        bsuid: None,
        profile_name: None,
        wa_type: "text".into(),
        body: body.into(),
        media_id: None,
        mime_type: None,
        caption: None,
        filename: None,
        context_external_id: None,
        details: json!({"n": id}),
        content: None,
    };
    let messages = [
        msg("5491100000031", "wamid.B2", "uno"),   // stored, reopens
        msg("5491100000032", "wamid.B3", "dos"),   // stored
        msg("5491100000031", "wamid.B2", "uno"),   // the same id again in the batch: duplicate
        msg("5491100000039", "wamid.B4", "nuevo"), // unknown sender: handed back, nothing written
        msg("5491100000032", "wamid.B1", "hola"),  // stored before: duplicate
    ];
    // Webhooks of several messages too: one whose senders are all known (one of them twice), and
    // one with an unknown sender, of which nothing is written.
    let whole = [msg("5491100000032", "wamid.B5", "tres"), msg("5491100000031", "wamid.B6", "cuatro")];
    let mixed = [msg("5491100000031", "wamid.B7", "cinco"), msg("5491100000038", "wamid.B8", "otro nuevo")];
    let mut jobs: Vec<KnownJob> =
        messages.iter().map(|m| KnownJob { account: &account, messages: std::slice::from_ref(m) }).collect();
    jobs.push(KnownJob { account: &account, messages: &whole });
    jobs.push(KnownJob { account: &account, messages: &mixed });
    let out = store_known_batch(&app.pool, &jobs).await.unwrap();
    let summary: Vec<Option<(u32, u32)>> =
        out.iter().map(|r| r.as_ref().map(|r| (r.messages_stored, r.messages_duplicate))).collect();
    assert_eq!(summary, vec![Some((1, 0)), Some((1, 0)), Some((0, 1)), None, Some((0, 1)), Some((2, 0)), None]);
    let ids: Vec<&str> = out[5].as_ref().unwrap().stored.iter().map(|s| s.body.as_str()).collect();
    assert_eq!(ids, ["tres", "cuatro"], "in payload order");
    assert_eq!(count(&app, "SELECT count(*) FROM messages WHERE external_id IN ('wamid.B7', 'wamid.B8')").await, 0);
    let first = out[0].as_ref().unwrap().stored[0].clone();
    let (id, conversation, body, _) = message_by_wamid(&app, "wamid.B2").await;
    assert_eq!((first.message_id, first.conversation_id, body.as_str()), (id, conversation, "uno"));
    assert_eq!(count(&app, "SELECT count(*) FROM messages WHERE external_id IN ('wamid.B2', 'wamid.B3')").await, 2);
    assert_eq!(count(&app, "SELECT count(*) FROM messages WHERE external_id = 'wamid.B4'").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM prospects WHERE phone = '+5491100000039'").await, 0);
    let details: Value = sqlx::query_scalar("SELECT details FROM whatsapp_messages WHERE message_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(details, json!({"n": "wamid.B2"}));
    assert_eq!(count(&app, "SELECT count(*) FROM whatsapp_messages").await, 6, "details once per stored message");
    assert_eq!(count(&app, "SELECT count(*) FROM conversations WHERE status = 'closed'").await, 0, "reopened");
}

/// Many single-message webhooks at once (batched by the server): every one is answered as if
/// stored alone, and one that fails in the database fails alone, not its batch.
#[tokio::test]
async fn concurrent_webhooks_are_batched_and_a_failing_one_fails_alone() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let senders: Vec<String> = (0..20).map(|i| format!("54911000004{i:02}")).collect();
    for (i, wa) in senders.iter().enumerate() {
        assert_eq!(deliver(&app, &text_message(wa, "Lote", &format!("wamid.C{i}"), "hola")).await.0, StatusCode::OK);
    }
    // A database failure for one message (as a trigger can inject).
    sqlx::raw_sql(
        "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.body = 'boom' THEN RAISE EXCEPTION 'refused by test'; END IF; RETURN NEW; END $$;
         CREATE TRIGGER refuse_boom BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_boom();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let mut payloads = Vec::new();
    for round in 0..10 {
        for (i, wa) in senders.iter().enumerate() {
            let body = if round == 5 && i == 7 { "boom".to_owned() } else { format!("r{round} m{i}") };
            payloads.push(text_message(wa, "Lote", &format!("wamid.C{round}-{i}"), &body));
        }
    }
    // Every message twice, concurrently: redeliveries meet in batches too.
    let all: Vec<&Value> = payloads.iter().chain(payloads.iter()).collect();
    let results = futures_util::future::join_all(all.iter().map(|p| deliver(&app, p))).await;
    let mut stored = 0;
    let mut failed = 0;
    for (p, (status, r)) in all.iter().zip(&results) {
        let boom = p.to_string().contains("\"boom\"");
        if boom {
            assert_eq!(*status, StatusCode::INTERNAL_SERVER_ERROR, "{r}");
            failed += 1;
        } else {
            assert_eq!(*status, StatusCode::OK, "{r}");
            stored += r["messages_stored"].as_i64().unwrap();
        }
    }
    assert_eq!((stored, failed), (199, 2), "each message stored once; the failing one failed both times");
    assert_eq!(count(&app, "SELECT count(*) FROM messages WHERE external_id LIKE 'wamid.C%-%'").await, 199);
    assert_eq!(count(&app, "SELECT count(*) FROM whatsapp_messages").await, 219);
}

#[tokio::test]
async fn a_webhook_delivered_five_times_stores_one_message() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.ven).await;
    let payload = text_message("5491100000002", "Rodrigo", "wamid.DUP", "¿Precio?");
    let mut stored = 0;
    for _ in 0..5 {
        let (status, receipt) = deliver(&app, &payload).await;
        assert_eq!(status, StatusCode::OK, "{receipt}");
        stored += receipt["messages_stored"].as_i64().unwrap();
    }
    assert_eq!(stored, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM messages WHERE external_id = 'wamid.DUP'").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM prospects WHERE phone = '+5491100000002'").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM assignment_history").await, 1, "one prospect created, once");
    assert_eq!(count(&app, "SELECT count(*) FROM whatsapp_messages").await, 1);

    // Concurrent redeliveries of a new message are stored once as well.
    let payload = text_message("5491100000003", "Julia", "wamid.CONC", "hola");
    let results = futures_util::future::join_all((0..5).map(|_| deliver(&app, &payload))).await;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM messages WHERE external_id = 'wamid.CONC'").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM prospects WHERE phone = '+5491100000003'").await, 1);
}

/// An outbound message with a WhatsApp id, as the (future) sender leaves it.
async fn outbound(app: &TestApp, w: &World, wamid: &str) -> i64 {
    let (_, conv, _, _) = {
        let (status, _) = deliver(app, &text_message("5491100000009", "Tomás", &format!("{wamid}.in"), "hola")).await;
        assert_eq!(status, StatusCode::OK);
        message_by_wamid(app, &format!("{wamid}.in")).await
    };
    let sent =
        app.post(&format!("/api/v1/conversations/{conv}/messages"), w.token(w.admin), json!({"body": "¡Hola!"})).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{:?}", sent.body);
    let id = sent.body["message_id"].as_i64().unwrap();
    sqlx::query("UPDATE messages SET external_id = $2, status = 'sent' WHERE tenant_id = $1 AND message_id = $3")
        .bind(w.tenant.0)
        .bind(wamid)
        .bind(id)
        .execute(&app.pool)
        .await
        .unwrap();
    id
}

async fn status_of(app: &TestApp, message: i64) -> String {
    sqlx::query_scalar("SELECT status FROM messages WHERE message_id = $1")
        .bind(message)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn statuses_are_monotonic_and_failures_keep_their_reason() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let m = outbound(&app, &w, "wamid.OUT1").await;

    let (status, r) = deliver(&app, &status_update("wamid.OUT1", "read", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["statuses_applied"], 1);
    assert_eq!(status_of(&app, m).await, "read");
    let (_, r) = deliver(&app, &status_update("wamid.OUT1", "delivered", None)).await;
    assert_eq!(r["statuses_stale"], 1);
    assert_eq!(status_of(&app, m).await, "read", "a late delivered never overwrites read");
    let errors = json!([{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                          "error_data": {"details": "More than 24 hours have passed"}}]);
    let (_, r) = deliver(&app, &status_update("wamid.OUT1", "failed", Some(errors.clone()))).await;
    assert_eq!(r["statuses_stale"], 1);
    assert_eq!(status_of(&app, m).await, "read", "failed after read is ignored");
    // Redelivered statuses are recorded once.
    deliver(&app, &status_update("wamid.OUT1", "read", None)).await;
    let rows: Vec<(String, bool)> =
        sqlx::query_as("SELECT status, applied FROM message_statuses WHERE message_id = $1 ORDER BY status")
            .bind(m)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows, vec![("delivered".to_owned(), false), ("failed".to_owned(), false), ("read".to_owned(), true)]);

    // A failure before delivery is applied, with its reason.
    let m2 = outbound(&app, &w, "wamid.OUT2").await;
    let (_, r) = deliver(&app, &status_update("wamid.OUT2", "failed", Some(errors))).await;
    assert_eq!(r["statuses_applied"], 1);
    assert_eq!(status_of(&app, m2).await, "failed");
    let (code, title, detail): (Option<i32>, Option<String>, Option<String>) = sqlx::query_as(
        "SELECT error_code, error_title, error_detail FROM message_statuses WHERE message_id = $1 AND status = 'failed'",
    )
    .bind(m2)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(code, Some(131047));
    assert_eq!(title.as_deref(), Some("Re-engagement message"));
    assert_eq!(detail.as_deref(), Some("More than 24 hours have passed"));
    let (_, r) = deliver(&app, &status_update("wamid.OUT2", "delivered", None)).await;
    assert_eq!(r["statuses_stale"], 1);
    assert_eq!(status_of(&app, m2).await, "failed");

    // A status of a message Platica never sent is counted, not stored.
    let (status, r) = deliver(&app, &status_update("wamid.NOBODY", "read", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["statuses_unknown"], 1);
}

#[tokio::test]
async fn new_numbers_create_prospects_assigned_round_robin_to_operational_executives() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.ven).await;
    assert!(w.exec_ana.0 < w.exec_luis.0 && w.exec_luis.0 < w.exec_sofia.0);

    let mut assigned = Vec::new();
    for i in 1..=4 {
        let wa_id = format!("54911000001{i:02}");
        let (status, r) =
            deliver(&app, &text_message(&wa_id, &format!("Cliente {i}"), &format!("wamid.RR{i}"), "Hola")).await;
        assert_eq!(status, StatusCode::OK, "{r}");
        assert_eq!(r["prospects_created"], 1);
        let (name, team, exec): (String, i64, Option<i64>) =
            sqlx::query_as("SELECT name, team_id, executive_id FROM prospects WHERE phone = $1")
                .bind(format!("+{wa_id}"))
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!(name, format!("Cliente {i}"), "the name comes from the contact's profile");
        assert_eq!(team, w.ven.0, "the channel's default team");
        assigned.push(exec.unwrap());
    }
    // Sofía is not operational: never picked.
    assert_eq!(assigned, vec![w.exec_ana.0, w.exec_luis.0, w.exec_ana.0, w.exec_luis.0]);
    let history =
        count(&app, "SELECT count(*) FROM assignment_history WHERE kind = 'single' AND actor_user_id IS NULL").await;
    assert_eq!(history, 4);

    // The new conversation is in the assigned executive's inbox.
    app.sync().await;
    let (_, conv, _, _) = message_by_wamid(&app, "wamid.RR1").await;
    let inbox = app.get("/api/v1/inbox", w.token(w.exec_ana)).await;
    assert_eq!(inbox.status, StatusCode::OK, "{:?}", inbox.body);
    let items = inbox.body["items"].as_array().unwrap();
    let row = items.iter().find(|r| r["conversation_id"] == conv).expect("Ana sees the new conversation");
    assert_eq!(row["last_message_preview"], "Hola");
    assert_eq!(row["prospect_phone"], "+5491100000101");
    assert_eq!(row["unread_count"], 1);
    let luis = app.get("/api/v1/inbox", w.token(w.exec_luis)).await;
    assert!(luis.body["items"].as_array().unwrap().iter().all(|r| r["conversation_id"] != conv));

    // A message from a known number goes to its conversation; no new prospect.
    let (_, r) = deliver(&app, &text_message("5491100000101", "Cliente 1", "wamid.RR1b", "¿Sigue?")).await;
    assert_eq!(r["prospects_created"], 0);
    let (_, conv2, _, _) = message_by_wamid(&app, "wamid.RR1b").await;
    assert_eq!(conv2, conv);

    // With no operational executive left, a new prospect stays unassigned in the team.
    sqlx::query("UPDATE users SET operational = false WHERE role = 'executive'").execute(&app.pool).await.unwrap();
    deliver(&app, &text_message("5491100000199", "Nadie", "wamid.RR9", "hola")).await;
    let exec: Option<i64> = sqlx::query_scalar("SELECT executive_id FROM prospects WHERE phone = '+5491100000199'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(exec, None);
}

#[tokio::test]
async fn media_and_interactive_messages_become_typed_placeholders() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let from = "5491100000201";
    let payload = notification(
        PHONE_NUMBER_ID,
        json!({"contacts": [{"profile": {"name": "Ines"}, "wa_id": from}],
        "messages": [
          {"from": from, "id": "wamid.IMG", "timestamp": "1", "type": "image",
           "image": {"id": "1479537139650973", "mime_type": "image/jpeg", "sha256": "abc", "caption": "la fachada"}},
          {"from": from, "id": "wamid.DOC", "timestamp": "2", "type": "document",
           "document": {"id": "MEDIA-DOC", "mime_type": "application/pdf", "filename": "cotizacion.pdf"}},
          {"from": from, "id": "wamid.BTN", "timestamp": "3", "type": "interactive",
           "context": {"from": "15550001111", "id": "wamid.OUTX"},
           "interactive": {"type": "button_reply", "button_reply": {"id": "yes-1", "title": "Sí, me interesa"}}},
          {"from": from, "id": "wamid.LOC", "timestamp": "4", "type": "location",
           "location": {"latitude": 19.43, "longitude": -99.13, "name": "Oficina"}},
          {"from": from, "id": "wamid.TXT", "timestamp": "5", "type": "text", "context": {"id": "wamid.IMG"},
           "text": {"body": "¿Les llegó?"}},
          {"from": from, "id": "wamid.UNS", "timestamp": "6", "type": "unsupported",
           "errors": [{"code": 131051, "title": "Message type unknown"}]}
        ]}),
    );
    let (status, r) = deliver(&app, &payload).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["messages_stored"], 6);
    let expect = [
        ("wamid.IMG", "[image] la fachada", Some("1479537139650973"), None),
        ("wamid.DOC", "[document] cotizacion.pdf", Some("MEDIA-DOC"), None),
        ("wamid.BTN", "[interactive] Sí, me interesa", None, Some("wamid.OUTX")),
        ("wamid.LOC", "[location] Oficina (19.43, -99.13)", None, None),
        ("wamid.TXT", "¿Les llegó?", None, Some("wamid.IMG")),
        ("wamid.UNS", "[unsupported]", None, None),
    ];
    for (wamid, body, media, context) in expect {
        let (id, _, text, _) = message_by_wamid(&app, wamid).await;
        assert_eq!(text, body, "{wamid}");
        let (m, c): (Option<String>, Option<String>) =
            sqlx::query_as("SELECT media_id, context_external_id FROM whatsapp_messages WHERE message_id = $1")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        assert_eq!((m.as_deref(), c.as_deref()), (media, context), "{wamid}");
    }
    let (mime, caption, wa_type): (Option<String>, Option<String>, String) = sqlx::query_as(
        "SELECT mime_type, caption, wa_type FROM whatsapp_messages w JOIN messages m USING (tenant_id, message_id)
         WHERE m.external_id = 'wamid.IMG'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        (mime.as_deref(), caption.as_deref(), wa_type.as_str()),
        (Some("image/jpeg"), Some("la fachada"), "image")
    );
}

#[tokio::test]
async fn garbage_with_a_valid_signature_is_logged_and_answered_200() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    let account = channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let domain_before = app.snapshot_all().await;

    // The unknown phone number id: signed by the same app, for a number no account has.
    let unknown = notification(
        "999999999",
        json!({"messages": [{"from": "5491100000301", "id": "wamid.UNK", "type": "text", "text": {"body": "hola"}}]}),
    );
    // A known number with an item that cannot be used.
    let bad_item = notification(
        PHONE_NUMBER_ID,
        json!({"messages": [{"from": "not-a-number", "id": "wamid.BAD", "type": "text", "text": {"body": "x"}}]}),
    );
    // PostgreSQL cannot store a NUL character (it used to fail the transaction: a 500, retried forever).
    let nul = text_message("5491100000302", "Nul", "wamid.NUL", "ho\u{0}la");
    let mut cases: Vec<(Vec<u8>, &str)> = vec![
        (serde_json::to_vec(&nul).unwrap(), "invalid_message"),
        (b"{\"object\": \"whatsapp_business_acc".to_vec(), "malformed_json"),
        (br#"{"object": "page", "entry": []}"#.to_vec(), "unknown_object"),
        (br#"[1, 2, 3]"#.to_vec(), "unknown_payload"),
        (serde_json::to_vec(&unknown).unwrap(), "unknown_phone_number_id"),
        (serde_json::to_vec(&bad_item).unwrap(), "invalid_message"),
    ];
    let other_field = json!({"object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {"metadata": {"phone_number_id": PHONE_NUMBER_ID}}}]}]});
    cases.push((serde_json::to_vec(&other_field).unwrap(), "unknown_field"));

    for (body, kind) in &cases {
        let (status, r) = deliver_raw(&app, body, Some(&sign(APP_SECRET, body))).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {r}");
        assert!(r["ignored"].as_i64().unwrap() >= 1, "{kind}: {r}");
        let (logged_kind, outcome, payload, acct): (String, String, Vec<u8>, Option<i64>) = sqlx::query_as(
            "SELECT kind, outcome, payload, channel_account_id FROM webhook_events
             WHERE tenant_id = $1 ORDER BY webhook_event_id DESC LIMIT 1",
        )
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!((logged_kind.as_str(), outcome.as_str()), (*kind, "ignored"));
        assert_eq!(&payload, body);
        assert_eq!(acct, Some(account));
    }
    assert_eq!(app.snapshot_all().await, domain_before, "no domain rows from garbage");
    assert_eq!(count(&app, "SELECT count(*) FROM whatsapp_messages").await, 0);

    // A payload with one good and one bad message: the good one is stored, the rest logged.
    let mixed = notification(
        PHONE_NUMBER_ID,
        json!({"messages": [
            {"from": "5491100000302", "id": "wamid.GOOD", "type": "text", "text": {"body": "bien"}},
            {"from": "5491100000302", "id": "wamid.NOTEXT", "type": "text"}]}),
    );
    let (status, r) = deliver(&app, &mixed).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["messages_stored"].as_i64(), r["ignored"].as_i64()), (Some(1), Some(1)));
    let (kind, outcome): (String, String) =
        sqlx::query_as("SELECT kind, outcome FROM webhook_events ORDER BY webhook_event_id DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((kind.as_str(), outcome.as_str()), ("invalid_message", "partial"));

    // A large payload is logged bounded (64 KiB), and still answered 200.
    let big = format!("{{\"object\": \"page\", \"pad\": \"{}\"}}", "x".repeat(200_000));
    let (status, _) = deliver_raw(&app, big.as_bytes(), Some(&sign(APP_SECRET, big.as_bytes()))).await;
    assert_eq!(status, StatusCode::OK);
    let (len, truncated): (i32, bool) = sqlx::query_as(
        "SELECT length(payload), payload_truncated FROM webhook_events ORDER BY webhook_event_id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((len, truncated), (65536, true));

    // Beyond the 1 MiB body limit: 413 in the API's error shape.
    let huge = vec![b' '; 1024 * 1024 + 1];
    let (status, err) = deliver_raw(&app, &huge, Some(&sign(APP_SECRET, &huge))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{err}");
    assert_eq!(err["error"]["code"], "payload_too_large");
}

#[tokio::test]
async fn channel_accounts_are_admin_only_tenant_scoped_and_never_reveal_secrets() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    let other = world(&app, "globex", 0).await;
    let admin = w.token(w.admin);
    let id = channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;

    let secret_free = |v: &Value| {
        let text = v.to_string();
        for s in [
            APP_SECRET,
            VERIFY_TOKEN,
            ACCESS_TOKEN,
            "ciphertext",
            "nonce",
            "app_secret",
            "access_token",
            "verify_token",
        ] {
            assert!(!text.contains(s), "{s} leaked in {text}");
        }
    };
    let list = app.get("/api/v1/channels", admin).await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    secret_free(&list.body);
    let one = app.get(&format!("/api/v1/channels/{id}"), admin).await;
    assert_eq!(one.body["phone_number_id"], PHONE_NUMBER_ID);
    assert_eq!(one.body["kind"], "cloud");
    assert_eq!(one.body["default_team_id"], w.boom.0);
    secret_free(&one.body);

    // Stored encrypted: no plaintext anywhere in the row.
    let row = app.snapshot("channel_accounts").await;
    secret_free(&json!(
        row.iter()
            .map(|r| {
                let mut r = r.clone();
                for k in [
                    "app_secret_ciphertext",
                    "app_secret_nonce",
                    "verify_token_ciphertext",
                    "verify_token_nonce",
                    "access_token_ciphertext",
                    "access_token_nonce",
                ] {
                    let bytes = r[k].as_str().unwrap().to_owned();
                    assert!(!bytes.contains(&hex_of(APP_SECRET)) && !bytes.contains(&hex_of(ACCESS_TOKEN)));
                    r.as_object_mut().unwrap().remove(k);
                }
                r
            })
            .collect::<Vec<_>>()
    ));
    assert_eq!(
        platica_store::whatsapp::channels::access_token(&app.pool, &SecretKey::from_bytes([42; 32]), w.tenant, id)
            .await
            .unwrap(),
        ACCESS_TOKEN
    );
    assert!(
        platica_store::whatsapp::channels::access_token(&app.pool, &SecretKey::from_bytes([1; 32]), w.tenant, id)
            .await
            .is_err(),
        "another key cannot open it"
    );

    // Updating a secret: the old one stops verifying webhooks, the new one works; never returned.
    let upd = app
        .patch(
            &format!("/api/v1/channels/{id}"),
            admin,
            json!({"app_secret": "new-secret", "display_name": "Ventas MX"}),
        )
        .await;
    assert_eq!(upd.status, StatusCode::OK, "{:?}", upd.body);
    assert_eq!(upd.body["display_name"], "Ventas MX");
    secret_free(&upd.body);
    let body = serde_json::to_vec(&text_message("5491100000401", "A", "wamid.ROT", "x")).unwrap();
    assert_eq!(deliver_raw(&app, &body, Some(&sign(APP_SECRET, &body))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(deliver_raw(&app, &body, Some(&sign("new-secret", &body))).await.0, StatusCode::OK);

    // Non-admins: 403, whatever they ask.
    for user in [w.coord_boom, w.exec_ana] {
        let t = w.token(user);
        assert_eq!(app.get("/api/v1/channels", t).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get(&format!("/api/v1/channels/{id}"), t).await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            app.patch(&format!("/api/v1/channels/{id}"), t, json!({"display_name": "x"})).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(app.delete(&format!("/api/v1/channels/{id}"), t).await.status, StatusCode::FORBIDDEN);
    }
    // Another tenant's admin: 404, as if it did not exist; its own list is empty.
    let o = other.token(other.admin);
    assert_eq!(app.get(&format!("/api/v1/channels/{id}"), o).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.patch(&format!("/api/v1/channels/{id}"), o, json!({"display_name": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.delete(&format!("/api/v1/channels/{id}"), o).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/channels", o).await.body, json!([]));
    // Nor can it use its own team ids across tenants, or take the number.
    let dup = app
        .post(
            "/api/v1/channels",
            o,
            json!({"display_name": "X", "phone_number_id": PHONE_NUMBER_ID, "app_secret": "a",
            "verify_token": "b", "access_token": "c", "default_team_id": other.boom.0}),
        )
        .await;
    assert_eq!((dup.status, dup.body["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("phone_number_id")));
    let foreign_team = app
        .post(
            "/api/v1/channels",
            o,
            json!({"display_name": "X", "phone_number_id": "555", "app_secret": "a",
            "verify_token": "b", "access_token": "c", "default_team_id": w.boom.0}),
        )
        .await;
    assert_eq!(
        (foreign_team.status, foreign_team.body["error"]["field"].as_str()),
        (StatusCode::NOT_FOUND, Some("default_team_id"))
    );

    // Validation: clear 4xx naming the field.
    for (body, field) in [
        (
            json!({"display_name": "X", "phone_number_id": "12ab", "app_secret": "a", "verify_token": "b", "access_token": "c", "default_team_id": w.boom.0}),
            "phone_number_id",
        ),
        (
            json!({"display_name": "X", "phone_number_id": "1", "app_secret": " ", "verify_token": "b", "access_token": "c", "default_team_id": w.boom.0}),
            "app_secret",
        ),
        (
            json!({"display_name": "X", "phone_number_id": "1", "app_secret": "a", "verify_token": "b c", "access_token": "c", "default_team_id": w.boom.0}),
            "verify_token",
        ),
        (
            json!({"kind": "telegram", "display_name": "X", "phone_number_id": "1", "app_secret": "a", "verify_token": "b", "access_token": "c", "default_team_id": w.boom.0}),
            "kind",
        ),
        (
            json!({"display_name": "", "phone_number_id": "1", "app_secret": "a", "verify_token": "b", "access_token": "c", "default_team_id": w.boom.0}),
            "display_name",
        ),
        (
            json!({"display_name": "X", "phone_number_id": "1", "app_secret": "a", "verify_token": "b", "access_token": "c", "default_team_id": w.boom.0, "extra": 1}),
            "extra",
        ),
        (
            json!({"display_name": "X", "phone_number_id": "1", "app_secret": "a", "verify_token": "b", "access_token": "c"}),
            "default_team_id",
        ),
    ] {
        let r = app.post("/api/v1/channels", admin, body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{field}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{:?}", r.body);
    }
    assert_eq!(app.get("/api/v1/channels/0", admin).await.status, StatusCode::BAD_REQUEST);

    let del = app.delete(&format!("/api/v1/channels/{id}"), admin).await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(app.get(&format!("/api/v1/channels/{id}"), admin).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/v1/channels", admin).await.body, json!([]));
}

/// How PostgreSQL's JSON shows bytea: `\x<hex>`.
fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn concurrent_new_numbers_share_the_round_robin_fairly() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let payloads: Vec<Value> = (1..=8)
        .map(|i| text_message(&format!("54911000005{i:02}"), &format!("C{i}"), &format!("wamid.CC{i}"), "hola"))
        .collect();
    let results = futures_util::future::join_all(payloads.iter().map(|p| deliver(&app, p))).await;
    for (status, body) in &results {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let per_exec: Vec<(Option<i64>, i64)> = sqlx::query_as(
        "SELECT executive_id, count(*) FROM prospects WHERE phone LIKE '+54911000005%' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(per_exec, vec![(Some(w.exec_ana.0), 4), (Some(w.exec_luis.0), 4)], "the cursor is taken under a lock");
    let cursor: Option<i64> =
        sqlx::query_scalar("SELECT last_assigned_user_id FROM channel_accounts").fetch_one(&app.pool).await.unwrap();
    assert_eq!(cursor, Some(w.exec_luis.0));
}

#[tokio::test]
async fn a_tenant_cannot_sign_webhooks_for_another_tenants_number() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    let g = world(&app, "globex", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let theirs = app
        .post(
            "/api/v1/channels",
            g.token(g.admin),
            json!({"display_name": "Globex", "phone_number_id": "777000111", "app_secret": "globex-secret",
                   "verify_token": "globex-verify", "access_token": "globex-access", "default_team_id": g.boom.0}),
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED, "{:?}", theirs.body);

    let before = everything(&app).await;
    // Globex's secret, Acme's number: refused, nothing stored anywhere.
    let body = serde_json::to_vec(&text_message("5491100000601", "Intruso", "wamid.X1", "hola")).unwrap();
    let (status, _) = deliver_raw(&app, &body, Some(&sign("globex-secret", &body))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Both numbers in one payload signed by Globex: only Globex's part is stored; Acme's is logged in
    // Globex's tenant, never written to Acme's.
    let mut both = text_message("5491100000602", "Mixto", "wamid.X2", "hola");
    let mut globex_change = both["entry"][0]["changes"][0].clone();
    globex_change["value"]["metadata"]["phone_number_id"] = json!("777000111");
    globex_change["value"]["messages"][0]["id"] = json!("wamid.X3");
    both["entry"][0]["changes"].as_array_mut().unwrap().push(globex_change);
    let body = serde_json::to_vec(&both).unwrap();
    let (status, r) = deliver_raw(&app, &body, Some(&sign("globex-secret", &body))).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((r["messages_stored"].as_i64(), r["ignored"].as_i64()), (Some(1), Some(1)));
    let stored: Vec<(i64, String)> =
        sqlx::query_as("SELECT tenant_id, external_id FROM messages WHERE external_id LIKE 'wamid.X%'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(stored, vec![(g.tenant.0, "wamid.X3".to_owned())]);
    let after = everything(&app).await;
    for t in ["prospects", "conversations", "messages"] {
        let acme =
            |rows: &Vec<Value>| rows.iter().filter(|r| r["tenant_id"] == w.tenant.0).cloned().collect::<Vec<_>>();
        assert_eq!(acme(&after[t]), acme(&before[t]), "{t} of acme unchanged");
    }
    let logged: (i64, String) =
        sqlx::query_as("SELECT tenant_id, kind FROM webhook_events").fetch_one(&app.pool).await.unwrap();
    assert_eq!(logged, (g.tenant.0, "unverified_phone_number_id".to_owned()));
}

/// Webhooks naming no known number are rejected cheaply: their signature is checked against keyed
/// checks built once per few seconds (not every tenant's secrets decrypted per request: about one
/// query per webhook, the number's lookup), at a bounded rate (429 with Retry-After beyond it);
/// a known number's webhooks are unaffected meanwhile.
#[tokio::test]
async fn webhooks_for_unknown_numbers_are_rejected_cheaply() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let n = 3 * platica_http::webhook_accounts::WebhookAccounts::UNKNOWN_PER_SECOND as usize;
    let before = app.queries.load(std::sync::atomic::Ordering::SeqCst);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..n {
        let body = serde_json::to_vec(&notification(
            &format!("9{i:08}"),
            json!({"messages": [{"from": "5491100000401", "id": format!("wamid.U{i}"), "type": "text", "text": {"body": "x"}}]}),
        ))
        .unwrap();
        let (status, r) = deliver_raw(&app, &body, Some(&sign("an attacker's secret", &body))).await;
        assert!(r["error"]["code"].is_string(), "a JSON error: {r}");
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
    }
    let queries = app.queries.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert!(statuses.get(&429).copied().unwrap_or(0) > 0, "beyond the rate: 429 ({statuses:?})");
    assert!(statuses.get(&401).copied().unwrap_or(0) > 0, "within it: checked, then 401 ({statuses:?})");
    assert!(queries <= n as u64 + 3, "{queries} queries for {n} webhooks: the accounts' secrets were read per request");
    // A known number still works meanwhile.
    let good = text_message("5491100000402", "Ok", "wamid.OK1", "hola");
    let (status, r) = deliver(&app, &good).await;
    assert_eq!(status, StatusCode::OK, "{r}");
}

/// Found by the fuzz harness (`webhook_fuzz.rs`): a NUL character in a webhook-level error, in an
/// unsupported message's error or in a template review failed the whole webhook with a 500 (which
/// the Cloud API retries forever). Now those parts are logged problems (a message holding one is
/// refused whole, as before); the rest is stored.
#[tokio::test]
async fn nul_characters_in_errors_and_template_reviews_are_logged_not_a_500() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, PHONE_NUMBER_ID, w.boom).await;
    let mut v = notification(
        PHONE_NUMBER_ID,
        json!({"contacts": [{"profile": {"name": "Ana"}, "wa_id": "5215512345678"}],
               "errors": [{"code": 130429, "title": "Rate limit hit\u{0}"}, {"code": 4, "title": "Too many calls"}],
               "messages": [{"from": "5215512345678", "id": "wamid.NUL1", "timestamp": "1732520000",
                             "type": "unsupported",
                             "errors": [{"code": 131051, "title": "Message type unknown\u{0}"}]}]}),
    );
    v["entry"][0]["changes"].as_array_mut().unwrap().push(json!({"field": "message_template_status_update",
        "value": {"event": "APPROVED", "message_template_id": 1, "message_template_name": "promo\u{0}",
                  "message_template_language": "es_MX"}}));
    let (status, body) = deliver(&app, &v).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((&body["messages_stored"], &body["ignored"]), (&json!(0), &json!(3)), "{body}");
    let codes: Vec<Option<i32>> = sqlx::query_scalar("SELECT code FROM channel_events ORDER BY channel_event_id")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(codes, [Some(4)]);
    assert_eq!(count(&app, "SELECT count(*) FROM webhook_events WHERE kind = 'invalid_change'").await, 1);
}
