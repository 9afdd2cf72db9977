//! Search (issue 19): prospects by any word of the name, accents and case aside, or by phone in
//! local or international form — the live inbox, the SQL reference and the prospect list agree —
//! and messages by their words (full text, stemmed, highlighted), each as every role sees.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use platica_domain::inbox::InboxCursor;
use platica_domain::search;
use platica_domain::{Role, TeamId, UserId, Viewer};
use platica_store::inbox::conversations::{self, InboxFilter};
use serde_json::Value;

use crate::support::{self, TestApp, World};

fn enc(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn conversation_of(app: &TestApp, prospect: i64) -> i64 {
    sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE prospect_id = $1")
        .bind(prospect)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

/// Every prospect id of every page of `path` (which must end with `?...&` or `?`).
async fn all_ids(app: &TestApp, token: &str, path: &str, key: &str) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let p = match &cursor {
            Some(c) => format!("{path}limit=2&cursor={c}"),
            None => format!("{path}limit=2"),
        };
        let r = app.get(&p, token).await;
        assert_eq!(r.status, 200, "{p}: {:?}", r.body);
        out.extend(r.body["items"].as_array().unwrap().iter().map(|i| i[key].as_i64().unwrap()));
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn viewers(w: &World) -> Vec<(&'static str, UserId, Role, BTreeSet<TeamId>)> {
    vec![
        ("admin", w.admin, Role::Admin, BTreeSet::new()),
        ("coord BOOM", w.coord_boom, Role::Coordinator, BTreeSet::from([w.boom])),
        ("coord VEN", w.coord_ven, Role::Coordinator, BTreeSet::from([w.ven])),
        ("coord both", w.coord_both, Role::Coordinator, BTreeSet::from([w.boom, w.ven])),
        ("Ana", w.exec_ana, Role::Executive, BTreeSet::new()),
        ("Luis", w.exec_luis, Role::Executive, BTreeSet::new()),
        ("Sofía", w.exec_sofia, Role::Executive, BTreeSet::new()),
    ]
}

fn sees(role: Role, user: UserId, teams: &BTreeSet<TeamId>, team: TeamId, exec: Option<UserId>) -> bool {
    match role {
        Role::Admin => true,
        Role::Coordinator => teams.contains(&team),
        Role::Executive => exec == Some(user),
    }
}

/// Names with accents, several words and punctuation, phones of four countries: each query form
/// finds what it should, for each role only what it sees, in the live inbox (paged, over HTTP),
/// in the SQL reference inbox and in the prospect list (SQL, over HTTP) alike; `verify` agrees.
#[tokio::test]
async fn names_and_phones_in_any_form_for_every_role_live_and_in_sql() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "search", 1).await;
    let other = support::world(&app, "search-other", 1).await;
    // Placements (world order): 0 Ana/BOOM, 1 Ana/VEN, 2 Luis/BOOM, 3 Sofía/VEN, 4 nobody/VEN.
    let people = [
        ("María Romero", "+5215512345678"),
        ("Lucía Pérez-Núñez", "+12125550100"),
        ("José Ángel ROMERO", "+34612345678"),
        ("ROMERO, Lucía", "+5491123456789"),
        ("Zoë O'Brien", "+447700900123"),
    ];
    for (i, (name, phone)) in people.iter().enumerate() {
        sqlx::query("UPDATE prospects SET name = $1, phone = $2 WHERE prospect_id = $3")
            .bind(name)
            .bind(phone)
            .bind(w.prospects[i].0)
            .execute(&app.pool)
            .await
            .unwrap();
    }
    // The other tenant has a María Romero too: never found from this one.
    sqlx::query("UPDATE prospects SET name = 'María Romero', phone = '+5215512345679' WHERE prospect_id = $1")
        .bind(other.prospects[0].0)
        .execute(&app.pool)
        .await
        .unwrap();
    app.sync().await;

    let cases: &[(&str, &[usize])] = &[
        ("lucia", &[1, 3]),
        ("LUCÍA", &[1, 3]),
        ("ROMERO", &[0, 2, 3]),
        ("romero", &[0, 2, 3]),
        ("maria romero", &[0]),
        ("rom luc", &[3]),
        ("angel", &[2]),
        ("jose ANGEL rom", &[2]),
        ("nunez", &[1]),
        ("perez-nunez", &[1]),
        ("zoe", &[4]),
        ("brien", &[4]),
        ("aria", &[]),
        ("%", &[]),
        ("nobody", &[]),
        ("55 1234 5678", &[0]),
        ("5512345678", &[0]),
        ("+52 1 55 1234 5678", &[0]),
        ("5215512345678", &[0]),
        ("(55) 1234", &[0]),
        ("212-555-0100", &[1]),
        ("+1 212", &[1]),
        ("612 345 678", &[2]),
        ("+34 612", &[2]),
        ("11 2345 6789", &[3]),
        ("+54 9 11", &[3]),
        ("07700", &[]),
        ("7700 900", &[4]),
        ("1234 5678", &[]),
    ];
    for (who, user, role, teams) in viewers(&w) {
        let viewer = Viewer { tenant_id: w.tenant, user_id: user, role, teams: teams.clone() };
        let token = w.token(user);
        for (q, want) in cases {
            let expected: BTreeSet<i64> = want
                .iter()
                .map(|i| w.prospects[*i])
                .filter(|(_, team, exec)| sees(role, user, &teams, *team, *exec))
                .map(|(id, _, _)| id)
                .collect();
            let live = all_ids(&app, token, &format!("/api/v1/conversations?q={}&", enc(q)), "prospect_id").await;
            assert_eq!(live, expected, "{who}: live inbox, q={q:?}");
            let listed = all_ids(&app, token, &format!("/api/v1/prospects?q={}&", enc(q)), "prospect_id").await;
            assert_eq!(listed, expected, "{who}: prospect list, q={q:?}");
            let filter = InboxFilter { q: Some((*q).to_owned()), ..InboxFilter::default() };
            let mut reference = BTreeSet::new();
            let mut after: Option<InboxCursor> = None;
            loop {
                let page = conversations::list(&app.pool, &viewer, &filter, after, 2).await.unwrap();
                reference.extend(page.items.iter().map(|r| r.prospect_id));
                match page.next_cursor {
                    Some(c) => after = Some(InboxCursor::decode(&c).unwrap()),
                    None => break,
                }
            }
            assert_eq!(reference, expected, "{who}: SQL reference inbox, q={q:?}");
        }
    }

    // A rename moves the prospect in the engine's word index at once.
    sqlx::query("UPDATE prospects SET name = 'Marisol Quintana' WHERE prospect_id = $1")
        .bind(w.prospects[0].0)
        .execute(&app.pool)
        .await
        .unwrap();
    app.sync().await;
    let admin = w.token(w.admin);
    let path = |q: &str| format!("/api/v1/conversations?q={}&", enc(q));
    assert_eq!(all_ids(&app, admin, &path("maria"), "prospect_id").await, BTreeSet::new());
    assert_eq!(all_ids(&app, admin, &path("quintana"), "prospect_id").await, BTreeSet::from([w.prospects[0].0]));
    assert_eq!(
        all_ids(&app, admin, &path("romero"), "prospect_id").await,
        BTreeSet::from([w.prospects[2].0, w.prospects[3].0])
    );

    let report = platica_changes::verify::verify(&app.live, Some(w.tenant)).await.unwrap();
    assert_eq!(report.difference_count, 0, "{:?}", report.differences);
}

/// The engine folds, splits and keys exactly as the database's functions of migration 0028: on
/// every character `unaccent` lists, capitals of several scripts, and phones of many countries.
#[tokio::test]
async fn search_folds_like_the_database() {
    let app = TestApp::spawn().await;
    let rules = include_str!("../../../platica-domain/src/search/unaccent.rules");
    let mut texts: Vec<String> = rules.lines().filter_map(|l| l.chars().next()).map(|c| format!("x{c}y")).collect();
    let ranges =
        [('A', 'Z'), ('\u{c0}', '\u{24f}'), ('\u{391}', '\u{3a9}'), ('\u{410}', '\u{42f}'), ('\u{1e00}', '\u{1eff}')];
    for (from, to) in ranges {
        texts.extend((from..=to).map(|c| format!("{c}{c}a")));
    }
    texts.extend(
        [
            "María Romero-López",
            "  JOSÉ  ángel ",
            "O'Brien, Zoë",
            "¡Hola! ½ ©",
            "a_b%c\\d",
            "emoji 👍 ok",
            "ŒUVRE straße",
        ]
        .map(str::to_owned),
    );
    let sql: Vec<(String, String)> = sqlx::query_as(
        "SELECT platica_fold(t), platica_name_key(t) FROM unnest($1::text[]) WITH ORDINALITY u(t, n) ORDER BY n",
    )
    .bind(&texts)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut differences = Vec::new();
    for (t, (folded, key)) in texts.iter().zip(&sql) {
        let rust_folded = search::fold(t);
        if &rust_folded != folded {
            differences.push(format!("fold {t:?}: engine {rust_folded:?}, SQL {folded:?}"));
        }
        let sql_words: Vec<&str> = key.split(' ').filter(|w| !w.is_empty()).collect();
        let rust_words: Vec<&str> = search::words(&rust_folded).collect();
        if sql_words != rust_words {
            differences.push(format!("words {t:?}: engine {rust_words:?}, SQL {sql_words:?}"));
        }
    }
    assert!(differences.is_empty(), "{} differences:\n{}", differences.len(), differences.join("\n"));

    let phones = [
        "+5215512345678",
        "+525512345678",
        "+12125550100",
        "+74951234567",
        "+34612345678",
        "+5491123456789",
        "+541143214321",
        "+447700900123",
        "+351912345678",
        "+8613800138000",
        "+97150123456",
        "+2348012345678",
        "+52",
        "+1",
        "+999",
        "no digits",
    ];
    for p in phones {
        let sql: Option<String> =
            sqlx::query_scalar("SELECT platica_phone_key($1)").bind(p).fetch_one(&app.pool).await.unwrap();
        let keys = search::phone_keys(p);
        let rust = (!keys.is_empty()).then(|| format!(" {}", keys.join(" ")));
        assert_eq!(rust, sql, "phone keys of {p}");
    }
}

async fn message(app: &TestApp, w: &World, conv: i64, body: &str, note_by: Option<UserId>) -> i64 {
    let (direction, sender, status) = match note_by {
        Some(_) => ("out", "executive", "sent"),
        None => ("in", "prospect", "delivered"),
    };
    sqlx::query_scalar(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, sender_user_id, body, status, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING message_id",
    )
    .bind(w.tenant.0)
    .bind(conv)
    .bind(direction)
    .bind(sender)
    .bind(note_by.map(|u| u.0))
    .bind(body)
    .bind(status)
    .bind(if note_by.is_some() { "note" } else { "message" })
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

fn hits(r: &Value) -> Vec<i64> {
    r["items"].as_array().unwrap().iter().map(|i| i["message_id"].as_i64().unwrap()).collect()
}

/// Messages and notes are found by their words in Spanish and English forms, accents and case
/// aside, ranked and highlighted, each role finding only what it sees; bad input is a 400.
#[tokio::test]
async fn message_text_is_found_stemmed_highlighted_and_only_by_who_sees_it() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "msearch", 1).await;
    let other = support::world(&app, "msearch-other", 1).await;
    let convs: Vec<i64> = {
        let mut v = Vec::new();
        for (p, _, _) in &w.prospects {
            v.push(conversation_of(&app, *p).await);
        }
        v
    };
    // 0 Ana/BOOM, 1 Ana/VEN, 2 Luis/BOOM, 3 Sofía/VEN, 4 nobody/VEN.
    let asked = message(&app, &w, convs[0], "¿Cuánto cuestan los envíos a Monterrey? <b>urgente</b>", None).await;
    let arrives = message(&app, &w, convs[2], "El ENVIO llega mañana por la tarde", None).await;
    let note = message(&app, &w, convs[3], "Nota interna: confirmar el envío urgente", Some(w.exec_sofia)).await;
    let shipping = message(&app, &w, convs[4], "What are your shipping costs to Texas?", None).await;
    let elsewhere = conversation_of(&app, other.prospects[0].0).await;
    message(&app, &other, elsewhere, "Otro envío de otra empresa", None).await;

    let all_envio = BTreeSet::from([asked, arrives, note]);
    let expect_for = |role: Role, user: UserId, teams: &BTreeSet<TeamId>, among: &BTreeSet<i64>| -> BTreeSet<i64> {
        let by_message = [(asked, 0usize), (arrives, 2), (note, 3), (shipping, 4)];
        by_message
            .iter()
            .filter(|(m, _)| among.contains(m))
            .filter(|(_, i)| {
                let (_, team, exec) = w.prospects[*i];
                sees(role, user, teams, team, exec)
            })
            .map(|(m, _)| *m)
            .collect()
    };
    for (who, user, role, teams) in viewers(&w) {
        let token = w.token(user);
        for (q, among) in [
            ("envío", all_envio.clone()),
            ("ENVIOS", all_envio.clone()),
            ("envio urgente", BTreeSet::from([asked, note])),
            ("\"envío urgente\"", BTreeSet::from([note])),
            ("envío -urgente", BTreeSet::from([arrives])),
            ("ship", BTreeSet::from([shipping])),
            ("costs", BTreeSet::from([shipping])),
            ("monterrey", BTreeSet::from([asked])),
            ("zapatos", BTreeSet::new()),
        ] {
            let r = app.get(&format!("/api/v1/search/messages?q={}", enc(q)), token).await;
            assert_eq!(r.status, 200, "{who} {q}: {:?}", r.body);
            let got: BTreeSet<i64> = hits(&r.body).into_iter().collect();
            assert_eq!(got, expect_for(role, user, &teams, &among), "{who}: messages for {q:?}");
        }
    }

    // Highlighted: the matching words are marked segments; the text is text (no HTML made).
    let admin = w.token(w.admin);
    let r = app.get(&format!("/api/v1/search/messages?q={}", enc("envíos urgentes")), admin).await;
    let item = r.body["items"].as_array().unwrap().iter().find(|i| i["message_id"] == asked).unwrap().clone();
    let marked: Vec<&str> = item["snippet"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["hit"] == true)
        .map(|s| s["text"].as_str().unwrap())
        .collect();
    assert_eq!(marked, vec!["envíos", "urgente"], "{item}");
    let text: String = item["snippet"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    // What the text search parser reads as an HTML tag is left out of snippets: no markup ever.
    assert_eq!(text.trim_end(), "¿Cuánto cuestan los envíos a Monterrey?  urgente", "{item}");
    assert_eq!(item["conversation_id"], convs[0]);
    assert_eq!(item["prospect_id"], w.prospects[0].0);
    assert_eq!(item["kind"], "message");
    let r = app.get("/api/v1/search/messages?q=confirmar", admin).await;
    assert_eq!(r.body["items"][0]["kind"], "note", "{:?}", r.body);

    // Ranked: the message with the word twice comes first; pages follow each other.
    let twice = message(&app, &w, convs[1], "Precio del envío y del envío express", None).await;
    let r = app.get("/api/v1/search/messages?q=env%C3%ADo&limit=2", admin).await;
    assert_eq!(hits(&r.body)[0], twice, "{:?}", r.body);
    assert_eq!(r.body["next_offset"], 2);
    let r2 = app.get("/api/v1/search/messages?q=env%C3%ADo&limit=2&offset=2", admin).await;
    let mut paged: Vec<i64> = hits(&r.body).into_iter().chain(hits(&r2.body)).collect();
    assert_eq!(r2.body["next_offset"], Value::Null);
    paged.sort();
    let mut want: Vec<i64> = all_envio.iter().copied().chain([twice]).collect();
    want.sort();
    assert_eq!(paged, want);

    // Bad input names its field, as JSON.
    for (query, field) in [
        ("", "q"),
        ("q=", "q"),
        ("q=%20%20", "q"),
        (&*format!("q={}", "a".repeat(101)), "q"),
        ("q=a%07b", "q"),
        ("q=hola&offset=1001", "offset"),
        ("q=hola&offset=-1", "offset"),
    ] {
        let r = app.get(&format!("/api/v1/search/messages?{query}"), admin).await;
        assert_eq!(r.status, 400, "{query}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{query}: {:?}", r.body);
    }
    let r = app.get("/api/v1/search/messages?q=hola&limit=0", admin).await;
    assert_eq!((r.status.as_u16(), r.body["error"]["field"].as_str()), (422, Some("limit")));
    // Only stop words, or only operators: an empty answer, not an error.
    for q in ["de la", "-", "\"\""] {
        let r = app.get(&format!("/api/v1/search/messages?q={}", enc(q)), admin).await;
        assert_eq!(r.status, 200, "{q}: {:?}", r.body);
    }
}
