//! The browser client, static/platica-client.js, against the real server: the server serves it,
//! and its Node tests (tests/js/client.test.mjs, run with `node --test` and the `ws` package)
//! pass against an app of the harness; the web app's pure modules pass theirs (tests/web). Needs
//! Node.js >= 20 and `npm ci` at the repository root.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use support::{TestApp, world};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Fails (never skips) when Node.js or the `ws` package is missing, saying what to run.
fn require_node(root: &Path) {
    let version = std::process::Command::new("node").arg("--version").output().ok().filter(|o| o.status.success());
    let Some(version) = version else {
        panic!(
            "`node` is missing: install Node.js >= 20 and npm (Debian 13: apt-get install nodejs npm; Debian 12: \
             Node 20 from deb.nodesource.com), then run `npm ci` in {}",
            root.display()
        );
    };
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(major >= 20, "node {version} is too old: the JS client tests need Node.js >= 20");
    assert!(
        root.join("node_modules/ws/package.json").is_file(),
        "node_modules/ws is missing: run `npm ci` in {} (scripts/test does it)",
        root.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_js_client_passes_its_tests_against_the_server() {
    let root = repo_root();
    require_node(&root);
    let app = TestApp::spawn().await;
    let w = world(&app, "js", 2).await;
    support::sending_channel(&app, &w).await;

    // The server serves the client it was built with.
    let r = app.client.get(app.url("/static/platica-client.js")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("max-age"));
    let served = r.text().await.unwrap();
    assert_eq!(served, std::fs::read_to_string(root.join("static/platica-client.js")).unwrap());

    let mut node = tokio::process::Command::new("node");
    node.args(["--test", "--test-reporter=spec", "tests/js/client.test.mjs"])
        .current_dir(&root)
        .env("PLATICA_URL", app.url(""))
        .env("PLATICA_ADMIN_TOKEN", w.token(w.admin))
        .env("PLATICA_ANA_TOKEN", w.token(w.exec_ana))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), node.output())
        .await
        .expect("the JS tests did not finish within 120 s")
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");
    assert!(out.status.success(), "the JS client tests failed ({}):\n{report}", out.status);
}

/// The web app's pure modules (the inbox's ordering and buffering, the translation tables) pass
/// their `node:test` tests in tests/web. They need no server and no packages.
#[test]
fn the_web_apps_pure_modules_pass_their_node_tests() {
    let root = repo_root();
    require_node(&root);
    let out = std::process::Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/web/"])
        .current_dir(&root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{report}");
    assert!(out.status.success(), "the web app's node tests failed ({}):\n{report}", out.status);
    assert!(report.contains("inbox-list") || report.contains("upsert"), "the inbox tests ran:\n{report}");
}
