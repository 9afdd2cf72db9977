//! WhatsApp Cloud API, inbound: every kind of message kept, linked the way WhatsApp links it —
//! reactions on the message they react to (not new messages, no unread), replies linked to the
//! quoted message, orders, flow replies, locations and contacts with their structure, unknown
//! types with their raw payload, a number change continuing the one conversation, the `played`
//! status and numeric timestamps. Real signed webhooks over HTTP against the spawned app.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use platica_domain::TeamId;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, World, Ws, world};

const APP_SECRET: &str = "0123456789abcdef0123456789abcdef";
const PHONE_NUMBER_ID: &str = "106540352242922";
const ANA: &str = "5491100000777";

async fn spawn() -> TestApp {
    support::install_test_key();
    TestApp::spawn().await
}

async fn channel(app: &TestApp, w: &World, team: TeamId) {
    let r = app
        .post(
            "/api/v1/channels",
            w.token(w.admin),
            json!({"display_name": "Ventas", "phone_number_id": PHONE_NUMBER_ID, "app_secret": APP_SECRET,
                   "verify_token": "verify-me-kinds-42", "access_token": "EAAG-kinds", "default_team_id": team.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

async fn deliver(app: &TestApp, payload: &Value) -> Value {
    let (status, receipt) = app.whatsapp_webhook(APP_SECRET, payload).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    receipt
}

fn notification(value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
}

/// A notification of `messages` from `from` (each message gets `from` and a timestamp).
fn messages(from: &str, msgs: Vec<Value>) -> Value {
    let msgs: Vec<Value> = msgs
        .into_iter()
        .map(|mut m| {
            m["from"] = json!(from);
            if m.get("timestamp").is_none() {
                m["timestamp"] = json!("1732520000");
            }
            m
        })
        .collect();
    notification(json!({"contacts": [{"profile": {"name": "Ana"}, "wa_id": from}], "messages": msgs}))
}

fn text(id: &str, body: &str) -> Value {
    json!({"id": id, "type": "text", "text": {"body": body}})
}

async fn id_of(app: &TestApp, wamid: &str) -> (i64, i64) {
    sqlx::query_as("SELECT message_id, conversation_id FROM messages WHERE external_id = $1")
        .bind(wamid)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&app.pool).await.unwrap()
}

/// The conversation's messages as the API shows them, newest first.
async fn page(app: &TestApp, w: &World, conv: i64) -> Vec<Value> {
    let r = app.get(&format!("/api/v1/conversations/{conv}/messages"), w.token(w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["items"].as_array().unwrap().clone()
}

fn by_wamid<'a>(items: &'a [Value], wamid: &str) -> &'a Value {
    items.iter().find(|m| m["external_id"] == wamid).unwrap_or_else(|| panic!("{wamid} in {items:?}"))
}

/// The conversation's row in the admin's inbox.
async fn inbox_row(app: &TestApp, w: &World, conv: i64) -> Value {
    app.sync().await;
    let r = app.get("/api/v1/inbox", w.token(w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body["items"].as_array().unwrap().iter().find(|r| r["conversation_id"] == conv).unwrap().clone()
}

fn reaction(id: &str, target: &str, emoji: &str) -> Value {
    json!({"id": id, "type": "reaction", "reaction": {"message_id": target, "emoji": emoji}})
}

#[tokio::test]
async fn a_reaction_attaches_to_its_message_and_a_removal_clears_it() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, w.boom).await;
    deliver(&app, &messages(ANA, vec![text("wamid.K1", "Hola"), text("wamid.K2", "¿Precio?")])).await;
    let (k1, conv) = id_of(&app, "wamid.K1").await;
    let before = inbox_row(&app, &w, conv).await;
    assert_eq!(before["unread_count"], 2);

    let mut ws = Ws::connect(&app, w.token(w.admin)).await;
    ws.subscribe("c", &format!("conversation:{conv}"), json!({})).await;

    let r = deliver(&app, &messages(ANA, vec![reaction("wamid.R1", "wamid.K1", "👍")])).await;
    assert_eq!((r["messages_stored"].as_i64(), r["reactions_applied"].as_i64()), (Some(0), Some(1)), "{r}");
    assert_eq!(count(&app, "SELECT count(*) FROM messages").await, 2, "a reaction is not a message");
    let items = page(&app, &w, conv).await;
    assert_eq!(items.len(), 2);
    assert_eq!(by_wamid(&items, "wamid.K1")["reaction"], "👍");
    assert_eq!(by_wamid(&items, "wamid.K2")["reaction"], Value::Null);
    let after = inbox_row(&app, &w, conv).await;
    assert_eq!(after["unread_count"], 2, "no unread increase");
    assert_eq!(after["last_message_preview"], before["last_message_preview"], "the preview stays");
    assert!(!after["last_message_preview"].as_str().unwrap().contains("[reaction]"));

    // The WebSocket gets it as the message's update.
    let events = ws.events(Duration::from_millis(1500)).await;
    let update = events
        .iter()
        .find(|(t, op, row)| t == "messages" && op == "update" && row["message_id"] == k1)
        .unwrap_or_else(|| panic!("an update of the message: {events:?}"));
    assert_eq!(update.2["reaction"], "👍");
    assert!(events.iter().all(|(t, op, _)| !(t == "messages" && op == "insert")), "{events:?}");

    // Redelivered: nothing changes. Removed (empty emoji): cleared.
    deliver(&app, &messages(ANA, vec![reaction("wamid.R1", "wamid.K1", "👍")])).await;
    let r = deliver(&app, &messages(ANA, vec![reaction("wamid.R2", "wamid.K1", "")])).await;
    assert_eq!(r["reactions_applied"], 1, "{r}");
    assert_eq!(by_wamid(&page(&app, &w, conv).await, "wamid.K1")["reaction"], Value::Null);
    let events = ws.events(Duration::from_millis(1500)).await;
    assert!(
        events.iter().any(|(t, op, row)| t == "messages" && op == "update" && row["reaction"].is_null()),
        "{events:?}"
    );
    assert_eq!(inbox_row(&app, &w, conv).await["unread_count"], 2);

    // Another number cannot react to Ana's messages.
    deliver(&app, &messages("5491100000778", vec![text("wamid.B1", "hola")])).await;
    let r = deliver(&app, &messages("5491100000778", vec![reaction("wamid.R3", "wamid.K1", "😡")])).await;
    assert_eq!(r["reactions_applied"], 0, "{r}");
    assert_eq!(by_wamid(&page(&app, &w, conv).await, "wamid.K1")["reaction"], Value::Null);
}

#[tokio::test]
async fn a_reply_links_to_the_quoted_message() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, w.boom).await;
    deliver(&app, &messages(ANA, vec![text("wamid.Q1", "¿Tienen casas en Polanco?")])).await;
    let mut reply = text("wamid.Q2", "Esta de aquí");
    reply["context"] = json!({"from": ANA, "id": "wamid.Q1"});
    let mut orphan = text("wamid.Q3", "¿Y esta?");
    orphan["context"] = json!({"from": "15550001111", "id": "wamid.UNKNOWN"});
    deliver(&app, &messages(ANA, vec![reply, orphan])).await;
    let (q1, conv) = id_of(&app, "wamid.Q1").await;
    let items = page(&app, &w, conv).await;
    let q2 = by_wamid(&items, "wamid.Q2");
    assert_eq!(q2["reply_to_message_id"], q1);
    assert_eq!(q2["reply_to_external_id"], "wamid.Q1");
    assert_eq!(q2["body"], "Esta de aquí");
    let q3 = by_wamid(&items, "wamid.Q3");
    assert_eq!(q3["reply_to_message_id"], Value::Null, "not known here");
    assert_eq!(q3["reply_to_external_id"], "wamid.UNKNOWN", "but kept");
    assert_eq!(by_wamid(&items, "wamid.Q1")["reply_to_message_id"], Value::Null);
}

#[tokio::test]
async fn orders_flows_locations_and_contacts_keep_their_structure() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, w.boom).await;
    let flow_response = json!({"visit_date": "2026-12-10", "budget": "3-5M", "flow_token": "tok-1"});
    deliver(
        &app,
        &messages(
            ANA,
            vec![
                json!({"id": "wamid.ORD", "type": "order", "order": {"catalog_id": "CAT-1", "text": "Lo quiero",
                    "product_items": [
                        {"product_retailer_id": "casa-12", "quantity": 1, "item_price": 2500000, "currency": "MXN"},
                        {"product_retailer_id": "avaluo", "quantity": "2", "item_price": 1500.5, "currency": "MXN"}]}}),
                json!({"id": "wamid.FLOW", "type": "interactive", "interactive": {"type": "nfm_reply",
                    "nfm_reply": {"name": "flow", "body": "Sent", "response_json": flow_response.to_string()}}}),
                json!({"id": "wamid.LOC", "type": "location", "location": {"latitude": 19.43, "longitude": -99.13,
                    "name": "Oficina", "address": "Reforma 222"}}),
                json!({"id": "wamid.CON", "type": "contacts", "contacts": [{"name": {"formatted_name": "Luis Pérez",
                    "first_name": "Luis"}, "phones": [{"phone": "+52 55 1234 5678", "type": "CELL"}]}]}),
                json!({"id": "wamid.LIST", "type": "interactive", "interactive": {"type": "list_reply",
                    "list_reply": {"id": "row-2", "title": "Departamento", "description": "2 recámaras"}}}),
            ],
        ),
    )
    .await;
    let (_, conv) = id_of(&app, "wamid.ORD").await;
    let items = page(&app, &w, conv).await;

    let order = by_wamid(&items, "wamid.ORD");
    assert_eq!(order["wa_type"], "order");
    assert_eq!(order["body"], "[order] 2 item(s), 2503001.00 MXN");
    let c = &order["content"];
    assert_eq!(c["catalog_id"], "CAT-1");
    assert_eq!(c["items"][0]["product_retailer_id"], "casa-12");
    assert_eq!(c["items"][1]["quantity"], 2.0);
    assert_eq!(c["items"][1]["item_price"], 1500.5);
    assert_eq!(c["total"], json!({"amount": 2503001.0, "currency": "MXN"}));

    let flow = by_wamid(&items, "wamid.FLOW");
    assert_eq!(flow["content"]["type"], "nfm_reply");
    assert_eq!(flow["content"]["response"], flow_response, "the flow's response fields");

    let loc = by_wamid(&items, "wamid.LOC");
    assert_eq!(loc["content"]["latitude"], 19.43);
    assert_eq!(loc["content"]["address"], "Reforma 222");

    let con = by_wamid(&items, "wamid.CON");
    assert_eq!(con["content"]["contacts"][0]["phones"][0]["phone"], "+52 55 1234 5678");
    assert_eq!(con["body"], "[contacts] Luis Pérez");

    let list = by_wamid(&items, "wamid.LIST");
    assert_eq!(
        list["content"],
        json!({"type": "list_reply", "id": "row-2", "title": "Departamento",
                                        "description": "2 recámaras"})
    );
}

#[tokio::test]
async fn an_unknown_type_stays_visible_with_its_raw_payload() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, w.boom).await;
    let odd = json!({"id": "wamid.ODD", "type": "hologram", "hologram": {"shape": "cube", "spin": 3}});
    let r = deliver(&app, &messages(ANA, vec![odd])).await;
    assert_eq!(r["messages_stored"], 1, "{r}");
    let (_, conv) = id_of(&app, "wamid.ODD").await;
    let items = page(&app, &w, conv).await;
    let m = by_wamid(&items, "wamid.ODD");
    assert_eq!(m["body"], "[hologram]");
    assert_eq!(m["wa_type"], "hologram");
    assert_eq!(m["content"]["raw"]["hologram"], json!({"shape": "cube", "spin": 3}));
    assert_eq!(m["content"]["raw"]["from"], ANA);
    assert_eq!(inbox_row(&app, &w, conv).await["last_message_preview"], "[hologram]");
}

#[tokio::test]
async fn a_number_change_continues_the_one_conversation() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, w.boom).await;
    let new = "5491100000999";
    deliver(&app, &messages(ANA, vec![text("wamid.N1", "Hola")])).await;
    let (_, conv) = id_of(&app, "wamid.N1").await;
    let system = json!({"id": "wamid.SYS", "type": "system", "system": {
        "body": format!("User A changed from {ANA} to {new}"), "new_wa_id": new, "type": "user_changed_number"}});
    let r = deliver(&app, &messages(ANA, vec![system])).await;
    assert_eq!(r["numbers_changed"], 1, "{r}");
    let r = deliver(&app, &messages(new, vec![text("wamid.N2", "Ya tengo número nuevo")])).await;
    assert_eq!(r["prospects_created"], 0, "{r}");
    let (_, conv2) = id_of(&app, "wamid.N2").await;
    assert_eq!(conv2, conv, "one conversation continues");
    assert_eq!(
        count(&app, "SELECT count(*) FROM prospects WHERE phone LIKE '+54911000007%' OR phone LIKE '+54911000009%'")
            .await,
        1
    );
    let phone: String = sqlx::query_scalar(
        "SELECT p.phone FROM prospects p JOIN conversations c USING (tenant_id, prospect_id) WHERE c.conversation_id = $1",
    )
    .bind(conv)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(phone, format!("+{new}"));
    let items = page(&app, &w, conv).await;
    assert_eq!(items.len(), 3, "history kept: {items:?}");
    assert_eq!(by_wamid(&items, "wamid.SYS")["content"]["new_wa_id"], new);
    assert_eq!(inbox_row(&app, &w, conv).await["prospect_phone"], format!("+{new}"));
}

/// An outbound message with a WhatsApp id and status `sent`.
async fn outbound(app: &TestApp, w: &World, wamid: &str) -> i64 {
    deliver(app, &messages(ANA, vec![text(&format!("{wamid}.in"), "hola")])).await;
    let (_, conv) = id_of(app, &format!("{wamid}.in")).await;
    let sent =
        app.post(&format!("/api/v1/conversations/{conv}/messages"), w.token(w.admin), json!({"body": "Audio"})).await;
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

fn status(wamid: &str, status: &str, timestamp: Value) -> Value {
    notification(json!({"statuses": [{"id": wamid, "status": status, "timestamp": timestamp, "recipient_id": ANA}]}))
}

#[tokio::test]
async fn played_is_understood_and_numeric_timestamps_are_accepted() {
    let app = spawn().await;
    let w = world(&app, "acme", 0).await;
    channel(&app, &w, w.boom).await;
    let m = outbound(&app, &w, "wamid.VOICE").await;

    // A JSON number as timestamp.
    let r = deliver(&app, &status("wamid.VOICE", "read", json!(1732520100))).await;
    assert_eq!((r["statuses_applied"].as_i64(), r["ignored"].as_i64()), (Some(1), Some(0)), "{r}");
    let r = deliver(&app, &status("wamid.VOICE", "played", json!("1732520200"))).await;
    assert_eq!((r["statuses_applied"].as_i64(), r["ignored"].as_i64()), (Some(1), Some(0)), "{r}");
    assert_eq!(status_of(&app, m).await, "played");
    let r = deliver(&app, &status("wamid.VOICE", "read", json!(1732520300))).await;
    assert_eq!(r["statuses_stale"], 1, "read after played changes nothing: {r}");
    assert_eq!(status_of(&app, m).await, "played");
    let at: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT status, extract(epoch FROM occurred_at)::bigint FROM message_statuses WHERE message_id = $1 ORDER BY status",
    )
    .bind(m)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(at, vec![("played".to_owned(), Some(1732520200)), ("read".to_owned(), Some(1732520100))]);

    // A message whose timestamp is a JSON number is stored like any other.
    let mut numeric = text("wamid.NUM", "hora numérica");
    numeric["timestamp"] = json!(1732520400);
    let r = deliver(&app, &messages(ANA, vec![numeric])).await;
    assert_eq!((r["messages_stored"].as_i64(), r["ignored"].as_i64()), (Some(1), Some(0)), "{r}");
}
