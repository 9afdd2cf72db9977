//! Triage (issue 18): status with snooze, priority and labels, through the API, the change
//! stream and the live inbox, checked against SQL by `verify`.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use chrono::Utc;
use platica_domain::ConversationId;
use serde_json::{Value, json};

use crate::support::{self, TestApp};

async fn conversation_of(app: &TestApp, prospect: i64) -> i64 {
    sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE prospect_id = $1")
        .bind(prospect)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

fn ids(page: &Value) -> Vec<i64> {
    page["items"].as_array().unwrap().iter().map(|r| r["conversation_id"].as_i64().unwrap()).collect()
}

fn row(page: &Value, conv: i64) -> Value {
    page["items"].as_array().unwrap().iter().find(|r| r["conversation_id"] == conv).cloned().unwrap_or(Value::Null)
}

async fn assert_verified(app: &TestApp, tenant: platica_domain::TenantId) {
    let report = platica_changes::verify::verify(&app.live, Some(tenant)).await.unwrap();
    assert_eq!(report.difference_count, 0, "{:?}", report.differences);
}

/// An executive snoozes, prioritises and labels a conversation; an inbound message wakes it;
/// bad input names its field; labels are admins' to manage and everyone's to list and apply;
/// every state agrees between the live inbox and SQL.
#[tokio::test]
async fn snooze_priority_and_labels_through_the_api_and_the_live_inbox() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "triage", 1).await;
    let other = support::world(&app, "triage-other", 1).await;
    let ana = w.token(w.exec_ana);
    let (prospect, _, _) = w.prospects[0];
    let conv = conversation_of(&app, prospect).await;
    let path = format!("/api/v1/conversations/{conv}");

    // Bad input, each naming its field, changing nothing.
    let soon = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let past = (Utc::now() - chrono::Duration::minutes(1)).to_rfc3339();
    for (body, field) in [
        (json!({"status": "snoozed"}), "snoozed_until"),
        (json!({"status": "snoozed", "snoozed_until": past}), "snoozed_until"),
        (json!({"status": "open", "snoozed_until": soon}), "snoozed_until"),
        (json!({"status": "sleeping"}), "status"),
        (json!({"priority": "huge"}), "priority"),
        (json!({}), "status"),
    ] {
        let r = app.patch(&path, ana, body.clone()).await;
        assert!(r.status.is_client_error(), "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}: {:?}", r.body);
    }

    // Snoozed: out of the open view, in the snoozed one, with its time.
    let r = app.patch(&path, ana, json!({"status": "snoozed", "snoozed_until": soon})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["status"], "snoozed");
    assert!(r.body["snoozed_until"].is_string());
    let open = app.get("/api/v1/inbox?status=open", ana).await;
    assert!(!ids(&open.body).contains(&conv));
    let snoozed = app.get("/api/v1/inbox?status=snoozed", ana).await;
    assert_eq!(ids(&snoozed.body), vec![conv]);
    assert_eq!(row(&snoozed.body, conv)["snoozed_until"], r.body["snoozed_until"]);

    // Priority alone leaves the snooze as it is.
    let r = app.patch(&path, ana, json!({"priority": "high"})).await;
    assert_eq!((r.body["status"].as_str(), r.body["priority"].as_str()), (Some("snoozed"), Some("high")));
    assert_verified(&app, w.tenant).await;

    // Invisible is absent.
    assert_eq!(app.patch(&path, w.token(w.exec_luis), json!({"priority": "low"})).await.status, 404);

    // The prospect writes: open again, snooze gone, priority kept; the open view gets it live.
    let mut ws = support::Ws::connect(&app, ana).await;
    ws.subscribe("open", "inbox", json!({"status": "open"})).await;
    platica_store::inbox::messages::ingest_inbound(
        &app.pool,
        w.tenant,
        ConversationId(conv),
        "wamid.triage-1",
        "¿Sigue?",
    )
    .await
    .unwrap();
    app.sync().await;
    let mut upserted = None;
    while let Some(f) = ws.next(Duration::from_secs(3)).await {
        if f["type"] == "event" && f["event"]["kind"] == "upsert" && f["event"]["row"]["conversation_id"] == conv {
            upserted = Some(f["event"]["row"].clone());
            break;
        }
    }
    let upserted = upserted.expect("the woken conversation is pushed to the open view");
    assert_eq!((upserted["status"].as_str(), upserted["priority"].as_str()), (Some("open"), Some("high")));
    let open = app.get("/api/v1/inbox?status=open", ana).await;
    let r = row(&open.body, conv);
    assert_eq!((r["status"].as_str(), r["priority"].as_str()), (Some("open"), Some("high")), "{r}");
    assert!(r["snoozed_until"].is_null());

    // Closed reopens on inbound too.
    app.patch(&path, ana, json!({"status": "closed"})).await;
    platica_store::inbox::messages::ingest_inbound(&app.pool, w.tenant, ConversationId(conv), "wamid.triage-2", "Hola")
        .await
        .unwrap();
    app.sync().await;
    assert_eq!(row(&app.get("/api/v1/inbox", ana).await.body, conv)["status"], "open");

    // Labels: admins manage them, everyone lists them.
    assert_eq!(app.post("/api/v1/labels", ana, json!({"name": "VIP", "colour": "#ff0000"})).await.status, 403);
    let admin = w.token(w.admin);
    let vip = app.post("/api/v1/labels", admin, json!({"name": " VIP ", "colour": "#FF0000"})).await;
    assert_eq!(vip.status, 201, "{:?}", vip.body);
    assert_eq!((vip.body["name"].as_str(), vip.body["colour"].as_str()), (Some("VIP"), Some("#ff0000")));
    let vip_id = vip.body["label_id"].as_i64().unwrap();
    let dup = app.post("/api/v1/labels", admin, json!({"name": "vip", "colour": "#00ff00"})).await;
    assert_eq!((dup.status.as_u16(), dup.body["error"]["field"].as_str()), (409, Some("name")));
    let bad = app.post("/api/v1/labels", admin, json!({"name": "Hot", "colour": "red"})).await;
    assert_eq!((bad.status.as_u16(), bad.body["error"]["field"].as_str()), (422, Some("colour")));
    let listed = app.get("/api/v1/labels", ana).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(app.get("/api/v1/labels", other.token(other.admin)).await.body, json!([]));
    // Another tenant's admin cannot touch it.
    assert_eq!(app.delete(&format!("/api/v1/labels/{vip_id}"), other.token(other.admin)).await.status, 404);
    assert_eq!(app.patch(&format!("/api/v1/labels/{vip_id}"), ana, json!({"colour": "#000000"})).await.status, 403);
    let renamed = app.patch(&format!("/api/v1/labels/{vip_id}"), admin, json!({"colour": "#00aa00"})).await;
    assert_eq!(renamed.body["colour"], "#00aa00");

    // Everyone applies labels to what they see.
    let r = app.patch(&path, ana, json!({"labels_add": [vip_id]})).await;
    assert_eq!(r.body["label_ids"], json!([vip_id]), "{:?}", r.body);
    let other_label =
        app.post("/api/v1/labels", other.token(other.admin), json!({"name": "X", "colour": "#123456"})).await;
    let r = app.patch(&path, ana, json!({"labels_add": [other_label.body["label_id"]]})).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (404, Some("labels_add")));
    let inbox = app.get("/api/v1/inbox", ana).await;
    assert_eq!(row(&inbox.body, conv)["label_ids"], json!([vip_id]));
    assert_verified(&app, w.tenant).await;

    // Deleting a label takes it off every conversation, live.
    assert_eq!(app.delete(&format!("/api/v1/labels/{vip_id}"), admin).await.status, 204);
    app.sync().await;
    assert_eq!(row(&app.get("/api/v1/inbox", ana).await.body, conv)["label_ids"], json!([]));
    assert_verified(&app, w.tenant).await;
}

/// A snooze whose time has passed opens by itself: the scheduler's loop flips the row, so SQL
/// and the live inbox agree, with no job to install.
#[tokio::test]
async fn a_snooze_whose_time_passed_is_opened_by_the_scheduler_loop() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "snooze-wake", 1).await;
    let ana = w.token(w.exec_ana);
    let conv = conversation_of(&app, w.prospects[0].0).await;
    let until = (Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let r = app
        .patch(&format!("/api/v1/conversations/{conv}"), ana, json!({"status": "snoozed", "snoozed_until": until}))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // Nothing to wake yet.
    assert_eq!(platica_store::inbox::conversations::wake_snoozed(&app.pool).await.unwrap(), 0);

    let scheduler = platica_scheduler::Scheduler::new(
        app.pool.clone(),
        platica_scheduler::SchedulerConfig { tick: Duration::from_millis(200), ..Default::default() },
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        scheduler
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    support::until(15, "the snoozed conversation to open", || async {
        app.sync().await;
        let page = app.get("/api/v1/inbox?status=open", ana).await;
        ids(&page.body).contains(&conv).then_some(())
    })
    .await;
    let _ = stop.send(());
    running.await.unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM conversations WHERE conversation_id = $1")
        .bind(conv)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "open");
    assert_verified(&app, w.tenant).await;
}

/// Every view, filter and sort of triage answers the same rows, in the same order, page by page,
/// with the same counts, from the live engine (`GET /inbox`) and from the SQL reference
/// (`conversations::list`), for every role; bad values are 400s naming their field; the longest
/// waiting conversation comes first.
#[tokio::test]
async fn triage_filters_and_sorts_answer_the_same_from_the_engine_and_sql() {
    use std::collections::BTreeSet;

    use platica_domain::inbox::InboxCursor;
    use platica_domain::{Role, TeamId, UserId, Viewer};
    use platica_store::inbox::conversations::{self, InboxFilter};

    let app = TestApp::spawn().await;
    let w = support::world(&app, "triage-sort", 2).await;
    let admin = w.token(w.admin);
    let mut convs = Vec::new();
    for (p, _, _) in &w.prospects {
        convs.push(conversation_of(&app, *p).await);
    }
    // Distinct activity times, some answered (not waiting), some read, one waiting since long ago.
    for (i, c) in convs.iter().enumerate() {
        let (direction, sender) = if i % 3 == 0 { ("out", "executive") } else { ("in", "prospect") };
        sqlx::query(
            "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, created_at)
             VALUES ($1, $2, $3, $4, 'x', 'delivered', now() - make_interval(mins => $5))",
        )
        .bind(w.tenant.0)
        .bind(c)
        .bind(direction)
        .bind(sender)
        .bind((i as i32 * 7) % 11)
        .execute(&app.pool)
        .await
        .unwrap();
        if i % 4 == 1 {
            sqlx::query("UPDATE messages SET read_at = now() WHERE conversation_id = $1")
                .bind(c)
                .execute(&app.pool)
                .await
                .unwrap();
        }
    }
    let oldest = convs[4];
    sqlx::query("UPDATE messages SET created_at = '2020-01-01T00:00:00Z' WHERE conversation_id = $1")
        .bind(oldest)
        .execute(&app.pool)
        .await
        .unwrap();
    let hot = app.post("/api/v1/labels", admin, json!({"name": "Hot", "colour": "#ff5500"})).await.body["label_id"]
        .as_i64()
        .unwrap();
    let vip = app.post("/api/v1/labels", admin, json!({"name": "VIP", "colour": "#0055ff"})).await.body["label_id"]
        .as_i64()
        .unwrap();
    let priorities = ["none", "low", "medium", "high", "urgent"];
    for (i, c) in convs.iter().enumerate() {
        let mut body = json!({"priority": priorities[i % 5]});
        let labels: Vec<i64> =
            [(i % 2 == 0).then_some(hot), (i % 3 == 0).then_some(vip)].into_iter().flatten().collect();
        body["labels_add"] = json!(labels);
        match i % 5 {
            1 => body["status"] = json!("closed"),
            2 => {
                body["status"] = json!("snoozed");
                body["snoozed_until"] = json!((Utc::now() + chrono::Duration::hours(3)).to_rfc3339());
            }
            _ => {}
        }
        let r = app.patch(&format!("/api/v1/conversations/{c}"), admin, body).await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    app.sync().await;

    // The longest waiting first.
    let page = app.get("/api/v1/inbox?sort=waiting", admin).await;
    assert_eq!(ids(&page.body).first(), Some(&oldest), "{:?}", page.body);
    assert!(page.body["items"].as_array().unwrap().iter().all(|r| r["last_message_direction"] == "in"));

    // Bad values: 400 naming the field.
    for (q, field) in
        [("view=everyone", "view"), ("sort=oldest", "sort"), ("priority=1", "priority"), ("label_id=0", "label_id")]
    {
        let r = app.get(&format!("/api/v1/inbox?{q}"), admin).await;
        assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (400, Some(field)), "{q}: {:?}", r.body);
    }

    let queries: Vec<Vec<(&str, String)>> = {
        let mut out: Vec<Vec<(&str, String)>> = vec![vec![]];
        let base: Vec<Vec<(&str, String)>> = vec![
            vec![],
            vec![("view", "mine".into())],
            vec![("view", "unassigned".into())],
            vec![("view", "all".into()), ("team_id", w.ven.0.to_string())],
            vec![("status", "open".into())],
            vec![("status", "snoozed".into())],
            vec![("status", "closed".into()), ("unread", "true".into())],
            vec![("label_id", hot.to_string())],
            vec![("label_id", vip.to_string()), ("status", "open".into())],
            vec![("label_id", hot.to_string()), ("priority", "urgent".into())],
            vec![("priority", "none".into())],
            vec![("priority", "high".into()), ("view", "unassigned".into())],
            vec![("q", "Prospecto 1".into()), ("label_id", hot.to_string())],
            vec![("unread", "false".into())],
        ];
        for sort in ["latest", "waiting", "unread_first"] {
            for b in &base {
                let mut q = b.clone();
                q.push(("sort", sort.into()));
                out.push(q);
            }
        }
        out
    };
    let viewers = [
        (w.admin, Role::Admin, BTreeSet::new()),
        (w.coord_boom, Role::Coordinator, BTreeSet::from([TeamId(w.boom.0)])),
        (w.coord_both, Role::Coordinator, BTreeSet::from([TeamId(w.boom.0), TeamId(w.ven.0)])),
        (w.exec_ana, Role::Executive, BTreeSet::new()),
        (w.exec_luis, Role::Executive, BTreeSet::new()),
    ];
    for (user, role, teams) in viewers {
        let viewer = Viewer { tenant_id: w.tenant, user_id: UserId(user.0), role, teams };
        let token = w.token(user);
        for q in &queries {
            let get = |k: &str| q.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
            let filter = InboxFilter {
                team_id: get("team_id").map(|v| v.parse().unwrap()),
                executive_id: None,
                unread: get("unread").map(|v| v == "true"),
                status: get("status"),
                q: get("q"),
                view: get("view"),
                label_id: get("label_id").map(|v| v.parse().unwrap()),
                priority: get("priority"),
                sort: get("sort"),
            };
            // SQL, page by page.
            let mut sql_ids = Vec::new();
            let mut after: Option<InboxCursor> = None;
            let mut sql_counts = None;
            loop {
                let page = conversations::list(&app.pool, &viewer, &filter, after, 3).await.unwrap();
                sql_counts.get_or_insert((page.total, page.unread));
                sql_ids.extend(page.items.iter().map(|r| r.conversation_id));
                match page.next_cursor {
                    Some(c) => after = Some(InboxCursor::decode(&c).unwrap()),
                    None => break,
                }
            }
            // The engine, page by page, over HTTP.
            let query: String = q.iter().map(|(k, v)| format!("{k}={}&", v.replace(' ', "%20"))).collect();
            let mut engine_ids = Vec::new();
            let mut cursor: Option<String> = None;
            let mut engine_counts = None;
            loop {
                let path = match &cursor {
                    Some(c) => format!("/api/v1/inbox?{query}limit=3&cursor={c}"),
                    None => format!("/api/v1/inbox?{query}limit=3"),
                };
                let page = app.get(&path, token).await;
                assert_eq!(page.status, 200, "{path}: {:?}", page.body);
                engine_counts
                    .get_or_insert((page.body["total"].as_i64().unwrap(), page.body["unread"].as_i64().unwrap()));
                engine_ids.extend(ids(&page.body));
                match page.body["next_cursor"].as_str() {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            assert_eq!(engine_ids, sql_ids, "user {user:?} ({role}) {q:?}");
            assert_eq!(engine_counts, sql_counts, "counts, user {user:?} ({role}) {q:?}");
        }
    }
    assert_verified(&app, w.tenant).await;
}
