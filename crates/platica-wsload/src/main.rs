//! `platica-wsload`: the realtime gateway under load, on loopback.
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

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use platica_domain::{TenantId, UserId};
use platica_store::cluster::{ClusterOptions, PrivateCluster};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Clone)]
#[command(about = "Load the realtime gateway and report latency, RSS and CPU")]
struct Args {
    /// The `platica` binary to run (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Working directory for the private PostgreSQL.
    #[arg(long, default_value = "/var/tmp/platica-wsload")]
    dir: PathBuf,
    /// Idle connections (4 subscriptions each).
    #[arg(long, default_value_t = 10_000)]
    idle: usize,
    /// Connections receiving the committed changes.
    #[arg(long, default_value_t = 2_000)]
    active: usize,
    /// Changes committed per second during the active phases.
    #[arg(long, default_value_t = 1_000)]
    rate: u64,
    /// Seconds each active phase lasts.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Connections that all receive one broadcast change.
    #[arg(long, default_value_t = 10_000)]
    broadcast: usize,
    /// Small sizes for a quick check.
    #[arg(long)]
    quick: bool,
    /// Where to write the markdown report.
    #[arg(long, default_value = "target/wsload.md")]
    out: PathBuf,
    /// Also put the report into this file, between its realtime markers (added when absent).
    #[arg(long)]
    benchmarks_md: Option<PathBuf>,
}

/// PostgreSQL backends flush their statistics within about 10 s when idle.
const STATS_FLUSH: Duration = Duration::from_secs(11);

const BEGIN: &str = "<!-- platica-wsload:begin -->";
const END: &str = "<!-- platica-wsload:end -->";

/// Replaces the text between the markers of `path` with `section` (appends both when absent).
fn merge_section(path: &std::path::Path, section: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{section}{END}\n");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => format!("{}{block}{}", &old[..b], old[e + END.len()..].trim_start_matches('\n')),
        _ => format!("{}{}{block}", old, if old.is_empty() || old.ends_with("\n\n") { "" } else { "\n" }),
    };
    std::fs::write(path, new)?;
    Ok(())
}

fn raise_nofile() -> u64 {
    // SAFETY: getrlimit/setrlimit with a valid struct pointer.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            return lim.rlim_cur;
        }
    }
    0
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn proc_field(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// CPU ticks (user + system) of a process.
fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// What clients observed.
#[derive(Default)]
struct Observed {
    latencies_us: Mutex<Vec<u64>>,
    frames: AtomicU64,
    subscribed: AtomicU64,
    errors: AtomicU64,
}

/// One client: connects, subscribes, reads until `stop`; event bodies carrying `t=<micros>` (or a
/// system value `b-<micros>`) give a latency sample.
async fn client(url: String, subs: Vec<Value>, seen: Arc<Observed>, stop: tokio::sync::watch::Receiver<bool>) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
        seen.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    for s in subs {
        if ws.send(Message::Text(s.to_string().into())).await.is_err() {
            seen.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    let mut stop = stop;
    let mut local = Vec::new();
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let now = now_micros();
                    let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                    match v["type"].as_str() {
                        Some("subscribed") => { seen.subscribed.fetch_add(1, Ordering::Relaxed); }
                        Some("event") => {
                            seen.frames.fetch_add(1, Ordering::Relaxed);
                            let row = &v["event"]["row"];
                            let stamp = row["body"].as_str().and_then(|b| b.strip_prefix("t="))
                                .or_else(|| row["value"]["version"].as_str().and_then(|b| b.strip_prefix("b-")))
                                .and_then(|s| s.parse::<i64>().ok());
                            if let Some(t) = stamp {
                                local.push((now - t).max(0) as u64);
                            }
                        }
                        Some("error") | Some("reset") => { seen.errors.fetch_add(1, Ordering::Relaxed); }
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            _ = stop.changed() => break,
        }
    }
    seen.latencies_us.lock().await.extend(local);
    let _ = ws.close(None).await;
}

struct World {
    pool: PgPool,
    url: String,
    tenant: TenantId,
    admin: UserId,
    /// executive -> their conversations
    execs: Vec<(UserId, Vec<i64>)>,
}

async fn sessions(w: &World, user: UserId, n: usize) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(platica_store::auth::create_session(&w.pool, w.tenant, user).await?.0);
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
    let expect: u64 = specs.iter().map(|(_, s)| s.len() as u64).sum::<u64>() + seen.subscribed.load(Ordering::Relaxed);
    let mut handles = Vec::new();
    for chunk in specs.chunks(200) {
        for (token, subs) in chunk {
            let url = format!("{ws_url}?token={token}");
            handles.push(tokio::spawn(client(url, subs.clone(), seen.clone(), stop.clone())));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.subscribed.load(Ordering::Relaxed) < expect {
        if Instant::now() > deadline {
            bail!("only {} of {expect} subscriptions confirmed", seen.subscribed.load(Ordering::Relaxed));
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

async fn db_xacts(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
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
    let cpu0 = cpu_ticks(server);
    let t0 = Instant::now();
    let committed = write(w, &hot_convs, args.rate, args.seconds).await?;
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu1 = cpu_ticks(server);
    tokio::time::sleep(Duration::from_secs(2)).await;
    close(handles, stop_tx).await;
    // Statistics reach pg_stat_database when backends flush them (within ~10 s when idle).
    tokio::time::sleep(STATS_FLUSH).await;
    let xacts = db_xacts(&w.pool).await? - xacts_before;
    let mut l = seen.latencies_us.lock().await.clone();
    l.sort_unstable();
    let ticks = 100.0; // CLK_TCK on Linux
    Ok(Phase {
        name: name.into(),
        connections,
        subscriptions,
        committed,
        frames: seen.frames.load(Ordering::Relaxed),
        p50_ms: percentile(&l, 0.5) as f64 / 1000.0,
        p99_ms: percentile(&l, 0.99) as f64 / 1000.0,
        max_ms: l.last().copied().unwrap_or(0) as f64 / 1000.0,
        cpu_pct: (cpu1 - cpu0) as f64 / ticks / elapsed * 100.0,
        errors: seen.errors.load(Ordering::Relaxed),
        xacts,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        (args.idle, args.active, args.rate, args.seconds, args.broadcast) = (1_000, 200, 200, 5, 1_000);
    }
    let nofile = raise_nofile();
    if (nofile as usize) < args.idle.max(args.broadcast) + 1_000 {
        bail!("the open-file limit is {nofile}: too low for {} connections", args.idle.max(args.broadcast));
    }
    let server_bin = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("platica"),
    };
    if !server_bin.is_file() {
        bail!("{} not found: build it with cargo build --release -p platica", server_bin.display());
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir)?;

    // The cluster lives in a thread of its own (it is stopped when that thread ends).
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_pg, stop_pg_rx) = std::sync::mpsc::channel::<()>();
    let root = args.dir.join("pg");
    let pg_thread = std::thread::spawn(move || {
        let mut opts = ClusterOptions::new(root, false);
        opts.settings.extend(["max_connections=200".into(), "shared_buffers=512MB".into()]);
        match PrivateCluster::start(&opts) {
            Ok(c) => {
                let _ = tx.send(Ok(c.url("")));
                let _ = stop_pg_rx.recv();
                let _ = c.stop();
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
            }
        }
    });
    let prefix = rx.recv()?.map_err(anyhow::Error::msg)?;
    platica_store::db::create_database(&format!("{prefix}postgres"), "wsload", None).await?;
    let url = format!("{prefix}wsload");
    let pool = platica_store::db::connect(&url, 16).await?;
    platica_store::db::migrate(&pool).await?;
    let info = platica_demo::seed(&pool).await.context("seeding")?;
    let admin: i64 = sqlx::query_scalar("SELECT user_id FROM users WHERE tenant_id = $1 AND role = 'admin' LIMIT 1")
        .bind(info.tenant_id.0)
        .fetch_one(&pool)
        .await?;
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT p.executive_id, c.conversation_id FROM prospects p JOIN conversations c USING (tenant_id, prospect_id)
         WHERE p.tenant_id = $1 AND p.executive_id IS NOT NULL ORDER BY c.conversation_id",
    )
    .bind(info.tenant_id.0)
    .fetch_all(&pool)
    .await?;
    let mut execs: std::collections::BTreeMap<i64, Vec<i64>> = Default::default();
    for (e, c) in &rows {
        execs.entry(*e).or_default().push(*c);
    }
    let w = World {
        pool: pool.clone(),
        url: url.clone(),
        tenant: info.tenant_id,
        admin: UserId(admin),
        execs: execs.into_iter().map(|(e, c)| (UserId(e), c)).collect(),
    };
    let pairs: Vec<(UserId, i64)> = rows.iter().map(|(e, c)| (UserId(*e), *c)).collect();

    // The server, as a process of its own.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let mut server = std::process::Command::new(&server_bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &w.url])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting the server")?;
    let pid = server.id();
    let http = format!("http://127.0.0.1:{port}");
    let ws_url = format!("ws://127.0.0.1:{port}/api/v1/ws");
    let started = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            bail!("the server did not listen on {http}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_start = proc_field(pid, "VmRSS:");

    // 1. Idle connections with 4 subscriptions each.
    let seen = Arc::new(Observed::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut specs = Vec::new();
    let per_exec = args.idle / w.execs.len().max(1) + 1;
    for (exec, convs) in &w.execs {
        let tokens = sessions(&w, *exec, 1).await?;
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
    let rss_idle = proc_field(pid, "VmRSS:");
    println!("idle: {idle_conns} connections, RSS {} MB (from {} MB)", rss_idle / 1024, rss_start / 1024);
    close(handles, stop_tx).await;
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 2. Active and 3. crowded.
    let hot: Vec<(UserId, i64)> = pairs.iter().take(args.active).copied().collect();
    let cold: Vec<(UserId, i64)> = pairs.iter().skip(args.active).copied().collect();
    let active = active_phase("active", &w, &ws_url, pid, &args, &hot, &cold, 0).await?;
    let crowded_conns = (args.active * 9 / 2).min(args.idle);
    let crowded = active_phase("crowded", &w, &ws_url, pid, &args, &hot, &cold, crowded_conns).await?;

    // 4. Broadcast: one system change seen by every connection.
    let seen = Arc::new(Observed::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let token = sessions(&w, w.admin, 1).await?.remove(0);
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
    let expected = args.broadcast as u64 * 5;
    tokio::time::sleep(STATS_FLUSH).await;
    let bcast_xacts = db_xacts(&w.pool).await? - xacts_before;

    let _ = server.kill();
    let _ = server.wait();
    pool.close().await;
    let _ = stop_pg.send(());
    let _ = pg_thread.join();

    // The report.
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let mut md = String::new();
    md.push_str(&format!(
        "## Realtime gateway (platica-wsload)\n\nMeasured {} on {cpu}, {} cores, {} GB RAM; PostgreSQL 15 (fsync off, synchronous_commit on); \
         server `platica serve` (release) as its own process, clients in another process, all on loopback. \
         Data: the demo tenant (3,000 conversations, ~61,000 messages).\n\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC"),
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        proc_meminfo_gb()
    ));
    md.push_str("| scenario | connections | subscriptions | result | target |\n|---|---|---|---|---|\n");
    md.push_str(&format!(
        "| idle | {idle_conns} | {} | server RSS {} MB ({} MB before; {:.1} KB per connection; opened in {open_secs:.1} s) | <= 1 GB |\n",
        idle_conns * 4,
        rss_idle / 1024,
        rss_start / 1024,
        (rss_idle.saturating_sub(rss_start)) as f64 / idle_conns.max(1) as f64
    ));
    for p in [&active, &crowded] {
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
        percentile(&l, 0.5) as f64 / 1000.0,
        percentile(&l, 0.99) as f64 / 1000.0,
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
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, &md)?;
    if let Some(path) = &args.benchmarks_md {
        merge_section(path, &md)?;
    }
    println!("{md}");
    Ok(())
}

fn proc_meminfo_gb() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map(|kb| kb / 1024 / 1024)
        .unwrap_or(0)
}
