//! `platica-bench compare`: two `platica` binaries serving the same inbox pages, measured paired.
//!
//! The machines this runs on are shared: two runs minutes apart can differ by more than the
//! change under test. Here both servers run at once, each against its own copy of the same
//! generated data (migrated by its own binary, so an older binary meets the schema it knows), and
//! every request to one is followed by the same request to the other, the order alternating. Both
//! see the same moment of the machine; the report gives each side's percentiles and the median of
//! the paired differences (B − A), which noise moves least.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use platica_domain::{TenantId, UserId};
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};

use super::scenario::{self, Viewer, Which};
use super::{PG_SETTINGS, connect, generate, migrate, sqlalt};
use crate::setup::{self, Server, Workspace};
use crate::stats::{Samples, fmt};

#[derive(clap::Args, Clone)]
pub struct Args {
    /// The `platica` binary of side A (the baseline).
    #[arg(long)]
    a: PathBuf,
    /// The `platica` binary of side B (the change).
    #[arg(long)]
    b: PathBuf,
    /// Conversations of the measured tenant.
    #[arg(long, default_value_t = 3_230)]
    conversations: i64,
    /// Request pairs per case (3 roles × first and deep page, and `/health`).
    #[arg(long, default_value_t = 5_000)]
    pairs: usize,
    /// Where the private cluster lives (created by the tool; removed at the end unless --keep).
    #[arg(long, default_value = "/var/tmp/platica-bench-compare")]
    dir: PathBuf,
    /// Keep the cluster directory and the databases.
    #[arg(long)]
    keep: bool,
}

/// Runs the paired comparison and prints its Markdown table on stdout.
pub fn run(args: Args) -> anyhow::Result<()> {
    for bin in [&args.a, &args.b] {
        anyhow::ensure!(bin.is_file(), "no platica binary at {}", bin.display());
    }
    let mut cluster = ClusterOptions::new(args.dir.join("cluster"), true);
    cluster.settings = PG_SETTINGS.iter().map(|s| (*s).to_owned()).collect();
    let ws = Workspace { dir: args.dir.clone(), keep: args.keep, cluster, workers: Some(2) };
    let table = setup::run_with_cluster(ws, async |cluster: &PrivateCluster| compare(&args, cluster).await)?;
    println!("{table}");
    Ok(())
}

/// One side: its server and, per viewer, the session token of its own database.
struct Side {
    server: Server,
    viewers: Vec<(Viewer, String)>,
}

async fn side(cluster: &PrivateCluster, dir: &Path, name: &str, bin: &Path, n: i64) -> anyhow::Result<Side> {
    let admin = connect(&cluster.url("postgres"), 1).await?;
    let db = format!("compare_{name}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))).execute(&admin).await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {db}"))).execute(&admin).await?;
    admin.close().await;
    let url = cluster.url(&db);
    migrate(bin, &url)?;
    let pool = connect(&url, 4).await?;
    // The same seed on both sides: the same rows, ids and times (up to the hour of the run).
    let t_end = chrono::Utc::now() - chrono::Duration::hours(1);
    let ds = {
        let mut conn = pool.acquire().await?;
        generate::generate(&mut conn, n, t_end).await?
    };
    let viewers = {
        let mut conn = pool.acquire().await?;
        sqlalt::setup(&mut conn).await?;
        scenario::viewers(&mut conn, &ds).await?
    };
    let mut with_tokens = Vec::new();
    for v in viewers {
        let (token, _) =
            platica_store::org::auth::create_session(&pool, TenantId(v.tenant_id), UserId(v.user_id)).await?;
        with_tokens.push((v, token));
    }
    pool.close().await;
    let log = dir.join(format!("platica-serve-{name}.log"));
    let slot = format!("compare_{name}");
    let data = dir.join(format!("data-{name}"));
    let data = data.to_str().context("a data directory path that is not UTF-8")?;
    let env = [("PLATICA_DATABASE_REPLICATION_SLOT", slot.as_str()), ("PLATICA_DATA_DIR", data)];
    let mut server = Server::spawn(bin, &url, &env, Some(&log))?;
    let client = reqwest::Client::new();
    server
        .wait_ready(&client, "/api/v1/conversations?limit=1", Some(&with_tokens[0].1), Duration::from_secs(600))
        .await?;
    eprintln!("  side {name}: {} ready on port {}", bin.display(), server.port);
    Ok(Side { server, viewers: with_tokens })
}

/// One measured case: a label and the URL path (with query) on each side, and its token.
struct Case {
    label: String,
    a: (String, Option<String>),
    b: (String, Option<String>),
}

fn cases(a: &Side, b: &Side) -> Vec<Case> {
    let mut out = vec![Case {
        label: "`/health` (no authentication, no engine)".into(),
        a: ("/health".into(), None),
        b: ("/health".into(), None),
    }];
    for ((va, ta), (vb, tb)) in a.viewers.iter().zip(&b.viewers) {
        for which in Which::ALL {
            let path = |v: &Viewer| {
                let mut p = format!("/api/v1/conversations?limit={}", scenario::PAGE);
                if let Some(c) = v.cursor(which) {
                    p.push_str(&format!("&cursor={}_{}", c.micros(), c.id));
                }
                p
            };
            out.push(Case {
                label: format!("{}, {}", va.role.label(), which.label()),
                a: (path(va), Some(ta.clone())),
                b: (path(vb), Some(tb.clone())),
            });
        }
    }
    out
}

async fn timed(
    client: &reqwest::Client,
    port: u16,
    (path, token): &(String, Option<String>),
) -> anyhow::Result<Duration> {
    let mut req = client.get(format!("http://127.0.0.1:{port}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let t = Instant::now();
    req.send().await?.error_for_status()?.bytes().await?;
    Ok(t.elapsed())
}

async fn compare(args: &Args, cluster: &PrivateCluster) -> anyhow::Result<String> {
    let a = side(cluster, &args.dir, "a", &args.a, args.conversations).await?;
    let b = match side(cluster, &args.dir, "b", &args.b, args.conversations).await {
        Ok(b) => b,
        Err(e) => {
            a.server.stop().await?;
            return Err(e);
        }
    };
    let measured = measure(args, &a, &b).await;
    a.server.stop().await?;
    b.server.stop().await?;
    measured
}

async fn measure(args: &Args, a: &Side, b: &Side) -> anyhow::Result<String> {
    // One keep-alive client per side, so neither waits behind the other's connection.
    let (ca, cb) = (reqwest::Client::new(), reqwest::Client::new());
    let mut rows = Vec::new();
    for case in cases(a, b) {
        for _ in 0..200 {
            timed(&ca, a.server.port, &case.a).await?;
            timed(&cb, b.server.port, &case.b).await?;
        }
        let (mut da, mut db, mut diff) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..args.pairs {
            let (ta, tb) = if i % 2 == 0 {
                let ta = timed(&ca, a.server.port, &case.a).await?;
                (ta, timed(&cb, b.server.port, &case.b).await?)
            } else {
                let tb = timed(&cb, b.server.port, &case.b).await?;
                (timed(&ca, a.server.port, &case.a).await?, tb)
            };
            da.push(ta);
            db.push(tb);
            diff.push(tb.as_nanos() as i64 - ta.as_nanos() as i64);
        }
        diff.sort_unstable();
        let (sa, sb) = (Samples::new(da), Samples::new(db));
        let median_diff = diff[diff.len() / 2];
        let b_slower = diff.iter().filter(|d| **d > 0).count() as f64 / diff.len() as f64;
        eprintln!(
            "  {:<36} A p50 {:>9} p99 {:>9} | B p50 {:>9} p99 {:>9} | B−A median {:+.1} µs",
            case.label,
            fmt(sa.p50()),
            fmt(sa.p99()),
            fmt(sb.p50()),
            fmt(sb.p99()),
            median_diff as f64 / 1000.0
        );
        rows.push(format!(
            "| {} | {} | {} | {} | {} | {} | {} | {:+.1} µs | {:.0} % | {} |",
            case.label,
            fmt(sa.p50()),
            fmt(sa.pct(90.0)),
            fmt(sa.p99()),
            fmt(sb.p50()),
            fmt(sb.pct(90.0)),
            fmt(sb.p99()),
            median_diff as f64 / 1000.0,
            b_slower * 100.0,
            sa.n(),
        ));
    }
    let mut out = format!(
        "A: `{}`\nB: `{}`\n{} conversations, {} pairs per case, requests alternating A/B then B/A, \
         one keep-alive client per side, session-token authentication.\n\n",
        args.a.display(),
        args.b.display(),
        args.conversations,
        args.pairs
    );
    out.push_str("| case | A p50 | A p90 | A p99 | B p50 | B p90 | B p99 | median of B − A | pairs where B was slower | pairs |\n");
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    out.push_str(&rows.join("\n"));
    Ok(out)
}
