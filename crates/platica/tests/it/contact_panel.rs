//! The contact panel's API (issue 18): a prospect's e-mail, notes and tenant-defined contact
//! fields (definitions by admins; values validated against them, a 422 naming the field), edited
//! by whoever sees the prospect and by no one else; a rename reaching live inboxes; the
//! prospect's past conversations and calls.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, Ws, world};

async fn define(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app.post("/api/v1/prospect-fields", token, body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_fields_are_defined_by_admins_and_values_are_checked_against_them() {
    let app = TestApp::spawn().await;
    let w = world(&app, "fields", 1).await;
    let admin = w.token(w.admin);
    let ana = w.token(w.exec_ana);

    // Only admins define fields; bad definitions name their field.
    let r =
        app.post("/api/v1/prospect-fields", ana, json!({"key": "budget", "label": "Budget", "kind": "number"})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    for (body, field) in [
        (json!({"key": "Budget", "label": "Budget", "kind": "number"}), "key"),
        (json!({"key": "budget", "label": " ", "kind": "number"}), "label"),
        (json!({"key": "budget", "label": "Budget", "kind": "money"}), "kind"),
        (json!({"key": "house", "label": "House", "kind": "select", "options": []}), "options"),
        (json!({"key": "house", "label": "House", "kind": "text", "options": ["a"]}), "options"),
        (json!({"key": "house", "label": "House", "kind": "select", "options": ["a", "a"]}), "options"),
    ] {
        let r = app.post("/api/v1/prospect-fields", admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    let budget =
        define(&app, admin, json!({"key": "budget", "label": "Presupuesto", "kind": "number", "position": 1})).await;
    define(&app, admin, json!({"key": "visit", "label": "Visita", "kind": "date", "position": 2})).await;
    let house = define(
        &app,
        admin,
        json!({"key": "house", "label": "Vivienda", "kind": "select", "options": ["casa", "depto"], "position": 3}),
    )
    .await;
    define(&app, admin, json!({"key": "source", "label": "Origen", "kind": "text", "position": 4})).await;
    let r = app.post("/api/v1/prospect-fields", admin, json!({"key": "budget", "label": "Otro", "kind": "text"})).await;
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::CONFLICT, Some("key")), "{}", r.body);

    // Everyone in the tenant reads the definitions, in order.
    let r = app.get("/api/v1/prospect-fields", ana).await;
    assert_eq!(r.status, StatusCode::OK);
    let keys: Vec<&str> = r.body.as_array().unwrap().iter().map(|f| f["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["budget", "visit", "house", "source"]);

    // Ana edits her prospect's contact.
    let (mine, _, _) = *w.prospects.iter().find(|(_, t, e)| *t == w.boom && *e == Some(w.exec_ana)).unwrap();
    let path = format!("/api/v1/prospects/{mine}");
    let r = app
        .patch(
            &path,
            ana,
            json!({"email": " Lucia@Example.COM ", "notes": "Prefiere llamadas por la tarde",
                   "custom": {"budget": 1500.5, "visit": "2026-12-31", "house": "depto", "source": " feria "}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["email"], "lucia@example.com");
    assert_eq!(r.body["notes"], "Prefiere llamadas por la tarde");
    assert_eq!(
        r.body["custom"],
        json!({"budget": "1500.5", "visit": "2026-12-31", "house": "depto", "source": "feria"})
    );
    // Bad values: a 422 naming the field, and nothing changes.
    for (body, field) in [
        (json!({"email": "lucia-at-example"}), "email"),
        (json!({"notes": "x".repeat(4001)}), "notes"),
        (json!({"custom": {"budget": "mil"}}), "custom.budget"),
        (json!({"custom": {"visit": "2026-02-30"}}), "custom.visit"),
        (json!({"custom": {"house": "castillo"}}), "custom.house"),
        (json!({"custom": {"source": "y".repeat(501)}}), "custom.source"),
        (json!({"custom": {"color": "rojo"}}), "custom.color"),
        (json!({"custom": {"budget": true}}), "custom.budget"),
        (json!({"name": "Nuevo", "custom": {"house": "castillo"}}), "custom.house"),
    ] {
        let r = app.patch(&path, ana, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{body}: {}", r.body);
    }
    let r = app.get(&path, ana).await;
    assert_eq!(r.body["email"], "lucia@example.com");
    assert_ne!(r.body["name"], "Nuevo");
    assert_eq!(r.body["custom"]["house"], "depto");

    // null and blank clear; keys not sent stay.
    let r = app.patch(&path, ana, json!({"email": null, "notes": "  ", "custom": {"visit": null, "source": ""}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["email"].clone(), r.body["notes"].clone()), (Value::Null, Value::Null));
    assert_eq!(r.body["custom"], json!({"budget": "1500.5", "house": "depto"}));

    // Who cannot see the prospect cannot edit it (not found), and its values stay.
    let r = app.patch(&path, w.token(w.exec_luis), json!({"custom": {"budget": 1}})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.patch(&path, w.token(w.coord_ven), json!({"custom": {"budget": 1}})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // The coordinator of its team may.
    let r = app.patch(&path, w.token(w.coord_boom), json!({"custom": {"budget": "2000"}})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get(&path, admin).await.body["custom"]["budget"], "2000");

    // An admin narrows the select: values outside the new options go; deleting a field takes its
    // values with it. Other tenants' admins see none of it.
    let r =
        app.patch(&format!("/api/v1/prospect-fields/{}", house["field_id"]), admin, json!({"options": ["casa"]})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(app.get(&path, ana).await.body["custom"], json!({"budget": "2000"}));
    let other = world(&app, "fields-other", 1).await;
    let r = app.delete(&format!("/api/v1/prospect-fields/{}", budget["field_id"]), other.token(other.admin)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(app.get("/api/v1/prospect-fields", other.token(other.admin)).await.body, json!([]));
    let r = app.delete(&format!("/api/v1/prospect-fields/{}", budget["field_id"]), admin).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(app.get(&path, ana).await.body["custom"], json!({}));
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM prospect_field_values WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// A rename from the panel reaches the inbox of everyone who sees the prospect, live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prospect_renamed_in_the_panel_shows_live_in_the_inbox() {
    let app = TestApp::spawn().await;
    let w = world(&app, "rename", 1).await;
    let (mine, _, _) = *w.prospects.iter().find(|(_, t, e)| *t == w.boom && *e == Some(w.exec_ana)).unwrap();
    let mut boom = Ws::connect(&app, w.token(w.coord_boom)).await;
    boom.subscribe("in", "inbox", json!({})).await;
    let r =
        app.patch(&format!("/api/v1/prospects/{mine}"), w.token(w.exec_ana), json!({"name": "Lucía Fernández"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let f = boom.next(left).await.expect("an inbox upsert with the new name");
        if f["type"] == "event"
            && f["event"]["kind"] == "upsert"
            && f["event"]["row"]["prospect_id"] == mine
            && f["event"]["row"]["prospect_name"] == "Lucía Fernández"
        {
            break;
        }
    }
    let r = app.get("/api/v1/inbox?limit=50", w.token(w.coord_boom)).await;
    let row = r.body["items"].as_array().unwrap().iter().find(|i| i["prospect_id"] == mine).unwrap().clone();
    assert_eq!(row["prospect_name"], "Lucía Fernández");
}

/// The panel's history: the prospect's conversations with their last message, and its calls,
/// both only for whoever sees the prospect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_lists_the_prospects_conversations_and_calls() {
    let app = TestApp::spawn().await;
    let w = world(&app, "history", 1).await;
    let (mine, _, _) = *w.prospects.iter().find(|(_, t, e)| *t == w.boom && *e == Some(w.exec_ana)).unwrap();
    let ana = w.token(w.exec_ana);
    sqlx::query(
        "INSERT INTO calls (tenant_id, prospect_id, executive_id, provider, provider_call_id, status, created_at)
         VALUES ($1, $2, $3, 'twilio', 'CA-panel-1', 'completed', now() - interval '1 hour')",
    )
    .bind(w.tenant.0)
    .bind(mine)
    .bind(w.exec_ana.0)
    .execute(&app.pool)
    .await
    .unwrap();

    let r = app.get(&format!("/api/v1/prospects/{mine}/conversations"), ana).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let convs = r.body.as_array().unwrap();
    assert_eq!(convs.len(), 1, "{}", r.body);
    assert_eq!(convs[0]["prospect_id"], mine);
    assert_eq!(convs[0]["channel"], "whatsapp");
    assert!(convs[0]["last_message_preview"].as_str().unwrap().starts_with("Hola, soy el prospecto"));
    assert_eq!(convs[0]["message_count"], 1);

    let r = app.get(&format!("/api/v1/calls?prospect_id={mine}"), ana).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1, "{}", r.body);
    assert_eq!(r.body["items"][0]["prospect_id"], mine);

    // Luis does not see Ana's prospect: not found, and no calls of it.
    let luis = w.token(w.exec_luis);
    let r = app.get(&format!("/api/v1/prospects/{mine}/conversations"), luis).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = app.get(&format!("/api/v1/calls?prospect_id={mine}"), luis).await;
    assert_eq!(r.body["items"], json!([]), "{}", r.body);
}
