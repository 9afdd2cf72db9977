//! Platica's side: the live inbox in-process (cold start, page reads, apply throughput,
//! commit-to-visible latency) and the real server over HTTP.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use platica_changes::live::CancellationToken;
use platica_changes::load::LoadStats;
use platica_changes::{LiveInbox, StreamConfig};
use platica_domain::TenantId;
use platica_inbox::change::{Change, Direction, MessageRow, ProspectRow, SenderKind};
use platica_inbox::scope::Key;
use platica_inbox::{Engine, Filter, Transaction};
use sqlx::{Connection, PgConnection, PgPool};

use super::generate::Dataset;
use super::scenario::{PAGE, Viewer, Which};
use super::sqlalt::ReadCell;
use crate::stats::{Budget, Rng, Samples, fmt, measure, measure_sync};

/// A running in-process live inbox.
pub struct Live {
    pub live: Arc<LiveInbox>,
    pub task: tokio::task::JoinHandle<()>,
    pub stop: CancellationToken,
    pub cold: Duration,
    pub load: LoadStats,
}

/// The replication slot `platica serve` uses for a database (`platica::slot_name`): one per
/// database. The bench names its in-process slot the same way.
pub fn slot_name(database_url: &str) -> String {
    let db = database_url.rsplit('/').next().and_then(|s| s.split('?').next()).unwrap_or("postgres");
    let clean: String =
        db.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(50).collect();
    format!("platica_{clean}")
}

/// Starts the live inbox the way `platica serve` does (`platica::start_live`: `LiveInbox::start`
/// on the database's slot) and times it.
pub async fn start(url: &str) -> anyhow::Result<Live> {
    let stop = CancellationToken::new();
    let mut config = StreamConfig::new(url);
    config.slot = slot_name(url);
    let t = Instant::now();
    let (live, task) = LiveInbox::start(config, stop.clone()).await?;
    let cold = t.elapsed();
    let load = live.status().load;
    Ok(Live { live, task, stop, cold, load })
}

impl Live {
    pub async fn shutdown(self, pool: &PgPool, url: &str) -> anyhow::Result<()> {
        self.stop.cancel();
        let _ = self.task.await;
        drop(self.live);
        drop_slot(pool, &slot_name(url)).await
    }
}

/// Drops a replication slot once nothing uses it.
pub async fn drop_slot(pool: &PgPool, slot: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let row: Option<bool> = sqlx::query_scalar("SELECT active FROM pg_replication_slots WHERE slot_name = $1")
            .bind(slot)
            .fetch_optional(pool)
            .await?;
        match row {
            None => return Ok(()),
            Some(false) => {
                sqlx::query("SELECT pg_drop_replication_slot($1)").bind(slot).execute(pool).await?;
                return Ok(());
            }
            Some(true) if Instant::now() > deadline => anyhow::bail!("replication slot {slot} stays active"),
            Some(true) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn key(v: &Viewer, which: Which) -> Option<Key> {
    v.cursor(which).map(|c| Key { at: c.micros(), id: c.id })
}

/// Pages from the engine in-process (under the live inbox's read lock, as the HTTP handler does).
pub fn engine_reads(live: &LiveInbox, viewers: &[Viewer], budget: Budget) -> Vec<ReadCell> {
    let mut out = Vec::new();
    let filter = Filter::default();
    for v in viewers {
        for which in Which::ALL {
            let after = key(v, which);
            let (samples, cpu, page) = measure_sync(budget, || {
                live.read(|e| {
                    e.tenant(TenantId(v.tenant_id))
                        .map(|t| t.page(v.user_id, &filter, after.map(Into::into), PAGE as usize))
                        .unwrap_or_default()
                })
            });
            eprintln!(
                "    {:<28} {:<24} {:<10} p50 {:>9} p99 {:>9} (n={}) | thread CPU p50 {} p99 {}",
                "Platica engine (in-process)",
                v.role.label(),
                which.label(),
                fmt(samples.p50()),
                fmt(samples.p99()),
                samples.n(),
                fmt(cpu.p50()),
                fmt(cpu.p99())
            );
            out.push(ReadCell {
                source: "Platica engine (in-process)".into(),
                role: v.role,
                which,
                rows: None,
                cpu: Some(cpu),
                full: samples,
                ids: page.rows.iter().map(|r| r.conversation_id).collect(),
                total: page.total as i64,
                unread: page.unread as i64,
            });
        }
    }
    out
}

/// Apply throughput of the engine alone.
#[derive(Clone, Debug, Default)]
pub struct ApplyResult {
    pub changes: usize,
    pub inserts: usize,
    pub reads: usize,
    pub reassignments: usize,
    pub secs: f64,
    /// Applying one transaction of 1,000 prospect reassignments.
    pub bulk_1000: Samples,
}

impl ApplyResult {
    pub fn per_sec(&self) -> f64 {
        self.changes as f64 / self.secs.max(1e-9)
    }
}

/// Applies pre-decoded single-change transactions (70% message inserts, 20% mark-read updates,
/// 10% prospect reassignments) to a copy of the loaded engine on this thread. With `hot`, 90% of
/// the inserts go to the 1% most recently active conversations (otherwise all are uniform).
pub fn apply_throughput(
    live: &LiveInbox,
    ds: &Dataset,
    next_message_id: i64,
    changes: usize,
    hot: bool,
) -> ApplyResult {
    let mut engine: Engine = live.read(Engine::clone);
    let main = ds.main();
    let tenant = TenantId(main.tenant_id);
    let mut rng = Rng::new(7);
    let Some(inbox) = engine.tenant(tenant) else { return ApplyResult::default() };
    let hot_ids: Vec<i64> = if hot {
        let k = (main.conversations() as usize / 100).max(100);
        inbox.page(main.admin, &Filter::default(), None, k).rows.iter().map(|r| r.conversation_id).collect()
    } else {
        Vec::new()
    };
    // Prospect rows to reassign, as the stream would carry them.
    let prospect = |inbox: &platica_inbox::TenantInbox, id: i64| {
        inbox.row(id).map(|r| ProspectRow {
            tenant_id: tenant,
            prospect_id: r.prospect_id,
            name: r.prospect_name,
            phone: r.prospect_phone,
            team_id: r.team_id,
            executive_id: r.executive_id,
        })
    };
    let mut prospects: Vec<ProspectRow> =
        (0..10_000).filter_map(|_| prospect(inbox, rng.range(main.first, main.last))).collect();
    let mut txs = Vec::with_capacity(changes);
    let mut unread: VecDeque<MessageRow> = VecDeque::new();
    let mut id = next_message_id;
    let mut at = ds.t_end.timestamp_micros() + 3_600_000_000;
    let (mut inserts, mut reads, mut reassignments) = (0, 0, 0);
    for n in 0..changes {
        let roll = rng.range(0, 99);
        let change = if roll < 20 && !unread.is_empty() {
            let old = unread.pop_front().unwrap_or_else(|| unreachable_message(tenant));
            let new = MessageRow { read: true, ..old.clone() };
            reads += 1;
            Change::MessageUpdate { old: Some(old), new }
        } else if roll < 30 && !prospects.is_empty() {
            let i = rng.range(0, prospects.len() as i64 - 1) as usize;
            let p = &mut prospects[i];
            p.team_id = main.teams[rng.range(0, 4) as usize];
            p.executive_id = Some(main.executives[rng.range(0, 39) as usize]);
            reassignments += 1;
            Change::ProspectUpsert(p.clone())
        } else {
            id += 1;
            at += 100;
            let conversation_id = if !hot_ids.is_empty() && rng.range(0, 9) < 9 {
                hot_ids[rng.range(0, hot_ids.len() as i64 - 1) as usize]
            } else {
                rng.range(main.first, main.last)
            };
            let m = MessageRow {
                tenant_id: tenant,
                message_id: id,
                conversation_id,
                direction: Direction::In,
                sender_kind: SenderKind::Prospect,
                body: "Hola, ¿siguen teniendo la promoción de este mes?".into(),
                created_at: at,
                read: false,
            };
            unread.push_back(m.clone());
            inserts += 1;
            Change::MessageInsert(m)
        };
        txs.push(Transaction { commit_lsn: 1 + n as u64, changes: vec![change] });
    }
    let t = Instant::now();
    for tx in &txs {
        std::hint::black_box(engine.apply(tx));
    }
    let secs = t.elapsed().as_secs_f64();
    drop(txs);

    // One bulk reassignment of 1,000 prospects, in one transaction, alternating targets.
    let mut bulk = Vec::new();
    let base = 1 + changes as u64;
    for round in 0..30u64 {
        let mut seen = HashSet::new();
        let mut rows = Vec::with_capacity(1000);
        let inbox = engine.tenant(tenant);
        while rows.len() < 1000.min(main.conversations() as usize) {
            let pid = rng.range(main.first, main.last);
            if seen.insert(pid)
                && let Some(mut p) = inbox.and_then(|t| prospect(t, pid))
            {
                p.team_id = main.teams[(round % 2) as usize + 3];
                p.executive_id = Some(main.executives[(round % 2) as usize + 33]);
                rows.push(Change::ProspectUpsert(p));
            }
        }
        let tx = Transaction { commit_lsn: base + round, changes: rows };
        let t = Instant::now();
        std::hint::black_box(engine.apply(&tx));
        bulk.push(t.elapsed());
    }
    prospects.clear();
    ApplyResult { changes, inserts, reads, reassignments, secs, bulk_1000: Samples::new(bulk) }
}

fn unreachable_message(tenant: TenantId) -> MessageRow {
    MessageRow {
        tenant_id: tenant,
        message_id: 0,
        conversation_id: 0,
        direction: Direction::In,
        sender_kind: SenderKind::Prospect,
        body: String::new(),
        created_at: 0,
        read: false,
    }
}

/// Commit-to-visible latency under a write load.
#[derive(Clone, Debug, Default)]
pub struct VisibleResult {
    /// `None`: as fast as the writers go.
    pub target_rate: Option<f64>,
    pub writers: usize,
    pub secs: f64,
    pub committed: usize,
    pub achieved_rate: f64,
    /// Every insert committed after the first second.
    pub latency: Samples,
    /// Seconds 1-3 and the last two seconds of the run.
    pub first_window: Samples,
    pub last_window: Samples,
    /// From the last commit until every insert was visible.
    pub drain: Duration,
    /// Inserts never seen (should be 0).
    pub unseen: usize,
    /// Insert round trips (commit acknowledged) seen by the writers.
    pub insert: Samples,
}

struct Pending {
    writer: usize,
    conversation: i64,
    message_id: i64,
    committed: Instant,
}

/// Writers insert messages on `writers` connections (each writer owns a disjoint set of
/// conversations, so a conversation's newest message id tells whether a given insert is applied).
/// A watcher on its own thread wakes on every position change of the live inbox and checks the
/// engine for the inserts still pending.
pub async fn commit_to_visible(
    live: &Arc<LiveInbox>,
    url: &str,
    ds: &Dataset,
    target_rate: Option<f64>,
    writers: usize,
    secs: f64,
) -> anyhow::Result<VisibleResult> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<Pending>();
    let main = ds.main().clone();
    let duration = Duration::from_secs_f64(secs);
    let start = Instant::now() + Duration::from_millis(500);

    // The watcher.
    let watcher = {
        let live = Arc::clone(live);
        let tenant = TenantId(main.tenant_id);
        std::thread::spawn(move || -> anyhow::Result<Seen> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(watch(live, tenant, rx, writers))
        })
    };

    // The writers, on their own thread and runtime.
    let writer_thread = {
        let url = url.to_owned();
        std::thread::spawn(move || -> anyhow::Result<(Vec<Duration>, Instant)> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let mut conns = Vec::new();
                for _ in 0..writers {
                    conns.push(PgConnection::connect(&url).await?);
                }
                let tasks = conns.into_iter().enumerate().map(|(w, conn)| {
                    write_loop(w, writers, conn, main.clone(), target_rate, start, duration, tx.clone())
                });
                let lats = futures_util::future::try_join_all(tasks).await?;
                drop(tx);
                Ok((lats.into_iter().flatten().collect(), Instant::now()))
            })
        })
    };
    let (insert, done_at) = tokio::task::spawn_blocking(move || writer_thread.join())
        .await?
        .map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    let (seen, drained_at, unseen) = tokio::task::spawn_blocking(move || watcher.join())
        .await?
        .map_err(|_| anyhow::anyhow!("watcher thread panicked"))??;

    let run_end = start + duration;
    // Per second of commit time: the worst latency (shows stalls).
    let mut per_second: Vec<Duration> = Vec::new();
    for (c, l) in &seen {
        let i = c.saturating_duration_since(start).as_secs() as usize;
        if per_second.len() <= i {
            per_second.resize(i + 1, Duration::ZERO);
        }
        per_second[i] = per_second[i].max(*l);
    }
    eprintln!(
        "      worst visible latency per second: {}",
        per_second.iter().map(|d| fmt(*d)).collect::<Vec<_>>().join(", ")
    );
    let warm = start + Duration::from_secs(1);
    let committed = seen.len() + unseen;
    let all: Vec<Duration> = seen.iter().filter(|(c, _)| *c >= warm).map(|(_, l)| *l).collect();
    let window = |from: Instant, to: Instant| {
        Samples::new(seen.iter().filter(|(c, _)| *c >= from && *c < to).map(|(_, l)| *l).collect())
    };
    let actual_secs = done_at.saturating_duration_since(start).as_secs_f64().max(secs);
    Ok(VisibleResult {
        target_rate,
        writers,
        secs,
        committed,
        achieved_rate: committed as f64 / actual_secs,
        latency: Samples::new(all),
        first_window: window(warm, warm + Duration::from_secs(2)),
        last_window: window(run_end - Duration::from_secs(2), run_end + Duration::from_secs(60)),
        drain: drained_at.saturating_duration_since(done_at),
        unseen,
        insert: Samples::new(insert),
    })
}

#[allow(clippy::too_many_arguments)]
async fn write_loop(
    w: usize,
    writers: usize,
    mut conn: PgConnection,
    main: super::generate::Tenant,
    target_rate: Option<f64>,
    start: Instant,
    duration: Duration,
    tx: tokio::sync::mpsc::UnboundedSender<Pending>,
) -> anyhow::Result<Vec<Duration>> {
    let mut rng = Rng::new(1000 + w as u64);
    let owned = (main.conversations() - w as i64 + writers as i64 - 1) / writers as i64;
    let period = target_rate.map(|r| Duration::from_secs_f64(writers as f64 / r));
    // Spread the writers' phases over one period.
    let mut next = start + period.map(|p| p.mul_f64(w as f64 / writers as f64)).unwrap_or_default();
    let end = start + duration;
    let mut lats = Vec::new();
    tokio::time::sleep_until(start.into()).await;
    loop {
        if let Some(p) = period {
            tokio::time::sleep_until(next.into()).await;
            next += p;
        }
        if Instant::now() >= end {
            break;
        }
        let conversation = main.first + w as i64 + writers as i64 * rng.range(0, owned.max(1) - 1);
        let t = Instant::now();
        let message_id: i64 = sqlx::query_scalar(
            "INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status)
             VALUES ($1, $2, 'in', 'prospect', 'Hola, ¿me pueden llamar hoy?', 'delivered') RETURNING message_id",
        )
        .bind(main.tenant_id)
        .bind(conversation)
        .fetch_one(&mut conn)
        .await?;
        let committed = Instant::now();
        lats.push(committed - t);
        let _ = tx.send(Pending { writer: w, conversation, message_id, committed });
    }
    conn.close().await?;
    Ok(lats)
}

/// Returns (commit instant, latency) per seen insert, the instant the last one was seen, and how
/// many were never seen.
async fn watch(
    live: Arc<LiveInbox>,
    tenant: TenantId,
    mut rx: tokio::sync::mpsc::UnboundedReceiver<Pending>,
    writers: usize,
) -> anyhow::Result<Seen> {
    let mut queues: Vec<VecDeque<Pending>> = (0..writers).map(|_| VecDeque::new()).collect();
    let mut seen: Vec<(Instant, Duration)> = Vec::new();
    let mut position = live.subscribe();
    let mut open = true;
    let mut closed_at: Option<Instant> = None;
    let mut last_seen = Instant::now();
    loop {
        if open {
            tokio::select! {
                r = position.changed() => if r.is_err() { break },
                m = rx.recv() => match m {
                    Some(p) => queues[p.writer].push_back(p),
                    None => { open = false; closed_at = Some(Instant::now()); }
                },
            }
            while let Ok(p) = rx.try_recv() {
                queues[p.writer].push_back(p);
            }
        } else {
            if queues.iter().all(VecDeque::is_empty) {
                break;
            }
            if closed_at.is_some_and(|c| c.elapsed() > Duration::from_secs(60)) {
                break;
            }
            tokio::select! {
                r = position.changed() => if r.is_err() { break },
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        live.read(|e| {
            let now = Instant::now();
            let inbox = e.tenant(tenant);
            for q in &mut queues {
                while let Some(p) = q.front() {
                    let visible = inbox
                        .and_then(|t| t.row(p.conversation))
                        .and_then(|r| r.last_message)
                        .is_some_and(|l| l.message_id >= p.message_id);
                    if !visible {
                        break;
                    }
                    seen.push((p.committed, now.saturating_duration_since(p.committed)));
                    last_seen = now;
                    q.pop_front();
                }
            }
        });
    }
    let unseen = queues.iter().map(VecDeque::len).sum();
    Ok((seen, last_seen, unseen))
}

type Seen = (Vec<(Instant, Duration)>, Instant, usize);

// ---- the real server over HTTP ----

/// Round trips of `GET /health` (no authentication, no engine): the floor under every HTTP latency.
pub async fn health_latency(client: &reqwest::Client, port: u16, budget: Budget) -> anyhow::Result<Samples> {
    let url = format!("http://127.0.0.1:{port}/health");
    let (samples, ()) = measure(budget, || {
        let req = client.get(&url);
        async move {
            let t = Instant::now();
            req.send().await?.error_for_status()?.bytes().await?;
            Ok((vec![t.elapsed()], ()))
        }
    })
    .await?;
    Ok(samples.into_iter().next().unwrap_or_default())
}

/// Pages over HTTP from a keep-alive client on loopback, for every viewer.
pub async fn http_reads(
    client: &reqwest::Client,
    port: u16,
    viewers: &[(Viewer, String)],
    budget: Budget,
) -> anyhow::Result<Vec<ReadCell>> {
    let mut out = Vec::new();
    for (v, token) in viewers {
        for which in Which::ALL {
            let mut url = format!("http://127.0.0.1:{port}/api/v1/conversations?limit={PAGE}");
            if let Some(c) = v.cursor(which) {
                url.push_str(&format!("&cursor={}_{}", c.micros(), c.id));
            }
            let (samples, body) = measure(budget, || {
                let req = client.get(&url).bearer_auth(token);
                async move {
                    let t = Instant::now();
                    let body = req.send().await?.error_for_status()?.bytes().await?;
                    Ok((vec![t.elapsed()], body))
                }
            })
            .await?;
            let full = samples.into_iter().next().unwrap_or_default();
            let json: serde_json::Value = serde_json::from_slice(&body)?;
            let ids = json["items"]
                .as_array()
                .map(|a| a.iter().filter_map(|r| r["conversation_id"].as_i64()).collect())
                .unwrap_or_default();
            eprintln!(
                "    {:<28} {:<24} {:<10} p50 {:>9} p99 {:>9} (n={})",
                "Platica over HTTP",
                v.role.label(),
                which.label(),
                fmt(full.p50()),
                fmt(full.p99()),
                full.n()
            );
            out.push(ReadCell {
                source: "Platica over HTTP (loopback)".into(),
                role: v.role,
                which,
                rows: None,
                cpu: None,
                full,
                ids,
                total: json["total"].as_i64().unwrap_or(-1),
                unread: json["unread"].as_i64().unwrap_or(-1),
            });
        }
    }
    Ok(out)
}

/// One triage case timed on the engine (issue 18): the first page of a view, filter or sort.
#[derive(Clone, Debug)]
pub struct TriageCell {
    pub case: &'static str,
    pub role: super::scenario::Role,
    pub full: Samples,
    pub cpu: Samples,
    pub total: usize,
}

/// Marks the dataset for triage before the engine loads it: per tenant the labels `Hot` (on every
/// 10th conversation) and `VIP` (every 97th), priorities (1 in 20 each of urgent, high, medium,
/// low), and every 50th open conversation snoozed for a day. Returns (hot, vip) label ids by
/// tenant.
pub async fn triage_marks(pool: &PgPool) -> anyhow::Result<std::collections::HashMap<i64, (i64, i64)>> {
    let mut labels = std::collections::HashMap::new();
    let tenants: Vec<i64> = sqlx::query_scalar("SELECT tenant_id FROM tenants").fetch_all(pool).await?;
    for t in tenants {
        let mut ids = Vec::new();
        for (name, colour) in [("Hot", "#ff5500"), ("VIP", "#0055ff")] {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO labels (tenant_id, name, colour) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant_id, lower(name)) DO UPDATE SET colour = EXCLUDED.colour RETURNING label_id",
            )
            .bind(t)
            .bind(name)
            .bind(colour)
            .fetch_one(pool)
            .await?;
            ids.push(id);
        }
        for (label, modulo, rest) in [(ids[0], 10i64, 0i64), (ids[1], 97, 1)] {
            sqlx::query(
                "INSERT INTO conversation_labels (tenant_id, conversation_id, label_id)
                 SELECT tenant_id, conversation_id, $2 FROM conversations
                 WHERE tenant_id = $1 AND conversation_id % $3 = $4 ON CONFLICT DO NOTHING",
            )
            .bind(t)
            .bind(label)
            .bind(modulo)
            .bind(rest)
            .execute(pool)
            .await?;
        }
        labels.insert(t, (ids[0], ids[1]));
    }
    sqlx::query(
        "UPDATE conversations SET priority = 4 - (conversation_id % 20)::smallint
         WHERE conversation_id % 20 < 4 AND priority = 0",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "UPDATE conversations SET status = 'snoozed', snoozed_until = now() + interval '1 day'
         WHERE status = 'open' AND conversation_id % 50 = 0",
    )
    .execute(pool)
    .await?;
    Ok(labels)
}

/// First pages of the triage views, filters and sorts, from the engine in-process (as
/// [`engine_reads`] does for the default list).
pub fn triage_reads(
    live: &LiveInbox,
    viewers: &[Viewer],
    labels: &std::collections::HashMap<i64, (i64, i64)>,
    budget: Budget,
) -> Vec<TriageCell> {
    use platica_inbox::{Sort, Status, View};
    let mut out = Vec::new();
    // The executive viewer (as a filter for the others) and the coordinator's first team.
    let executive = viewers.iter().find(|v| v.role == super::scenario::Role::Executive).map(|v| v.user_id);
    let team =
        viewers.iter().find(|v| v.role == super::scenario::Role::Coordinator).and_then(|v| v.teams.first().copied());
    for v in viewers {
        let (hot, vip) = labels.get(&v.tenant_id).copied().unwrap_or((0, 0));
        let cases: [(&'static str, Filter); 13] = [
            ("view=unassigned", Filter { view: Some(View::Unassigned), ..Filter::default() }),
            ("view=mine", Filter { view: Some(View::Mine), ..Filter::default() }),
            ("status=snoozed", Filter { status: Some(Status::Snoozed), ..Filter::default() }),
            ("label=Hot (1 in 10)", Filter { label: Some(hot), ..Filter::default() }),
            ("label=VIP (1 in 97)", Filter { label: Some(vip), ..Filter::default() }),
            ("priority=urgent", Filter { priority: Some(4), ..Filter::default() }),
            ("sort=waiting", Filter { sort: Sort::Waiting, ..Filter::default() }),
            ("sort=unread_first", Filter { sort: Sort::UnreadFirst, ..Filter::default() }),
            ("priority=none (4 in 5)", Filter { priority: Some(0), ..Filter::default() }),
            ("executive=the executive viewer", Filter { executive_id: executive, ..Filter::default() }),
            ("team=BOOM, label=Hot", Filter { team_id: team, label: Some(hot), ..Filter::default() }),
            (
                "view=unassigned, label=Hot",
                Filter { view: Some(View::Unassigned), label: Some(hot), ..Filter::default() },
            ),
            (
                "label=Hot, priority=urgent, sort=waiting",
                Filter { label: Some(hot), priority: Some(4), sort: Sort::Waiting, ..Filter::default() },
            ),
        ];
        for (case, filter) in cases {
            let (samples, cpu, page) = measure_sync(budget, || {
                live.read(|e| {
                    e.tenant(TenantId(v.tenant_id))
                        .map(|t| t.page(v.user_id, &filter, None, PAGE as usize))
                        .unwrap_or_default()
                })
            });
            eprintln!(
                "    triage {:<40} {:<24} p50 {:>9} p99 {:>9} (n={}, total {})",
                case,
                v.role.label(),
                fmt(samples.p50()),
                fmt(samples.p99()),
                samples.n(),
                page.total
            );
            out.push(TriageCell { case, role: v.role, full: samples, cpu, total: page.total });
        }
    }
    out
}
