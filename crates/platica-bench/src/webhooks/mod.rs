//! `platica-bench webhooks` (`scripts/bench-whatsapp`): the WhatsApp Cloud API webhook under load,
//! on loopback.
//!
//! Starts a private PostgreSQL with the durable settings `platica serve` uses for its own cluster
//! (fsync, full-page writes and synchronous commit on), seeds the demo tenant (teams, operational
//! executives, 3,000 prospects), creates one channel account through the store with a secret key
//! of its own (handed to the server in `PLATICA_SECRET_KEY`), runs the release `platica serve` as
//! a child process and then, step by step, POSTs correctly signed webhooks at a fixed offered rate:
//!
//! - **open loop**: send `i` is scheduled at `start + i / rate`; its latency is measured from that
//!   scheduled time, so a slow server cannot slow the offered load down (no coordinated omission);
//!   at most `--connections` requests are in flight (a waiting send keeps its scheduled time);
//! - **mix** (a cycle of 20 webhooks, 22 messages): 15 single texts from existing prospects, 2
//!   batches of 3 messages, 1 text from a new number (a new prospect assigned round-robin), 2
//!   status webhooks (`delivered` and `read` of a prepared outbound message);
//! - **no loss, no duplicate**: after each step the stored messages, statuses and new prospects
//!   are counted in SQL and compared with what the acknowledgements reported;
//! - **end to end**: an admin WebSocket client subscribed to `inbox` takes each `upsert` whose
//!   preview carries `t=<micros>` (set when the POST starts) as a webhook-to-client sample.
//!
//! The rate steps up until a step cannot keep up. All traffic stays on 127.0.0.1.

mod report;
mod step;
mod traffic;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use platica_domain::{TeamId, TenantId, UserId};
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};
use sqlx::PgPool;

use crate::setup::{self, STATS_FLUSH, Server, Workspace, db_xacts};
use crate::stats::{ms, percentile};
use step::{Ctx, E2e, StepResult, run_step, ws_client};
use traffic::Plan;

/// Load the WhatsApp webhook and report ack latency, throughput and webhook-to-WebSocket latency.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// The `platica` binary to run (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Working directory for the private PostgreSQL (removed at the start of a run).
    #[arg(long, default_value = "/var/tmp/platica-bench-webhooks")]
    dir: PathBuf,
    /// Offered rates, inbound messages per second, one step each, in order.
    #[arg(long, value_delimiter = ',', default_values_t = [200u64, 500, 1_000, 2_000, 3_000, 4_000, 5_000])]
    pub rates: Vec<u64>,
    /// Seconds each step offers its rate.
    #[arg(long, default_value_t = 30)]
    pub seconds: u64,
    /// Most requests in flight (HTTP connections).
    #[arg(long, default_value_t = 256)]
    pub connections: usize,
    /// Run every step even after one could not keep up.
    #[arg(long)]
    pub all_steps: bool,
    /// Two short steps (200/s and 1,000/s for 5 s) for a smoke run.
    #[arg(long)]
    pub quick: bool,
    /// Where to write the markdown report.
    #[arg(long, default_value = "target/bench-webhooks.md")]
    out: PathBuf,
    /// Also put the report into this file, between its webhooks markers (added when absent).
    #[arg(long)]
    pub benchmarks_md: Option<PathBuf>,
}

impl Args {
    /// The arguments with `--quick`'s two short steps applied, checked.
    pub fn effective(mut self) -> anyhow::Result<Args> {
        if self.quick {
            self.rates = vec![200, 1_000];
            self.seconds = 5;
        }
        if self.rates.is_empty() || self.rates.contains(&0) || self.seconds == 0 || self.connections == 0 {
            bail!("--rates, --seconds and --connections must be positive");
        }
        Ok(self)
    }
}

/// Its section of BENCHMARKS.md.
const SECTION: &str = "webhooks";
const APP_SECRET: &str = "platica-bench-app-secret-0123456789abcdef";
const PHONE_NUMBER_ID: &str = "109000000000001";
/// Webhooks per cycle of the mix, and the messages they carry.
const CYCLE: u64 = 20;
const MESSAGES_PER_CYCLE: u64 = 22;
/// Requests that take longer count as errors.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the webhook benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let args = args.effective()?;
    let server_bin = setup::platica_binary(args.server_bin.as_deref())?;
    // Durable: the settings `platica serve` gives its own private cluster.
    let cluster = ClusterOptions::new(args.dir.join("pg"), true);
    let ws = Workspace { dir: args.dir.clone(), keep: false, cluster, workers: None };
    let (md, verified) =
        setup::run_with_cluster(ws, async |cluster: &PrivateCluster| measure(&args, cluster, &server_bin).await)?;
    setup::publish(&args.out, args.benchmarks_md.as_deref(), SECTION, &md)?;
    if !verified {
        bail!("a step's stored messages, statuses or prospects do not match what was acknowledged");
    }
    Ok(())
}

/// Seeds the demo tenant and its channel account, runs the server and the steps; returns the
/// report and whether every step's SQL checks held.
async fn measure(args: &Args, cluster: &PrivateCluster, server_bin: &Path) -> anyhow::Result<(String, bool)> {
    let demo = setup::demo_tenant(cluster, "webhooks", 8).await?;
    let p = prepare(args, &demo.pool, demo.tenant).await?;

    // The server, as a process of its own.
    let data_dir = args.dir.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let data_dir = data_dir.to_string_lossy().into_owned();
    let env = [
        ("RUST_LOG", "warn"),
        ("PLATICA_SECRET_KEY", p.key_b64.as_str()),
        ("PLATICA_DATA_DIR", data_dir.as_str()),
        ("PLATICA_WHATSAPP_BASE_URL", "http://127.0.0.1:9"),
    ];
    let mut server = Server::spawn(server_bin, &demo.url, &env, None)?;
    let result = drive(args, &demo.pool, demo.tenant, demo.admin, &mut server, p.phones, p.world.status_webhooks).await;
    server.stop().await?;
    demo.pool.close().await;
    let steps = result?;
    Ok((report::markdown(args, &p.world, &steps), steps.iter().all(StepResult::verified)))
}

/// The channel account (and the server's secret key), the existing prospects' phones, and what the
/// report says of the set-up.
struct Prepared {
    key_b64: String,
    phones: Vec<String>,
    world: report::World,
}

/// Creates the channel account, its secrets sealed with a key of this run that the server gets
/// too, and the outbound messages for the status webhooks to update.
async fn prepare(args: &Args, pool: &PgPool, tenant: TenantId) -> anyhow::Result<Prepared> {
    let (team, team_name): (i64, String) =
        sqlx::query_as("SELECT team_id, name FROM teams WHERE tenant_id = $1 ORDER BY team_id LIMIT 1")
            .bind(tenant.0)
            .fetch_one(pool)
            .await?;
    let operational: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'executive' AND operational AND active",
    )
    .bind(tenant.0)
    .fetch_one(pool)
    .await?;

    let key = platica_store::secrets::SecretKey::generate();
    let key_b64 = key.to_base64();
    platica_store::whatsapp::channels::create(
        pool,
        &key,
        tenant,
        &platica_store::whatsapp::channels::NewChannelAccount {
            business_account_id: None,
            kind: "cloud".into(),
            display_name: "Ventas (platica-bench)".into(),
            phone_number_id: PHONE_NUMBER_ID.into(),
            app_secret: APP_SECRET.into(),
            verify_token: "bench-verify".into(),
            access_token: "bench-access".into(),
            default_team_id: TeamId(team),
            // Nothing leaves loopback, even if something were sent.
            base_url: Some("http://127.0.0.1:9".into()),
            send_rate_per_sec: None,
        },
    )
    .await
    .context("creating the channel account")?;

    // Existing prospects, and outbound messages for the status webhooks to update.
    let phones: Vec<String> = sqlx::query_scalar(
        "SELECT p.phone FROM prospects p JOIN conversations c USING (tenant_id, prospect_id)
         WHERE p.tenant_id = $1 AND p.phone LIKE '+%' ORDER BY p.prospect_id",
    )
    .bind(tenant.0)
    .fetch_all(pool)
    .await?;
    if phones.is_empty() {
        bail!("the demo tenant has no prospects with a phone");
    }
    let convs: Vec<i64> =
        sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 ORDER BY 1")
            .bind(tenant.0)
            .fetch_all(pool)
            .await?;
    let status_webhooks: u64 = args
        .rates
        .iter()
        .map(|r| (*r as f64 * CYCLE as f64 / MESSAGES_PER_CYCLE as f64 * args.seconds as f64) as u64 / 10 + 10)
        .sum();
    let out_ids: Vec<String> = (0..status_webhooks).map(|n| format!("wamid.OUT.{n}")).collect();
    let out_convs: Vec<i64> = (0..status_webhooks).map(|n| convs[(n as usize * 31) % convs.len()]).collect();
    sqlx::query(
        "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status, external_id)
         SELECT $1, c, 'out', 'bot', 'Le comparto la cotización', 'sent', e FROM unnest($2::int8[], $3::text[]) AS u(c, e)",
    )
    .bind(tenant.0)
    .bind(&out_convs)
    .bind(&out_ids)
    .execute(pool)
    .await
    .context("preparing outbound messages")?;
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversations WHERE tenant_id = $1), (SELECT count(*) FROM messages WHERE tenant_id = $1)",
    )
    .bind(tenant.0)
    .fetch_one(pool)
    .await?;
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, current_setting(name) FROM pg_settings
         WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'shared_buffers', 'max_connections')
         ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    let pg_version: String = sqlx::query_scalar("SHOW server_version").fetch_one(pool).await?;
    let world = report::World {
        pg_version,
        settings,
        conversations: counts.0,
        messages: counts.1,
        status_webhooks,
        team_name,
        operational,
    };
    Ok(Prepared { key_b64, phones, world })
}

/// Waits for the server, connects the WebSocket client, and runs the steps until one cannot keep
/// up (every step with `--all-steps`).
async fn drive(
    args: &Args,
    pool: &PgPool,
    tenant: TenantId,
    admin: UserId,
    server: &mut Server,
    phones: Vec<String>,
    out_total: u64,
) -> anyhow::Result<Vec<StepResult>> {
    let port = server.port;
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    server.wait_ready(&http, "/ready", None, Duration::from_secs(90)).await?;
    let token = platica_store::org::auth::create_session(pool, tenant, admin).await?.0;
    let e2e = Arc::new(E2e::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let ws = tokio::spawn(ws_client(format!("ws://127.0.0.1:{port}/api/v1/ws?token={token}"), e2e.clone(), stop));
    let deadline = Instant::now() + Duration::from_secs(30);
    while e2e.ws.subscribed.load(Ordering::Relaxed) == 0 {
        if Instant::now() > deadline {
            bail!("the WebSocket client's inbox subscription was not confirmed");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ctx = Ctx {
        pool: pool.clone(),
        tenant,
        http,
        webhook_url: format!("{base}/api/v1/whatsapp/webhook"),
        plan: Arc::new(Plan {
            wa_ids: phones.iter().map(|p| p.trim_start_matches('+').to_owned()).collect(),
            next_out: AtomicU64::new(0),
            out_total,
        }),
        server_pid: server.pid(),
        connections: args.connections,
        pg_dir: args.dir.join("pg"),
    };
    let mut steps = Vec::new();
    tokio::time::sleep(STATS_FLUSH).await;
    let mut xacts = db_xacts(pool).await?;
    for (step, rate) in args.rates.iter().enumerate() {
        let mut s = run_step(&ctx, step, *rate, args.seconds, &e2e).await?;
        // Also lets checkpoints, autovacuum and the change stream settle between steps.
        tokio::time::sleep(STATS_FLUSH).await;
        let now = db_xacts(pool).await?;
        s.xacts = now - xacts;
        xacts = now;
        println!(
            "step {step}: offered {} msg/s, achieved {:.0}, ack p50 {:.1} ms p99 {:.1} ms max {:.1} ms, errors {}, \
             stored {} of {} acked ({}), e2e p50 {:.1} ms p99 {:.1} ms ({} samples), CPU server {:.0}% PostgreSQL {:.0}% load gen {:.0}% machine {:.0}%",
            s.offered,
            s.achieved,
            ms(s.p50),
            ms(s.p99),
            ms(s.max),
            s.errors,
            s.sql_messages,
            s.messages_acked,
            if s.verified() { "verified" } else { "MISMATCH" },
            ms(percentile(&s.e2e, 0.5)),
            ms(percentile(&s.e2e, 0.99)),
            s.e2e.len(),
            s.server_cpu,
            s.pg_cpu,
            s.own_cpu,
            s.machine_cpu
        );
        let kept_up = s.kept_up();
        steps.push(s);
        if !kept_up && !args.all_steps {
            break;
        }
    }
    let _ = stop_tx.send(true);
    let _ = ws.await;
    Ok(steps)
}
