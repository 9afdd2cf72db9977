//! The `platica` command as a person runs it: the private cluster (also as a non-root user), and
//! clear refusals of unusable databases.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::PathBuf;
use std::process::Command;

use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};

const BIN: &str = env!("CARGO_BIN_EXE_platica");

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("platica-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `platica migrate` with no DATABASE_URL creates the private cluster, migrates and stops it. As
/// root this runs the server as `postgres`; here we also run the whole command as a non-root user
/// (the `postgres` account), so both paths of the cluster code are exercised.
#[test]
fn migrate_runs_a_private_cluster_and_stops_it() {
    let runs: Vec<(&str, Vec<&str>)> = if is_root() && Command::new("runuser").arg("--help").output().is_ok() {
        vec![("root", vec![]), ("nonroot", vec!["runuser", "-u", "postgres", "--"])]
    } else {
        vec![("self", vec![])]
    };
    for (label, prefix) in runs {
        let dir = scratch(label);
        std::fs::create_dir_all(&dir).unwrap();
        if label == "nonroot" {
            Command::new("chown").arg("postgres:").arg(&dir).status().unwrap();
        }
        let data_dir = dir.join("data");
        let mut argv: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        argv.extend([BIN.to_owned(), "migrate".into(), "--data-dir".into(), data_dir.display().to_string()]);
        for attempt in 0..2 {
            // Twice: the second run reuses the initialised cluster.
            let out = Command::new(&argv[0]).args(&argv[1..]).env_remove("DATABASE_URL").output().unwrap();
            assert!(
                out.status.success(),
                "{label} run {attempt}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(data_dir.join("pg/PG_VERSION").is_file());
            assert!(!data_dir.join("pg/postmaster.pid").exists(), "{label}: the server was not stopped");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn refuses_a_server_without_logical_wal() {
    let dir = scratch("replica");
    let mut opts = ClusterOptions::new(&dir, false);
    opts.settings.push("wal_level=replica".into());
    let cluster = PrivateCluster::start(&opts).unwrap();
    let out = Command::new(BIN).args(["migrate", "--database-url", &cluster.url("postgres")]).output().unwrap();
    cluster.stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("wal_level=replica") && stderr.contains("wal_level=logical"), "{stderr}");
}

#[test]
fn refuses_a_malformed_database_url_clearly() {
    let out = Command::new(BIN).args(["migrate", "--database-url", "not a url"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not a valid PostgreSQL URL"), "{stderr}");
}

#[test]
fn refuses_bad_arguments_clearly() {
    let out = Command::new(BIN).args(["demo", "--rate", "-3"]).output().unwrap();
    assert!(!out.status.success());
    let out = Command::new(BIN).args(["serve", "--listen", "nowhere"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--listen"));
}

/// `platica verify` on a database with data and with writes going on: clean, exit 0, and no slot
/// left behind.
#[tokio::test]
async fn verify_is_clean_and_leaves_no_slot() {
    let app = support::TestApp::spawn().await;
    support::world(&app, "cli", 2).await;
    let url = app.db_url.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(BIN).args(["verify", "--follow", "0.3", "--database-url", &url]).output().unwrap()
    });
    // Writes while it follows the stream.
    for i in 0..20 {
        sqlx::query(
            "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
             SELECT tenant_id, conversation_id, 'in', 'prospect', $1, 'delivered' FROM conversations ORDER BY 2 LIMIT 1",
        )
        .bind(format!("mensaje {i}"))
        .execute(&app.pool)
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let out = out.await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("clean"), "{stdout}");
    let slots: Vec<String> =
        sqlx::query_scalar("SELECT slot_name::text FROM pg_replication_slots WHERE slot_name LIKE '%verify%'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert!(slots.is_empty(), "left behind: {slots:?}");
}

// ---------------------------------------------------------------------------------------------
// A server running on a data directory, and everything else beside it.

/// `platica serve` in a child process on its own data directory and port.
struct Server {
    child: std::process::Child,
    data: PathBuf,
    addr: std::net::SocketAddr,
    log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn platica(data: &std::path::Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir")
        .arg(data)
        .env_remove("DATABASE_URL")
        .env_remove("PLATICA_CONFIG")
        .env_remove("PLATICA_LISTEN")
        .env_remove("RUST_LOG");
    cmd
}

impl Server {
    /// Starts `serve` and waits until it announces itself in `server.json`.
    fn start(data: &std::path::Path, log_name: &str) -> Server {
        Self::start_with(data, log_name, &["serve"])
    }

    /// `platica <command>` (serve or demo, with its arguments) on a free port.
    fn start_with(data: &std::path::Path, log_name: &str, command: &[&str]) -> Server {
        std::fs::create_dir_all(data).unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let log = data.parent().unwrap().join(log_name);
        let out = std::fs::File::create(&log).unwrap();
        let child = platica(data)
            .args(command)
            .args(["--listen", &addr.to_string()])
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let mut server = Server { child, data: data.to_owned(), addr, log };
        let started = std::time::Instant::now();
        // (A crashed server's file may still be there: wait for this one's.)
        let mine = format!("\"pid\":{}", server.child.id());
        while !std::fs::read_to_string(data.join("server.json")).is_ok_and(|t| t.contains(&mine)) {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("serve exited ({status}):\n{}", server.log_text());
            }
            assert!(started.elapsed().as_secs() < 120, "serve did not come up:\n{}", server.log_text());
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        server
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn postmaster_pid(&self) -> i32 {
        let text = std::fs::read_to_string(self.data.join("pg/postmaster.pid")).unwrap();
        text.lines().next().unwrap().trim().parse().unwrap()
    }

    /// SIGTERM (a clean stop), then waits; returns whether it exited successfully.
    fn stop(mut self) -> (bool, String) {
        // SAFETY: the pid is our own child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = wait_child(&mut self.child, 90);
        (status, self.log_text())
    }

    /// SIGKILL: a crash.
    fn crash(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

fn wait_child(child: &mut std::process::Child, secs: u64) -> bool {
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.success();
        }
        assert!(started.elapsed().as_secs() < secs, "the process did not exit within {secs} s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn alive(pid: i32) -> bool {
    // A zombie is not running; anything else under /proc is.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'))
}

fn wait_dead(pid: i32, secs: u64) -> bool {
    let started = std::time::Instant::now();
    while alive(pid) {
        if started.elapsed().as_secs() >= secs {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    true
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every command works beside a running `serve` on the same data directory: it uses the running
/// cluster (never a second one), `verify` checks the server's own engine through `server.json`,
/// and the server stops its cluster and removes `server.json` on a clean exit.
#[test]
fn commands_work_beside_a_running_server() {
    let dir = scratch("beside");
    let data = dir.join("data");
    let server = Server::start(&data, "serve.log");
    let meta = std::fs::metadata(data.join("server.json")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600,
        "server.json holds a token"
    );
    let postmaster = server.postmaster_pid();

    for args in [
        vec!["migrate"],
        vec!["tenant", "create", "beside", "--name", "Beside SA", "--admin-email", "ana@beside.test"],
        vec!["tenant", "list"],
        vec!["jobs", "recommended", "--tenant", "beside"],
        vec!["jobs", "list"],
        vec!["release-web", "2.0.0"],
        vec!["doctor"],
    ] {
        let (ok, stdout, stderr) = run(platica(&data).args(&args));
        assert!(ok, "{args:?} beside the server:\n{stdout}\n{stderr}\nserver:\n{}", server.log_text());
        let all = format!("{stdout}{stderr}");
        assert!(!all.contains("starting the private PostgreSQL cluster"), "{args:?} started a cluster: {all}");
        assert!(all.contains("already running on this data directory") || args[0] == "doctor", "{args:?}: {all}");
        if args[0] == "doctor" {
            assert!(stdout.contains("the running server's live inbox equals SQL"), "{stdout}");
        }
    }
    let (ok, stdout, stderr) = run(platica(&data).args(["verify", "--timeout", "60"]));
    assert!(ok, "verify:\n{stdout}\n{stderr}\nserver:\n{}", server.log_text());
    assert!(stdout.contains("running server's own engine") && stdout.contains("clean"), "{stdout}");
    assert_eq!(server.postmaster_pid(), postmaster, "the server's cluster was restarted");

    // The ops route needs the token.
    let (_, status, _) = run(Command::new("curl").args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("http://{}/ops/verify", server.addr),
        "-H",
        "Authorization: Bearer wrong",
    ]));
    assert_eq!(status, "401");

    let (ok, log) = server.stop();
    assert!(ok, "serve did not exit cleanly:\n{log}");
    assert!(!data.join("server.json").exists(), "server.json left behind");
    assert!(!data.join("pg/postmaster.pid").exists(), "the cluster was not stopped:\n{log}");
    assert!(wait_dead(postmaster, 10));

    // Without a server, verify says so and checks an engine of its own.
    let (ok, stdout, stderr) = run(platica(&data).args(["verify", "--follow", "0.2"]));
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("no Platica server runs") && stdout.contains("clean"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A second server on the same data directory is refused with a clear message (it would share,
/// and then stop, the first one's cluster).
#[test]
fn a_second_server_on_one_data_directory_is_refused() {
    let dir = scratch("second");
    let data = dir.join("data");
    let server = Server::start(&data, "serve.log");
    let (ok, _, stderr) = run(platica(&data).args(["serve", "--listen", &format!("127.0.0.1:{}", free_port())]));
    assert!(!ok);
    assert!(stderr.contains("another Platica server"), "{stderr}");
    let (ok, log) = server.stop();
    assert!(ok, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// After a crash the next start works: first a crash of Platica alone (its cluster is still
/// shutting down when the next start comes), then a crash of everything with the pid in
/// `postmaster.pid` reused by another program.
#[test]
fn a_crash_leaves_nothing_in_the_way() {
    let dir = scratch("crash");
    let data = dir.join("data");
    let server = Server::start(&data, "serve1.log");
    server.crash();
    let server = Server::start(&data, "serve2.log");

    // Everything dies (the postmaster first, so it has no time to remove its pid file); the pid
    // file stays, and its pid now belongs to someone else.
    let postmaster = server.postmaster_pid();
    // SAFETY: a plain signal to the cluster's postmaster.
    unsafe { libc::kill(postmaster, libc::SIGKILL) };
    assert!(wait_dead(postmaster, 10));
    server.crash();
    // Its backends notice the postmaster's death and exit.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let mut squatter = Command::new("sleep").arg("60").spawn().unwrap();
    let pid_file = data.join("pg/postmaster.pid");
    let text = std::fs::read_to_string(&pid_file).expect("a crash leaves the pid file");
    let rest: Vec<&str> = text.lines().skip(1).collect();
    std::fs::write(&pid_file, format!("{}\n{}\n", squatter.id(), rest.join("\n"))).unwrap();
    // The crashed server's server.json names the same reused pid: no live server.
    let server_json = std::fs::read_to_string(data.join("server.json")).expect("a crash leaves server.json");
    let v: serde_json::Value = serde_json::from_str(&server_json).unwrap();
    let reused = server_json.replace(&format!("\"pid\":{}", v["pid"]), &format!("\"pid\":{}", squatter.id()));
    std::fs::write(data.join("server.json"), reused).unwrap();

    let server = Server::start(&data, "serve3.log");
    assert!(server.log_text().contains("stale postmaster.pid"), "{}", server.log_text());
    let (ok, log) = server.stop();
    assert!(ok, "{log}");
    assert!(!pid_file.exists());
    squatter.kill().unwrap();
    squatter.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// `pg_ctl restart` replaces the server's postmaster with one that is not its child: Platica
/// still stops it on exit; and a cluster left running by a crash is adopted by the next server
/// (and stopped by it).
#[test]
fn a_restarted_cluster_is_still_stopped_and_an_orphan_is_adopted() {
    let dir = scratch("restart");
    let data = dir.join("data");
    let pg_ctl = |action: &str| {
        let mut argv: Vec<String> = Vec::new();
        if is_root() {
            argv.extend(["runuser", "-u", "postgres", "--"].map(String::from));
        }
        argv.extend(["pg_ctl", action, "-D"].map(String::from));
        argv.push(data.join("pg").display().to_string());
        argv.extend(["-m", "fast", "-w", "-l", "/dev/null"].map(String::from));
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        assert!(out.status.success(), "pg_ctl {action}: {}", String::from_utf8_lossy(&out.stderr));
    };

    let server = Server::start(&data, "serve1.log");
    let first = server.postmaster_pid();
    pg_ctl("restart");
    let second = server.postmaster_pid();
    assert_ne!(first, second);
    let (_, log) = server.stop();
    assert!(wait_dead(second, 10), "the restarted cluster was left running:\n{log}");
    assert!(!data.join("pg/postmaster.pid").exists(), "{log}");

    // A crash after a restart leaves the cluster running: the next server adopts it.
    let server = Server::start(&data, "serve2.log");
    pg_ctl("restart");
    let orphan = server.postmaster_pid();
    server.crash();
    assert!(alive(orphan));
    let server = Server::start(&data, "serve3.log");
    assert_eq!(server.postmaster_pid(), orphan);
    assert!(server.log_text().contains("adopt"), "{}", server.log_text());
    let (ok, log) = server.stop();
    assert!(ok, "{log}");
    assert!(wait_dead(orphan, 10), "the adopted cluster was left running:\n{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `platica tenant create` makes a tenant whose admin signs in with the printed one-time
/// password; duplicates and bad slugs are refused clearly; `tenant list` shows it.
#[tokio::test]
async fn tenant_create_and_list() {
    let app = support::TestApp::spawn().await;
    let url = app.db_url.clone();
    let tenant = move |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["tenant"]).args(args).args(["--database-url", &url]);
        run(&mut cmd)
    };
    let t = tenant.clone();
    let (ok, stdout, stderr) = tokio::task::spawn_blocking(move || {
        t(&["create", "acme-sales", "--name", "Acme Sales", "--admin-email", "Ana@Acme.test"])
    })
    .await
    .unwrap();
    assert!(ok, "{stdout}\n{stderr}");
    let password = stdout
        .lines()
        .find_map(|l| l.strip_prefix("one-time password for ana@acme.test: "))
        .unwrap_or_else(|| panic!("no password printed: {stdout}"))
        .trim()
        .to_owned();
    assert!(password.len() >= 16, "{password}");
    let token = app.login("acme-sales", "ana@acme.test", &password).await;
    let me = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.status, reqwest::StatusCode::OK, "{:?}", me.body);

    let t = tenant.clone();
    let (dup, bad, upper, list) = tokio::task::spawn_blocking(move || {
        (
            t(&["create", "acme-sales", "--name", "Otra", "--admin-email", "b@acme.test"]),
            t(&["create", "acme sales!", "--name", "X", "--admin-email", "c@acme.test"]),
            t(&["create", "Acme", "--name", "X", "--admin-email", "c@acme.test"]),
            t(&["list"]),
        )
    })
    .await
    .unwrap();
    assert!(!dup.0 && dup.2.contains("already exists"), "{dup:?}");
    assert!(!bad.0 && bad.2.contains("slug") && bad.2.contains("lower-case"), "{bad:?}");
    assert!(!upper.0 && upper.2.contains("slug"), "{upper:?}");
    assert!(list.0 && list.1.contains("acme-sales") && list.1.contains("Acme Sales"), "{list:?}");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM tenants").fetch_one(&app.pool).await.unwrap();
    assert_eq!(n, 1, "refused creations left nothing behind");
}

/// Concurrent `GET /admin/verify` calls each get their own report (a second call used to replace
/// the first one's pending comparison, which then failed).
#[tokio::test]
async fn concurrent_verifications_do_not_interfere() {
    let app = support::TestApp::spawn_configured(|s| s.ops_token = Some("sesame".into())).await;
    let w = support::world(&app, "conc", 2).await;
    let token = w.token(w.admin).to_owned();
    let calls = (0..6).map(|_| app.get("/api/v1/admin/verify", &token));
    for r in futures_util::future::join_all(calls).await {
        assert_eq!(r.status, reqwest::StatusCode::OK, "{:?}", r.body);
        assert_eq!(r.body["clean"], true, "{:?}", r.body);
    }
    // The ops route (all tenants) takes its turn with them too, and needs the token.
    let ops = |token: &'static str| app.client.get(app.url("/ops/verify")).bearer_auth(token).send();
    let (a, b, c) = tokio::join!(ops("sesame"), ops("sesame"), ops("wrong"));
    for r in [a.unwrap(), b.unwrap()] {
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["clean"], true, "{body}");
        assert!(body["conversations"].as_u64().unwrap() > 0, "{body}");
    }
    assert_eq!(c.unwrap().status(), reqwest::StatusCode::UNAUTHORIZED);
}

/// Newcomer papercuts: `--help` shows no empty `[env: X=]`, `jobs create --help` lists every job
/// kind, and nothing writes colour codes when its output is not a terminal.
#[test]
fn help_and_output_are_plain() {
    for args in [vec!["--help"], vec!["serve", "--help"], vec!["demo", "--help"], vec!["verify", "--help"]] {
        let (ok, stdout, stderr) = run(Command::new(BIN).args(&args).env_remove("PLATICA_DATA_DIR"));
        assert!(ok, "{args:?}: {stderr}");
        assert!(!stdout.contains("=]"), "{args:?} shows an empty env value:\n{stdout}");
    }
    let (ok, stdout, _) = run(Command::new(BIN).args(["jobs", "create", "--help"]));
    assert!(ok);
    for kind in platica_scheduler::kinds::REGISTRY {
        assert!(stdout.contains(kind.name()), "jobs create --help does not list {}:\n{stdout}", kind.name());
    }
    let (ok, _, stderr) = run(Command::new(BIN).args(["jobs", "create", "--tenant", "t", "n", "0 3 * * *", "nope"]));
    assert!(!ok && stderr.contains("close_idle_conversations"), "{stderr}");

    // Logs through a pipe: no escape codes.
    let out =
        Command::new(BIN).args(["migrate", "--database-url", "postgres://nobody@127.0.0.1:1/x"]).output().unwrap();
    let all = [out.stdout, out.stderr].concat();
    assert!(!all.contains(&0x1b), "escape codes in piped output: {}", String::from_utf8_lossy(&all));
}

/// Doctor's suggested commands name the real slot, ready to paste.
#[tokio::test]
async fn doctor_fixes_name_the_real_slot() {
    let url = support::fresh_database().await;
    let slot = platica::slot_name(&url);
    let pool = platica_store::pg::db::connect(&url, 1).await.unwrap();
    sqlx::query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')").bind(&slot).execute(&pool).await.unwrap();
    let u = url.clone();
    let (_, stdout, stderr) = tokio::task::spawn_blocking(move || {
        run(Command::new(BIN).args(["doctor", "--no-verify", "--database-url", &u]))
    })
    .await
    .unwrap();
    sqlx::query("SELECT pg_drop_replication_slot($1)").bind(&slot).execute(&pool).await.unwrap();
    assert!(stdout.contains(&format!("SELECT pg_drop_replication_slot('{slot}')")), "{stdout}\n{stderr}");
    assert!(!stdout.contains("<name>"), "{stdout}");
}

/// `demo --rate 0` means no simulated traffic at all: no message is added while it runs.
#[tokio::test(flavor = "multi_thread")]
async fn demo_at_rate_zero_is_quiet() {
    let dir = scratch("quiet");
    let data = dir.join("data");
    let d = data.clone();
    let server = tokio::task::spawn_blocking(move || Server::start_with(&d, "demo.log", &["demo", "--rate", "0"]))
        .await
        .unwrap();
    let cluster = platica_store::pg::cluster::RunningCluster::find(&data).expect("the demo's cluster runs");
    let pool = platica_store::pg::db::connect(&cluster.url("platica"), 1).await.unwrap();
    let count =
        || async { sqlx::query_scalar::<_, i64>("SELECT count(*) FROM messages").fetch_one(&pool).await.unwrap() };
    let before = count().await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let after = count().await;
    pool.close().await;
    let (ok, log) = tokio::task::spawn_blocking(move || server.stop()).await.unwrap();
    assert!(ok, "{log}");
    assert_eq!(before, after, "messages were added at --rate 0:\n{log}");
    assert!(!log.contains("webhook ingested"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server started while a command runs the private cluster (it started it, and it stops with
/// it) waits for the command instead of adopting a cluster about to go away.
#[test]
fn a_server_waits_for_a_command_that_owns_the_cluster() {
    let dir = scratch("owner");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let verify = platica(&data)
        .args(["verify", "--follow", "5"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !std::fs::read_to_string(data.join("pg/postmaster.pid")).is_ok_and(|t| t.contains("ready")) {
        assert!(started.elapsed().as_secs() < 60, "verify's cluster did not come up");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let server = Server::start(&data, "serve.log");
    let out = verify.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(server.log_text().contains("waiting for it to finish"), "{}", server.log_text());
    let postmaster = server.postmaster_pid();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(alive(postmaster), "the server's cluster went away with the command:\n{}", server.log_text());
    let (ok, log) = server.stop();
    assert!(ok, "{log}");
    assert!(wait_dead(postmaster, 10));
    let _ = std::fs::remove_dir_all(&dir);
}
