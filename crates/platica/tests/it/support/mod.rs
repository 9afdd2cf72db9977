//! The integration-test harness: one throwaway PostgreSQL cluster per test process (all the
//! integration tests are one process, `tests/it`), a migrated template database made once, and
//! for each test a fresh clone of it with the app serving on a random loopback port. Tests talk to
//! it over HTTP as a client would.
//!
//! What else is process-wide is set once here too: the secret key channel secrets are sealed with
//! ([`install_test_key`], installed before any database is handed out) and the gate heavy tests
//! take ([`exclusive`], [`shared`]).
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use platica_domain::{Role, TeamId, TenantId, UserId};
use platica_store::PgPool;
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};
use reqwest::{Method, StatusCode};
use serde_json::Value;

pub mod proxy;

/// The shared cluster: started on first use by a thread that lives as long as the process, so the
/// kernel stops the server when the test process exits (see `cluster` docs).
struct Shared {
    admin_url: String,
    url_prefix: String,
}

static SHARED: OnceLock<Shared> = OnceLock::new();
static TEMPLATE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
static NEXT_DB: AtomicU32 = AtomicU32::new(1);
const TEMPLATE_DB: &str = "platica_template";

fn cluster() -> &'static Shared {
    SHARED.get_or_init(|| {
        remove_stale_roots();
        let root = std::env::temp_dir().join(format!("platica-test-{}", std::process::id()));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("test-postgres".into())
            .spawn(move || {
                let mut opts = ClusterOptions::new(root, false);
                // Every test database has its own slot (left behind, inactive, when its test ends),
                // and every integration test shares this cluster.
                opts.settings.extend(["max_replication_slots=1000".into(), "max_wal_senders=100".into()]);
                let cluster = PrivateCluster::start(&opts);
                match cluster {
                    Ok(c) => {
                        tx.send(Ok((c.url("postgres"), c.url("")))).unwrap();
                        // Keep the owning thread (and so the server) alive until the process ends.
                        loop {
                            std::thread::park();
                        }
                    }
                    Err(e) => tx.send(Err(e.to_string())).unwrap(),
                }
            })
            .unwrap();
        let (admin_url, prefix) = rx.recv().unwrap().unwrap_or_else(|e| panic!("cannot start test PostgreSQL: {e}"));
        Shared { admin_url, url_prefix: prefix }
    })
}

/// Test clusters of processes that no longer run.
fn remove_stale_roots() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("platica-test-").and_then(|p| p.parse::<u32>().ok())
            && !PathBuf::from(format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A fresh, migrated database of its own. Returns its URL.
pub async fn fresh_database() -> String {
    // Before anything can load another key (`secrets::global`): one key for the whole process.
    install_test_key();
    let shared = cluster();
    TEMPLATE
        .get_or_init(|| async {
            platica_store::pg::db::create_database(&shared.admin_url, TEMPLATE_DB, None).await.unwrap();
            let pool = platica_store::pg::db::connect(&format!("{}{TEMPLATE_DB}", shared.url_prefix), 2).await.unwrap();
            platica_store::pg::db::migrate(&pool).await.unwrap();
            pool.close().await;
        })
        .await;
    let name = format!("test_{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
    platica_store::pg::db::create_database(&shared.admin_url, &name, Some(TEMPLATE_DB)).await.unwrap();
    format!("{}{name}", shared.url_prefix)
}

/// The gate of tests that must not overlap: see [`exclusive`] and [`shared`].
static GATE: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// Runs the calling test alone among the tests that take [`exclusive`] or [`shared`]: the heavy
/// ones (a browser, a fuzzer, thousands of rows or messages, many connections) and those that
/// measure the process (its memory) or time under load. Take it first thing, and once; tests
/// that take neither still run beside it.
pub async fn exclusive() -> tokio::sync::RwLockWriteGuard<'static, ()> {
    GATE.write().await
}

/// For tests that may run beside each other but not beside an [`exclusive`] one (the live
/// inbox's fault matrix). Take it first thing, and once.
pub async fn shared() -> tokio::sync::RwLockReadGuard<'static, ()> {
    GATE.read().await
}

/// The app serving a fresh database on a random port.
pub struct TestApp {
    pub addr: SocketAddr,
    pub pool: PgPool,
    pub db_url: String,
    pub client: reqwest::Client,
    pub live: Arc<platica_changes::LiveInbox>,
    pub hub: Arc<platica_realtime::Hub>,
    /// Connections the app's pool has handed out (one per query or transaction).
    pub queries: Arc<std::sync::atomic::AtomicU64>,
    /// The newest `Platica-Lsn` a write answered with: every later GET passes it as `min_lsn`, as a
    /// client wanting read-your-writes does.
    last_lsn: Mutex<Option<String>>,
}

/// A response: status and JSON body (`Value::Null` when empty).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Resp {
    /// The error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(platica_realtime::HubConfig::default()).await
    }

    /// [`TestApp::spawn`] with the realtime hub's limits. The app's pool counts every connection
    /// it hands out (`queries`), so a test can prove a path issues no query.
    pub async fn spawn_with(hub: platica_realtime::HubConfig) -> TestApp {
        Self::spawn_opts(hub, false).await
    }

    /// [`TestApp::spawn`] with the auto-reply bot answering what the app ingests.
    pub async fn spawn_with_bot() -> TestApp {
        Self::spawn_opts(platica_realtime::HubConfig::default(), true).await
    }

    /// [`TestApp::spawn`] with the server's edge settings (trusted proxies, origins, metrics token).
    pub async fn spawn_edge(edge: platica_http::edge::Edge) -> TestApp {
        Self::spawn_configured(move |s| s.edge = Arc::new(edge)).await
    }

    /// [`TestApp::spawn`] with the app's state changed by `configure` before it serves.
    pub async fn spawn_configured(configure: impl FnOnce(&mut platica_http::AppState)) -> TestApp {
        Self::spawn_full(platica_realtime::HubConfig::default(), false, configure, None).await
    }

    async fn spawn_opts(hub: platica_realtime::HubConfig, bot: bool) -> TestApp {
        Self::spawn_full(hub, bot, |_| {}, None).await
    }

    /// [`TestApp::spawn`] with the live inbox's stream going through a [`proxy::Proxy`] the test
    /// can cut or silence (the rest of the app reaches PostgreSQL directly).
    pub async fn spawn_proxied() -> (TestApp, proxy::Proxy) {
        Self::spawn_proxied_with(|_| {}).await
    }

    /// [`TestApp::spawn_proxied`] with the app's state changed by `configure` before it serves.
    pub async fn spawn_proxied_with(configure: impl FnOnce(&mut platica_http::AppState)) -> (TestApp, proxy::Proxy) {
        let db_url = fresh_database().await;
        let port: u16 = db_url.rsplit(':').next().and_then(|p| p.split('/').next()).unwrap().parse().unwrap();
        let proxy = proxy::Proxy::start(port).await;
        let live_url = proxy.url(&db_url, port);
        let app =
            Self::spawn_full(platica_realtime::HubConfig::default(), false, configure, Some((db_url, live_url))).await;
        (app, proxy)
    }

    async fn spawn_full(
        hub: platica_realtime::HubConfig,
        bot: bool,
        configure: impl FnOnce(&mut platica_http::AppState),
        urls: Option<(String, String)>,
    ) -> TestApp {
        let (db_url, live_url) = match urls {
            Some(urls) => urls,
            None => {
                let url = fresh_database().await;
                (url.clone(), url)
            }
        };
        let pool = platica_store::pg::db::connect(&db_url, 8).await.unwrap();
        let queries = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = queries.clone();
        let app_pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .before_acquire(move |_, _| {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Box::pin(async { Ok(true) })
            })
            .connect(&db_url)
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        // The same server `platica serve` starts (no scheduler or WhatsApp work unless a test
        // starts them), with the live inbox on `live_url` and its slot named after the database.
        let options = platica::server::ServerOptions {
            slot: Some(platica::slot_name(&db_url)),
            hub: Some(hub),
            bot,
            secret_key: Some(install_test_key()),
            ..platica::server::ServerOptions::new(live_url)
        };
        // "Test connection" of a number without a base URL of its own asks here: a closed local
        // port, never the Internet (a test that wants Graph points the number at a simulator).
        let configure = move |s: &mut platica_http::AppState| {
            s.graph_base_url = "http://127.0.0.1:9/v21.0".to_owned();
            configure(s);
        };
        let server = platica::server::Server::start(app_pool, listener, options, configure, std::future::pending())
            .await
            .unwrap();
        let (addr, live, hub) = (server.addr(), Arc::clone(server.live()), Arc::clone(server.hub().unwrap()));
        // The server closes a keep-alive connection idle for its header read timeout (10 s); a
        // client must not reuse one idle longer, or a request can race the close.
        let client = reqwest::Client::builder().pool_idle_timeout(std::time::Duration::from_secs(5)).build().unwrap();
        TestApp { addr, pool, db_url, client, live, hub, queries, last_lsn: Mutex::new(None) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits until the live inbox has applied every commit made so far (by the API or by SQL on
    /// `app.pool`), and makes later reads wait for it too.
    pub async fn sync(&self) {
        let lsn: String = sqlx::query_scalar("SELECT pg_logical_emit_message(false, 'platica.barrier', '')::text")
            .fetch_one(&self.pool)
            .await
            .unwrap();
        let target = platica_changes::lsn::parse(&lsn).unwrap();
        assert!(
            self.live.wait_for(target, std::time::Duration::from_secs(30)).await,
            "the live inbox did not catch up within 30 s"
        );
        *self.last_lsn.lock().unwrap() = Some(lsn);
    }

    /// Adds `min_lsn` of the last write to inbox reads.
    fn with_min_lsn(&self, method: &Method, path: &str) -> String {
        let route = path.split('?').next().unwrap_or(path);
        let inbox = route == "/api/v1/conversations" || route == "/api/v1/inbox";
        match (method == Method::GET && inbox, self.last_lsn.lock().unwrap().clone()) {
            (true, Some(lsn)) if !path.contains("min_lsn=") => {
                let sep = if path.contains('?') { '&' } else { '?' };
                format!("{path}{sep}min_lsn={lsn}")
            }
            _ => path.to_owned(),
        }
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(&self, method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        let path = self.with_min_lsn(&method, path);
        let mut req = self.client.request(method, self.url(&path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.unwrap();
        self.read(resp).await
    }

    /// Sends a raw body with the given content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path)).header("content-type", content_type).body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.read(req.send().await.unwrap()).await
    }

    async fn read(&self, resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        if status.is_success()
            && let Some(lsn) = headers.get("platica-lsn").and_then(|v| v.to_str().ok())
        {
            let mut last = self.last_lsn.lock().unwrap();
            let newer = last.as_deref().and_then(platica_changes::lsn::parse) < platica_changes::lsn::parse(lsn);
            if newer {
                *last = Some(lsn.to_owned());
            }
        }
        let bytes = resp.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("non-JSON body ({status}): {}", String::from_utf8_lossy(&bytes)))
        };
        Resp { status, body, headers }
    }

    /// POSTs `payload` to the WhatsApp webhook, signed (`X-Hub-Signature-256`) with `app_secret`
    /// as the Cloud API signs it. Returns the status and the JSON body (`Null` when not JSON).
    pub async fn whatsapp_webhook(&self, app_secret: &str, payload: &Value) -> (StatusCode, Value) {
        let body = serde_json::to_vec(payload).unwrap();
        let resp = self
            .client
            .post(self.url("/api/v1/whatsapp/webhook"))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", platica_domain::signature::sign(app_secret, &body))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.bytes().await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(token), Some(&body)).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(token), Some(&body)).await
    }

    pub async fn put(&self, path: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(token), Some(&body)).await
    }

    pub async fn delete(&self, path: &str, token: &str) -> Resp {
        self.call(Method::DELETE, path, Some(token), None).await
    }

    /// Logs in through the API; panics unless it succeeds.
    pub async fn login(&self, tenant: &str, email: &str, password: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(&serde_json::json!({"tenant": tenant, "email": email, "password": password})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "login failed: {:?}", r.body);
        r.body["token"].as_str().unwrap().to_owned()
    }

    /// A session token for `user`, made directly in the database (no password hashing, no rate
    /// limit): for tests about something other than logging in.
    pub async fn session(&self, tenant: TenantId, user: UserId) -> String {
        platica_store::org::auth::create_session(&self.pool, tenant, user).await.unwrap().0
    }

    /// A whole table's rows as JSON, ordered by its first column: to prove a request changed
    /// nothing.
    pub async fn snapshot(&self, table: &str) -> Vec<Value> {
        let sql = format!("SELECT coalesce(json_agg(t ORDER BY 1), '[]') FROM (SELECT * FROM {table} ORDER BY 1, 2) t");
        let v: Value = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&self.pool).await.unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    /// Every tenant table, for before/after comparisons.
    pub async fn snapshot_all(&self) -> BTreeMap<&'static str, Vec<Value>> {
        let mut out = BTreeMap::new();
        for t in TABLES {
            out.insert(*t, self.snapshot(t).await);
        }
        out
    }
}

/// Every table holding tenant data.
pub const TABLES: &[&str] = &[
    "tenants",
    "teams",
    "users",
    "coordinator_teams",
    "prospects",
    "conversations",
    "messages",
    "assignment_history",
    "bot_pause",
    "system_config",
    "sessions",
    "api_tokens",
    // Issue 9.
    "call_provider_settings",
    "calls",
    "scheduled_calls",
    "tickets",
    "ticket_comments",
    "notifications",
];

/// The password every fixture user has.
pub const PASSWORD: &str = "s3cret-pass";

/// A tenant laid out like the original incident: teams BOOM and VEN, an admin, a coordinator of
/// each team, one coordinating both, three executives (one non-operational), and prospects.
pub struct World {
    pub tenant: TenantId,
    pub slug: String,
    pub boom: TeamId,
    pub ven: TeamId,
    pub admin: UserId,
    pub coord_boom: UserId,
    pub coord_ven: UserId,
    pub coord_both: UserId,
    pub exec_ana: UserId,
    pub exec_luis: UserId,
    /// Not operational: still sees her prospects.
    pub exec_sofia: UserId,
    /// prospect id -> (team, executive)
    pub prospects: Vec<(i64, TeamId, Option<UserId>)>,
    /// Session tokens by user.
    pub tokens: BTreeMap<i64, String>,
}

impl World {
    pub fn token(&self, user: UserId) -> &str {
        &self.tokens[&user.0]
    }
}

async fn user(pool: &PgPool, tenant: TenantId, email: &str, name: &str, role: Role, teams: &[TeamId]) -> UserId {
    let u = platica_store::org::users::create(
        pool,
        tenant,
        &platica_store::org::users::NewUser {
            email,
            display_name: name,
            role,
            operational: true,
            password: PASSWORD,
            team_ids: teams,
        },
    )
    .await
    .unwrap();
    UserId(u.user_id)
}

/// Builds a [`World`] in tenant `slug`. Prospects: for each (team, executive) placement below,
/// `per_cell` prospects, each with a conversation and one inbound message.
/// The secret key test processes seal channel secrets with.
pub fn install_test_key() -> &'static platica_store::secrets::SecretKey {
    platica_store::secrets::install(platica_store::secrets::SecretKey::from_bytes([42; 32])).unwrap()
}

/// Gives the world's tenant a WhatsApp number (a Cloud API account, secrets sealed with the test
/// key) so executives can send; nothing is sent unless the test starts a sender. Returns its id.
pub async fn sending_channel(app: &TestApp, w: &World) -> i64 {
    let key = install_test_key();
    let new = platica_store::whatsapp::channels::NewChannelAccount {
        business_account_id: None,
        kind: "cloud".into(),
        display_name: "Ventas".into(),
        phone_number_id: format!("77{:010}", w.tenant.0),
        app_secret: "world-app-secret".into(),
        verify_token: "world-verify-token".into(),
        access_token: "world-access-token".into(),
        default_team_id: w.boom,
        base_url: None,
        send_rate_per_sec: None,
    };
    platica_store::whatsapp::channels::create(&app.pool, key, w.tenant, &new).await.unwrap().channel_account_id
}

/// Another user of the world's tenant (password [`PASSWORD`], no team), e.g. a second admin.
pub async fn add_user(app: &TestApp, w: &World, email: &str, name: &str, role: Role) -> UserId {
    user(&app.pool, w.tenant, email, name, role, &[]).await
}

/// The phone number id, access token and app secret of [`SimChannel::DEFAULT`].
pub const SIM_PNID: &str = "106540352242922";
pub const SIM_TOKEN: &str = "sim-access-token";
pub const SIM_SECRET: &str = "sim-app-secret";

/// A WhatsApp number for [`simulator_channel`]: the channel account the API creates and the
/// simulator's account behind it share these.
pub struct SimChannel<'a> {
    /// `simulator` or `cloud` (both send to the simulator's `base_url`).
    pub kind: &'a str,
    pub display_name: &'a str,
    pub phone_number_id: &'a str,
    pub display_phone_number: &'a str,
    pub access_token: &'a str,
    pub app_secret: &'a str,
    pub verify_token: &'a str,
    pub send_rate_per_sec: Option<i64>,
}

impl SimChannel<'static> {
    pub const DEFAULT: SimChannel<'static> = SimChannel {
        kind: "simulator",
        display_name: "Ventas",
        phone_number_id: SIM_PNID,
        display_phone_number: "+52 55 1234 5678",
        access_token: SIM_TOKEN,
        app_secret: SIM_SECRET,
        verify_token: "verify",
        send_rate_per_sec: None,
    };
}

/// A simulator whose statuses (sent, delivered, read with `read_probability`) follow each send
/// within 10-30 ms, and that fails nothing by itself.
pub fn quick_simulator(read_probability: f64) -> platica_simulator::SimConfig {
    use platica_simulator::{DurRange, SimConfig, StatusDelays};
    SimConfig {
        status_delays: StatusDelays {
            sent: DurRange::millis(10, 30),
            delivered: DurRange::millis(10, 30),
            read: DurRange::millis(10, 30),
            read_probability,
        },
        failure_rate: 0.0,
        ..SimConfig::default()
    }
}

/// "A channel on the simulator": starts a Cloud API simulator with `config`, creates the world's
/// channel account `ch` through the API (as its admin) pointing at it, and gives the simulator the
/// same account, its webhooks going to the app. Returns the simulator and the account's id;
/// nothing is sent unless the test starts a sender.
pub async fn simulator_channel(
    app: &TestApp,
    w: &World,
    config: platica_simulator::SimConfig,
    ch: &SimChannel<'_>,
) -> (platica_simulator::SimHandle, i64) {
    let sim = platica_simulator::Simulator::start(config).await.unwrap();
    let r = app
        .post(
            "/api/v1/channels",
            w.token(w.admin),
            serde_json::json!({"kind": ch.kind, "display_name": ch.display_name,
                "phone_number_id": ch.phone_number_id, "app_secret": ch.app_secret,
                "verify_token": ch.verify_token, "access_token": ch.access_token, "default_team_id": w.boom.0,
                "base_url": sim.base_url(), "send_rate_per_sec": ch.send_rate_per_sec}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    sim.add_account(platica_simulator::SimAccount {
        phone_number_id: ch.phone_number_id.into(),
        display_phone_number: ch.display_phone_number.into(),
        access_token: ch.access_token.into(),
        app_secret: ch.app_secret.into(),
        webhook_url: app.url("/api/v1/whatsapp/webhook"),
        session_mode: false,
    });
    (sim, r.body["channel_account_id"].as_i64().unwrap())
}

pub async fn world(app: &TestApp, slug: &str, per_cell: usize) -> World {
    let pool = &app.pool;
    let tenant = platica_store::org::tenants::create(pool, slug, &format!("Tenant {slug}")).await.unwrap();
    let boom = TeamId(platica_store::org::teams::create(pool, tenant, "BOOM").await.unwrap().team_id);
    let ven = TeamId(platica_store::org::teams::create(pool, tenant, "VEN").await.unwrap().team_id);
    let admin = user(pool, tenant, &format!("admin@{slug}.test"), "Admin", Role::Admin, &[]).await;
    let coord_boom =
        user(pool, tenant, &format!("coord.boom@{slug}.test"), "Coord BOOM", Role::Coordinator, &[boom]).await;
    let coord_ven = user(pool, tenant, &format!("coord.ven@{slug}.test"), "Coord VEN", Role::Coordinator, &[ven]).await;
    let coord_both =
        user(pool, tenant, &format!("coord.both@{slug}.test"), "Coord Both", Role::Coordinator, &[boom, ven]).await;
    let exec_ana = user(pool, tenant, &format!("ana@{slug}.test"), "Ana", Role::Executive, &[]).await;
    let exec_luis = user(pool, tenant, &format!("luis@{slug}.test"), "Luis", Role::Executive, &[]).await;
    let exec_sofia = user(pool, tenant, &format!("sofia@{slug}.test"), "Sofía", Role::Executive, &[]).await;

    let placements = [
        (boom, Some(exec_ana)),
        (ven, Some(exec_ana)), // Ana's prospects in another team: she must still see them.
        (boom, Some(exec_luis)),
        (ven, Some(exec_sofia)),
        (ven, None),
    ];
    let mut prospects = Vec::new();
    let mut n = 0u64;
    for (team, exec) in placements {
        for _ in 0..per_cell {
            n += 1;
            let phone = format!("+52155{:08}", tenant.0 as u64 * 100_000 + n);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO prospects (tenant_id, name, phone, team_id, executive_id) VALUES ($1, $2, $3, $4, $5) RETURNING prospect_id",
            )
            .bind(tenant.0)
            .bind(format!("Prospecto {n}"))
            .bind(&phone)
            .bind(team.0)
            .bind(exec.map(|e| e.0))
            .fetch_one(pool)
            .await
            .unwrap();
            let conv: i64 = sqlx::query_scalar(
                "INSERT INTO conversations (tenant_id, prospect_id) VALUES ($1, $2) RETURNING conversation_id",
            )
            .bind(tenant.0)
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
            sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status) VALUES ($1, $2, 'in', 'prospect', $3, 'delivered')")
                .bind(tenant.0)
                .bind(conv)
                .bind(format!("Hola, soy el prospecto {n}"))
                .execute(pool)
                .await
                .unwrap();
            prospects.push((id, team, exec));
        }
    }
    // Sofía stops being operational: visibility must not change.
    sqlx::query("UPDATE users SET operational = false WHERE tenant_id = $1 AND user_id = $2")
        .bind(tenant.0)
        .bind(exec_sofia.0)
        .execute(pool)
        .await
        .unwrap();

    let mut tokens = BTreeMap::new();
    for u in [admin, coord_boom, coord_ven, coord_both, exec_ana, exec_luis, exec_sofia] {
        tokens.insert(u.0, app.session(tenant, u).await);
    }
    app.sync().await;
    World {
        tenant,
        slug: slug.to_owned(),
        boom,
        ven,
        admin,
        coord_boom,
        coord_ven,
        coord_both,
        exec_ana,
        exec_luis,
        exec_sofia,
        prospects,
        tokens,
    }
}

/// Polls `f` until it returns `Some`, for up to `secs` seconds; fails the test naming `what`.
pub async fn until<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

type Stream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client of the realtime gateway, as a browser tab would hold one.
pub struct Ws(Stream);

impl Ws {
    pub async fn connect(app: &TestApp, token: &str) -> Ws {
        let url = format!("ws://{}/api/v1/ws?token={token}", app.addr);
        let (s, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut ws = Ws(s);
        let hello = ws.next(std::time::Duration::from_secs(5)).await.unwrap();
        assert_eq!(hello["type"], "hello", "{hello}");
        ws
    }

    pub async fn next(&mut self, wait: std::time::Duration) -> Option<Value> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            match tokio::time::timeout(left, futures_util::StreamExt::next(&mut self.0)).await {
                Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) => {
                    return Some(serde_json::from_str(t.as_str()).unwrap());
                }
                Ok(Some(Ok(_))) => continue,
                _ => return None,
            }
        }
    }

    pub async fn subscribe(&mut self, id: &str, topic: &str, filters: Value) {
        let m = serde_json::json!({"type": "subscribe", "id": id, "topic": topic, "filters": filters});
        futures_util::SinkExt::send(&mut self.0, tokio_tungstenite::tungstenite::Message::Text(m.to_string().into()))
            .await
            .unwrap();
        let r = self.next(std::time::Duration::from_secs(5)).await.unwrap();
        assert_eq!((r["id"].as_str(), r["type"].as_str()), (Some(id), Some("subscribed")), "{r}");
    }

    /// The row events received within `wait`: (table, op, row).
    pub async fn events(&mut self, wait: std::time::Duration) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        while let Some(v) = self.next(wait).await {
            if v["type"] == "event" {
                let d = &v["event"];
                out.push((
                    d["table"].as_str().unwrap_or("").into(),
                    d["op"].as_str().unwrap_or("").into(),
                    d["row"].clone(),
                ));
            }
        }
        out
    }
}
