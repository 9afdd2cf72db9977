//! The admin's bot screen through the API (issue 24): rules edited and reordered, "try a
//! message" giving the answer the bot really sends to a webhook message (the simulator delivers
//! signed webhooks and receives the bot's replies), the conversations where the bot is paused as
//! each reader may see them, bad input as 4xx naming the field, and 403 for non-admins.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{SimChannel, TestApp, World, until, world};
use tokio::sync::watch;

const PNID: &str = support::SIM_PNID;

struct Rig {
    app: TestApp,
    w: World,
    sim: platica_simulator::SimHandle,
    stop: watch::Sender<bool>,
    _sender: Sender,
}

async fn rig() -> Rig {
    let key = support::install_test_key();
    let app = TestApp::spawn_with_bot().await;
    let w = world(&app, "acme", 1).await;
    let (sim, _account) =
        support::simulator_channel(&app, &w, support::quick_simulator(1.0), &SimChannel::DEFAULT).await;
    let stop = watch::channel(false).0;
    let config = SenderConfig {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(400),
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(200),
        refresh: Duration::from_millis(200),
        request_timeout: Duration::from_secs(10),
        ..SenderConfig::default()
    };
    let sender = Sender::start(app.pool.clone(), key, config, stop.subscribe());
    Rig { app, w, sim, stop, _sender: sender }
}

impl Rig {
    fn admin(&self) -> &str {
        self.w.token(self.w.admin)
    }

    fn texts(&self) -> Vec<String> {
        self.sim.sent(PNID).into_iter().filter_map(|m| m.text).collect()
    }

    /// The bot on all day every day (no out-of-hours reply), typing quickly.
    async fn bot_on(&self, extra: Value) {
        let mut body = json!({"enabled": true, "fallback_reply": "Te comunico con un asesor.",
            "office_days": [1, 2, 3, 4, 5, 6, 7], "office_open": "00:00", "office_close": "23:59",
            "typing_base_ms": 50, "typing_ms_per_char": 0, "typing_min_ms": 50, "typing_max_ms": 100});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = self.app.put("/api/v1/bot/settings", self.admin(), body).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }

    async fn rule(&self, kind: &str, pattern: &str, reply: &str) -> i64 {
        let r = self
            .app
            .post("/api/v1/bot/rules", self.admin(), json!({"match_kind": kind, "pattern": pattern, "reply": reply}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        r.body["bot_rule_id"].as_i64().unwrap()
    }

    async fn try_text(&self, text: &str) -> Value {
        let r = self.app.post("/api/v1/bot/try", self.admin(), json!({"text": text})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body
    }

    /// A prospect writes through a signed webhook; returns the bot's replies to it.
    async fn bot_answers(&self, from: &str, text: &str, replies: usize) -> Vec<String> {
        let before = self.texts().len();
        self.sim.inbound_text(PNID, from, "Marta Ruiz", text).unwrap();
        let got = until(15, "the bot's replies", || async {
            let t = self.texts();
            (t.len() >= before + replies).then(|| t[before..].to_vec())
        })
        .await;
        // Nothing more comes.
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(self.texts().len(), before + replies, "{:?}", self.texts());
        got
    }

    async fn conversation_of(&self, phone: &str) -> i64 {
        sqlx::query_scalar(
            "SELECT c.conversation_id FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
             WHERE p.tenant_id = $1 AND p.phone = $2",
        )
        .bind(self.w.tenant.0)
        .bind(phone)
        .fetch_one(&self.app.pool)
        .await
        .unwrap()
    }

    async fn rule_ids(&self) -> Vec<i64> {
        let r = self.app.get("/api/v1/bot/rules", self.admin()).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        r.body.as_array().unwrap().iter().map(|x| x["bot_rule_id"].as_i64().unwrap()).collect()
    }
}

fn replies(v: &Value) -> Vec<String> {
    v["replies"].as_array().unwrap().iter().map(|r| r["text"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn trying_a_message_agrees_with_the_bot_and_reordering_changes_the_answer() {
    let rig = rig().await;
    rig.bot_on(json!({})).await;
    let precio = rig.rule("keyword", "precio, cuánto cuesta", "Nuestros planes empiezan en $499.").await;
    let plan = rig.rule("regex", r"\bplan(es)?\b", "Tenemos plan mensual y anual.").await;
    assert_eq!(rig.rule_ids().await, [precio, plan], "a new rule goes after the last");

    let from = "+5215512340001";
    // Warm up the conversation: its first message is a new conversation's (no greeting is set).
    let question = "¿Cuál es el precio del plan?";
    let tried = rig.try_text(question).await;
    assert_eq!((&tried["outcome"], &tried["bot_rule_id"]), (&json!("rule"), &json!(precio)), "{tried:?}");
    assert_eq!(tried["in_office_hours"], true);
    let sent = rig.bot_answers(from, question, 1).await;
    assert_eq!(sent, replies(&tried), "the bot sends what trying said");

    // Reordered: the other rule answers the same message, in the box and on WhatsApp.
    let r = rig.app.put("/api/v1/bot/rules/order", rig.admin(), json!({"bot_rule_ids": [plan, precio]})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let order: Vec<(i64, i64)> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["bot_rule_id"].as_i64().unwrap(), x["position"].as_i64().unwrap()))
        .collect();
    assert_eq!(order, [(plan, 0), (precio, 1)]);
    let tried = rig.try_text(question).await;
    assert_eq!((&tried["outcome"], &tried["bot_rule_id"]), (&json!("rule"), &json!(plan)));
    assert_eq!(rig.bot_answers(from, question, 1).await, replies(&tried));

    // Edited: the reply changes, and a deactivated rule no longer answers.
    let r = rig
        .app
        .patch(&format!("/api/v1/bot/rules/{plan}"), rig.admin(), json!({"reply": "Plan anual: 2 meses gratis."}))
        .await;
    assert_eq!((r.status, &r.body["reply"]), (StatusCode::OK, &json!("Plan anual: 2 meses gratis.")), "{:?}", r.body);
    let tried = rig.try_text(question).await;
    assert_eq!(replies(&tried), ["Plan anual: 2 meses gratis."]);
    assert_eq!(rig.bot_answers(from, question, 1).await, replies(&tried));
    let r = rig.app.patch(&format!("/api/v1/bot/rules/{plan}"), rig.admin(), json!({"active": false})).await;
    assert_eq!((r.status, &r.body["active"]), (StatusCode::OK, &json!(false)));
    assert_eq!(rig.try_text(question).await["bot_rule_id"], json!(precio));
    let r = rig
        .app
        .patch(
            &format!("/api/v1/bot/rules/{plan}"),
            rig.admin(),
            json!({"active": true, "match_kind": "keyword", "pattern": "anual"}),
        )
        .await;
    assert_eq!((r.status, &r.body["match_kind"]), (StatusCode::OK, &json!("keyword")), "{:?}", r.body);

    // The greeting of a new conversation comes first.
    rig.bot_on(json!({"greeting": "¡Hola! Soy el asistente."})).await;
    let r = rig.app.post("/api/v1/bot/try", rig.admin(), json!({"text": "precio", "new_conversation": true})).await;
    assert_eq!(replies(&r.body), ["¡Hola! Soy el asistente.", "Nuestros planes empiezan en $499."]);
    assert_eq!(rig.bot_answers("+5215512340002", "precio", 2).await, replies(&r.body));

    // No rule matches: the fallback hands over, and the bot pauses for that conversation.
    let tried = rig.try_text("quiero hablar con alguien").await;
    assert_eq!((&tried["outcome"], &tried["bot_rule_id"]), (&json!("fallback"), &Value::Null));
    assert_eq!(tried["replies"][0]["handover"], true);
    assert_eq!(rig.bot_answers(from, "quiero hablar con alguien", 1).await, replies(&tried));
    let conv = rig.conversation_of(from).await;
    until(5, "the handover pause", || async {
        let r = rig.app.get(&format!("/api/v1/conversations/{conv}/bot"), rig.admin()).await;
        (r.body["paused"] == true).then_some(())
    })
    .await;

    // Paused conversations: each reader sees exactly those paused conversations they may open.
    let r = rig.app.get("/api/v1/bot/paused", rig.admin()).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let listed: Vec<i64> = r.body.as_array().unwrap().iter().map(|x| x["conversation_id"].as_i64().unwrap()).collect();
    assert_eq!(listed, [conv]);
    assert_eq!(r.body[0]["reason"], "handover");
    assert_eq!(r.body[0]["prospect_phone"], from);
    let mut seen_by = 0;
    for token in rig.w.tokens.values() {
        let sees = rig.app.get(&format!("/api/v1/conversations/{conv}"), token).await.status == StatusCode::OK;
        let r = rig.app.get("/api/v1/bot/paused", token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let listed = r.body.as_array().unwrap().iter().any(|x| x["conversation_id"] == conv);
        assert_eq!(listed, sees, "a reader lists a paused conversation exactly when they may open it");
        seen_by += usize::from(sees);
    }
    assert!(seen_by >= 2 && seen_by < rig.w.tokens.len(), "{seen_by} readers: someone does not see it");

    // Resumed: out of the list, and the bot answers that conversation again.
    let r = rig.app.put(&format!("/api/v1/conversations/{conv}/bot"), rig.admin(), json!({"paused": false})).await;
    assert_eq!((r.status, &r.body["paused"]), (StatusCode::OK, &json!(false)));
    assert_eq!(rig.app.get("/api/v1/bot/paused", rig.admin()).await.body, json!([]));
    assert_eq!(rig.bot_answers(from, "precio", 1).await, ["Nuestros planes empiezan en $499."]);

    // Out of hours (a Sunday at noon in Mexico City, office days Monday to Friday) and bot off.
    rig.bot_on(json!({"office_days": [1, 2, 3, 4, 5], "out_of_hours_reply": "Estamos cerrados.", "time_zone": "America/Mexico_City"})).await;
    let r = rig.app.post("/api/v1/bot/try", rig.admin(), json!({"text": "precio", "at": "2026-11-29T18:00:00Z"})).await;
    assert_eq!(
        (&r.body["outcome"], &r.body["in_office_hours"]),
        (&json!("out_of_hours"), &json!(false)),
        "{:?}",
        r.body
    );
    assert_eq!(replies(&r.body), ["Estamos cerrados."]);
    let r = rig.app.post("/api/v1/bot/try", rig.admin(), json!({"text": "precio", "at": "2026-11-24T18:00:00Z"})).await;
    assert_eq!((&r.body["outcome"], &r.body["in_office_hours"]), (&json!("rule"), &json!(true)), "{:?}", r.body);
    let r = rig.app.put("/api/v1/bot/settings", rig.admin(), json!({"enabled": false})).await;
    assert_eq!(r.status, StatusCode::OK);
    let tried = rig.try_text("precio").await;
    assert_eq!((&tried["outcome"], &tried["replies"]), (&json!("bot_off"), &json!([])));

    // Deleting a rule: the other answers.
    assert_eq!(
        rig.app.delete(&format!("/api/v1/bot/rules/{precio}"), rig.admin()).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(rig.rule_ids().await, [plan]);
    let _ = rig.stop.send(true);
}

#[tokio::test]
async fn bad_input_names_the_field_and_only_admins_edit() {
    let rig = rig().await;
    let admin = rig.admin();
    let a = rig.rule("keyword", "precio", "Desde $499.").await;
    let b = rig.rule("keyword", "horario", "De 9 a 18 h.").await;
    let field = |r: &support::Resp| (r.status, r.body["error"]["field"].as_str().unwrap_or_default().to_owned());
    let unprocessable = |f: &str| (StatusCode::UNPROCESSABLE_ENTITY, f.to_owned());

    for (body, f) in [
        (json!({"pattern": " , "}), "pattern"),
        (json!({"pattern": ""}), "pattern"),
        (json!({"match_kind": "regex", "pattern": "("}), "pattern"),
        (json!({"match_kind": "regex", "pattern": "(precio"}), "pattern"),
        (json!({"match_kind": "glob"}), "match_kind"),
        (json!({"reply": "   "}), "reply"),
        (json!({"pattern": "pre\0cio"}), "pattern"),
    ] {
        let r = rig.app.patch(&format!("/api/v1/bot/rules/{a}"), admin, body.clone()).await;
        assert_eq!(field(&r), unprocessable(f), "{body}: {:?}", r.body);
    }
    // A keyword rule switched to regex keeps its pattern, checked as a regex.
    let r = rig.app.patch(&format!("/api/v1/bot/rules/{a}"), admin, json!({"match_kind": "regex"})).await;
    assert_eq!((r.status, &r.body["pattern"]), (StatusCode::OK, &json!("precio")), "{:?}", r.body);
    let r =
        rig.app.post("/api/v1/bot/rules", admin, json!({"match_kind": "keyword", "pattern": ",,", "reply": "x"})).await;
    assert_eq!(field(&r), unprocessable("pattern"));
    assert_eq!(
        rig.app.patch("/api/v1/bot/rules/999999", admin, json!({"reply": "x"})).await.status,
        StatusCode::NOT_FOUND
    );

    for ids in [json!([a]), json!([a, b, b]), json!([a, b, 999999]), json!([])] {
        let r = rig.app.put("/api/v1/bot/rules/order", admin, json!({"bot_rule_ids": ids})).await;
        assert_eq!(field(&r), unprocessable("bot_rule_ids"), "{ids}: {:?}", r.body);
    }
    assert_eq!(rig.rule_ids().await, [a, b], "a refused order changes nothing");

    for (body, f) in [
        (json!({"enabled": true, "typing_min_ms": 5000, "typing_max_ms": 1000}), "typing_max_ms"),
        (json!({"enabled": true, "time_zone": "Mars/Olympus_Mons"}), "time_zone"),
        (json!({"enabled": true, "office_open": "18:00", "office_close": "09:00"}), "office_close"),
        (json!({"enabled": true, "office_open": "9am"}), "office_open"),
        (json!({"enabled": true, "office_days": [0]}), "office_days"),
    ] {
        let r = rig.app.put("/api/v1/bot/settings", admin, body.clone()).await;
        assert_eq!(field(&r), unprocessable(f), "{body}: {:?}", r.body);
    }
    let r = rig.app.post("/api/v1/bot/try", admin, json!({"text": "  "})).await;
    assert_eq!(field(&r), unprocessable("text"));
    let r = rig.app.post("/api/v1/bot/try", admin, json!({"text": "hola", "at": "yesterday"})).await;
    assert!(r.status.is_client_error(), "{:?}", r.body);

    // Coordinators and executives: 403 on every admin operation; they still list paused ones.
    for user in [rig.w.coord_both, rig.w.exec_ana] {
        let token = rig.w.token(user);
        let forbidden = [
            rig.app.get("/api/v1/bot/settings", token).await,
            rig.app.put("/api/v1/bot/settings", token, json!({"enabled": true})).await,
            rig.app.get("/api/v1/bot/rules", token).await,
            rig.app
                .post("/api/v1/bot/rules", token, json!({"match_kind": "keyword", "pattern": "x", "reply": "y"}))
                .await,
            rig.app.patch(&format!("/api/v1/bot/rules/{a}"), token, json!({"reply": "z"})).await,
            rig.app.put("/api/v1/bot/rules/order", token, json!({"bot_rule_ids": [b, a]})).await,
            rig.app.delete(&format!("/api/v1/bot/rules/{a}"), token).await,
            rig.app.post("/api/v1/bot/try", token, json!({"text": "precio"})).await,
        ];
        for r in forbidden {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.body);
        }
        assert_eq!(rig.app.get("/api/v1/bot/paused", token).await.status, StatusCode::OK);
    }
    assert_eq!(rig.rule_ids().await, [a, b]);
    let _ = rig.stop.send(true);
}
