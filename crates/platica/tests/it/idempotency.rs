//! `Idempotency-Key` on the creating requests: the same key and body answer the same with one
//! effect (one message, one outbox row); another body with the key is a 422; concurrent repeats
//! never run twice; keys are scoped to the principal and the tenant; expired keys are purged;
//! malformed keys are a 400.
#![allow(clippy::unwrap_used)]

use crate::support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, World, world};

struct Answer {
    status: StatusCode,
    body: Value,
    replayed: bool,
}

async fn post_key(app: &TestApp, path: &str, token: &str, key: &[u8], body: &Value) -> Answer {
    let value = reqwest::header::HeaderValue::from_bytes(key).unwrap();
    let resp = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .header("Idempotency-Key", value)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let replayed = resp.headers().get("idempotent-replayed").is_some_and(|v| v == "true");
    let bytes = resp.bytes().await.unwrap();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer { status, body, replayed }
}

/// Ana's first conversation (she sees it; its prospect wrote just now, so free text may go).
async fn conversation(app: &TestApp, w: &World) -> i64 {
    let prospect = w.prospects.iter().find(|(_, _, e)| *e == Some(w.exec_ana)).unwrap().0;
    sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 AND prospect_id = $2")
        .bind(w.tenant.0)
        .bind(prospect)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str, tenant: i64) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).bind(tenant).fetch_one(&app.pool).await.unwrap()
}

async fn sends(app: &TestApp, w: &World) -> (i64, i64) {
    let outbox = count(app, "SELECT count(*) FROM outbox WHERE tenant_id = $1", w.tenant.0).await;
    let messages =
        count(app, "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'out'", w.tenant.0).await;
    (outbox, messages)
}

async fn setup(slug: &str) -> (TestApp, World, i64) {
    let app = TestApp::spawn().await;
    let w = world(&app, slug, 1).await;
    support::sending_channel(&app, &w).await;
    let conv = conversation(&app, &w).await;
    (app, w, conv)
}

#[tokio::test]
async fn the_same_key_and_body_answer_the_same_with_one_send() {
    let (app, w, conv) = setup("idem-same").await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    let body = json!({"body": "Hola, le comparto la cotización"});
    let first = post_key(&app, &path, w.token(w.exec_ana), b"send-1", &body).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(!first.replayed);
    for _ in 0..3 {
        let again = post_key(&app, &path, w.token(w.exec_ana), b"send-1", &body).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
    }
    assert_eq!(sends(&app, &w).await, (1, 1));

    // The same key with another body (or another path) is the client's mistake.
    let other = post_key(&app, &path, w.token(w.exec_ana), b"send-1", &json!({"body": "Otro texto"})).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", other.body);
    assert_eq!(other.body["error"]["code"], "idempotency_key_reused");
    assert_eq!(other.body["error"]["field"], "Idempotency-Key");
    let elsewhere = post_key(&app, "/api/v1/tickets", w.token(w.exec_ana), b"send-1", &body).await;
    assert_eq!(elsewhere.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", elsewhere.body);
    assert_eq!(sends(&app, &w).await, (1, 1));

    // Without a key, every request runs.
    let plain = app.post(&path, w.token(w.exec_ana), body.clone()).await;
    assert_eq!(plain.status, StatusCode::CREATED);
    assert_eq!(sends(&app, &w).await, (2, 2));

    // A validation error is stored too; a 404 is not (the key stays free).
    let bad = post_key(&app, &path, w.token(w.exec_ana), b"bad-1", &json!({"body": ""})).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let bad_again = post_key(&app, &path, w.token(w.exec_ana), b"bad-1", &json!({"body": ""})).await;
    assert_eq!((bad_again.status, bad_again.replayed), (StatusCode::UNPROCESSABLE_ENTITY, true));
    assert_eq!(bad_again.body, bad.body);
    let missing = post_key(&app, "/api/v1/conversations/999999999/messages", w.token(w.exec_ana), b"nf-1", &body).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let stored = count(&app, "SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1 AND key = 'nf-1'", w.tenant.0);
    assert_eq!(stored.await, 0);

    // Other creating routes honour it too: one team for two requests.
    let team = json!({"name": "Norte"});
    let t1 = post_key(&app, "/api/v1/teams", w.token(w.admin), b"team-1", &team).await;
    let t2 = post_key(&app, "/api/v1/teams", w.token(w.admin), b"team-1", &team).await;
    assert_eq!((t1.status, t2.status, t2.replayed), (StatusCode::CREATED, StatusCode::CREATED, true));
    assert_eq!(t1.body, t2.body);
    assert_eq!(count(&app, "SELECT count(*) FROM teams WHERE tenant_id = $1 AND name = 'Norte'", w.tenant.0).await, 1);
}

#[tokio::test]
async fn concurrent_repeats_send_once() {
    let (app, w, conv) = setup("idem-burst").await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    let body = json!({"body": "Solo una vez"});
    let token = w.token(w.exec_ana).to_owned();
    let answers = futures_util::future::join_all(
        (0..20).map(|_| post_key(&app, &path, &token, b"burst", &body)).collect::<Vec<_>>(),
    )
    .await;
    let created: Vec<&Answer> = answers.iter().filter(|a| a.status == StatusCode::CREATED).collect();
    assert!(!created.is_empty());
    for a in &answers {
        match a.status {
            StatusCode::CREATED => assert_eq!(a.body, created[0].body),
            StatusCode::CONFLICT => assert_eq!(a.body["error"]["code"], "idempotency_in_progress", "{}", a.body),
            s => panic!("unexpected {s}: {}", a.body),
        }
    }
    assert_eq!(sends(&app, &w).await, (1, 1));
    // Once the first is done, every repeat gets its answer.
    let after = post_key(&app, &path, &token, b"burst", &body).await;
    assert_eq!((after.status, after.replayed), (StatusCode::CREATED, true));
    assert_eq!(after.body, created[0].body);
    assert_eq!(sends(&app, &w).await, (1, 1));
}

#[tokio::test]
async fn keys_are_scoped_to_the_principal_and_the_tenant() {
    let (app, a, conv) = setup("idem-a").await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    let body = json!({"body": "Mismo texto, misma clave"});
    let ana = post_key(&app, &path, a.token(a.exec_ana), b"shared", &body).await;
    let admin = post_key(&app, &path, a.token(a.admin), b"shared", &body).await;
    assert_eq!((ana.status, admin.status), (StatusCode::CREATED, StatusCode::CREATED));
    assert!(!admin.replayed);
    assert_ne!(ana.body["message_id"], admin.body["message_id"]);
    assert_eq!(sends(&app, &a).await, (2, 2));

    // An API token is a principal of its own, apart from its user's sessions.
    let r = app.post("/api/v1/api-tokens", a.token(a.admin), json!({"name": "sync", "user_id": a.exec_ana.0})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let api_token = r.body["token"].as_str().unwrap().to_owned();
    let by_token = post_key(&app, &path, &api_token, b"shared", &body).await;
    assert_eq!((by_token.status, by_token.replayed), (StatusCode::CREATED, false));
    assert_eq!(sends(&app, &a).await, (3, 3));

    // Another tenant's key of the same name is another key.
    let b = world(&app, "idem-b", 1).await;
    support::sending_channel(&app, &b).await;
    let conv_b = conversation(&app, &b).await;
    let other =
        post_key(&app, &format!("/api/v1/conversations/{conv_b}/messages"), b.token(b.exec_ana), b"shared", &body)
            .await;
    assert_eq!((other.status, other.replayed), (StatusCode::CREATED, false));
    assert_eq!(sends(&app, &b).await, (1, 1));
    assert_eq!(sends(&app, &a).await, (3, 3));
}

#[tokio::test]
async fn expired_keys_are_purged_and_free_again() {
    let (app, w, conv) = setup("idem-expiry").await;
    let other = world(&app, "idem-expiry-other", 1).await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    let body = json!({"body": "Recordatorio"});
    let first = post_key(&app, &path, w.token(w.exec_ana), b"daily", &body).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let t = post_key(&app, "/api/v1/teams", other.token(other.admin), b"daily", &json!({"name": "Sur"})).await;
    assert_eq!(t.status, StatusCode::CREATED);
    let expires: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT expires_at - created_at + now() FROM idempotency_keys WHERE tenant_id = $1")
            .bind(w.tenant.0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let hours = (expires - chrono::Utc::now()).num_minutes() as f64 / 60.0;
    assert!((23.9..=24.1).contains(&hours), "kept {hours} hours");

    // A day later (both tenants' keys age), the job deletes this tenant's expired keys only.
    sqlx::query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .unwrap();
    let kind = platica_scheduler::kinds::find("purge_idempotency_keys").unwrap();
    let ctx = platica_scheduler::kinds::JobContext {
        pool: &app.pool,
        tenant: w.tenant,
        time_zone: platica_scheduler::schedule::parse_zone("UTC").unwrap(),
        scheduled_for: None,
        started_at: chrono::Utc::now(),
    };
    let message = kind.run(&ctx, &json!({})).await.unwrap();
    assert_eq!(message, "deleted 1 expired idempotency keys");
    let left = |t: i64| count(&app, "SELECT count(*) FROM idempotency_keys WHERE tenant_id = $1", t);
    assert_eq!(left(w.tenant.0).await, 0);
    assert_eq!(left(other.tenant.0).await, 1);

    // The key runs again; an expired key not purged yet is claimed anew as well.
    let again = post_key(&app, &path, w.token(w.exec_ana), b"daily", &body).await;
    assert_eq!((again.status, again.replayed), (StatusCode::CREATED, false));
    assert_ne!(again.body["message_id"], first.body["message_id"]);
    assert_eq!(sends(&app, &w).await, (2, 2));
    let t2 = post_key(&app, "/api/v1/teams", other.token(other.admin), b"daily", &json!({"name": "Oeste"})).await;
    assert_eq!((t2.status, t2.replayed), (StatusCode::CREATED, false));
}

#[tokio::test]
async fn malformed_keys_are_refused_and_change_nothing() {
    let (app, w, conv) = setup("idem-bad").await;
    let path = format!("/api/v1/conversations/{conv}/messages");
    let body = json!({"body": "Hola"});
    let long = vec![b'k'; 256];
    for key in [&long[..], b"with space", b"", "clé".as_bytes(), b"tab\there"] {
        let a = post_key(&app, &path, w.token(w.exec_ana), key, &body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{key:?}: {}", a.body);
        assert_eq!(a.body["error"]["code"], "invalid_idempotency_key");
        assert_eq!(a.body["error"]["field"], "Idempotency-Key");
        assert!(a.body["error"]["message"].as_str().unwrap().contains("255 visible ASCII"), "{}", a.body);
    }
    let ok = post_key(&app, &path, w.token(w.exec_ana), &long[..255], &body).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);
    assert_eq!(sends(&app, &w).await, (1, 1));
    // Without credentials the key changes nothing: 401 as always.
    let resp = app.client.post(app.url(&path)).header("Idempotency-Key", "x").json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
