//! `platica-webhookload`: the WhatsApp Cloud API webhook under load, on loopback.
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

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use platica_domain::{TeamId, TenantId};
use platica_store::cluster::{ClusterOptions, PrivateCluster};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Clone)]
#[command(about = "Load the WhatsApp webhook and report ack latency, throughput and webhook-to-WebSocket latency")]
struct Args {
    /// The `platica` binary to run (default: next to this one).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Working directory for the private PostgreSQL (removed at the start of a run).
    #[arg(long, default_value = "/var/tmp/platica-webhookload")]
    dir: PathBuf,
    /// Offered rates, inbound messages per second, one step each, in order.
    #[arg(long, value_delimiter = ',', default_values_t = [200u64, 500, 1_000, 2_000, 3_000, 4_000, 5_000])]
    rates: Vec<u64>,
    /// Seconds each step offers its rate.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Most requests in flight (HTTP connections).
    #[arg(long, default_value_t = 256)]
    connections: usize,
    /// Run every step even after one could not keep up.
    #[arg(long)]
    all_steps: bool,
    /// Two short steps (200/s and 1,000/s for 5 s) for a smoke run.
    #[arg(long)]
    quick: bool,
    /// Where to write the markdown report.
    #[arg(long, default_value = "target/webhookload.md")]
    out: PathBuf,
    /// Also put the report into this file, between its webhookload markers (added when absent).
    #[arg(long)]
    benchmarks_md: Option<PathBuf>,
}

const BEGIN: &str = "<!-- platica-webhookload:begin -->";
const END: &str = "<!-- platica-webhookload:end -->";
const APP_SECRET: &str = "webhookload-app-secret-0123456789abcdef";
const PHONE_NUMBER_ID: &str = "109000000000001";
/// Webhooks per cycle of the mix, and the messages they carry.
const CYCLE: u64 = 20;
const MESSAGES_PER_CYCLE: u64 = 22;
/// PostgreSQL backends flush their statistics within about 10 s when idle.
const STATS_FLUSH: Duration = Duration::from_secs(11);
/// Requests that take longer count as errors.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Replaces the text between the markers of `path` with `section` (appends both when absent).
fn merge_section(path: &Path, section: &str) -> anyhow::Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_default();
    let block = format!("{BEGIN}\n{section}{END}\n");
    let new = match (old.find(BEGIN), old.find(END)) {
        (Some(b), Some(e)) if e > b => {
            format!("{}{block}{}", &old[..b], old[e + END.len()..].trim_start_matches('\n'))
        }
        _ => format!("{}{}{block}", old, if old.is_empty() || old.ends_with("\n\n") { "" } else { "\n" }),
    };
    std::fs::write(path, new).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
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

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
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

/// CPU ticks of the private PostgreSQL: its postmaster (the `postgres` whose command line names
/// `dir`) and every child of it.
fn pg_ticks(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else { return 0 };
    let pids: Vec<u32> = entries.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect();
    let needle = dir.to_string_lossy().into_owned();
    let postmaster = pids.iter().copied().find(|pid| {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        cmd.split('\0').next().is_some_and(|b| b.ends_with("/postgres")) && cmd.contains(&needle)
    });
    let Some(pm) = postmaster else { return 0 };
    let ppid = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| s.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse::<u32>().ok())
    };
    pids.iter().filter(|p| **p == pm || ppid(**p) == Some(pm)).map(|p| cpu_ticks(*p)).sum()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Busy and total ticks of the whole machine (all cores).
fn machine_ticks() -> (u64, u64) {
    let line = std::fs::read_to_string("/proc/stat").ok().and_then(|s| s.lines().next().map(str::to_owned));
    let v: Vec<u64> =
        line.map(|l| l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect()).unwrap_or_default();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total.saturating_sub(idle), total)
}

fn sign(body: &[u8]) -> String {
    platica_domain::signature::sign(APP_SECRET, body)
}

fn notification(value: Value) -> Value {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": PHONE_NUMBER_ID});
    json!({"object": "whatsapp_business_account",
           "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}]})
}

/// What webhook `i` of a step carries.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Single,
    Batch,
    NewNumber,
    Status,
}

fn kind_of(i: u64) -> Kind {
    match i % CYCLE {
        4 | 14 => Kind::Batch,
        9 => Kind::NewNumber,
        7 | 17 => Kind::Status,
        _ => Kind::Single,
    }
}

fn messages_of(k: Kind) -> u64 {
    match k {
        Kind::Single | Kind::NewNumber => 1,
        Kind::Batch => 3,
        Kind::Status => 0,
    }
}

const TEXTS: &[&str] = &[
    "Hola, ¿me pasa el precio?",
    "¿Tienen disponibilidad para el jueves?",
    "Gracias, lo reviso con mi esposa",
    "¿Aceptan tarjeta?",
    "Ok, mándeme la cotización por favor",
];

/// The world a step sends into.
struct Plan {
    /// Phones of existing prospects, without the `+` (the Cloud API's `wa_id`).
    wa_ids: Vec<String>,
    /// Outbound message ids handed out to status webhooks.
    next_out: AtomicU64,
    out_total: u64,
}

/// The payload of webhook `i` of step `step`; (body, messages, statuses).
fn payload(plan: &Plan, step: usize, i: u64) -> (Vec<u8>, u64, u64) {
    let t = now_micros();
    let existing =
        |n: u64| plan.wa_ids[((n.wrapping_mul(7919) + step as u64 * 131) % plan.wa_ids.len() as u64) as usize].clone();
    let text = |wa: &str, k: u64| {
        json!({"from": wa, "id": format!("wamid.S{step}.{i}.{k}"), "timestamp": (t / 1_000_000).to_string(),
               "type": "text", "text": {"body": format!("t={t} {}", TEXTS[((i + k) % TEXTS.len() as u64) as usize])}})
    };
    let contact = |wa: &str| json!({"profile": {"name": format!("Cliente {wa}")}, "wa_id": wa});
    let kind = kind_of(i);
    let v = match kind {
        Kind::Single => {
            let wa = existing(i);
            notification(json!({"contacts": [contact(&wa)], "messages": [text(&wa, 0)]}))
        }
        Kind::Batch => {
            let was: Vec<String> = (0..3).map(|k| existing(i * 3 + k + 1)).collect();
            notification(json!({
                "contacts": was.iter().map(|w| contact(w)).collect::<Vec<_>>(),
                "messages": was.iter().enumerate().map(|(k, w)| text(w, k as u64)).collect::<Vec<_>>()}))
        }
        Kind::NewNumber => {
            let wa = format!("5219{step:02}{i:07}");
            notification(json!({"contacts": [contact(&wa)], "messages": [text(&wa, 0)]}))
        }
        Kind::Status => {
            let n = plan.next_out.fetch_add(1, Ordering::Relaxed) % plan.out_total.max(1);
            let id = format!("wamid.OUT.{n}");
            let ts = (t / 1_000_000).to_string();
            notification(json!({"statuses": [
                {"id": id, "status": "delivered", "timestamp": ts, "recipient_id": "5215500000000"},
                {"id": id, "status": "read", "timestamp": ts, "recipient_id": "5215500000000"}]}))
        }
    };
    let statuses = if kind == Kind::Status { 2 } else { 0 };
    (v.to_string().into_bytes(), messages_of(kind), statuses)
}

/// What one step observed.
#[derive(Default)]
struct Counters {
    webhooks_ok: AtomicU64,
    messages_sent: AtomicU64,
    messages_acked: AtomicU64,
    statuses_acked: AtomicU64,
    stored: AtomicU64,
    duplicates: AtomicU64,
    prospects_created: AtomicU64,
    statuses_applied: AtomicU64,
    errors: AtomicU64,
    /// Microseconds from the step's start to the last answer.
    last_answer_us: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
    first_error: Mutex<Option<String>>,
}

impl Counters {
    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.first_error.lock()
            && f.is_none()
        {
            *f = Some(e);
        }
    }
}

/// The webhook-to-client samples of the WebSocket client (swapped out per step).
#[derive(Default)]
struct E2e {
    samples_us: Mutex<Vec<u64>>,
    subscribed: AtomicU64,
    errors: AtomicU64,
}

async fn ws_client(url: String, seen: Arc<E2e>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(&url).await else {
        seen.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let sub = json!({"type": "subscribe", "id": "in", "topic": "inbox", "filters": {}});
    if ws.send(Message::Text(sub.to_string().into())).await.is_err() {
        seen.errors.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut first_seen = std::collections::HashSet::new();
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let now = now_micros();
                    let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                    match v["type"].as_str() {
                        Some("subscribed") => { seen.subscribed.fetch_add(1, Ordering::Relaxed); }
                        Some("event") => {
                            // An upsert for another reason (a status update) shows an older message
                            // again: only a message's first appearance is a sample.
                            let row = &v["event"]["row"];
                            let Some(id) = row["last_message_id"].as_i64() else { continue };
                            if !first_seen.insert(id) {
                                continue;
                            }
                            let stamp = row["last_message_preview"].as_str()
                                .and_then(|b| b.strip_prefix("t="))
                                .and_then(|s| s.split(' ').next())
                                .and_then(|s| s.parse::<i64>().ok());
                            if let (Some(t), Ok(mut l)) = (stamp, seen.samples_us.lock()) {
                                l.push((now - t).max(0) as u64);
                            }
                        }
                        Some("error") | Some("reset") | Some("revoked") => { seen.errors.fetch_add(1, Ordering::Relaxed); }
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            _ = stop.changed() => break,
        }
    }
    let _ = ws.close(None).await;
}

struct StepResult {
    offered: u64,
    webhooks: u64,
    messages_sent: u64,
    messages_acked: u64,
    achieved: f64,
    p50: u64,
    p95: u64,
    p99: u64,
    max: u64,
    errors: u64,
    first_error: Option<String>,
    /// SQL: inbound messages of this step, and distinct WhatsApp ids among them.
    sql_messages: i64,
    sql_distinct: i64,
    receipts_stored: u64,
    duplicates: u64,
    new_acked: u64,
    sql_prospects: i64,
    sql_assigned: i64,
    sql_execs: i64,
    statuses_acked: u64,
    statuses_applied: u64,
    sql_statuses: i64,
    e2e: Vec<u64>,
    e2e_errors: u64,
    server_cpu: f64,
    own_cpu: f64,
    pg_cpu: f64,
    machine_cpu: f64,
    /// The load average at the end of the step (other work on the machine shows here).
    loadavg: String,
    /// Transactions committed or rolled back in the database during the step (set by `drive`).
    xacts: i64,
}

impl StepResult {
    fn verified(&self) -> bool {
        let msgs_ok = if self.errors == 0 {
            self.sql_messages == self.messages_acked as i64
        } else {
            self.sql_messages >= self.messages_acked as i64 && self.sql_messages <= self.messages_sent as i64
        };
        msgs_ok
            && self.sql_messages == self.sql_distinct
            && self.duplicates == 0
            && self.receipts_stored == self.messages_acked
            && (self.errors > 0 || self.sql_statuses == self.statuses_acked as i64)
            && (self.errors > 0 || self.sql_prospects == self.new_acked as i64)
    }

    fn kept_up(&self) -> bool {
        self.achieved >= 0.95 * self.offered as f64
            && self.p99 <= 1_000_000
            && self.errors * 200 <= self.webhooks.max(1)
    }
}

struct Ctx {
    pool: PgPool,
    tenant: TenantId,
    http: reqwest::Client,
    webhook_url: String,
    plan: Arc<Plan>,
    server_pid: u32,
    connections: usize,
    pg_dir: PathBuf,
}

async fn db_xacts(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

async fn status_rows(pool: &PgPool, tenant: TenantId) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM message_statuses s JOIN messages m USING (tenant_id, message_id)
         WHERE s.tenant_id = $1 AND m.external_id LIKE 'wamid.OUT.%'",
    )
    .bind(tenant.0)
    .fetch_one(pool)
    .await?)
}

async fn run_step(ctx: &Ctx, step: usize, rate: u64, secs: u64, e2e: &Arc<E2e>) -> anyhow::Result<StepResult> {
    let counters = Arc::new(Counters::default());
    let sem = Arc::new(tokio::sync::Semaphore::new(ctx.connections));
    let webhook_rate = rate as f64 * CYCLE as f64 / MESSAGES_PER_CYCLE as f64;
    let total = (webhook_rate * secs as f64).round() as u64;
    let interval_ns = 1e9 / webhook_rate;
    let statuses_before = status_rows(&ctx.pool, ctx.tenant).await?;
    if let Ok(mut l) = e2e.samples_us.lock() {
        l.clear();
    }
    let e2e_errors_before = e2e.errors.load(Ordering::Relaxed);
    let (cpu_s0, cpu_o0, (busy0, tot0)) = (cpu_ticks(ctx.server_pid), cpu_ticks(std::process::id()), machine_ticks());
    let cpu_pg0 = pg_ticks(&ctx.pg_dir);
    let start = Instant::now() + Duration::from_millis(50);
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        let at = start + Duration::from_nanos((i as f64 * interval_ns) as u64);
        tokio::time::sleep_until(at.into()).await;
        let (c, sem, http, url, plan) =
            (counters.clone(), sem.clone(), ctx.http.clone(), ctx.webhook_url.clone(), ctx.plan.clone());
        handles.push(tokio::spawn(async move {
            let Ok(_permit) = sem.acquire_owned().await else { return };
            let (body, messages, statuses) = payload(&plan, step, i);
            c.messages_sent.fetch_add(messages, Ordering::Relaxed);
            let signature = sign(&body);
            let sent = http
                .post(&url)
                .header("content-type", "application/json")
                .header("x-hub-signature-256", signature)
                .body(body)
                .send()
                .await;
            let answer = match sent {
                Ok(r) => {
                    let status = r.status();
                    match r.bytes().await {
                        Ok(b) if status.is_success() => Ok(b),
                        Ok(b) => Err(format!("{status}: {}", String::from_utf8_lossy(&b[..b.len().min(200)]))),
                        Err(e) => Err(e.to_string()),
                    }
                }
                Err(e) => Err(e.to_string()),
            };
            let done = Instant::now();
            c.last_answer_us.fetch_max(done.saturating_duration_since(start).as_micros() as u64, Ordering::Relaxed);
            match answer {
                Ok(b) => {
                    let lat = done.saturating_duration_since(at).as_micros() as u64;
                    if let Ok(mut l) = c.latencies_us.lock() {
                        l.push(lat);
                    }
                    let r: Value = serde_json::from_slice(&b).unwrap_or(Value::Null);
                    let n = |k: &str| r[k].as_u64().unwrap_or(0);
                    c.webhooks_ok.fetch_add(1, Ordering::Relaxed);
                    c.messages_acked.fetch_add(messages, Ordering::Relaxed);
                    c.statuses_acked.fetch_add(statuses, Ordering::Relaxed);
                    c.stored.fetch_add(n("messages_stored"), Ordering::Relaxed);
                    c.duplicates.fetch_add(n("messages_duplicate"), Ordering::Relaxed);
                    c.prospects_created.fetch_add(n("prospects_created"), Ordering::Relaxed);
                    c.statuses_applied.fetch_add(n("statuses_applied"), Ordering::Relaxed);
                    if n("ignored") > 0 {
                        c.error(format!("ignored parts: {r}"));
                    }
                }
                Err(e) => c.error(e),
            }
        }));
    }
    for h in handles {
        let _ = h.await;
    }
    let elapsed = (counters.last_answer_us.load(Ordering::Relaxed) as f64 / 1e6).max(secs as f64);
    let (cpu_s1, cpu_o1, (busy1, tot1)) = (cpu_ticks(ctx.server_pid), cpu_ticks(std::process::id()), machine_ticks());
    let cpu_pg1 = pg_ticks(&ctx.pg_dir);
    let loadavg = loadavg();
    // Let the last events reach the WebSocket client.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut e2e_samples = e2e.samples_us.lock().map(|mut l| std::mem::take(&mut *l)).unwrap_or_default();
    e2e_samples.sort_unstable();

    let (sql_messages, sql_distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT external_id) FROM messages
         WHERE tenant_id = $1 AND direction = 'in' AND external_id LIKE $2",
    )
    .bind(ctx.tenant.0)
    .bind(format!("wamid.S{step}.%"))
    .fetch_one(&ctx.pool)
    .await?;
    let (sql_prospects, sql_assigned, sql_execs): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(executive_id), count(DISTINCT executive_id) FROM prospects
         WHERE tenant_id = $1 AND phone LIKE $2",
    )
    .bind(ctx.tenant.0)
    .bind(format!("+5219{step:02}%"))
    .fetch_one(&ctx.pool)
    .await?;
    let sql_statuses = status_rows(&ctx.pool, ctx.tenant).await? - statuses_before;

    let mut l = counters.latencies_us.lock().map(|l| l.clone()).unwrap_or_default();
    l.sort_unstable();
    let ticks = 100.0 * elapsed;
    let c = &counters;
    let new_acked = {
        // New-number webhooks answered 200 (one message each).
        let per_cycle_new = (0..CYCLE).filter(|i| kind_of(*i) == Kind::NewNumber).count() as u64;
        let full = total / CYCLE * per_cycle_new;
        let rest = (total / CYCLE * CYCLE..total).filter(|i| kind_of(*i) == Kind::NewNumber).count() as u64;
        if c.errors.load(Ordering::Relaxed) == 0 { full + rest } else { c.prospects_created.load(Ordering::Relaxed) }
    };
    let first_error = c.first_error.lock().ok().and_then(|f| f.clone());
    Ok(StepResult {
        offered: rate,
        webhooks: total,
        messages_sent: c.messages_sent.load(Ordering::Relaxed),
        messages_acked: c.messages_acked.load(Ordering::Relaxed),
        achieved: c.messages_acked.load(Ordering::Relaxed) as f64 / elapsed,
        p50: percentile(&l, 0.5),
        p95: percentile(&l, 0.95),
        p99: percentile(&l, 0.99),
        max: l.last().copied().unwrap_or(0),
        errors: c.errors.load(Ordering::Relaxed),
        first_error,
        sql_messages,
        sql_distinct,
        receipts_stored: c.stored.load(Ordering::Relaxed),
        duplicates: c.duplicates.load(Ordering::Relaxed),
        new_acked,
        sql_prospects,
        sql_assigned,
        sql_execs,
        statuses_acked: c.statuses_acked.load(Ordering::Relaxed),
        statuses_applied: c.statuses_applied.load(Ordering::Relaxed),
        sql_statuses,
        e2e: e2e_samples,
        e2e_errors: e2e.errors.load(Ordering::Relaxed) - e2e_errors_before,
        server_cpu: (cpu_s1 - cpu_s0) as f64 / ticks * 100.0,
        own_cpu: (cpu_o1 - cpu_o0) as f64 / ticks * 100.0,
        pg_cpu: cpu_pg1.saturating_sub(cpu_pg0) as f64 / ticks * 100.0,
        loadavg,
        xacts: 0,
        machine_cpu: if tot1 > tot0 {
            (busy1 - busy0) as f64 / (tot1 - tot0) as f64 * 100.0 * cores() as f64
        } else {
            0.0
        },
    })
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
}

fn meminfo_gb() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map(|kb| kb as f64 / 1024.0 / 1024.0)
        .unwrap_or(0.0)
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.rates = vec![200, 1_000];
        args.seconds = 5;
    }
    if args.rates.is_empty() || args.rates.contains(&0) || args.seconds == 0 || args.connections == 0 {
        bail!("--rates, --seconds and --connections must be positive");
    }
    let server_bin = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("platica"),
    };
    if !server_bin.is_file() {
        bail!("{} not found: build it with cargo build --release -p platica", server_bin.display());
    }
    let _ = std::fs::remove_dir_all(&args.dir);
    std::fs::create_dir_all(&args.dir).with_context(|| format!("creating {}", args.dir.display()))?;

    // The cluster lives in a thread of its own (it is stopped when that thread ends). Durable:
    // the settings `platica serve` gives its own private cluster.
    let (tx, rx) = std::sync::mpsc::channel();
    let (stop_pg, stop_pg_rx) = std::sync::mpsc::channel::<()>();
    let root = args.dir.join("pg");
    let pg_thread = std::thread::spawn(move || match PrivateCluster::start(&ClusterOptions::new(root, true)) {
        Ok(c) => {
            let _ = tx.send(Ok(c.url("")));
            let _ = stop_pg_rx.recv();
            let _ = c.stop();
        }
        Err(e) => {
            let _ = tx.send(Err(e.to_string()));
        }
    });
    let prefix = rx.recv()?.map_err(anyhow::Error::msg)?;
    let outcome = run(&args, &server_bin, &prefix).await;
    let _ = stop_pg.send(());
    let _ = pg_thread.join();
    let _ = std::fs::remove_dir_all(&args.dir);
    outcome
}

async fn run(args: &Args, server_bin: &Path, prefix: &str) -> anyhow::Result<()> {
    platica_store::db::create_database(&format!("{prefix}postgres"), "webhookload", None).await?;
    let url = format!("{prefix}webhookload");
    let pool = platica_store::db::connect(&url, 8).await?;
    platica_store::db::migrate(&pool).await?;
    let info = platica_demo::seed(&pool).await.context("seeding")?;
    let tenant = info.tenant_id;
    let admin: i64 = sqlx::query_scalar("SELECT user_id FROM users WHERE tenant_id = $1 AND role = 'admin' LIMIT 1")
        .bind(tenant.0)
        .fetch_one(&pool)
        .await?;
    let (team, team_name): (i64, String) =
        sqlx::query_as("SELECT team_id, name FROM teams WHERE tenant_id = $1 ORDER BY team_id LIMIT 1")
            .bind(tenant.0)
            .fetch_one(&pool)
            .await?;
    let operational: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE tenant_id = $1 AND role = 'executive' AND operational AND active",
    )
    .bind(tenant.0)
    .fetch_one(&pool)
    .await?;

    // The channel account, its secrets sealed with a key of this run that the server gets too.
    let key = platica_store::secrets::SecretKey::generate();
    let key_b64 = key.to_base64();
    platica_store::channels::create(
        &pool,
        &key,
        tenant,
        &platica_store::channels::NewChannelAccount {
            kind: "cloud".into(),
            display_name: "Ventas (webhookload)".into(),
            phone_number_id: PHONE_NUMBER_ID.into(),
            app_secret: APP_SECRET.into(),
            verify_token: "webhookload-verify".into(),
            access_token: "webhookload-access".into(),
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
    .fetch_all(&pool)
    .await?;
    if phones.is_empty() {
        bail!("the demo tenant has no prospects with a phone");
    }
    let convs: Vec<i64> =
        sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 ORDER BY 1")
            .bind(tenant.0)
            .fetch_all(&pool)
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
    .execute(&pool)
    .await
    .context("preparing outbound messages")?;
    let counts: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM conversations WHERE tenant_id = $1), (SELECT count(*) FROM messages WHERE tenant_id = $1)",
    )
    .bind(tenant.0)
    .fetch_one(&pool)
    .await?;
    let settings: Vec<(String, String)> = sqlx::query_as(
        "SELECT name, current_setting(name) FROM pg_settings
         WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'wal_level', 'shared_buffers', 'max_connections')
         ORDER BY name",
    )
    .fetch_all(&pool)
    .await?;
    let pg_version: String = sqlx::query_scalar("SHOW server_version").fetch_one(&pool).await?;

    // The server, as a process of its own.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let data_dir = args.dir.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let mut server = std::process::Command::new(server_bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", &url])
        .env("RUST_LOG", "warn")
        .env("PLATICA_SECRET_KEY", &key_b64)
        .env("PLATICA_DATA_DIR", &data_dir)
        .env("PLATICA_WHATSAPP_BASE_URL", "http://127.0.0.1:9")
        .stdout(std::process::Stdio::null())
        .spawn()
        .context("starting the server")?;
    let result = drive(args, &pool, tenant, admin, port, server.id(), phones, status_webhooks).await;
    let _ = server.kill();
    let _ = server.wait();
    pool.close().await;
    let steps = result?;

    // The report.
    let when = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let cmd = if args.quick {
        "scripts/bench-whatsapp --quick".to_owned()
    } else {
        format!(
            "scripts/bench-whatsapp (rates {} msg/s, {} s per step, {} connections)",
            args.rates.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            args.seconds,
            args.connections
        )
    };
    let settings = settings.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
    let mut md = String::new();
    md.push_str(&format!(
        "## WhatsApp webhook ingestion (platica-webhookload)\n\n\
         Measured {when} with `{cmd}` on {} ({} cores by nproc; CPU model as /proc/cpuinfo names it), {:.0} GB RAM. \
         **The 2 cores are shared** by PostgreSQL, the server and the load generator: the server is the release \
         `platica serve` in a process of its own (so the load generator does not run on its runtime), the load \
         generator and the WebSocket client are another process, PostgreSQL its own processes; all on loopback.\n\n\
         PostgreSQL {pg_version}, a private cluster with the durable settings `platica serve` uses for its own \
         cluster ({settings}); the server's pool has 32 connections (`platica serve`'s default), RUST_LOG=warn. \
         Data: the demo tenant ({} conversations, {} messages, of which {status_webhooks} prepared outbound messages \
         for the status webhooks), one Cloud API channel account whose default team is {team_name} (new prospects go round-robin to the \
         tenant's {operational} operational executives).\n\n\
         Open loop: webhook `i` is scheduled at `start + i/rate` and its ack latency is measured from that scheduled \
         time (at most {} requests in flight; a send waiting for a connection keeps its scheduled time), so a slow \
         server cannot slow the offered load down. Each webhook is signed with HMAC-SHA256 (`X-Hub-Signature-256`). \
         Mix per 20 webhooks (22 messages): 15 single texts from existing prospects, 2 batches of 3 messages, 1 text \
         from a new number (new prospect and conversation, assigned round-robin), 2 status webhooks \
         (`delivered` + `read` of an outbound message). A step keeps up when it achieves >= 95% of the offered \
         rate with p99 <= 1 s and < 0.5% errors; the steps stop after the first that does not.\n\n",
        cpu_model(),
        cores(),
        meminfo_gb(),
        counts.0,
        counts.1,
        args.connections,
    ));
    md.push_str(
        "| offered msg/s | webhooks | achieved msg/s | ack p50 | p95 | p99 | max | errors | stored = acked (SQL) | \
         webhook -> WebSocket p50 / p99 (samples) | CPU server / PostgreSQL / load gen / other (of 200%) | load avg |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for s in &steps {
        let other = (s.machine_cpu - s.server_cpu - s.own_cpu - s.pg_cpu).max(0.0);
        md.push_str(&format!(
            "| {} | {} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {} | {} {} / {} |  {:.1} / {:.1} ms ({}) | {:.0}% / {:.0}% / {:.0}% / {:.0}% | {} |\n",
            s.offered,
            s.webhooks,
            s.achieved,
            ms(s.p50),
            ms(s.p95),
            ms(s.p99),
            ms(s.max),
            s.errors,
            if s.verified() { "yes" } else { "**NO**" },
            s.sql_messages,
            s.messages_acked,
            ms(percentile(&s.e2e, 0.5)),
            ms(percentile(&s.e2e, 0.99)),
            s.e2e.len(),
            s.server_cpu,
            s.pg_cpu,
            s.own_cpu,
            other,
            s.loadavg,
        ));
    }
    md.push_str(
        "\nChecks after each step, in SQL: the step's inbound messages (by WhatsApp id) equal the messages of the \
         acknowledged webhooks and are all distinct; the receipts' `messages_stored` sum to the same; new \
         prospects equal the new numbers; `message_statuses` rows equal the statuses sent. DB transactions: \
         `xact_commit + xact_rollback` of the database in pg_stat_database over the step (read 11 s after it, so \
         backends have flushed their statistics), divided by the step's webhooks; it includes this tool's few \
         verification queries.\n\n\
         | offered msg/s | messages sent / acked / SQL / distinct | duplicates reported | statuses acked / applied / SQL rows | new prospects (SQL) / assigned / executives | DB transactions per webhook | WebSocket errors | first error |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for s in &steps {
        md.push_str(&format!(
            "| {} | {} / {} / {} / {} | {} | {} / {} / {} | {} / {} / {} | {:.2} ({}) | {} | {} |\n",
            s.offered,
            s.messages_sent,
            s.messages_acked,
            s.sql_messages,
            s.sql_distinct,
            s.duplicates,
            s.statuses_acked,
            s.statuses_applied,
            s.sql_statuses,
            s.sql_prospects,
            s.sql_assigned,
            s.sql_execs,
            s.xacts as f64 / s.webhooks.max(1) as f64,
            s.xacts,
            s.e2e_errors,
            s.first_error.as_deref().map(|e| e.replace('|', "/")).unwrap_or_else(|| "-".into()),
        ));
    }
    md.push_str(
        "\nWebhook -> WebSocket: an admin client subscribed to `inbox` (every conversation) receives one `upsert` per \
         conversation a webhook's transaction touches; the sample is its arrival time minus the `t=<micros>` that the \
         load generator wrote into the message body just before the POST (same clock). CPU is from /proc over each \
         step: the server process, PostgreSQL (postmaster and backends), the load generator process, and the rest of \
         the machine (`other`: work of other users of this shared machine, e.g. compilers); the load average is \
         read at the end of each step.\n",
    );
    if let Some(parent) = args.out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&args.out, &md).with_context(|| format!("writing {}", args.out.display()))?;
    if let Some(path) = &args.benchmarks_md {
        merge_section(path, &md)?;
    }
    println!("{md}");
    if steps.iter().any(|s| !s.verified()) {
        bail!("a step's stored messages, statuses or prospects do not match what was acknowledged");
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    args: &Args,
    pool: &PgPool,
    tenant: TenantId,
    admin: i64,
    port: u16,
    server_pid: u32,
    phones: Vec<String>,
    out_total: u64,
) -> anyhow::Result<Vec<StepResult>> {
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .context("building the HTTP client")?;
    loop {
        if let Ok(r) = http.get(format!("{base}/ready")).send().await
            && r.status().is_success()
        {
            break;
        }
        if started.elapsed() > Duration::from_secs(90) {
            bail!("the server at {base} did not become ready");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let token = platica_store::auth::create_session(pool, tenant, platica_domain::UserId(admin)).await?.0;
    let e2e = Arc::new(E2e::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let ws = tokio::spawn(ws_client(format!("ws://127.0.0.1:{port}/api/v1/ws?token={token}"), e2e.clone(), stop));
    let deadline = Instant::now() + Duration::from_secs(30);
    while e2e.subscribed.load(Ordering::Relaxed) == 0 {
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
        server_pid,
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
