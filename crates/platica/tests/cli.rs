//! The `platica` command as a person runs it: the private cluster (also as a non-root user), and
//! clear refusals of unusable databases.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::PathBuf;
use std::process::Command;

use platica_store::cluster::{ClusterOptions, PrivateCluster};

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
