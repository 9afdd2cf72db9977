//! `platica-bench live` (`scripts/bench`): the live inbox against the SQL alternatives.
//!
//! One run starts a private PostgreSQL 15 cluster under `--dir`, and for each size N generates a
//! database, builds the SQL alternatives, and measures them and Platica side by side on the same
//! data; the report (`--out`, BENCHMARKS.md by default) is rewritten after each size.

pub mod compare;
mod generate;
mod inbox;
mod report;
mod scenario;
mod sqlalt;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Context;
use platica_domain::{TenantId, UserId};
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use crate::setup::{self, Server, Workspace};
use crate::stats::{self, Budget};
use report::{Report, SizeResult, WriteRow};
use sqlalt::Alt;

#[derive(clap::Args, Clone)]
pub struct Args {
    /// Conversation counts of the measured tenant (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = [3_230i64, 100_000, 1_000_000])]
    sizes: Vec<i64>,
    /// Only 3,230 and 100,000 conversations.
    #[arg(long)]
    quick: bool,
    /// Where the private cluster lives (created by the tool; removed at the end unless --keep).
    #[arg(long, default_value = "/var/tmp/platica-bench")]
    dir: PathBuf,
    /// The report to write.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The `platica` binary to serve HTTP with (default: next to this binary).
    #[arg(long)]
    platica_bin: Option<PathBuf>,
    /// Keep the cluster directory and the databases.
    #[arg(long)]
    pub keep: bool,
    /// Seconds of sustained writes for the commit-to-visible measurement.
    #[arg(long, default_value_t = 20.0)]
    visible_secs: f64,
    /// Changes applied in the engine-alone throughput measurement.
    #[arg(long, default_value_t = 300_000)]
    apply_changes: usize,
    /// Only the engine in-process: its cold start and its pages (the default list and the triage
    /// cases). No HTTP, no SQL pages (the SQL table is still built: it gives the deep cursors),
    /// no writes: a size's run takes minutes, not half an
    /// hour, and the report lacks those parts (write it elsewhere with --out).
    #[arg(long)]
    engine_only: bool,
}

impl Args {
    /// The sizes to run (`--quick`: 3,230 and 100,000).
    pub fn sizes(&self) -> Vec<i64> {
        if self.quick { vec![3_230, 100_000] } else { self.sizes.clone() }
    }
}

/// The PostgreSQL settings of the run (on top of Platica's private-cluster defaults:
/// wal_level=logical, durable: fsync, synchronous_commit and full_page_writes on).
pub(crate) const PG_SETTINGS: [&str; 10] = [
    "shared_buffers=2GB",
    "effective_cache_size=8GB",
    "work_mem=64MB",
    "maintenance_work_mem=1GB",
    "max_wal_size=16GB",
    "checkpoint_timeout=30min",
    "random_page_cost=1.1",
    "jit=off",
    "max_parallel_workers_per_gather=2",
    "log_min_messages=warning",
];

/// Settings shown in the report.
pub const SHOWN_SETTINGS: [&str; 18] = [
    "shared_buffers",
    "effective_cache_size",
    "work_mem",
    "maintenance_work_mem",
    "max_wal_size",
    "checkpoint_timeout",
    "random_page_cost",
    "jit",
    "max_parallel_workers_per_gather",
    "fsync",
    "synchronous_commit",
    "full_page_writes",
    "wal_level",
    "wal_sync_method",
    "max_connections",
    "max_wal_senders",
    "huge_pages",
    "track_io_timing",
];

/// Runs the live inbox benchmark.
pub fn run(args: Args) -> anyhow::Result<()> {
    let bin = setup::platica_binary(args.platica_bin.as_deref())?;
    let mut cluster = ClusterOptions::new(args.dir.join("cluster"), true);
    cluster.settings = PG_SETTINGS.iter().map(|s| (*s).to_owned()).collect();
    let ws = Workspace { dir: args.dir.clone(), keep: args.keep, cluster, workers: Some(2) };
    setup::run_with_cluster(ws, async |cluster: &PrivateCluster| bench(&args, cluster, &bin).await)
}

pub(crate) async fn connect(url: &str, max: u32) -> anyhow::Result<PgPool> {
    let timeout = format!("{}s", sqlalt::STATEMENT_TIMEOUT.as_secs());
    let options =
        PgConnectOptions::from_str(url)?.options([("statement_timeout", timeout.as_str())]).disable_statement_logging();
    Ok(PgPoolOptions::new().max_connections(max).connect_with(options).await?)
}

/// Migrates the database at `url` with the server binary `bin` (its migrations are the ones
/// `platica serve` checks).
pub(crate) fn migrate(bin: &Path, url: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new(bin)
        .arg("migrate")
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("running {} migrate", bin.display()))?;
    anyhow::ensure!(out.status.success(), "{} migrate failed: {}", bin.display(), String::from_utf8_lossy(&out.stderr));
    Ok(())
}

async fn bench(cli: &Args, cluster: &PrivateCluster, bin: &Path) -> anyhow::Result<()> {
    let admin = connect(&cluster.url("postgres"), 2).await?;
    let pg_version: String = sqlx::query_scalar("SELECT version()").fetch_one(&admin).await?;
    let settings: Vec<(String, String)> =
        sqlx::query_as("SELECT name::text, current_setting(name) FROM pg_settings WHERE name = ANY($1) ORDER BY name")
            .bind(SHOWN_SETTINGS.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .fetch_all(&admin)
            .await?;
    let sizes = cli.sizes();
    let mut report = Report::new(pg_version, settings, std::env::args().collect::<Vec<_>>().join(" "), &sizes);
    for &n in &sizes {
        let started = Instant::now();
        eprintln!("== N = {n} conversations");
        let result = bench_size(cli, cluster, bin, &admin, n).await.with_context(|| format!("size {n}"))?;
        eprintln!("== N = {n} done in {:.0} s", started.elapsed().as_secs_f64());
        report.sizes.push(result);
        report.finished = chrono::Utc::now();
        std::fs::write(&cli.out, report.markdown())?;
        eprintln!("wrote {}", cli.out.display());
    }
    admin.close().await;
    Ok(())
}

async fn bench_size(
    cli: &Args,
    cluster: &PrivateCluster,
    bin: &Path,
    admin: &PgPool,
    n: i64,
) -> anyhow::Result<SizeResult> {
    let db = format!("bench_{n}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))).execute(admin).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(admin).await?;
    let url = cluster.url(&db);
    let pool = connect(&url, 8).await?;
    migrate(bin, &url)?;
    let mut r = SizeResult::new(n);

    // ---- data ----
    eprintln!("  generating");
    let t_end = chrono::Utc::now() - chrono::Duration::hours(1);
    let ds = {
        let mut conn = pool.acquire().await?;
        generate::generate(&mut conn, n, t_end).await?
    };
    eprintln!(
        "  generated {} conversations, {} messages in {:.1} s (+{:.1} s vacuum)",
        ds.facts.conversations_total, ds.facts.messages_total, ds.facts.generate_secs, ds.facts.vacuum_secs
    );
    eprintln!("  building the SQL alternatives");
    r.setup = {
        let mut conn = pool.acquire().await?;
        sqlalt::setup(&mut conn).await?
    };
    let viewers = {
        let mut conn = pool.acquire().await?;
        scenario::viewers(&mut conn, &ds).await?
    };
    if cli.engine_only {
        engine_pages(&pool, &url, &viewers, &mut r).await?.shutdown(&pool, &url).await?;
        r.viewers = viewers;
        r.dataset = Some(ds);
        return finish(cli, admin, pool, &db, r).await;
    }
    let next_message_id: i64 = sqlx::query_scalar("SELECT max(message_id) + 1 FROM messages").fetch_one(&pool).await?;

    // ---- Platica over HTTP: the real server in its own process ----
    eprintln!("  platica serve (HTTP)");
    let mut tokens = Vec::new();
    for v in &viewers {
        let (token, _) =
            platica_store::org::auth::create_session(&pool, TenantId(v.tenant_id), UserId(v.user_id)).await?;
        tokens.push((v.clone(), token));
    }
    let client = reqwest::Client::builder().pool_max_idle_per_host(4).build()?;
    let log = cli.dir.join(format!("platica-serve-{n}.log"));
    let mut server = Server::spawn(bin, &url, &[], Some(&log))?;
    r.server_ready = server
        .wait_ready(&client, "/api/v1/conversations?limit=1", Some(&tokens[0].1), Duration::from_secs(900))
        .await?;
    r.server_memory = server.memory();
    eprintln!(
        "    ready after {:.1} s, RSS {} MiB (peak {} MiB)",
        r.server_ready.as_secs_f64(),
        r.server_memory.0 >> 20,
        r.server_memory.1 >> 20
    );
    r.http_floor = inbox::health_latency(&client, server.port, Budget::new(5_000, 3.0, 100)).await?;
    r.reads.extend(inbox::http_reads(&client, server.port, &tokens, Budget::new(5_000, 4.0, 100)).await?);
    r.server_memory_after = server.memory();
    server.stop().await?;
    inbox::drop_slot(&pool, &inbox::slot_name(&url)).await?;

    // ---- the SQL alternatives ----
    eprintln!("  SQL reads");
    r.sql_floor = sqlalt::select1_latency(&pool, Budget::new(5_000, 3.0, 100)).await?;
    for alt in Alt::ALL {
        r.reads.extend(sqlalt::bench_reads(&pool, alt, &viewers, Budget::new(2_000, 4.0, 2)).await?);
    }
    if n <= 100_000 {
        for v in &viewers {
            for which in scenario::Which::ALL {
                let (ids, total, unread) = sqlalt::reference(&pool, v, which).await?;
                r.reference.push((v.role, which, ids, total, unread));
            }
        }
    }

    // ---- Platica in-process ----
    let l = engine_pages(&pool, &url, &viewers, &mut r).await?;
    {
        let live = std::sync::Arc::clone(&l.live);
        let ds2 = ds.clone();
        let changes = cli.apply_changes;
        let (uniform, hot) = tokio::task::spawn_blocking(move || {
            let uniform = inbox::apply_throughput(&live, &ds2, next_message_id, changes, false);
            let hot = inbox::apply_throughput(&live, &ds2, next_message_id, changes, true);
            (uniform, hot)
        })
        .await?;
        r.apply = uniform;
        r.apply_hot = hot;
    }
    eprintln!(
        "    apply: {:.0} changes/s (hot set: {:.0}); 1,000-reassignment tx p50 {}",
        r.apply.per_sec(),
        r.apply_hot.per_sec(),
        stats::fmt(r.apply.bulk_1000.p50())
    );
    l.shutdown(&pool, &url).await?;

    // ---- writes: without a slot, then with Platica following, then without again ----
    eprintln!("  writes");
    let insert_budget = Budget::new(2_000, 5.0, 50);
    let reassign_budget = Budget::new(200, 8.0, 5);
    r.writes.push(WriteRow {
        label: "baseline: no triggers, no slot (before Platica's run)".into(),
        insert: Some(sqlalt::insert_latency(&pool, &ds, insert_budget, 21).await?),
        reassign: Some(sqlalt::reassign_latency(&pool, &ds, reassign_budget, 22).await?),
        note: String::new(),
    });
    let l = inbox::start(&url).await?;
    r.cold2 = l.cold;
    eprintln!("    LiveInbox::start again {:.2} s", r.cold2.as_secs_f64());
    r.visible = inbox::commit_to_visible(&l.live, &url, &ds, Some(2_000.0), 16, cli.visible_secs).await?;
    eprintln!(
        "    commit-to-visible at {:.0}/s: p50 {} p99 {} (n={}, unseen {})",
        r.visible.achieved_rate,
        stats::fmt(r.visible.latency.p50()),
        stats::fmt(r.visible.latency.p99()),
        r.visible.latency.n(),
        r.visible.unseen
    );
    r.writes.push(WriteRow {
        label: "Platica's slot attached and streaming (no triggers)".into(),
        insert: Some(sqlalt::insert_latency(&pool, &ds, insert_budget, 11).await?),
        reassign: Some(sqlalt::reassign_latency(&pool, &ds, reassign_budget, 12).await?),
        note: String::new(),
    });
    r.max_rate = inbox::commit_to_visible(&l.live, &url, &ds, None, 16, 10.0).await?;
    eprintln!(
        "    max rate {:.0}/s: visible p50 {} p99 {}, drain {}",
        r.max_rate.achieved_rate,
        stats::fmt(r.max_rate.latency.p50()),
        stats::fmt(r.max_rate.latency.p99()),
        stats::fmt(r.max_rate.drain)
    );
    l.shutdown(&pool, &url).await?;
    r.writes.push(WriteRow {
        label: "baseline: no triggers, no slot (after Platica's run)".into(),
        insert: Some(sqlalt::insert_latency(&pool, &ds, insert_budget, 23).await?),
        reassign: Some(sqlalt::reassign_latency(&pool, &ds, reassign_budget, 24).await?),
        note: String::new(),
    });

    {
        let mut conn = pool.acquire().await?;
        sqlalt::table_triggers(&mut conn, true).await?;
    }
    r.writes.push(WriteRow {
        label: "(c) row triggers keeping bench_inbox_t".into(),
        insert: Some(sqlalt::insert_latency(&pool, &ds, insert_budget, 31).await?),
        reassign: Some(sqlalt::reassign_latency(&pool, &ds, reassign_budget, 32).await?),
        note: String::new(),
    });
    {
        let mut conn = pool.acquire().await?;
        sqlalt::table_triggers(&mut conn, false).await?;
    }
    r.refresh = sqlalt::refresh_time(&pool, Budget::new(10, 20.0, 1)).await?;
    eprintln!("    REFRESH MATERIALIZED VIEW CONCURRENTLY p50 {}", stats::fmt(r.refresh.p50()));
    let refresh_limit = Duration::from_secs(120);
    if r.refresh.p50() <= refresh_limit {
        {
            let mut conn = pool.acquire().await?;
            sqlalt::refresh_trigger(&mut conn, true).await?;
        }
        let samples = sqlalt::insert_latency(&pool, &ds, Budget::new(20, 20.0, 1), 41).await?;
        {
            let mut conn = pool.acquire().await?;
            sqlalt::refresh_trigger(&mut conn, false).await?;
        }
        let note = format!("{} insert(s) measured (each runs a full concurrent refresh)", samples.n());
        r.writes.push(WriteRow {
            label: "(d) statement trigger refreshing the matview".into(),
            insert: Some(samples),
            reassign: None,
            note,
        });
    } else {
        r.writes.push(WriteRow {
            label: "(d) statement trigger refreshing the matview".into(),
            insert: None,
            reassign: None,
            note: format!(
                "not run: one refresh takes {} (> {} s), so would one insert",
                stats::fmt(r.refresh.p50()),
                refresh_limit.as_secs()
            ),
        });
    }
    for w in &r.writes {
        eprintln!(
            "    {:<55} insert p50 {:>9} | reassign p50 {:>9}",
            w.label,
            w.insert.as_ref().map(|s| stats::fmt(s.p50())).unwrap_or_default(),
            w.reassign.as_ref().map(|s| stats::fmt(s.p50())).unwrap_or_default()
        );
    }

    r.viewers = viewers;
    r.dataset = Some(ds);
    finish(cli, admin, pool, &db, r).await
}

/// Starts the engine in-process (marking the dataset for triage first) and times its pages: the
/// default list and the triage cases. Returns the running engine.
async fn engine_pages(
    pool: &PgPool,
    url: &str,
    viewers: &[scenario::Viewer],
    r: &mut SizeResult,
) -> anyhow::Result<inbox::Live> {
    eprintln!("  live inbox in-process");
    let labels = inbox::triage_marks(pool).await?;
    let rss_before = crate::procfs::memory_of("/proc/self/status").0;
    let l = inbox::start(url).await?;
    r.cold = l.cold;
    r.load = l.load.clone();
    r.bench_rss_growth = crate::procfs::memory_of("/proc/self/status").0 as i64 - rss_before as i64;
    eprintln!(
        "    LiveInbox::start {:.2} s (load {} ms: structure {} ms, message counts {} ms alongside, newest messages {} ms)",
        r.cold.as_secs_f64(),
        r.load.millis,
        r.load.structure_millis,
        r.load.counts_millis,
        r.load.newest_millis
    );
    r.reads.extend(inbox::engine_reads(&l.live, viewers, Budget::new(200_000, 2.0, 1_000)));
    r.triage = inbox::triage_reads(&l.live, viewers, &labels, Budget::new(200_000, 1.0, 1_000));
    Ok(l)
}

/// Closes the size's pool and drops its database (unless `--keep`).
async fn finish(cli: &Args, admin: &PgPool, pool: PgPool, db: &str, r: SizeResult) -> anyhow::Result<SizeResult> {
    pool.close().await;
    if !cli.keep {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE {db} WITH (FORCE)"))).execute(admin).await?;
    }
    Ok(r)
}
