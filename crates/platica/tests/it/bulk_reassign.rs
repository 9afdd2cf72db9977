//! Bulk reassignment: a thousand prospects in one call, all or nothing, one history row per
//! moved prospect sharing one batch id; the role rules; and failures injected in the middle of the
//! transaction (a trigger in the test database) that must leave nothing changed.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeSet;

use platica_domain::{TeamId, UserId};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{Resp, TestApp, World, world};

const N: i64 = 1_000;

/// Inserts `N` prospects (names "Bulk 1".."Bulk 1000") in `team`, assigned to `exec`, straight
/// into the database. Returns their ids, ascending.
async fn thousand(app: &TestApp, w: &World, team: TeamId, exec: Option<UserId>) -> Vec<i64> {
    let mut ids: Vec<i64> = sqlx::query_scalar(
        "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id)
         SELECT $1, 'Bulk ' || g, '+5215560' || lpad(g::text, 6, '0'), $2, $3 FROM generate_series(1, $4::bigint) g
         RETURNING prospect_id",
    )
    .bind(w.tenant.0)
    .bind(team.0)
    .bind(exec.map(|e| e.0))
    .bind(N)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    ids.sort_unstable();
    assert_eq!(ids.len() as i64, N);
    ids
}

async fn bulk(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post("/api/v1/prospects/bulk-reassign", token, body).await
}

fn counts(r: &Resp) -> (i64, i64, i64) {
    (r.body["matched"].as_i64().unwrap(), r.body["moved"].as_i64().unwrap(), r.body["unchanged"].as_i64().unwrap())
}

/// History rows of a batch: (count, distinct prospects, all of kind bulk by `actor`).
async fn batch(app: &TestApp, batch_id: i64, actor: UserId) -> (i64, i64, bool) {
    sqlx::query_as(
        "SELECT count(*), count(DISTINCT prospect_id), coalesce(bool_and(kind = 'bulk' AND actor_user_id = $2), true)
         FROM assignment_history WHERE batch_id = $1",
    )
    .bind(batch_id)
    .bind(actor.0)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// (team, executive) of each prospect in `ids`, as distinct placements.
async fn placements(app: &TestApp, ids: &[i64]) -> BTreeSet<(i64, Option<i64>)> {
    let rows: Vec<(i64, Option<i64>)> =
        sqlx::query_as("SELECT team_id, executive_id FROM prospects WHERE prospect_id = ANY($1)")
            .bind(ids)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    rows.into_iter().collect()
}

fn assert_err(r: &Resp, status: StatusCode, code: &str, what: &str) {
    assert_eq!(r.status, status, "{what}: {:?}", r.body);
    assert_eq!(r.code(), code, "{what}: {:?}", r.body);
    assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{what}: {:?}", r.body);
}

#[tokio::test]
async fn a_thousand_prospects_move_in_one_call_with_one_batch() {
    let _alone = support::exclusive().await;
    let app = TestApp::spawn().await;
    let w = world(&app, "bulk", 1).await;
    let ids = thousand(&app, &w, w.boom, Some(w.exec_luis)).await;
    let admin = w.token(w.admin);

    let started = std::time::Instant::now();
    let r = bulk(&app, admin, json!({"prospect_ids": ids, "team_id": w.ven.0, "executive_id": w.exec_ana.0})).await;
    let took = started.elapsed();
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(counts(&r), (N, N, 0));
    let batch_id = r.body["batch_id"].as_i64().unwrap();
    assert_eq!(batch(&app, batch_id, w.admin).await, (N, N, true), "one history row per prospect, one batch");
    let (n, batches, exact): (i64, i64, bool) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT batch_id),
                bool_and(from_team_id = $2 AND to_team_id = $3 AND from_executive_id = $4 AND to_executive_id = $5)
         FROM assignment_history WHERE prospect_id = ANY($1)",
    )
    .bind(&ids)
    .bind(w.boom.0)
    .bind(w.ven.0)
    .bind(w.exec_luis.0)
    .bind(w.exec_ana.0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((n, batches, exact), (N, 1, true), "exactly 1,000 rows, all of this batch, each from -> to");
    assert_eq!(placements(&app, &ids).await, [(w.ven.0, Some(w.exec_ana.0))].into());
    eprintln!("bulk reassignment of {N} prospects took {took:?}");

    // Visible at once: Ana's inbox count and list follow.
    let r = app.get(&format!("/api/v1/prospects?executive_id={}&limit=1", w.exec_ana), w.token(w.exec_ana)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"][0]["prospect_id"], *ids.last().unwrap());
    let r = app.get(&format!("/api/v1/prospects/{}/assignments", ids[0]), w.token(w.exec_ana)).await;
    assert_eq!(r.body[0]["batch_id"], batch_id);

    // Again, to where they already are (ids repeated): all unchanged, no history written.
    let mut again = ids.clone();
    again.extend_from_slice(&ids[..10]);
    let r = bulk(&app, admin, json!({"prospect_ids": again, "team_id": w.ven.0})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(counts(&r), (N, 0, N));
    assert_eq!(batch(&app, r.body["batch_id"].as_i64().unwrap(), w.admin).await.0, 0);

    // Part already there: only the rest moves.
    let r = bulk(&app, admin, json!({"prospect_ids": ids[..300], "team_id": w.boom.0})).await;
    assert_eq!(counts(&r), (300, 300, 0));
    let r = bulk(&app, admin, json!({"prospect_ids": ids, "team_id": w.boom.0})).await;
    assert_eq!(counts(&r), (N, 700, 300));
    assert_eq!(batch(&app, r.body["batch_id"].as_i64().unwrap(), w.admin).await, (700, 700, true));
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM assignment_history WHERE prospect_id = ANY($1)")
        .bind(&ids)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(total, N + 300 + 700, "a row for every move, none for the rest");
}

#[tokio::test]
async fn by_filter_moves_exactly_the_visible_matches() {
    let app = TestApp::spawn().await;
    let w = world(&app, "bulk", 1).await;
    let ids = thousand(&app, &w, w.boom, Some(w.exec_luis)).await;
    let admin = w.token(w.admin);

    // Team + executive: the 1,000 and the world's one BOOM prospect of Luis.
    let luis_boom: Vec<i64> = sqlx::query_scalar(
        "SELECT prospect_id FROM prospects WHERE tenant_id = $1 AND team_id = $2 AND executive_id = $3 ORDER BY 1",
    )
    .bind(w.tenant.0)
    .bind(w.boom.0)
    .bind(w.exec_luis.0)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(luis_boom.len() as i64, N + 1);
    let r = bulk(
        &app,
        admin,
        json!({"filter": {"team_id": w.boom.0, "executive_id": w.exec_luis.0}, "executive_id": w.exec_ana.0}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(counts(&r), (N + 1, N + 1, 0));
    assert_eq!(batch(&app, r.body["batch_id"].as_i64().unwrap(), w.admin).await, (N + 1, N + 1, true));
    assert_eq!(placements(&app, &luis_boom).await, [(w.boom.0, Some(w.exec_ana.0))].into());

    // Name prefix: "Bulk 1", "Bulk 10".."Bulk 19", "Bulk 100".."Bulk 199", "Bulk 1000".
    let r = bulk(&app, admin, json!({"filter": {"q": "bulk 1"}, "team_id": w.ven.0, "executive_id": null})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(counts(&r), (112, 112, 0));
    let moved: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM prospects WHERE prospect_id = ANY($1) AND team_id = $2 AND executive_id IS NULL",
    )
    .bind(&ids)
    .bind(w.ven.0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(moved, 112);

    // A coordinator's filter only ever reaches what they see: VEN's coordinator, no filter at all.
    let ven_before: i64 = sqlx::query_scalar("SELECT count(*) FROM prospects WHERE tenant_id = $1 AND team_id = $2")
        .bind(w.tenant.0)
        .bind(w.ven.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let r = bulk(&app, w.token(w.coord_ven), json!({"filter": {}, "executive_id": w.exec_luis.0})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["matched"].as_i64(), Some(ven_before), "only VEN's prospects are selected");
    let boom_only: Vec<i64> =
        sqlx::query_scalar("SELECT prospect_id FROM prospects WHERE tenant_id = $1 AND team_id = $2")
            .bind(w.tenant.0)
            .bind(w.boom.0)
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(placements(&app, &boom_only).await, [(w.boom.0, Some(w.exec_ana.0))].into(), "BOOM untouched");
    // Filtering on a team they do not coordinate matches nothing.
    let r =
        bulk(&app, w.token(w.coord_ven), json!({"filter": {"team_id": w.boom.0}, "executive_id": w.exec_luis.0})).await;
    assert_eq!(counts(&r), (0, 0, 0));
}

#[tokio::test]
async fn coordinators_and_executives_are_held_to_their_rights() {
    let app = TestApp::spawn().await;
    let w = world(&app, "bulk", 1).await;
    let ids = thousand(&app, &w, w.boom, Some(w.exec_luis)).await;
    let ven_one = w.prospects.iter().find(|p| p.1 == w.ven).unwrap().0;
    let before = app.snapshot_all().await;

    let coord = w.token(w.coord_boom);
    let r = bulk(&app, coord, json!({"prospect_ids": ids, "team_id": w.ven.0})).await;
    assert_err(&r, StatusCode::FORBIDDEN, "forbidden", "coordinator into a team not theirs");
    let r = bulk(&app, coord, json!({"filter": {"team_id": w.boom.0}, "team_id": w.ven.0})).await;
    assert_err(&r, StatusCode::FORBIDDEN, "forbidden", "coordinator into a team not theirs, by filter");

    let mut with_invisible = ids.clone();
    with_invisible.insert(500, ven_one);
    let r = bulk(&app, coord, json!({"prospect_ids": with_invisible, "executive_id": w.exec_ana.0})).await;
    assert_err(&r, StatusCode::NOT_FOUND, "not_found", "one invisible prospect among 1,001");
    assert_eq!(r.body["error"]["field"], "prospect_ids");
    let r = bulk(&app, coord, json!({"prospect_ids": [ven_one], "team_id": w.boom.0})).await;
    assert_err(&r, StatusCode::NOT_FOUND, "not_found", "only an invisible prospect");

    for exec in [w.exec_ana, w.exec_luis] {
        let r = bulk(&app, w.token(exec), json!({"prospect_ids": ids, "executive_id": exec.0})).await;
        assert_err(&r, StatusCode::FORBIDDEN, "forbidden", "executive bulk move");
        let r = bulk(&app, w.token(exec), json!({"filter": {}, "team_id": w.ven.0})).await;
        assert_err(&r, StatusCode::FORBIDDEN, "forbidden", "executive bulk move by filter");
    }
    // Targets that may not receive prospects.
    let admin = w.token(w.admin);
    let r = bulk(&app, admin, json!({"prospect_ids": ids, "executive_id": w.exec_sofia.0})).await;
    assert_err(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", "to a non-operational executive");
    let r = bulk(&app, admin, json!({"prospect_ids": ids, "executive_id": w.coord_boom.0})).await;
    assert_err(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", "to a coordinator");
    assert_eq!(app.snapshot_all().await, before, "a refused bulk move changed something");

    // Within their own team, a coordinator may.
    let r = bulk(&app, coord, json!({"prospect_ids": ids, "executive_id": w.exec_ana.0})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(counts(&r), (N, N, 0));
    let r = bulk(&app, w.token(w.coord_both), json!({"prospect_ids": ids, "team_id": w.ven.0})).await;
    assert_eq!(counts(&r), (N, N, 0), "a coordinator of both teams moves between them");
}

/// Installs a trigger failing on the row of `prospect_id`, `BEFORE <event> ON <table>`.
async fn fail_on(app: &TestApp, table: &str, event: &str, prospect_id: i64) {
    let sql = format!(
        "CREATE OR REPLACE FUNCTION test_fail_midway() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.prospect_id = {prospect_id} THEN RAISE EXCEPTION 'injected failure at prospect %', NEW.prospect_id; END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER test_fail_midway BEFORE {event} ON {table} FOR EACH ROW EXECUTE FUNCTION test_fail_midway();"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&app.pool).await.unwrap();
}

async fn drop_trigger(app: &TestApp, table: &str) {
    let sql = format!("DROP TRIGGER test_fail_midway ON {table}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&app.pool).await.unwrap();
}

#[tokio::test]
async fn a_failure_midway_leaves_nothing_changed() {
    let app = TestApp::spawn().await;
    let w = world(&app, "bulk", 1).await;
    let ids = thousand(&app, &w, w.boom, Some(w.exec_luis)).await;
    let admin = w.token(w.admin);
    let body = json!({"prospect_ids": ids, "team_id": w.ven.0, "executive_id": w.exec_ana.0});
    let by_filter = json!({"filter": {"team_id": w.boom.0}, "team_id": w.ven.0, "executive_id": w.exec_ana.0});
    let before = app.snapshot_all().await;

    for (table, event) in [("prospects", "UPDATE"), ("assignment_history", "INSERT")] {
        fail_on(&app, table, event, ids[499]).await;
        for b in [&body, &by_filter] {
            let r = bulk(&app, admin, b.clone()).await;
            assert!(r.status.is_server_error(), "failure in {table} {event}: {} {:?}", r.status, r.body);
            assert_eq!(r.code(), "internal", "{:?}", r.body);
            let message = r.body["error"]["message"].as_str().unwrap();
            assert!(!message.is_empty() && !message.contains("injected"), "the cause stays in the log: {message}");
            let after = app.snapshot_all().await;
            for (t, rows) in &before {
                assert_eq!(&after[t], rows, "failure in {table} {event} left table {t} changed");
            }
        }
        drop_trigger(&app, table).await;
    }
    // Single reassignments roll back the same way.
    fail_on(&app, "assignment_history", "INSERT", ids[0]).await;
    let r = app.post(&format!("/api/v1/prospects/{}/reassign", ids[0]), admin, json!({"team_id": w.ven.0})).await;
    assert!(r.status.is_server_error(), "{:?}", r.body);
    assert_eq!(app.snapshot_all().await, before);
    drop_trigger(&app, "assignment_history").await;

    // Without the trigger the very same call goes through: the failure was the only obstacle.
    let r = bulk(&app, admin, body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(counts(&r), (N, N, 0));
    assert_eq!(batch(&app, r.body["batch_id"].as_i64().unwrap(), w.admin).await, (N, N, true));
}

#[tokio::test]
async fn concurrent_bulk_moves_of_the_same_rows_both_complete() {
    let app = TestApp::spawn().await;
    let w = world(&app, "bulk", 1).await;
    let ids = thousand(&app, &w, w.boom, Some(w.exec_luis)).await;
    let admin = w.token(w.admin);
    let mut reversed = ids.clone();
    reversed.reverse();
    let (a, b) = tokio::join!(
        bulk(&app, admin, json!({"prospect_ids": ids, "team_id": w.ven.0})),
        bulk(&app, admin, json!({"prospect_ids": reversed, "executive_id": w.exec_ana.0})),
    );
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(b.status, StatusCode::OK, "{:?}", b.body);
    assert_eq!((counts(&a).1, counts(&b).1), (N, N), "each moves every row (different targets)");
    assert_eq!(placements(&app, &ids).await, [(w.ven.0, Some(w.exec_ana.0))].into(), "both changes applied");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM assignment_history WHERE prospect_id = ANY($1)")
        .bind(&ids)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(rows, 2 * N);
}
