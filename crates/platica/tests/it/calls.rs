//! Calls and scheduled calls over HTTP and WebSocket: the call provider webhook (signature,
//! idempotency, out-of-order statuses), visibility per role and tenant (REST and pushed events),
//! scheduling, overdue scheduled calls, and the live inbox ignoring the new tables.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{TestApp, World, Ws, world};

const SECRET: &str = "call-provider-secret-0123456789";

async fn set_secret(app: &TestApp, w: &World) {
    let r = app.put("/api/v1/calls/provider-secret", w.token(w.admin), json!({"secret": SECRET})).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
}

async fn webhook(app: &TestApp, slug: &str, signature: Option<&str>, body: &Value) -> support::Resp {
    let bytes = body.to_string();
    let mut req = app
        .client
        .post(app.url("/api/v1/calls/webhook"))
        .header("content-type", "application/json")
        .header("x-platica-tenant", slug);
    if let Some(s) = signature {
        req = req.header("x-platica-signature", s);
    }
    let resp = req.body(bytes).send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    support::Resp { status, body, headers }
}

async fn signed(app: &TestApp, slug: &str, body: &Value) -> support::Resp {
    let sig = platica_domain::signature::sign(SECRET, body.to_string().as_bytes());
    webhook(app, slug, Some(&sig), body).await
}

async fn count_calls(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM calls").fetch_one(&app.pool).await.unwrap()
}

async fn insert_call(app: &TestApp, w: &World, prospect: i64, status: &str, ext: &str) -> i64 {
    sqlx::query_scalar(
        "INSERT INTO calls (tenant_id, prospect_id, executive_id, provider, provider_call_id, status)
         SELECT tenant_id, prospect_id, executive_id, 'voicebot', $3, $4 FROM prospects
          WHERE tenant_id = $1 AND prospect_id = $2 RETURNING call_id",
    )
    .bind(w.tenant.0)
    .bind(prospect)
    .bind(ext)
    .bind(status)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn webhook_is_signed_idempotent_and_monotonic() {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "cw", 1).await;
    let other = world(&app, "cw2", 1).await;
    // Only admins set the secret.
    let r = app.put("/api/v1/calls/provider-secret", w.token(w.exec_ana), json!({"secret": SECRET})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app.put("/api/v1/calls/provider-secret", w.token(w.admin), json!({"secret": "short"})).await;
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("secret")));
    set_secret(&app, &w).await;
    let secret_row: Vec<u8> =
        sqlx::query_scalar("SELECT secret_ciphertext FROM call_provider_settings").fetch_one(&app.pool).await.unwrap();
    assert!(!String::from_utf8_lossy(&secret_row).contains(SECRET), "the secret is stored sealed");

    let (prospect, _, exec) = w.prospects[0];
    let phone: String = sqlx::query_scalar("SELECT phone FROM prospects WHERE tenant_id = $1 AND prospect_id = $2")
        .bind(w.tenant.0)
        .bind(prospect)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let queued = json!({"provider": "voicebot", "call_id": "c-1", "status": "queued", "prospect_phone": phone});

    // Missing, malformed and wrong signatures, and a tenant without a secret: 401, nothing stored.
    for (slug, sig) in [
        ("cw", None),
        ("cw", Some("sha256=zz".to_owned())),
        ("cw", Some(platica_domain::signature::sign("another-secret-0123456789", queued.to_string().as_bytes()))),
        ("cw2", Some(platica_domain::signature::sign(SECRET, queued.to_string().as_bytes()))),
        ("nope", Some(platica_domain::signature::sign(SECRET, queued.to_string().as_bytes()))),
    ] {
        let r = webhook(&app, slug, sig.as_deref(), &queued).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{slug} {sig:?}: {:?}", r.body);
        assert_eq!(count_calls(&app).await, 0);
    }
    // A signature over another body does not authenticate this one.
    let sig = platica_domain::signature::sign(SECRET, b"{}");
    assert_eq!(webhook(&app, "cw", Some(&sig), &queued).await.status, StatusCode::UNAUTHORIZED);

    // Signed: created, then the same delivery again changes nothing.
    let r = signed(&app, "cw", &queued).await;
    assert_eq!((r.status, r.body["outcome"].as_str()), (StatusCode::OK, Some("created")), "{:?}", r.body);
    let call_id = r.body["call_id"].as_i64().unwrap();
    let r = signed(&app, "cw", &queued).await;
    assert_eq!((r.body["call_id"].as_i64(), r.body["outcome"].as_str()), (Some(call_id), Some("updated")));
    assert_eq!(count_calls(&app).await, 1);

    // Forward, then a late 'ringing' after 'completed': stale, nothing changes.
    let completed = json!({"provider": "voicebot", "call_id": "c-1", "status": "completed", "duration_secs": 95,
        "outcome": "interested", "summary": "Quiere una cotización", "recording_url": "https://rec.example/c-1",
        "started_at": "2026-01-05T10:00:00Z", "ended_at": "2026-01-05T10:01:35Z"});
    assert_eq!(signed(&app, "cw", &completed).await.body["outcome"], "updated");
    let ringing = json!({"provider": "voicebot", "call_id": "c-1", "status": "ringing"});
    assert_eq!(signed(&app, "cw", &ringing).await.body["outcome"], "stale");
    let failed = json!({"provider": "voicebot", "call_id": "c-1", "status": "failed"});
    assert_eq!(
        signed(&app, "cw", &failed).await.body["outcome"],
        "stale",
        "one terminal status never replaces another"
    );
    let call = app.get(&format!("/api/v1/calls/{call_id}"), w.token(w.admin)).await;
    assert_eq!(call.status, StatusCode::OK);
    assert_eq!(call.body["status"], "completed");
    assert_eq!(call.body["duration_secs"], 95);
    assert_eq!(call.body["outcome"], "interested");
    assert_eq!(call.body["prospect_id"], prospect);
    assert_eq!(call.body["executive_id"].as_i64(), exec.map(|e| e.0), "defaults to the prospect's executive");

    // Out of order from the start: 'in_progress' first, then 'queued' (stale), then 'no_answer'.
    let by_id =
        |status: &str| json!({"provider": "voicebot", "call_id": "c-2", "status": status, "prospect_id": prospect});
    assert_eq!(signed(&app, "cw", &by_id("in_progress")).await.body["outcome"], "created");
    assert_eq!(signed(&app, "cw", &by_id("queued")).await.body["outcome"], "stale");
    assert_eq!(signed(&app, "cw", &by_id("no_answer")).await.body["outcome"], "updated");
    let status: String = sqlx::query_scalar("SELECT status FROM calls WHERE provider_call_id = 'c-2'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(status, "no_answer");

    // Bad input, once authenticated: 4xx naming the field, nothing stored.
    let before = count_calls(&app).await;
    for (body, field) in [
        (json!({"provider": "voicebot", "call_id": "c-3", "status": "exploded", "prospect_id": prospect}), "status"),
        (json!({"provider": "Voice Bot", "call_id": "c-3", "status": "queued", "prospect_id": prospect}), "provider"),
        (json!({"provider": "voicebot", "call_id": "c-3", "status": "queued"}), "prospect_id"),
        (
            json!({"provider": "voicebot", "call_id": "c-3", "status": "queued", "prospect_phone": "12"}),
            "prospect_phone",
        ),
        // Another tenant's prospect is unknown here.
        (
            json!({"provider": "voicebot", "call_id": "c-3", "status": "queued", "prospect_id": other.prospects[0].0}),
            "prospect_id",
        ),
        (
            json!({"provider": "voicebot", "call_id": "c-3", "status": "queued", "prospect_id": prospect, "duration_secs": -1}),
            "duration_secs",
        ),
    ] {
        let r = signed(&app, "cw", &body).await;
        assert!(r.status.is_client_error(), "{body}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"].as_str(), Some(field), "{body}: {:?}", r.body);
    }
    let r = signed(&app, "cw", &json!({"provider": "voicebot"})).await;
    assert!(r.status.is_client_error(), "{:?}", r.body);
    assert_eq!(count_calls(&app).await, before);
}

/// The user ids of `w` that may see a prospect at (team, executive), by the visibility rule.
fn seers(w: &World, team: platica_domain::TeamId, exec: Option<platica_domain::UserId>) -> Vec<i64> {
    let mut out = vec![w.admin.0, w.coord_both.0];
    out.push(if team == w.boom { w.coord_boom.0 } else { w.coord_ven.0 });
    out.extend(exec.map(|e| e.0));
    out.sort();
    out
}

fn users(w: &World) -> Vec<platica_domain::UserId> {
    vec![w.admin, w.coord_boom, w.coord_ven, w.coord_both, w.exec_ana, w.exec_luis, w.exec_sofia]
}

#[tokio::test]
async fn calls_and_scheduled_calls_are_visible_as_their_prospect() {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "cv", 1).await;
    let other = world(&app, "cv2", 1).await;
    let mut calls = Vec::new();
    for (i, (p, team, exec)) in w.prospects.iter().enumerate() {
        let status = if i % 2 == 0 { "ringing" } else { "completed" };
        calls.push((insert_call(&app, &w, *p, status, &format!("v-{i}")).await, *team, *exec, status));
    }
    let foreign = insert_call(&app, &other, other.prospects[0].0, "ringing", "v-x").await;
    for u in users(&w) {
        let r = app.get("/api/v1/calls?today=true", w.token(u)).await;
        assert_eq!(r.status, StatusCode::OK);
        let mut got: Vec<i64> =
            r.body["items"].as_array().unwrap().iter().map(|c| c["call_id"].as_i64().unwrap()).collect();
        got.sort();
        let mut want: Vec<i64> =
            calls.iter().filter(|(_, t, e, _)| seers(&w, *t, *e).contains(&u.0)).map(|c| c.0).collect();
        want.sort();
        assert_eq!(got, want, "user {u:?}");
        for (id, team, exec, _) in &calls {
            let r = app.get(&format!("/api/v1/calls/{id}"), w.token(u)).await;
            let visible = seers(&w, *team, *exec).contains(&u.0);
            assert_eq!(r.status, if visible { StatusCode::OK } else { StatusCode::NOT_FOUND }, "user {u:?} call {id}");
        }
        assert_eq!(app.get(&format!("/api/v1/calls/{foreign}"), w.token(u)).await.status, StatusCode::NOT_FOUND);
    }
    // Filters.
    let r = app.get(&format!("/api/v1/calls?team_id={}&status=ringing", w.ven.0), w.token(w.admin)).await;
    let want: Vec<i64> = calls.iter().filter(|c| c.1 == w.ven && c.3 == "ringing").map(|c| c.0).collect();
    let mut got: Vec<i64> =
        r.body["items"].as_array().unwrap().iter().map(|c| c["call_id"].as_i64().unwrap()).collect();
    got.sort();
    assert_eq!(got, want);
    let r = app.get(&format!("/api/v1/calls?executive_id={}", w.exec_ana.0), w.token(w.admin)).await;
    assert!(r.body["items"].as_array().unwrap().iter().all(|c| c["executive_id"] == w.exec_ana.0));
    assert_eq!(r.body["items"].as_array().unwrap().len(), 2);
    let r = app.get("/api/v1/calls?status=nope", w.token(w.admin)).await;
    assert_eq!(r.body["error"]["field"], "status");
    // Calls of other days are not today's.
    sqlx::query("UPDATE calls SET created_at = now() - interval '2 days' WHERE call_id = $1")
        .bind(calls[0].0)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app.get("/api/v1/calls?today=true", w.token(w.admin)).await;
    assert!(!r.body["items"].as_array().unwrap().iter().any(|c| c["call_id"] == calls[0].0));
    let r = app.get("/api/v1/calls", w.token(w.admin)).await;
    assert!(r.body["items"].as_array().unwrap().iter().any(|c| c["call_id"] == calls[0].0));

    // Scheduled calls: Ana schedules for her prospect (for herself), not for Luis's, nor for Luis.
    let ana_p = w.prospects.iter().find(|p| p.2 == Some(w.exec_ana)).unwrap().0;
    let luis_p = w.prospects.iter().find(|p| p.2 == Some(w.exec_luis)).unwrap().0;
    let due = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let r = app
        .post(
            "/api/v1/scheduled-calls",
            w.token(w.exec_ana),
            json!({"prospect_id": ana_p, "due_at": due, "note": "Llamar"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!((r.body["executive_id"].as_i64(), r.body["status"].as_str()), (Some(w.exec_ana.0), Some("pending")));
    let sched = r.body["scheduled_call_id"].as_i64().unwrap();
    let r =
        app.post("/api/v1/scheduled-calls", w.token(w.exec_ana), json!({"prospect_id": luis_p, "due_at": due})).await;
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::NOT_FOUND, Some("prospect_id")));
    let r = app
        .post(
            "/api/v1/scheduled-calls",
            w.token(w.exec_ana),
            json!({"prospect_id": ana_p, "due_at": due, "executive_id": w.exec_luis.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .post("/api/v1/scheduled-calls", w.token(w.exec_ana), json!({"prospect_id": ana_p, "due_at": "tomorrow"}))
        .await;
    assert!(r.status.is_client_error());
    // A coordinator schedules for Luis (the prospect's executive by default).
    let r =
        app.post("/api/v1/scheduled-calls", w.token(w.coord_boom), json!({"prospect_id": luis_p, "due_at": due})).await;
    assert_eq!((r.status, r.body["executive_id"].as_i64()), (StatusCode::CREATED, Some(w.exec_luis.0)), "{:?}", r.body);
    let luis_sched = r.body["scheduled_call_id"].as_i64().unwrap();
    let ids = |r: &support::Resp| -> Vec<i64> {
        let mut v: Vec<i64> =
            r.body.as_array().unwrap().iter().map(|s| s["scheduled_call_id"].as_i64().unwrap()).collect();
        v.sort();
        v
    };
    assert_eq!(ids(&app.get("/api/v1/scheduled-calls", w.token(w.exec_ana)).await), vec![sched]);
    assert_eq!(ids(&app.get("/api/v1/scheduled-calls", w.token(w.exec_luis)).await), vec![luis_sched]);
    assert_eq!(ids(&app.get("/api/v1/scheduled-calls", w.token(w.admin)).await), vec![sched, luis_sched]);
    assert_eq!(ids(&app.get("/api/v1/scheduled-calls", other.token(other.admin)).await), Vec::<i64>::new());
    assert_eq!(
        app.get(&format!("/api/v1/scheduled-calls/{sched}"), w.token(w.exec_luis)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get(&format!("/api/v1/scheduled-calls/{sched}"), other.token(other.admin)).await.status,
        StatusCode::NOT_FOUND
    );
    let r =
        app.patch(&format!("/api/v1/scheduled-calls/{sched}"), w.token(w.exec_luis), json!({"status": "done"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r =
        app.patch(&format!("/api/v1/scheduled-calls/{sched}"), w.token(w.exec_ana), json!({"status": "maybe"})).await;
    assert_eq!(r.body["error"]["field"], "status");
    let r = app.patch(&format!("/api/v1/scheduled-calls/{sched}"), w.token(w.exec_ana), json!({"note": null})).await;
    assert_eq!((r.status, &r.body["note"]), (StatusCode::OK, &Value::Null));

    // Overdue pending ones become missed; others are left alone.
    sqlx::query("UPDATE scheduled_calls SET due_at = now() - interval '1 minute' WHERE scheduled_call_id = $1")
        .bind(sched)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(platica_store::inbox::calls::mark_overdue_scheduled_calls(&app.pool).await.unwrap(), 1);
    assert_eq!(platica_store::inbox::calls::mark_overdue_scheduled_calls(&app.pool).await.unwrap(), 0);
    let r = app.get(&format!("/api/v1/scheduled-calls/{sched}"), w.token(w.exec_ana)).await;
    assert_eq!(r.body["status"], "missed");
    let r = app.get(&format!("/api/v1/scheduled-calls/{luis_sched}"), w.token(w.exec_luis)).await;
    assert_eq!(r.body["status"], "pending");
    let r = app.delete(&format!("/api/v1/scheduled-calls/{luis_sched}"), w.token(w.exec_luis)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn call_events_are_pushed_under_the_visibility_rule() {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "cr", 1).await;
    let other = world(&app, "cr2", 1).await;
    let ana_boom = w.prospects.iter().find(|p| p.1 == w.boom && p.2 == Some(w.exec_ana)).unwrap().0;
    let ana_ven = w.prospects.iter().find(|p| p.1 == w.ven && p.2 == Some(w.exec_ana)).unwrap().0;

    let mut ana = Ws::connect(&app, w.token(w.exec_ana)).await;
    let mut luis = Ws::connect(&app, w.token(w.exec_luis)).await;
    let mut coord_ven = Ws::connect(&app, w.token(w.coord_ven)).await;
    let mut foreign = Ws::connect(&app, other.token(other.admin)).await;
    ana.subscribe("c", "table:calls", json!({})).await;
    luis.subscribe("c", "table:calls", json!({})).await;
    coord_ven.subscribe("c", "table:calls", json!({"status": "in.(ringing,in_progress)"})).await;
    foreign.subscribe("c", "table:calls", json!({})).await;
    ana.subscribe("s", "table:scheduled_calls", json!({})).await;
    luis.subscribe("s", "table:scheduled_calls", json!({})).await;

    let boom_call = insert_call(&app, &w, ana_boom, "queued", "r-1").await;
    let ven_call = insert_call(&app, &w, ana_ven, "ringing", "r-2").await;
    sqlx::query("UPDATE calls SET status = 'in_progress' WHERE call_id = $1")
        .bind(boom_call)
        .execute(&app.pool)
        .await
        .unwrap();
    let r = app
        .post(
            "/api/v1/scheduled-calls",
            w.token(w.exec_ana),
            json!({"prospect_id": ana_boom, "due_at": chrono::Utc::now().to_rfc3339()}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    app.sync().await;

    let wait = Duration::from_millis(700);
    let got = ana.events(wait).await;
    let ops: Vec<(&str, &str, i64)> = got
        .iter()
        .map(|(t, o, r)| (t.as_str(), o.as_str(), r["call_id"].as_i64().or(r["scheduled_call_id"].as_i64()).unwrap()))
        .collect();
    assert!(ops.contains(&("calls", "insert", boom_call)), "{ops:?}");
    assert!(ops.contains(&("calls", "insert", ven_call)), "{ops:?}");
    assert!(ops.contains(&("calls", "update", boom_call)), "{ops:?}");
    assert!(ops.iter().any(|o| o.0 == "scheduled_calls" && o.1 == "insert"), "{ops:?}");
    assert_eq!(luis.events(wait).await, vec![], "Luis sees none of Ana's calls");
    assert_eq!(foreign.events(wait).await, vec![], "nothing crosses tenants");
    let coord: Vec<(String, i64)> =
        coord_ven.events(wait).await.into_iter().map(|(_, o, r)| (o, r["call_id"].as_i64().unwrap())).collect();
    assert_eq!(coord, vec![("insert".to_owned(), ven_call)], "the VEN coordinator: only VEN's ringing call");

    // A reassignment moves the call's visibility with its prospect.
    let r = app
        .post(
            &format!("/api/v1/prospects/{ana_boom}/reassign"),
            w.token(w.admin),
            json!({"team_id": w.boom.0, "executive_id": w.exec_luis.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    sqlx::query("UPDATE calls SET status = 'completed' WHERE call_id = $1")
        .bind(boom_call)
        .execute(&app.pool)
        .await
        .unwrap();
    app.sync().await;
    assert!(luis.events(wait).await.iter().any(|(t, o, r)| t == "calls" && o == "update" && r["call_id"] == boom_call));
    assert!(!ana.events(wait).await.iter().any(|(t, _, r)| t == "calls" && r["call_id"] == boom_call));

    // The live inbox ignores the new tables and still equals SQL.
    let r = app.call(Method::GET, "/api/v1/admin/verify", Some(w.token(w.admin)), None).await;
    assert_eq!((r.status, &r.body["clean"]), (StatusCode::OK, &json!(true)), "{:?}", r.body);
}

/// A call of the summary test: id, team, executive, status, outcome.
type TestCall<'a> = (i64, platica_domain::TeamId, Option<platica_domain::UserId>, &'a str, Option<&'a str>);

/// The summary the call monitor expects for `calls` (id, team, executive, status, outcome).
fn expected_summary(calls: &[TestCall<'_>]) -> Value {
    let statuses = platica_store::inbox::calls::CALL_STATUSES;
    let mut by_status: serde_json::Map<String, Value> = statuses.iter().map(|s| ((*s).to_owned(), json!(0))).collect();
    let mut by_outcome = serde_json::Map::new();
    for (_, _, _, status, outcome) in calls {
        let n = by_status[*status].as_i64().unwrap();
        by_status.insert((*status).to_owned(), json!(n + 1));
        if let Some(o) = outcome {
            let n = by_outcome.get(*o).and_then(Value::as_i64).unwrap_or(0);
            by_outcome.insert((*o).to_owned(), json!(n + 1));
        }
    }
    let active = calls.iter().filter(|c| ["queued", "ringing", "in_progress"].contains(&c.3)).count();
    json!({"total": calls.len(), "active": active, "by_status": by_status, "by_outcome": by_outcome})
}

#[tokio::test]
async fn since_and_the_summary_count_exactly_the_visible_calls_of_each_role() {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "cs", 1).await;
    let other = world(&app, "cs2", 1).await;
    let statuses = platica_store::inbox::calls::CALL_STATUSES;
    // Every prospect gets calls in several statuses; terminal ones have outcomes.
    let mut calls = Vec::new();
    for (i, (p, team, exec)) in w.prospects.iter().enumerate() {
        for (j, status) in statuses.iter().enumerate() {
            if (i + j) % 3 == 0 {
                continue;
            }
            let id = insert_call(&app, &w, *p, status, &format!("s-{i}-{j}")).await;
            let outcome = match (j >= 3, (i + j) % 2) {
                (false, _) => None,
                (true, 0) => Some("interested"),
                (true, _) => Some("call_back"),
            };
            sqlx::query("UPDATE calls SET outcome = $2 WHERE call_id = $1")
                .bind(id)
                .bind(outcome)
                .execute(&app.pool)
                .await
                .unwrap();
            calls.push((id, *team, *exec, *status, outcome));
        }
    }
    // Some calls are older than the user's day; another tenant's call never counts.
    let old: Vec<i64> = calls.iter().step_by(4).map(|c| c.0).collect();
    sqlx::query("UPDATE calls SET created_at = now() - interval '20 hours' WHERE call_id = ANY($1)")
        .bind(&old)
        .execute(&app.pool)
        .await
        .unwrap();
    insert_call(&app, &other, other.prospects[0].0, "ringing", "s-x").await;
    let recent: Vec<_> = calls.iter().filter(|c| !old.contains(&c.0)).cloned().collect();
    assert!(recent.len() > 10 && old.len() > 3);
    // "Since" is a local midnight with its offset (here Mexico City's), URL-encoded.
    let since = (chrono::Utc::now() - chrono::Duration::hours(2))
        .with_timezone(&chrono::FixedOffset::west_opt(6 * 3600).unwrap())
        .to_rfc3339();
    let q = urlencoding(&since);

    let mut totals = std::collections::BTreeMap::new();
    for u in users(&w) {
        let mine: Vec<_> = recent.iter().filter(|c| seers(&w, c.1, c.2).contains(&u.0)).cloned().collect();
        let r = app.get(&format!("/api/v1/calls/summary?since={q}"), w.token(u)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body, expected_summary(&mine), "user {u:?}");
        totals.insert(u.0, r.body["total"].as_i64().unwrap());
        // The list with the same `since` holds exactly those calls.
        let r = app.get(&format!("/api/v1/calls?since={q}&limit=500"), w.token(u)).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let mut got: Vec<i64> =
            r.body["items"].as_array().unwrap().iter().map(|c| c["call_id"].as_i64().unwrap()).collect();
        got.sort();
        let mut want: Vec<i64> = mine.iter().map(|c| c.0).collect();
        want.sort();
        assert_eq!(got, want, "user {u:?}");
    }
    // Roles see different counts: the admin everything, a coordinator her team, an executive hers.
    assert_eq!(totals[&w.admin.0], recent.len() as i64);
    assert!(totals[&w.coord_boom.0] < totals[&w.admin.0] && totals[&w.exec_ana.0] < totals[&w.coord_both.0]);
    assert_ne!(totals[&w.coord_boom.0], totals[&w.coord_ven.0]);
    let r = app.get(&format!("/api/v1/calls/summary?since={q}"), other.token(other.admin)).await;
    assert_eq!((r.body["total"].as_i64(), r.body["by_status"]["ringing"].as_i64()), (Some(1), Some(1)));
    // An earlier `since` takes the older calls in too.
    let r = app.get("/api/v1/calls/summary?since=2000-01-01T00:00:00Z", w.token(w.admin)).await;
    assert_eq!(r.body, expected_summary(&calls));

    // Exact beyond a page: 600 more of Ana's calls today; the list pages, the summary counts them all.
    let (ana_p, ana_team, _) = *w.prospects.iter().find(|p| p.2 == Some(w.exec_ana)).unwrap();
    sqlx::query(
        "INSERT INTO calls (tenant_id, prospect_id, executive_id, provider, provider_call_id, status, outcome)
         SELECT $1, $2, $3, 'voicebot', 'bulk-' || i, 'completed', 'interested' FROM generate_series(1, 600) i",
    )
    .bind(w.tenant.0)
    .bind(ana_p)
    .bind(w.exec_ana.0)
    .execute(&app.pool)
    .await
    .unwrap();
    for u in users(&w) {
        let r = app.get(&format!("/api/v1/calls/summary?since={q}"), w.token(u)).await;
        let more = if seers(&w, ana_team, Some(w.exec_ana)).contains(&u.0) { 600 } else { 0 };
        assert_eq!(r.body["total"].as_i64(), Some(totals[&u.0] + more), "user {u:?}");
    }
    let r = app.get(&format!("/api/v1/calls/summary?since={q}"), w.token(w.exec_ana)).await;
    assert!(r.body["by_outcome"]["interested"].as_i64().unwrap() >= 600);
    let page = app.get(&format!("/api/v1/calls?since={q}&limit=500"), w.token(w.exec_ana)).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 500);
    assert!(page.body["next_cursor"].is_string());

    // A bad or missing `since`: 400 naming it, on both routes.
    for path in [
        "/api/v1/calls/summary?since=yesterday",
        "/api/v1/calls/summary",
        "/api/v1/calls/summary?since=2026-11-01",
        // An unencoded `+` arrives as a space.
        "/api/v1/calls/summary?since=2026-11-01T00:00:00+01:00",
        "/api/v1/calls?since=nope",
    ] {
        let r = app.get(path, w.token(w.admin)).await;
        assert_eq!(
            (r.status, r.body["error"]["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("since")),
            "{path}: {:?}",
            r.body
        );
    }
    // Without credentials: 401, as every route.
    let r = app.call(Method::GET, &format!("/api/v1/calls/summary?since={q}"), None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// Percent-encodes a query value (RFC 3339 timestamps: `+` and `:`).
fn urlencoding(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
