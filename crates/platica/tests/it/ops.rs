//! Operations as an operator meets them: /ready across a PostgreSQL restart, `platica doctor` on
//! a healthy database, a missing publication and wal_level=replica, and a graceful shutdown of the
//! real binary under write load.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

const BIN: &str = env!("CARGO_BIN_EXE_platica");

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("platica-ops-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

async fn doctor(url: &str, extra: &[&str]) -> (Option<i32>, String) {
    let url = url.to_owned();
    let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN).arg("doctor").args(extra).args(["--database-url", &url]).output().unwrap()
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code(), text)
}

fn line<'a>(text: &'a str, check: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(check) || l.contains(&format!("] {check} ")))
        .unwrap_or("")
}

/// On a healthy database with a server streaming: every check passes (exit 0). After
/// `DROP PUBLICATION`, the publication check fails with the SQL that recreates it (exit 1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_database_and_detects_a_missing_publication() {
    let app = support::TestApp::spawn().await;
    let w = support::world(&app, "doc", 2).await;
    let (code, text) = doctor(&app.db_url, &[]).await;
    println!("{text}");
    assert_eq!(code, Some(0), "{text}");
    for check in
        ["wal_level", "publication", "migrations", "replication_slot", "replication_lag", "verify", "scheduler"]
    {
        assert!(line(&text, check).starts_with("[ok"), "{check}: {text}");
    }
    assert!(line(&text, "verify").contains("live inbox equals SQL"), "{text}");

    // A failing job shows up as a warning with the way to read its history.
    let job = app
        .post(
            "/api/v1/jobs",
            w.token(w.admin),
            json!({"name": "idle", "schedule": "0 4 * * *", "kind": "close_idle_conversations"}),
        )
        .await;
    let id = job.body["job_id"].as_i64().unwrap();
    sqlx::query("UPDATE jobs SET args = '{\"days\": 0}' WHERE job_id = $1").bind(id).execute(&app.pool).await.unwrap();
    app.post(&format!("/api/v1/jobs/{id}/run"), w.token(w.admin), json!({})).await;

    sqlx::query("DROP PUBLICATION platica").execute(&app.pool).await.unwrap();
    let (code, text) = doctor(&app.db_url, &["--no-verify"]).await;
    assert_eq!(code, Some(1), "{text}");
    let publication = line(&text, "publication");
    assert!(publication.starts_with("[FAIL]") && publication.contains("does not exist"), "{text}");
    assert!(text.contains("CREATE PUBLICATION platica FOR TABLE"), "the fix is given: {text}");
    let scheduler = line(&text, "scheduler");
    assert!(scheduler.starts_with("[WARN]") && scheduler.contains("doc/idle"), "{text}");
    assert!(text.contains("platica jobs history"), "{text}");

    // Recreated as the fix says: clean again.
    sqlx::query(sqlx::AssertSqlSafe(
        platica_store::pg::publication::create_sql().replace("DROP PUBLICATION IF EXISTS platica; ", ""),
    ))
    .execute(&app.pool)
    .await
    .unwrap();
    let d = platica_store::pg::publication::check(&app.pool).await.unwrap();
    assert!(d.is_clean(), "{d:?}");
    // A table too many is reported too.
    sqlx::query("ALTER PUBLICATION platica ADD TABLE assignment_history").execute(&app.pool).await.unwrap();
    let (code, text) = doctor(&app.db_url, &["--no-verify"]).await;
    assert_eq!(code, Some(1), "{text}");
    assert!(line(&text, "publication").contains("unexpected tables [\"assignment_history\"]"), "{text}");
}

/// A server with wal_level=replica: the doctor fails the check and says how to fix it.
#[tokio::test]
async fn doctor_detects_wal_level_replica() {
    let dir = scratch("replica");
    let mut opts = ClusterOptions::new(&dir, false);
    opts.settings.push("wal_level=replica".into());
    let cluster = tokio::task::spawn_blocking(move || PrivateCluster::start(&opts).unwrap()).await.unwrap();
    let (code, text) = doctor(&cluster.url("postgres"), &[]).await;
    tokio::task::spawn_blocking(move || cluster.stop().unwrap()).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(1), "{text}");
    let wal = line(&text, "wal_level");
    assert!(wal.starts_with("[FAIL]") && wal.contains("wal_level=replica"), "{text}");
    assert!(text.contains("ALTER SYSTEM SET wal_level = logical"), "{text}");
    assert!(line(&text, "migrations").starts_with("[FAIL]"), "a bare server has no migrations: {text}");
}

// ---------------------------------------------------------------------------------------------
// A PostgreSQL of our own that a test can stop and start again on the same port.
// ---------------------------------------------------------------------------------------------

enum Cmd {
    Stop(std::sync::mpsc::Sender<()>),
    Start(std::sync::mpsc::Sender<Result<(), String>>),
}

struct OwnCluster {
    commands: Option<std::sync::mpsc::Sender<Cmd>>,
    thread: Option<std::thread::JoinHandle<()>>,
    admin_url: String,
    url_prefix: String,
    root: PathBuf,
}

impl OwnCluster {
    fn start(root: PathBuf) -> OwnCluster {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (commands, rx) = std::sync::mpsc::channel::<Cmd>();
        let thread_root = root.clone();
        // The server dies with the thread that started it: one thread owns it for the test.
        let thread = std::thread::spawn(move || {
            let mut opts = ClusterOptions::new(thread_root, true);
            let cluster = PrivateCluster::start(&opts).unwrap();
            opts.port = Some(cluster.port());
            ready_tx.send((cluster.url("postgres"), cluster.url(""))).unwrap();
            let mut running = Some(cluster);
            while let Ok(cmd) = rx.recv() {
                match cmd {
                    Cmd::Stop(reply) => {
                        if let Some(c) = running.take() {
                            c.stop().unwrap();
                        }
                        let _ = reply.send(());
                    }
                    Cmd::Start(reply) => {
                        let r = PrivateCluster::start(&opts).map(|c| running = Some(c)).map_err(|e| e.to_string());
                        let _ = reply.send(r);
                    }
                }
            }
            if let Some(c) = running.take() {
                let _ = c.stop();
            }
        });
        let (admin_url, url_prefix) = ready_rx.recv().unwrap();
        OwnCluster { commands: Some(commands), thread: Some(thread), admin_url, url_prefix, root }
    }

    fn stop_server(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.commands.as_ref().unwrap().send(Cmd::Stop(tx)).unwrap();
        rx.recv_timeout(Duration::from_secs(60)).expect("PostgreSQL did not stop within 60 s");
    }

    fn start_server(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.commands.as_ref().unwrap().send(Cmd::Start(tx)).unwrap();
        rx.recv().unwrap().unwrap();
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        drop(self.commands.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

async fn ready(client: &reqwest::Client, base: &str) -> (StatusCode, Value) {
    let r = client.get(format!("{base}/ready")).timeout(Duration::from_secs(10)).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

/// /ready is 200 while PostgreSQL runs, 503 (saying the database is unreachable) while it is
/// stopped, and 200 again once it is back and the live inbox has caught up. /health stays 200.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_turns_false_when_postgres_stops_and_true_after_it_restarts() {
    let root = scratch("ready-pg");
    let r = root.clone();
    let cluster = Arc::new(tokio::task::spawn_blocking(move || OwnCluster::start(r)).await.unwrap());
    platica_store::pg::db::create_database(&cluster.admin_url, "ready", None).await.unwrap();
    let url = format!("{}ready", cluster.url_prefix);
    let pool = platica_store::pg::db::connect(&url, 4).await.unwrap();
    platica_store::pg::db::migrate(&pool).await.unwrap();
    let stop = platica::CancellationToken::new();
    let (live, follower) = platica::start_live(&url, stop.clone()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = platica_http::AppState::new(pool.clone()).with_live(live);
    let s = stop.clone();
    let http = tokio::spawn(async move { platica::serve(listener, state, async move { s.cancelled().await }).await });
    let client = reqwest::Client::new();

    let (status, body) = ready(&client, &base).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["channels"]["ok"], true, "{body}");

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop_server()).await.unwrap();
    let (status, body) = ready(&client, &base).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["ready"], false);
    assert_eq!(body["checks"]["database"]["ok"], false, "{body}");
    let health = client.get(format!("{base}/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the process is alive");

    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.start_server()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let body = loop {
        let (status, body) = ready(&client, &base).await;
        if status == StatusCode::OK {
            break body;
        }
        assert!(Instant::now() < deadline, "not ready 60 s after PostgreSQL came back: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(body["checks"]["live_inbox"]["detail"]["streaming"], true, "{body}");

    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), follower).await;
    let _ = tokio::time::timeout(Duration::from_secs(10), http).await;
    pool.close().await;
    tokio::task::spawn_blocking(move || drop(Arc::try_unwrap(cluster).ok())).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Graceful shutdown of the real binary
// ---------------------------------------------------------------------------------------------

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `platica serve` under continuous writes gets SIGTERM: it stops accepting, answers what it
/// accepted, closes WebSockets with 1001 and a reason, logs the applied LSN and exits 0. Every
/// write that was answered 2xx is in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_under_load_loses_no_accepted_write() {
    let _alone = support::exclusive().await;
    let db_url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&db_url, 4).await.unwrap();
    let tenant = platica_store::org::tenants::create(&pool, "shutdown", "Shutdown").await.unwrap();
    let team = platica_store::org::teams::create(&pool, tenant, "BOOM").await.unwrap().team_id;
    let admin = platica_store::org::users::create(
        &pool,
        tenant,
        &platica_store::org::users::NewUser {
            email: "admin@shutdown.test",
            display_name: "Admin",
            role: platica_domain::Role::Admin,
            operational: true,
            password: support::PASSWORD,
            team_ids: &[],
        },
    )
    .await
    .unwrap();
    let token =
        platica_store::org::auth::create_session(&pool, tenant, platica_domain::UserId(admin.user_id)).await.unwrap().0;
    let mut conversations = Vec::new();
    for i in 0..4 {
        let prospect: i64 = sqlx::query_scalar(
            "INSERT INTO prospects (tenant_id, name, phone, team_id) VALUES ($1, $2, $3, $4) RETURNING prospect_id",
        )
        .bind(tenant.0)
        .bind(format!("P{i}"))
        .bind(format!("+5215500000{i:03}"))
        .bind(team)
        .fetch_one(&pool)
        .await
        .unwrap();
        let conv: i64 = sqlx::query_scalar(
            "INSERT INTO conversations (tenant_id, prospect_id) VALUES ($1, $2) RETURNING conversation_id",
        )
        .bind(tenant.0)
        .bind(prospect)
        .fetch_one(&pool)
        .await
        .unwrap();
        // The prospect wrote: replies are within WhatsApp's 24-hour window.
        sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body) VALUES ($1, $2, 'in', 'prospect', 'hola')")
            .bind(tenant.0)
            .bind(conv)
            .execute(&pool)
            .await
            .unwrap();
        conversations.push(conv);
    }
    // A number to send from, sealed with the key the server gets (its sends go to a closed port
    // and wait for retries: this test is about the writes).
    let key = support::install_test_key();
    let new = platica_store::whatsapp::channels::NewChannelAccount {
        business_account_id: None,
        kind: "cloud".into(),
        display_name: "Ventas".into(),
        phone_number_id: "7700000001".into(),
        app_secret: "s".into(),
        verify_token: "v".into(),
        access_token: "t".into(),
        default_team_id: platica_domain::TeamId(team),
        base_url: Some(format!("http://127.0.0.1:{}/v21.0", free_port())),
        send_rate_per_sec: None,
    };
    platica_store::whatsapp::channels::create(&pool, key, tenant, &new).await.unwrap();

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data_dir = scratch("shutdown");
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &db_url])
        .env("PLATICA_DATA_DIR", &data_dir)
        .env("PLATICA_SECRET_KEY", key.to_base64())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(format!("{base}/ready")).send().await
            && r.status() == StatusCode::OK
        {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not get ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/api/v1/ws?token={token}")).await.unwrap();
    let hello = ws.next().await.unwrap().unwrap();
    assert!(hello.to_text().unwrap().contains("hello"));

    // Writers: each sends messages one after another until the server refuses connections.
    let mut writers = Vec::new();
    for (n, conv) in conversations.iter().copied().enumerate() {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        writers.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            let mut refused = 0;
            for i in 0.. {
                let body = format!("w{n}-{i}");
                let r = client
                    .post(format!("{base}/api/v1/conversations/{conv}/messages"))
                    .bearer_auth(&token)
                    .json(&json!({"body": body}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().is_success() => accepted.push(body),
                    // Not accepted: the client may not assume it was stored.
                    Ok(_) => refused += 1,
                    Err(_) => {
                        refused += 1;
                        if refused > 20 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            accepted
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let pid = child.id().unwrap() as libc::pid_t;
    // SAFETY: kill has no memory-safety preconditions; pid is the child we spawned.
    unsafe { libc::kill(pid, libc::SIGTERM) };

    // The WebSocket is closed with 1001 (going away) and a reason.
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(m) = ws.next().await {
            if let Ok(Message::Close(frame)) = m {
                return frame;
            }
        }
        None
    })
    .await
    .expect("no close frame within 10 s")
    .expect("the connection ended without a close frame");
    assert_eq!(u16::from(close.code), 1001, "{close:?}");
    assert!(!close.reason.is_empty());

    let status =
        tokio::time::timeout(Duration::from_secs(30), child.wait()).await.expect("no exit within 30 s").unwrap();
    let mut stderr = String::new();
    let mut stdout = String::new();
    use tokio::io::AsyncReadExt;
    child.stderr.take().unwrap().read_to_string(&mut stderr).await.unwrap();
    child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
    let logs = format!("{stdout}{stderr}");
    assert!(status.success(), "exit {status}: {logs}");
    assert!(logs.contains("live inbox stopped") && logs.contains("applied_lsn"), "{logs}");

    let mut accepted = Vec::new();
    for w in writers {
        accepted.extend(w.await.unwrap());
    }
    assert!(accepted.len() > 20, "only {} writes accepted before the shutdown", accepted.len());
    let stored: Vec<String> =
        sqlx::query_scalar("SELECT body FROM messages WHERE tenant_id = $1 AND direction = 'out'")
            .bind(tenant.0)
            .fetch_all(&pool)
            .await
            .unwrap();
    let stored: std::collections::HashSet<String> = stored.into_iter().collect();
    let lost: Vec<&String> = accepted.iter().filter(|b| !stored.contains(*b)).collect();
    assert!(lost.is_empty(), "accepted but not stored: {lost:?}");
    println!("{} writes accepted, all stored; {} rows in all", accepted.len(), stored.len());
    let _ = std::fs::remove_dir_all(&data_dir);
}

// ---------------------------------------------------------------------------------------------
// Configuration and structured logs
// ---------------------------------------------------------------------------------------------

/// A bad config file: the binary exits 2 and names every bad value. A good one is used (listen
/// address, database, JSON logs), and JSON log lines of a request carry its request id and the
/// caller's tenant id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_is_validated_and_json_logs_carry_request_and_tenant_ids() {
    let dir = scratch("config");
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = \"1.2.3:80\"\n[log]\nformat = \"xml\"\n[scheduler]\ngrace_minutes = \"an hour\"\n",
    )
    .unwrap();
    let out = Command::new(BIN).args(["serve", "--config", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in
        ["server.listen = '1.2.3:80'", "is not an address", "log.format = 'xml'", "scheduler.grace_minutes = 'an hour'"]
    {
        assert!(stderr.contains(expected), "{expected:?} missing from {stderr}");
    }
    // The environment variable names the file too.
    let out = Command::new(BIN).arg("migrate").env("PLATICA_CONFIG", &bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    let db_url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&db_url, 2).await.unwrap();
    let tenant = platica_store::org::tenants::create(&pool, "logs", "Logs").await.unwrap();
    let admin = platica_store::org::users::create(
        &pool,
        tenant,
        &platica_store::org::users::NewUser {
            email: "admin@logs.test",
            display_name: "Admin",
            role: platica_domain::Role::Admin,
            operational: true,
            password: support::PASSWORD,
            team_ids: &[],
        },
    )
    .await
    .unwrap();
    let token =
        platica_store::org::auth::create_session(&pool, tenant, platica_domain::UserId(admin.user_id)).await.unwrap().0;
    let port = free_port();
    let good = dir.join("platica.toml");
    std::fs::write(
        &good,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[database]\nurl = \"{db_url}\"\ndata_dir = \"{}\"\n\
             [log]\nformat = \"json\"\nfilter = \"info,tower_http=debug\"\n[scheduler]\nenabled = false\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut child = tokio::process::Command::new(BIN)
        .args(["serve", "--config", good.to_str().unwrap()])
        .env_remove("RUST_LOG")
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "the server did not start on the configured address");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = client.get(format!("{base}/api/v1/jobs")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let request_id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
    unsafe { libc::kill(child.id().unwrap() as libc::pid_t, libc::SIGTERM) };
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    use tokio::io::AsyncReadExt;
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();
    let lines: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
    assert!(!lines.is_empty());
    let of_request: Vec<&Value> = lines.iter().filter(|l| l["span"]["request_id"] == request_id.as_str()).collect();
    assert!(!of_request.is_empty(), "no log line of request {request_id}: {stdout}");
    assert!(
        of_request.iter().any(|l| l["span"]["tenant_id"] == tenant.0),
        "the request's lines lack its tenant id: {of_request:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// Two real servers on one database
// ---------------------------------------------------------------------------------------------

/// Two `platica serve` processes on one database (each with its own replication slot) race for
/// every occurrence of a job that runs each minute — at start-up (both catch up the same missed
/// occurrence) and at the next minute boundary: each occurrence runs exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_database_run_each_occurrence_once() {
    let db_url = support::fresh_database().await;
    let pool = platica_store::pg::db::connect(&db_url, 2).await.unwrap();
    let tenant = platica_store::org::tenants::create(&pool, "two", "Two").await.unwrap();
    let job = platica_scheduler::store::create(
        &pool,
        tenant,
        &platica_scheduler::store::NewJob {
            name: "minutely".into(),
            schedule: "* * * * *".into(),
            time_zone: "UTC".into(),
            kind: "purge_expired_sessions".into(),
            args: json!({}),
            active: true,
        },
    )
    .await
    .unwrap();
    // As if scheduled a while ago and every server was down since: both catch up at start-up.
    sqlx::query("UPDATE jobs SET schedule_since = now() - interval '10 minutes' WHERE job_id = $1")
        .bind(job.job_id)
        .execute(&pool)
        .await
        .unwrap();
    let dir = scratch("two");
    let mut servers = Vec::new();
    for name in ["a", "b"] {
        let port = free_port();
        let child = tokio::process::Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &db_url])
            .env("PLATICA_DATA_DIR", dir.join(name))
            .env("PLATICA_DATABASE_REPLICATION_SLOT", format!("two_{name}_{}", std::process::id()))
            .env("PLATICA_SCHEDULER_TICK_MS", "100")
            .env("PLATICA_SCHEDULER_INSTANCE", format!("server-{name}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        servers.push((child, port));
    }
    let client = reqwest::Client::new();
    for (child, port) in &mut servers {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let last = match client.get(format!("http://127.0.0.1:{port}/ready")).send().await {
                Ok(r) if r.status() == StatusCode::OK => break,
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                let _ = child.start_kill();
                let mut stderr = String::new();
                use tokio::io::AsyncReadExt;
                let _ = child.stderr.take().unwrap().read_to_string(&mut stderr).await;
                panic!("server on {port} not ready: {last}\n{stderr}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Past the next minute boundary, with both up.
    let now = chrono::Utc::now();
    let next = chrono::DurationRound::duration_trunc(now, chrono::TimeDelta::minutes(1)).unwrap()
        + chrono::TimeDelta::minutes(1);
    tokio::time::sleep((next - now).to_std().unwrap() + Duration::from_secs(3)).await;
    for (child, _) in &servers {
        // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
        unsafe { libc::kill(child.id().unwrap() as libc::pid_t, libc::SIGTERM) };
    }
    for (child, _) in &mut servers {
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
        assert!(status.success());
    }
    let runs: Vec<(chrono::DateTime<chrono::Utc>, String, String)> = sqlx::query_as(
        "SELECT scheduled_for, status, instance FROM job_runs WHERE tenant_id = $1 AND job_id = $2 ORDER BY 1",
    )
    .bind(tenant.0)
    .bind(job.job_id)
    .fetch_all(&pool)
    .await
    .unwrap();
    println!("runs: {runs:?}");
    assert!(runs.len() >= 2, "the start-up catch-up and the boundary both run: {runs:?}");
    let mut at: Vec<_> = runs.iter().map(|r| r.0).collect();
    at.dedup();
    assert_eq!(at.len(), runs.len(), "an occurrence ran twice: {runs:?}");
    assert!(runs.iter().all(|r| r.1 == "succeeded"), "{runs:?}");
    assert!(at.contains(&next), "the boundary's occurrence ran: {runs:?}");
    // The claim is what makes it once: both servers tried every occurrence (unique violation
    // avoided by ON CONFLICT), and the table cannot hold a second row for one occurrence.
    let dup = sqlx::query(
        "INSERT INTO job_runs (tenant_id, job_id, scheduled_for, trigger, status, instance)
         VALUES ($1, $2, $3, 'schedule', 'running', 'intruder')",
    )
    .bind(tenant.0)
    .bind(job.job_id)
    .bind(next)
    .execute(&pool)
    .await;
    assert!(dup.is_err(), "a second claim of one occurrence was stored");
    let _ = std::fs::remove_dir_all(&dir);
}
