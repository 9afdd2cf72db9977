//! Every failure explained (issue 17, part 3), end to end against the built-in simulator of the
//! Cloud API: a failed message carries `error {code, title, detail, retryable}` in the API and in
//! the WebSocket's row events; `POST /messages/{id}/retry` sends a retryable failure again and
//! refuses the rest; webhook-level `errors` land in the channel's event log, the metrics, the
//! admin endpoint and `/ready`.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use platica_simulator::SimHandle;
use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{SimChannel, TestApp, World, Ws, until, world};
use tokio::sync::watch;

const PNID: &str = support::SIM_PNID;
const SECRET: &str = support::SIM_SECRET;

struct Rig {
    app: TestApp,
    w: World,
    sim: SimHandle,
    account: i64,
    stop: watch::Sender<bool>,
}

impl Rig {
    async fn new() -> Rig {
        support::install_test_key();
        let app = TestApp::spawn().await;
        let w = world(&app, "acme", 1).await;
        let (sim, account) =
            support::simulator_channel(&app, &w, support::quick_simulator(0.0), &SimChannel::DEFAULT).await;
        Rig { app, w, sim, account, stop: watch::channel(false).0 }
    }

    fn start_sender(&self, max_attempts: i32) -> Sender {
        let key = support::install_test_key();
        let config = SenderConfig {
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_millis(200),
            lease: Duration::from_secs(2),
            poll: Duration::from_millis(200),
            refresh: Duration::from_millis(200),
            request_timeout: Duration::from_secs(10),
            max_attempts,
            ..SenderConfig::default()
        };
        Sender::start(self.app.pool.clone(), key, config, self.stop.subscribe())
    }

    async fn ana_conversation(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT c.conversation_id FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
             WHERE c.tenant_id = $1 AND p.executive_id = $2 ORDER BY c.conversation_id LIMIT 1",
        )
        .bind(self.w.tenant.0)
        .bind(self.w.exec_ana.0)
        .fetch_one(&self.app.pool)
        .await
        .unwrap()
    }

    async fn faults(&self, faults: Value) {
        let mut body = faults;
        body["phone_number_id"] = json!(PNID);
        let r =
            reqwest::Client::new().post(format!("{}/_sim/faults", self.sim.url())).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    /// Sends `body` as Ana and waits for the message to reach `status` as the API shows it.
    async fn send_until(&self, conv: i64, body: &str, status: &str) -> Value {
        let r = self
            .app
            .post(
                &format!("/api/v1/conversations/{conv}/messages"),
                self.w.token(self.w.exec_ana),
                json!({"body": body}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        assert!(r.body["error"].is_null(), "a new message has no error: {:?}", r.body);
        let id = r.body["message_id"].as_i64().unwrap();
        self.until_status(conv, id, status).await
    }

    async fn until_status(&self, conv: i64, id: i64, status: &str) -> Value {
        until(10, &format!("message {id} {status}"), || async {
            let r =
                self.app.get(&format!("/api/v1/conversations/{conv}/messages"), self.w.token(self.w.exec_ana)).await;
            r.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["message_id"] == json!(id) && m["status"] == status)
                .cloned()
        })
        .await
    }
}

#[tokio::test]
async fn a_failure_carries_its_reason_in_the_api_and_on_the_websocket() {
    let rig = Rig::new().await;
    let conv = rig.ana_conversation().await;
    let mut ws = Ws::connect(&rig.app, rig.w.token(rig.w.exec_ana)).await;
    ws.subscribe("conv", &format!("conversation:{conv}"), json!({})).await;
    rig.faults(json!({"responses": [{"status": 400, "code": 131047, "message": "Re-engagement message"}]})).await;
    let _sender = rig.start_sender(2);

    let m = rig.send_until(conv, "Fuera de la ventana", "failed").await;
    let e = &m["error"];
    assert_eq!(e["code"], 131047, "{m}");
    assert_eq!(e["retryable"], false);
    assert!(e["title"].as_str().unwrap().contains("Re-engagement"), "{e}");
    assert!(e.as_object().unwrap().contains_key("detail"));

    // Out of attempts: Platica's own reason (with the last code), retryable, with the attempts made.
    rig.faults(json!({"responses": [{"status": 429}, {"status": 429}]})).await;
    let m = rig.send_until(conv, "Dos intentos", "failed").await;
    assert_eq!(m["error"]["code"], 130429, "{m}");
    assert_eq!(m["error"]["title"], "gave up after 2 attempts");
    assert_eq!((m["error"]["retryable"].clone(), m["error"]["attempts"].clone()), (json!(true), json!(2)));

    // A failure WhatsApp reports later, in a status webhook, carries its reason too.
    let sent = rig.send_until(conv, "Entregado y luego no", "delivered").await;
    let wamid = sent["external_id"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE messages SET status = 'sent' WHERE tenant_id = $1 AND message_id = $2")
        .bind(rig.w.tenant.0)
        .bind(sent["message_id"].as_i64().unwrap())
        .execute(&rig.app.pool)
        .await
        .unwrap();
    let webhook = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "1", "phone_number_id": PNID},
            "statuses": [{"id": wamid, "status": "failed", "timestamp": "1732520100", "recipient_id": "1",
                "errors": [{"code": 131026, "title": "Message undeliverable",
                            "error_data": {"details": "The recipient is not a WhatsApp user"}}]}]}}]}]});
    assert_eq!(rig.app.whatsapp_webhook(SECRET, &webhook).await.0, StatusCode::OK);
    let m = rig.until_status(conv, sent["message_id"].as_i64().unwrap(), "failed").await;
    assert_eq!(m["error"]["code"], 131026, "{m}");
    assert_eq!(m["error"]["detail"], "The recipient is not a WhatsApp user");
    assert_eq!(m["error"]["retryable"], false);

    // The WebSocket's row events carried each failure with its reason.
    let events = ws.events(Duration::from_secs(2)).await;
    let failed: Vec<&Value> = events
        .iter()
        .filter(|(table, op, row)| table == "messages" && op == "update" && row["status"] == "failed")
        .map(|(_, _, row)| row)
        .collect();
    let codes: Vec<Value> = failed.iter().map(|r| r["error"]["code"].clone()).collect();
    assert_eq!(codes, [json!(131047), json!(130429), json!(131026)], "{failed:?}");
    assert_eq!(failed[1]["error"]["title"], "gave up after 2 attempts");
    assert!(failed.iter().all(|r| r["error"]["retryable"].is_boolean()));
}

#[tokio::test]
async fn a_retryable_failure_can_be_retried_and_the_rest_are_refused() {
    let rig = Rig::new().await;
    let conv = rig.ana_conversation().await;
    let ana = rig.w.token(rig.w.exec_ana);
    let _sender = rig.start_sender(3);

    rig.faults(json!({"responses": [{"status": 401, "code": 190, "message": "Invalid OAuth access token"}]})).await;
    let token = rig.send_until(conv, "Token caducado", "failed").await;
    assert_eq!((token["error"]["code"].clone(), token["error"]["retryable"].clone()), (json!(190), json!(true)));
    rig.faults(json!({"responses": [{"status": 400, "code": 131047, "message": "Re-engagement message"}]})).await;
    let window = rig.send_until(conv, "Fuera de la ventana", "failed").await;
    let delivered = rig.send_until(conv, "Entregado", "delivered").await;
    let id = |m: &Value| m["message_id"].as_i64().unwrap();

    // Someone who cannot see the conversation: not found.
    let luis = rig.w.token(rig.w.exec_luis);
    let r = rig.app.post(&format!("/api/v1/messages/{}/retry", id(&token)), luis, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.body);
    // Not failed: a conflict; failed for good: refused.
    let r = rig.app.post(&format!("/api/v1/messages/{}/retry", id(&delivered)), ana, json!({})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("conflict")), "{:?}", r.body);
    let r = rig.app.post(&format!("/api/v1/messages/{}/retry", id(&window)), ana, json!({})).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_retryable")),
        "{:?}",
        r.body
    );
    let r = rig.app.post("/api/v1/messages/999999/retry", ana, json!({})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Retryable: queued again, error cleared, then sent once and delivered.
    let r = rig.app.post(&format!("/api/v1/messages/{}/retry", id(&token)), ana, json!({})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["status"].as_str(), r.body["error"].clone()), (Some("queued"), Value::Null));
    let m = rig.until_status(conv, id(&token), "delivered").await;
    assert!(m["error"].is_null());
    let texts: Vec<String> = rig.sim.sent(PNID).into_iter().filter_map(|m| m.text).collect();
    assert_eq!(texts.iter().filter(|t| *t == "Token caducado").count(), 1, "{texts:?}");
    // Retried once is not retried twice.
    let r = rig.app.post(&format!("/api/v1/messages/{}/retry", id(&token)), ana, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn webhook_level_errors_are_recorded_counted_and_shown() {
    let rig = Rig::new().await;
    let value = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1", "phone_number_id": PNID},
        "errors": [{"code": 130429, "title": "Rate limit hit", "message": "(#130429) Rate limit hit",
                    "error_data": {"details": "Cloud API message throughput has been reached."}}]});
    let beside = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "1", "phone_number_id": PNID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5215500000001"}],
        "messages": [{"from": "5215500000001", "id": "wamid.unsupported1", "timestamp": "1732520000", "type": "unsupported",
                      "errors": [{"code": 131051, "title": "Message type unknown",
                                  "error_data": {"details": "Message type is currently not supported."}}]}]});
    for v in [value, beside] {
        let payload = json!({"object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": v}]}]});
        assert_eq!(rig.app.whatsapp_webhook(SECRET, &payload).await.0, StatusCode::OK);
    }
    type Event = (i64, String, Option<i32>, String, Option<String>);
    let rows: Vec<Event> = sqlx::query_as(
        "SELECT tenant_id, kind, code, title, detail FROM channel_events WHERE channel_account_id = $1 ORDER BY channel_event_id",
    )
    .bind(rig.account)
    .fetch_all(&rig.app.pool)
    .await
    .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].0, rig.w.tenant.0);
    assert_eq!((rows[0].1.as_str(), rows[0].2, rows[0].3.as_str()), ("webhook_error", Some(130429), "Rate limit hit"));
    assert_eq!(rows[0].4.as_deref(), Some("Cloud API message throughput has been reached."));
    assert_eq!((rows[1].1.as_str(), rows[1].2), ("message_error", Some(131051)));

    // The admin channel screen's endpoint, newest first; not for others.
    let r = rig.app.get(&format!("/api/v1/channels/{}/events", rig.account), rig.w.token(rig.w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let codes: Vec<Value> = r.body.as_array().unwrap().iter().map(|e| e["code"].clone()).collect();
    assert_eq!(codes, [json!(131051), json!(130429)]);
    let r = rig.app.get(&format!("/api/v1/channels/{}/events", rig.account), rig.w.token(rig.w.exec_ana)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // /ready's detail.
    let ready = rig.app.call(reqwest::Method::GET, "/ready", None, None).await;
    let errors = &ready.body["checks"]["channels"]["detail"]["webhook_errors"];
    assert_eq!(errors[0]["channel_account_id"], rig.account, "{:?}", ready.body);
    assert_eq!(errors[0]["errors_last_hour"], 2);
    assert_eq!(errors[0]["last_code"], 131051);

    // Counted.
    let metrics = rig.app.client.get(rig.app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("platica_whatsapp_webhook_errors_total{code=\"130429\"}")),
        "{metrics}"
    );
}
