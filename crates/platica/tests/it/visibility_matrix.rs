//! The visibility rule, checked end to end over HTTP for every role and every prospect placement.
//!
//! The expectation is computed here, from the world's placements, with the rule written out
//! again (admin: the whole tenant; coordinator: prospects of the teams they coordinate;
//! executive: prospects assigned to them, whatever the team) — never by calling the domain
//! crate — and compared with what the API answers: the inbox (paged with its cursor), the
//! prospect list, single reads, and the filters, before and after reassignments.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Resp, TestApp, World, world};

/// What a user is, as far as the rule cares.
#[derive(Clone, Debug)]
enum Kind {
    Admin,
    Coordinator(BTreeSet<i64>),
    Executive,
}

#[derive(Clone, Debug)]
struct Who {
    name: &'static str,
    id: i64,
    kind: Kind,
    token: String,
}

/// One prospect as the test knows it.
#[derive(Clone, Debug)]
struct P {
    tenant: i64,
    team: i64,
    exec: Option<i64>,
    conv: i64,
    name: String,
    phone: String,
    stage: String,
    status: String,
    unread: bool,
}

/// The rule, written out independently of `platica_domain::visibility`.
fn sees(who: &Who, tenant: i64, p: &P) -> bool {
    if p.tenant != tenant {
        return false;
    }
    match &who.kind {
        Kind::Admin => true,
        Kind::Coordinator(teams) => teams.contains(&p.team),
        Kind::Executive => p.exec == Some(who.id),
    }
}

fn people(w: &World) -> Vec<Who> {
    let tok = |u: platica_domain::UserId| w.token(u).to_owned();
    vec![
        Who { name: "admin", id: w.admin.0, kind: Kind::Admin, token: tok(w.admin) },
        Who {
            name: "coord BOOM",
            id: w.coord_boom.0,
            kind: Kind::Coordinator([w.boom.0].into()),
            token: tok(w.coord_boom),
        },
        Who {
            name: "coord VEN",
            id: w.coord_ven.0,
            kind: Kind::Coordinator([w.ven.0].into()),
            token: tok(w.coord_ven),
        },
        Who {
            name: "coord both",
            id: w.coord_both.0,
            kind: Kind::Coordinator([w.boom.0, w.ven.0].into()),
            token: tok(w.coord_both),
        },
        Who { name: "Ana", id: w.exec_ana.0, kind: Kind::Executive, token: tok(w.exec_ana) },
        Who { name: "Luis", id: w.exec_luis.0, kind: Kind::Executive, token: tok(w.exec_luis) },
        Who { name: "Sofía", id: w.exec_sofia.0, kind: Kind::Executive, token: tok(w.exec_sofia) },
    ]
}

/// Every prospect of the database (all tenants), with what the filters look at. Placements come
/// from the worlds' own records; the rest (conversation, name, phone) from SQL.
async fn model(app: &TestApp, worlds: &[&World]) -> BTreeMap<i64, P> {
    let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
        "SELECT p.prospect_id, c.conversation_id, p.name, p.phone FROM prospects p
         JOIN conversations c ON c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let extra: BTreeMap<i64, (i64, String, String)> =
        rows.into_iter().map(|(id, conv, name, phone)| (id, (conv, name, phone))).collect();
    let mut out = BTreeMap::new();
    for w in worlds {
        for (id, team, exec) in &w.prospects {
            let (conv, name, phone) = extra[id].clone();
            out.insert(
                *id,
                P {
                    tenant: w.tenant.0,
                    team: team.0,
                    exec: exec.map(|e| e.0),
                    conv,
                    name,
                    phone,
                    stage: "new".into(),
                    status: "open".into(),
                    unread: true,
                },
            );
        }
    }
    out
}

fn with_query(path: &str, query: &[(&str, String)]) -> String {
    let mut url = reqwest::Url::parse("http://x").unwrap().join(path).unwrap();
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
    }
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// Every page of the inbox for `token` with `filter`, following `next_cursor`. Checks that the
/// pages are in order, without repeats, and that `total`/`unread` describe the whole list.
async fn all_conversations(app: &TestApp, token: &str, filter: &[(&str, String)]) -> Vec<Value> {
    let mut rows: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut first: Option<Value> = None;
    for _ in 0..1000 {
        let mut q = filter.to_vec();
        q.push(("limit", "3".into()));
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let r = app.get(&with_query("/api/v1/conversations", &q), token).await;
        assert_eq!(r.status, StatusCode::OK, "{filter:?}: {:?}", r.body);
        first.get_or_insert_with(|| r.body.clone());
        rows.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let first = first.unwrap();
    let ids: Vec<i64> = rows.iter().map(|r| r["conversation_id"].as_i64().unwrap()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "a conversation repeated across pages: {ids:?}");
    for pair in rows.windows(2) {
        let key = |r: &Value| (r["last_activity_at"].as_str().unwrap().to_owned(), r["conversation_id"].as_i64());
        // RFC 3339 with the same offset sorts as text only at equal precision: compare parsed.
        let at = |r: &Value| chrono::DateTime::parse_from_rfc3339(r["last_activity_at"].as_str().unwrap()).unwrap();
        assert!(
            (at(&pair[0]), pair[0]["conversation_id"].as_i64()) > (at(&pair[1]), pair[1]["conversation_id"].as_i64()),
            "inbox out of order: {:?} then {:?}",
            key(&pair[0]),
            key(&pair[1])
        );
    }
    assert_eq!(first["total"].as_i64().unwrap(), rows.len() as i64, "total of {filter:?}");
    let unread = rows.iter().filter(|r| r["unread_count"].as_i64().unwrap() > 0).count();
    assert_eq!(first["unread"].as_i64().unwrap(), unread as i64, "unread of {filter:?}");
    rows
}

/// Every page of the prospect list for `token` with `filter`.
async fn all_prospects(app: &TestApp, token: &str, filter: &[(&str, String)]) -> Vec<Value> {
    let mut rows: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut q = filter.to_vec();
        q.push(("limit", "4".into()));
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let r = app.get(&with_query("/api/v1/prospects", &q), token).await;
        assert_eq!(r.status, StatusCode::OK, "{filter:?}: {:?}", r.body);
        rows.extend(r.body["items"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let ids: Vec<i64> = rows.iter().map(|r| r["prospect_id"].as_i64().unwrap()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "a prospect repeated across pages: {ids:?}");
    rows
}

fn ids_of(rows: &[Value], key: &str) -> BTreeSet<i64> {
    rows.iter().map(|r| r[key].as_i64().unwrap()).collect()
}

fn assert_not_found(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{what}: {:?}", r.body);
    assert_eq!(r.code(), "not_found", "{what}: {:?}", r.body);
    assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{what}: {:?}", r.body);
}

/// The lists and single reads of every user against the rule.
async fn check_everyone(app: &TestApp, tenant: i64, people: &[Who], model: &BTreeMap<i64, P>) {
    for who in people {
        let visible: BTreeSet<i64> = model.iter().filter(|(_, p)| sees(who, tenant, p)).map(|(id, _)| *id).collect();
        let visible_convs: BTreeSet<i64> = visible.iter().map(|id| model[id].conv).collect();

        let inbox = all_conversations(app, &who.token, &[]).await;
        assert_eq!(ids_of(&inbox, "prospect_id"), visible, "{}: inbox prospects", who.name);
        assert_eq!(ids_of(&inbox, "conversation_id"), visible_convs, "{}: inbox conversations", who.name);
        for row in &inbox {
            let p = &model[&row["prospect_id"].as_i64().unwrap()];
            assert_eq!(row["team_id"].as_i64(), Some(p.team), "{}: team of {row}", who.name);
            assert_eq!(row["executive_id"].as_i64(), p.exec, "{}: executive of {row}", who.name);
        }
        let list = all_prospects(app, &who.token, &[]).await;
        assert_eq!(ids_of(&list, "prospect_id"), visible, "{}: prospect list", who.name);

        for (id, p) in model {
            let see = visible.contains(id);
            let reads = [
                format!("/api/v1/prospects/{id}"),
                format!("/api/v1/prospects/{id}/assignments"),
                format!("/api/v1/conversations/{}", p.conv),
                format!("/api/v1/conversations/{}/messages", p.conv),
            ];
            for path in reads {
                let r = app.get(&path, &who.token).await;
                if see {
                    assert_eq!(r.status, StatusCode::OK, "{} GET {path}: {:?}", who.name, r.body);
                } else {
                    assert_not_found(&r, &format!("{} GET {path}", who.name));
                }
            }
        }
    }
}

/// Gives the world some variety for the filters: stages, read and closed conversations.
async fn vary(app: &TestApp, model: &mut BTreeMap<i64, P>, tenant: i64) {
    let ids: Vec<i64> = model.iter().filter(|(_, p)| p.tenant == tenant).map(|(id, _)| *id).collect();
    for (i, id) in ids.iter().enumerate() {
        let p = model.get_mut(id).unwrap();
        if i % 3 == 0 {
            sqlx::query("UPDATE messages SET read_at = now() WHERE conversation_id = $1")
                .bind(p.conv)
                .execute(&app.pool)
                .await
                .unwrap();
            p.unread = false;
        }
        if i % 4 == 1 {
            sqlx::query("UPDATE conversations SET status = 'closed' WHERE conversation_id = $1")
                .bind(p.conv)
                .execute(&app.pool)
                .await
                .unwrap();
            p.status = "closed".into();
        }
        if i % 2 == 0 {
            sqlx::query("UPDATE prospects SET stage = 'won' WHERE prospect_id = $1")
                .bind(id)
                .execute(&app.pool)
                .await
                .unwrap();
            p.stage = "won".into();
        }
    }
    // Raw SQL bypasses the API's read-your-writes barrier: wait for the live inbox explicitly.
    app.sync().await;
}

#[tokio::test]
async fn every_role_sees_exactly_its_prospects_before_and_after_a_reassignment() {
    let app = TestApp::spawn().await;
    let w = world(&app, "v", 2).await;
    // Another tenant laid out the same way: nothing of it may show up.
    let other = world(&app, "other", 1).await;
    let mut model = model(&app, &[&w, &other]).await;
    let people = people(&w);
    let t = w.tenant.0;

    check_everyone(&app, t, &people, &model).await;

    // The seed incident, spelled out.
    let ana = &people[4];
    let ana_ids = ids_of(&all_prospects(&app, &ana.token, &[]).await, "prospect_id");
    let expected: BTreeSet<i64> =
        w.prospects.iter().filter(|(_, _, e)| *e == Some(w.exec_ana)).map(|(id, _, _)| *id).collect();
    assert_eq!(expected.len(), 4, "Ana has 2 prospects in BOOM and 2 in VEN");
    assert_eq!(ana_ids, expected, "an executive sees her prospects in every team");
    let ana_teams: BTreeSet<i64> = expected.iter().map(|id| model[id].team).collect();
    assert_eq!(ana_teams, [w.boom.0, w.ven.0].into());
    let both = ids_of(&all_conversations(&app, w.token(w.coord_both), &[]).await, "prospect_id");
    assert_eq!(both, w.prospects.iter().map(|p| p.0).collect(), "a coordinator of both teams sees both");
    let sofia = ids_of(&all_conversations(&app, w.token(w.exec_sofia), &[]).await, "prospect_id");
    assert_eq!(sofia.len(), 2, "a non-operational executive still sees hers");
    let me = app.get(&format!("/api/v1/users/{}", w.exec_sofia), w.token(w.admin)).await;
    assert_eq!(me.body["operational"], false);

    // Admin moves one of Ana's BOOM prospects to VEN and to Luis.
    let moved =
        *w.prospects.iter().find(|(_, t, e)| *t == w.boom && *e == Some(w.exec_ana)).map(|(id, _, _)| id).unwrap();
    let r = app
        .post(
            &format!("/api/v1/prospects/{moved}/reassign"),
            w.token(w.admin),
            json!({"team_id": w.ven.0, "executive_id": w.exec_luis.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["team_id"], w.ven.0);
    assert_eq!(r.body["executive_id"], w.exec_luis.0);
    let p = model.get_mut(&moved).unwrap();
    p.team = w.ven.0;
    p.exec = Some(w.exec_luis.0);
    let conv = p.conv;

    // At once, with no refresh of anything: who gained and who lost it.
    let has = |rows: &[Value]| ids_of(rows, "prospect_id").contains(&moved);
    for (who, expect) in [(&people[4], false), (&people[5], true), (&people[1], false), (&people[2], true)] {
        let inbox = all_conversations(&app, &who.token, &[]).await;
        assert_eq!(has(&inbox), expect, "{} inbox after the move", who.name);
        let list = all_prospects(&app, &who.token, &[]).await;
        assert_eq!(has(&list), expect, "{} list after the move", who.name);
        let single = app.get(&format!("/api/v1/conversations/{conv}"), &who.token).await;
        assert_eq!(single.status == StatusCode::OK, expect, "{} GET conversation after the move", who.name);
    }
    check_everyone(&app, t, &people, &model).await;

    // The original incident: all of an executive's VEN prospects move to BOOM at once; she
    // still sees every one of them, coordinators follow the team.
    let ana_ven: Vec<i64> = model
        .iter()
        .filter(|(_, p)| p.tenant == t && p.team == w.ven.0 && p.exec == Some(w.exec_ana.0))
        .map(|(id, _)| *id)
        .collect();
    assert!(!ana_ven.is_empty());
    let r = app
        .post(
            "/api/v1/prospects/bulk-reassign",
            w.token(w.admin),
            json!({"prospect_ids": ana_ven, "team_id": w.boom.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["moved"], ana_ven.len());
    for id in &ana_ven {
        model.get_mut(id).unwrap().team = w.boom.0;
    }
    let ana_after = ids_of(&all_conversations(&app, &people[4].token, &[]).await, "prospect_id");
    assert_eq!(ana_after.len(), 3, "Ana keeps her 3 remaining prospects after they changed team");
    check_everyone(&app, t, &people, &model).await;
}

#[tokio::test]
async fn invisible_objects_are_not_found_for_writes_too() {
    let app = TestApp::spawn().await;
    let w = world(&app, "w", 1).await;
    let other = world(&app, "other", 1).await;
    let model = model(&app, &[&w, &other]).await;
    let people = people(&w);
    let before = app.snapshot_all().await;
    for who in &people {
        for (id, p) in model.iter().filter(|(_, p)| !sees(who, w.tenant.0, p)) {
            let c = p.conv;
            let attempts = [
                app.patch(&format!("/api/v1/prospects/{id}"), &who.token, json!({"stage": "lost"})).await,
                app.delete(&format!("/api/v1/prospects/{id}"), &who.token).await,
                app.post(&format!("/api/v1/prospects/{id}/reassign"), &who.token, json!({"team_id": w.boom.0})).await,
                app.patch(&format!("/api/v1/conversations/{c}"), &who.token, json!({"status": "closed"})).await,
                app.post(&format!("/api/v1/conversations/{c}/messages"), &who.token, json!({"body": "hola"})).await,
                app.post(&format!("/api/v1/conversations/{c}/read"), &who.token, json!({})).await,
            ];
            for (i, r) in attempts.iter().enumerate() {
                assert_not_found(r, &format!("{} write #{i} on invisible prospect {id}", who.name));
            }
        }
    }
    assert_eq!(app.snapshot_all().await, before, "a refused write changed the database");
}

#[tokio::test]
async fn filters_narrow_and_never_widen() {
    let app = TestApp::spawn().await;
    let w = world(&app, "f", 2).await;
    let other = world(&app, "other", 1).await;
    let mut model = model(&app, &[&w, &other]).await;
    vary(&app, &mut model, w.tenant.0).await;
    let people = people(&w);
    let t = w.tenant.0;

    let any_phone = model.values().find(|p| p.tenant == t).unwrap().phone.clone();
    let phone_prefix = any_phone[..any_phone.len() - 1].to_owned();
    let digits_prefix = phone_prefix[1..].to_owned();
    let (boom, ven, ana, luis, sofia, admin) =
        (w.boom.0, w.ven.0, w.exec_ana.0, w.exec_luis.0, w.exec_sofia.0, w.admin.0);
    let other_team = other.boom.0;
    let other_exec = other.exec_ana.0;

    type Pred = Box<dyn Fn(&P) -> bool>;
    let name_prefix = |pre: &'static str| -> Pred { Box::new(move |p: &P| p.name.to_lowercase().starts_with(pre)) };
    let phone_pre = |pre: String| -> Pred { Box::new(move |p: &P| p.phone.starts_with(&pre)) };

    // (query, predicate, applies to /conversations, applies to /prospects)
    type Case = (Vec<(&'static str, String)>, Pred, bool, bool);
    let cases: Vec<Case> = vec![
        (vec![("team_id", boom.to_string())], Box::new(move |p: &P| p.team == boom), true, true),
        (vec![("team_id", ven.to_string())], Box::new(move |p: &P| p.team == ven), true, true),
        (vec![("team_id", other_team.to_string())], Box::new(|_: &P| false), true, true),
        (vec![("executive_id", ana.to_string())], Box::new(move |p: &P| p.exec == Some(ana)), true, true),
        (vec![("executive_id", luis.to_string())], Box::new(move |p: &P| p.exec == Some(luis)), true, true),
        (vec![("executive_id", sofia.to_string())], Box::new(move |p: &P| p.exec == Some(sofia)), true, true),
        (vec![("executive_id", admin.to_string())], Box::new(|_: &P| false), true, true),
        (vec![("executive_id", other_exec.to_string())], Box::new(|_: &P| false), true, true),
        (
            vec![("team_id", ven.to_string()), ("executive_id", ana.to_string())],
            Box::new(move |p: &P| p.team == ven && p.exec == Some(ana)),
            true,
            true,
        ),
        (vec![("unread", "true".into())], Box::new(|p: &P| p.unread), true, false),
        (vec![("unread", "false".into())], Box::new(|p: &P| !p.unread), true, false),
        (vec![("status", "open".into())], Box::new(|p: &P| p.status == "open"), true, false),
        (vec![("status", "closed".into())], Box::new(|p: &P| p.status == "closed"), true, false),
        (
            vec![("status", "open".into()), ("unread", "true".into()), ("team_id", ven.to_string())],
            Box::new(move |p: &P| p.status == "open" && p.unread && p.team == ven),
            true,
            false,
        ),
        (vec![("stage", "won".into())], Box::new(|p: &P| p.stage == "won"), false, true),
        (vec![("stage", "lost".into())], Box::new(|_: &P| false), false, true),
        (vec![("q", "prospecto 1".into())], name_prefix("prospecto 1"), true, true),
        (vec![("q", "PROSPECTO".into())], name_prefix("prospecto"), true, true),
        (vec![("q", "nobody".into())], Box::new(|_: &P| false), true, true),
        (vec![("q", phone_prefix.clone())], phone_pre(phone_prefix.clone()), true, true),
        (vec![("q", digits_prefix)], phone_pre(phone_prefix.clone()), true, true),
        (vec![("q", any_phone.clone())], phone_pre(any_phone.clone()), true, true),
        (
            vec![("q", "prospecto".into()), ("team_id", boom.to_string()), ("executive_id", luis.to_string())],
            Box::new(move |p: &P| p.team == boom && p.exec == Some(luis)),
            true,
            true,
        ),
    ];

    for who in &people {
        let visible: BTreeSet<i64> = model.iter().filter(|(_, p)| sees(who, t, p)).map(|(id, _)| *id).collect();
        for (query, pred, on_conversations, on_prospects) in &cases {
            let expected: BTreeSet<i64> = visible.iter().copied().filter(|id| pred(&model[id])).collect();
            if *on_conversations {
                let got = ids_of(&all_conversations(&app, &who.token, query).await, "prospect_id");
                assert_eq!(got, expected, "{} /conversations {query:?}", who.name);
            }
            if *on_prospects {
                let got = ids_of(&all_prospects(&app, &who.token, query).await, "prospect_id");
                assert_eq!(got, expected, "{} /prospects {query:?}", who.name);
            }
        }
    }

    // Spelled out: filtering by someone else never shows their prospects.
    let ana_tok = w.token(w.exec_ana);
    let r = app.get(&format!("/api/v1/conversations?executive_id={luis}"), ana_tok).await;
    assert_eq!((r.status, r.body["total"].as_i64()), (StatusCode::OK, Some(0)), "{:?}", r.body);
    let r = app.get(&format!("/api/v1/prospects?executive_id={luis}"), ana_tok).await;
    assert_eq!(r.body["items"], json!([]));
    let r = app.get(&format!("/api/v1/conversations?team_id={ven}"), w.token(w.coord_boom)).await;
    assert_eq!(r.body["total"], 0, "a BOOM coordinator filtering on VEN sees nothing");
    let r = app.get(&format!("/api/v1/prospects?executive_id={sofia}"), w.token(w.coord_boom)).await;
    assert_eq!(r.body["items"], json!([]), "Sofía's prospects sit in VEN");
}

#[tokio::test]
async fn write_rules_follow_the_roles() {
    let app = TestApp::spawn().await;
    let w = world(&app, "r", 1).await;
    let find = |team: platica_domain::TeamId, exec: Option<platica_domain::UserId>| {
        w.prospects.iter().find(|(_, t, e)| *t == team && *e == exec).map(|(id, _, _)| *id).unwrap()
    };
    let ana_boom = find(w.boom, Some(w.exec_ana));
    let ana_ven = find(w.ven, Some(w.exec_ana));
    let luis_boom = find(w.boom, Some(w.exec_luis));
    let unassigned_ven = find(w.ven, None);
    let (ana, luis) = (w.token(w.exec_ana), w.token(w.exec_luis));
    let (cboom, cven, cboth) = (w.token(w.coord_boom), w.token(w.coord_ven), w.token(w.coord_both));

    let refused = |r: &Resp, status: StatusCode, what: &str| {
        assert_eq!(r.status, status, "{what}: {:?}", r.body);
        assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{what}: {:?}", r.body);
    };
    let before = app.snapshot_all().await;
    let reassign = |id: i64, body: Value, tok: &str| {
        let path = format!("/api/v1/prospects/{id}/reassign");
        let tok = tok.to_owned();
        let app = &app;
        async move { app.post(&path, &tok, body).await }
    };
    // Executives may not reassign or delete, even their own prospects.
    refused(&reassign(ana_boom, json!({"team_id": w.ven.0}), ana).await, StatusCode::FORBIDDEN, "exec reassign");
    refused(
        &reassign(ana_boom, json!({"executive_id": w.exec_luis.0}), ana).await,
        StatusCode::FORBIDDEN,
        "exec hands over",
    );
    refused(&app.delete(&format!("/api/v1/prospects/{ana_boom}"), ana).await, StatusCode::FORBIDDEN, "exec delete");
    refused(
        &app.delete(&format!("/api/v1/prospects/{luis_boom}"), ana).await,
        StatusCode::NOT_FOUND,
        "exec delete other",
    );
    let bulk =
        app.post("/api/v1/prospects/bulk-reassign", ana, json!({"prospect_ids": [ana_boom], "team_id": w.ven.0})).await;
    refused(&bulk, StatusCode::FORBIDDEN, "exec bulk");
    // Executives create prospects only for themselves.
    let r = app
        .post(
            "/api/v1/prospects",
            ana,
            json!({"name": "Para Luis", "phone": "+5215599990001", "team_id": w.boom.0, "executive_id": w.exec_luis.0}),
        )
        .await;
    refused(&r, StatusCode::FORBIDDEN, "exec creates for another");
    // Coordinators: only into teams they coordinate, only prospects they see.
    refused(
        &reassign(ana_boom, json!({"team_id": w.ven.0}), cboom).await,
        StatusCode::FORBIDDEN,
        "coord into other team",
    );
    refused(
        &reassign(ana_ven, json!({"team_id": w.boom.0}), cboom).await,
        StatusCode::NOT_FOUND,
        "coord moves invisible",
    );
    refused(
        &reassign(ana_boom, json!({"team_id": w.ven.0}), cven).await,
        StatusCode::NOT_FOUND,
        "coord VEN moves BOOM",
    );
    refused(
        &app.delete(&format!("/api/v1/prospects/{ana_ven}"), cboom).await,
        StatusCode::NOT_FOUND,
        "coord delete invisible",
    );
    let r = app
        .post("/api/v1/prospects", cboom, json!({"name": "En VEN", "phone": "+5215599990002", "team_id": w.ven.0}))
        .await;
    refused(&r, StatusCode::FORBIDDEN, "coord creates in other team");
    // Sofía is not operational: no new assignments to her (but she keeps seeing hers).
    refused(
        &reassign(unassigned_ven, json!({"executive_id": w.exec_sofia.0}), w.token(w.admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "assign to non-operational",
    );
    assert_eq!(app.snapshot_all().await, before, "a refused write changed the database");

    // What is allowed.
    let r = reassign(ana_boom, json!({"executive_id": w.exec_luis.0}), cboom).await;
    assert_eq!(r.status, StatusCode::OK, "coord hands a BOOM prospect to Luis: {:?}", r.body);
    let r = reassign(ana_ven, json!({"team_id": w.boom.0}), cboth).await;
    assert_eq!(r.status, StatusCode::OK, "coord of both moves VEN -> BOOM: {:?}", r.body);
    let r = reassign(unassigned_ven, json!({"executive_id": w.exec_ana.0}), cven).await;
    assert_eq!(r.status, StatusCode::OK, "coord VEN assigns to Ana: {:?}", r.body);
    let r = app
        .post("/api/v1/prospects", luis, json!({"name": "Mío", "phone": "+5215599990003", "team_id": w.ven.0}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["executive_id"], w.exec_luis.0, "an executive's new prospect is assigned to her");
    let created = r.body["prospect_id"].as_i64().unwrap();
    let conv = r.body["conversation_id"].as_i64().unwrap();
    assert_eq!(app.get(&format!("/api/v1/conversations/{conv}"), luis).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/prospects/{created}"), cven).await.status, StatusCode::OK);
    assert_eq!(app.get(&format!("/api/v1/prospects/{created}"), cboom).await.status, StatusCode::NOT_FOUND);
    let r = app
        .post("/api/v1/prospects", cboom, json!({"name": "En BOOM", "phone": "+5215599990004", "team_id": w.boom.0}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app.delete(&format!("/api/v1/prospects/{}", r.body["prospect_id"]), cboom).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
}
