//! WhatsApp outbound, end to end against the built-in simulator of the Cloud API (a real HTTP
//! server): the API writes message + outbox row, the sender sends, the simulator answers and
//! reports statuses as signed webhooks to the app. Retries, permanent refusals, a crash between
//! send and answer, sends whose outcome is unknown (never sent twice to the Graph API), the
//! 24-hour window and templates, read receipts, the send rate, and the bot with its pause.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::{Duration, Instant};

use platica_simulator::{DurRange, SimConfig, SimHandle};
use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{SimChannel, TestApp, World, until, world};
use tokio::sync::watch;

const PNID: &str = support::SIM_PNID;
const SECRET: &str = support::SIM_SECRET;

fn sim_config() -> SimConfig {
    support::quick_simulator(1.0)
}

fn sender_config() -> SenderConfig {
    SenderConfig {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(200),
        refresh: Duration::from_millis(200),
        request_timeout: Duration::from_secs(10),
        ..SenderConfig::default()
    }
}

struct Rig {
    app: TestApp,
    w: World,
    sim: SimHandle,
    _account: i64,
    stop: watch::Sender<bool>,
}

impl Rig {
    async fn new(kind: &str, bot: bool, sim: SimConfig, rate: Option<i32>, per_cell: usize) -> Rig {
        support::install_test_key();
        let app = if bot { TestApp::spawn_with_bot().await } else { TestApp::spawn().await };
        let w = world(&app, "acme", per_cell).await;
        let channel = SimChannel { kind, send_rate_per_sec: rate.map(i64::from), ..SimChannel::DEFAULT };
        let (sim, account) = support::simulator_channel(&app, &w, sim, &channel).await;
        Rig { app, w, sim, _account: account, stop: watch::channel(false).0 }
    }

    fn start_sender(&self) -> Sender {
        self.start_sender_with(sender_config())
    }

    fn start_sender_with(&self, config: SenderConfig) -> Sender {
        let key = support::install_test_key();
        Sender::start(self.app.pool.clone(), key, config, self.stop.subscribe())
    }

    /// The conversation's outbound messages as the API shows them (newest first).
    async fn api_outbound(&self, conversation: i64) -> Vec<Value> {
        let r = self
            .app
            .get(&format!("/api/v1/conversations/{conversation}/messages"), self.w.token(self.w.exec_ana))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body["items"].as_array().unwrap().iter().filter(|m| m["direction"] == "out").cloned().collect()
    }

    /// Ana's first conversation (its prospect wrote just now: the window is open).
    async fn ana_conversation(&self) -> (i64, String) {
        let row: (i64, String) = sqlx::query_as(
            "SELECT c.conversation_id, substr(p.phone, 2) FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
             WHERE c.tenant_id = $1 AND p.executive_id = $2 ORDER BY c.conversation_id LIMIT 1",
        )
        .bind(self.w.tenant.0)
        .bind(self.w.exec_ana.0)
        .fetch_one(&self.app.pool)
        .await
        .unwrap();
        row
    }

    async fn send(&self, conversation: i64, body: Value) -> support::Resp {
        self.app
            .post(&format!("/api/v1/conversations/{conversation}/messages"), self.w.token(self.w.exec_ana), body)
            .await
    }

    async fn faults(&self, faults: Value) {
        let mut body = faults;
        body["phone_number_id"] = json!(PNID);
        let r =
            reqwest::Client::new().post(format!("{}/_sim/faults", self.sim.url())).json(&body).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    }

    async fn message(&self, id: i64) -> (String, Option<String>) {
        sqlx::query_as("SELECT status, external_id FROM messages WHERE tenant_id = $1 AND message_id = $2")
            .bind(self.w.tenant.0)
            .bind(id)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    async fn outbox(&self, message: i64) -> (String, i32, Option<String>) {
        sqlx::query_as("SELECT state, attempts, last_error FROM outbox WHERE tenant_id = $1 AND message_id = $2")
            .bind(self.w.tenant.0)
            .bind(message)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    fn texts(&self) -> Vec<String> {
        self.sim.sent(PNID).into_iter().filter_map(|m| m.text).collect()
    }
}

#[tokio::test]
async fn a_reply_is_sent_once_and_its_statuses_come_back_as_webhooks() {
    let rig = Rig::new("simulator", false, sim_config(), None, 1).await;
    let _sender = rig.start_sender();
    let (conv, phone) = rig.ana_conversation().await;
    let r = rig.send(conv, json!({"body": "¡Hola! Le comparto la información."})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["status"], "queued");
    let id = r.body["message_id"].as_i64().unwrap();
    let sent = until(10, "the send", || async {
        let s = rig.sim.sent(PNID);
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, phone);
    assert_eq!(sent[0].text.as_deref(), Some("¡Hola! Le comparto la información."));
    let outbox_id: i64 = sqlx::query_scalar("SELECT outbox_id FROM outbox WHERE tenant_id = $1 AND message_id = $2")
        .bind(rig.w.tenant.0)
        .bind(id)
        .fetch_one(&rig.app.pool)
        .await
        .unwrap();
    assert_eq!(sent[0].biz_opaque_callback_data.as_deref(), Some(format!("platica:o:{outbox_id}").as_str()));
    // sent → delivered → read, reported by signed webhooks and applied in order.
    let (status, external) = until(10, "the read status", || async {
        let m = rig.message(id).await;
        (m.0 == "read").then_some(m)
    })
    .await;
    assert_eq!(status, "read");
    assert_eq!(external.as_deref(), Some(sent[0].wamid.as_str()));
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT status FROM message_statuses WHERE tenant_id = $1 AND message_id = $2 ORDER BY status",
    )
    .bind(rig.w.tenant.0)
    .bind(id)
    .fetch_all(&rig.app.pool)
    .await
    .unwrap();
    assert_eq!(statuses, ["delivered", "read", "sent"]);
    assert_eq!(rig.outbox(id).await.0, "done");
    assert_eq!(rig.sim.stats().sends, 1);
}

#[tokio::test]
async fn a_429_and_a_500_are_retried_then_the_send_succeeds() {
    let rig = Rig::new("simulator", false, sim_config(), None, 1).await;
    rig.faults(json!({"responses": [{"status": 429}, {"status": 500}]})).await;
    let _sender = rig.start_sender();
    let (conv, _) = rig.ana_conversation().await;
    let id = rig.send(conv, json!({"body": "Segundo intento"})).await.body["message_id"].as_i64().unwrap();
    let (state, attempts, last_error) = until(10, "the retried send", || async {
        let o = rig.outbox(id).await;
        (o.0 == "done").then_some(o)
    })
    .await;
    assert_eq!((state.as_str(), attempts), ("done", 3), "two refusals, then accepted");
    assert!(last_error.unwrap().contains("HTTP 500"), "the last retry's reason is kept");
    let stats = rig.sim.stats();
    assert_eq!((stats.faults_injected, stats.sends), (2, 1));
    assert_eq!(rig.texts(), ["Segundo intento"]);
}

#[tokio::test]
async fn a_permanent_refusal_fails_the_message_with_whatsapps_reason() {
    let rig = Rig::new("simulator", false, sim_config(), None, 1).await;
    rig.faults(json!({"responses": [{"status": 400, "code": 131047, "message": "Re-engagement message"}]})).await;
    let _sender = rig.start_sender();
    let (conv, _) = rig.ana_conversation().await;
    let id = rig.send(conv, json!({"body": "No llegará"})).await.body["message_id"].as_i64().unwrap();
    until(10, "the failure", || async { (rig.message(id).await.0 == "failed").then_some(()) }).await;
    let (state, attempts, _) = rig.outbox(id).await;
    assert_eq!((state.as_str(), attempts), ("failed", 1), "a permanent error is not retried");
    let (code, title): (Option<i32>, Option<String>) = sqlx::query_as(
        "SELECT error_code, error_title FROM message_statuses WHERE tenant_id = $1 AND message_id = $2 AND status = 'failed'",
    )
    .bind(rig.w.tenant.0)
    .bind(id)
    .fetch_one(&rig.app.pool)
    .await
    .unwrap();
    assert_eq!(code, Some(131047));
    assert!(title.unwrap().contains("Re-engagement"));
    assert_eq!(rig.sim.stats().sends, 0);
}

/// A sender in a runtime of its own, so a test can kill it the way a crash would: every task
/// dropped wherever it is, nothing recorded.
struct Crashable {
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Crashable {
    fn start(pool: sqlx::PgPool) -> Crashable {
        let (kill, killed) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let (_stop, stopped) = watch::channel(false);
            rt.block_on(async move {
                let _sender = Sender::start(pool, support::install_test_key(), sender_config(), stopped);
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

async fn crash_between_send_and_answer(kind: &str) -> (Rig, i64) {
    // Statuses come late, so nothing but the sender's own answer could record the send.
    let mut cfg = sim_config();
    cfg.status_delays.sent = DurRange::millis(20_000, 20_000);
    let rig = Rig::new(kind, false, cfg, None, 1).await;
    rig.faults(json!({"delay_ms": 1500})).await;
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect(&rig.app.db_url).await.unwrap();
    let crashable = Crashable::start(pool);
    let (conv, _) = rig.ana_conversation().await;
    let id = rig.send(conv, json!({"body": "Una sola vez"})).await.body["message_id"].as_i64().unwrap();
    until(10, "the send to reach the simulator", || async { (!rig.sim.sent(PNID).is_empty()).then_some(()) }).await;
    crashable.crash();
    assert_eq!(rig.outbox(id).await.0, "sending", "the crash left the row claimed, its outcome unknown");
    rig.faults(json!({"delay_ms": 0})).await;
    (rig, id)
}

#[tokio::test]
async fn a_crash_between_send_and_answer_does_not_send_twice_to_an_idempotent_endpoint() {
    let (rig, id) = crash_between_send_and_answer("simulator").await;
    let _sender = rig.start_sender();
    // After the lease lapses the row is resent with the same Idempotency-Key: the endpoint
    // answers the original id and sends nothing.
    let (state, attempts, _) = until(15, "the recovered send", || async {
        let o = rig.outbox(id).await;
        (o.0 == "done").then_some(o)
    })
    .await;
    assert_eq!((state.as_str(), attempts), ("done", 2));
    let stats = rig.sim.stats();
    assert_eq!((stats.sends, stats.duplicates), (1, 1), "sent once; the resend was recognised");
    let sent = rig.sim.sent(PNID);
    assert_eq!(sent.len(), 1);
    assert_eq!(rig.message(id).await.1.as_deref(), Some(sent[0].wamid.as_str()));
}

#[tokio::test]
async fn a_crash_between_send_and_answer_never_resends_to_the_graph_api() {
    let (rig, id) = crash_between_send_and_answer("cloud").await;
    let _sender = rig.start_sender();
    let (state, _, error) = until(15, "the interrupted row to be settled", || async {
        let o = rig.outbox(id).await;
        (o.0 != "sending").then_some(o)
    })
    .await;
    assert_eq!(state, "failed", "the Graph API does not honour idempotency keys: not resent");
    assert!(error.unwrap().contains("interrupted"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = rig.sim.stats();
    assert_eq!((stats.sends, stats.duplicates), (1, 0));
}

#[tokio::test]
async fn free_text_needs_the_24_hour_window_and_templates_are_always_allowed() {
    let rig = Rig::new("simulator", false, sim_config(), None, 1).await;
    let _sender = rig.start_sender();
    let (conv, _) = rig.ana_conversation().await;
    sqlx::query(
        "UPDATE messages SET created_at = now() - interval '25 hours' WHERE tenant_id = $1 AND conversation_id = $2",
    )
    .bind(rig.w.tenant.0)
    .bind(conv)
    .execute(&rig.app.pool)
    .await
    .unwrap();
    let r = rig.send(conv, json!({"body": "¿Sigue interesado?"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "outside_service_window");
    assert_eq!(r.body["error"]["field"], "body");
    let unknown = rig.send(conv, json!({"template": {"name": "seguimiento", "language": "es_MX"}})).await;
    assert_eq!((unknown.status, &unknown.body["error"]["field"]), (StatusCode::NOT_FOUND, &json!("template.name")));
    let admin = rig.w.token(rig.w.admin);
    let t = rig
        .app
        .post(
            "/api/v1/templates",
            admin,
            json!({"name": "seguimiento", "language": "es_MX",
            "body": "Hola {{1}}, ¿le interesa la promoción de {{2}}?"}),
        )
        .await;
    assert_eq!((t.status, &t.body["params"]), (StatusCode::CREATED, &json!(2)), "{:?}", t.body);
    let wrong =
        rig.send(conv, json!({"template": {"name": "seguimiento", "language": "es_MX", "parameters": ["Ana"]}})).await;
    assert_eq!(
        (wrong.status, &wrong.body["error"]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("template.parameters"))
    );
    let ok = rig
        .send(
            conv,
            json!({"template": {"name": "seguimiento", "language": "es_MX", "parameters": ["Ana", "noviembre"]}}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.body);
    assert_eq!(ok.body["body"], "Hola Ana, ¿le interesa la promoción de noviembre?");
    let sent = until(10, "the template send", || async {
        let s = rig.sim.sent(PNID);
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!((sent[0].kind.as_str(), sent[0].template.as_deref()), ("template", Some("seguimiento")));
    assert_eq!(sent[0].template_language.as_deref(), Some("es_MX"));
    // A prospect who never wrote can only be opened with a template.
    let p = rig
        .app
        .post("/api/v1/prospects", admin, json!({"name": "Nuevo", "phone": "+5215599990000", "team_id": rig.w.boom.0}))
        .await;
    let new_conv = p.body["conversation_id"].as_i64().unwrap();
    let r = rig.app.post(&format!("/api/v1/conversations/{new_conv}/messages"), admin, json!({"body": "Hola"})).await;
    assert_eq!(r.body["error"]["code"], "outside_service_window");
}

#[tokio::test]
async fn only_the_owner_opening_a_conversation_marks_it_read_and_sends_a_receipt() {
    let rig = Rig::new("simulator", false, sim_config(), None, 0).await;
    let _sender = rig.start_sender();
    let wamid = rig.sim.inbound_text(PNID, "+5215512340001", "Lucía Gómez", "Buenas tardes").unwrap();
    let conv: i64 = until(10, "the inbound message", || async {
        sqlx::query_scalar("SELECT conversation_id FROM messages WHERE tenant_id = $1 AND external_id = $2")
            .bind(rig.w.tenant.0)
            .bind(&wamid)
            .fetch_optional(&rig.app.pool)
            .await
            .unwrap()
    })
    .await;
    // The prospect is Ana's: unread is hers.
    let prospect: i64 =
        sqlx::query_scalar("SELECT prospect_id FROM conversations WHERE tenant_id = $1 AND conversation_id = $2")
            .bind(rig.w.tenant.0)
            .bind(conv)
            .fetch_one(&rig.app.pool)
            .await
            .unwrap();
    let w = &rig.w;
    let moved = rig
        .app
        .post(
            &format!("/api/v1/prospects/{prospect}/reassign"),
            w.token(w.admin),
            json!({"team_id": w.boom.0, "executive_id": w.exec_ana.0}),
        )
        .await;
    assert_eq!(moved.status, StatusCode::OK, "{:?}", moved.body);
    let reads = || async {
        let reads: Value = reqwest::get(format!("{}/_sim/reads", rig.sim.url())).await.unwrap().json().await.unwrap();
        reads["reads"].as_array().unwrap().iter().filter(|r| r["message_id"] == json!(wamid)).count()
    };
    // An admin and the team's coordinator open it: nothing is marked, WhatsApp is told nothing.
    for supervisor in [w.admin, w.coord_boom] {
        let r = rig.app.post(&format!("/api/v1/conversations/{conv}/read"), w.token(supervisor), json!({})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(
            (&r.body["marked"], &r.body["kept_for_owner"], &r.body["unread_count"]),
            (&json!(0), &json!(true), &json!(1))
        );
    }
    let row = rig.app.get(&format!("/api/v1/conversations/{conv}"), w.token(w.exec_ana)).await;
    assert_eq!(row.body["unread_count"], 1, "a supervisor's look cleared the owner's unread: {:?}", row.body);
    let receipts: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE tenant_id = $1 AND kind = 'mark_read'")
        .bind(w.tenant.0)
        .fetch_one(&rig.app.pool)
        .await
        .unwrap();
    assert_eq!(receipts, 0, "a supervisor's look queued a read receipt");
    // The owner opens it: read, and the prospect's phone shows the blue ticks, once.
    let r = rig.app.post(&format!("/api/v1/conversations/{conv}/read"), w.token(w.exec_ana), json!({})).await;
    assert_eq!(
        (r.status, &r.body["marked"], &r.body["kept_for_owner"]),
        (StatusCode::OK, &json!(1), &json!(false)),
        "{:?}",
        r.body
    );
    until(10, "the read receipt", || async { (reads().await > 0).then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(reads().await, 1, "one read receipt");
}

#[tokio::test]
async fn sends_keep_to_the_numbers_rate() {
    let _alone = support::exclusive().await;
    let rig = Rig::new("simulator", false, sim_config(), Some(20), 12).await;
    let convs: Vec<i64> =
        sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 ORDER BY conversation_id")
            .bind(rig.w.tenant.0)
            .fetch_all(&rig.app.pool)
            .await
            .unwrap();
    assert_eq!(convs.len(), 60);
    let admin = rig.w.token(rig.w.admin);
    for c in &convs {
        let r = rig.app.post(&format!("/api/v1/conversations/{c}/messages"), admin, json!({"body": "Promoción"})).await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    let _sender = rig.start_sender();
    let sent = until(20, "60 sends", || async {
        let s = rig.sim.sent(PNID);
        (s.len() == 60).then_some(s)
    })
    .await;
    let times: Vec<chrono::DateTime<chrono::Utc>> =
        sent.iter().map(|m| chrono::DateTime::parse_from_rfc3339(&m.received_at).unwrap().to_utc()).collect();
    // 20/s with bursts of 2: no second holds more than 22, and 60 take at least 2.5 s.
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| (**u - *t).num_milliseconds() < 1000).count();
        assert!(in_window <= 22, "{in_window} sends within one second from send {i}");
    }
    let span = (*times.last().unwrap() - times[0]).num_milliseconds();
    assert!(span >= 2500, "60 sends at 20/s took only {span} ms");
}

#[tokio::test]
async fn the_bot_answers_stops_when_a_human_replies_and_resumes_after_idle() {
    let rig = Rig::new("simulator", true, sim_config(), None, 0).await;
    let _sender = rig.start_sender();
    let admin = rig.w.token(rig.w.admin);
    let s = rig
        .app
        .put(
            "/api/v1/bot/settings",
            admin,
            json!({"enabled": true, "greeting": "¡Hola! Soy el asistente de Ventas.",
            "fallback_reply": "Te comunico con un asesor.", "office_days": [1, 2, 3, 4, 5, 6, 7],
            "office_open": "00:00", "office_close": "23:59", "resume_after_idle_secs": 600,
            "typing_base_ms": 100, "typing_ms_per_char": 1, "typing_min_ms": 100, "typing_max_ms": 300}),
        )
        .await;
    assert_eq!(s.status, StatusCode::OK, "{:?}", s.body);
    let rule = rig
        .app
        .post("/api/v1/bot/rules", admin, json!({"match_kind": "keyword", "pattern": "precio, cuánto cuesta", "reply": "Nuestros planes empiezan en $499."}))
        .await;
    assert_eq!(rule.status, StatusCode::CREATED, "{:?}", rule.body);
    let bad =
        rig.app.post("/api/v1/bot/rules", admin, json!({"match_kind": "regex", "pattern": "(", "reply": "x"})).await;
    assert_eq!((bad.status, &bad.body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("pattern")));
    let nul = rig
        .app
        .post("/api/v1/bot/rules", admin, json!({"match_kind": "keyword", "pattern": "pre\0cio", "reply": "x"}))
        .await;
    assert_eq!((nul.status, &nul.body["error"]["field"]), (StatusCode::UNPROCESSABLE_ENTITY, &json!("pattern")));

    // A new prospect asks: greeting, then the rule's answer, each after a typing pause.
    let from = "+5215512349999";
    let started = Instant::now();
    rig.sim.inbound_text(PNID, from, "Marta Ruiz", "Hola, ¿cuál es el precio?").unwrap();
    until(10, "the bot's two replies", || async {
        (rig.texts() == ["¡Hola! Soy el asistente de Ventas.", "Nuestros planes empiezan en $499."]).then_some(())
    })
    .await;
    assert!(started.elapsed() >= Duration::from_millis(200), "two typing pauses of at least 100 ms each");
    let conv: i64 = sqlx::query_scalar(
        "SELECT c.conversation_id FROM conversations c JOIN prospects p USING (tenant_id, prospect_id) WHERE p.tenant_id = $1 AND p.phone = $2",
    )
    .bind(rig.w.tenant.0)
    .bind(from)
    .fetch_one(&rig.app.pool)
    .await
    .unwrap();
    let bot_messages: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND sender_kind = 'bot'",
    )
    .bind(rig.w.tenant.0)
    .bind(conv)
    .fetch_one(&rig.app.pool)
    .await
    .unwrap();
    assert_eq!(bot_messages, 2);

    // A human replies: the bot pauses (a bot_pause row, so inboxes and realtime see it).
    let r = rig
        .app
        .post(&format!("/api/v1/conversations/{conv}/messages"), admin, json!({"body": "Hola Marta, soy Patricia."}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let state = rig.app.get(&format!("/api/v1/conversations/{conv}/bot"), admin).await;
    assert_eq!(
        (&state.body["paused"], &state.body["reason"]),
        (&json!(true), &json!("human_reply")),
        "{:?}",
        state.body
    );
    assert!(state.body["resumes_at"].is_string());
    assert_eq!(state.body["bot_enabled"], true);
    rig.app.sync().await;
    assert_eq!(rig.app.get(&format!("/api/v1/conversations/{conv}"), admin).await.body["bot_paused"], true);
    rig.sim.inbound_text(PNID, from, "Marta Ruiz", "¿Y cuánto cuesta el plan anual?").unwrap();
    until(10, "the human's message to be sent", || async { (rig.texts().len() == 3).then_some(()) }).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(rig.texts().len(), 3, "a paused bot does not answer");

    // Idle time passes (moved back in the database); the scheduler's resume_paused_bots job runs.
    sqlx::query(
        "UPDATE bot_pause SET resumes_at = now() - interval '1 second' WHERE tenant_id = $1 AND conversation_id = $2",
    )
    .bind(rig.w.tenant.0)
    .bind(conv)
    .execute(&rig.app.pool)
    .await
    .unwrap();
    assert_eq!(platica_store::whatsapp::bot::resume_idle_in(&rig.app.pool, rig.w.tenant).await.unwrap(), 1);
    let state = rig.app.get(&format!("/api/v1/conversations/{conv}/bot"), admin).await;
    assert_eq!((&state.body["paused"], &state.body["reason"]), (&json!(false), &json!("idle")));
    rig.sim.inbound_text(PNID, from, "Marta Ruiz", "precio").unwrap();
    until(10, "the resumed bot's answer", || async { (rig.texts().len() == 4).then_some(()) }).await;
    assert_eq!(rig.texts()[3], "Nuestros planes empiezan en $499.");

    // Paused by hand: stays paused, and says so.
    let p = rig.app.put(&format!("/api/v1/conversations/{conv}/bot"), admin, json!({"paused": true})).await;
    assert_eq!(
        (&p.body["paused"], &p.body["reason"], &p.body["resumes_at"]),
        (&json!(true), &json!("manual"), &Value::Null)
    );
    let _ = rig.stop.send(true);
}

// --- Sends whose outcome is unknown: never sent twice to the Graph API (issue 17) ---------------

/// A `cloud` account (the Graph API: no idempotency) on a simulator that, like the Graph API,
/// ignores `Idempotency-Key`, so a blind retry reaches the customer as a second message.
async fn graph_rig(sim: SimConfig, faults: Value) -> Rig {
    let rig = Rig::new("cloud", false, sim, None, 1).await;
    let mut f = faults;
    f["ignore_idempotency_key"] = json!(true);
    rig.faults(f).await;
    rig
}

/// Statuses after these delays (`sent` from the send itself), read for sure.
fn statuses_after(sent_ms: u64) -> SimConfig {
    let mut cfg = sim_config();
    cfg.status_delays.sent = DurRange::millis(sent_ms, sent_ms);
    cfg
}

/// A sender that gives up on an answer after 1 s and waits `window` for a status before a resend.
fn unsure_sender(window: Duration) -> SenderConfig {
    SenderConfig { request_timeout: Duration::from_secs(1), unconfirmed_window: window, ..sender_config() }
}

impl Rig {
    /// Sends a reply from Ana in her first conversation: (conversation, message).
    async fn reply(&self, body: &str) -> (i64, i64) {
        let (conv, _) = self.ana_conversation().await;
        let r = self.send(conv, json!({"body": body})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        (conv, r.body["message_id"].as_i64().unwrap())
    }

    /// Requests the simulator received for this number and sent (as the customer would see them).
    fn sends(&self) -> u64 {
        self.sim.stats().sends
    }

    /// Waits until the conversation shows exactly one outbound message with `status` (and not
    /// unconfirmed), and returns it.
    async fn settled_as(&self, conv: i64, status: &str) -> Value {
        until(15, &format!("the message to show {status}"), || async {
            let out = self.api_outbound(conv).await;
            (out.len() == 1 && out[0]["status"] == status && out[0]["unconfirmed"] == false).then(|| out[0].clone())
        })
        .await
    }

    /// Posts a Cloud API webhook to the app, signed with the account's secret.
    async fn webhook(&self, body: Value) {
        let (status, receipt) = self.app.whatsapp_webhook(SECRET, &body).await;
        assert!(status.is_success(), "{status}: {receipt}");
    }

    /// Waits until the message shows as not confirmed yet in the API (and its row `unconfirmed`).
    async fn shown_unconfirmed(&self, conv: i64, id: i64) -> Value {
        let m = until(10, "the message to show unconfirmed", || async {
            let out = self.api_outbound(conv).await;
            (out.len() == 1 && out[0]["unconfirmed"] == true).then(|| out[0].clone())
        })
        .await;
        assert_eq!((m["message_id"].as_i64(), &m["status"]), (Some(id), &json!("queued")), "{m}");
        assert_eq!(self.outbox(id).await.0, "unconfirmed");
        m
    }
}

#[tokio::test]
async fn accepted_then_timed_out_then_a_status_settles_it_with_one_send() {
    // (a) The send is accepted but its answer hangs past the sender's timeout; the first status
    // comes a second after the timeout.
    let rig = graph_rig(statuses_after(2000), json!({"responses": [{"after_accept": "hang", "hang_ms": 3000}]})).await;
    let _sender = rig.start_sender_with(unsure_sender(Duration::from_secs(60)));
    let (conv, id) = rig.reply("Le envío la cotización").await;
    rig.shown_unconfirmed(conv, id).await;
    assert_eq!(rig.sends(), 1, "not resent while unconfirmed");
    let m = rig.settled_as(conv, "read").await;
    let sent = rig.sim.sent(PNID);
    assert_eq!(sent.len(), 1, "one send: the timeout was not retried");
    assert_eq!(m["external_id"].as_str(), Some(sent[0].wamid.as_str()), "the status named the message");
    let (state, attempts, _) = rig.outbox(id).await;
    assert_eq!((state.as_str(), attempts), ("done", 1));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rig.sends(), 1);
}

#[tokio::test]
async fn a_status_before_the_slow_answer_times_out_is_not_overwritten_and_nothing_is_resent() {
    // (b) The status webhook arrives within milliseconds, while the answer is still hanging; then
    // the answer times out.
    let rig = graph_rig(sim_config(), json!({"responses": [{"after_accept": "hang", "hang_ms": 3000}]})).await;
    let _sender = rig.start_sender_with(unsure_sender(Duration::from_secs(60)));
    let (conv, id) = rig.reply("Respuesta lenta").await;
    until(10, "the status to finish the row", || async { (rig.outbox(id).await.0 == "done").then_some(()) }).await;
    // Past the sender's timeout (1 s): the lost answer must not undo what the status settled.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let m = rig.settled_as(conv, "read").await;
    let sent = rig.sim.sent(PNID);
    assert_eq!(sent.len(), 1, "one send");
    assert_eq!(m["external_id"].as_str(), Some(sent[0].wamid.as_str()));
    let (state, attempts, _) = rig.outbox(id).await;
    assert_eq!((state.as_str(), attempts), ("done", 1), "the timeout after the status changed nothing");
}

#[tokio::test]
async fn with_no_status_ever_it_stays_unconfirmed_for_the_window_then_is_sent_once_more() {
    // (c) The answer times out and WhatsApp never reports a status for either copy.
    let rig =
        graph_rig(statuses_after(600_000), json!({"responses": [{"after_accept": "hang", "hang_ms": 3000}]})).await;
    let window = Duration::from_secs(2);
    let _sender = rig.start_sender_with(unsure_sender(window));
    let (conv, id) = rig.reply("¿Le llegó?").await;
    rig.shown_unconfirmed(conv, id).await;
    assert_eq!(rig.sends(), 1, "one send during the window");
    let (state, attempts, _) = until(15, "the resend after the window", || async {
        let o = rig.outbox(id).await;
        (o.0 == "done").then_some(o)
    })
    .await;
    assert_eq!((state.as_str(), attempts), ("done", 2), "the resend is counted as an attempt");
    let sent = rig.sim.sent(PNID);
    assert_eq!(sent.len(), 2);
    let at = |i: usize| chrono::DateTime::parse_from_rfc3339(&sent[i].received_at).unwrap();
    let gap = (at(1) - at(0)).num_milliseconds();
    assert!(gap >= 3000, "resent only after the 1 s timeout and the 2 s window, not after {gap} ms");
    let m = rig.settled_as(conv, "queued").await;
    assert_eq!(m["external_id"].as_str(), Some(sent[1].wamid.as_str()), "the accepted resend's id");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(rig.sends(), 2, "exactly once more");
}

#[tokio::test]
async fn a_connection_reset_after_the_request_was_written_is_unconfirmed_not_resent() {
    // (d) The send is accepted, then the connection is reset instead of answering.
    let rig = graph_rig(statuses_after(600_000), json!({"responses": [{"after_accept": "reset"}]})).await;
    let _sender = rig.start_sender_with(unsure_sender(Duration::from_secs(60)));
    let (conv, id) = rig.reply("Conexión cortada").await;
    rig.shown_unconfirmed(conv, id).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rig.sends(), 1, "one send");
    let out = rig.api_outbound(conv).await;
    assert_eq!((out.len(), &out[0]["unconfirmed"], &out[0]["status"]), (1, &json!(true), &json!("queued")));
    let (state, attempts, error) = rig.outbox(id).await;
    assert_eq!((state.as_str(), attempts), ("unconfirmed", 1));
    assert!(error.as_deref().is_some_and(|e| e.contains("connection lost")), "{error:?}");
}

#[tokio::test]
async fn a_5xx_after_accepting_is_not_resent_and_its_status_settles_it() {
    // (e) The send is accepted, then answered 500; the status comes a little later.
    let rig = graph_rig(statuses_after(1500), json!({"responses": [{"after_accept": "error", "status": 500}]})).await;
    let _sender = rig.start_sender_with(unsure_sender(Duration::from_secs(60)));
    let (conv, id) = rig.reply("Error del servidor").await;
    rig.shown_unconfirmed(conv, id).await;
    assert!(rig.outbox(id).await.2.is_some_and(|e| e.contains("HTTP 500")));
    assert_eq!(rig.sends(), 1, "the 500 was not retried");
    let m = rig.settled_as(conv, "read").await;
    let sent = rig.sim.sent(PNID);
    assert_eq!(sent.len(), 1);
    assert_eq!(m["external_id"].as_str(), Some(sent[0].wamid.as_str()));
    assert_eq!(rig.outbox(id).await.0, "done");
}

#[tokio::test]
async fn a_status_for_another_copy_attaches_to_the_message_and_cancels_the_resend() {
    // Two copies exist (an earlier version resent blindly): the message holds the second copy's
    // id, and WhatsApp reports the first. Its callback data names the row: the status attaches to
    // the one message the user sees, which takes the id WhatsApp reports.
    let rig = Rig::new("cloud", false, statuses_after(600_000), None, 1).await;
    let _sender = rig.start_sender();
    let (conv, id) = rig.reply("Una copia").await;
    until(10, "the send", || async { (rig.outbox(id).await.0 == "done").then_some(()) }).await;
    let (outbox_id, second): (i64, String) =
        sqlx::query_as("SELECT outbox_id, external_id FROM outbox WHERE tenant_id = $1 AND message_id = $2")
            .bind(rig.w.tenant.0)
            .bind(id)
            .fetch_one(&rig.app.pool)
            .await
            .unwrap();
    // The row waits unconfirmed again, as it would have before the second copy's answer.
    sqlx::query("UPDATE outbox SET state = 'unconfirmed', not_before = now() + interval '1 hour' WHERE tenant_id = $1 AND outbox_id = $2")
        .bind(rig.w.tenant.0)
        .bind(outbox_id)
        .execute(&rig.app.pool)
        .await
        .unwrap();
    let status = |wamid: &str, status: &str| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
            "value": {"messaging_product": "whatsapp", "metadata": {"display_phone_number": "5215512345678",
                "phone_number_id": PNID}, "statuses": [{"id": wamid, "status": status, "timestamp": "1700000000",
                "recipient_id": "5215500000001", "biz_opaque_callback_data": format!("platica:o:{outbox_id}")}]}}]}]})
    };
    rig.webhook(status("wamid.FIRST-COPY", "delivered")).await;
    let m = rig.settled_as(conv, "delivered").await;
    assert_eq!(m["external_id"], "wamid.FIRST-COPY", "the message takes the id WhatsApp reports");
    let (state, external): (String, Option<String>) =
        sqlx::query_as("SELECT state, external_id FROM outbox WHERE tenant_id = $1 AND outbox_id = $2")
            .bind(rig.w.tenant.0)
            .bind(outbox_id)
            .fetch_one(&rig.app.pool)
            .await
            .unwrap();
    assert_eq!((state.as_str(), external.as_deref()), ("done", Some("wamid.FIRST-COPY")), "the resend is cancelled");
    // The other copy's statuses still reach the same message.
    rig.webhook(status(&second, "read")).await;
    let m = rig.settled_as(conv, "read").await;
    assert_eq!(m["external_id"].as_str(), Some(second.as_str()));
    assert_eq!(rig.sends(), 1);
}

/// Issue 17, part 2: one recipient's Graph requests hang 15 s; messages to the others go out at
/// once, a retry due shortly goes out on time, and the slow recipient's own messages keep their
/// order (the second waits for the first).
#[tokio::test]
async fn one_slow_recipient_does_not_stall_the_others_and_retries_go_out_on_time() {
    let _alone = support::exclusive().await;
    let rig = Rig::new("simulator", false, sim_config(), None, 2).await;
    let convs: Vec<(i64, String)> = sqlx::query_as(
        "SELECT c.conversation_id, substr(p.phone, 2) FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
         WHERE c.tenant_id = $1 ORDER BY c.conversation_id LIMIT 4",
    )
    .bind(rig.w.tenant.0)
    .fetch_all(&rig.app.pool)
    .await
    .unwrap();
    assert_eq!(convs.len(), 4);
    let admin = rig.w.token(rig.w.admin);
    let app = &rig.app;
    let post = |conv: i64, body: &'static str| async move {
        let r = app.post(&format!("/api/v1/conversations/{conv}/messages"), admin, json!({"body": body})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["message_id"].as_i64().unwrap()
    };
    let (slow, b, c, d) = (&convs[0], &convs[1], &convs[2], &convs[3]);
    rig.faults(json!({"recipient_delay_ms": {slow.1.clone(): 15_000}})).await;
    let _sender = rig.start_sender_with(SenderConfig {
        request_timeout: Duration::from_secs(30),
        backoff_base: Duration::from_millis(1500),
        backoff_max: Duration::from_millis(1500),
        ..sender_config()
    });
    let started = Instant::now();
    let first = post(slow.0, "Primero (lento)").await;
    let second = post(slow.0, "Segundo (lento)").await;
    until(5, "the slow recipient's first send in flight", || async {
        (rig.outbox(first).await.0 == "sending").then_some(())
    })
    .await;
    assert_eq!(rig.outbox(second).await.0, "pending", "its second message waits for the first");

    // The next send to anyone is refused for now (a temporary error): retried in 0.75..1.5 s.
    rig.faults(json!({"responses": [{"status": 400, "code": 131016, "message": "Service unavailable"}]})).await;
    let retried = post(b.0, "Reintento").await;
    let due: chrono::DateTime<chrono::Utc> = until(5, "the retry to be scheduled", || async {
        let (state, attempts, _) = rig.outbox(retried).await;
        if state != "pending" || attempts != 1 {
            return None;
        }
        sqlx::query_scalar("SELECT not_before FROM outbox WHERE tenant_id = $1 AND message_id = $2")
            .bind(rig.w.tenant.0)
            .bind(retried)
            .fetch_one(&rig.app.pool)
            .await
            .ok()
    })
    .await;

    // Others go out promptly while the slow one hangs.
    let posted = Instant::now();
    post(c.0, "Para C").await;
    post(d.0, "Para D").await;
    until(3, "C and D sent", || async {
        let t = rig.texts();
        (t.iter().any(|x| x == "Para C") && t.iter().any(|x| x == "Para D")).then_some(())
    })
    .await;
    let prompt = posted.elapsed();
    assert!(prompt < Duration::from_secs(2), "C and D took {prompt:?} behind a slow recipient");

    // The retry goes out when due, not after the slow answer.
    let sent = until(5, "the retry", || async {
        rig.sim.sent(PNID).into_iter().find(|m| m.text.as_deref() == Some("Reintento"))
    })
    .await;
    let at = chrono::DateTime::parse_from_rfc3339(&sent.received_at).unwrap().to_utc();
    let late = (at - due).num_milliseconds();
    assert!(late < 500, "the retry was due at {due} and went out {late} ms later");
    assert!(started.elapsed() < Duration::from_secs(10), "the retry did not wait for the slow answer");

    // The slow recipient's messages, in order, once its first answer comes.
    let slow_sent = until(40, "both slow sends", || async {
        let s: Vec<_> = rig.sim.sent(PNID).into_iter().filter(|m| m.to == slow.1).collect();
        (s.len() == 2).then_some(s)
    })
    .await;
    assert_eq!(slow_sent[0].text.as_deref(), Some("Primero (lento)"));
    assert_eq!(slow_sent[1].text.as_deref(), Some("Segundo (lento)"));
    for id in [first, second, retried] {
        until(10, "done", || async { (rig.outbox(id).await.0 == "done").then_some(()) }).await;
    }
    assert_eq!(rig.sim.stats().sends, 5, "each message sent once");
}

/// The claim takes only the head of each recipient's queue, and stays an index walk with one
/// index probe per candidate on a 10,000-row outbox (half of it queued to one recipient).
#[tokio::test]
async fn the_claim_takes_each_recipients_head_and_uses_the_recipient_index() {
    let rig = Rig::new("simulator", false, sim_config(), None, 0).await;
    let (tenant, account) = (rig.w.tenant.0, rig._account);
    sqlx::query(
        "INSERT INTO outbox (tenant_id, channel_account_id, kind, payload, not_before)
         SELECT $1, $2, 'mark_read', jsonb_build_object('to', CASE WHEN i % 2 = 0 THEN 'busy' ELSE 'r' || i END),
                now() - interval '1 minute' + i * interval '1 millisecond'
         FROM generate_series(1, 10000) i",
    )
    .bind(tenant)
    .bind(account)
    .execute(&rig.app.pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE outbox").execute(&rig.app.pool).await.unwrap();
    let tenant_id = platica_domain::TenantId(tenant);
    let started = Instant::now();
    let claimed =
        platica_store::whatsapp::outbox::claim(&rig.app.pool, tenant_id, account, 100, Duration::from_secs(60))
            .await
            .unwrap();
    let took = started.elapsed();
    assert_eq!(claimed.len(), 100);
    let busy = claimed.iter().filter(|r| r.recipient() == Some("busy")).count();
    assert_eq!(busy, 1, "one head per recipient");
    // With the head in flight, none of that recipient's rows is claimed.
    let more = platica_store::whatsapp::outbox::claim(&rig.app.pool, tenant_id, account, 200, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(more.len(), 200);
    assert!(more.iter().all(|r| r.recipient() != Some("busy")));
    let plan: Vec<String> = sqlx::query_scalar(
        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY ON)
         SELECT o.tenant_id, o.outbox_id FROM outbox o
         WHERE o.tenant_id = $1 AND o.channel_account_id = $2 AND o.state = 'pending' AND o.not_before <= now()
           AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.tenant_id = o.tenant_id AND e.channel_account_id = o.channel_account_id
               AND e.recipient = o.recipient AND e.state IN ('pending', 'sending') AND (e.state = 'sending' OR e.outbox_id < o.outbox_id))
         ORDER BY o.not_before, o.outbox_id LIMIT 100 FOR UPDATE SKIP LOCKED",
    )
    .bind(tenant)
    .bind(account)
    .fetch_all(&rig.app.pool)
    .await
    .unwrap();
    println!("claim of 100 on 10,000 rows took {took:?}\n{}", plan.join("\n"));
    let text = plan.join("\n");
    assert!(text.contains("outbox_recipient_queue"), "the head check probes the recipient index:\n{text}");
    assert!(took < Duration::from_millis(500), "the claim took {took:?}");
}
