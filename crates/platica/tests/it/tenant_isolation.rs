//! Nothing crosses tenants. Two tenants laid out alike ("a" and "b"); with tenant A's admin
//! token, every endpoint given tenant B's ids answers 404 exactly as for an id that does not
//! exist, and the database is left as it was. Lists never show B's rows.
//!
//! The requests are a table: adding an endpoint is one line.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Resp, TestApp, World, world};

/// One request of the table: method, path, body, and the field the 404 must name (for ids given
/// in the body).
struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    field: Option<&'static str>,
}

fn case(method: Method, path: impl Into<String>, body: Option<Value>, field: Option<&'static str>) -> Case {
    Case { method, path: path.into(), body, field }
}

/// Ids of tenant B that A must never reach, and a few of A's own to aim requests with.
struct Ids {
    b_team: i64,
    b_exec: i64,
    b_admin: i64,
    b_token: i64,
    b_prospect: i64,
    b_conv: i64,
    a_prospect: i64,
    a_coord: i64,
    b_call: i64,
    b_scheduled: i64,
    b_ticket: i64,
    b_notification: i64,
    b_channel: i64,
}

async fn conversation_of(app: &TestApp, prospect: i64) -> i64 {
    sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE prospect_id = $1")
        .bind(prospect)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Two tenants; each admin makes an API token and a config entry through the API.
async fn two_tenants(app: &TestApp) -> (World, World, Ids) {
    let a = world(app, "a", 1).await;
    let b = world(app, "b", 1).await;
    let mut tokens = Vec::new();
    for w in [&a, &b] {
        let r =
            app.post("/api/v1/api-tokens", w.token(w.admin), json!({"name": "sync", "user_id": w.exec_ana.0})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        tokens.push(r.body["api_token"]["token_id"].as_i64().unwrap());
        let key = format!("{}.only", w.slug);
        let r = app.put(&format!("/api/v1/system-config/{key}"), w.token(w.admin), json!({"value": {"x": 1}})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    }
    let b_prospect = b.prospects[0].0;
    let ids = Ids {
        b_team: b.boom.0,
        b_exec: b.exec_luis.0,
        b_admin: b.admin.0,
        b_token: tokens[1],
        b_prospect,
        b_conv: conversation_of(app, b_prospect).await,
        a_prospect: a.prospects[0].0,
        a_coord: a.coord_boom.0,
        b_call: 0,
        b_scheduled: 0,
        b_ticket: 0,
        b_notification: 0,
        b_channel: support::sending_channel(app, &b).await,
    };
    // B's call, scheduled call and ticket (whose creation notifies B's admin).
    let (b_call, b_scheduled): (i64, i64) = sqlx::query_as(
        "WITH c AS (INSERT INTO calls (tenant_id, prospect_id, provider, provider_call_id, status)
                    VALUES ($1, $2, 'voicebot', 'b-1', 'ringing') RETURNING call_id),
              s AS (INSERT INTO scheduled_calls (tenant_id, prospect_id, executive_id, due_at)
                    VALUES ($1, $2, $3, now() + interval '1 day') RETURNING scheduled_call_id)
         SELECT (SELECT call_id FROM c), (SELECT scheduled_call_id FROM s)",
    )
    .bind(b.tenant.0)
    .bind(b_prospect)
    .bind(b.exec_luis.0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let r = app.post("/api/v1/tickets", b.token(b.exec_ana), json!({"subject": "B", "body": "b"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let b_ticket = r.body["ticket_id"].as_i64().unwrap();
    let b_notification: i64 =
        sqlx::query_scalar("SELECT notification_id FROM notifications WHERE tenant_id = $1 AND user_id = $2")
            .bind(b.tenant.0)
            .bind(b.admin.0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let ids = Ids { b_call, b_scheduled, b_ticket, b_notification, ..ids };
    (a, b, ids)
}

fn table(a: &World, ids: &Ids) -> Vec<Case> {
    let Ids { b_team, b_exec, b_admin, b_token, b_prospect: bp, b_conv: bc, a_prospect: ap, a_coord, .. } = *ids;
    let Ids { b_call, b_scheduled: bs, b_ticket: bt, b_notification: bn, b_channel, .. } = *ids;
    let (a_boom, a_ven, a_ana) = (a.boom.0, a.ven.0, a.exec_ana.0);
    use Method as M;
    vec![
        // B's channel account, to reach WhatsApp's templates with its token.
        case(
            M::POST,
            "/api/v1/templates/sync",
            Some(json!({"channel_account_id": b_channel, "waba_id": "1234"})),
            Some("channel_account_id"),
        ),
        case(
            M::POST,
            "/api/v1/templates/submit",
            Some(json!({"channel_account_id": b_channel, "waba_id": "1234", "name": "hola", "language": "es",
                        "category": "UTILITY", "components": [{"type": "BODY", "text": "Hola {{1}}"}]})),
            Some("channel_account_id"),
        ),
        // B's ids in the path.
        case(M::GET, format!("/api/v1/teams/{b_team}"), None, None),
        case(M::PATCH, format!("/api/v1/teams/{b_team}"), Some(json!({"name": "Renamed"})), None),
        case(M::PATCH, format!("/api/v1/teams/{b_team}"), Some(json!({"name": "VEN"})), None),
        case(M::DELETE, format!("/api/v1/teams/{b_team}"), None, None),
        case(M::GET, format!("/api/v1/users/{b_exec}"), None, None),
        case(M::GET, format!("/api/v1/users/{b_admin}"), None, None),
        case(M::PATCH, format!("/api/v1/users/{b_exec}"), Some(json!({"display_name": "Pwned"})), None),
        case(M::PATCH, format!("/api/v1/users/{b_admin}"), Some(json!({"active": false})), None),
        case(M::PATCH, format!("/api/v1/users/{b_admin}"), Some(json!({"password": "taken-over-1"})), None),
        case(M::PATCH, format!("/api/v1/users/{b_exec}"), Some(json!({"role": "admin"})), None),
        case(
            M::PATCH,
            format!("/api/v1/users/{b_exec}"),
            Some(json!({"role": "coordinator", "team_ids": [a_boom]})),
            None,
        ),
        case(M::DELETE, format!("/api/v1/api-tokens/{b_token}"), None, None),
        case(M::GET, format!("/api/v1/prospects/{bp}"), None, None),
        case(M::PATCH, format!("/api/v1/prospects/{bp}"), Some(json!({"name": "Pwned", "stage": "lost"})), None),
        case(M::DELETE, format!("/api/v1/prospects/{bp}"), None, None),
        case(M::POST, format!("/api/v1/prospects/{bp}/reassign"), Some(json!({"team_id": a_ven})), None),
        case(M::POST, format!("/api/v1/prospects/{bp}/reassign"), Some(json!({"executive_id": a_ana})), None),
        case(M::POST, format!("/api/v1/prospects/{bp}/reassign"), Some(json!({"executive_id": null})), None),
        case(M::GET, format!("/api/v1/prospects/{bp}/assignments"), None, None),
        case(M::GET, format!("/api/v1/conversations/{bc}"), None, None),
        case(M::PATCH, format!("/api/v1/conversations/{bc}"), Some(json!({"status": "closed"})), None),
        case(M::GET, format!("/api/v1/conversations/{bc}/messages"), None, None),
        case(M::POST, format!("/api/v1/conversations/{bc}/messages"), Some(json!({"body": "hola"})), None),
        case(M::POST, format!("/api/v1/conversations/{bc}/read"), Some(json!({})), None),
        case(M::GET, "/api/v1/system-config/b.only", None, None),
        case(M::GET, format!("/api/v1/calls/{b_call}"), None, None),
        case(M::GET, format!("/api/v1/scheduled-calls/{bs}"), None, None),
        case(M::PATCH, format!("/api/v1/scheduled-calls/{bs}"), Some(json!({"status": "cancelled"})), None),
        case(M::DELETE, format!("/api/v1/scheduled-calls/{bs}"), None, None),
        case(M::GET, format!("/api/v1/tickets/{bt}"), None, None),
        case(M::PATCH, format!("/api/v1/tickets/{bt}"), Some(json!({"status": "closed"})), None),
        case(M::POST, format!("/api/v1/tickets/{bt}/comments"), Some(json!({"body": "hola"})), None),
        case(M::POST, format!("/api/v1/notifications/{bn}/read"), Some(json!({})), None),
        // B's ids in the body.
        case(
            M::POST,
            "/api/v1/prospects",
            Some(json!({"name": "X", "phone": "+5215577770001", "team_id": b_team})),
            Some("team_id"),
        ),
        case(
            M::POST,
            "/api/v1/prospects",
            Some(json!({"name": "X", "phone": "+5215577770002", "team_id": a_boom, "executive_id": b_exec})),
            Some("executive_id"),
        ),
        case(M::POST, format!("/api/v1/prospects/{ap}/reassign"), Some(json!({"team_id": b_team})), Some("team_id")),
        case(
            M::POST,
            format!("/api/v1/prospects/{ap}/reassign"),
            Some(json!({"executive_id": b_exec})),
            Some("executive_id"),
        ),
        case(
            M::POST,
            "/api/v1/prospects/bulk-reassign",
            Some(json!({"prospect_ids": [bp], "team_id": a_ven})),
            Some("prospect_ids"),
        ),
        case(
            M::POST,
            "/api/v1/prospects/bulk-reassign",
            Some(json!({"prospect_ids": [ap, bp], "team_id": a_ven})),
            Some("prospect_ids"),
        ),
        case(
            M::POST,
            "/api/v1/prospects/bulk-reassign",
            Some(json!({"prospect_ids": [ap], "team_id": b_team})),
            Some("team_id"),
        ),
        case(
            M::POST,
            "/api/v1/prospects/bulk-reassign",
            Some(json!({"prospect_ids": [ap], "executive_id": b_exec})),
            Some("executive_id"),
        ),
        case(
            M::POST,
            "/api/v1/prospects/bulk-reassign",
            Some(json!({"filter": {"team_id": a_boom}, "team_id": b_team})),
            Some("team_id"),
        ),
        case(
            M::POST,
            "/api/v1/users",
            Some(json!({"email": "spy@a.test", "display_name": "Spy", "role": "coordinator",
                        "password": "long-enough-1", "team_ids": [b_team]})),
            Some("team_ids"),
        ),
        case(
            M::POST,
            "/api/v1/users",
            Some(json!({"email": "spy2@a.test", "display_name": "Spy", "role": "coordinator",
                        "password": "long-enough-1", "team_ids": [a_boom, b_team]})),
            Some("team_ids"),
        ),
        case(M::PATCH, format!("/api/v1/users/{a_coord}"), Some(json!({"team_ids": [b_team]})), Some("team_ids")),
        case(M::POST, "/api/v1/api-tokens", Some(json!({"name": "x", "user_id": b_exec})), Some("user_id")),
        case(M::POST, "/api/v1/api-tokens", Some(json!({"name": "x", "user_id": b_admin})), Some("user_id")),
        case(
            M::POST,
            "/api/v1/scheduled-calls",
            Some(json!({"prospect_id": bp, "due_at": "2030-01-01T00:00:00Z"})),
            Some("prospect_id"),
        ),
        case(
            M::POST,
            "/api/v1/scheduled-calls",
            Some(json!({"prospect_id": ap, "executive_id": b_exec, "due_at": "2030-01-01T00:00:00Z"})),
            Some("executive_id"),
        ),
        case(
            M::POST,
            "/api/v1/tickets",
            Some(json!({"subject": "x", "body": "x", "assignee_id": b_admin})),
            Some("assignee_id"),
        ),
    ]
}

fn assert_not_found(r: &Resp, c: &Case) {
    let what = format!("{} {} {:?}", c.method, c.path, c.body);
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{what}: {:?}", r.body);
    assert_eq!(r.code(), "not_found", "{what}: {:?}", r.body);
    assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{what}: {:?}", r.body);
    assert_eq!(r.body["error"]["field"].as_str(), c.field, "{what}: {:?}", r.body);
}

#[tokio::test]
async fn another_tenants_ids_are_not_found_and_change_nothing() {
    let app = TestApp::spawn().await;
    let (a, b, ids) = two_tenants(&app).await;
    let token = a.token(a.admin).to_owned();
    let cases = table(&a, &ids);
    let mut before = app.snapshot_all().await;
    for c in &cases {
        let r = app.call(c.method.clone(), &c.path, Some(&token), c.body.as_ref()).await;
        assert_not_found(&r, c);
        let after = app.snapshot_all().await;
        for (table, rows) in &before {
            assert_eq!(&after[table], rows, "{} {} {:?} changed table {table}", c.method, c.path, c.body);
        }
        before = after;
    }

    // The same answer as for ids that exist nowhere: nothing tells "other tenant" from "absent".
    let absent = 9_000_000_000i64;
    for (kind, theirs) in
        [("teams", ids.b_team), ("users", ids.b_exec), ("prospects", ids.b_prospect), ("conversations", ids.b_conv)]
    {
        let theirs = app.get(&format!("/api/v1/{kind}/{theirs}"), &token).await;
        let none = app.get(&format!("/api/v1/{kind}/{absent}"), &token).await;
        assert_eq!(none.status, StatusCode::NOT_FOUND, "{kind}: {:?}", none.body);
        assert_eq!(theirs.body, none.body, "another tenant's {kind} answers exactly like a missing one");
    }

    // A filter on another tenant's ids matches nothing (and moves nothing).
    let r = app
        .post("/api/v1/prospects/bulk-reassign", &token, json!({"filter": {"team_id": ids.b_team}, "team_id": a.ven.0}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!((r.body["matched"].as_i64(), r.body["moved"].as_i64()), (Some(0), Some(0)));
    assert_eq!(app.snapshot_all().await, before);

    // Uniqueness is per tenant: B's phone numbers, e-mails and team names are free in A (a
    // conflict would tell A that B has them).
    let b_phone: String = sqlx::query_scalar("SELECT phone FROM prospects WHERE prospect_id = $1")
        .bind(ids.b_prospect)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let r = app
        .post("/api/v1/prospects", &token, json!({"name": "Same phone", "phone": b_phone, "team_id": a.boom.0}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/users",
            &token,
            json!({"email": "luis@b.test", "display_name": "Luis B", "role": "executive", "password": "long-enough-1"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app.post("/api/v1/teams", b.token(b.admin), json!({"name": "Solo B"})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let r = app.post("/api/v1/teams", &token, json!({"name": "Solo B"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
}

#[tokio::test]
async fn every_role_of_a_sees_nothing_of_b() {
    let app = TestApp::spawn().await;
    let (a, b, ids) = two_tenants(&app).await;
    let tenant_ids = |sql: &'static str, tenant: i64| {
        let pool = app.pool.clone();
        async move {
            let v: Vec<i64> = sqlx::query_scalar(sql).bind(tenant).fetch_all(&pool).await.unwrap();
            v.into_iter().collect::<BTreeSet<i64>>()
        }
    };
    let a_users = tenant_ids("SELECT user_id FROM users WHERE tenant_id = $1", a.tenant.0).await;
    let a_teams = tenant_ids("SELECT team_id FROM teams WHERE tenant_id = $1", a.tenant.0).await;
    let a_tokens = tenant_ids("SELECT token_id FROM api_tokens WHERE tenant_id = $1", a.tenant.0).await;
    let b_prospects: BTreeSet<i64> = b.prospects.iter().map(|p| p.0).collect();
    let b_convs = tenant_ids("SELECT conversation_id FROM conversations WHERE tenant_id = $1", b.tenant.0).await;
    let ids_of = |v: &Value, key: &str| -> BTreeSet<i64> {
        v.as_array().unwrap().iter().map(|r| r[key].as_i64().unwrap()).collect()
    };

    for user in [a.admin, a.coord_boom, a.coord_ven, a.coord_both, a.exec_ana, a.exec_luis, a.exec_sofia] {
        let token = a.token(user);
        let r = app.get("/api/v1/teams", token).await;
        assert_eq!(ids_of(&r.body, "team_id"), a_teams, "teams seen by {user}");
        for t in r.body.as_array().unwrap() {
            for c in t["coordinator_ids"].as_array().unwrap() {
                assert!(a_users.contains(&c.as_i64().unwrap()), "team lists a coordinator of B");
            }
        }
        for q in ["", "?role=executive", "?role=admin", "?role=coordinator"] {
            let r = app.get(&format!("/api/v1/users{q}"), token).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            let seen = ids_of(&r.body, "user_id");
            assert!(!seen.is_empty() && seen.is_subset(&a_users), "users{q} seen by {user}: {seen:?}");
            for u in r.body.as_array().unwrap() {
                assert!(u["email"].as_str().unwrap().ends_with("@a.test"), "{u}");
            }
        }
        let r = app.get("/api/v1/system-config", token).await;
        let keys: Vec<&str> = r.body.as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["a.only"], "config seen by {user}");
        let r = app.get("/api/v1/api-tokens", token).await;
        if user == a.admin {
            assert_eq!(ids_of(&r.body, "token_id"), a_tokens);
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN);
        }
        for q in [
            String::new(),
            format!("?team_id={}", ids.b_team),
            format!("?executive_id={}", ids.b_exec),
            "?q=prospecto".into(),
            "?q=%2B52".into(),
            "?limit=200".into(),
        ] {
            let r = app.get(&format!("/api/v1/prospects{q}"), token).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            let seen = ids_of(&r.body["items"], "prospect_id");
            assert!(seen.is_disjoint(&b_prospects), "prospects{q} of B seen by {user}");
            let r = app.get(&format!("/api/v1/conversations{q}"), token).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
            let seen = ids_of(&r.body["items"], "conversation_id");
            assert!(seen.is_disjoint(&b_convs), "conversations{q} of B seen by {user}");
            let seen_p = ids_of(&r.body["items"], "prospect_id");
            assert!(seen_p.is_disjoint(&b_prospects));
        }
        for q in [format!("?team_id={}", ids.b_team), format!("?executive_id={}", ids.b_exec)] {
            let r = app.get(&format!("/api/v1/conversations{q}"), token).await;
            assert_eq!(r.body["total"], 0, "filtering on B's ids finds nothing: {q}");
        }
    }
    // The admin of A sees every row of A and only those.
    let r = app.get("/api/v1/prospects?limit=200", a.token(a.admin)).await;
    assert_eq!(ids_of(&r.body["items"], "prospect_id"), a.prospects.iter().map(|p| p.0).collect());
}

#[tokio::test]
async fn a_token_cannot_be_pointed_at_another_tenant() {
    let app = TestApp::spawn().await;
    let (a, b, ids) = two_tenants(&app).await;
    // Tokens carry their tenant: swapping it makes the token unknown, not a key to B.
    let token = a.token(a.admin);
    let (_, secret) = token.rsplit_once('_').unwrap();
    let forged = format!("pls_{}_{secret}", b.tenant.0);
    let r = app.get(&format!("/api/v1/prospects/{}", ids.b_prospect), &forged).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{:?}", r.body);
    assert_eq!(r.code(), "unauthorized");
    // And B's own admin reaches it, to prove the id was real.
    let r = app.get(&format!("/api/v1/prospects/{}", ids.b_prospect), b.token(b.admin)).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// Every table carries `tenant_id`, leading in its primary key, every unique constraint and index,
/// and every foreign key: checked against the catalog of a migrated database, so a migration that
/// forgets it fails here. The exceptions are sqlx's own bookkeeping and the two indexes that route
/// a request to its tenant before the tenant is known (ARCHITECTURE.md, Invariants).
#[tokio::test]
async fn tenant_id_leads_every_key_and_index() {
    let url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&url, 1).await.unwrap();
    let exempt = ["_sqlx_migrations"];
    let routing = [
        // A login names its organisation by slug.
        ("tenants", "tenants_slug"),
        // A WhatsApp webhook names only the phone number id it was sent to.
        ("channel_accounts", "channel_accounts_phone_number_id"),
    ];
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert!(tables.len() >= 20, "only {} tables: {tables:?}", tables.len());
    let mut wrong = Vec::new();
    for table in tables.iter().filter(|t| !exempt.contains(&t.as_str())) {
        // Indexes (primary keys and unique constraints included): the first key column.
        let indexes: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT i.relname::text, a.attname::text
             FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
             LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
             WHERE x.indrelid = $1::regclass",
        )
        .bind(table)
        .fetch_all(&pool)
        .await
        .unwrap();
        if !indexes.iter().any(|(name, _)| name.ends_with("_pkey")) {
            wrong.push(format!("{table}: no primary key"));
        }
        for (index, first) in indexes {
            if first.as_deref() != Some("tenant_id") && !routing.contains(&(table.as_str(), index.as_str())) {
                wrong.push(format!("{table}: index {index} leads with {first:?}"));
            }
        }
        // Foreign keys: the first column on both sides.
        let fks: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT conname::text, a.attname::text, f.attname::text
             FROM pg_constraint c
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
             JOIN pg_attribute f ON f.attrelid = c.confrelid AND f.attnum = c.confkey[1]
             WHERE c.contype = 'f' AND c.conrelid = $1::regclass",
        )
        .bind(table)
        .fetch_all(&pool)
        .await
        .unwrap();
        for (fk, from, to) in fks {
            if from != "tenant_id" || to != "tenant_id" {
                wrong.push(format!("{table}: foreign key {fk} leads with {from} -> {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "tenant_id does not lead:\n  {}", wrong.join("\n  "));
    pool.close().await;
}
