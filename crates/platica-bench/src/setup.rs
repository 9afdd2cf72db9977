//! What every subcommand sets up the same way: its working directory, the private PostgreSQL
//! cluster and the runtime beside it, the `platica` binary run as `platica serve` in a process of
//! its own, the demo tenant, the database's transaction counter, and its section of
//! BENCHMARKS.md.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use platica_domain::{TenantId, UserId};
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster};
use serde_json::Value;
use sqlx::PgPool;
use tokio_tungstenite::tungstenite::Message;

use crate::stats::now_micros;

/// The file that marks a working directory as made by this tool (so a run never empties a
/// directory it did not make).
const MARKER: &str = ".platica-bench";

/// Empties `dir` (when this tool made it) and creates it again, marked.
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        if !dir.join(MARKER).exists() && std::fs::read_dir(dir)?.next().is_some() {
            bail!("{} exists and was not made by platica-bench: choose another --dir", dir.display());
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "made by platica-bench; removed at the end of a run\n")?;
    Ok(())
}

/// The `platica` binary to run: `given`, or the one next to this binary.
pub fn platica_binary(given: Option<&Path>) -> anyhow::Result<PathBuf> {
    let bin = match given {
        Some(b) => b.to_owned(),
        None => std::env::current_exe()?.with_file_name("platica"),
    };
    if !bin.is_file() {
        bail!("no platica binary at {} (build it: cargo build --release -p platica)", bin.display());
    }
    Ok(bin)
}

/// Where a run works and how its cluster is set up.
pub struct Workspace {
    /// The working directory (see [`prepare_dir`]); removed at the end unless `keep`.
    pub dir: PathBuf,
    pub keep: bool,
    pub cluster: ClusterOptions,
    /// Runtime worker threads (`None`: one per core).
    pub workers: Option<usize>,
}

/// Prepares the working directory, starts the private cluster on this thread (the main thread,
/// which outlives it: the cluster is stopped when the thread that started it dies), runs `work`
/// on a multi-threaded runtime, then stops the cluster and removes the directory.
pub fn run_with_cluster<T>(
    ws: Workspace,
    work: impl AsyncFnOnce(&PrivateCluster) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    prepare_dir(&ws.dir)?;
    eprintln!("starting PostgreSQL under {}", ws.cluster.root.display());
    let cluster = PrivateCluster::start(&ws.cluster).context("starting the private PostgreSQL cluster")?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = ws.workers {
        builder.worker_threads(n);
    }
    let result = match builder.enable_all().build() {
        Ok(rt) => rt.block_on(work(&cluster)),
        Err(e) => Err(e.into()),
    };
    let stopped = cluster.stop().context("stopping PostgreSQL");
    if !ws.keep {
        let _ = std::fs::remove_dir_all(&ws.dir);
    }
    let value = result?;
    stopped?;
    Ok(value)
}

/// A `platica serve` child process on a free loopback port.
pub struct Server {
    child: Child,
    pub port: u16,
    pub started: Instant,
}

impl Server {
    /// Spawns `bin serve` on `database_url` with the extra environment `env`. Its output goes to
    /// `log` when given (stdout and stderr), else stdout is dropped and stderr is this process's.
    /// The child gets SIGTERM when the thread that spawned it exits.
    pub fn spawn(bin: &Path, database_url: &str, env: &[(&str, &str)], log: Option<&Path>) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = Command::new(bin);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--database-url", database_url])
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        match log {
            Some(path) => {
                let out = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
                let err = out.try_clone()?;
                cmd.stdout(out).stderr(err);
            }
            None => {
                cmd.stdout(Stdio::null());
            }
        }
        // SAFETY: prctl is async-signal-safe; it only asks the kernel to stop the child when the
        // thread that spawned it (the main thread, or a runtime worker living as long as the
        // run) exits.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let started = Instant::now();
        let child = cmd.spawn().with_context(|| format!("starting {} serve", bin.display()))?;
        Ok(Server { child, port, started })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("platica serve exited with {status} before it was ready");
        }
        Ok(())
    }

    /// Waits until the server accepts TCP connections.
    pub async fn wait_listening(&mut self, timeout: Duration) -> anyhow::Result<()> {
        loop {
            self.check_alive()?;
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            if self.started.elapsed() > timeout {
                bail!("platica serve did not listen on 127.0.0.1:{} within {timeout:?}", self.port);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `GET path` (with `token` as bearer, if any) answers a success; returns the
    /// time since the spawn.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        path: &str,
        token: Option<&str>,
        timeout: Duration,
    ) -> anyhow::Result<Duration> {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        loop {
            self.check_alive()?;
            let mut req = client.get(&url);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Ok(resp) = req.send().await
                && resp.status().is_success()
            {
                return Ok(self.started.elapsed());
            }
            if self.started.elapsed() > timeout {
                bail!("platica serve was not ready ({path}) within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// VmRSS and VmHWM in bytes.
    pub fn memory(&self) -> (u64, u64) {
        crate::procfs::memory(self.child.id())
    }

    /// SIGTERM, then SIGKILL after 30 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        // SAFETY: our own child, not yet reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                self.child.kill()?;
                self.child.wait()?;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// What WebSocket clients count for their owner.
#[derive(Default)]
pub struct WsCounts {
    /// Subscriptions the server confirmed.
    pub subscribed: AtomicU64,
    /// Connections or sends that failed, and `error`, `reset` or `revoked` frames.
    pub errors: AtomicU64,
}

/// A WebSocket client of `platica serve`: connects to `url`, sends the subscribe frames `subs`,
/// then hands each `event` frame with its arrival time ([`now_micros`], taken before the frame is
/// parsed) to `on_event` until `stop` changes or the connection ends.
pub async fn ws_client(
    url: &str,
    subs: &[Value],
    counts: &WsCounts,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut on_event: impl FnMut(&Value, i64),
) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await else {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    for s in subs {
        if ws.send(Message::Text(s.to_string().into())).await.is_err() {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }
    loop {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let now = now_micros();
                    let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                    match v["type"].as_str() {
                        Some("subscribed") => { counts.subscribed.fetch_add(1, Ordering::Relaxed); }
                        Some("event") => on_event(&v, now),
                        Some("error" | "reset" | "revoked") => { counts.errors.fetch_add(1, Ordering::Relaxed); }
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

/// The demo tenant in a database of its own.
pub struct Demo {
    pub pool: PgPool,
    pub url: String,
    pub tenant: TenantId,
    /// The tenant's admin.
    pub admin: UserId,
}

/// Creates `database` in the cluster, migrates it and seeds the demo tenant (`platica_demo::seed`:
/// teams, staff, 3,000 prospects with their conversations).
pub async fn demo_tenant(cluster: &PrivateCluster, database: &str, pool_size: u32) -> anyhow::Result<Demo> {
    platica_store::pg::db::create_database(&cluster.url("postgres"), database, None).await?;
    let url = cluster.url(database);
    let pool = platica_store::pg::db::connect(&url, pool_size).await?;
    platica_store::pg::db::migrate(&pool).await?;
    let info = platica_demo::seed(&pool).await.context("seeding")?;
    let admin: i64 = sqlx::query_scalar("SELECT user_id FROM users WHERE tenant_id = $1 AND role = 'admin' LIMIT 1")
        .bind(info.tenant_id.0)
        .fetch_one(&pool)
        .await?;
    Ok(Demo { pool, url, tenant: info.tenant_id, admin: UserId(admin) })
}

/// PostgreSQL backends flush their statistics within about 10 s when idle.
pub const STATS_FLUSH: Duration = Duration::from_secs(11);

/// Transactions committed or rolled back in the current database (pg_stat_database; see
/// [`STATS_FLUSH`]).
pub async fn db_xacts(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(pool)
    .await?)
}

/// The markers around a subcommand's section of BENCHMARKS.md.
fn markers(name: &str) -> (String, String) {
    (format!("<!-- platica-bench {name}:begin -->"), format!("<!-- platica-bench {name}:end -->"))
}

/// `old` with the text between the markers of section `name` replaced by `section` (both markers
/// and the section appended when absent).
pub fn merge_section(old: &str, name: &str, section: &str) -> String {
    let (begin, end) = markers(name);
    let block = format!("{begin}\n{section}{end}\n");
    match (old.find(&begin), old.find(&end)) {
        (Some(b), Some(e)) if e > b => {
            // The block ends with its own newline: what followed the end marker stays as it was.
            let rest = &old[e + end.len()..];
            format!("{}{block}{}", &old[..b], rest.strip_prefix('\n').unwrap_or(rest))
        }
        _ => format!("{}{}{block}", old, if old.is_empty() || old.ends_with("\n\n") { "" } else { "\n" }),
    }
}

/// Writes a subcommand's report: to `out` (its directory created), into section `name` of
/// `benchmarks_md` when given, and to stdout.
pub fn publish(out: &Path, benchmarks_md: Option<&Path>, name: &str, md: &str) -> anyhow::Result<()> {
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(out, md).with_context(|| format!("writing {}", out.display()))?;
    if let Some(path) = benchmarks_md {
        let old = std::fs::read_to_string(path).unwrap_or_default();
        std::fs::write(path, merge_section(&old, name, md)).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_section_is_replaced_between_its_markers_and_nothing_else_changes() {
        let old = "# Title\n\nintro\n\n<!-- platica-bench realtime:begin -->\nold figures\n<!-- platica-bench realtime:end -->\n\n## After\ntext\n";
        let new = merge_section(old, "realtime", "new figures\n");
        assert_eq!(
            new,
            "# Title\n\nintro\n\n<!-- platica-bench realtime:begin -->\nnew figures\n<!-- platica-bench realtime:end -->\n\n## After\ntext\n"
        );
        // Another section's markers are left alone.
        assert_eq!(merge_section(&new, "realtime", "new figures\n"), new);
        let both = merge_section(&new, "webhooks", "hooks\n");
        assert!(both.starts_with(&new));
        assert!(
            both.ends_with("\n<!-- platica-bench webhooks:begin -->\nhooks\n<!-- platica-bench webhooks:end -->\n")
        );
    }

    #[test]
    fn an_absent_section_is_appended_after_a_blank_line() {
        let block = "<!-- platica-bench webhooks:begin -->\nx\n<!-- platica-bench webhooks:end -->\n";
        assert_eq!(merge_section("", "webhooks", "x\n"), block);
        assert_eq!(merge_section("text\n", "webhooks", "x\n"), format!("text\n\n{block}"));
        assert_eq!(merge_section("text\n\n", "webhooks", "x\n"), format!("text\n\n{block}"));
        // An end marker before the begin marker is not a section: append a whole one.
        let odd = "<!-- platica-bench webhooks:end -->\n<!-- platica-bench webhooks:begin -->\n\n";
        assert_eq!(merge_section(odd, "webhooks", "x\n"), format!("{odd}{block}"));
    }

    #[test]
    fn a_directory_this_tool_did_not_make_is_never_emptied() {
        let base = std::env::temp_dir().join(format!("platica-bench-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        std::fs::write(base.join("precious"), "keep me").unwrap();
        let err = prepare_dir(&base).unwrap_err().to_string();
        assert!(err.contains("was not made by platica-bench"), "{err}");
        assert!(base.join("precious").is_file());
        // Once marked (made by the tool), a run empties it.
        std::fs::write(base.join(MARKER), "").unwrap();
        prepare_dir(&base).unwrap();
        assert!(!base.join("precious").exists());
        assert!(base.join(MARKER).is_file());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
