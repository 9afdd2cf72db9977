//! Channel sessions (accounts of kind `session`) against the simulator's session mode: restore
//! with bounded concurrency, no inbound message lost across a drop or a restart, and a health
//! loop that reconnects only the dead session.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use platica_simulator::{DurRange, SessionConfig, SimAccount, SimConfig, SimHandle, Simulator};
use platica_whatsapp::supervisor::{Supervisor, SupervisorConfig};
use reqwest::StatusCode;
use serde_json::json;
use support::{TestApp, World, until, world};
use tokio::sync::watch;

const TOKEN: &str = "session-token";
const SECRET: &str = "session-secret";

fn pnid(i: usize) -> String {
    format!("20000000000{i:02}")
}

fn config() -> SupervisorConfig {
    SupervisorConfig {
        connect_concurrency: 3,
        first_check: Duration::from_millis(300),
        check_every: Duration::from_millis(300),
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(300),
        poll_wait: Duration::from_millis(500),
        refresh: Duration::from_millis(200),
        ..SupervisorConfig::default()
    }
}

async fn setup(sessions: usize, sim: SimConfig) -> (TestApp, World, SimHandle) {
    support::install_test_key();
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 0).await;
    let sim = Simulator::start(sim).await.unwrap();
    for i in 0..sessions {
        let r = app
            .post(
                "/api/v1/channels",
                w.token(w.admin),
                json!({"kind": "session", "display_name": format!("Sesión {i}"), "phone_number_id": pnid(i),
                       "app_secret": SECRET, "verify_token": "v", "access_token": TOKEN,
                       "default_team_id": w.boom.0, "base_url": sim.base_url()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        sim.add_account(SimAccount {
            phone_number_id: pnid(i),
            display_phone_number: format!("+52 55 0000 00{i:02}"),
            access_token: TOKEN.into(),
            app_secret: SECRET.into(),
            webhook_url: app.url("/api/v1/whatsapp/webhook"),
            session_mode: true,
        });
    }
    (app, w, sim)
}

fn start(app: &TestApp, stop: &watch::Sender<bool>) -> Supervisor {
    Supervisor::start(app.pool.clone(), support::install_test_key(), config(), None, stop.subscribe()).unwrap()
}

async fn states(app: &TestApp, w: &World) -> Vec<String> {
    sqlx::query_scalar("SELECT state FROM channel_sessions WHERE tenant_id = $1 ORDER BY channel_account_id")
        .bind(w.tenant.0)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

async fn stored_bodies(app: &TestApp, w: &World) -> Vec<String> {
    sqlx::query_scalar("SELECT body FROM messages WHERE tenant_id = $1 AND direction = 'in' ORDER BY message_id")
        .bind(w.tenant.0)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

fn connects(sim: &SimHandle) -> Vec<u64> {
    let stats = sim.stats();
    stats.sessions.values().map(|s| s.connects).collect()
}

#[tokio::test]
async fn restore_connects_every_session_never_more_than_the_limit_at_once() {
    let sim_config = SimConfig {
        session: SessionConfig { connect_delay: Some(DurRange::millis(150, 250)), ..SessionConfig::default() },
        ..SimConfig::default()
    };
    let (app, w, sim) = setup(12, sim_config).await;
    let stop = watch::channel(false).0;
    let supervisor = start(&app, &stop);
    until(30, "every session connected", || async {
        let s = states(&app, &w).await;
        (s.len() == 12 && s.iter().all(|s| s == "connected")).then_some(())
    })
    .await;
    let stats = sim.stats();
    assert!(stats.max_connects_in_flight <= 3, "{} connects at once, limit 3", stats.max_connects_in_flight);
    assert!(stats.max_connects_in_flight >= 2, "restore ran one at a time: {}", stats.max_connects_in_flight);
    assert_eq!(connects(&sim), vec![1; 12]);
    // The state is visible to admins.
    let list = app.get("/api/v1/channels", w.token(w.admin)).await;
    assert!(list.body.as_array().unwrap().iter().all(|a| a["session_state"] == "connected"), "{:?}", list.body);
    assert_eq!(supervisor.statuses().await.len(), 12);
    assert_eq!(supervisor.view().states().get("connected"), Some(&12));
    assert!(supervisor.view().open_circuits().is_empty());
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), supervisor.finished()).await.unwrap();
    assert!(states(&app, &w).await.iter().all(|s| s == "stopped"));
}

#[tokio::test]
async fn no_inbound_message_is_lost_across_a_drop_or_a_restart() {
    let (app, w, sim) = setup(1, SimConfig::default()).await;
    let stop = watch::channel(false).0;
    let supervisor = start(&app, &stop);
    let p = pnid(0);
    until(10, "connected", || async { (states(&app, &w).await == ["connected"]).then_some(()) }).await;
    sim.inbound_text(&p, "+5215511110001", "Rosa Méndez", "uno").unwrap();
    until(10, "the first message", || async { (stored_bodies(&app, &w).await.len() == 1).then_some(()) }).await;

    // The session drops; two messages arrive meanwhile and wait at the source.
    assert!(sim.drop_session(&p));
    sim.inbound_text(&p, "+5215511110001", "Rosa Méndez", "dos").unwrap();
    sim.inbound_text(&p, "+5215511110002", "Iván Cruz", "tres").unwrap();
    until(10, "the messages of the drop", || async {
        (stored_bodies(&app, &w).await == ["uno", "dos", "tres"]).then_some(())
    })
    .await;
    assert_eq!(connects(&sim), [2], "reconnected once");

    // Platica stops; a message arrives; Platica starts again and reads on from its cursor.
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), supervisor.finished()).await.unwrap();
    sim.inbound_text(&p, "+5215511110002", "Iván Cruz", "cuatro").unwrap();
    let stop = watch::channel(false).0;
    let _supervisor = start(&app, &stop);
    until(10, "the message sent while Platica was down", || async {
        (stored_bodies(&app, &w).await == ["uno", "dos", "tres", "cuatro"]).then_some(())
    })
    .await;
    // Nothing twice, and a new prospect per new number.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stored_bodies(&app, &w).await.len(), 4);
    let prospects: i64 = sqlx::query_scalar("SELECT count(*) FROM prospects WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(prospects, 2);
    let cursor: i64 = sqlx::query_scalar("SELECT cursor FROM channel_sessions WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(cursor, 4);
    assert_eq!(sim.stats().sessions[&p].buffered, 0, "everything stored was acknowledged");
}

#[tokio::test]
async fn the_health_loop_checks_every_session_and_reconnects_only_the_dead_one() {
    let (app, w, sim) = setup(3, SimConfig::default()).await;
    let stop = watch::channel(false).0;
    let _supervisor = start(&app, &stop);
    until(10, "three sessions connected", || async {
        (states(&app, &w).await == ["connected", "connected", "connected"]).then_some(())
    })
    .await;
    // Several health checks pass: all healthy, nobody reconnects.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(connects(&sim), [1, 1, 1]);
    let checked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM channel_sessions WHERE tenant_id = $1 AND last_checked_at > now() - interval '1 second'",
    )
    .bind(w.tenant.0)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(checked, 3, "every session was checked");

    assert!(sim.drop_session(&pnid(1)));
    until(10, "the dead session back", || async { (connects(&sim) == [1, 2, 1]).then_some(()) }).await;
    until(10, "all connected again", || async {
        (states(&app, &w).await == ["connected", "connected", "connected"]).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(connects(&sim), [1, 2, 1], "only the dead session reconnected");
    // And it still carries messages.
    sim.inbound_text(&pnid(1), "+5215511119999", "Sara Lima", "¿siguen ahí?").unwrap();
    until(10, "a message through the reconnected session", || async {
        (stored_bodies(&app, &w).await == ["¿siguen ahí?"]).then_some(())
    })
    .await;
}
