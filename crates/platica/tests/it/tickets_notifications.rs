//! Support tickets and user notifications over HTTP and WebSocket: who sees which ticket,
//! comment and notification (per role and tenant, REST and pushed events), who may change a
//! ticket, and notification fan-out (one per affected user per bulk reassignment).
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use platica_domain::{Role, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, World, Ws, world};

async fn second_admin(app: &TestApp, w: &World) -> (UserId, String) {
    let id = support::add_user(app, w, &format!("admin2@{}.test", w.slug), "Admin 2", Role::Admin).await;
    (id, app.session(w.tenant, id).await)
}

/// The user's notifications as (kind, item_count), newest first, and the unread count.
async fn feed(app: &TestApp, token: &str) -> (Vec<(String, i64)>, i64) {
    let r = app.get("/api/v1/notifications", token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let items = r.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["kind"].as_str().unwrap().to_owned(), n["item_count"].as_i64().unwrap()))
        .collect();
    (items, r.body["unread"].as_i64().unwrap())
}

/// Moves `prospect` (in BOOM, Luis's since the bulk reassignment) to `to` by raw SQL with its
/// history row, as an operator with psql would.
async fn reassign_by_sql(app: &TestApp, w: &World, prospect: i64, to: UserId) {
    let mut tx = app.pool.begin().await.unwrap();
    let from: Option<i64> =
        sqlx::query_scalar("SELECT executive_id FROM prospects WHERE tenant_id = $1 AND prospect_id = $2")
            .bind(w.tenant.0)
            .bind(prospect)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    sqlx::query("UPDATE prospects SET executive_id = $3 WHERE tenant_id = $1 AND prospect_id = $2")
        .bind(w.tenant.0)
        .bind(prospect)
        .bind(to.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO assignment_history (tenant_id, prospect_id, from_team_id, to_team_id, from_executive_id, to_executive_id, actor_user_id, kind)
         VALUES ($1, $2, $3, $3, $4, $5, $6, 'single')",
    )
    .bind(w.tenant.0)
    .bind(prospect)
    .bind(w.boom.0)
    .bind(from)
    .bind(to.0)
    .bind(w.admin.0)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn ids(r: &support::Resp) -> Vec<i64> {
    let mut v: Vec<i64> = r.body.as_array().unwrap().iter().map(|t| t["ticket_id"].as_i64().unwrap()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn tickets_are_seen_by_opener_assignee_and_admins_and_notify_the_people_involved() {
    let app = TestApp::spawn().await;
    let w = world(&app, "tk", 1).await;
    let other = world(&app, "tk2", 1).await;
    let (admin2, admin2_token) = second_admin(&app, &w).await;

    let r = app
        .post(
            "/api/v1/tickets",
            w.token(w.exec_ana),
            json!({"subject": "No llegan mensajes", "body": "Desde ayer", "priority": "high"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["status"].as_str(), r.body["opened_by"].as_i64()), (Some("open"), Some(w.exec_ana.0)));
    let t1 = r.body["ticket_id"].as_i64().unwrap();
    let r = app.post("/api/v1/tickets", w.token(w.exec_luis), json!({"subject": "Otro", "body": ""})).await;
    let t2 = r.body["ticket_id"].as_i64().unwrap();
    // Bad input names the field; executives may not assign.
    for (body, field) in [
        (json!({"subject": "", "body": "x"}), "subject"),
        (json!({"subject": "x", "body": "x", "priority": "asap"}), "priority"),
    ] {
        let r = app.post("/api/v1/tickets", w.token(w.exec_ana), body).await;
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(field)));
    }
    let r = app
        .post("/api/v1/tickets", w.token(w.exec_ana), json!({"subject": "x", "body": "x", "assignee_id": w.admin.0}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    assert_eq!(ids(&app.get("/api/v1/tickets", w.token(w.exec_ana)).await), vec![t1]);
    assert_eq!(ids(&app.get("/api/v1/tickets", w.token(w.exec_luis)).await), vec![t2]);
    assert_eq!(ids(&app.get("/api/v1/tickets", w.token(w.coord_both)).await), Vec::<i64>::new());
    assert_eq!(ids(&app.get("/api/v1/tickets", w.token(w.admin)).await), vec![t1, t2]);
    // The list filters by priority too (t2 took the default, normal); a bad one names the field.
    assert_eq!(ids(&app.get("/api/v1/tickets?priority=high", w.token(w.admin)).await), vec![t1]);
    assert_eq!(ids(&app.get("/api/v1/tickets?priority=normal&status=open", w.token(w.admin)).await), vec![t2]);
    let r = app.get("/api/v1/tickets?priority=asap", w.token(w.admin)).await;
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("priority")));
    assert_eq!(ids(&app.get("/api/v1/tickets", other.token(other.admin)).await), Vec::<i64>::new());
    assert_eq!(app.get(&format!("/api/v1/tickets/{t1}"), w.token(w.exec_luis)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/v1/tickets/{t1}"), other.token(other.admin)).await.status, StatusCode::NOT_FOUND);
    // An assignee sees the ticket (assigned by SQL here: the API assigns admins only).
    sqlx::query("UPDATE tickets SET assignee_id = $2 WHERE ticket_id = $1")
        .bind(t2)
        .bind(w.coord_ven.0)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(ids(&app.get("/api/v1/tickets", w.token(w.coord_ven)).await), vec![t2]);

    // A new unassigned ticket tells every admin; Ana, who opened it, is not told.
    assert_eq!(feed(&app, w.token(w.admin)).await.0, vec![("ticket_update".into(), 1), ("ticket_update".into(), 1)]);
    assert_eq!(feed(&app, &admin2_token).await.0.len(), 2);
    assert_eq!(feed(&app, w.token(w.exec_ana)).await.0, vec![]);

    // Only admins change status and assignee; the assignee must be an admin.
    let r = app.patch(&format!("/api/v1/tickets/{t1}"), w.token(w.exec_ana), json!({"status": "closed"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.patch(&format!("/api/v1/tickets/{t1}"), w.token(w.admin), json!({"assignee_id": w.coord_boom.0})).await;
    assert_eq!((r.status.is_client_error(), r.body["error"]["field"].as_str()), (true, Some("assignee_id")));
    let r = app.patch(&format!("/api/v1/tickets/{t1}"), w.token(w.admin), json!({"status": "nope"})).await;
    assert_eq!(r.body["error"]["field"], "status");
    let r = app
        .patch(
            &format!("/api/v1/tickets/{t1}"),
            w.token(w.admin),
            json!({"status": "in_progress", "assignee_id": admin2.0}),
        )
        .await;
    assert_eq!((r.status, r.body["assignee_id"].as_i64()), (StatusCode::OK, Some(admin2.0)), "{:?}", r.body);
    // Opener and new assignee are told; the admin who made the change is not.
    assert_eq!(feed(&app, w.token(w.exec_ana)).await, (vec![("ticket_update".into(), 1)], 1));
    assert_eq!(feed(&app, &admin2_token).await.0.len(), 3);
    assert_eq!(feed(&app, w.token(w.admin)).await.0.len(), 2);

    // Comments: by whoever sees the ticket; they tell opener, assignee and earlier commenters.
    let r = app.post(&format!("/api/v1/tickets/{t1}/comments"), w.token(w.exec_luis), json!({"body": "hola"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.post(&format!("/api/v1/tickets/{t1}/comments"), w.token(w.exec_ana), json!({"body": ""})).await;
    assert_eq!(r.body["error"]["field"], "body");
    let r = app
        .post(&format!("/api/v1/tickets/{t1}/comments"), w.token(w.exec_ana), json!({"body": "¿Alguna novedad?"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(feed(&app, &admin2_token).await.0[0], ("ticket_comment".into(), 1));
    assert_eq!(feed(&app, w.token(w.admin)).await.0.len(), 2, "an admin not involved is not told of comments");
    let r = app.post(&format!("/api/v1/tickets/{t1}/comments"), &admin2_token, json!({"body": "Revisando"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(feed(&app, w.token(w.exec_ana)).await.0[0], ("ticket_comment".into(), 1));
    let r = app.get(&format!("/api/v1/tickets/{t1}"), w.token(w.exec_ana)).await;
    assert_eq!((r.body["comments"].as_array().unwrap().len(), r.body["comment_count"].as_i64()), (2, Some(2)));
}

#[tokio::test]
async fn a_bulk_reassignment_notifies_each_affected_user_once() {
    let app = TestApp::spawn().await;
    let w = world(&app, "nf", 5).await;
    let other = world(&app, "nf2", 1).await;
    let mut ana_ws = Ws::connect(&app, w.token(w.exec_ana)).await;
    let mut luis_ws = Ws::connect(&app, w.token(w.exec_luis)).await;
    let mut admin_ws = Ws::connect(&app, w.token(w.admin)).await;
    let mut foreign_ws = Ws::connect(&app, other.token(other.admin)).await;
    for ws in [&mut ana_ws, &mut luis_ws, &mut admin_ws, &mut foreign_ws] {
        ws.subscribe("n", "table:notifications", json!({})).await;
    }

    // Ana's ten prospects (five in BOOM, five in VEN) go to Luis in BOOM, in one bulk.
    let anas: Vec<i64> = w.prospects.iter().filter(|p| p.2 == Some(w.exec_ana)).map(|p| p.0).collect();
    assert_eq!(anas.len(), 10);
    let r = app
        .post(
            "/api/v1/prospects/bulk-reassign",
            w.token(w.admin),
            json!({"prospect_ids": anas, "team_id": w.boom.0, "executive_id": w.exec_luis.0}),
        )
        .await;
    assert_eq!((r.status, r.body["moved"].as_i64()), (StatusCode::OK, Some(10)), "{:?}", r.body);
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM assignment_history WHERE kind = 'bulk'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(history, 10, "one history row per prospect");

    assert_eq!(feed(&app, w.token(w.exec_luis)).await, (vec![("prospect_assigned".into(), 10)], 1));
    assert_eq!(feed(&app, w.token(w.exec_ana)).await, (vec![("prospect_removed".into(), 10)], 1));
    // BOOM's coordinator: all ten touched BOOM; VEN's: the five that left VEN; both: ten, once.
    assert_eq!(feed(&app, w.token(w.coord_boom)).await.0, vec![("team_reassignment".into(), 10)]);
    assert_eq!(feed(&app, w.token(w.coord_ven)).await.0, vec![("team_reassignment".into(), 5)]);
    assert_eq!(feed(&app, w.token(w.coord_both)).await.0, vec![("team_reassignment".into(), 10)]);
    assert_eq!(feed(&app, w.token(w.admin)).await.0, vec![], "the actor is not told of their own action");
    assert_eq!(feed(&app, w.token(w.exec_sofia)).await.0, vec![]);
    assert_eq!(feed(&app, other.token(other.admin)).await.0, vec![]);
    let title: String = sqlx::query_scalar("SELECT title FROM notifications WHERE tenant_id = $1 AND user_id = $2")
        .bind(w.tenant.0)
        .bind(w.exec_luis.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(title, "10 prospects were assigned to you");

    // Pushed live, each to its owner only.
    app.sync().await;
    let wait = Duration::from_millis(700);
    let luis_got = luis_ws.events(wait).await;
    assert_eq!(luis_got.len(), 1, "{luis_got:?}");
    assert_eq!((luis_got[0].0.as_str(), luis_got[0].2["user_id"].as_i64()), ("notifications", Some(w.exec_luis.0)));
    let ana_got = ana_ws.events(wait).await;
    assert!(ana_got.iter().all(|e| e.2["user_id"] == w.exec_ana.0) && ana_got.len() == 1, "{ana_got:?}");
    assert_eq!(admin_ws.events(wait).await, vec![], "admins do not see others' notifications");
    assert_eq!(foreign_ws.events(wait).await, vec![]);

    // A single reassignment by SQL notifies too (triggers, same transaction).
    let p = anas[0];
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("UPDATE prospects SET executive_id = $3 WHERE tenant_id = $1 AND prospect_id = $2")
        .bind(w.tenant.0)
        .bind(p)
        .bind(w.exec_sofia.0)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO assignment_history (tenant_id, prospect_id, from_team_id, to_team_id, from_executive_id, to_executive_id, actor_user_id, kind)
         VALUES ($1, $2, $3, $3, $4, $5, $6, 'single')",
    )
    .bind(w.tenant.0)
    .bind(p)
    .bind(w.boom.0)
    .bind(w.exec_luis.0)
    .bind(w.exec_sofia.0)
    .bind(w.admin.0)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(feed(&app, w.token(w.exec_sofia)).await, (vec![("prospect_assigned".into(), 1)], 1));
    assert_eq!(feed(&app, w.token(w.exec_luis)).await.1, 2);
    // One prospect: the notification names it and links to its conversation, with parameters the
    // web app renders in the reader's language.
    let (name, conversation): (String, i64) = sqlx::query_as(
        "SELECT p.name, c.conversation_id FROM prospects p JOIN conversations c USING (tenant_id, prospect_id)
          WHERE p.tenant_id = $1 AND p.prospect_id = $2",
    )
    .bind(w.tenant.0)
    .bind(p)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let r = app.get("/api/v1/notifications", w.token(w.exec_sofia)).await;
    let n = &r.body["items"][0];
    assert_eq!(n["title"], format!("{name} was assigned to you"));
    assert_eq!(n["link"], format!("#/c/{conversation}"));
    assert_eq!(n["params"], json!({"prospect": name, "prospect_id": p, "conversation_id": conversation}));
    // BOOM's coordinator was told of it in the notification she had not read yet: one notification
    // counting eleven, not a second one.
    assert_eq!(feed(&app, w.token(w.coord_boom)).await.0, vec![("team_reassignment".into(), 11)]);
    // Two more for Sofia while she has not read the first: one notification counting three, to
    // the inbox, with no single prospect's parameters.
    for q in &anas[1..3] {
        reassign_by_sql(&app, &w, *q, w.exec_sofia).await;
    }
    let r = app.get("/api/v1/notifications", w.token(w.exec_sofia)).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{:?}", r.body);
    let n = &r.body["items"][0];
    assert_eq!((n["item_count"].as_i64(), n["link"].as_str()), (Some(3), Some("#/inbox")));
    assert_eq!((n["title"].as_str(), &n["params"]), (Some("3 prospects were assigned to you"), &json!({})));
    // Once read, the next reassignment starts a notification of its own.
    let first = n["notification_id"].as_i64().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/notifications/{first}/read"), w.token(w.exec_sofia), json!({})).await.status,
        StatusCode::OK
    );
    reassign_by_sql(&app, &w, anas[3], w.exec_sofia).await;
    assert_eq!(
        feed(&app, w.token(w.exec_sofia)).await,
        (vec![("prospect_assigned".into(), 1), ("prospect_assigned".into(), 3)], 1)
    );

    // Mark read: one (mine only), then all.
    let r = app.get("/api/v1/notifications", w.token(w.exec_luis)).await;
    let first = r.body["items"][0]["notification_id"].as_i64().unwrap();
    assert_eq!(
        app.post(&format!("/api/v1/notifications/{first}/read"), w.token(w.exec_ana), json!({})).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app.post(&format!("/api/v1/notifications/{first}/read"), w.token(w.exec_luis), json!({})).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["read_at"].is_string());
    assert_eq!(feed(&app, w.token(w.exec_luis)).await.1, 1);
    let r = app.get("/api/v1/notifications?unread=true", w.token(w.exec_luis)).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    let r = app.post("/api/v1/notifications/read-all", w.token(w.exec_luis), json!({})).await;
    assert_eq!(r.body["marked"], 1);
    assert_eq!(feed(&app, w.token(w.exec_luis)).await.1, 0);
    assert_eq!(feed(&app, w.token(w.exec_ana)).await.1, 1, "someone else's feed is untouched");

    // A missed scheduled call tells its executive.
    let sofia_p = w.prospects.iter().find(|p| p.2 == Some(w.exec_sofia)).unwrap().0;
    let r = app
        .post(
            "/api/v1/scheduled-calls",
            w.token(w.exec_sofia),
            json!({"prospect_id": sofia_p, "due_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(platica_store::inbox::calls::mark_overdue_scheduled_calls(&app.pool).await.unwrap(), 1);
    assert_eq!(feed(&app, w.token(w.exec_sofia)).await.0[0], ("call_missed".into(), 1));
}

#[tokio::test]
async fn ticket_events_are_pushed_to_the_people_who_see_the_ticket() {
    let app = TestApp::spawn().await;
    let w = world(&app, "te", 1).await;
    let other = world(&app, "te2", 1).await;
    let mut ana = Ws::connect(&app, w.token(w.exec_ana)).await;
    let mut luis = Ws::connect(&app, w.token(w.exec_luis)).await;
    let mut admin = Ws::connect(&app, w.token(w.admin)).await;
    let mut foreign = Ws::connect(&app, other.token(other.admin)).await;
    for ws in [&mut ana, &mut luis, &mut admin, &mut foreign] {
        ws.subscribe("t", "table:tickets", json!({})).await;
        ws.subscribe("c", "table:ticket_comments", json!({})).await;
    }
    let r = app.post("/api/v1/tickets", w.token(w.exec_ana), json!({"subject": "Ayuda", "body": "x"})).await;
    let t = r.body["ticket_id"].as_i64().unwrap();
    let r = app.post(&format!("/api/v1/tickets/{t}/comments"), w.token(w.admin), json!({"body": "Aquí"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    app.sync().await;
    let wait = Duration::from_millis(700);
    let tables = |evs: Vec<(String, String, Value)>| -> Vec<(String, String)> {
        evs.into_iter().map(|(t, o, _)| (t, o)).collect()
    };
    let expected: Vec<(String, String)> = vec![
        ("tickets".into(), "insert".into()),
        ("ticket_comments".into(), "insert".into()),
        ("tickets".into(), "update".into()),
    ];
    assert_eq!(tables(ana.events(wait).await), expected);
    assert_eq!(tables(admin.events(wait).await), expected);
    assert_eq!(luis.events(wait).await, vec![]);
    assert_eq!(foreign.events(wait).await, vec![]);
}
