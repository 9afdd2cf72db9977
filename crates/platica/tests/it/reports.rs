//! Reports (issue 19): the counters PostgreSQL keeps per day and cell equal their recomputation
//! from the rows after random write sequences (raw SQL, as anyone may write), and so does every
//! figure `GET /reports` gives each role; the live figures follow a message as it arrives.
#![allow(clippy::unwrap_used)]

use platica_domain::reports::{self, BUCKETS};
use platica_domain::{Role, TeamId, UserId, Viewer};
use platica_store::reports as store;
use serde_json::{Value, json};

use crate::support::{self, TestApp, World};

/// A small deterministic generator (the test must be repeatable without a dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn conversations(app: &TestApp, w: &World) -> Vec<(i64, i64)> {
    sqlx::query_as("SELECT conversation_id, prospect_id FROM conversations WHERE tenant_id = $1 ORDER BY 1")
        .bind(w.tenant.0)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// `n` random writes in time order from ten days ago (the clock advances 1 to 60 minutes per
/// write, so about eight days): messages in, replies by people and the bot, notes,
/// reassignments, new prospects; with `mutations`, also notes made messages and back and deleted
/// messages.
async fn random_writes(app: &TestApp, w: &World, seed: u64, n: usize, mutations: bool) {
    let pool = &app.pool;
    let mut rng = Lcg(seed);
    let mut minutes: i64 = 10 * 24 * 60;
    let executives = [Some(w.exec_ana), Some(w.exec_luis), Some(w.exec_sofia), None];
    let teams = [w.boom, w.ven];
    for i in 0..n {
        minutes -= 1 + rng.next(60) as i64;
        let mins = minutes.max(0) as i32;
        let convs = conversations(app, w).await;
        let (conv, prospect) = convs[rng.next(convs.len() as u64) as usize];
        let op = match rng.next(10) {
            // Without mutations, a message flip or delete is one more inbound message.
            8 if !mutations => 0,
            op => op,
        };
        match op {
            0..=3 => {
                sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, created_at) VALUES ($1, $2, 'in', 'prospect', $3, 'delivered', now() - make_interval(mins => $4))")
                    .bind(w.tenant.0).bind(conv).bind(format!("mensaje {i}")).bind(mins)
                    .execute(pool).await.unwrap();
            }
            4..=5 => {
                let who = [w.exec_ana, w.exec_luis, w.admin][rng.next(3) as usize];
                sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, sender_user_id, body, status, created_at) VALUES ($1, $2, 'out', 'executive', $3, $4, 'sent', now() - make_interval(mins => $5))")
                    .bind(w.tenant.0).bind(conv).bind(who.0).bind(format!("respuesta {i}")).bind(mins)
                    .execute(pool).await.unwrap();
            }
            6 => {
                let (kind, user) = if rng.next(2) == 0 { ("bot", None) } else { ("executive", Some(w.exec_ana.0)) };
                let note = if kind == "executive" { "note" } else { "message" };
                sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, sender_user_id, body, status, kind, created_at) VALUES ($1, $2, 'out', $3, $4, $5, 'sent', $6, now() - make_interval(mins => $7))")
                    .bind(w.tenant.0).bind(conv).bind(kind).bind(user).bind(format!("{note} {i}")).bind(note).bind(mins)
                    .execute(pool).await.unwrap();
            }
            7 => {
                // A reassignment to another cell, with its history row (as the API writes it).
                let team = teams[rng.next(2) as usize];
                let exec = executives[rng.next(4) as usize];
                sqlx::query(
                    "WITH old AS (SELECT team_id, executive_id FROM prospects WHERE tenant_id = $1 AND prospect_id = $2),
                          moved AS (UPDATE prospects SET team_id = $3, executive_id = $4 WHERE tenant_id = $1 AND prospect_id = $2)
                     INSERT INTO assignment_history (tenant_id, prospect_id, from_team_id, from_executive_id, to_team_id, to_executive_id, kind, created_at)
                     SELECT $1, $2, old.team_id, old.executive_id, $3, $4, 'single', now() - make_interval(mins => $5) FROM old",
                )
                .bind(w.tenant.0).bind(prospect).bind(team.0).bind(exec.map(|e| e.0)).bind(mins)
                .execute(pool).await.unwrap();
            }
            8 => {
                // A message made a note, or a note made a message; or a message deleted.
                match rng.next(3) {
                    0 => sqlx::query("UPDATE messages SET kind = 'note' WHERE tenant_id = $1 AND message_id = (SELECT max(message_id) FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND direction = 'out' AND sender_kind = 'executive' AND sender_user_id IS NOT NULL AND external_id IS NULL AND status = 'sent' AND kind = 'message')"),
                    1 => sqlx::query("UPDATE messages SET kind = 'message' WHERE tenant_id = $1 AND message_id = (SELECT max(message_id) FROM messages WHERE tenant_id = $1 AND conversation_id = $2 AND kind = 'note')"),
                    _ => sqlx::query("DELETE FROM messages WHERE tenant_id = $1 AND message_id = (SELECT min(message_id) FROM messages WHERE tenant_id = $1 AND conversation_id = $2)"),
                }
                .bind(w.tenant.0).bind(conv)
                .execute(pool).await.unwrap();
            }
            _ => {
                let team = teams[rng.next(2) as usize];
                let exec = executives[rng.next(4) as usize];
                let id: i64 = sqlx::query_scalar("INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id, created_at) VALUES ($1, $2, $3, $4, $5, now() - make_interval(mins => $6)) RETURNING prospect_id")
                    .bind(w.tenant.0).bind(format!("Nuevo {i}")).bind(format!("+52177{:08}", seed * 1000 + i as u64))
                    .bind(team.0).bind(exec.map(|e| e.0)).bind(mins)
                    .fetch_one(pool).await.unwrap();
                sqlx::query("INSERT INTO conversations (tenant_id, prospect_id, created_at) VALUES ($1, $2, now() - make_interval(mins => $3))")
                    .bind(w.tenant.0).bind(id).bind(mins)
                    .execute(pool).await.unwrap();
            }
        }
    }
}

fn viewers(w: &World) -> Vec<(&'static str, Viewer)> {
    let v = |user: UserId, role: Role, teams: &[TeamId]| Viewer {
        tenant_id: w.tenant,
        user_id: user,
        role,
        teams: teams.iter().copied().collect(),
    };
    vec![
        ("admin", v(w.admin, Role::Admin, &[])),
        ("coord BOOM", v(w.coord_boom, Role::Coordinator, &[w.boom])),
        ("coord both", v(w.coord_both, Role::Coordinator, &[w.boom, w.ven])),
        ("Ana", v(w.exec_ana, Role::Executive, &[])),
        ("Sofía", v(w.exec_sofia, Role::Executive, &[])),
    ]
}

fn sees(v: &Viewer, team: i64, exec: i64) -> bool {
    match v.role {
        Role::Admin => true,
        Role::Coordinator => v.teams.contains(&TeamId(team)),
        Role::Executive => exec == v.user_id.0,
    }
}

/// A row of `platica_report_days_recomputed`: team, executive, five counters, two histograms.
type RecomputedRow = (i64, i64, i64, i64, i64, i64, i64, Vec<i32>, Vec<i32>);

/// A reply whose stored response facts differ from their recomputation: message, conversation,
/// stored and recomputed seconds, stored and recomputed "first".
type ResponseDiff = (i64, i64, Option<i32>, Option<i32>, bool, bool);

/// The period's figures recomputed in SQL from the rows (not from the counters), for a viewer.
async fn recomputed_totals(app: &TestApp, w: &World, v: &Viewer, from: &str, to: &str) -> Value {
    let rows: Vec<RecomputedRow> = sqlx::query_as(
        "SELECT team_id, executive_id, messages_in, messages_out, new_prospects, reassigned_in, reassigned_out,
                responses, first_responses
           FROM platica_report_days_recomputed($1) WHERE day BETWEEN $2::date AND $3::date",
    )
    .bind(w.tenant.0)
    .bind(from)
    .bind(to)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    let mut sums = [0i64; 5];
    let mut resp = [0i64; BUCKETS];
    let mut first = [0i64; BUCKETS];
    for (team, exec, a, b, c, d, e, r, f) in rows {
        if !sees(v, team, exec) {
            continue;
        }
        for (s, x) in sums.iter_mut().zip([a, b, c, d, e]) {
            *s += x;
        }
        for i in 0..BUCKETS {
            resp[i] += r[i] as i64;
            first[i] += f[i] as i64;
        }
    }
    let times = |h: [i64; BUCKETS]| serde_json::to_value(reports::ResponseTimes::from_histogram(h)).unwrap();
    json!({
        "messages_in": sums[0], "messages_out": sums[1], "new_prospects": sums[2],
        "reassigned_in": sums[3], "reassigned_out": sums[4],
        "responses": times(resp), "first_responses": times(first),
    })
}

/// The live figures in SQL (the reference inbox) for a viewer: open, unread, waiting, waiting long.
async fn sql_live(app: &TestApp, v: &Viewer, waiting_minutes: i64) -> [i64; 4] {
    let cutoff = chrono::Utc::now() - chrono::Duration::minutes(waiting_minutes);
    let mut out = [0; 4];
    for (_, f) in store::live_cells(&app.pool, v, cutoff).await.unwrap() {
        for (o, x) in out.iter_mut().zip(f) {
            *o += x;
        }
    }
    out
}

fn period_part(figures: &Value) -> Value {
    let keys = [
        "messages_in",
        "messages_out",
        "new_prospects",
        "reassigned_in",
        "reassigned_out",
        "responses",
        "first_responses",
    ];
    Value::Object(keys.iter().map(|k| (k.to_string(), figures[*k].clone())).collect())
}

fn live_part(figures: &Value) -> [i64; 4] {
    ["open", "unread", "waiting", "waiting_long"].map(|k| figures[k].as_i64().unwrap())
}

/// After random writes by raw SQL (messages, replies, notes both ways, deletes, reassignments,
/// new prospects, over ten days), the counters equal their recomputation from the rows, the
/// stored response times equal a recomputation from message order, and every role's report (its
/// totals and the sum of its rows) equals the figures recomputed in SQL; after a time zone
/// change too, with the days moved.
#[tokio::test]
async fn every_figure_equals_its_recomputation_in_sql_for_every_role() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "reports", 2).await;
    // Append-only first: the stored response times equal their recomputation from message order.
    random_writes(&app, &w, 7, 200, false).await;
    assert_eq!(store::counter_differences(&app.pool, w.tenant).await.unwrap(), 0, "counters = recomputation");
    let diffs: Vec<ResponseDiff> = sqlx::query_as(
        "SELECT m.message_id, m.conversation_id, m.response_secs, r.response_secs, m.first_response, r.first_response
           FROM messages m JOIN platica_message_responses_recomputed($1) r ON r.message_id = m.message_id
          WHERE m.tenant_id = $1 AND (m.response_secs IS DISTINCT FROM r.response_secs OR m.first_response <> r.first_response)
          ORDER BY 1 LIMIT 5",
    )
    .bind(w.tenant.0).fetch_all(&app.pool).await.unwrap();
    assert!(
        diffs.is_empty(),
        "response times = recomputation: (message, conversation, stored, again, first stored, first again) {diffs:?}"
    );
    let replies: i64 =
        sqlx::query_scalar("SELECT count(*) FROM messages WHERE tenant_id = $1 AND response_secs IS NOT NULL")
            .bind(w.tenant.0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(replies > 10, "the sequence answered customers ({replies} replies)");
    // Then edits and deletes too (a reply's response time is history: it stays as it was).
    random_writes(&app, &w, 11, 200, true).await;
    app.sync().await;
    assert_eq!(store::counter_differences(&app.pool, w.tenant).await.unwrap(), 0, "counters = recomputation");

    for tz in ["UTC", "America/Mexico_City"] {
        let admin = w.token(w.admin);
        assert_eq!(app.put("/api/v1/reports/time-zone", admin, json!({ "time_zone": tz })).await.status, 204);
        assert_eq!(store::counter_differences(&app.pool, w.tenant).await.unwrap(), 0, "{tz}: counters moved exactly");
        // Two periods: the whole ten days, and three days in the middle.
        let today: String = sqlx::query_scalar("SELECT (now() AT TIME ZONE $1)::date::text")
            .bind(tz)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let ago = |d: i64| -> String {
            let t = chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").unwrap();
            (t - chrono::Duration::days(d)).to_string()
        };
        for (from, to) in [(ago(11), today.clone()), (ago(6), ago(4))] {
            for (who, v) in viewers(&w) {
                let r = app
                    .get(&format!("/api/v1/reports?from={from}&to={to}&waiting_minutes=30"), w.token(v.user_id))
                    .await;
                assert_eq!(r.status, 200, "{who}: {:?}", r.body);
                assert_eq!(r.body["time_zone"], tz);
                let want = recomputed_totals(&app, &w, &v, &from, &to).await;
                assert_eq!(period_part(&r.body["totals"]), want, "{who} {tz} {from}..{to}");
                assert_eq!(live_part(&r.body["totals"]), sql_live(&app, &v, 30).await, "{who}: live figures = SQL");
                // The rows add up to the totals, per team and per executive.
                for rows in ["teams", "executives"] {
                    let mut sum = [0i64; 3];
                    for row in r.body[rows].as_array().unwrap() {
                        let f = &row["figures"];
                        for (s, k) in sum.iter_mut().zip(["messages_in", "messages_out", "open"]) {
                            *s += f[k].as_i64().unwrap();
                        }
                    }
                    let t = &r.body["totals"];
                    assert_eq!(
                        sum,
                        ["messages_in", "messages_out", "open"].map(|k| t[k].as_i64().unwrap()),
                        "{who} {rows}"
                    );
                }
                // An executive's rows are hers alone.
                if v.role == Role::Executive {
                    for row in r.body["executives"].as_array().unwrap() {
                        assert_eq!(row["executive_id"].as_i64(), Some(v.user_id.0), "{who} sees only herself");
                    }
                }
                // The days add up to the period's totals.
                let days: i64 =
                    r.body["days"].as_array().unwrap().iter().map(|d| d["messages_in"].as_i64().unwrap()).sum();
                assert_eq!(days, r.body["totals"]["messages_in"].as_i64().unwrap(), "{who}: days");
            }
        }
    }
}

/// A message arriving moves the live figures and the period's counters of exactly the cells it
/// concerns: Ana's report counts it, Luis's does not.
#[tokio::test]
async fn a_message_moves_the_figures_of_whoever_sees_it() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "reports-live", 1).await;
    support::sending_channel(&app, &w).await;
    let ana = w.token(w.exec_ana);
    let luis = w.token(w.exec_luis);
    let before_ana = app.get("/api/v1/reports", ana).await.body;
    let before_luis = app.get("/api/v1/reports", luis).await.body;
    assert_eq!(before_ana["totals"]["messages_in"], 2, "one message in each of Ana's two conversations");
    let (prospect, _, _) = w.prospects[0];
    let conv: i64 = sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE prospect_id = $1")
        .bind(prospect)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // Ana answers: the customer no longer waits, and her response time counts.
    let r =
        app.post(&format!("/api/v1/conversations/{conv}/messages"), ana, json!({ "body": "¡Hola! Con gusto" })).await;
    assert!(r.status == 201 || r.status == 200 || r.status == 202, "{:?}", r.body);
    app.sync().await;
    let after = app.get("/api/v1/reports", ana).await.body;
    assert_eq!(
        after["totals"]["messages_out"].as_i64().unwrap(),
        before_ana["totals"]["messages_out"].as_i64().unwrap() + 1
    );
    assert_eq!(after["totals"]["waiting"].as_i64().unwrap(), before_ana["totals"]["waiting"].as_i64().unwrap() - 1);
    assert_eq!(after["totals"]["responses"]["count"], 1);
    assert_eq!(after["totals"]["first_responses"]["count"], 1);
    assert_eq!(after["totals"]["responses"]["median"], json!({ "from_secs": 0, "to_secs": 60 }));
    // The customer writes again: waiting again.
    sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status) VALUES ($1, $2, 'in', 'prospect', '¿Y el precio?', 'delivered')")
        .bind(w.tenant.0).bind(conv).execute(&app.pool).await.unwrap();
    app.sync().await;
    let again = app.get("/api/v1/reports", ana).await.body;
    assert_eq!(again["totals"]["messages_in"].as_i64().unwrap(), after["totals"]["messages_in"].as_i64().unwrap() + 1);
    assert_eq!(again["totals"]["waiting"], before_ana["totals"]["waiting"]);
    assert_eq!(app.get("/api/v1/reports", luis).await.body["totals"], before_luis["totals"], "Luis sees none of it");
}

/// Bad input names what is wrong; only admins set the time zone.
#[tokio::test]
async fn bad_input_is_refused_with_the_field() {
    let app = TestApp::spawn().await;
    let w = support::world(&app, "reports-bad", 1).await;
    let admin = w.token(w.admin);
    for (q, field) in [
        ("from=2026-02-30", "from"),
        ("from=yesterday", "from"),
        ("from=2026-12-08&to=2026-12-01", "from"),
        ("from=2024-01-01&to=2026-01-01", "from"),
        ("to=12/01/2026", "to"),
        ("waiting_minutes=0", "waiting_minutes"),
        ("waiting_minutes=10081", "waiting_minutes"),
    ] {
        let r = app.get(&format!("/api/v1/reports?{q}"), admin).await;
        assert_eq!(r.status, 422, "{q}: {:?}", r.body);
        assert_eq!(r.body["error"]["field"], field, "{q}");
    }
    let r = app.get("/api/v1/reports?waiting_minutes=soon", admin).await;
    assert_eq!(r.status, 400, "not a number: {:?}", r.body);
    let r = app.put("/api/v1/reports/time-zone", admin, json!({ "time_zone": "Mars/Olympus" })).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["error"]["field"], "time_zone");
    let r = app.put("/api/v1/reports/time-zone", w.token(w.coord_boom), json!({ "time_zone": "UTC" })).await;
    assert_eq!(r.status, 403);
}

/// The SQL bucket function and the Rust one agree on every bound and around it.
#[tokio::test]
async fn sql_and_rust_agree_on_response_buckets() {
    let app = TestApp::spawn().await;
    let mut values = vec![0, 1, i32::MAX];
    for b in reports::RESPONSE_BOUNDS {
        values.extend([b - 1, b, b + 1]);
    }
    let got: Vec<i32> = sqlx::query_scalar("SELECT platica_response_bucket(v) FROM unnest($1::int[]) v")
        .bind(&values)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let want: Vec<i32> = values.iter().map(|v| reports::bucket(*v) as i32 + 1).collect();
    assert_eq!(got, want);
}
