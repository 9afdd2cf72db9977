//! `platica-bench realtime` (`scripts/bench-realtime`): the realtime gateway under load, on
//! loopback.
//!
//! Starts a private PostgreSQL, seeds the demo tenant, runs `platica serve` as a child process
//! (so its RSS and CPU are its own), opens many WebSocket clients from this process and measures:
//!
//! - **idle**: server RSS with N idle connections holding 4 subscriptions each;
//! - **active**: commit-to-client latency (p50/p99) and server CPU while changes are committed at a
//!   steady rate and routed to a mix of subscriptions;
//! - **crowded**: the same with about 10x more subscriptions that the changes do not concern
//!   (latency must follow the deliveries, not the subscriber count);
//! - **broadcast**: one change seen by every connection (a `system` frame);
//! - database transactions during fan-out (the gateway must issue none).
//!
//! Every request loop is bounded in count and time, and all traffic stays on 127.0.0.1.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use platica_domain::{TenantId, UserId};
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::procfs::{self, Machine, TICKS_PER_SEC};
use crate::setup::{self, STATS_FLUSH, Server, Workspace, WsCounts, db_xacts};
use crate::stats::{now_micros, percentile};

/// Load the realtime gateway and report latency, RSS and CPU.
#[derive(clap::Args, Clone)]
pub struct Args {
    /// The `platica` binary to run (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Working directory for the private PostgreSQL.
    #[arg(long, default_value = "/var/tmp/platica-bench-realtime")]
    dir: PathBuf,
    /// Idle connections (4 subscriptions each).
    #[arg(long, default_value_t = 10_000)]
    pub idle: usize,
    /// Connections receiving the committed changes.
    #[arg(long, default_value_t = 2_000)]
    pub active: usize,
    /// Changes committed per second during the active phases.
    #[arg(long, default_value_t = 1_000)]
    pub rate: u64,
    /// Seconds each active phase lasts.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Connections that all receive one broadcast change.
    #[arg(long, default_value_t = 10_000)]
    pub broadcast: usize,
    /// Small sizes for a quick check.
    #[arg(long)]
    quick: bool,
    /// Where to write the markdown report.
    #[arg(long, default_value = "target/bench-realtime.md")]
    out: PathBuf,
    /// Also put the report into this file, between its realtime markers (added when absent).
    #[arg(long)]
    pub benchmarks_md: Option<PathBuf>,
}

impl Args {
    /// The arguments with `--quick`'s small sizes applied.
    pub fn effective(mut self) -> Args {
        if self.quick {
            (self.idle, self.active, self.rate, self.seconds, self.broadcast) = (1_000, 200, 200, 5, 1_000);
        }
        self
    }
}

/// Its section of BENCHMARKS.md.
const SECTION: &str = "realtime";

/// What clients observed.
#[derive(Default)]
struct Observed {
    latencies_us: Mutex<Vec<u64>>,
    frames: AtomicU64,
    ws: WsCounts,
}

/// One client: connects, subscribes, reads until `stop`; event bodies carrying `t=<micros>` (or a
/// system value `b-<micros>`) give a latency sample.
async fn client(url: String, subs: Vec<Value>, seen: Arc<Observed>, stop: tokio::sync::watch::Receiver<bool>) {
    let mut local = Vec::new();
    setup::ws_client(&url, &subs, &seen.ws, stop, |v, now| {
        seen.frames.fetch_add(1, Ordering::Relaxed);
        let row = &v["event"]["row"];
        let stamp = row["body"]
            .as_str()
            .and_then(|b| b.strip_prefix("t="))
            .or_else(|| row["value"]["version"].as_str().and_then(|b| b.strip_prefix("b-")))
            .and_then(|s| s.parse::<i64>().ok());
        if let Some(t) = stamp {
            local.push((now - t).max(0) as u64);
        }
    })
    .await;
    seen.latencies_us.lock().await.extend(local);
}

struct World {
    pool: PgPool,
    tenant: TenantId,
    admin: UserId,
    /// executive -> their conversations
    execs: Vec<(UserId, Vec<i64>)>,
}

async fn sessions(w: &World, user: UserId, n: usize) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(platica_store::org::auth::create_session(&w.pool, w.tenant, user).await?.0);
    }
    Ok(out)
}

fn sub(id: &str, topic: &str, filters: Value) -> Value {
    json!({"type": "subscribe", "id": id, "topic": topic, "filters": filters})
}

/// Opens `specs` clients, 200 at a time, and waits until `expect` subscriptions are confirmed.
async fn open(
    ws_url: &str,
    specs: Vec<(String, Vec<Value>)>,
    seen: &Arc<Observed>,
    stop: &tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let expect: u64 =
        specs.iter().map(|(_, s)| s.len() as u64).sum::<u64>() + seen.ws.subscribed.load(Ordering::Relaxed);
    let mut handles = Vec::new();
    for chunk in specs.chunks(200) {
        for (token, subs) in chunk {
            let url = format!("{ws_url}?token={token}");
            handles.push(tokio::spawn(client(url, subs.clone(), seen.clone(), stop.clone())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.ws.subscribed.load(Ordering::Relaxed) < expect {
        if Instant::now() > deadline {
            bail!("only {} of {expect} subscriptions confirmed", seen.ws.subscribed.load(Ordering::Relaxed));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(handles)
}

async fn close(handles: Vec<tokio::task::JoinHandle<()>>, stop: tokio::sync::watch::Sender<bool>) {
    let _ = stop.send(true);
    for h in handles {
        let _ = h.await;
    }
}

/// Commits `rate` message inserts per second for `secs` into `convs`, body `t=<micros>`.
async fn write(w: &World, convs: &[i64], rate: u64, secs: u64) -> anyhow::Result<u64> {
    let writers = 4u64;
    let mut tasks = Vec::new();
    for k in 0..writers {
        let pool = w.pool.clone();
        let convs = convs.to_vec();
        let tenant = w.tenant.0;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 * writers / rate.max(1)));
            let end = Instant::now() + Duration::from_secs(secs);
            let mut n = 0u64;
            let mut i = k as usize;
            while Instant::now() < end {
                tick.tick().await;
                let c = convs[i % convs.len()];
                i += writers as usize * 7 + 1;
                let r = sqlx::query(
                    "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
                     VALUES ($1, $2, 'in', 'prospect', $3, 'delivered')",
                )
                .bind(tenant)
                .bind(c)
                .bind(format!("t={}", now_micros()))
                .execute(&pool)
                .await;
                if r.is_ok() {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await?;
    }
    Ok(total)
}

struct Phase {
    name: String,
    connections: usize,
    subscriptions: usize,
    committed: u64,
    frames: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    cpu_pct: f64,
    errors: u64,
    /// Transactions in the database during the phase (the writes included).
    xacts: i64,
}

#[allow(clippy::too_many_arguments)]
async fn active_phase(
    name: &str,
    w: &World,
    ws_url: &str,
    server: u32,
    args: &Args,
    hot: &[(UserId, i64)],
    cold: &[(UserId, i64)],
    cold_conns: usize,
) -> anyhow::Result<Phase> {
    let seen = Arc::new(Observed::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let admin = sessions(w, w.admin, 1).await?.remove(0);
    let mut specs = Vec::new();
    // Connections that the changes concern: a conversation or table subscription of a hot
    // conversation each, and every 20th an executive's inbox.
    for (i, (exec, conv)) in hot.iter().take(args.active).enumerate() {
        let s = match i % 20 {
            0 => {
                let t = sessions(w, *exec, 1).await?.remove(0);
                specs.push((t, vec![sub("in", "inbox", json!({}))]));
                continue;
            }
            k if k % 2 == 0 => sub("c", &format!("conversation:{conv}"), json!({})),
            _ => sub("t", "table:messages", json!({"conversation_id": format!("eq.{conv}")})),
        };
        specs.push((admin.clone(), vec![s]));
    }
    // Connections the changes do not concern (the crowded phase): two subscriptions each on cold
    // conversations.
    for (i, (_, conv)) in cold.iter().cycle().take(cold_conns).enumerate() {
        let other = cold[(i * 31 + 7) % cold.len()].1;
        specs.push((
            admin.clone(),
            vec![
                sub("c", &format!("conversation:{conv}"), json!({})),
                sub("t", "table:messages", json!({"conversation_id": format!("eq.{other}")})),
            ],
        ));
    }
    let connections = specs.len();
    let subscriptions = specs.iter().map(|s| s.1.len()).sum();
    let handles = open(ws_url, specs, &seen, &stop).await?;
    let hot_convs: Vec<i64> = hot.iter().take(args.active).map(|(_, c)| *c).collect();
    // Let the statistics of the connections' authentication reach pg_stat_database first.
    tokio::time::sleep(STATS_FLUSH).await;
    let xacts_before = db_xacts(&w.pool).await?;
    let cpu0 = procfs::cpu_ticks(server);
    let t0 = Instant::now();
    let committed = write(w, &hot_convs, args.rate, args.seconds).await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = procfs::cpu_ticks(server);
    tokio::time::sleep(Duration::from_secs(2)).await;
    close(handles, stop_tx).await;
    // Statistics reach pg_stat_database when backends flush them (within ~10 s when idle).
    tokio::time::sleep(STATS_FLUSH).await;
    let xacts = db_xacts(&w.pool).await? - xacts_before;
    let mut l = seen.latencies_us.lock().await.clone();
    l.sort_unstable();
    Ok(Phase {
        name: name.into(),
        connections,
        subscriptions,
        committed,
        frames: seen.frames.load(Ordering::Relaxed),
        p50_ms: percentile(&l, 0.5) as f64 / 1000.0,
        p99_ms: percentile(&l, 0.99) as f64 / 1000.0,
        max_ms: l.last().copied().unwrap_or(0) as f64 / 1000.0,
        cpu_pct: (cpu1 - cpu0) as f64 / TICKS_PER_SEC / elapsed * 100.0,
        errors: seen.ws.errors.load(Ordering::Relaxed),
        xacts,
    })
}

/// Runs the realtime gateway benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let args = args.effective();
    let nofile = procfs::raise_nofile();
    if (nofile as usize) < args.idle.max(args.broadcast) + 1_000 {
        bail!("the open-file limit is {nofile}: too low for {} connections", args.idle.max(args.broadcast));
    }
    let server_bin = setup::platica_binary(args.server_bin.as_deref())?;
    let mut cluster = ClusterOptions::new(args.dir.join("pg"), false);
    cluster.settings.extend(["max_connections=200".into(), "shared_buffers=512MB".into()]);
    let ws = Workspace { dir: args.dir.clone(), keep: false, cluster, workers: None };
    let md = setup::run_with_cluster(ws, async |cluster: &PrivateCluster| measure(&args, cluster, &server_bin).await)?;
    setup::publish(&args.out, args.benchmarks_md.as_deref(), SECTION, &md)
}

/// Seeds the demo tenant, runs the server and the four phases; returns the report.
async fn measure(args: &Args, cluster: &PrivateCluster, server_bin: &Path) -> anyhow::Result<String> {
    let demo = setup::demo_tenant(cluster, "realtime", 16).await?;
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT p.executive_id, c.conversation_id FROM prospects p JOIN conversations c USING (tenant_id, prospect_id)
         WHERE p.tenant_id = $1 AND p.executive_id IS NOT NULL ORDER BY c.conversation_id",
    )
    .bind(demo.tenant.0)
    .fetch_all(&demo.pool)
    .await?;
    let mut execs: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (e, c) in &rows {
        execs.entry(*e).or_default().push(*c);
    }
    let w = World {
        pool: demo.pool.clone(),
        tenant: demo.tenant,
        admin: demo.admin,
        execs: execs.into_iter().map(|(e, c)| (UserId(e), c)).collect(),
    };
    let pairs: Vec<(UserId, i64)> = rows.iter().map(|(e, c)| (UserId(*e), *c)).collect();

    // The server, as a process of its own.
    let mut server = Server::spawn(server_bin, &demo.url, &[("RUST_LOG", "warn")], None)?;
    let result = phases(args, &w, &pairs, &mut server).await;
    server.stop().await?;
    demo.pool.close().await;
    result
}

async fn phases(args: &Args, w: &World, pairs: &[(UserId, i64)], server: &mut Server) -> anyhow::Result<String> {
    server.wait_listening(Duration::from_secs(60)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.pid();
    let ws_url = format!("ws://127.0.0.1:{}/api/v1/ws", server.port);
    let rss_start = procfs::memory(pid).0 / 1024;
    // 1. Idle connections with 4 subscriptions each.
    let seen = Arc::new(Observed::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut specs = Vec::new();
    let per_exec = args.idle / w.execs.len().max(1) + 1;
    for (exec, convs) in &w.execs {
        let tokens = sessions(w, *exec, 1).await?;
        for k in 0..per_exec {
            if specs.len() == args.idle {
                break;
            }
            let c = convs[k % convs.len()];
            specs.push((
                tokens[0].clone(),
                vec![
                    sub("in", "inbox", json!({})),
                    sub("sys", "system", json!({})),
                    sub("c", &format!("conversation:{c}"), json!({})),
                    sub("t", "table:messages", json!({"conversation_id": format!("eq.{c}")})),
                ],
            ));
        }
    }
    let idle_conns = specs.len();
    let t = Instant::now();
    let handles = open(&ws_url, specs, &seen, &stop).await?;
    let open_secs = t.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_idle = procfs::memory(pid).0 / 1024;
    println!("idle: {idle_conns} connections, RSS {} MB (from {} MB)", rss_idle / 1024, rss_start / 1024);
    let idle = Idle { connections: idle_conns, rss_start, rss_idle, open_secs };
    close(handles, stop_tx).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 2. Active and 3. crowded.
    let hot: Vec<(UserId, i64)> = pairs.iter().take(args.active).copied().collect();
    let cold: Vec<(UserId, i64)> = pairs.iter().skip(args.active).copied().collect();
    let active = active_phase("active", w, &ws_url, pid, args, &hot, &cold, 0).await?;
    let crowded_conns = (args.active * 9 / 2).min(args.idle);
    let crowded = active_phase("crowded", w, &ws_url, pid, args, &hot, &cold, crowded_conns).await?;

    // 4. Broadcast: one system change seen by every connection.
    let seen = Arc::new(Observed::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let token = sessions(w, w.admin, 1).await?.remove(0);
    let specs: Vec<(String, Vec<Value>)> =
        (0..args.broadcast).map(|_| (token.clone(), vec![sub("sys", "system", json!({}))])).collect();
    let handles = open(&ws_url, specs, &seen, &stop).await?;
    tokio::time::sleep(STATS_FLUSH).await;
    let xacts_before = db_xacts(&w.pool).await?;
    for _ in 0..5 {
        sqlx::query(
            "INSERT INTO system_config (tenant_id, key, value) VALUES ($1, 'app_version', $2)
             ON CONFLICT (tenant_id, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(w.tenant.0)
        .bind(json!({"version": format!("b-{}", now_micros()), "force_update": false}))
        .execute(&w.pool)
        .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    close(handles, stop_tx).await;
    let mut l = seen.latencies_us.lock().await.clone();
    l.sort_unstable();
    tokio::time::sleep(STATS_FLUSH).await;
    let bcast_xacts = db_xacts(&w.pool).await? - xacts_before;
    Ok(report(args, &idle, [&active, &crowded], &l, bcast_xacts))
}

/// The idle phase: connections, server RSS (kB) before and with them, seconds to open them.
struct Idle {
    connections: usize,
    rss_start: u64,
    rss_idle: u64,
    open_secs: f64,
}

/// The report's markdown; `bcast` holds the broadcast's sorted latencies (µs).
fn report(args: &Args, idle: &Idle, active: [&Phase; 2], bcast: &[u64], bcast_xacts: i64) -> String {
    let Idle { connections: idle_conns, rss_start, rss_idle, open_secs } = *idle;
    let l = bcast;
    let expected = args.broadcast as u64 * 5;
    let machine = Machine::detect();
    let cpu = machine.cpu.unwrap_or_default();
    let mut md = String::new();
    md.push_str(&format!(
        "## Realtime gateway (platica-bench realtime)\n\nMeasured {} on {cpu}, {} cores, {} GB RAM; PostgreSQL 15 (fsync off, synchronous_commit on); \
         server `platica serve` (release) as its own process, clients in another process, all on loopback. \
         Data: the demo tenant (3,000 conversations, ~61,000 messages).\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        procfs::cores(),
        machine.mem_total_kb.unwrap_or(0) / 1024 / 1024
    ));
    md.push_str("| scenario | connections | subscriptions | result | target |\n|---|---|---|---|---|\n");
    md.push_str(&format!(
        "| idle | {idle_conns} | {} | server RSS {} MB ({} MB before; {:.1} KB per connection; opened in {open_secs:.1} s) | <= 1 GB |\n",
        idle_conns * 4,
        rss_idle / 1024,
        rss_start / 1024,
        (rss_idle.saturating_sub(rss_start)) as f64 / idle_conns.max(1) as f64
    ));
    for p in active {
        md.push_str(&format!(
            "| {} ({} changes/s for {} s) | {} | {} | commit-to-client p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {} frames; server CPU {:.0}% of one core; {} client errors; {} database transactions for {} committed writes | p99 <= 50 ms, no query per event |\n",
            p.name, args.rate, args.seconds, p.connections, p.subscriptions, p.p50_ms, p.p99_ms, p.max_ms, p.frames, p.cpu_pct, p.errors, p.xacts, p.committed
        ));
    }
    md.push_str(&format!(
        "| broadcast (5 system changes) | {} | {} | delivered {} of {expected}; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms | all delivered, p99 <= 200 ms |\n",
        args.broadcast,
        args.broadcast,
        l.len(),
        percentile(l, 0.5) as f64 / 1000.0,
        percentile(l, 0.99) as f64 / 1000.0,
        l.last().copied().unwrap_or(0) as f64 / 1000.0
    ));
    md.push_str(&format!(
        "\nDatabase transactions are counted in pg_stat_database for the test database, read 11 s after each phase \
         so backends have flushed their statistics. They include the writes themselves, this tool's statistics reads and \
         whatever else the server ran meanwhile (not attributed here); the excess does not follow the frames delivered, \
         so it is not per event. Broadcast phase: {bcast_xacts} transactions for 5 writes to {} subscribers. The test \
         `fan_out_issues_no_database_query` proves the server's own pool hands out no connection during fan-out.\n",
        args.broadcast
    ));
    md
}
