//! The reports benchmark (issue 19), outside CI (ignored): `GET /reports` for the last 30 days
//! (live figures from the engine, the period's from the day counters) as an admin, a coordinator
//! and an executive, beside the equivalent SQL computed from the rows on each request (the
//! period from `messages` with a covering index on `(tenant_id, created_at)` that includes every
//! column the query reads, percentiles with `percentile_disc`; the live figures from the
//! reference inbox); and what the counters' triggers add to a message insert. Run it alone:
//! `PLATICA_REPORTS_BENCH=3230 cargo test -p platica --test it reports_bench:: -- --ignored --nocapture`
#![allow(clippy::unwrap_used)]

use std::time::Instant;

use crate::search_bench::{ms, time};
use crate::support::{self, TestApp};

#[tokio::test]
#[ignore = "a benchmark: run it alone with --ignored"]
async fn reports_bench() {
    let _alone = support::exclusive().await;
    let n: i64 = std::env::var("PLATICA_REPORTS_BENCH").ok().and_then(|v| v.parse().ok()).unwrap_or(3_230);
    let per = 20i64; // messages per conversation, over 90 days
    let app = TestApp::spawn().await;
    let w = support::world(&app, "rbench", 1).await;
    let t = w.tenant.0;
    let started = Instant::now();
    sqlx::query(
        "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id, created_at)
         SELECT $1, 'Prospecto ' || i, '+52155' || lpad((10000000 + i * 7919 % 89999999)::text, 8, '0'),
                CASE WHEN i % 5 IN (0, 2) THEN $2 ELSE $3 END, (ARRAY[$4, $4, $5, $6, NULL])[1 + i % 5],
                now() - (i % 90) * interval '1 day'
         FROM generate_series(1, $7::bigint) i",
    )
    .bind(t)
    .bind(w.boom.0)
    .bind(w.ven.0)
    .bind(w.exec_ana.0)
    .bind(w.exec_luis.0)
    .bind(w.exec_sofia.0)
    .bind(n)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO conversations (tenant_id, prospect_id) SELECT tenant_id, prospect_id FROM prospects p
         WHERE tenant_id = $1 AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id)",
    )
    .bind(t)
    .execute(&app.pool)
    .await
    .unwrap();
    // A customer writes, a person answers 1 to 240 minutes later, over 90 days (through the
    // triggers, as any write).
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, created_at)
         SELECT $1, c.conversation_id, CASE WHEN k % 2 = 0 THEN 'in' ELSE 'out' END,
                CASE WHEN k % 2 = 0 THEN 'prospect' ELSE 'executive' END, 'mensaje ' || k, 'read',
                now() - (c.conversation_id % 90) * interval '1 day' + (k / 2) * interval '5 hours'
                  + CASE WHEN k % 2 = 1 THEN (1 + (c.conversation_id * 7 + k) % 240) * interval '1 minute' ELSE interval '0' END
         FROM conversations c CROSS JOIN generate_series(0, $2::int - 1) k WHERE c.tenant_id = $1
         ORDER BY 7",
    )
    .bind(t)
    .bind(per as i32)
    .execute(&app.pool)
    .await
    .unwrap();
    // The SQL alternative's best index: everything its query reads, in time order.
    sqlx::raw_sql(
        "CREATE INDEX messages_report_bench ON messages (tenant_id, created_at)
             INCLUDE (kind, direction, report_team_id, report_executive_id, response_secs, first_response);
         ANALYZE prospects; ANALYZE conversations; ANALYZE messages; ANALYZE report_days",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.sync().await;
    let (messages, days): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages WHERE tenant_id = $1), (SELECT count(*) FROM report_days WHERE tenant_id = $1)",
    )
    .bind(t)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(platica_store::reports::counter_differences(&app.pool, w.tenant).await.unwrap(), 0);
    println!(
        "\n{n} conversations, {messages} messages ({days} counter rows), generated and applied in {:.1} s\n",
        started.elapsed().as_secs_f64()
    );

    let roles = [
        ("admin", w.admin, "true".to_owned()),
        ("coordinator (BOOM)", w.coord_boom, format!("m.report_team_id = {}", w.boom.0)),
        ("executive (Ana)", w.exec_ana, format!("m.report_executive_id = {}", w.exec_ana.0)),
    ];
    let iters = 100;
    println!(
        "| role | Platica `GET /reports` (30 days) p50 ms | p99 ms | SQL period from rows p50 ms | p99 ms | SQL live (reference inbox) p50 ms | p99 ms |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for (role, user, visible) in &roles {
        let token = w.token(*user).to_owned();
        let from = (chrono::Utc::now() - chrono::Duration::days(29)).date_naive().to_string();
        let path = format!("/api/v1/reports?from={from}");
        let (p50, p99) = time(iters, || {
            let (app, path, token) = (&app, path.clone(), token.clone());
            async move {
                let r = app.get(&path, &token).await;
                assert_eq!(r.status, 200, "{path}: {:?}", r.body);
            }
        })
        .await;
        let period_sql = format!(
            "SELECT m.report_team_id, m.report_executive_id,
                    count(*) FILTER (WHERE m.direction = 'in'), count(*) FILTER (WHERE m.direction = 'out'),
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY m.response_secs),
                    percentile_disc(0.9) WITHIN GROUP (ORDER BY m.response_secs),
                    percentile_disc(0.5) WITHIN GROUP (ORDER BY CASE WHEN m.first_response THEN m.response_secs END)
               FROM messages m
              WHERE m.tenant_id = $1 AND m.created_at >= $2::date AND m.kind = 'message' AND ({visible})
              GROUP BY 1, 2"
        );
        let (sp50, sp99) = time(iters, || {
            let (pool, sql, from) = (app.pool.clone(), period_sql.clone(), from.clone());
            async move {
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(t).bind(from).fetch_all(&pool).await.unwrap();
            }
        })
        .await;
        let viewer = platica_store::org::auth::authenticate(&app.pool, &token).await.unwrap().unwrap().viewer;
        let (lp50, lp99) = time(iters.min(20), || {
            let (pool, viewer) = (app.pool.clone(), viewer.clone());
            async move {
                platica_store::reports::live_cells(&pool, &viewer, chrono::Utc::now()).await.unwrap();
            }
        })
        .await;
        println!("| {role} | {} | {} | {} | {} | {} | {} |", ms(p50), ms(p99), ms(sp50), ms(sp99), ms(lp50), ms(lp99));
    }

    // A message insert (its own transaction) with the report triggers and without them, in
    // alternating blocks so that both see the same machine.
    let conv: i64 = sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 LIMIT 1")
        .bind(t)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let mut with = Vec::new();
    let mut without = Vec::new();
    for round in 0..10 {
        for (on, out) in [(true, &mut with), (false, &mut without)] {
            let verb = if on { "ENABLE" } else { "DISABLE" };
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER TABLE messages {verb} TRIGGER messages_facts; ALTER TABLE messages {verb} TRIGGER messages_report"
            )))
            .execute(&app.pool)
            .await
            .unwrap();
            for i in 0..100 {
                let (direction, sender) = if i % 2 == 0 { ("in", "prospect") } else { ("out", "executive") };
                let t0 = Instant::now();
                sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status) VALUES ($1, $2, $3, $4, $5, 'sent')")
                    .bind(t)
                    .bind(conv)
                    .bind(direction)
                    .bind(sender)
                    .bind(format!("bench {round} {i}"))
                    .execute(&app.pool)
                    .await
                    .unwrap();
                out.push(t0.elapsed());
            }
        }
    }
    sqlx::raw_sql(
        "ALTER TABLE messages ENABLE TRIGGER messages_facts; ALTER TABLE messages ENABLE TRIGGER messages_report",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    with.sort();
    without.sort();
    let p = crate::search_bench::percentile;
    println!(
        "\nmessage insert (1,000 each, in and out alternating, one transaction each): with the report triggers p50 {} ms p99 {} ms; without p50 {} ms p99 {} ms",
        ms(p(&with, 50.0)),
        ms(p(&with, 99.0)),
        ms(p(&without, 50.0)),
        ms(p(&without, 99.0))
    );
}
