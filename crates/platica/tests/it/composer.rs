//! The composer (issue 18): private notes with @mentions and canned replies, end to end over
//! HTTP and the WebSocket against a real database, with the Cloud API simulator and a running
//! sender to prove what is (and is not) sent to WhatsApp.
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

struct Rig {
    app: TestApp,
    w: World,
    sim: SimHandle,
    _stop: watch::Sender<bool>,
    _sender: Sender,
}

impl Rig {
    async fn new(slug: &str) -> Rig {
        let key = support::install_test_key();
        let app = TestApp::spawn().await;
        let w = world(&app, slug, 1).await;
        let (sim, _) = support::simulator_channel(&app, &w, support::quick_simulator(1.0), &SimChannel::DEFAULT).await;
        let stop = watch::channel(false).0;
        let config = SenderConfig {
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_millis(400),
            poll: Duration::from_millis(100),
            refresh: Duration::from_millis(100),
            ..SenderConfig::default()
        };
        let sender = Sender::start(app.pool.clone(), key, config, stop.subscribe());
        Rig { app, w, sim, _stop: stop, _sender: sender }
    }

    /// Ana's conversation in BOOM (seen by Ana, the admin, Coord BOOM and Coord Both).
    async fn ana_boom_conversation(&self) -> i64 {
        sqlx::query_scalar(
            "SELECT c.conversation_id FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
             WHERE c.tenant_id = $1 AND p.executive_id = $2 AND p.team_id = $3 ORDER BY 1 LIMIT 1",
        )
        .bind(self.w.tenant.0)
        .bind(self.w.exec_ana.0)
        .bind(self.w.boom.0)
        .fetch_one(&self.app.pool)
        .await
        .unwrap()
    }

    async fn outbox_rows(&self, message_id: i64) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE tenant_id = $1 AND message_id = $2")
            .bind(self.w.tenant.0)
            .bind(message_id)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }
}

/// The notification events of a WebSocket within `wait`.
async fn notifications(ws: &mut Ws, wait: Duration) -> Vec<Value> {
    ws.events(wait).await.into_iter().filter(|(t, op, _)| t == "notifications" && op == "insert").map(|e| e.2).collect()
}

#[tokio::test]
async fn a_note_is_seen_live_notifies_its_mentions_and_is_never_sent() {
    let rig = Rig::new("notes").await;
    let (app, w) = (&rig.app, &rig.w);
    let conv = rig.ana_boom_conversation().await;
    let ana = w.token(w.exec_ana);

    // Coord BOOM watches the conversation; Coord BOOM and Luis watch their bells.
    let mut coord_conv = Ws::connect(app, w.token(w.coord_boom)).await;
    coord_conv.subscribe("c", &format!("conversation:{conv}"), json!({})).await;
    let mut coord_bell = Ws::connect(app, w.token(w.coord_boom)).await;
    coord_bell.subscribe("n", "table:notifications", json!({})).await;
    let mut luis_bell = Ws::connect(app, w.token(w.exec_luis)).await;
    luis_bell.subscribe("n", "table:notifications", json!({})).await;

    let before = app.get(&format!("/api/v1/conversations/{conv}"), ana).await.body;
    let window_before =
        app.get(&format!("/api/v1/conversations/{conv}/messages"), ana).await.body["service_window_closes_at"].clone();

    // Who may be mentioned: exactly who sees the conversation.
    let r = app.get(&format!("/api/v1/conversations/{conv}/mentionable"), ana).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let mut names: Vec<&str> = r.body.as_array().unwrap().iter().map(|u| u["display_name"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Admin", "Ana", "Coord BOOM", "Coord Both"]);

    // Mentioning Luis, who does not see Ana's prospect, is refused naming him; nothing is stored.
    let r = app
        .post(
            &format!("/api/v1/conversations/{conv}/notes"),
            ana,
            json!({"body": "@Luis mira esto", "mentions": [w.exec_luis.0, w.coord_boom.0]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    assert_eq!(r.body["error"]["code"], "mention_not_visible");
    assert_eq!(r.body["error"]["field"], "mentions");
    assert!(r.body["error"]["message"].as_str().unwrap().contains("Luis"), "{:?}", r.body);
    assert_eq!(r.body["error"]["params"]["names"], "Luis", "the web app words it from the names");
    let r = app
        .post(&format!("/api/v1/conversations/{conv}/notes"), ana, json!({"body": "x", "mentions": [999_999]}))
        .await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_user")));
    let r = app.post(&format!("/api/v1/conversations/{conv}/notes"), ana, json!({"body": "   "})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
    // Someone who does not see the conversation cannot write there.
    let r =
        app.post(&format!("/api/v1/conversations/{conv}/notes"), w.token(w.exec_luis), json!({"body": "hola"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The note, mentioning Coord BOOM.
    let r = app
        .post(
            &format!("/api/v1/conversations/{conv}/notes"),
            ana,
            json!({"body": "@Coord BOOM pide descuento, ¿lo autorizas?", "mentions": [w.coord_boom.0]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["kind"].as_str(), r.body["direction"].as_str()), (Some("note"), Some("out")));
    let note = r.body["message_id"].as_i64().unwrap();

    // It arrives live to whoever watches the conversation, as a note.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let seen = loop {
        let found = coord_conv
            .events(Duration::from_millis(300))
            .await
            .into_iter()
            .find(|(t, op, row)| t == "messages" && op == "insert" && row["message_id"] == note);
        if let Some(e) = found {
            break e.2;
        }
        assert!(std::time::Instant::now() < deadline, "the note's live event never came");
    };
    assert_eq!(seen["kind"], "note");
    // The mentioned teammate's bell hears of it, with what the web app renders.
    let n = notifications(&mut coord_bell, Duration::from_secs(3)).await;
    assert_eq!(n.len(), 1, "{n:?}");
    assert_eq!(n[0]["kind"], "note_mention");
    assert_eq!(n[0]["params"]["author"], "Ana");
    assert_eq!(n[0]["params"]["conversation_id"], conv);
    assert_eq!(n[0]["link"], format!("#/c/{conv}"));
    assert!(notifications(&mut luis_bell, Duration::from_millis(500)).await.is_empty());

    // Everyone who sees the conversation sees the note in its pages; it is not unread, and the
    // window is where it was.
    for who in [w.admin, w.coord_both, w.exec_ana] {
        let page = app.get(&format!("/api/v1/conversations/{conv}/messages"), w.token(who)).await.body;
        let m = page["items"].as_array().unwrap().iter().find(|m| m["message_id"] == note).cloned().unwrap();
        assert_eq!(m["kind"], "note");
        assert_eq!(page["service_window_closes_at"], window_before);
    }
    let after = app.get(&format!("/api/v1/conversations/{conv}"), ana).await.body;
    assert_eq!(after["unread_count"], before["unread_count"]);

    // A reply after it is sent; the note never is: no outbox row, nothing at the simulator.
    let r =
        app.post(&format!("/api/v1/conversations/{conv}/messages"), ana, json!({"body": "Claro, te confirmo"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let sent = until(20, "the reply's send", || async {
        let s = rig.sim.sent(PNID);
        (!s.is_empty()).then_some(s)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent_now = rig.sim.sent(PNID);
    assert_eq!(sent_now.len(), 1, "only the reply: {sent:?}");
    assert_eq!(sent_now[0].text.as_deref(), Some("Claro, te confirmo"));
    assert_eq!(rig.outbox_rows(note).await, 0);
    // Nor can anything hand it to the outbox: the database refuses the row.
    let account: i64 = sqlx::query_scalar("SELECT channel_account_id FROM channel_accounts WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let refused = sqlx::query(
        "INSERT INTO outbox (tenant_id, channel_account_id, message_id, kind, payload) VALUES ($1, $2, $3, 'text', $4)",
    )
    .bind(w.tenant.0)
    .bind(account)
    .bind(note)
    .bind(json!({"to": "5215500000000", "type": "text", "text": {"body": "x"}}))
    .execute(&app.pool)
    .await;
    assert!(refused.is_err(), "the outbox took a note");
    // A note is not retried either (it never failed, and it has no send).
    let r = app.post(&format!("/api/v1/messages/{note}/retry"), ana, json!({})).await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // With the 24-hour window closed, free text is refused but a note is still written.
    sqlx::query(
        "UPDATE messages SET created_at = now() - interval '3 days' WHERE tenant_id = $1 AND conversation_id = $2",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .execute(&app.pool)
    .await
    .unwrap();
    let r = app.post(&format!("/api/v1/conversations/{conv}/messages"), ana, json!({"body": "¿Sigues ahí?"})).await;
    assert_eq!(r.body["error"]["code"], "outside_service_window");
    let closes =
        app.get(&format!("/api/v1/conversations/{conv}/messages"), ana).await.body["service_window_closes_at"].clone();
    let r = app
        .post(&format!("/api/v1/conversations/{conv}/notes"), ana, json!({"body": "Le escribo mañana con plantilla"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let page = app.get(&format!("/api/v1/conversations/{conv}/messages"), ana).await.body;
    assert_eq!(page["service_window_closes_at"], closes, "a note does not open the window");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rig.sim.sent(PNID).len(), 1);
}

/// A note is the team talking among itself: the customer is still waiting, so the inbox keeps
/// the customer's message as the conversation's last one and keeps it in "longest waiting",
/// whether the note comes through the API or is written by SQL; the engine equals SQL after.
#[tokio::test]
async fn a_note_is_not_the_last_message_and_does_not_answer_a_waiting_customer() {
    let rig = Rig::new("notes-inbox").await;
    let (app, w) = (&rig.app, &rig.w);
    let conv = rig.ana_boom_conversation().await;
    let ana = w.token(w.exec_ana);
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, created_at)
         VALUES ($1, $2, 'in', 'prospect', '¿Tienen envío a Puebla?', now())",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync().await;
    let row = |page: &Value| page["items"].as_array().unwrap().iter().find(|r| r["conversation_id"] == conv).cloned();
    let waiting = app.get("/api/v1/inbox?sort=waiting", ana).await.body;
    let before = row(&waiting).expect("the customer waits");
    assert_eq!(before["last_message_preview"], "¿Tienen envío a Puebla?");

    let r =
        app.post(&format!("/api/v1/conversations/{conv}/notes"), ana, json!({"body": "Preguntar a logística"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, sender_user_id, body, kind, status, created_at)
         VALUES ($1, $2, 'out', 'executive', $3, 'nota escrita por SQL', 'note', 'sent', now() + interval '1 second')",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .bind(w.exec_ana.0)
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync().await;
    for who in [w.exec_ana, w.admin, w.coord_boom] {
        let page = app.get("/api/v1/inbox?sort=waiting", w.token(who)).await.body;
        let after = row(&page).expect("still waiting after notes");
        assert_eq!(after["last_message_preview"], "¿Tienen envío a Puebla?", "{after:?}");
        assert_eq!(after["last_message_direction"], "in");
        assert_eq!(after["last_message_at"], before["last_message_at"]);
        assert_eq!(after["unread_count"], before["unread_count"]);
    }
    let report = platica_changes::verify::verify(&app.live, Some(w.tenant)).await.unwrap();
    assert!(report.is_clean(), "{}", report.differences.join("\n"));

    // A note turned into a message by SQL enters the inbox; a message turned into a note leaves it.
    sqlx::query(
        "UPDATE messages SET kind = 'message' WHERE tenant_id = $1 AND conversation_id = $2 AND body = 'nota escrita por SQL'",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync().await;
    let page = app.get("/api/v1/inbox", ana).await.body;
    assert_eq!(row(&page).unwrap()["last_message_preview"], "nota escrita por SQL");
    assert!(row(&app.get("/api/v1/inbox?sort=waiting", ana).await.body).is_none(), "answered by a message");
    sqlx::query(
        "UPDATE messages SET kind = 'note' WHERE tenant_id = $1 AND conversation_id = $2 AND body = 'nota escrita por SQL'",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync().await;
    let page = app.get("/api/v1/inbox?sort=waiting", ana).await.body;
    assert_eq!(row(&page).expect("waiting again")["last_message_preview"], "¿Tienen envío a Puebla?");
    let report = platica_changes::verify::verify(&app.live, Some(w.tenant)).await.unwrap();
    assert!(report.is_clean(), "{}", report.differences.join("\n"));
}

#[tokio::test]
async fn canned_replies_are_the_tenants_and_each_users_own() {
    let app = TestApp::spawn().await;
    let w = world(&app, "canned", 1).await;
    let other = world(&app, "canned2", 1).await;
    let (admin, ana, luis) = (w.token(w.admin), w.token(w.exec_ana), w.token(w.exec_luis));
    let shortcuts = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|c| (c["shortcut"].as_str().unwrap().to_owned(), c["scope"].as_str().unwrap().to_owned()))
            .collect()
    };

    // The organisation's: admins only.
    let r = app
        .post(
            "/api/v1/canned-replies",
            admin,
            json!({"scope": "tenant", "shortcut": "precio", "body": "El precio es de $1,200 MXN."}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["scope"], "tenant");
    let precio = r.body["canned_reply_id"].as_i64().unwrap();
    let r = app.post("/api/v1/canned-replies", ana, json!({"scope": "tenant", "shortcut": "x", "body": "y"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post("/api/v1/canned-replies", admin, json!({"scope": "tenant", "shortcut": "precio", "body": "otra"}))
        .await;
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("shortcut")));

    // Each user's own, private to them; a shortcut may repeat across scopes. `/` and case are
    // forgiven, spaces are not.
    let r = app.post("/api/v1/canned-replies", ana, json!({"shortcut": "/Hola", "body": "¡Hola! Soy Ana."})).await;
    assert_eq!(
        (r.status, r.body["scope"].as_str(), r.body["shortcut"].as_str()),
        (StatusCode::CREATED, Some("personal"), Some("hola"))
    );
    let hola = r.body["canned_reply_id"].as_i64().unwrap();
    let r = app.post("/api/v1/canned-replies", ana, json!({"shortcut": "precio", "body": "Mi precio"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    for bad in [
        json!({"shortcut": "dos palabras", "body": "x"}),
        json!({"shortcut": "ok", "body": " "}),
        json!({"shortcut": "ok", "body": "x", "scope": "team"}),
    ] {
        let r = app.post("/api/v1/canned-replies", ana, bad.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {:?}", r.body);
    }

    assert_eq!(
        shortcuts(&app.get("/api/v1/canned-replies", ana).await.body),
        [("hola".into(), "personal".into()), ("precio".into(), "personal".into()), ("precio".into(), "tenant".into())]
    );
    assert_eq!(shortcuts(&app.get("/api/v1/canned-replies", luis).await.body), [("precio".into(), "tenant".into())]);
    assert!(app.get("/api/v1/canned-replies", other.token(other.admin)).await.body.as_array().unwrap().is_empty());

    // Ana's own is hers alone to change; the organisation's, admins'.
    let r = app.patch(&format!("/api/v1/canned-replies/{hola}"), luis, json!({"body": "mío"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r =
        app.patch(&format!("/api/v1/canned-replies/{hola}"), ana, json!({"body": "¡Hola! Soy Ana, de Ventas."})).await;
    assert_eq!((r.status, r.body["body"].as_str()), (StatusCode::OK, Some("¡Hola! Soy Ana, de Ventas.")));
    let r = app.patch(&format!("/api/v1/canned-replies/{precio}"), ana, json!({"body": "gratis"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.delete(&format!("/api/v1/canned-replies/{precio}"), ana).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.patch(&format!("/api/v1/canned-replies/{precio}"), admin, json!({"shortcut": "precios"})).await;
    assert_eq!((r.status, r.body["shortcut"].as_str()), (StatusCode::OK, Some("precios")));
    let r = app.delete(&format!("/api/v1/canned-replies/{hola}"), luis).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.delete(&format!("/api/v1/canned-replies/{hola}"), ana).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        shortcuts(&app.get("/api/v1/canned-replies", ana).await.body),
        [("precio".into(), "personal".into()), ("precios".into(), "tenant".into())]
    );
}

#[tokio::test]
async fn a_quote_reply_carries_whatsapps_context_to_the_cloud_api() {
    let rig = Rig::new("quotes").await;
    let (app, w) = (&rig.app, &rig.w);
    let conv = rig.ana_boom_conversation().await;
    let ana = w.token(w.exec_ana);
    // The prospect's message, as WhatsApp knows it.
    let (inbound,): (i64,) = sqlx::query_as(
        "UPDATE messages SET external_id = 'wamid.QUOTED1' WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'in'
         RETURNING message_id",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .fetch_one(&app.pool)
    .await
    .unwrap();

    let r = app
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            ana,
            json!({"body": "Sí, ese modelo", "reply_to": inbound}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["reply_to_message_id"], inbound);
    let reply = r.body["message_id"].as_i64().unwrap();
    let sent = until(20, "the quote-reply's send", || async {
        let s = rig.sim.sent(PNID);
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(sent[0].text.as_deref(), Some("Sí, ese modelo"));
    assert_eq!(sent[0].context_message_id.as_deref(), Some("wamid.QUOTED1"), "WhatsApp's context was sent");
    // The page shows what it quotes.
    let page = app.get(&format!("/api/v1/conversations/{conv}/messages"), ana).await.body;
    let m = page["items"].as_array().unwrap().iter().find(|m| m["message_id"] == reply).cloned().unwrap();
    assert_eq!(m["reply_to_message_id"], inbound);

    // A note cannot be quoted to WhatsApp (it has no WhatsApp id), nor a message of another
    // conversation.
    let note = app.post(&format!("/api/v1/conversations/{conv}/notes"), ana, json!({"body": "interno"})).await.body
        ["message_id"]
        .as_i64()
        .unwrap();
    let r =
        app.post(&format!("/api/v1/conversations/{conv}/messages"), ana, json!({"body": "x", "reply_to": note})).await;
    assert_eq!((r.status, r.body["error"]["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("not_quotable")));
    let elsewhere: i64 = sqlx::query_scalar(
        "SELECT message_id FROM messages WHERE tenant_id = $1 AND conversation_id <> $2 ORDER BY 1 LIMIT 1",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let r = app
        .post(&format!("/api/v1/conversations/{conv}/messages"), ana, json!({"body": "x", "reply_to": elsewhere}))
        .await;
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::NOT_FOUND, Some("reply_to")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.sim.sent(PNID).len(), 1);
}
