//! The `platica` binary's library half: configuration, database bootstrap and the server's life
//! cycle, shared by the CLI (`main.rs`) and the integration tests.

use std::path::PathBuf;

use std::sync::Arc;

use anyhow::Context;
pub mod channels;

pub use platica_changes::live::CancellationToken;
use platica_changes::{LiveInbox, StreamConfig};
use platica_store::PgPool;
use platica_store::pg::cluster::{ClusterOptions, PrivateCluster, RunningCluster};
use tokio::net::TcpListener;

pub mod config;
pub mod doctor;
pub mod jobs_cli;
pub mod server;
pub mod server_file;
pub mod tenant_cli;

/// Where the database comes from.
#[derive(Clone, Debug)]
pub enum DatabaseSource {
    /// An existing server (must have `wal_level=logical`).
    Url(String),
    /// A private cluster under this directory, started and stopped by Platica.
    Private(PathBuf),
}

/// The database Platica uses inside its private cluster.
pub const PRIVATE_DATABASE: &str = "platica";

/// A connected, migrated database and the private cluster behind it, if any.
pub struct Database {
    pub pool: PgPool,
    pub url: String,
    cluster: Option<PrivateCluster>,
}

impl Database {
    /// For a command beside (or without) a server: a private cluster that is already running
    /// on the data directory (a `serve` or `demo` runs it) is used as it is, never a second one
    /// started, and left running; otherwise the cluster is started for the command and stopped
    /// by [`Database::close`]. Connects, checks the server and migrates.
    ///
    /// Call from the main thread: a private cluster is stopped by the kernel when the thread that
    /// started it exits.
    pub async fn open(source: &DatabaseSource, max_connections: u32) -> anyhow::Result<Database> {
        if let DatabaseSource::Private(root) = source
            && let Some(running) = RunningCluster::find(root)
        {
            tracing::info!(
                pid = running.pid,
                port = running.port,
                "using the private PostgreSQL cluster that is already running on this data directory"
            );
            platica_store::pg::db::create_database(&running.url("postgres"), PRIVATE_DATABASE, None).await?;
            return Self::connect(running.url(PRIVATE_DATABASE), None, max_connections).await;
        }
        Self::open_own(source, max_connections).await
    }

    /// For `serve` and `demo`: refuses when another server runs on the data directory (its
    /// `server.json`); a cluster left running (by `pg_ctl restart`, or a crashed server) is
    /// adopted and stopped on close like one started here.
    pub async fn open_for_server(
        source: &DatabaseSource,
        data_dir: &std::path::Path,
        max_connections: u32,
    ) -> anyhow::Result<Database> {
        if let Some(other) = server_file::ServerFile::read(data_dir) {
            anyhow::bail!(
                "another Platica server (pid {}) is serving {} on this data directory ({}); stop it first, \
                 or give this one another --data-dir",
                other.pid,
                other.address,
                data_dir.display()
            );
        }
        Self::open_own(source, max_connections).await
    }

    async fn open_own(source: &DatabaseSource, max_connections: u32) -> anyhow::Result<Database> {
        let (url, cluster) = match source {
            DatabaseSource::Url(url) => (url.clone(), None),
            DatabaseSource::Private(root) => {
                tracing::info!(root = %root.display(), "starting the private PostgreSQL cluster");
                let cluster = PrivateCluster::start(&ClusterOptions::new(root.clone(), true))
                    .context("cannot start the private PostgreSQL cluster")?;
                platica_store::pg::db::create_database(&cluster.url("postgres"), PRIVATE_DATABASE, None).await?;
                match cluster.adopted() {
                    Some(pid) => tracing::info!(
                        pid,
                        port = cluster.port(),
                        "adopted the private PostgreSQL cluster that was already running; it is stopped on exit"
                    ),
                    None => tracing::info!(port = cluster.port(), "private PostgreSQL cluster is up"),
                }
                (cluster.url(PRIVATE_DATABASE), Some(cluster))
            }
        };
        Self::connect(url, cluster, max_connections).await
    }

    async fn connect(url: String, cluster: Option<PrivateCluster>, max_connections: u32) -> anyhow::Result<Database> {
        // (On an error the process exits, and the kernel stops a cluster started here.)
        let pool = platica_store::pg::db::connect(&url, max_connections).await?;
        platica_store::pg::db::check_server(&pool).await?;
        platica_store::pg::db::migrate(&pool).await?;
        Ok(Database { pool, url, cluster })
    }

    /// Closes the pool, then stops the private cluster (last, so nothing is cut off).
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.cluster {
            tracing::info!("stopping the private PostgreSQL cluster");
            tokio::task::spawn_blocking(move || cluster.stop()).await??;
        }
        Ok(())
    }
}

/// The replication slot of a server on `database_url`: one per database, so servers (and test
/// databases) on one PostgreSQL cluster never share a slot.
pub fn slot_name(database_url: &str) -> String {
    let db = database_url
        .parse::<sqlx::postgres::PgConnectOptions>()
        .ok()
        .and_then(|o| o.get_database().map(str::to_owned))
        .unwrap_or_else(|| "postgres".into());
    let clean: String =
        db.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(50).collect();
    format!("platica_{clean}")
}

/// Loads the live inbox and starts following the change stream (until `shutdown`).
pub async fn start_live(
    database_url: &str,
    shutdown: CancellationToken,
) -> anyhow::Result<(Arc<LiveInbox>, tokio::task::JoinHandle<()>)> {
    start_live_on_slot(database_url, None, shutdown).await
}

/// [`start_live`] on a named slot (`database.replication_slot`): each server on one database
/// needs a slot of its own. `None` is the database's default slot, [`slot_name`].
pub async fn start_live_on_slot(
    database_url: &str,
    slot: Option<&str>,
    shutdown: CancellationToken,
) -> anyhow::Result<(Arc<LiveInbox>, tokio::task::JoinHandle<()>)> {
    let mut config = StreamConfig::new(database_url);
    config.slot = slot.map_or_else(|| slot_name(database_url), str::to_owned);
    LiveInbox::start(config, shutdown).await.context("cannot start the live inbox")
}

/// Loads a live inbox of its own (on a slot of its own, dropped afterwards), follows the stream
/// for `follow`, then verifies it against SQL at one LSN.
pub async fn verify_once(
    database_url: &str,
    follow: std::time::Duration,
) -> anyhow::Result<platica_changes::verify::Report> {
    let mut config = StreamConfig::new(database_url);
    config.slot = format!("{}_verify_{}", slot_name(database_url), std::process::id());
    let slot = config.slot.clone();
    let stop = CancellationToken::new();
    let started = LiveInbox::start(config, stop.clone()).await.context("cannot start the live inbox");
    let outcome = match started {
        Ok((live, task)) => {
            tokio::time::sleep(follow).await;
            let report = platica_changes::verify::verify(&live, None).await.context("verification failed to run");
            stop.cancel();
            let _ = task.await;
            report
        }
        Err(e) => Err(e),
    };
    // The slot is ours alone: drop it so it retains no WAL.
    // Its walsender may take a moment to exit after the stream closes.
    let pool = platica_store::pg::db::connect(database_url, 1).await?;
    let mut attempts = 0;
    loop {
        let dropped = sqlx::query(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
        )
        .bind(&slot)
        .execute(&pool)
        .await
        .context("dropping the verification slot")?;
        let left: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)")
            .bind(&slot)
            .fetch_one(&pool)
            .await?;
        if !left || dropped.rows_affected() > 0 {
            break;
        }
        attempts += 1;
        if attempts > 50 {
            tracing::warn!(%slot, "could not drop the verification slot: drop it by hand");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    pool.close().await;
    outcome
}

/// Sets `app_version` to `value` for every tenant, or the one with slug `tenant`; returns how many.
pub async fn release_web(pool: &PgPool, value: &serde_json::Value, tenant: Option<&str>) -> anyhow::Result<usize> {
    let tenants: Vec<i64> =
        sqlx::query_scalar("SELECT tenant_id FROM tenants WHERE $1::text IS NULL OR slug = $1 ORDER BY 1")
            .bind(tenant)
            .fetch_all(pool)
            .await?;
    if let Some(slug) = tenant
        && tenants.is_empty()
    {
        anyhow::bail!("no tenant with slug {slug:?}");
    }
    for t in &tenants {
        platica_store::config::put(pool, platica_domain::TenantId(*t), "app_version", value, None).await?;
    }
    Ok(tenants.len())
}

/// Serves the HTTP API on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: platica_http::AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let closing = state.shutdown.clone();
    let (limits, edge) = (state.limits, state.edge.clone());
    let app = platica_http::router(state);
    // WebSockets are no longer requests the drain waits for: they are told to close.
    platica_http::serve::serve(listener, app, limits, edge, shutdown, move || {
        let _ = closing.send(true);
    })
    .await
    .context("HTTP server failed")
}

/// Completes on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this is called, not
/// when the future is first polled: a signal that arrives in between (e.g. right after the
/// server announced itself in `server.json`) still shuts down cleanly. Call inside the runtime.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{SignalKind, signal};
    let wait = |kind: SignalKind, name: &'static str| {
        let installed = signal(kind);
        async move {
            match installed {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
    };
    let ctrl_c = wait(SignalKind::interrupt(), "Ctrl-C");
    let term = wait(SignalKind::terminate(), "SIGTERM");
    async move {
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
        tracing::info!("shutting down");
    }
}

/// Starts the scheduler on `pool`: it runs due jobs until `shutdown` is cancelled, then waits for
/// the runs in flight.
pub fn start_scheduler(
    pool: PgPool,
    config: platica_scheduler::SchedulerConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let scheduler = platica_scheduler::Scheduler::new(pool, config);
    tokio::spawn(async move { scheduler.run(shutdown.cancelled()).await })
}

/// Logs where the live inbox stopped (its applied LSN): the next start rebuilds from a fresh
/// slot, and the log says up to where this run had applied.
pub fn log_stopped(live: &LiveInbox) {
    let s = live.status();
    tracing::info!(
        applied_lsn = %platica_changes::lsn::format(s.applied_lsn),
        position = %platica_changes::lsn::format(s.position),
        transactions = s.transactions,
        "live inbox stopped"
    );
}
