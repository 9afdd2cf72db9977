//! One step: webhooks offered open-loop at a fixed rate, acknowledgements counted, then what was
//! stored checked in SQL; and the WebSocket client that times webhook -> `inbox` events.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use platica_domain::TenantId;
use serde_json::{Value, json};
use sqlx::PgPool;

use super::traffic::{Kind, Plan, kind_of, payload, sign};
use super::{CYCLE, MESSAGES_PER_CYCLE};
use crate::procfs::{self, TICKS_PER_SEC};
use crate::setup::{self, WsCounts};
use crate::stats::percentile;

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
pub struct E2e {
    pub samples_us: Mutex<Vec<u64>>,
    pub ws: WsCounts,
}

/// The admin's client on `inbox`: each message's first appearance as a conversation's last
/// message is a sample (its preview carries the `t=<micros>` stamped before the POST).
pub async fn ws_client(url: String, seen: Arc<E2e>, stop: tokio::sync::watch::Receiver<bool>) {
    let sub = json!({"type": "subscribe", "id": "in", "topic": "inbox", "filters": {}});
    let mut first_seen = std::collections::HashSet::new();
    setup::ws_client(&url, &[sub], &seen.ws, stop, |v, now| {
        // An upsert for another reason (a status update) shows an older message again: only a
        // message's first appearance is a sample.
        let row = &v["event"]["row"];
        let Some(id) = row["last_message_id"].as_i64() else { return };
        if !first_seen.insert(id) {
            return;
        }
        let stamp = row["last_message_preview"]
            .as_str()
            .and_then(|b| b.strip_prefix("t="))
            .and_then(|s| s.split(' ').next())
            .and_then(|s| s.parse::<i64>().ok());
        if let (Some(t), Ok(mut l)) = (stamp, seen.samples_us.lock()) {
            l.push((now - t).max(0) as u64);
        }
    })
    .await;
}

pub struct StepResult {
    pub offered: u64,
    pub webhooks: u64,
    pub messages_sent: u64,
    pub messages_acked: u64,
    pub achieved: f64,
    pub p50: u64,
    pub p95: u64,
    pub p99: u64,
    pub max: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// SQL: inbound messages of this step, and distinct WhatsApp ids among them.
    pub sql_messages: i64,
    pub sql_distinct: i64,
    pub receipts_stored: u64,
    pub duplicates: u64,
    pub new_acked: u64,
    pub sql_prospects: i64,
    pub sql_assigned: i64,
    pub sql_execs: i64,
    pub statuses_acked: u64,
    pub statuses_applied: u64,
    pub sql_statuses: i64,
    pub e2e: Vec<u64>,
    pub e2e_errors: u64,
    pub server_cpu: f64,
    pub own_cpu: f64,
    pub pg_cpu: f64,
    pub machine_cpu: f64,
    /// The load average at the end of the step (other work on the machine shows here).
    pub loadavg: String,
    /// Transactions committed or rolled back in the database during the step (set by `drive`).
    pub xacts: i64,
}

impl StepResult {
    pub fn verified(&self) -> bool {
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

    pub fn kept_up(&self) -> bool {
        self.achieved >= 0.95 * self.offered as f64
            && self.p99 <= 1_000_000
            && self.errors * 200 <= self.webhooks.max(1)
    }
}

pub struct Ctx {
    pub pool: PgPool,
    pub tenant: TenantId,
    pub http: reqwest::Client,
    pub webhook_url: String,
    pub plan: Arc<Plan>,
    pub server_pid: u32,
    pub connections: usize,
    pub pg_dir: PathBuf,
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

pub async fn run_step(ctx: &Ctx, step: usize, rate: u64, secs: u64, e2e: &Arc<E2e>) -> anyhow::Result<StepResult> {
    let counters = Arc::new(Counters::default());
    let sem = Arc::new(tokio::sync::Semaphore::new(ctx.connections));
    let webhook_rate = rate as f64 * CYCLE as f64 / MESSAGES_PER_CYCLE as f64;
    let total = (webhook_rate * secs as f64).round() as u64;
    let interval_ns = 1e9 / webhook_rate;
    let statuses_before = status_rows(&ctx.pool, ctx.tenant).await?;
    if let Ok(mut l) = e2e.samples_us.lock() {
        l.clear();
    }
    let e2e_errors_before = e2e.ws.errors.load(Ordering::Relaxed);
    let (cpu_s0, cpu_o0, (busy0, tot0)) =
        (procfs::cpu_ticks(ctx.server_pid), procfs::cpu_ticks(std::process::id()), procfs::machine_ticks());
    let cpu_pg0 = procfs::pg_ticks(&ctx.pg_dir);
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
    let (cpu_s1, cpu_o1, (busy1, tot1)) =
        (procfs::cpu_ticks(ctx.server_pid), procfs::cpu_ticks(std::process::id()), procfs::machine_ticks());
    let cpu_pg1 = procfs::pg_ticks(&ctx.pg_dir);
    let loadavg = procfs::loadavg();
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
    let ticks = TICKS_PER_SEC * elapsed;
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
        e2e_errors: e2e.ws.errors.load(Ordering::Relaxed) - e2e_errors_before,
        server_cpu: (cpu_s1 - cpu_s0) as f64 / ticks * 100.0,
        own_cpu: (cpu_o1 - cpu_o0) as f64 / ticks * 100.0,
        pg_cpu: cpu_pg1.saturating_sub(cpu_pg0) as f64 / ticks * 100.0,
        loadavg,
        xacts: 0,
        machine_cpu: if tot1 > tot0 {
            (busy1 - busy0) as f64 / (tot1 - tot0) as f64 * 100.0 * procfs::cores() as f64
        } else {
            0.0
        },
    })
}
