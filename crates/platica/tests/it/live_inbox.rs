//! The live inbox against the SQL reference, driven by raw SQL on plain connections (not the API):
//! whoever writes, every role's inbox equals its recomputation in SQL once the engine has applied
//! the writes.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::{Duration, Instant};

use platica_domain::{Role, TeamId, TenantId, UserId, Viewer};
use platica_store::inbox::conversations::InboxFilter;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::{Connection, PgConnection, Row};
use support::{TestApp, World, world};

#[derive(Clone, Debug)]
enum Op {
    Message { pick: u32, inbound: bool, read: bool },
    MarkRead { pick: u32 },
    Reassign { pick: u32, team: u32, exec: u32 },
    BulkMoveTeam { from: u32, to: u32 },
    BulkMoveExecutive { from: u32, to: u32 },
    NewProspect { team: u32, exec: u32, with_message: bool },
    DeleteProspect { pick: u32 },
    DeleteConversation { pick: u32 },
    DeleteNewestMessage { pick: u32 },
    SetStatus { pick: u32, open: bool },
    BotPause { pick: u32, paused: bool },
    Coordinate { user: u32, team: u32, on: bool },
    MoveMessageBack { pick: u32 },
}

fn op() -> impl Strategy<Value = Op> {
    let n = any::<u32>();
    prop_oneof![
        8 => (n, any::<bool>(), any::<bool>()).prop_map(|(pick, inbound, read)| Op::Message { pick, inbound, read }),
        3 => n.prop_map(|pick| Op::MarkRead { pick }),
        4 => (n, n, n).prop_map(|(pick, team, exec)| Op::Reassign { pick, team, exec }),
        1 => (n, n).prop_map(|(from, to)| Op::BulkMoveTeam { from, to }),
        1 => (n, n).prop_map(|(from, to)| Op::BulkMoveExecutive { from, to }),
        2 => (n, n, any::<bool>()).prop_map(|(team, exec, with_message)| Op::NewProspect { team, exec, with_message }),
        1 => n.prop_map(|pick| Op::DeleteProspect { pick }),
        1 => n.prop_map(|pick| Op::DeleteConversation { pick }),
        1 => n.prop_map(|pick| Op::DeleteNewestMessage { pick }),
        1 => (n, any::<bool>()).prop_map(|(pick, open)| Op::SetStatus { pick, open }),
        1 => (n, any::<bool>()).prop_map(|(pick, paused)| Op::BotPause { pick, paused }),
        1 => (n, n, any::<bool>()).prop_map(|(user, team, on)| Op::Coordinate { user, team, on }),
        1 => n.prop_map(|pick| Op::MoveMessageBack { pick }),
    ]
}

/// A transaction of operations, committed or rolled back.
#[derive(Clone, Debug)]
struct Tx {
    tenant: u32,
    ops: Vec<Op>,
    rollback: bool,
}

fn tx() -> impl Strategy<Value = Tx> {
    (any::<u32>(), proptest::collection::vec(op(), 1..5), proptest::bool::weighted(0.2))
        .prop_map(|(tenant, ops, rollback)| Tx { tenant, ops, rollback })
}

fn pick(ids: &[i64], n: u32) -> Option<i64> {
    (!ids.is_empty()).then(|| ids[n as usize % ids.len()])
}

async fn ids(conn: &mut PgConnection, sql: &'static str, tenant: i64) -> Vec<i64> {
    sqlx::query_scalar(sql).bind(tenant).fetch_all(conn).await.unwrap()
}

/// Runs one operation inside the open transaction; an error (a foreign key, say) is the
/// transaction's end, as it would be for any client.
async fn run_op(conn: &mut PgConnection, tenant: i64, op: &Op, serial: &mut u64) -> Result<(), sqlx::Error> {
    let convs = ids(conn, "SELECT conversation_id FROM conversations WHERE tenant_id = $1 ORDER BY 1", tenant).await;
    let prospects = ids(conn, "SELECT prospect_id FROM prospects WHERE tenant_id = $1 ORDER BY 1", tenant).await;
    let teams = ids(conn, "SELECT team_id FROM teams WHERE tenant_id = $1 ORDER BY 1", tenant).await;
    let execs =
        ids(conn, "SELECT user_id FROM users WHERE tenant_id = $1 AND role = 'executive' ORDER BY 1", tenant).await;
    let coords =
        ids(conn, "SELECT user_id FROM users WHERE tenant_id = $1 AND role = 'coordinator' ORDER BY 1", tenant).await;
    *serial += 1;
    match *op {
        Op::Message { pick: p, inbound, read } => {
            let Some(c) = pick(&convs, p) else { return Ok(()) };
            let (dir, sender) = if inbound { ("in", "prospect") } else { ("out", "executive") };
            sqlx::query(
                "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, read_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, 'delivered', CASE WHEN $6 THEN now() END,
                         now() + ($7::int % 5) * interval '1 millisecond')",
            )
            .bind(tenant)
            .bind(c)
            .bind(dir)
            .bind(sender)
            .bind(format!("mensaje {serial} {}", "·".repeat((*serial % 150) as usize)))
            .bind(read)
            .bind(*serial as i32)
            .execute(conn)
            .await?;
        }
        Op::MarkRead { pick: p } => {
            let Some(c) = pick(&convs, p) else { return Ok(()) };
            sqlx::query(
                "UPDATE messages SET read_at = now() WHERE tenant_id = $1 AND conversation_id = $2 AND read_at IS NULL",
            )
            .bind(tenant)
            .bind(c)
            .execute(conn)
            .await?;
        }
        Op::Reassign { pick: p, team, exec } => {
            let (Some(pr), Some(t)) = (pick(&prospects, p), pick(&teams, team)) else { return Ok(()) };
            let e = if exec % 5 == 0 { None } else { pick(&execs, exec) };
            sqlx::query(
                "UPDATE prospects SET team_id = $3, executive_id = $4 WHERE tenant_id = $1 AND prospect_id = $2",
            )
            .bind(tenant)
            .bind(pr)
            .bind(t)
            .bind(e)
            .execute(conn)
            .await?;
        }
        Op::BulkMoveTeam { from, to } => {
            let (Some(f), Some(t)) = (pick(&teams, from), pick(&teams, to)) else { return Ok(()) };
            sqlx::query("UPDATE prospects SET team_id = $3 WHERE tenant_id = $1 AND team_id = $2")
                .bind(tenant)
                .bind(f)
                .bind(t)
                .execute(conn)
                .await?;
        }
        Op::BulkMoveExecutive { from, to } => {
            let (Some(f), Some(t)) = (pick(&execs, from), pick(&execs, to)) else { return Ok(()) };
            sqlx::query("UPDATE prospects SET executive_id = $3 WHERE tenant_id = $1 AND executive_id = $2")
                .bind(tenant)
                .bind(f)
                .bind(t)
                .execute(conn)
                .await?;
        }
        Op::NewProspect { team, exec, with_message } => {
            let Some(t) = pick(&teams, team) else { return Ok(()) };
            let e = pick(&execs, exec);
            let p: i64 = sqlx::query_scalar(
                "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id)
                 VALUES ($1, $2, $3, $4, $5) RETURNING prospect_id",
            )
            .bind(tenant)
            .bind(format!("Nuevo Prospecto {serial}"))
            .bind(format!("+5219{:010}", tenant as u64 * 1_000_000 + *serial))
            .bind(t)
            .bind(e)
            .fetch_one(&mut *conn)
            .await?;
            let c: i64 = sqlx::query_scalar(
                "INSERT INTO conversations (tenant_id, prospect_id) VALUES ($1, $2) RETURNING conversation_id",
            )
            .bind(tenant)
            .bind(p)
            .fetch_one(&mut *conn)
            .await?;
            if with_message {
                sqlx::query(
                    "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
                     VALUES ($1, $2, 'in', 'prospect', 'Hola, me interesa', 'delivered')",
                )
                .bind(tenant)
                .bind(c)
                .execute(conn)
                .await?;
            }
        }
        Op::DeleteProspect { pick: p } => {
            let Some(pr) = pick(&prospects, p) else { return Ok(()) };
            sqlx::query("DELETE FROM prospects WHERE tenant_id = $1 AND prospect_id = $2")
                .bind(tenant)
                .bind(pr)
                .execute(conn)
                .await?;
        }
        Op::DeleteConversation { pick: p } => {
            let Some(c) = pick(&convs, p) else { return Ok(()) };
            sqlx::query("DELETE FROM conversations WHERE tenant_id = $1 AND conversation_id = $2")
                .bind(tenant)
                .bind(c)
                .execute(conn)
                .await?;
        }
        Op::DeleteNewestMessage { pick: p } => {
            let Some(c) = pick(&convs, p) else { return Ok(()) };
            sqlx::query(
                "DELETE FROM messages WHERE tenant_id = $1 AND message_id = (
                    SELECT message_id FROM messages WHERE tenant_id = $1 AND conversation_id = $2
                    ORDER BY created_at DESC, message_id DESC LIMIT 1)",
            )
            .bind(tenant)
            .bind(c)
            .execute(conn)
            .await?;
        }
        Op::SetStatus { pick: p, open } => {
            let Some(c) = pick(&convs, p) else { return Ok(()) };
            sqlx::query("UPDATE conversations SET status = $3 WHERE tenant_id = $1 AND conversation_id = $2")
                .bind(tenant)
                .bind(c)
                .bind(if open { "open" } else { "closed" })
                .execute(conn)
                .await?;
        }
        Op::BotPause { pick: p, paused } => {
            let Some(c) = pick(&convs, p) else { return Ok(()) };
            sqlx::query(
                "INSERT INTO bot_pause (tenant_id, conversation_id, paused) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, conversation_id) DO UPDATE SET paused = EXCLUDED.paused",
            )
            .bind(tenant)
            .bind(c)
            .bind(paused)
            .execute(conn)
            .await?;
        }
        Op::Coordinate { user, team, on } => {
            let (Some(u), Some(t)) = (pick(&coords, user), pick(&teams, team)) else { return Ok(()) };
            let sql = if on {
                "INSERT INTO coordinator_teams (tenant_id, user_id, team_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM coordinator_teams WHERE tenant_id = $1 AND user_id = $2 AND team_id = $3"
            };
            sqlx::query(sql).bind(tenant).bind(u).bind(t).execute(conn).await?;
        }
        Op::MoveMessageBack { pick: p } => {
            let Some(c) = pick(&convs, p) else { return Ok(()) };
            // The newest message moves back in time: another one becomes the newest.
            sqlx::query(
                "UPDATE messages SET created_at = created_at - interval '1 day' WHERE tenant_id = $1 AND message_id = (
                    SELECT message_id FROM messages WHERE tenant_id = $1 AND conversation_id = $2
                    ORDER BY created_at DESC, message_id DESC LIMIT 1)",
            )
            .bind(tenant)
            .bind(c)
            .execute(conn)
            .await?;
        }
    }
    Ok(())
}

async fn run_tx(conn: &mut PgConnection, tenants: &[i64], t: &Tx, serial: &mut u64) {
    let tenant = tenants[t.tenant as usize % tenants.len()];
    let mut tx = conn.begin().await.unwrap();
    let mut failed = false;
    for op in &t.ops {
        if run_op(&mut tx, tenant, op, serial).await.is_err() {
            failed = true;
            break;
        }
    }
    if failed || t.rollback {
        tx.rollback().await.unwrap();
    } else {
        tx.commit().await.unwrap();
    }
}

/// Every page of a user's inbox through HTTP.
async fn inbox_ids(app: &TestApp, token: &str) -> (Vec<i64>, i64, i64) {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let (mut total, mut unread) = (-1, -1);
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/inbox?limit=7&cursor={c}"),
            None => "/api/v1/inbox?limit=7".to_owned(),
        };
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        if total < 0 {
            total = r.body["total"].as_i64().unwrap();
            unread = r.body["unread"].as_i64().unwrap();
        }
        out.extend(r.body["items"].as_array().unwrap().iter().map(|i| i["conversation_id"].as_i64().unwrap()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    (out, total, unread)
}

/// Every active user of the tenants, as SQL sees them now.
async fn viewers(app: &TestApp, tenants: &[i64]) -> Vec<Viewer> {
    let rows = sqlx::query(
        "SELECT u.tenant_id, u.user_id, u.role,
                ARRAY(SELECT team_id FROM coordinator_teams ct WHERE ct.tenant_id = u.tenant_id AND ct.user_id = u.user_id)
         FROM users u WHERE u.active AND u.tenant_id = ANY($1) ORDER BY 1, 2",
    )
    .bind(tenants)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            let role = Role::parse(r.get::<String, _>(2).as_str()).unwrap();
            let teams: Vec<i64> = r.get(3);
            Viewer {
                tenant_id: TenantId(r.get(0)),
                user_id: UserId(r.get(1)),
                role,
                teams: if role == Role::Coordinator {
                    teams.into_iter().map(TeamId).collect()
                } else {
                    Default::default()
                },
            }
        })
        .collect()
}

/// The engine equals SQL: by `verify` at one LSN, and every user's whole inbox through HTTP
/// against the SQL reference list for the same user.
async fn assert_engine_equals_sql(app: &TestApp, worlds: &[&World]) -> Result<(), TestCaseError> {
    app.sync().await;
    let report = platica_changes::verify::verify(&app.live, None).await.unwrap();
    prop_assert!(report.is_clean(), "verify found differences at {}:\n{}", report.lsn, report.differences.join("\n"));
    let tenants: Vec<i64> = worlds.iter().map(|w| w.tenant.0).collect();
    for v in viewers(app, &tenants).await {
        let sql = platica_store::inbox::conversations::list(&app.pool, &v, &InboxFilter::default(), None, 100_000)
            .await
            .unwrap();
        let expected: Vec<i64> = sql.items.iter().map(|r| r.conversation_id).collect();
        let token = app.session(v.tenant_id, v.user_id).await;
        let (got, total, unread) = inbox_ids(app, &token).await;
        prop_assert_eq!(&got, &expected, "user {} ({}) of tenant {}", v.user_id, v.role, v.tenant_id);
        prop_assert_eq!((total, unread), (sql.total, sql.unread), "counts of user {}", v.user_id);
    }
    Ok(())
}

#[test]
fn random_sql_writes_leave_the_engine_equal_to_sql() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (app, w1, w2) = rt.block_on(async {
        let app = TestApp::spawn().await;
        let w1 = world(&app, "uno", 2).await;
        let w2 = world(&app, "dos", 1).await;
        (app, w1, w2)
    });
    let tenants = [w1.tenant.0, w2.tenant.0];
    let serial = std::cell::Cell::new(0u64);
    let mut runner = TestRunner::new(Config { cases: 12, ..Config::default() });
    runner
        .run(&proptest::collection::vec(tx(), 1..25), |txs| {
            rt.block_on(async {
                let mut conn = PgConnection::connect(&app.db_url).await.unwrap();
                let mut n = serial.get();
                for t in &txs {
                    run_tx(&mut conn, &tenants, t, &mut n).await;
                }
                serial.set(n);
                // Also the newest messages read back after deletes: give the engine its hint round.
                app.sync().await;
                assert_engine_equals_sql(&app, &[&w1, &w2]).await
            })
        })
        .unwrap();
}

/// The incident of the replaced system: an executive's 29 prospects moved from VEN to BOOM by one
/// UPDATE. Within a second they are in the BOOM coordinator's and in her inbox, gone from the VEN
/// coordinator's, with the right counts.
#[tokio::test]
async fn the_seed_incident_is_visible_within_a_second() {
    let app = TestApp::spawn().await;
    let w = world(&app, "inc", 1).await;
    // 29 more of Ana's prospects in VEN, each with an unread message.
    for i in 0..29 {
        let p: i64 = sqlx::query_scalar(
            "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id) VALUES ($1, $2, $3, $4, $5) RETURNING prospect_id",
        )
        .bind(w.tenant.0)
        .bind(format!("Cliente {i}"))
        .bind(format!("+5215577{:06}", i))
        .bind(w.ven.0)
        .bind(w.exec_ana.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        let c: i64 = sqlx::query_scalar(
            "INSERT INTO conversations (tenant_id, prospect_id) VALUES ($1, $2) RETURNING conversation_id",
        )
        .bind(w.tenant.0)
        .bind(p)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status) VALUES ($1, $2, 'in', 'prospect', 'hola', 'delivered')")
            .bind(w.tenant.0)
            .bind(c)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    app.sync().await;
    let count = |v: Value| (v["total"].as_i64().unwrap(), v["unread"].as_i64().unwrap());
    let boom_before = count(app.get("/api/v1/inbox?limit=1", w.token(w.coord_boom)).await.body);
    let ven_before = count(app.get("/api/v1/inbox?limit=1", w.token(w.coord_ven)).await.body);
    let ana_before = count(app.get("/api/v1/inbox?limit=1", w.token(w.exec_ana)).await.body);

    // Everything Ana has in VEN (her 29 new ones and the fixture's one) moves to BOOM, by psql.
    let moved =
        sqlx::query("UPDATE prospects SET team_id = $2 WHERE tenant_id = $1 AND team_id = $3 AND executive_id = $4")
            .bind(w.tenant.0)
            .bind(w.boom.0)
            .bind(w.ven.0)
            .bind(w.exec_ana.0)
            .execute(&app.pool)
            .await
            .unwrap()
            .rows_affected() as i64;
    assert_eq!(moved, 30);
    let committed = Instant::now();

    // Poll without min_lsn: the reader knows nothing of the write.
    let plain = reqwest::Client::new();
    let get = |token: String| {
        let plain = plain.clone();
        let url = app.url("/api/v1/inbox?limit=1");
        async move { plain.get(url).bearer_auth(token).send().await.unwrap().json::<Value>().await.unwrap() }
    };
    loop {
        let boom = count(get(w.token(w.coord_boom).to_owned()).await);
        let ven = count(get(w.token(w.coord_ven).to_owned()).await);
        let ana = count(get(w.token(w.exec_ana).to_owned()).await);
        if boom == (boom_before.0 + moved, boom_before.1 + moved) && ven == (ven_before.0 - moved, ven_before.1 - moved)
        {
            assert_eq!(ana, ana_before, "Ana sees all of hers throughout");
            break;
        }
        assert!(committed.elapsed() < Duration::from_secs(1), "not visible within 1 s: BOOM {boom:?}, VEN {ven:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let report = platica_changes::verify::verify(&app.live, Some(w.tenant)).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.differences);
}

/// Conversation ids of the admin's inbox whose row claims messages but shows no last message: a
/// state no commit ever left (a conversation with messages always has a newest one).
async fn rows_without_last_message(app: &TestApp, token: &str) -> Vec<i64> {
    let r = app.call(reqwest::Method::GET, "/api/v1/inbox?limit=200", Some(token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["message_count"].as_i64().unwrap_or(0) > 0 && row["last_message_id"].is_null())
        .map(|row| row["conversation_id"].as_i64().unwrap())
        .collect()
}

/// Deleting a conversation's newest message in SQL is applied whole: readers polling the inbox
/// meanwhile never see the conversation with messages but no last message (they did for 3-33 ms
/// while the newest remaining message was read back after the delete was applied).
#[tokio::test]
async fn deleting_the_newest_message_is_atomic_for_readers() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    let w = world(&app, "atomdel", 2).await;
    let token = w.token(w.admin).to_owned();
    let convs: Vec<i64> =
        sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 ORDER BY 1 LIMIT 4")
            .bind(w.tenant.0)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pollers: Vec<_> = (0..2)
        .map(|_| {
            let (app, token, stop) = (app.clone(), token.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut polls, mut torn) = (0u32, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    torn.extend(rows_without_last_message(&app, &token).await);
                    polls += 1;
                }
                (polls, torn)
            })
        })
        .collect();
    let mut db = PgConnection::connect(&app.db_url).await.unwrap();
    for round in 0..60 {
        let conv = convs[round % convs.len()];
        let newest: i64 = sqlx::query_scalar(
            "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
             VALUES ($1, $2, 'in', 'prospect', $3, 'delivered') RETURNING message_id",
        )
        .bind(w.tenant.0)
        .bind(conv)
        .bind(format!("to be deleted {round}"))
        .fetch_one(&mut db)
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
        sqlx::query("DELETE FROM messages WHERE tenant_id = $1 AND message_id = $2")
            .bind(w.tenant.0)
            .bind(newest)
            .execute(&mut db)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    app.sync().await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut polls = 0;
    for p in pollers {
        let (n, torn) = p.await.unwrap();
        polls += n;
        assert!(torn.is_empty(), "readers saw conversations with messages but no last message: {torn:?}");
    }
    assert!(polls > 100, "the readers polled only {polls} times");
    assert!(rows_without_last_message(&app, &token).await.is_empty());
    // And the engine equals its recomputation in SQL.
    assert_engine_equals_sql(&app, &[&w]).await.unwrap();
}

/// An event is sent only once its commit is visible: a client that reads the database the moment
/// an event arrives always finds the row the event announced (1,000 round trips, 0 stale reads),
/// both through the API and in SQL.
#[tokio::test]
async fn a_read_after_an_event_sees_the_commit_it_announced() {
    let _alone = support::exclusive().await;
    let app = TestApp::spawn().await;
    let w = world(&app, "visible", 1).await;
    let token = w.token(w.admin).to_owned();
    let conv: i64 =
        sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 ORDER BY 1 LIMIT 1")
            .bind(w.tenant.0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let mut ws = support::Ws::connect(&app, &token).await;
    ws.subscribe("c", &format!("conversation:{conv}"), serde_json::json!({})).await;
    let writer_url = app.db_url.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    // The writer commits on its own connection, not awaited by the reader: only the event says
    // the row exists.
    let writer = tokio::spawn(async move {
        let mut db = PgConnection::connect(&writer_url).await.unwrap();
        while rx.recv().await.is_some() {
            sqlx::query(
                "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
                 VALUES ($1, $2, 'in', 'prospect', 'visible?', 'delivered')",
            )
            .bind(w.tenant.0)
            .bind(conv)
            .execute(&mut db)
            .await
            .unwrap();
        }
    });
    let mut reader = PgConnection::connect(&app.db_url).await.unwrap();
    let (mut stale_sql, mut stale_api) = (0, 0);
    for _ in 0..1000 {
        tx.send(()).unwrap();
        let id = loop {
            let f = ws.next(Duration::from_secs(5)).await.expect("an event for the insert");
            if f["type"] == "event" && f["event"]["table"] == "messages" && f["event"]["op"] == "insert" {
                break f["event"]["row"]["message_id"].as_i64().unwrap();
            }
        };
        let seen: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM messages WHERE tenant_id = $1 AND message_id = $2)")
                .bind(w.tenant.0)
                .bind(id)
                .fetch_one(&mut reader)
                .await
                .unwrap();
        stale_sql += usize::from(!seen);
        let page = app
            .call(reqwest::Method::GET, &format!("/api/v1/conversations/{conv}/messages?limit=1"), Some(&token), None)
            .await;
        if page.body["items"][0]["message_id"].as_i64() != Some(id) {
            stale_api += 1;
        }
    }
    drop(tx);
    writer.await.unwrap();
    assert_eq!((stale_sql, stale_api), (0, 0), "reads after an event that missed its commit (SQL, API)");
}
