//! The realtime gateway over real WebSockets: subscriptions, visibility and revocation, table
//! filters, system frames, resume, slow consumers, and no database query on the fan-out path.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, World, world};
use tokio_tungstenite::tungstenite::Message;

type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Ws {
    s: Stream,
}

impl Ws {
    async fn connect(app: &TestApp, token: &str) -> Ws {
        let url = format!("ws://{}/api/v1/ws?token={token}", app.addr);
        let (s, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut ws = Ws { s };
        let hello = ws.next(Duration::from_secs(5)).await.unwrap();
        assert_eq!(hello["type"], "hello", "{hello}");
        ws
    }

    async fn send(&mut self, v: Value) {
        self.s.send(Message::Text(v.to_string().into())).await.unwrap();
    }

    async fn send_text(&mut self, t: &str) {
        self.s.send(Message::Text(t.to_owned().into())).await.unwrap();
    }

    /// The next JSON frame, or `None` after `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        let deadline = Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match tokio::time::timeout(left, self.s.next()).await {
                Err(_) => return None,
                Ok(None) => return None,
                Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
                Ok(Some(Ok(Message::Close(_)))) => return Some(json!({"type": "closed"})),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) => return None,
            }
        }
    }

    /// Reads frames until one matches; panics after `wait`.
    async fn until(&mut self, wait: Duration, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(v) if pred(&v) => return v,
                Some(v) => seen.push(v),
                None => panic!("no frame {what} within {wait:?}; saw {seen:#?}"),
            }
        }
    }

    async fn subscribe(&mut self, id: &str, topic: &str, extra: Value) -> Value {
        let mut m = json!({"type": "subscribe", "id": id, "topic": topic});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            m[k] = v;
        }
        self.send(m).await;
        self.until(Duration::from_secs(5), "subscribed", |v| {
            v["id"] == id && (v["type"] == "subscribed" || v["type"] == "error")
        })
        .await
    }

    /// Every frame within `wait`.
    async fn drain(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.next(wait).await {
            out.push(v);
        }
        out
    }
}

fn event_of<'a>(frames: &'a [Value], id: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == "event" && f["id"] == id).collect()
}

async fn conv_of(app: &TestApp, prospect: i64) -> i64 {
    sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE prospect_id = $1")
        .bind(prospect)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn insert_message(app: &TestApp, w: &World, conv: i64, body: &str) {
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status) VALUES ($1, $2, 'in', 'prospect', $3, 'delivered')",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .bind(body)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn upgrade_is_refused_before_the_handshake_without_valid_credentials() {
    let app = TestApp::spawn().await;
    let _w = world(&app, "ws", 1).await;
    for url in [format!("ws://{}/api/v1/ws", app.addr), format!("ws://{}/api/v1/ws?token=pls_1_nope", app.addr)] {
        match tokio_tungstenite::connect_async(url).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 401),
            other => panic!("expected 401, got {other:?}"),
        }
    }
    // A plain GET (no upgrade) with a good token is told to upgrade, in the JSON error shape.
    let r = app.get("/api/v1/ws", _w.token(_w.admin)).await;
    assert_eq!(r.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(r.code(), "upgrade_required");
}

/// Two clients of different roles see a raw SQL reassignment appear in one inbox and leave the
/// other, within 100 ms, with counts; a conversation subscription of the executive who lost the
/// prospect is revoked and gets nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sql_reassignment_moves_rows_between_live_inboxes() {
    let app = TestApp::spawn().await;
    let w = world(&app, "rt", 1).await;
    let (boom_prospect, _, _) = *w.prospects.iter().find(|(_, t, e)| *t == w.boom && *e == Some(w.exec_luis)).unwrap();
    let conv = conv_of(&app, boom_prospect).await;

    let mut ven = Ws::connect(&app, w.token(w.coord_ven)).await;
    let mut boom = Ws::connect(&app, w.token(w.coord_boom)).await;
    let mut luis = Ws::connect(&app, w.token(w.exec_luis)).await;
    let mut sofia = Ws::connect(&app, w.token(w.exec_sofia)).await;
    assert_eq!(ven.subscribe("in", "inbox", json!({})).await["type"], "subscribed");
    assert_eq!(boom.subscribe("in", "inbox", json!({})).await["type"], "subscribed");
    assert_eq!(sofia.subscribe("in", "inbox", json!({})).await["type"], "subscribed");
    assert_eq!(luis.subscribe("c", &format!("conversation:{conv}"), json!({})).await["type"], "subscribed");

    // Luis's BOOM prospect goes to VEN and to Sofía, by psql.
    let t0 = Instant::now();
    sqlx::query("UPDATE prospects SET team_id = $2, executive_id = $3 WHERE prospect_id = $1")
        .bind(boom_prospect)
        .bind(w.ven.0)
        .bind(w.exec_sofia.0)
        .execute(&app.pool)
        .await
        .unwrap();
    let up = ven.until(Duration::from_millis(100), "upsert in VEN", |v| v["event"]["kind"] == "upsert").await;
    let gone = boom.until(Duration::from_millis(100), "remove in BOOM", |v| v["event"]["kind"] == "remove").await;
    let sof = sofia.until(Duration::from_millis(100), "upsert for Sofía", |v| v["event"]["kind"] == "upsert").await;
    let revoked = luis.until(Duration::from_millis(100), "revoked", |v| v["type"] == "revoked").await;
    assert!(t0.elapsed() < Duration::from_millis(200), "{:?}", t0.elapsed());
    assert_eq!(up["event"]["row"]["conversation_id"], conv);
    assert_eq!(up["event"]["row"]["team_id"], w.ven.0);
    assert_eq!(gone["event"]["conversation_id"], conv);
    assert_eq!(sof["event"]["row"]["executive_id"], w.exec_sofia.0);
    assert_eq!(revoked["id"], "c");
    // Counts travel with the rows and equal the REST answer.
    let rest = app.get("/api/v1/inbox?limit=1", w.token(w.coord_ven)).await;
    assert_eq!(up["event"]["counts"]["total"], rest.body["total"]);
    assert_eq!(up["event"]["counts"]["unread"], rest.body["unread"]);
    let rest = app.get("/api/v1/inbox?limit=1", w.token(w.coord_boom)).await;
    assert_eq!(gone["event"]["counts"]["total"], rest.body["total"]);
    // Every frame carries the subscription id, a per-connection sequence and the LSN.
    for f in [&up, &gone, &sof, &revoked] {
        assert!(f["seq"].as_u64().unwrap() >= 1 && f["lsn"].as_str().unwrap().contains('/'), "{f}");
    }

    // Luis's revoked subscription hears nothing of the conversation any more.
    insert_message(&app, &w, conv, "¿sigue ahí?").await;
    let later = luis.drain(Duration::from_millis(300)).await;
    assert!(event_of(&later, "c").is_empty(), "{later:?}");
    // Sofía's inbox gets the new message as an upsert on top.
    let up = sofia
        .until(Duration::from_secs(1), "message upsert", |v| v["event"]["row"]["last_message_preview"] == "¿sigue ahí?")
        .await;
    assert_eq!(up["event"]["row"]["unread_count"], 2);
}

#[tokio::test]
async fn conversation_and_table_topics_deliver_only_what_matches() {
    let app = TestApp::spawn().await;
    let w = world(&app, "tb", 1).await;
    let ana: Vec<i64> = w.prospects.iter().filter(|p| p.2 == Some(w.exec_ana)).map(|p| p.0).collect();
    let (c1, c2) = (conv_of(&app, ana[0]).await, conv_of(&app, ana[1]).await);
    let luis_prospect = w.prospects.iter().find(|p| p.2 == Some(w.exec_luis)).unwrap().0;
    let c_luis = conv_of(&app, luis_prospect).await;

    let mut ws = Ws::connect(&app, w.token(w.exec_ana)).await;
    assert_eq!(ws.subscribe("conv", &format!("conversation:{c1}"), json!({})).await["type"], "subscribed");
    let r = ws
        .subscribe(
            "t",
            "table:messages",
            json!({"filters": {"conversation_id": format!("in.({c1},{c_luis})")}, "events": ["insert"]}),
        )
        .await;
    assert_eq!(r["type"], "subscribed", "{r}");
    let r = ws.subscribe("all", "table:messages", json!({})).await;
    assert_eq!(r["type"], "subscribed");
    // Someone else's conversation cannot be subscribed to: it does not exist for Ana.
    let r = ws.subscribe("x", &format!("conversation:{c_luis}"), json!({})).await;
    assert_eq!((r["type"].as_str(), r["code"].as_str()), (Some("error"), Some("not_found")), "{r}");
    // Unknown tables and filters are refused clearly; the connection stays usable.
    let r = ws.subscribe("bad", "table:sessions", json!({})).await;
    assert_eq!(r["code"], "unknown_table");
    assert!(r["message"].as_str().unwrap().contains("messages"), "{r}");
    let r = ws.subscribe("bad2", "table:messages", json!({"filters": {"body": "like.%hola%"}})).await;
    assert_eq!(r["code"], "bad_filter");
    ws.send_text("{not json").await;
    let e = ws.until(Duration::from_secs(2), "error", |v| v["type"] == "error").await;
    assert_eq!(e["code"], "bad_message");
    ws.send(json!({"type": "ping", "data": 7})).await;
    let p = ws.until(Duration::from_secs(2), "pong", |v| v["type"] == "pong").await;
    assert_eq!(p["data"], 7);

    insert_message(&app, &w, c1, "uno").await;
    insert_message(&app, &w, c2, "dos").await;
    insert_message(&app, &w, c_luis, "de Luis").await;
    sqlx::query("UPDATE messages SET read_at = now() WHERE conversation_id = $1")
        .bind(c1)
        .execute(&app.pool)
        .await
        .unwrap();
    let frames = ws.drain(Duration::from_millis(500)).await;

    let conv_events = event_of(&frames, "conv");
    assert!(
        conv_events.iter().any(|f| f["event"]["row"]["body"] == "uno" && f["event"]["op"] == "insert"),
        "{frames:#?}"
    );
    assert!(conv_events.iter().any(|f| f["event"]["op"] == "update"), "the read receipt");
    assert!(conv_events.iter().all(|f| f["event"]["row"]["conversation_id"] == c1));
    // The filtered table subscription: inserts of c1 only (c_luis is not Ana's, c2 not in the filter).
    let t: Vec<&Value> = event_of(&frames, "t");
    assert_eq!(t.len(), 1, "{t:#?}");
    assert_eq!(t[0]["event"]["row"]["body"], "uno");
    // The unfiltered one: every change of messages Ana may see, and nothing of Luis's.
    let all: Vec<&str> = event_of(&frames, "all").iter().map(|f| f["event"]["op"].as_str().unwrap()).collect();
    assert!(all.contains(&"insert") && all.contains(&"update"), "{all:?}");
    assert!(event_of(&frames, "all").iter().all(|f| f["event"]["row"]["conversation_id"] != c_luis));
    // Sequence numbers increase by one per frame of this connection.
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|p| p[1] == p[0] + 1), "{seqs:?}");

    // Unsubscribing stops the events.
    ws.send(json!({"type": "unsubscribe", "id": "all"})).await;
    ws.until(Duration::from_secs(2), "unsubscribed", |v| v["type"] == "unsubscribed").await;
    insert_message(&app, &w, c1, "tres").await;
    let frames = ws.drain(Duration::from_millis(400)).await;
    assert!(event_of(&frames, "all").is_empty());
    assert_eq!(event_of(&frames, "t").len(), 1);
}

#[tokio::test]
async fn a_new_app_version_reaches_every_connected_client() {
    let app = TestApp::spawn().await;
    let w = world(&app, "sys", 1).await;
    let mut clients = Vec::new();
    for u in [w.admin, w.coord_ven, w.exec_ana] {
        let mut ws = Ws::connect(&app, w.token(u)).await;
        assert_eq!(ws.subscribe("sys", "system", json!({})).await["type"], "subscribed");
        clients.push(ws);
    }
    let r = app
        .put(
            "/api/v1/system-config/app_version",
            w.token(w.admin),
            json!({"value": {"version": "2.0.0", "force_update": true}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    for ws in &mut clients {
        let f = ws.until(Duration::from_secs(1), "system frame", |v| v["type"] == "event").await;
        assert_eq!(f["event"]["row"]["key"], "app_version");
        assert_eq!(f["event"]["row"]["value"]["force_update"], true);
    }
    // Another tenant's clients hear nothing.
    let other = world(&app, "sys2", 1).await;
    let mut ws = Ws::connect(&app, other.token(other.admin)).await;
    ws.subscribe("sys", "system", json!({})).await;
    app.put(
        "/api/v1/system-config/app_version",
        w.token(w.admin),
        json!({"value": {"version": "2.0.1", "force_update": false}}),
    )
    .await;
    assert!(event_of(&ws.drain(Duration::from_millis(400)).await, "sys").is_empty());
}

/// A coordinator who stops coordinating a team: their inbox subscription is reset (they refetch),
/// a conversation of that team is revoked, and events of the team stop reaching them. Renaming
/// them changes nothing.
#[tokio::test]
async fn losing_a_team_revokes_and_resets() {
    let app = TestApp::spawn().await;
    let w = world(&app, "lose", 1).await;
    let ven_prospect = w.prospects.iter().find(|p| p.1 == w.ven).unwrap().0;
    let conv = conv_of(&app, ven_prospect).await;
    let mut ws = Ws::connect(&app, w.token(w.coord_both)).await;
    ws.subscribe("in", "inbox", json!({})).await;
    ws.subscribe("c", &format!("conversation:{conv}"), json!({})).await;

    let r = app
        .patch(&format!("/api/v1/users/{}", w.coord_both.0), w.token(w.admin), json!({"display_name": "Otro Nombre"}))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(ws.drain(Duration::from_millis(300)).await.iter().all(|f| f["type"] != "reset"), "a rename resets nothing");

    let r = app
        .patch(&format!("/api/v1/users/{}", w.coord_both.0), w.token(w.admin), json!({"team_ids": [w.boom.0]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let frames = ws.drain(Duration::from_millis(500)).await;
    assert!(frames.iter().any(|f| f["type"] == "reset" && f["id"] == "in"), "{frames:#?}");
    assert!(frames.iter().any(|f| f["type"] == "revoked" && f["id"] == "c"), "{frames:#?}");
    insert_message(&app, &w, conv, "VEN ya no es tuyo").await;
    let frames = ws.drain(Duration::from_millis(400)).await;
    assert!(event_of(&frames, "in").is_empty() && event_of(&frames, "c").is_empty(), "{frames:#?}");
}

/// A client that reconnects with the LSN of the last frame it saw gets what it missed, in order;
/// one whose resume point is older than the replay buffer gets `reset`.
#[tokio::test]
async fn resume_replays_what_was_missed_or_resets() {
    let app = TestApp::spawn().await;
    let w = world(&app, "rs", 1).await;
    let ana = w.prospects.iter().find(|p| p.2 == Some(w.exec_ana)).unwrap().0;
    let conv = conv_of(&app, ana).await;
    let mut ws = Ws::connect(&app, w.token(w.exec_ana)).await;
    ws.subscribe("m", "table:messages", json!({"filters": {"conversation_id": format!("eq.{conv}")}})).await;
    insert_message(&app, &w, conv, "antes").await;
    let seen = ws.until(Duration::from_secs(1), "first", |v| v["type"] == "event").await;
    let last = seen["lsn"].as_str().unwrap().to_owned();
    drop(ws);

    for body in ["uno", "dos", "tres"] {
        insert_message(&app, &w, conv, body).await;
    }
    app.sync().await;
    let mut ws = Ws::connect(&app, w.token(w.exec_ana)).await;
    let r = ws
        .subscribe("m", "table:messages", json!({"filters": {"conversation_id": format!("eq.{conv}")}, "since": last}))
        .await;
    assert_eq!(r["type"], "subscribed");
    let frames = ws.drain(Duration::from_millis(300)).await;
    let bodies: Vec<&str> =
        event_of(&frames, "m").iter().map(|f| f["event"]["row"]["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["uno", "dos", "tres"]);

    let r = ws.subscribe("old", "table:messages", json!({"since": "0/1"})).await;
    assert_eq!(r["type"], "subscribed");
    let reset = ws.until(Duration::from_secs(1), "reset", |v| v["type"] == "reset").await;
    assert_eq!(reset["id"], "old");
    let r = ws.subscribe("bad", "table:messages", json!({"since": "yesterday"})).await;
    assert_eq!(r["code"], "bad_subscription");
}

/// A client that stops reading is reset and dropped; another client keeps getting its events on
/// time meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_is_dropped_without_slowing_the_others() {
    let _alone = support::exclusive().await;
    let app = TestApp::spawn_with(platica_realtime::HubConfig { queue: 256, ..Default::default() }).await;
    let w = world(&app, "slow", 1).await;
    let convs: Vec<i64> =
        sqlx::query_scalar("SELECT conversation_id FROM conversations ORDER BY 1").fetch_all(&app.pool).await.unwrap();
    let (busy, quiet) = (convs[0], convs[1]);
    let mut stalled = Ws::connect(&app, w.token(w.admin)).await;
    stalled.subscribe("all", "table:messages", json!({"filters": {"conversation_id": format!("eq.{busy}")}})).await;
    let mut fine = Ws::connect(&app, w.token(w.admin)).await;
    fine.subscribe("q", "table:messages", json!({"filters": {"conversation_id": format!("eq.{quiet}")}})).await;
    // The fine client reads as it goes and notes how late each event is; the stalled one reads
    // nothing while big messages fill its socket buffers (a few MB) and then its queue. The reader
    // waits as long as the writer writes (CI machines can be slow), then 5 s more.
    let (done_tx, done) = tokio::sync::watch::channel(false);
    let reader = tokio::spawn(async move {
        let mut worst = Duration::ZERO;
        let mut n = 0;
        let mut idle_after_done = Duration::ZERO;
        while n < 100 && idle_after_done < Duration::from_secs(5) {
            match fine.next(Duration::from_millis(500)).await {
                Some(f) if f["type"] == "event" => {
                    let sent: u128 = f["event"]["row"]["body"].as_str().unwrap().parse().unwrap();
                    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
                    worst = worst.max(Duration::from_millis((now - sent) as u64));
                    n += 1;
                }
                Some(f) if f["type"] == "reset" || f["type"] == "closed" => break,
                Some(_) => {}
                None if *done.borrow() => idle_after_done += Duration::from_millis(500),
                None => {}
            }
        }
        (n, worst)
    });
    let big = "x".repeat(8000);
    for i in 0..3000 {
        insert_message(&app, &w, busy, &format!("{i} {big}")).await;
        if i % 30 == 0 {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
            insert_message(&app, &w, quiet, &now.to_string()).await;
        }
    }
    let _ = done_tx.send(true);
    let (n, worst) = reader.await.unwrap();
    assert_eq!(n, 100, "the reading client got every event");
    // Loose on purpose (shared 2-core machines): a reading client held up behind the stalled one
    // would wait until the stalled one's socket buffers and queue filled, and then be dropped too.
    println!("worst delay seen by the reading client: {worst:?}");
    assert!(worst < Duration::from_secs(10), "an event reached the reading client {worst:?} late");
    assert_eq!(app.hub.stats.slow_resets.load(Ordering::Relaxed), 1, "only the stalled client is dropped");
    let frames = stalled.drain(Duration::from_millis(500)).await;
    assert!(frames.iter().any(|f| f["type"] == "reset"), "the stalled client is told to reset");
}

/// Fan-out never touches the database: thousands of deliveries, and the app's pool hands out no
/// connection meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_issues_no_database_query() {
    let app = TestApp::spawn().await;
    let w = world(&app, "zero", 2).await;
    let mut clients = Vec::new();
    for u in [w.admin, w.coord_boom, w.coord_ven, w.coord_both, w.exec_ana, w.exec_luis, w.exec_sofia] {
        for _ in 0..5 {
            let mut ws = Ws::connect(&app, w.token(u)).await;
            ws.subscribe("in", "inbox", json!({})).await;
            ws.subscribe("t", "table:messages", json!({})).await;
            clients.push(ws);
        }
    }
    let convs: Vec<i64> = sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let before = app.queries.load(Ordering::SeqCst);
    let frames_before = app.hub.stats.frames.load(Ordering::Relaxed);
    let mut writer = sqlx::PgConnection::connect(&app.db_url).await.unwrap();
    for i in 0..200 {
        sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status) VALUES ($1, $2, 'in', 'prospect', 'hola', 'delivered')")
            .bind(w.tenant.0)
            .bind(convs[i % convs.len()])
            .execute(&mut writer)
            .await
            .unwrap();
    }
    for ws in &mut clients {
        ws.drain(Duration::from_millis(50)).await;
    }
    let delivered = app.hub.stats.frames.load(Ordering::Relaxed) - frames_before;
    assert!(delivered >= 200 * 10, "delivered only {delivered} frames");
    assert_eq!(app.queries.load(Ordering::SeqCst), before, "the app queried the database during fan-out");
}

use sqlx::Connection;

/// `platica release-web` reaches a connected client at once; bad input is refused clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_web_reaches_connected_clients() {
    let app = TestApp::spawn().await;
    let w = world(&app, "rel", 1).await;
    let mut ws = Ws::connect(&app, w.token(w.exec_ana)).await;
    ws.subscribe("sys", "system", json!({})).await;
    let run = |args: Vec<String>| {
        let url = app.db_url.clone();
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_platica"))
                .args(args)
                .args(["--database-url", &url])
                .output()
                .unwrap()
        })
    };
    let out = run(vec!["release-web".into(), "3.1.0".into(), "--force".into(), "--tenant".into(), "rel".into()])
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let f = ws.until(Duration::from_secs(2), "system frame", |v| v["type"] == "event").await;
    assert_eq!(f["event"]["row"]["value"], json!({"version": "3.1.0", "force_update": true}));

    // A client connecting now is told the current version in its hello frame.
    let url = format!("ws://{}/api/v1/ws?token={}", app.addr, w.token(w.exec_ana));
    let (mut s, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let Some(Ok(Message::Text(hello))) = s.next().await else { panic!("no hello") };
    let hello: Value = serde_json::from_str(hello.as_str()).unwrap();
    assert_eq!(hello["app_version"]["version"], "3.1.0", "{hello}");

    let out = run(vec!["release-web".into(), " ".into()]).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("version"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(vec!["release-web".into(), "3.2.0".into(), "--tenant".into(), "nadie".into()]).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tenant with slug"));
}

/// The admin API's force update reaches a connected client at once; only admins may, and a bad
/// version is refused naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_release_web_reaches_a_connected_client_at_once() {
    let app = TestApp::spawn().await;
    let w = world(&app, "relapi", 1).await;
    let mut ws = Ws::connect(&app, w.token(w.exec_luis)).await;
    ws.subscribe("sys", "system", json!({})).await;
    let r = app.post("/api/v1/admin/release-web", w.token(w.coord_boom), json!({"version": "9.9.9"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.post("/api/v1/admin/release-web", w.token(w.admin), json!({"version": "  "})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.body["error"]["field"], "version");
    let sent = Instant::now();
    let r = app.post("/api/v1/admin/release-web", w.token(w.admin), json!({"version": "4.0.0", "force": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let f = ws.until(Duration::from_secs(2), "system frame", |v| v["type"] == "event").await;
    assert_eq!(f["event"]["row"]["value"], json!({"version": "4.0.0", "force_update": true}), "{f}");
    println!("force update reached the client {} ms after the request", sent.elapsed().as_millis());
    // Nothing about 9.9.9 ever reached it.
    assert!(ws.drain(Duration::from_millis(300)).await.iter().all(|v| !v.to_string().contains("9.9.9")));

    // Every active user of the tenant (and nobody else) has a force_update notification, once per
    // version; a release that does not force tells nobody.
    let other = world(&app, "relapi2", 1).await;
    let feed = |token: String| {
        let app = &app;
        async move {
            let r = app.get("/api/v1/notifications?limit=50", &token).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            let items = r.body["items"].as_array().cloned().unwrap_or_default();
            items.into_iter().filter(|n| n["kind"] == "force_update").map(|n| n["title"].clone()).collect::<Vec<_>>()
        }
    };
    let r = app.post("/api/v1/admin/release-web", w.token(w.admin), json!({"version": "4.0.0", "force": true})).await;
    assert_eq!(r.status, StatusCode::OK, "the same version again");
    let r = app.post("/api/v1/admin/release-web", w.token(w.admin), json!({"version": "4.0.1"})).await;
    assert_eq!(r.status, StatusCode::OK, "not forced");
    for user in [w.admin, w.coord_boom, w.exec_luis, w.exec_ana] {
        assert_eq!(feed(w.token(user).to_owned()).await, vec![json!("Platica 4.0.0 is out")], "user {user:?}");
    }
    assert!(feed(other.token(other.admin).to_owned()).await.is_empty(), "another tenant");
    let active: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE tenant_id = $1 AND active")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let told: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE tenant_id = $1 AND kind = 'force_update'")
            .bind(w.tenant.0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(told, active, "one per active user");
}

fn resets_of(frames: &[Value]) -> Vec<String> {
    frames.iter().filter(|f| f["type"] == "reset").map(|f| f["id"].as_str().unwrap_or("").to_owned()).collect()
}

/// A change too large to send row by row (more than `MAX_FANOUT_CONVERSATIONS` conversations)
/// resets only the subscriptions it concerns; the others keep their events, and the replay buffer
/// is kept, so a client resuming from before it gets the reset (if concerned) and what followed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_change_resets_only_the_subscriptions_it_concerns() {
    let _alone = support::exclusive().await;
    let app = TestApp::spawn().await;
    let w = world(&app, "big", 1).await;
    let n = platica_realtime::hub::MAX_FANOUT_CONVERSATIONS + 20;
    sqlx::query(
        "WITH p AS (INSERT INTO prospects (tenant_id, name, phone, team_id)
                    SELECT $1, 'Lote ' || i, '+5215588' || lpad(i::text, 6, '0'), $2 FROM generate_series(1, $3) i
                    RETURNING prospect_id)
         INSERT INTO conversations (tenant_id, prospect_id) SELECT $1, prospect_id FROM p",
    )
    .bind(w.tenant.0)
    .bind(w.ven.0)
    .bind(n as i32)
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync().await;
    let luis_conv = conv_of(&app, w.prospects.iter().find(|p| p.2 == Some(w.exec_luis)).unwrap().0).await;

    let users = [
        ("admin", w.admin, true),
        ("coord_ven", w.coord_ven, true),
        ("coord_both", w.coord_both, true),
        ("sofia", w.exec_sofia, true),
        ("coord_boom", w.coord_boom, false),
        ("ana", w.exec_ana, false),
        ("luis", w.exec_luis, false),
    ];
    let mut clients = Vec::new();
    let mut since = String::new();
    for (name, user, _) in users {
        let mut ws = Ws::connect(&app, w.token(user)).await;
        let r = ws.subscribe("in", "inbox", json!({})).await;
        since = r["lsn"].as_str().unwrap().to_owned();
        assert_eq!(ws.subscribe("p", "table:prospects", json!({})).await["type"], "subscribed", "{name}");
        assert_eq!(ws.subscribe("t", "table:tickets", json!({})).await["type"], "subscribed", "{name}");
        clients.push((name, ws));
    }
    // Every unassigned VEN prospect goes to Sofía in one statement.
    let moved = sqlx::query(
        "UPDATE prospects SET executive_id = $2 WHERE tenant_id = $1 AND team_id = $3 AND executive_id IS NULL",
    )
    .bind(w.tenant.0)
    .bind(w.exec_sofia.0)
    .bind(w.ven.0)
    .execute(&app.pool)
    .await
    .unwrap();
    assert!(moved.rows_affected() as usize > platica_realtime::hub::MAX_FANOUT_CONVERSATIONS);
    // Then an ordinary change in Luis's BOOM conversation.
    insert_message(&app, &w, luis_conv, "después").await;
    app.sync().await;
    for ((name, ws), (_, _, concerned)) in clients.iter_mut().zip(users) {
        let frames = ws.drain(Duration::from_millis(400)).await;
        let mut resets = resets_of(&frames);
        resets.sort();
        let expected: Vec<String> = if concerned { vec!["in".into(), "p".into()] } else { vec![] };
        assert_eq!(resets, expected, "{name}: {frames:#?}");
        assert!(frames.iter().all(|f| f["type"] != "closed"), "{name} was disconnected");
        let sees_luis = matches!(*name, "admin" | "coord_boom" | "coord_both" | "luis");
        let upserts = event_of(&frames, "in")
            .iter()
            .filter(|f| f["event"]["kind"] == "upsert" && f["event"]["row"]["conversation_id"] == luis_conv)
            .count();
        assert_eq!(upserts, usize::from(sees_luis), "{name}: the message after the large change");
    }

    // Resuming from before the large change: the buffer still holds it.
    for (name, user, concerned) in [("coord_ven", w.coord_ven, true), ("coord_boom", w.coord_boom, false)] {
        let mut ws = Ws::connect(&app, w.token(user)).await;
        assert_eq!(ws.subscribe("in", "inbox", json!({"since": since})).await["type"], "subscribed");
        let frames = ws.drain(Duration::from_millis(400)).await;
        let reasons: Vec<&str> =
            frames.iter().filter(|f| f["type"] == "reset").map(|f| f["reason"].as_str().unwrap()).collect();
        assert_eq!(reasons, if concerned { vec!["a large change: refetch"] } else { vec![] }, "{name}: {frames:#?}");
        let upserts =
            event_of(&frames, "in").iter().filter(|f| f["event"]["row"]["conversation_id"] == luis_conv).count();
        assert_eq!(upserts, usize::from(name == "coord_boom"), "{name}");
    }
}

/// A resume serves everything the replay buffer holds, even far more frames than a connection's
/// queue (1,024): they are replayed as one batch, in order, without dropping the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_replays_more_than_a_queue_holds() {
    let _alone = support::exclusive().await;
    let app = TestApp::spawn().await;
    let w = world(&app, "longresume", 1).await;
    let conv = conv_of(&app, w.prospects.iter().find(|p| p.2 == Some(w.exec_luis)).unwrap().0).await;
    let mut ws = Ws::connect(&app, w.token(w.exec_luis)).await;
    let since = ws.subscribe("in", "inbox", json!({})).await["lsn"].as_str().unwrap().to_owned();
    drop(ws);
    let n = 3 * platica_realtime::HubConfig::default().queue / 2;
    // One transaction per message.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DO $$ BEGIN FOR i IN 1..{n} LOOP
             INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
             VALUES ({}, {conv}, 'in', 'prospect', 'm' || i, 'delivered');
             COMMIT;
         END LOOP; END $$",
        w.tenant.0
    )))
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync().await;
    let mut ws = Ws::connect(&app, w.token(w.exec_luis)).await;
    assert_eq!(ws.subscribe("in", "inbox", json!({"since": since})).await["type"], "subscribed");
    let frames = ws.drain(Duration::from_millis(500)).await;
    assert!(frames.iter().all(|f| f["type"] != "reset" && f["type"] != "closed"), "{:?}", frames.last());
    let previews: Vec<&str> =
        event_of(&frames, "in").iter().map(|f| f["event"]["row"]["last_message_preview"].as_str().unwrap()).collect();
    let expected: Vec<String> = (1..=n).map(|i| format!("m{i}")).collect();
    assert_eq!(previews, expected);
    let seqs: Vec<u64> = frames.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|p| p[1] == p[0] + 1), "seq numbers have no gap");
}
