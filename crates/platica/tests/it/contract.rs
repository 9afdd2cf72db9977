//! The API keeps the contract its OpenAPI document states: a property-based fuzzer (schemathesis)
//! generates requests from `/api/v1/openapi.json` (valid ones and invalid ones) and checks every
//! answer: no server error, no status the document does not list for the operation, a body of the
//! documented content type matching the documented schema. It runs as an admin and as an
//! executive of a seeded tenant, with a fixed seed and a bounded number of examples per operation.
//!
//! Needs schemathesis in a virtualenv (`ensure_schemathesis` of scripts/prereqs.sh, which
//! scripts/test runs, installs it at `$CARGO_TARGET_DIR/schemathesis-venv`, else
//! `target/schemathesis-venv`; or set `SCHEMATHESIS` to its executable). Fails, never skips, when
//! it is missing. A failed run leaves its JUnit report in the temporary directory it names.
//!
//! Left out: `POST /auth/logout`, which would end the fuzzer's own session, so every later request
//! would only test the 401 path. (Password changes cannot log the fuzzer out: the fuzzing admin's
//! id is far from any id the fuzzer tries, and the executive may not change users.)
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::PathBuf;
use std::process::Stdio;

use platica_domain::Role;
use serde_json::json;
use support::TestApp;

/// Test cases per operation and phase: about 90 operations, so a few thousand requests per role.
/// `PLATICA_CONTRACT_EXAMPLES` and `PLATICA_CONTRACT_SEED` change them for a longer hunt.
const MAX_EXAMPLES: &str = "20";
const SEED: &str = "16";

fn setting(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
}

fn schemathesis() -> PathBuf {
    if let Some(p) = std::env::var_os("SCHEMATHESIS") {
        return PathBuf::from(p);
    }
    // target/debug/deps/it-<hash>: the target directory (`$CARGO_TARGET_DIR`, wherever it
    // is) is three levels up.
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).map(PathBuf::from).unwrap_or_else(|| PathBuf::from("target"));
    target.join("schemathesis-venv/bin/schemathesis")
}

/// Runs the fuzzer against the app as the holder of `token`; returns whether it passed and its
/// output.
async fn fuzz(app: &TestApp, who: &str, token: &str) -> (bool, String) {
    let st = schemathesis();
    assert!(
        st.is_file(),
        "{} is missing: run `. scripts/prereqs.sh && ensure_schemathesis` (scripts/test does), or set SCHEMATHESIS",
        st.display()
    );
    let report = std::env::temp_dir().join(format!("platica-contract-{}-{who}", std::process::id()));
    std::fs::create_dir_all(&report).unwrap();
    let out = tokio::process::Command::new(&st)
        // Its cache of past crashes goes there too, not into the source tree.
        .current_dir(&report)
        .arg("run")
        .arg(app.url("/api/v1/openapi.json"))
        .args(["--url", &app.url("")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &setting("PLATICA_CONTRACT_EXAMPLES", MAX_EXAMPLES)])
        .args(["--seed", &setting("PLATICA_CONTRACT_SEED", SEED)])
        // One worker: hypothesis on Python 3.11 can fail with "AST constructor recursion depth
        // mismatch" when two threads describe strategies at once.
        .args(["--workers", "1"])
        .args(["--exclude-operation-id", "auth_logout"])
        .args(["--suppress-health-check", "all"])
        .args(["--request-timeout", "30"])
        .args(["--output-truncate", "false"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&report)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        let _ = std::fs::remove_dir_all(&report);
    }
    (out.status.success(), text)
}

/// One of each resource the world lacks, so the ids the fuzzer tries first (1, 2, ...) name
/// something and requests reach past the 404.
async fn seed(app: &TestApp, admin: &str) {
    let seeds = [
        ("/api/v1/templates", json!({"name": "bienvenida", "language": "es_MX", "body": "Hola {{1}}"})),
        (
            "/api/v1/campaigns",
            json!({"name": "Promo", "template": {"name": "bienvenida", "language": "es_MX", "parameters": ["Ana"]},
                   "prospect_ids": [1, 2], "scheduled_at": "2099-01-01T00:00:00Z"}),
        ),
        ("/api/v1/jobs", json!({"name": "retention", "schedule": "0 3 * * *", "kind": "run_history_retention"})),
        ("/api/v1/scheduled-calls", json!({"prospect_id": 1, "due_at": "2099-01-01T10:00:00Z", "note": "llamar"})),
        ("/api/v1/tickets", json!({"subject": "Ayuda", "body": "No puedo enviar"})),
        ("/api/v1/bot/rules", json!({"match_kind": "keyword", "pattern": "precio", "reply": "Te paso precios"})),
        ("/api/v1/api-tokens", json!({"name": "integración"})),
    ];
    for (path, body) in seeds {
        let r = app.post(path, admin, body).await;
        assert!(r.status.is_success(), "seeding {path}: {} {:?}", r.status, r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_keeps_its_openapi_contract_for_an_admin_and_an_executive() {
    let _alone = support::exclusive().await;
    support::install_test_key();
    // With a media store, so uploads (and the files they make) are exercised too.
    let media = std::env::temp_dir().join(format!("platica-contract-media-{}", std::process::id()));
    let store = platica_whatsapp::media::MediaStore::open(media.to_str().unwrap()).unwrap();
    let app = TestApp::spawn_configured(move |s| s.media = Some(store)).await;
    let w = support::world(&app, "contract", 3).await;
    support::sending_channel(&app, &w).await;
    // The fuzzing admin's id is one the fuzzer will not pick, so it cannot change its own password
    // or deactivate itself (which would revoke its session).
    sqlx::query("ALTER TABLE users ALTER COLUMN user_id RESTART WITH 7301234567").execute(&app.pool).await.unwrap();
    let fuzzer = support::add_user(&app, &w, "fuzzer@contract.test", "Fuzzer", Role::Admin).await;
    assert!(fuzzer.0 > 7_000_000_000);
    seed(&app, w.token(w.admin)).await;
    app.sync().await;
    let admin = app.login(&w.slug, "fuzzer@contract.test", support::PASSWORD).await;
    let executive = app.login(&w.slug, "ana@contract.test", support::PASSWORD).await;

    // The executive first: the admin's run changes users (perhaps the executive's password).
    let mut failed = Vec::new();
    for (who, token) in [("executive", &executive), ("admin", &admin)] {
        let started = std::time::Instant::now();
        let (ok, output) = fuzz(&app, who, token).await;
        let summary: Vec<&str> = output.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
        eprintln!("== schemathesis as {who} ({:.0?}):\n{}", started.elapsed(), summary.join("\n"));
        if !ok {
            eprintln!("== full output as {who}:\n{output}");
            failed.push(who);
        }
    }
    let _ = std::fs::remove_dir_all(&media);
    assert!(failed.is_empty(), "the API broke its OpenAPI contract as {failed:?} (see the output above)");
}
