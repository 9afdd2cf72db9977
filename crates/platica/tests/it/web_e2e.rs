//! The web app (web/, served by platica-http's `web` module): how it is served, and its end-to-end
//! tests in a real browser (tests/e2e/web.e2e.mjs: playwright-core driving Debian's chromium)
//! against the app of the harness on the demo data.
//!
//! The browser script asks this test, over its stdin/stdout, for what only the server side can do
//! (a raw SQL reassignment, a signed WhatsApp webhook, a delivery receipt, a count): it writes
//! `@@step {json}` and reads one JSON line back. Needs Node.js >= 20, `npm ci`, and chromium
//! (`apt-get install chromium`; scripts/test installs it when missing and run as root).
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use platica::channels::Channels;
use platica_simulator::{DurRange, SimConfig, StatusDelays};
use platica_whatsapp::media::{Fetcher, FetcherConfig};
use platica_whatsapp::sender::SenderConfig;
use platica_whatsapp::supervisor::SupervisorConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::TestApp;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const APP_SECRET: &str = "e2e-app-secret-0123456789abcdef";
const PHONE_NUMBER_ID: &str = "109000000000777";
const CHANNELS_PUBLIC_URL: &str = "https://crm.demo.platica.test";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails (never skips) when Node.js, playwright-core or chromium is missing, saying what to run.
fn require_tools(root: &Path) {
    let version = std::process::Command::new("node").arg("--version").output().ok().filter(|o| o.status.success());
    let Some(version) = version else {
        panic!("`node` is missing: install Node.js >= 20 and npm, then run `npm ci` in {}", root.display());
    };
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(major >= 20, "node {version} is too old: the web e2e tests need Node.js >= 20");
    assert!(
        root.join("node_modules/playwright-core/package.json").is_file(),
        "node_modules/playwright-core is missing: run `npm ci` in {} (scripts/test does it)",
        root.display()
    );
    assert!(
        chromium().is_file(),
        "{} is missing: install Debian's chromium (`apt-get install chromium`; scripts/test does it as root) or set \
         CHROMIUM to a Chromium binary",
        chromium().display()
    );
}

#[tokio::test]
async fn the_app_is_served_with_caching_and_api_paths_stay_json() {
    let app = TestApp::spawn().await;
    let r = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
    let html = r.text().await.unwrap();
    assert_eq!(html, std::fs::read_to_string(repo_root().join("web/index.html")).unwrap());
    assert!(html.contains(r#"<script type="module" src="/app/main.js">"#));

    // Every embedded file is served with its type; a matching ETag answers 304 with no body.
    for asset in platica_http::web::ASSETS {
        let r = app.client.get(app.url(&format!("/app/{}", asset.path))).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", asset.path);
        let etag = r.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(r.bytes().await.unwrap().as_ref(), asset.bytes);
        let again = app
            .client
            .get(app.url(&format!("/app/{}", asset.path)))
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{}", asset.path);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let js = app.client.get(app.url("/app/main.js")).send().await.unwrap();
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");

    // Unknown assets and unknown API paths are JSON 404s, not the page.
    for path in ["/app/nope.js", "/api/v1/nope", "/api/v1/inbox/x/y", "/app/../Cargo.toml"] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}");
    }
}

/// One staff member the browser logs in as, with what the visibility rule lets them see.
async fn person(app: &TestApp, tenant: i64, email: &str, password: &str) -> Value {
    let (user_id, role): (i64, String) =
        sqlx::query_as("SELECT user_id, role::text FROM users WHERE tenant_id = $1 AND email = $2")
            .bind(tenant)
            .bind(email)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    // The rule, written here independently of platica-domain: admins see the tenant, coordinators
    // their teams' prospects, executives the prospects assigned to them.
    let rule = match role.as_str() {
        "admin" => "true",
        "coordinator" => {
            "p.team_id IN (SELECT team_id FROM coordinator_teams ct WHERE ct.tenant_id = $1 AND ct.user_id = $2)"
        }
        _ => "p.executive_id = $2",
    };
    let sql = format!(
        "SELECT c.conversation_id FROM conversations c
         JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
         LEFT JOIN LATERAL (SELECT max(m.created_at) AS at FROM messages m
                            WHERE m.tenant_id = c.tenant_id AND m.conversation_id = c.conversation_id) lm ON true
         WHERE c.tenant_id = $1 AND ({rule})
         ORDER BY coalesce(lm.at, c.created_at) DESC, c.conversation_id DESC"
    );
    let ids: Vec<i64> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(tenant).bind(user_id).fetch_all(&app.pool).await.unwrap();
    json!({"email": email, "password": password, "user_id": user_id, "conversations": ids})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_works_end_to_end_in_chromium() {
    let _alone = support::exclusive().await;
    let root = repo_root();
    require_tools(&root);
    // The process's one test key (every test of this binary shares it).
    support::install_test_key();
    // The live inbox streams through a proxy the browser script can cut ("stream_cut").
    // Uploads (the composer's attachments) are kept in a media store of this run's own.
    let media_dir = std::env::temp_dir().join(format!("platica-web-e2e-media-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&media_dir);
    let media = platica_whatsapp::media::MediaStore::open(media_dir.to_str().unwrap()).unwrap();
    // The media fetcher (started by `inbound_media`) stores into the same store the app serves.
    let fetched_media = media.clone();
    let (app, proxy) = TestApp::spawn_proxied_with(move |s| {
        s.media = Some(media);
        // The address Meta would reach the server at: the channels screen shows the webhook URL under it.
        s.public_url = Some(CHANNELS_PUBLIC_URL.to_owned());
    })
    .await;
    let demo = platica_demo::seed(&app.pool).await.unwrap();
    let tenant = demo.tenant_id.0;
    app.sync().await;
    let team = |name: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>("SELECT team_id FROM teams WHERE tenant_id = $1 AND name = $2")
                .bind(tenant)
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let (boom, ven) = (team("BOOM").await, team("VEN").await);

    // A coordinator of VEN only (the demo has none) to receive a reassignment, and the WhatsApp
    // channel the inbound message comes through.
    let admin_token = app.login("demo", "admin@demo.platica.test", "platica-admin").await;
    let r = app
        .post(
            "/api/v1/users",
            &admin_token,
            json!({"email": "veronica.salas@demo.platica.test", "display_name": "Verónica Salas", "role": "coordinator",
                   "password": "platica-coord", "team_ids": [ven]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/channels",
            &admin_token,
            json!({"display_name": "Ventas", "phone_number_id": PHONE_NUMBER_ID, "app_secret": APP_SECRET,
                   "verify_token": "e2e-verify", "access_token": "e2e-access", "default_team_id": boom}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    app.sync().await;

    let admin = person(&app, tenant, "admin@demo.platica.test", "platica-admin").await;
    let ana = person(&app, tenant, "ana.torres@demo.platica.test", "platica-ventas").await;
    let mariana = person(&app, tenant, "mariana.rios@demo.platica.test", "platica-coord").await;
    let jorge = person(&app, tenant, "jorge.castaneda@demo.platica.test", "platica-coord").await;
    let ricardo = person(&app, tenant, "ricardo.vega@demo.platica.test", "platica-ventas").await;
    let veronica = person(&app, tenant, "veronica.salas@demo.platica.test", "platica-coord").await;
    let ids =
        |p: &Value| p["conversations"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect::<Vec<_>>();
    assert!(ids(&ana).len() > 100 && ids(&mariana).len() > 1000, "the demo data is realistic");

    // The reassignment moves the newest BOOM conversation that is not Ana's from BOOM (Mariana)
    // to VEN and Ricardo.
    let (reassign_prospect, reassign_conv): (i64, i64) = sqlx::query_as(
        "SELECT p.prospect_id, c.conversation_id FROM conversations c
         JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
         WHERE c.conversation_id = ANY($1) AND p.team_id = $2 AND p.executive_id <> $3
         ORDER BY array_position($1, c.conversation_id) LIMIT 1",
    )
    .bind(ids(&mariana))
    .bind(boom)
    .bind(ana["user_id"].as_i64().unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    // The inbound message goes to Ana's tenth conversation.
    let inbound_conv = ids(&ana)[9];
    let reassign_phone: String =
        sqlx::query_scalar("SELECT phone FROM prospects WHERE tenant_id = $1 AND prospect_id = $2")
            .bind(tenant)
            .bind(reassign_prospect)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let inbound_phone: String = sqlx::query_scalar(
        "SELECT p.phone FROM conversations c JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
         WHERE c.tenant_id = $1 AND c.conversation_id = $2",
    )
    .bind(tenant)
    .bind(inbound_conv)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let search_name: String = sqlx::query_scalar(
        "SELECT split_part(p.name, ' ', 1) FROM conversations c
         JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id WHERE c.conversation_id = $1",
    )
    .bind(ids(&admin)[4])
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let user_count: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE tenant_id = $1")
        .bind(tenant)
        .fetch_one(&app.pool)
        .await
        .unwrap();

    let expect = json!({
        "tenant": "demo", "boom": boom, "ven": ven, "user_count": user_count,
        "users": {"admin": admin, "ana": ana, "mariana": mariana, "jorge": jorge, "ricardo": ricardo, "veronica": veronica},
        "reassign": {"prospect_id": reassign_prospect, "conversation_id": reassign_conv, "phone": reassign_phone},
        "inbound": {"conversation_id": inbound_conv, "phone": inbound_phone},
        "search": {"name": search_name},
    });
    let expect_path = std::env::temp_dir().join(format!("platica-web-e2e-{}.json", std::process::id()));
    std::fs::write(&expect_path, serde_json::to_vec(&expect).unwrap()).unwrap();
    let shots = root.join("target/e2e-screenshots");

    let mut node = tokio::process::Command::new("node");
    node.arg("tests/e2e/web.e2e.mjs")
        .current_dir(&root)
        .env("PLATICA_URL", app.url(""))
        .env("PLATICA_E2E_EXPECT", &expect_path)
        .env("PLATICA_SCREENSHOTS", &shots)
        .env("CHROMIUM", chromium())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = node.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut inbound_n = 0;
    // The WhatsApp side of a server (sender, campaign dispatcher) and the simulator the demo's
    // number sends to: started by the campaign test, stopped at the end.
    let (stop_channels, channels_stopped) = tokio::sync::watch::channel(false);
    let mut whatsapp: Option<(Channels, platica_simulator::SimHandle)> = None;
    // The Cloud API simulator of the numbers the channels test adds (started by `channels_setup`).
    let mut channel_sim: Option<platica_simulator::SimHandle> = None;
    let mut fetcher: Option<Fetcher> = None;

    let run = async {
        let mut failures = None;
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(n) = line.strip_prefix("@@done ") {
                failures = n.trim().parse::<u32>().ok();
                continue;
            }
            let Some(step) = line.strip_prefix("@@step ") else {
                println!("{line}");
                continue;
            };
            let step: Value = serde_json::from_str(step).unwrap();
            let answer = match step["action"].as_str().unwrap() {
                "reassign_sql" => {
                    // Raw SQL, as an operator with psql would: no API, no history row.
                    sqlx::query(
                        "UPDATE prospects SET team_id = $3, executive_id = $4, updated_at = now()
                         WHERE tenant_id = $1 AND prospect_id = $2",
                    )
                    .bind(tenant)
                    .bind(step["prospect_id"].as_i64().unwrap())
                    .bind(step["team_id"].as_i64().unwrap())
                    .bind(step["executive_id"].as_i64().unwrap())
                    .execute(&app.pool)
                    .await
                    .unwrap();
                    json!({"ok": true})
                }
                "stream_cut" => {
                    proxy.set_cut(true);
                    json!({"ok": true})
                }
                "stream_restore" => {
                    proxy.set_cut(false);
                    json!({"ok": true})
                }
                "inbound" => {
                    inbound_n += 1;
                    let phone = step["phone"].as_str().unwrap();
                    let wa_id = phone.trim_start_matches('+');
                    let wamid = format!("wamid.e2e.{}.{inbound_n}", std::process::id());
                    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                        "field": "messages", "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": "Prospecto"}, "wa_id": wa_id}],
                            "messages": [{"from": wa_id, "id": wamid, "timestamp": chrono::Utc::now().timestamp().to_string(),
                                          "type": "text", "text": {"body": step["text"]}}]}}]}]});
                    let (status, receipt) = app.whatsapp_webhook(APP_SECRET, &payload).await;
                    assert_eq!(status, 200, "the signed webhook is accepted: {receipt}");
                    let (message_id, conversation_id, prospect_id): (i64, i64, i64) = sqlx::query_as(
                        "SELECT m.message_id, m.conversation_id, c.prospect_id FROM messages m
                           JOIN conversations c ON c.tenant_id = m.tenant_id AND c.conversation_id = m.conversation_id
                          WHERE m.tenant_id = $1 AND m.external_id = $2",
                    )
                    .bind(tenant)
                    .bind(&wamid)
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"message_id": message_id, "conversation_id": conversation_id, "prospect_id": prospect_id})
                }
                "message_status" => {
                    // A delivery receipt, as the WhatsApp status webhook stores it.
                    sqlx::query("UPDATE messages SET status = $3 WHERE tenant_id = $1 AND message_id = $2")
                        .bind(tenant)
                        .bind(step["message_id"].as_i64().unwrap())
                        .bind(step["status"].as_str().unwrap())
                        .execute(&app.pool)
                        .await
                        .unwrap();
                    json!({"ok": true})
                }
                "send_refused" => {
                    // What the sender records when WhatsApp refuses a send for good: the outbox
                    // row and its message failed, with WhatsApp's reason.
                    let error = json!({"code": step["code"], "title": step["title"], "detail": step["detail"],
                                       "retryable": step["retryable"], "attempts": 1});
                    let mut tx = app.pool.begin().await.unwrap();
                    let rows = sqlx::query(
                        "UPDATE outbox SET state = 'failed', finished_at = now(), last_error = $3, updated_at = now()
                         WHERE tenant_id = $1 AND message_id = $2",
                    )
                    .bind(tenant)
                    .bind(step["message_id"].as_i64().unwrap())
                    .bind(step["title"].as_str().unwrap())
                    .execute(&mut *tx)
                    .await
                    .unwrap()
                    .rows_affected();
                    assert_eq!(rows, 1, "the reply has its outbox row");
                    sqlx::query(
                        "UPDATE messages SET status = 'failed', error = $3 WHERE tenant_id = $1 AND message_id = $2",
                    )
                    .bind(tenant)
                    .bind(step["message_id"].as_i64().unwrap())
                    .bind(&error)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                    tx.commit().await.unwrap();
                    json!({"ok": true})
                }
                "webhook_error" => {
                    // An account-level error WhatsApp reports in a webhook (no message), signed.
                    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                        "field": "messages", "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
                            "errors": [{"code": step["code"], "title": step["title"], "message": step["title"],
                                        "error_data": {"details": step["detail"]}}]}}]}]});
                    let (status, receipt) = app.whatsapp_webhook(APP_SECRET, &payload).await;
                    assert_eq!(status, 200, "the signed webhook is accepted: {receipt}");
                    json!({"ok": true})
                }
                "count_team" => {
                    let (prospects, conversations): (i64, i64) = sqlx::query_as(
                        "SELECT count(DISTINCT p.prospect_id), count(c.conversation_id) FROM prospects p
                         LEFT JOIN conversations c ON c.tenant_id = p.tenant_id AND c.prospect_id = p.prospect_id
                         WHERE p.tenant_id = $1 AND p.team_id = $2",
                    )
                    .bind(tenant)
                    .bind(step["team_id"].as_i64().unwrap())
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"count": prospects, "conversations": conversations})
                }
                "closed_window" => {
                    // An open conversation of the executive's whose prospect last wrote more than
                    // 24 hours ago: WhatsApp's customer service window is closed.
                    let (conversation_id, phone): (i64, String) = sqlx::query_as(
                        "SELECT c.conversation_id, p.phone FROM conversations c
                           JOIN prospects p ON p.tenant_id = c.tenant_id AND p.prospect_id = c.prospect_id
                          WHERE c.tenant_id = $1 AND p.executive_id = $2 AND c.status = 'open'
                            AND (SELECT max(m.created_at) FROM messages m WHERE m.tenant_id = c.tenant_id
                                    AND m.conversation_id = c.conversation_id AND m.direction = 'in')
                                < now() - interval '25 hours'
                            AND p.phone IS NOT NULL
                          ORDER BY c.conversation_id LIMIT 1",
                    )
                    .bind(tenant)
                    .bind(step["executive_id"].as_i64().unwrap())
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"conversation_id": conversation_id, "phone": phone})
                }
                "message_sql" => {
                    // A message written by raw SQL, as stored for a WhatsApp kind other than
                    // text: the body is its placeholder ("[image] caption").
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
                         VALUES ($1, $2, 'in', 'prospect', $3, 'delivered') RETURNING message_id",
                    )
                    .bind(tenant)
                    .bind(step["conversation_id"].as_i64().unwrap())
                    .bind(step["body"].as_str().unwrap())
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"message_id": id})
                }
                "call_sql" => {
                    // A call the provider reported, written by raw SQL: for a prospect of the
                    // given executive.
                    let call_id: i64 = sqlx::query_scalar(
                        "INSERT INTO calls (tenant_id, prospect_id, executive_id, provider, provider_call_id, status)
                         SELECT tenant_id, prospect_id, executive_id, 'voicebot', 'e2e-' || prospect_id, $3
                           FROM prospects WHERE tenant_id = $1 AND executive_id = $2
                          ORDER BY prospect_id LIMIT 1
                         RETURNING call_id",
                    )
                    .bind(tenant)
                    .bind(step["executive_id"].as_i64().unwrap())
                    .bind(step["status"].as_str().unwrap())
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"call_id": call_id})
                }
                "schedule_sql" => {
                    let id: i64 = sqlx::query_scalar(
                        "INSERT INTO scheduled_calls (tenant_id, prospect_id, executive_id, due_at, note)
                         SELECT tenant_id, prospect_id, executive_id, now() + interval '2 hours', $3
                           FROM prospects WHERE tenant_id = $1 AND executive_id = $2
                          ORDER BY prospect_id LIMIT 1
                         RETURNING scheduled_call_id",
                    )
                    .bind(tenant)
                    .bind(step["executive_id"].as_i64().unwrap())
                    .bind(step["note"].as_str().unwrap())
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"scheduled_call_id": id})
                }
                "channels_setup" => {
                    // Two business numbers on a Cloud API simulator of their own (one per language
                    // the channels test adds), their webhooks going to the app. The admin types
                    // these ids and secrets into the screen.
                    let sim =
                        platica_simulator::Simulator::start(SimConfig { failure_rate: 0.0, ..SimConfig::default() })
                            .await
                            .unwrap();
                    let mut numbers = Vec::new();
                    for i in 1..=2 {
                        let account = platica_simulator::SimAccount {
                            phone_number_id: format!("10980000000{i}"),
                            display_phone_number: format!("+52 55 8000 000{i}"),
                            access_token: format!("e2e-channel-token-{i}-{}", std::process::id()),
                            app_secret: format!("e2e-channel-secret-{i}-{}", std::process::id()),
                            webhook_url: app.url("/api/v1/whatsapp/webhook"),
                            session_mode: false,
                        };
                        numbers.push(json!({"phone_number_id": account.phone_number_id,
                            "display_phone_number": account.display_phone_number,
                            "access_token": account.access_token, "app_secret": account.app_secret}));
                        sim.add_account(account);
                    }
                    let base_url = sim.base_url();
                    channel_sim = Some(sim);
                    json!({"base_url": base_url, "public_url": CHANNELS_PUBLIC_URL, "numbers": numbers})
                }
                "channel_webhook" => {
                    // An account-level error WhatsApp reports about a number (a throughput
                    // notice), signed with the number's app secret as Meta signs it.
                    let pnid = step["phone_number_id"].as_str().unwrap();
                    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                        "field": "messages", "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "525580000000", "phone_number_id": pnid},
                            "errors": [{"code": step["code"], "title": step["title"], "message": step["title"],
                                        "error_data": {"details": step["detail"]}}]}}]}]});
                    let (status, receipt) = app.whatsapp_webhook(step["app_secret"].as_str().unwrap(), &payload).await;
                    assert_eq!(status, 200, "the signed webhook is accepted: {receipt}");
                    json!({"ok": true})
                }
                "job_runs_sql" => {
                    // Past scheduled runs of a job, as the scheduler records them, the newest of
                    // them failed with `message`: enough for more than one history page.
                    let count = step["count"].as_i64().unwrap();
                    sqlx::query(
                        "INSERT INTO job_runs (tenant_id, job_id, scheduled_for, trigger, status, message, instance,
                                               started_at, ended_at)
                         SELECT $1, $2, at, 'schedule', CASE WHEN i = $3 THEN 'failed' ELSE 'succeeded' END,
                                CASE WHEN i = $3 THEN $4 ELSE 'done' END, 'e2e', at, at + interval '1.5 seconds'
                           FROM generate_series(1, $3) AS i,
                                LATERAL (SELECT date_trunc('minute', now()) - ($3 - i + 1) * interval '1 hour' AS at) x",
                    )
                    .bind(tenant)
                    .bind(step["job_id"].as_i64().unwrap())
                    .bind(count)
                    .bind(step["message"].as_str().unwrap())
                    .execute(&app.pool)
                    .await
                    .unwrap();
                    json!({"ok": true})
                }
                "bot_admin" => {
                    // An admin of the bot's own (her logins leave the shared admin's rate limit
                    // to the other tests).
                    let password = "platica-bot-admin";
                    let r = app
                        .post(
                            "/api/v1/users",
                            &admin_token,
                            json!({"email": "beatriz.robles@demo.platica.test", "display_name": "Beatriz Robles",
                                   "role": "admin", "password": password}),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
                    person(&app, tenant, "beatriz.robles@demo.platica.test", password).await
                }
                "call_status_sql" => {
                    sqlx::query(
                        "UPDATE calls SET status = $3, outcome = $4, updated_at = now() WHERE tenant_id = $1 AND call_id = $2",
                    )
                    .bind(tenant)
                    .bind(step["call_id"].as_i64().unwrap())
                    .bind(step["status"].as_str().unwrap())
                    .bind(step["outcome"].as_str())
                    .execute(&app.pool)
                    .await
                    .unwrap();
                    json!({"ok": true})
                }
                "campaign_setup" => {
                    // As `platica demo` runs it: the demo's number on the WhatsApp simulator, the
                    // outbox sender and the campaign dispatcher (no simulated prospects writing
                    // in, and quick delivery receipts), and an approved template.
                    let config = SimConfig {
                        status_delays: StatusDelays {
                            sent: DurRange::millis(50, 200),
                            delivered: DurRange::millis(100, 500),
                            read: DurRange::millis(200, 1000),
                            read_probability: 0.5,
                        },
                        failure_rate: 0.05,
                        ..SimConfig::default()
                    };
                    let sim = platica::channels::start_simulator_for_demo_number(
                        &app.pool,
                        support::install_test_key(),
                        demo.tenant_id,
                        &app.url(""),
                        config,
                    )
                    .await
                    .unwrap();
                    // The test's other number has no URL of its own: it sends to the simulator too
                    // (which refuses it), never to the Internet.
                    let sender = SenderConfig { default_base_url: sim.base_url(), ..SenderConfig::default() };
                    let channels = Channels::start(
                        &app.pool,
                        support::install_test_key(),
                        sender,
                        SupervisorConfig::default(),
                        None,
                        channels_stopped.clone(),
                    )
                    .unwrap();
                    let r = app
                        .post(
                            "/api/v1/templates",
                            &admin_token,
                            json!({"name": "promo_fin_de_mes", "language": "es_MX",
                                   "body": "Hola {{1}}, este fin de mes tu auto nuevo tiene {{2}} de enganche."}),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
                    let account: i64 = sqlx::query_scalar(
                        "SELECT channel_account_id FROM channel_accounts WHERE tenant_id = $1 AND phone_number_id = $2",
                    )
                    .bind(tenant)
                    .bind(platica_demo::whatsapp::PHONE_NUMBER_ID)
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    // A segment of a dozen or two: one executive's prospects at one stage.
                    let (executive_id, stage, count): (i64, String, i64) = sqlx::query_as(
                        "SELECT executive_id, stage::text, count(*) FROM prospects
                         WHERE tenant_id = $1 AND executive_id IS NOT NULL
                         GROUP BY executive_id, stage HAVING count(*) BETWEEN 8 AND 30
                         ORDER BY count(*) DESC, executive_id, stage LIMIT 1",
                    )
                    .bind(tenant)
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    whatsapp = Some((channels, sim));
                    json!({"channel_account_id": account, "template": "promo_fin_de_mes (es_MX)",
                           "executive_id": executive_id, "stage": stage, "count": count})
                }
                "campaign_safeguards_setup" => {
                    // Campaign safeguards (issue 24), after `campaign_setup`: an admin and a
                    // coordinator of VEN of their own (their logins spend nobody else's limit),
                    // and for each a segment (one executive's prospects at one stage) of which
                    // one prospect stopped marketing messages (an earlier template failed with
                    // WhatsApp's 131050), counted here in SQL independently of the server.
                    let mut users = Vec::new();
                    for (email, name, role, teams) in [
                        ("alba.campos@demo.platica.test", "Alba Campos", "admin", json!([])),
                        ("ciro.ramos@demo.platica.test", "Ciro Ramos", "coordinator", json!([ven])),
                    ] {
                        let r = app
                            .post(
                                "/api/v1/users",
                                &admin_token,
                                json!({"email": email, "display_name": name, "role": role,
                                       "password": "platica-campanas", "team_ids": teams}),
                            )
                            .await;
                        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
                        users.push(json!({"email": email, "password": "platica-campanas"}));
                    }
                    // The coordinator's first (VEN), then the admin's of another executive: the
                    // two do not overlap.
                    let mut segments: Vec<Value> = Vec::new();
                    for team in [Some(ven), None] {
                        let skip = segments.first().and_then(|s| s["executive_id"].as_i64());
                        let (executive_id, stage): (i64, String) = sqlx::query_as(
                            "SELECT executive_id, stage::text FROM prospects
                             WHERE tenant_id = $1 AND executive_id IS NOT NULL AND ($2::bigint IS NULL OR team_id = $2)
                               AND ($3::bigint IS NULL OR executive_id <> $3)
                             GROUP BY executive_id, stage HAVING count(*) BETWEEN 3 AND 300
                             ORDER BY count(*), executive_id DESC, stage LIMIT 1",
                        )
                        .bind(tenant)
                        .bind(team)
                        .bind(skip)
                        .fetch_one(&app.pool)
                        .await
                        .unwrap();
                        let members: Vec<i64> = sqlx::query_scalar(
                            "SELECT prospect_id FROM prospects WHERE tenant_id = $1 AND executive_id = $2 AND stage = $3
                               AND ($4::bigint IS NULL OR team_id = $4) ORDER BY prospect_id",
                        )
                        .bind(tenant)
                        .bind(executive_id)
                        .bind(&stage)
                        .bind(team)
                        .fetch_all(&app.pool)
                        .await
                        .unwrap();
                        let opted = members[0];
                        let mut tx = app.pool.begin().await.unwrap();
                        let (conversation, _) = platica_store::inbox::conversations::ensure_whatsapp(
                            &mut tx,
                            platica_domain::TenantId(tenant),
                            opted,
                        )
                        .await
                        .unwrap();
                        sqlx::query(
                            "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, error)
                             VALUES ($1, $2, 'out', 'system', 'Promo de octubre', 'failed',
                                     '{\"code\": 131050, \"title\": \"User has stopped marketing messages\", \"retryable\": false}')",
                        )
                        .bind(tenant)
                        .bind(conversation)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                        tx.commit().await.unwrap();
                        segments.push(json!({"executive_id": executive_id, "stage": stage, "team_id": team,
                                             "matched": members.len(), "count": members.len() - 1}));
                    }
                    let account: i64 = sqlx::query_scalar(
                        "SELECT channel_account_id FROM channel_accounts WHERE tenant_id = $1 AND phone_number_id = $2",
                    )
                    .bind(tenant)
                    .bind(platica_demo::whatsapp::PHONE_NUMBER_ID)
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"channel_account_id": account, "admin": users[0], "coordinator": users[1], "admin_segment": segments[1],
                           "coordinator_segment": segments[0], "template": "promo_fin_de_mes (es_MX)"})
                }
                "campaign_conversation" => {
                    // A recipient's conversation with the campaign's message (sent or refused: a
                    // coordinator's campaign goes from the tenant's first number, which the
                    // simulator refuses in this run).
                    let id: Option<i64> = sqlx::query_scalar(
                        "SELECT m.conversation_id FROM campaign_recipients r
                         JOIN messages m ON m.tenant_id = r.tenant_id AND m.message_id = r.message_id
                         WHERE r.tenant_id = $1 AND r.campaign_id = $2
                         ORDER BY m.status = 'failed', r.prospect_id LIMIT 1",
                    )
                    .bind(tenant)
                    .bind(step["campaign_id"].as_i64().unwrap())
                    .fetch_optional(&app.pool)
                    .await
                    .unwrap();
                    json!({"conversation_id": id})
                }
                "composer_setup" => {
                    // A coordinator of both teams (sees every conversation of the tenant) to be
                    // mentioned, and one of the executive's conversations whose prospect just
                    // wrote (a signed webhook: the window is open and the message has a WhatsApp
                    // id, so it can be quoted).
                    let password = "platica-composer";
                    let r = app
                        .post(
                            "/api/v1/users",
                            &admin_token,
                            json!({"email": "cora.mendez@demo.platica.test", "display_name": "Cora Méndez",
                                   "role": "coordinator", "password": password, "team_ids": [boom, ven]}),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
                    let cora = person(&app, tenant, "cora.mendez@demo.platica.test", password).await;
                    let phone: String = sqlx::query_scalar(
                        "SELECT p.phone FROM prospects p WHERE p.tenant_id = $1 AND p.executive_id = $2 AND p.phone IS NOT NULL
                          ORDER BY p.prospect_id DESC LIMIT 1",
                    )
                    .bind(tenant)
                    .bind(step["executive_id"].as_i64().unwrap())
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"cora": cora, "phone": phone})
                }
                "inbound_kind" => {
                    // A location, shared contacts or a reaction from the prospect, signed like
                    // every WhatsApp webhook.
                    inbound_n += 1;
                    let wa_id = step["phone"].as_str().unwrap().trim_start_matches('+').to_owned();
                    let wamid = format!("wamid.e2e.{}.{inbound_n}", std::process::id());
                    let mut message = json!({"from": wa_id, "id": wamid,
                        "timestamp": chrono::Utc::now().timestamp().to_string(), "type": step["type"]});
                    message[step["type"].as_str().unwrap()] = step["object"].clone();
                    if step["type"] == "contacts" {
                        message["contacts"] = step["object"].clone();
                        message.as_object_mut().unwrap().remove("object");
                    }
                    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                        "field": "messages", "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID},
                            "contacts": [{"profile": {"name": "Prospecto"}, "wa_id": wa_id}],
                            "messages": [message]}}]}]});
                    let (status, receipt) = app.whatsapp_webhook(APP_SECRET, &payload).await;
                    assert_eq!(status, 200, "the signed webhook is accepted: {receipt}");
                    json!({"wamid": wamid})
                }
                "outbox_of" => {
                    // What was handed to WhatsApp for a message: its outbox rows' payloads, and
                    // whether the simulator (once campaigns started it) received its text.
                    let payloads: Vec<Value> =
                        sqlx::query_scalar("SELECT payload FROM outbox WHERE tenant_id = $1 AND message_id = $2")
                            .bind(tenant)
                            .bind(step["message_id"].as_i64().unwrap())
                            .fetch_all(&app.pool)
                            .await
                            .unwrap();
                    let text = step["text"].as_str().unwrap_or("");
                    let simulated = whatsapp.as_ref().map(|(_, sim)| {
                        sim.sent(platica_demo::whatsapp::PHONE_NUMBER_ID)
                            .into_iter()
                            .chain(sim.sent(PHONE_NUMBER_ID))
                            .filter(|m| m.text.as_deref().is_some_and(|t| !text.is_empty() && t.contains(text)))
                            .count()
                    });
                    json!({"payloads": payloads, "simulator_sent": simulated})
                }
                "template_waba" => {
                    // The WhatsApp Business Account of the demo number on the simulator (after
                    // `campaign_setup`), as an admin would copy it from WhatsApp Manager.
                    let (_, sim) = whatsapp.as_ref().expect("campaign_setup ran first");
                    let waba = sim.waba_id(platica_demo::whatsapp::PHONE_NUMBER_ID).unwrap();
                    let account: i64 = sqlx::query_scalar(
                        "SELECT channel_account_id FROM channel_accounts WHERE tenant_id = $1 AND phone_number_id = $2",
                    )
                    .bind(tenant)
                    .bind(platica_demo::whatsapp::PHONE_NUMBER_ID)
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    json!({"waba_id": waba, "channel_account_id": account})
                }
                "template_review" => {
                    // WhatsApp's review of a submitted template, as its signed
                    // `message_template_status_update` webhook brings it.
                    let name = step["name"].as_str().unwrap();
                    let (waba, external, language): (String, String, String) = sqlx::query_as(
                        "SELECT waba_id, external_id, language FROM whatsapp_templates WHERE tenant_id = $1 AND name = $2",
                    )
                    .bind(tenant)
                    .bind(name)
                    .fetch_one(&app.pool)
                    .await
                    .unwrap();
                    let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": waba,
                        "time": chrono::Utc::now().timestamp(), "changes": [{"field": "message_template_status_update",
                        "value": {"event": step["event"], "message_template_id": external.parse::<u64>().unwrap(),
                                  "message_template_name": name, "message_template_language": language,
                                  "reason": "NONE"}}]}]});
                    let (status, receipt) = app.whatsapp_webhook(APP_SECRET, &payload).await;
                    assert_eq!(status, 200, "the signed review webhook is accepted: {receipt}");
                    json!({"updated": receipt["templates_updated"]})
                }
                "inbound_media" => {
                    // A file from the prospect through the demo's number (on the simulator since
                    // `campaign_setup`): the simulator holds the bytes behind a media id, the
                    // signed webhook names it (with a document's filename), and the media fetcher
                    // (started here once, as `platica serve` runs it) fetches it from the
                    // simulator's Graph media endpoints into this run's store. Answers once the
                    // file is stored or given up.
                    match whatsapp.as_ref() {
                        None => json!({"error": "inbound_media needs campaign_setup first"}),
                        Some((_, sim)) => {
                            let number = platica_demo::whatsapp::PHONE_NUMBER_ID;
                            if fetcher.is_none() {
                                let config = FetcherConfig {
                                    default_base_url: sim.base_url(),
                                    concurrency: 2,
                                    backoff_base: Duration::from_millis(100),
                                    backoff_max: Duration::from_millis(500),
                                    request_timeout: Duration::from_secs(10),
                                    poll: Duration::from_millis(200),
                                    ..FetcherConfig::default()
                                };
                                fetcher = Some(Fetcher::start(
                                    app.pool.clone(),
                                    support::install_test_key(),
                                    fetched_media.clone(),
                                    config,
                                    channels_stopped.clone(),
                                ));
                            }
                            let kind = step["type"].as_str().unwrap();
                            let mime = step["mime_type"].as_str().unwrap();
                            let bytes: Vec<u8> = step["bytes"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|b| u8::try_from(b.as_u64().unwrap()).unwrap())
                                .collect();
                            let media_id = sim.add_media(number, bytes, mime);
                            inbound_n += 1;
                            let wa_id = step["phone"].as_str().unwrap().trim_start_matches('+').to_owned();
                            let wamid = format!("wamid.e2e.{}.{inbound_n}", std::process::id());
                            let mut object = json!({"id": media_id, "mime_type": mime});
                            if let Some(name) = step["filename"].as_str() {
                                object["filename"] = json!(name);
                            }
                            let mut message = json!({"from": wa_id, "id": wamid,
                                "timestamp": chrono::Utc::now().timestamp().to_string(), "type": kind});
                            message[kind] = object;
                            let payload = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{
                                "field": "messages", "value": {
                                    "messaging_product": "whatsapp",
                                    "metadata": {"display_phone_number": platica_demo::whatsapp::DISPLAY_PHONE_NUMBER,
                                                 "phone_number_id": number},
                                    "contacts": [{"profile": {"name": "Prospecto"}, "wa_id": wa_id}],
                                    "messages": [message]}}]}]});
                            let (status, receipt) =
                                app.whatsapp_webhook(platica_demo::whatsapp::APP_SECRET, &payload).await;
                            assert_eq!(status, 200, "the signed webhook is accepted: {receipt}");
                            let mut settled = None;
                            for _ in 0..100 {
                                let row: Option<(i64, i64, i64, String)> = sqlx::query_as(
                                    "SELECT m.message_id, m.conversation_id, md.media_id, md.state FROM messages m
                                       JOIN media md ON md.tenant_id = m.tenant_id AND md.message_id = m.message_id
                                      WHERE m.tenant_id = $1 AND m.external_id = $2",
                                )
                                .bind(tenant)
                                .bind(&wamid)
                                .fetch_optional(&app.pool)
                                .await
                                .unwrap();
                                if let Some(row) = row.filter(|r| r.3 != "pending") {
                                    settled = Some(row);
                                    break;
                                }
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                            match settled {
                                Some((message_id, conversation_id, media_id, state)) => {
                                    json!({"message_id": message_id,
                                    "conversation_id": conversation_id, "media_id": media_id, "state": state})
                                }
                                None => json!({"error": "the media was not fetched within 20 s"}),
                            }
                        }
                    }
                }
                other => json!({"error": format!("unknown step {other}")}),
            };
            stdin.write_all(format!("{answer}\n").as_bytes()).await.unwrap();
            stdin.flush().await.unwrap();
        }
        let status = child.wait().await.unwrap();
        (status, failures)
    };
    let (status, failures) = tokio::time::timeout(Duration::from_secs(600), run)
        .await
        .expect("the web e2e tests did not finish within 600 s");
    let _ = stop_channels.send(true);
    if let Some((channels, _sim)) = whatsapp {
        channels.finished().await;
    }
    if let Some(fetcher) = fetcher {
        fetcher.finished().await;
    }
    if let Some(sim) = channel_sim {
        sim.shutdown().await;
    }
    let _ = std::fs::remove_file(&expect_path);
    let _ = std::fs::remove_dir_all(&media_dir);
    assert!(status.success(), "the web e2e tests failed ({status}; {failures:?} failing): see the log above");
    assert_eq!(failures, Some(0));
}
