//! The simulator over HTTP, as Platica sees it: sends, errors, idempotency, faults, signed status
//! webhooks with retries, inbound messages, sessions, and the seeded prospects.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use platica_simulator::generator::Generator;
use platica_simulator::{
    DurRange, InboundConfig, SimAccount, SimConfig, SimHandle, Simulator, StatusDelays, WebhookRetry,
};
use serde_json::{Value, json};

const PHONE: &str = "106540352242922";
const TOKEN: &str = "EAAG-test-token";
const SECRET: &str = "app-secret-0123456789";

/// A webhook receiver that checks every signature and can fail the first requests.
#[derive(Clone, Default)]
struct Receiver {
    bodies: Arc<Mutex<Vec<Value>>>,
    bad_signatures: Arc<AtomicUsize>,
    fail_first: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let n = r.requests.fetch_add(1, Ordering::SeqCst);
    if n < r.fail_first.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let sig = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !platica_domain::signature::Key::new(SECRET.as_bytes()).verify_header(&body, sig) {
        r.bad_signatures.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    r.bodies.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
    StatusCode::OK
}

impl Receiver {
    /// Starts it; its webhook URL.
    async fn start(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }

    fn values(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().iter().map(|b| b["entry"][0]["changes"][0]["value"].clone()).collect()
    }

    fn statuses(&self) -> Vec<Value> {
        self.values().iter().filter_map(|v| v["statuses"].as_array().cloned()).flatten().collect()
    }

    fn messages(&self) -> Vec<(Value, Value)> {
        self.values()
            .iter()
            .filter_map(|v| Some((v["contacts"].get(0)?.clone(), v["messages"].get(0)?.clone())))
            .collect()
    }
}

fn fast() -> SimConfig {
    SimConfig {
        status_delays: StatusDelays {
            sent: DurRange::millis(5, 20),
            delivered: DurRange::millis(5, 20),
            read: DurRange::millis(5, 20),
            read_probability: 1.0,
        },
        failure_rate: 0.0,
        webhook_retry: WebhookRetry {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(2),
        },
        ..SimConfig::default()
    }
}

fn account(id: &str, webhook_url: &str, session_mode: bool) -> SimAccount {
    SimAccount {
        phone_number_id: id.to_owned(),
        display_phone_number: "+52 55 1000 2000".to_owned(),
        access_token: TOKEN.to_owned(),
        app_secret: SECRET.to_owned(),
        webhook_url: webhook_url.to_owned(),
        session_mode,
    }
}

async fn start(config: SimConfig, session_mode: bool) -> (SimHandle, Receiver) {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let sim = Simulator::start(config).await.unwrap();
    sim.add_account(account(PHONE, &url, session_mode));
    (sim, receiver)
}

async fn call(req: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let r = req.send().await.unwrap();
    let status = StatusCode::from_u16(r.status().as_u16()).unwrap();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn send(sim: &SimHandle, body: &Value, key: Option<&str>) -> (StatusCode, Value) {
    let mut req =
        reqwest::Client::new().post(format!("{}/{PHONE}/messages", sim.base_url())).bearer_auth(TOKEN).json(body);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    call(req).await
}

fn text(to: &str, body: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
           "text": {"body": body, "preview_url": false}})
}

async fn get(sim: &SimHandle, path: &str) -> Value {
    call(reqwest::Client::new().get(format!("{}{path}", sim.url()))).await.1
}

async fn post(sim: &SimHandle, path: &str, body: Value) -> (StatusCode, Value) {
    call(reqwest::Client::new().post(format!("{}{path}", sim.url())).json(&body)).await
}

/// Waits (5 s at most) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn graph_error(v: &Value, code: i64) {
    assert_eq!(v["error"]["code"], code, "{v}");
    assert_eq!(v["error"]["type"], "OAuthException", "{v}");
    assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["error"]["fbtrace_id"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
}

#[tokio::test]
async fn sends_and_mark_read_answer_like_the_cloud_api() {
    let (sim, _rx) = start(fast(), false).await;
    assert!(sim.base_url().ends_with("/v21.0"));
    let mut body = text("+5215512345678", "Hola Ana");
    body["biz_opaque_callback_data"] = json!("outbox:17");
    let (status, r) = send(&sim, &body, None).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["messaging_product"], "whatsapp");
    assert_eq!(r["contacts"], json!([{"input": "+5215512345678", "wa_id": "5215512345678"}]));
    let wamid = r["messages"][0]["id"].as_str().unwrap().to_owned();
    assert!(wamid.starts_with("wamid."));

    let template = json!({"messaging_product": "whatsapp", "to": "5215512345678", "type": "template",
        "template": {"name": "seguimiento", "language": {"code": "es_MX"},
                     "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]}});
    let (status, r2) = send(&sim, &template, None).await;
    assert_eq!(status, StatusCode::OK, "{r2}");
    assert_ne!(r2["messages"][0]["id"], wamid.as_str());

    let read = json!({"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.IN1",
                      "typing_indicator": {"type": "text"}});
    assert_eq!(send(&sim, &read, None).await, (StatusCode::OK, json!({"success": true})));

    let sent = get(&sim, &format!("/_sim/sent?phone_number_id={PHONE}")).await;
    let sent = sent["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (&sent[0]["wamid"], &sent[0]["type"], &sent[0]["text"], &sent[0]["biz_opaque_callback_data"]),
        (&json!(wamid), &json!("text"), &json!("Hola Ana"), &json!("outbox:17"))
    );
    assert_eq!((&sent[1]["template"], &sent[1]["template_language"]), (&json!("seguimiento"), &json!("es_MX")));
    assert!(sent[0]["received_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(get(&sim, "/_sim/reads").await["reads"], json!([{"phone_number_id": PHONE, "message_id": "wamid.IN1"}]));
    let stats = get(&sim, "/_sim/stats").await;
    assert_eq!((stats["sends"].as_u64(), stats["mark_read"].as_u64()), (Some(2), Some(1)));
    sim.shutdown().await;
}

#[tokio::test]
async fn tokens_numbers_and_input_are_checked_with_graph_errors() {
    let (sim, _rx) = start(fast(), false).await;
    let client = reqwest::Client::new();
    let url = format!("{}/{PHONE}/messages", sim.base_url());
    let body = text("5215512345678", "hola");
    let (status, r) = call(client.post(&url).json(&body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    graph_error(&r, 190);
    let (status, r) = call(client.post(&url).bearer_auth("wrong").json(&body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    graph_error(&r, 190);
    let (status, r) =
        call(client.post(format!("{}/999/messages", sim.base_url())).bearer_auth(TOKEN).json(&body)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    graph_error(&r, 100);
    assert_eq!(r["error"]["error_subcode"], 33);

    let long = "x".repeat(4097);
    let cases = [
        json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "sin destinatario"}}),
        json!({"messaging_product": "whatsapp", "to": "5215512345678", "type": "text", "text": {"body": "  "}}),
        json!({"messaging_product": "whatsapp", "to": "5215512345678", "type": "text", "text": {}}),
        json!({"messaging_product": "whatsapp", "to": "5215512345678", "type": "text", "text": {"body": long}}),
        json!({"messaging_product": "whatsapp", "to": "5215512345678", "type": "hologram", "hologram": {}}),
        json!({"to": "5215512345678", "type": "text", "text": {"body": "hola"}}),
        json!({"messaging_product": "whatsapp", "to": "5215512345678", "type": "template", "template": {"name": "x"}}),
        json!({"messaging_product": "whatsapp", "to": 5215512345678u64, "type": "text", "text": {"body": "hola"}}),
        json!([1, 2]),
    ];
    for case in &cases {
        let (status, r) = send(&sim, case, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {r}");
        graph_error(&r, 100);
    }
    let (status, r) = send(&sim, &text("12ab", "hola"), None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    graph_error(&r, 131009);
    let (status, r) = call(client.post(&url).bearer_auth(TOKEN).body("{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    graph_error(&r, 100);
    // Exactly 4096 characters (multi-byte ones) is fine.
    let (status, _) = send(&sim, &text("5215512345678", &"ñ".repeat(4096)), None).await;
    assert_eq!(status, StatusCode::OK);

    let stats = sim.stats();
    assert_eq!((stats.sends, stats.rejected), (1, 3 + cases.len() as u64 + 2));
    assert!(sim.sent(PHONE).len() == 1);
    // Unknown paths answer in the same shape.
    let (status, r) = call(client.get(format!("{}/nothing/here", sim.url()))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    graph_error(&r, 2500);
}

#[tokio::test]
async fn a_repeated_idempotency_key_answers_the_original_and_sends_once() {
    let (sim, _rx) = start(fast(), false).await;
    let (s1, r1) = send(&sim, &text("5215512345678", "una vez"), Some("outbox-1")).await;
    let (s2, r2) = send(&sim, &text("5215512345678", "una vez"), Some("outbox-1")).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(r1, r2);
    let (_, r3) = send(&sim, &text("5215512345678", "otra"), Some("outbox-2")).await;
    assert_ne!(r3["messages"][0]["id"], r1["messages"][0]["id"]);
    let sent = sim.sent(PHONE);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].idempotency_key.as_deref(), Some("outbox-1"));
    assert_eq!((sim.stats().sends, sim.stats().duplicates), (2, 1));

    // Concurrent repeats of one key: still one send.
    let results = futures_join(&sim, "outbox-3").await;
    assert!(results.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(sim.sent(PHONE).len(), 3);
    sim.shutdown().await;
}

async fn futures_join(sim: &SimHandle, key: &str) -> Vec<Value> {
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = format!("{}/{PHONE}/messages", sim.base_url());
        let key = key.to_owned();
        tasks.push(tokio::spawn(async move {
            call(
                reqwest::Client::new()
                    .post(url)
                    .bearer_auth(TOKEN)
                    .header("Idempotency-Key", key)
                    .json(&text("5215512345678", "x")),
            )
            .await
            .1
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn faults_answer_in_order_then_sends_resume_and_delays_hide_the_outcome() {
    let (sim, _rx) = start(fast(), false).await;
    let (status, _) = post(
        &sim,
        "/_sim/faults",
        json!({"phone_number_id": PHONE, "responses": [{"status": 429}, {"status": 500},
            {"status": 400, "code": 131047, "message": "Re-engagement message"}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let body = text("5215512345678", "reintento");
    let (s, r) = send(&sim, &body, Some("k1")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    graph_error(&r, 130429);
    let (s, r) = send(&sim, &body, Some("k1")).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    graph_error(&r, 131000);
    let (s, r) = send(&sim, &body, Some("k1")).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    graph_error(&r, 131047);
    assert_eq!(r["error"]["message"], "Re-engagement message");
    assert!(sim.sent(PHONE).is_empty(), "a faulted send sends nothing");
    let (s, ok) = send(&sim, &body, Some("k1")).await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(sim.sent(PHONE).len(), 1);
    assert_eq!(sim.stats().faults_injected, 3);

    // A slow answer: the client times out, but the send happened; its retry with the same key
    // gets the original answer.
    post(&sim, "/_sim/faults", json!({"phone_number_id": PHONE, "delay_ms": 2000})).await;
    let timeout = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let r = timeout
        .post(format!("{}/{PHONE}/messages", sim.base_url()))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "k2")
        .json(&text("5215512345678", "lento"))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
    until("the slow send recorded", || sim.sent(PHONE).len() == 2).await;
    post(&sim, "/_sim/faults", json!({"phone_number_id": PHONE, "delay_ms": 0})).await;
    let (s, again) = send(&sim, &text("5215512345678", "lento"), Some("k2")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["messages"][0]["id"].as_str(), Some(sim.sent(PHONE)[1].wamid.as_str()));
    assert_eq!(sim.sent(PHONE).len(), 2);

    let (s, r) = post(&sim, "/_sim/faults", json!({"phone_number_id": PHONE, "responses": [{"status": 200}]})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
    let (s, _) = post(&sim, "/_sim/faults", json!({"phone_number_id": "nope", "responses": []})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_after_accepting_send_but_hide_the_outcome() {
    let (sim, receiver) = start(fast(), false).await;
    let (status, r) = post(
        &sim,
        "/_sim/faults",
        json!({"phone_number_id": PHONE, "ignore_idempotency_key": true, "responses": [
            {"after_accept": "hang", "hang_ms": 1500},
            {"after_accept": "reset"},
            {"after_accept": "error", "status": 500}]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!((&r["queued"], &r["ignore_idempotency_key"]), (&json!(3), &json!(true)));

    // Hang: the client gives up, yet the send happened and its statuses are reported.
    let timeout = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let r = timeout
        .post(format!("{}/{PHONE}/messages", sim.base_url()))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "same")
        .json(&text("5215512345678", "colgado"))
        .send()
        .await;
    assert!(r.is_err_and(|e| e.is_timeout()));
    assert_eq!(sim.sent(PHONE).len(), 1, "accepted before the answer hung");
    let first = sim.sent(PHONE)[0].wamid.clone();
    until("the hung send's sent status", || receiver.statuses().iter().any(|s| s["id"] == json!(first))).await;

    // Reset: no answer at all, neither a timeout nor a refused connection; the send happened.
    let r = reqwest::Client::new()
        .post(format!("{}/{PHONE}/messages", sim.base_url()))
        .bearer_auth(TOKEN)
        .header("Idempotency-Key", "same")
        .json(&text("5215512345678", "cortado"))
        .send()
        .await;
    let e = r.expect_err("a reset connection answers nothing");
    assert!(!e.is_timeout() && !e.is_connect(), "{e:?}");
    assert_eq!(sim.sent(PHONE).len(), 2, "the same key was sent again: the number ignores it");

    // Error: a 500 with Graph's shape, though the send happened.
    let (s, r) = send(&sim, &text("5215512345678", "error"), Some("same")).await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    graph_error(&r, 131000);
    let sent = sim.sent(PHONE);
    assert_eq!(sent.iter().filter_map(|m| m.text.as_deref()).collect::<Vec<_>>(), ["colgado", "cortado", "error"]);
    let stats = sim.stats();
    assert_eq!((stats.sends, stats.duplicates, stats.faults_injected), (3, 0, 3));

    // Back to normal, and to honouring the key.
    post(&sim, "/_sim/faults", json!({"phone_number_id": PHONE, "ignore_idempotency_key": false})).await;
    let (s, _) = send(&sim, &text("5215512345678", "normal"), Some("k9")).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = send(&sim, &text("5215512345678", "normal"), Some("k9")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((sim.stats().sends, sim.stats().duplicates), (4, 1));

    for bad in [
        json!({"after_accept": "hang"}),
        json!({"after_accept": "error"}),
        json!({"after_accept": "error", "status": 200}),
        json!({"after_accept": "later"}),
        json!({}),
    ] {
        let (s, r) = post(&sim, "/_sim/faults", json!({"phone_number_id": PHONE, "responses": [bad]})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{r}");
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn statuses_arrive_signed_in_order_and_are_retried_after_a_500() {
    let (sim, rx) = start(fast(), false).await;
    rx.fail_first.store(2, Ordering::SeqCst);
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut body = text("5215512345678", &format!("mensaje {i}"));
        body["biz_opaque_callback_data"] = json!(format!("cb{i}"));
        ids.push(send(&sim, &body, None).await.1["messages"][0]["id"].as_str().unwrap().to_owned());
    }
    until("9 statuses", || rx.statuses().len() == 9).await;
    assert_eq!(rx.bad_signatures.load(Ordering::SeqCst), 0);
    for (i, id) in ids.iter().enumerate() {
        let mine: Vec<Value> = rx.statuses().into_iter().filter(|s| s["id"] == id.as_str()).collect();
        let kinds: Vec<&str> = mine.iter().map(|s| s["status"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["sent", "delivered", "read"], "{id}");
        for s in &mine {
            assert_eq!(s["recipient_id"], "5215512345678");
            assert_eq!(s["biz_opaque_callback_data"], format!("cb{i}"));
            assert!(s["timestamp"].as_str().unwrap().parse::<i64>().unwrap() > 1_700_000_000);
        }
    }
    let first = rx.bodies.lock().unwrap()[0].clone();
    assert_eq!(first["object"], "whatsapp_business_account");
    assert_eq!(first["entry"][0]["changes"][0]["field"], "messages");
    assert_eq!(first["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"], PHONE);
    let stats = sim.stats();
    // Statuses due together (here, those queued during the retries' backoff) share a webhook.
    assert_eq!((stats.webhooks_retried, stats.webhooks_failed), (2, 0));
    assert!((1..=9).contains(&stats.webhooks_delivered), "{} webhooks for 9 statuses", stats.webhooks_delivered);
    assert_eq!(sim.sent(PHONE)[0].statuses, ["sent", "delivered", "read"]);
    sim.shutdown().await;
}

#[tokio::test]
async fn undeliverable_sends_fail_and_a_dead_receiver_is_given_up() {
    let (sim, rx) = start(SimConfig { failure_rate: 1.0, ..fast() }, false).await;
    let id = send(&sim, &text("5215512345678", "no llega"), None).await.1["messages"][0]["id"].clone();
    until("2 statuses", || rx.statuses().len() == 2).await;
    let statuses = rx.statuses();
    assert_eq!((&statuses[0]["status"], &statuses[1]["status"]), (&json!("sent"), &json!("failed")));
    assert_eq!(statuses[1]["id"], id);
    assert_eq!(statuses[1]["errors"][0]["code"], 131026);
    assert_eq!(statuses[1]["errors"][0]["title"], "Message undeliverable");

    rx.fail_first.store(usize::MAX, Ordering::SeqCst);
    send(&sim, &text("5215512345678", "otro"), None).await;
    until("both statuses given up", || sim.stats().webhooks_failed == 2).await;
    assert_eq!(sim.stats().webhooks_retried, 8);
    sim.shutdown().await;
}

#[tokio::test]
async fn inbound_messages_are_signed_webhooks() {
    let (sim, rx) = start(fast(), false).await;
    let (status, r) = post(
        &sim,
        "/_sim/inbound",
        json!({"phone_number_id": PHONE, "from": "+5215512345678", "name": "Ana", "text": "hola"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    until("the inbound webhook", || rx.messages().len() == 1).await;
    let (contact, message) = rx.messages().remove(0);
    assert_eq!(contact, json!({"profile": {"name": "Ana"}, "wa_id": "5215512345678"}));
    assert_eq!(message["id"], r["id"]);
    assert_eq!((&message["from"], &message["type"]), (&json!("5215512345678"), &json!("text")));
    assert_eq!(message["text"]["body"], "hola");
    assert!(message["timestamp"].as_str().unwrap().parse::<i64>().is_ok());
    for bad in [
        json!({"phone_number_id": PHONE, "from": "abc", "text": "hola"}),
        json!({"phone_number_id": PHONE, "from": "+5215512345678", "text": ""}),
        json!({"phone_number_id": PHONE, "text": "hola"}),
    ] {
        assert_eq!(post(&sim, "/_sim/inbound", bad.clone()).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
    let unknown = json!({"phone_number_id": "1", "from": "+5215512345678", "text": "hola"});
    assert_eq!(post(&sim, "/_sim/inbound", unknown).await.0, StatusCode::NOT_FOUND);
    assert_eq!(sim.stats().inbound_emitted, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn sessions_buffer_across_a_drop_and_redeliver_until_acked() {
    let (sim, rx) = start(fast(), true).await;
    let client = reqwest::Client::new();
    let base = format!("{}/_session/{PHONE}", sim.url());
    let events = |after: u64, wait: u64| {
        call(client.get(format!("{base}/events?after={after}&wait_ms={wait}")).bearer_auth(TOKEN))
    };
    assert_eq!(call(client.post(format!("{base}/connect"))).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(call(client.get(format!("{base}/health"))).await.0, StatusCode::SERVICE_UNAVAILABLE);
    let (s, c) = call(client.post(format!("{base}/connect")).bearer_auth(TOKEN)).await;
    assert_eq!((s, &c["state"]), (StatusCode::OK, &json!("connected")));
    let first_session = c["session_id"].as_str().unwrap().to_owned();
    let (s, h) = call(client.get(format!("{base}/health"))).await;
    assert_eq!((s, h), (StatusCode::OK, json!({"state": "connected", "session_id": first_session})));

    sim.inbound_text(PHONE, "+5215511111111", "Ana", "uno").unwrap();
    sim.inbound_text(PHONE, "+5215522222222", "Luis", "dos").unwrap();
    let (s, e) = events(0, 0).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(e["next"], 2);
    let evs = e["events"].as_array().unwrap();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0]["seq"], 1);
    assert_eq!(evs[0]["contact"], json!({"profile": {"name": "Ana"}, "wa_id": "5215511111111"}));
    assert_eq!(evs[0]["message"]["text"]["body"], "uno");
    assert_eq!(evs[1]["message"]["from"], "5215522222222");

    // Dropped: health and events 503; inbound keeps buffering.
    let (s, _) = post(&sim, &format!("/_sim/sessions/{PHONE}/drop"), json!({})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(call(client.get(format!("{base}/health"))).await.0, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(events(0, 0).await, (StatusCode::SERVICE_UNAVAILABLE, json!({"state": "disconnected"})));
    sim.inbound_text(PHONE, "+5215533333333", "Sofía", "tres").unwrap();
    let (_, c) = call(client.post(format!("{base}/connect")).bearer_auth(TOKEN)).await;
    assert_ne!(c["session_id"], first_session.as_str());

    // Nothing was acked: a client starting over gets everything again.
    let (_, e) = events(0, 0).await;
    let bodies: Vec<&str> =
        e["events"].as_array().unwrap().iter().map(|e| e["message"]["text"]["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["uno", "dos", "tres"]);
    let (s, a) = call(client.post(format!("{base}/ack")).bearer_auth(TOKEN).json(&json!({"seq": 2}))).await;
    assert_eq!((s, a), (StatusCode::OK, json!({"acked": 2, "buffered": 1})));
    let (_, e) = events(0, 0).await;
    assert_eq!(e["events"].as_array().unwrap().len(), 1);
    assert_eq!(e["events"][0]["seq"], 3);
    assert_eq!(events(3, 0).await.1, json!({"events": [], "next": 3}));

    // A long poll returns as soon as something arrives.
    let started = tokio::time::Instant::now();
    let poll = tokio::spawn(client.get(format!("{base}/events?after=3&wait_ms=5000")).bearer_auth(TOKEN).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.inbound_text(PHONE, "+5215544444444", "Karla", "cuatro").unwrap();
    let e: Value = poll.await.unwrap().unwrap().json().await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!((&e["events"][0]["seq"], &e["next"]), (&json!(4), &json!(4)));
    // And a dropped session ends a long poll with 503.
    let poll = tokio::spawn(client.get(format!("{base}/events?after=4&wait_ms=5000")).bearer_auth(TOKEN).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.drop_session(PHONE);
    assert_eq!(poll.await.unwrap().unwrap().status().as_u16(), 503);
    call(client.post(format!("{base}/connect")).bearer_auth(TOKEN)).await;

    // Statuses of this account's sends are events too, never webhooks.
    let (_, r) = send(&sim, &text("5215511111111", "respuesta"), None).await;
    let wamid = r["messages"][0]["id"].clone();
    let mut statuses = Vec::new();
    let mut after = 4;
    while statuses.len() < 3 {
        let (_, e) = events(after, 2000).await;
        for ev in e["events"].as_array().unwrap() {
            statuses.push(ev["status"].clone());
        }
        after = e["next"].as_u64().unwrap();
    }
    assert!(statuses.iter().all(|s| s["id"] == wamid));
    let kinds: Vec<&str> = statuses.iter().map(|s| s["status"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["sent", "delivered", "read"]);
    assert!(rx.bodies.lock().unwrap().is_empty(), "no webhook in session mode");
    let stats = get(&sim, "/_sim/stats").await;
    let session = &stats["sessions"][PHONE];
    assert_eq!((session["connects"].as_u64(), session["drops"].as_u64()), (Some(3), Some(2)));
    assert_eq!(session["state"], "connected");
    sim.shutdown().await;
}

#[tokio::test]
async fn generated_prospects_are_a_function_of_the_seed_and_reply_to_what_they_read() {
    async fn first_messages(seed: u64) -> Vec<(String, String, String)> {
        let inbound = InboundConfig { rate_per_sec: 200.0, prospects: 20, seed, ..InboundConfig::default() };
        let (sim, rx) = start(SimConfig { inbound: Some(inbound), ..fast() }, false).await;
        until("12 generated messages", || rx.messages().len() >= 12).await;
        sim.shutdown().await;
        rx.messages()
            .into_iter()
            .take(12)
            .map(|(c, m)| {
                let t = m["type"].as_str().unwrap().to_owned();
                let what = m[t.as_str()].to_string().replace(m["image"]["id"].as_str().unwrap_or("-"), "");
                (c["wa_id"].as_str().unwrap().to_owned(), c["profile"]["name"].as_str().unwrap().to_owned(), what)
            })
            .collect()
    }
    let a = first_messages(5).await;
    assert_eq!(a, first_messages(5).await);
    assert_ne!(a, first_messages(6).await);
    let prospects = Generator::new(5, 20);
    for (wa_id, name, _) in &a {
        assert!(prospects.prospects().iter().any(|p| &p.wa_id == wa_id && &p.name == name));
    }

    // Replies: a prospect who reads a message answers it (context.id).
    let inbound = InboundConfig {
        rate_per_sec: 0.0,
        prospects: 5,
        seed: 9,
        reply_probability: 1.0,
        reply_delay: DurRange::millis(5, 20),
    };
    let (sim, rx) = start(SimConfig { inbound: Some(inbound), ..fast() }, false).await;
    let prospect = Generator::new(9, 5).prospects()[2].clone();
    let (_, r) = send(&sim, &text(&format!("+{}", prospect.wa_id), "¿Le interesa?"), None).await;
    until("the reply", || rx.messages().len() == 1).await;
    let (contact, message) = rx.messages().remove(0);
    assert_eq!((&contact["wa_id"], &contact["profile"]["name"]), (&json!(prospect.wa_id), &json!(prospect.name)));
    assert_eq!(message["context"]["id"], r["messages"][0]["id"]);
    assert_eq!(message["context"]["from"], "525510002000");
    assert_eq!(sim.stats().replies, 1);
    sim.shutdown().await;
}

#[tokio::test]
async fn accounts_can_be_added_over_http_and_shutdown_stops_the_server() {
    let sim = Simulator::start(fast()).await.unwrap();
    let (s, _) =
        post(&sim, "/_sim/accounts", serde_json::to_value(account("555", "http://127.0.0.1:9/x", false)).unwrap())
            .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(sim.stats().accounts, 1);
    let url = format!("{}/_sim/stats", sim.url());
    sim.shutdown().await;
    assert!(reqwest::Client::new().get(url).send().await.is_err());
}

#[tokio::test]
async fn sessions_are_dropped_at_random_intervals_when_configured() {
    let config = SimConfig {
        session: platica_simulator::SessionConfig {
            auto_drop_every: Some(DurRange::millis(20, 40)),
            connect_delay: None,
        },
        ..fast()
    };
    let (sim, _rx) = start(config, true).await;
    let client = reqwest::Client::new();
    let base = format!("{}/_session/{PHONE}", sim.url());
    for round in 1..=2 {
        call(client.post(format!("{base}/connect")).bearer_auth(TOKEN)).await;
        until("an automatic drop", || sim.stats().sessions[PHONE].drops == round).await;
        assert_eq!(call(client.get(format!("{base}/health"))).await.0, StatusCode::SERVICE_UNAVAILABLE);
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn dropping_the_handle_stops_the_server_and_its_long_polls() {
    let (sim, _rx) = start(fast(), true).await;
    let client = reqwest::Client::new();
    let base = format!("{}/_session/{PHONE}", sim.url());
    call(client.post(format!("{base}/connect")).bearer_auth(TOKEN)).await;
    let started = tokio::time::Instant::now();
    let poll = tokio::spawn(client.get(format!("{base}/events?wait_ms=20000")).bearer_auth(TOKEN).send());
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(sim);
    let ended = poll.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5), "the long poll ended with the server");
    assert!(ended.is_err() || ended.is_ok_and(|r| r.status().as_u16() == 503));
    let url = format!("{base}/health");
    let mut refused = false;
    for _ in 0..50 {
        if client.get(&url).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "still listening after the handle was dropped");
}
