//! The demo: the seeded tenant (shape, logins over HTTP, idempotence, determinism) and the live
//! traffic simulator.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::{Duration, Instant};

use platica_demo::{DemoInfo, SimulatorOptions};
use platica_store::PgPool;
use reqwest::StatusCode;
use support::TestApp;

async fn scalar(pool: &PgPool, sql: &'static str, tenant: i64) -> i64 {
    sqlx::query_scalar(sql).bind(tenant).fetch_one(pool).await.unwrap()
}

/// Row counts of every table of the tenant, to prove a second seed wrote nothing.
async fn table_counts(pool: &PgPool, tenant: i64) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in support::TABLES {
        let sql = format!("SELECT count(*) FROM {table} WHERE tenant_id = $1");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tenant).fetch_one(pool).await.unwrap();
        out.push((*table, n));
    }
    out
}

/// md5 of the tenant's prospects and of its messages, in a stable order and without ids.
async fn fingerprint(pool: &PgPool) -> (String, String) {
    let prospects: Option<String> = sqlx::query_scalar(
        "SELECT md5(string_agg(concat_ws('|', p.name, p.phone, t.name, coalesce(u.email, '-'), p.stage,
                                       extract(epoch FROM p.created_at)::text),
                               E'\\n' ORDER BY p.phone))
         FROM prospects p
         JOIN tenants tn ON tn.tenant_id = p.tenant_id AND tn.slug = 'demo'
         JOIN teams t ON t.tenant_id = p.tenant_id AND t.team_id = p.team_id
         LEFT JOIN users u ON u.tenant_id = p.tenant_id AND u.user_id = p.executive_id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    let messages: Option<String> = sqlx::query_scalar(
        "SELECT md5(string_agg(concat_ws('|', p.phone, c.status, m.direction, m.sender_kind, coalesce(u.email, '-'),
                                       m.body, m.status, coalesce(m.external_id, '-'),
                                       extract(epoch FROM m.created_at)::text,
                                       coalesce(extract(epoch FROM m.read_at)::text, '-')),
                               E'\\n' ORDER BY p.phone, m.created_at, m.message_id))
         FROM messages m
         JOIN tenants tn ON tn.tenant_id = m.tenant_id AND tn.slug = 'demo'
         JOIN conversations c ON c.tenant_id = m.tenant_id AND c.conversation_id = m.conversation_id
         JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
         LEFT JOIN users u ON u.tenant_id = m.tenant_id AND u.user_id = m.sender_user_id",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    (prospects.unwrap(), messages.unwrap())
}

async fn seed_timed(pool: &PgPool) -> DemoInfo {
    let started = Instant::now();
    let info = platica_demo::seed(pool).await.unwrap();
    eprintln!("demo seed took {:.2} s", started.elapsed().as_secs_f64());
    info
}

#[tokio::test]
async fn seed_builds_the_demo_tenant() {
    let _alone = support::exclusive().await;
    let app = TestApp::spawn().await;
    let pool = &app.pool;
    let info = seed_timed(pool).await;
    let t = info.tenant_id.0;

    // The tenant and its shape.
    let (slug, name): (String, String) =
        sqlx::query_as("SELECT slug, name FROM tenants WHERE tenant_id = $1").bind(t).fetch_one(pool).await.unwrap();
    assert_eq!((slug.as_str(), name.as_str()), ("demo", "Platica Demo"));
    assert_eq!(info.tenant_slug, "demo");
    let teams: Vec<String> = sqlx::query_scalar("SELECT name FROM teams WHERE tenant_id = $1 ORDER BY name")
        .bind(t)
        .fetch_all(pool)
        .await
        .unwrap();
    assert_eq!(teams, ["BOOM", "VEN"]);

    // Counts agree with DemoInfo and the targets.
    assert_eq!(scalar(pool, "SELECT count(*) FROM users WHERE tenant_id = $1", t).await, info.users);
    assert_eq!(info.users as usize, info.logins.len());
    assert_eq!(scalar(pool, "SELECT count(*) FROM prospects WHERE tenant_id = $1", t).await, info.prospects);
    assert_eq!(scalar(pool, "SELECT count(*) FROM conversations WHERE tenant_id = $1", t).await, info.conversations);
    assert_eq!(scalar(pool, "SELECT count(*) FROM messages WHERE tenant_id = $1", t).await, info.messages);
    assert_eq!(info.prospects, 3_000);
    assert_eq!(info.conversations, 3_000);
    assert!((57_000..=63_000).contains(&info.messages), "{} messages", info.messages);
    assert!((300..=600).contains(&info.unread_conversations), "{} unread", info.unread_conversations);
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM prospects p WHERE p.tenant_id = $1 AND NOT EXISTS (
                SELECT 1 FROM conversations c WHERE c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id)",
            t
        )
        .await,
        0,
        "every prospect has its conversation"
    );
    assert_eq!(
        scalar(pool, "SELECT count(*) FROM assignment_history WHERE tenant_id = $1 AND kind = 'single'", t).await,
        info.prospects
    );
    assert_eq!(
        scalar(pool, "SELECT count(DISTINCT stage) FROM prospects WHERE tenant_id = $1", t).await,
        6,
        "every stage is used"
    );
    assert!(scalar(pool, "SELECT count(*) FROM conversations WHERE tenant_id = $1 AND status = 'closed'", t).await > 0);
    let outbound = scalar(pool, "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'out'", t).await;
    let delivered = scalar(
        pool,
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'out' AND status IN ('read', 'delivered')",
        t,
    )
    .await;
    assert!(delivered * 10 >= outbound * 9, "{delivered} of {outbound} outbound messages delivered or read");

    // The cast of the original incident.
    assert!(
        scalar(
            pool,
            "SELECT count(*) FROM (SELECT executive_id FROM prospects WHERE tenant_id = $1 AND executive_id IS NOT NULL
                                   GROUP BY executive_id HAVING count(DISTINCT team_id) > 1) x",
            t
        )
        .await
            >= 1,
        "an executive has prospects in both teams"
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(DISTINCT u.user_id) FROM users u
             JOIN prospects p ON p.tenant_id = u.tenant_id AND p.executive_id = u.user_id
             WHERE u.tenant_id = $1 AND u.role = 'executive' AND NOT u.operational",
            t
        )
        .await,
        1,
        "exactly one non-operational executive has prospects"
    );
    assert_eq!(
        scalar(
            pool,
            "SELECT count(*) FROM (SELECT user_id FROM coordinator_teams WHERE tenant_id = $1
                                   GROUP BY user_id HAVING count(*) = 2) x",
            t
        )
        .await,
        1,
        "one coordinator coordinates both teams"
    );
    let app_version: serde_json::Value =
        sqlx::query_scalar("SELECT value FROM system_config WHERE tenant_id = $1 AND key = 'app_version'")
            .bind(t)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(app_version, serde_json::json!({"version": "1.0.0", "force_update": false}));

    // The banner names every login and shows how to use them.
    let banner = info.banner("http://127.0.0.1:8080");
    eprintln!("{banner}");
    for l in &info.logins {
        assert!(banner.contains(&l.email) && banner.contains(&l.password), "{banner}");
    }
    assert!(banner.contains("http://127.0.0.1:8080/api/v1/auth/login"), "{banner}");
    assert!(banner.contains("Bearer"), "{banner}");

    // Every banner login works over HTTP and sees what it should.
    for role in ["admin", "coordinator", "executive"] {
        assert!(info.logins.iter().any(|l| l.role == role), "no {role} login");
    }
    for l in &info.logins {
        let token = app.login("demo", &l.email, &l.password).await;
        let inbox = app.get("/api/v1/conversations?limit=5", &token).await;
        assert_eq!(inbox.status, StatusCode::OK, "{}: {:?}", l.email, inbox.body);
        let total = inbox.body["total"].as_i64().unwrap();
        assert!(total > 0, "{} sees no conversation", l.email);
        assert_eq!(inbox.body["items"].as_array().unwrap().len(), 5);
        let expected: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM prospects p JOIN users u ON u.tenant_id = p.tenant_id AND u.email = $2
             WHERE p.tenant_id = $1 AND CASE u.role
                 WHEN 'admin' THEN true
                 WHEN 'coordinator' THEN p.team_id IN (SELECT team_id FROM coordinator_teams ct
                                                       WHERE ct.tenant_id = u.tenant_id AND ct.user_id = u.user_id)
                 ELSE p.executive_id = u.user_id END",
        )
        .bind(t)
        .bind(&l.email)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(total, expected, "{} ({}) sees {total} conversations", l.email, l.note);
    }

    // Seeding again changes nothing and describes the same tenant.
    let before = table_counts(pool, t).await;
    let started = Instant::now();
    let again = platica_demo::seed(pool).await.unwrap();
    eprintln!("second (idempotent) seed took {:.2} s", started.elapsed().as_secs_f64());
    assert_eq!(again.tenant_id, info.tenant_id);
    assert_eq!((again.prospects, again.messages, again.users), (info.prospects, info.messages, info.users));
    assert_eq!(table_counts(pool, t).await, before);

    // Another database gets exactly the same data.
    let other_url = support::fresh_database().await;
    let other = platica_store::pg::db::connect(&other_url, 4).await.unwrap();
    let other_info = seed_timed(&other).await;
    assert_eq!((other_info.prospects, other_info.messages), (info.prospects, info.messages));
    let mine = fingerprint(pool).await;
    let theirs = fingerprint(&other).await;
    assert_eq!(mine.0, theirs.0, "prospects differ between two seeds");
    assert_eq!(mine.1, theirs.1, "messages differ between two seeds");
    other.close().await;
}

#[tokio::test]
async fn simulator_makes_traffic_and_stops_promptly() {
    let _alone = support::exclusive().await;
    let url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&url, 8).await.unwrap();
    let info = seed_timed(&pool).await;
    let t = info.tenant_id.0;
    let reference = platica_demo::reference();

    // Rate 0: idle, and stops at once.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let idle = tokio::spawn(platica_demo::simulate(
        pool.clone(),
        info.tenant_id,
        SimulatorOptions { events_per_second: 0.0, seed: 7, whatsapp: None },
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop_tx.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(2), idle).await.unwrap().unwrap().unwrap();

    // A busy simulator (executives reply through the demo's number; no sender runs here).
    let key = platica_store::secrets::install(platica_store::secrets::SecretKey::from_bytes([42; 32])).unwrap();
    platica_demo::whatsapp::ensure_account(&pool, key, info.tenant_id, "http://127.0.0.1:9/v21.0").await.unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let sim = tokio::spawn(platica_demo::simulate(
        pool.clone(),
        info.tenant_id,
        SimulatorOptions { events_per_second: 300.0, seed: 7, whatsapp: None },
        stop_rx,
    ));
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop_tx.send(true).unwrap();
    let stopping = Instant::now();
    tokio::time::timeout(Duration::from_secs(2), sim)
        .await
        .expect("the simulator did not stop within 2 s")
        .unwrap()
        .unwrap();
    eprintln!("simulator stopped {} ms after the stop signal", stopping.elapsed().as_millis());

    let count = |sql: &'static str| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).bind(t).bind(reference).fetch_one(&pool).await.unwrap() }
    };
    let inbound = count(
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'in' AND external_id LIKE 'sim-7-%'
           AND created_at > $2",
    )
    .await;
    let replies = count(
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'out' AND sender_kind = 'executive'
           AND created_at > $2",
    )
    .await;
    let progressed = count(
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'out' AND created_at > $2
           AND status <> 'queued'",
    )
    .await;
    let read = count(
        "SELECT count(*) FROM messages WHERE tenant_id = $1 AND direction = 'in' AND read_at > $2
           AND created_at < $2",
    )
    .await;
    let reassigned = count(
        "SELECT count(*) FROM assignment_history WHERE tenant_id = $1 AND from_team_id IS NOT NULL
           AND created_at > $2",
    )
    .await;
    eprintln!(
        "simulated in ~2 s: {inbound} inbound, {replies} replies, {progressed} replies delivered further, \
         {read} older inbound messages read, {reassigned} reassignments"
    );
    assert!(inbound > 0, "no inbound message");
    assert!(replies > 0, "no reply");
    assert!(progressed > 0, "no status change of a reply");
    assert!(read > 0, "no conversation marked read");
    assert!(reassigned > 0, "no reassignment");
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM assignment_history WHERE tenant_id = $1", t).await,
        info.prospects + reassigned
    );
    assert!(
        scalar(
            &pool,
            "SELECT count(*) FROM users u JOIN prospects p ON p.tenant_id = u.tenant_id AND p.executive_id = u.user_id
             WHERE u.tenant_id = $1 AND NOT u.operational",
            t
        )
        .await
            > 0,
        "the non-operational executive keeps prospects (reassignments only go to operational ones)"
    );
    pool.close().await;
}

#[tokio::test]
async fn seed_replaces_a_half_seeded_tenant() {
    // A run stopped after creating the staff and before the bulk transaction committed.
    let url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&url, 4).await.unwrap();
    let tenant = platica_store::org::tenants::create(&pool, "demo", "Platica Demo").await.unwrap();
    platica_store::org::teams::create(&pool, tenant, "BOOM").await.unwrap();

    let info = seed_timed(&pool).await;
    assert_ne!(info.tenant_id, tenant, "the half-seeded tenant was replaced");
    assert_eq!(info.prospects, 3_000);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM tenants WHERE slug = 'demo' AND tenant_id > $1", 0).await, 1);
    assert_eq!(scalar(&pool, "SELECT count(*) FROM teams WHERE tenant_id = $1", info.tenant_id.0).await, 2);
    pool.close().await;
}
