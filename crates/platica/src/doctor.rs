//! `platica doctor`: checks a deployment the way an operator would by hand, and says how to fix
//! what is wrong. Nothing is changed: it reads settings, the replication slot, the publication,
//! migrations, disk space, lag, the live inbox against SQL, channel accounts and the scheduler.

use std::path::Path;
use std::time::Duration;

use platica_store::PgPool;

/// How bad a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// One finding.
#[derive(Debug)]
pub struct Check {
    pub name: &'static str,
    pub level: Level,
    pub detail: String,
    /// What to do about it (for warnings and failures).
    pub fix: Option<String>,
}

fn ok(name: &'static str, detail: impl Into<String>) -> Check {
    Check { name, level: Level::Ok, detail: detail.into(), fix: None }
}

fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { name, level: Level::Warn, detail: detail.into(), fix: Some(fix.into()) }
}

fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check { name, level: Level::Fail, detail: detail.into(), fix: Some(fix.into()) }
}

/// What the doctor checks against.
#[derive(Clone, Debug)]
pub struct DoctorOptions {
    /// The server's replication slot (`None`: the database's default).
    pub slot: Option<String>,
    /// Run `verify` (a temporary slot of its own, following the stream this long).
    pub verify: Option<Duration>,
    /// The server running on the data directory: `verify` checks its own engine instead.
    pub server: Option<crate::server_file::ServerFile>,
    /// Lag of the server's slot that fails the check.
    pub max_lag_bytes: u64,
    /// WAL retained by any slot that deserves a warning.
    pub max_retained_bytes: u64,
    /// The data directory's filesystem fails the check with less free than both this percentage
    /// and `min_free_gib` (and warns below twice the percentage and four times the size).
    pub min_free_percent: f64,
    pub min_free_gib: f64,
    /// How far back failed job runs are reported.
    pub failures_since: chrono::Duration,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            slot: None,
            verify: Some(Duration::from_millis(500)),
            server: None,
            max_lag_bytes: platica_http::ops::MAX_READY_LAG_BYTES,
            max_retained_bytes: 1024 * 1024 * 1024,
            min_free_percent: 5.0,
            min_free_gib: 2.0,
            failures_since: chrono::Duration::hours(24),
        }
    }
}

/// Every check, in order. Connection failures end the list early (nothing else can be read).
pub async fn examine(database_url: &str, opts: &DoctorOptions) -> Vec<Check> {
    let mut out = Vec::new();
    let pool = match platica_store::pg::db::connect(database_url, 2).await {
        Ok(p) => p,
        Err(e) => {
            out.push(fail(
                "database",
                e.to_string(),
                "check --database-url (DATABASE_URL): the server must be running and accept this user",
            ));
            return out;
        }
    };
    out.push(ok("database", "reachable"));
    let logical = settings(&pool, &mut out).await;
    let migrations_current = migrations(&pool, &mut out).await;
    publication(&pool, &mut out).await;
    slots(&pool, database_url, opts, &mut out).await;
    disk(&pool, opts, &mut out).await;
    if migrations_current {
        channels(&pool, &mut out).await;
        scheduler(&pool, opts, &mut out).await;
    }
    match (opts.verify, &opts.server) {
        (Some(_), Some(server)) if logical && migrations_current => out.push(verify_server(server).await),
        (Some(follow), None) if logical && migrations_current => out.push(verify(database_url, follow).await),
        (Some(_), _) => out.push(warn(
            "verify",
            "skipped: the database cannot stream changes yet",
            "fix the failures above, then run platica doctor again",
        )),
        (None, _) => {}
    }
    pool.close().await;
    out
}

async fn setting(pool: &PgPool, name: &str) -> Option<String> {
    sqlx::query_scalar("SELECT current_setting($1)").bind(name).fetch_one(pool).await.ok()
}

/// wal_level, max_replication_slots, max_wal_senders. Returns whether wal_level is logical.
async fn settings(pool: &PgPool, out: &mut Vec<Check>) -> bool {
    let wal_level = setting(pool, "wal_level").await.unwrap_or_default();
    let logical = wal_level == "logical";
    out.push(if logical {
        ok("wal_level", "logical")
    } else {
        fail(
            "wal_level",
            format!("wal_level={wal_level}: the live inbox reads the logical replication stream"),
            "ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL",
        )
    });
    let used: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_replication_slots").fetch_one(pool).await.unwrap_or(0);
    // Each server holds one slot; `verify` and the doctor take one more for a moment.
    for (name, label) in [("max_replication_slots", "replication_slots"), ("max_wal_senders", "wal_senders")] {
        let value: i64 = setting(pool, name).await.and_then(|v| v.parse().ok()).unwrap_or(0);
        let check = if value < 2 {
            fail(
                label,
                format!("{name}={value}; Platica needs one per server plus one for verify"),
                format!("ALTER SYSTEM SET {name} = 10; then restart PostgreSQL"),
            )
        } else if name == "max_replication_slots" && used + 1 >= value {
            warn(
                label,
                format!("{name}={value} and {used} slots exist: no room for another server or verify"),
                format!("drop unused slots (see below) or raise {name} and restart PostgreSQL"),
            )
        } else if name == "max_replication_slots" {
            ok(label, format!("{name}={value} ({used} slots in use)"))
        } else {
            ok(label, format!("{name}={value}"))
        };
        out.push(check);
    }
    logical
}

/// Every migration the binary knows is applied. Returns whether they all are.
async fn migrations(pool: &PgPool, out: &mut Vec<Check>) -> bool {
    let applied: Result<Vec<(i64, bool)>, _> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version").fetch_all(pool).await;
    let applied = match applied {
        Ok(a) => a,
        Err(_) => {
            out.push(fail("migrations", "none applied", "run: platica migrate"));
            return false;
        }
    };
    let known: Vec<i64> = platica_store::pg::db::MIGRATOR.iter().map(|m| m.version).collect();
    let missing: Vec<i64> = known.iter().filter(|v| !applied.iter().any(|(a, ok)| a == *v && *ok)).copied().collect();
    let unknown: Vec<i64> = applied.iter().map(|(v, _)| *v).filter(|v| !known.contains(v)).collect();
    if !missing.is_empty() {
        out.push(fail("migrations", format!("not applied: {missing:?}"), "run: platica migrate"));
        false
    } else if !unknown.is_empty() {
        out.push(warn(
            "migrations",
            format!("the database has migrations this binary does not know: {unknown:?}"),
            "run the newer platica binary that applied them",
        ));
        true
    } else {
        out.push(ok("migrations", format!("all {} applied", known.len())));
        true
    }
}

async fn publication(pool: &PgPool, out: &mut Vec<Check>) {
    let fix = format!(
        "recreate it as the code expects (platica_store::pg::publication): {}",
        platica_store::pg::publication::create_sql()
    );
    match platica_store::pg::publication::check(pool).await {
        Err(e) => out.push(fail("publication", format!("cannot read it: {e}"), fix)),
        Ok(d) if !d.exists => out.push(fail(
            "publication",
            format!("publication {:?} does not exist", platica_store::pg::publication::NAME),
            fix,
        )),
        Ok(d) if d.is_clean() => out.push(ok(
            "publication",
            format!("{} tables, as the code expects", platica_store::pg::publication::TABLES.len()),
        )),
        Ok(d) => {
            let mut what = Vec::new();
            if !d.missing.is_empty() {
                what.push(format!("missing tables {:?}", d.missing));
            }
            if !d.unexpected.is_empty() {
                what.push(format!("unexpected tables {:?}", d.unexpected));
            }
            for (t, cols) in &d.wrong_columns {
                what.push(format!("{t} publishes columns {cols:?}"));
            }
            out.push(fail("publication", what.join("; "), fix));
        }
    }
}

/// A slot: name, active, WAL retained, lag behind the server (bytes), wal_status.
type SlotRow = (String, bool, Option<i64>, Option<i64>, Option<String>);

/// The server's slot (active, lag, WAL retained) and other slots that retain WAL.
async fn slots(pool: &PgPool, database_url: &str, opts: &DoctorOptions, out: &mut Vec<Check>) {
    let ours = opts.slot.clone().unwrap_or_else(|| crate::slot_name(database_url));
    let rows: Result<Vec<SlotRow>, _> = sqlx::query_as(
        "SELECT slot_name::text, active,
                pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint,
                pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint,
                wal_status
         FROM pg_replication_slots WHERE database = current_database() ORDER BY 1",
    )
    .fetch_all(pool)
    .await;
    let rows = match rows {
        Ok(r) => r,
        Err(e) => {
            out.push(fail(
                "replication_slot",
                format!("cannot read pg_replication_slots: {e}"),
                "connect as a superuser",
            ));
            return;
        }
    };
    match rows.iter().find(|r| r.0 == ours) {
        None => out.push(warn(
            "replication_slot",
            format!("slot {ours:?} does not exist: no Platica server is streaming from this database"),
            "start platica serve (it creates the slot)",
        )),
        Some((_, active, retained, lag, wal_status)) => {
            let retained = retained.unwrap_or(0);
            let lag = lag.unwrap_or(0);
            let detail = format!(
                "{ours}: {}, retains {} of WAL, wal_status={}",
                if *active { "active" } else { "inactive" },
                bytes(retained),
                wal_status.as_deref().unwrap_or("?")
            );
            out.push(if matches!(wal_status.as_deref(), Some("lost") | Some("unreserved")) {
                fail(
                    "replication_slot",
                    detail,
                    "restart platica serve: it drops the slot and rebuilds from a fresh one",
                )
            } else if !*active {
                warn(
                    "replication_slot",
                    detail,
                    format!(
                        "start platica serve, or drop the slot if no server will use it: \
                         SELECT pg_drop_replication_slot('{ours}');"
                    ),
                )
            } else if retained as u64 > opts.max_retained_bytes {
                warn("replication_slot", detail, "check that the server acknowledges (platica verify, /ready)")
            } else {
                ok("replication_slot", detail)
            });
            out.push(if (lag as u64) > opts.max_lag_bytes {
                fail(
                    "replication_lag",
                    format!("{} behind the server (limit {})", bytes(lag), bytes(opts.max_lag_bytes as i64)),
                    "the live inbox is behind: check the server's logs and /api/v1/admin/inbox-status",
                )
            } else {
                ok("replication_lag", format!("{} behind the server", bytes(lag)))
            });
        }
    }
    for (name, active, retained, _, _) in rows.iter().filter(|r| r.0 != ours && !r.1) {
        let retained = retained.unwrap_or(0);
        out.push(warn(
            "stale_slot",
            format!("inactive slot {name:?} retains {} of WAL", bytes(retained)),
            format!("if nothing uses it: SELECT pg_drop_replication_slot('{name}'); (active={active})"),
        ));
    }
}

fn bytes(n: i64) -> String {
    let n = n.max(0) as f64;
    if n >= 1024.0 * 1024.0 * 1024.0 {
        format!("{:.1} GiB", n / (1024.0 * 1024.0 * 1024.0))
    } else if n >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", n / (1024.0 * 1024.0))
    } else if n >= 1024.0 {
        format!("{:.1} KiB", n / 1024.0)
    } else {
        format!("{n} B")
    }
}

/// Free space of the filesystem holding `path`: (free bytes, total bytes).
// statvfs field widths differ between platforms: the casts are not redundant everywhere.
#[allow(clippy::unnecessary_cast)]
fn free_space(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `c` is a NUL-terminated path and `st` is a properly sized out-parameter.
    let rc = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: statvfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    let frsize = st.f_frsize as u64;
    Ok((st.f_bavail as u64 * frsize, st.f_blocks as u64 * frsize))
}

async fn disk(pool: &PgPool, opts: &DoctorOptions, out: &mut Vec<Check>) {
    let Some(dir) = setting(pool, "data_directory").await else {
        out.push(warn(
            "disk",
            "cannot read data_directory (needs a superuser or pg_read_all_settings)",
            "check the data directory's free space on the database host",
        ));
        return;
    };
    match free_space(Path::new(&dir)) {
        Err(e) => out.push(warn(
            "disk",
            format!("data directory {dir} is not readable from here ({e}): is the database on another host?"),
            "check its free space on the database host (df -h)",
        )),
        Ok((free, total)) => {
            let pct = if total == 0 { 0.0 } else { free as f64 * 100.0 / total as f64 };
            let detail = format!("{dir}: {} free of {} ({pct:.1}%)", bytes(free as i64), bytes(total as i64));
            // Below both limits: a large disk with a low percentage free can still hold days of WAL.
            let gib = free as f64 / (1024.0 * 1024.0 * 1024.0);
            out.push(if pct < opts.min_free_percent && gib < opts.min_free_gib {
                fail("disk", detail, "free space on that filesystem: PostgreSQL stops when WAL cannot be written")
            } else if pct < opts.min_free_percent * 2.0 && gib < opts.min_free_gib * 4.0 {
                warn("disk", detail, "free space soon; check for slots retaining WAL above")
            } else {
                ok("disk", detail)
            });
        }
    }
}

async fn channels(pool: &PgPool, out: &mut Vec<Check>) {
    let rows: Result<Vec<(String, i64)>, _> = sqlx::query_as(
        "SELECT t.slug, count(c.*) FROM tenants t LEFT JOIN channel_accounts c USING (tenant_id)
         GROUP BY t.slug ORDER BY 1",
    )
    .fetch_all(pool)
    .await;
    match rows {
        Err(e) => out.push(fail("channels", format!("cannot read channel accounts: {e}"), "run: platica migrate")),
        Ok(rows) => {
            let total: i64 = rows.iter().map(|r| r.1).sum();
            let without: Vec<&str> = rows.iter().filter(|r| r.1 == 0).map(|r| r.0.as_str()).collect();
            let detail = format!("{total} channel accounts in {} tenants", rows.len());
            out.push(if without.is_empty() || rows.is_empty() {
                ok("channels", detail)
            } else {
                warn(
                    "channels",
                    format!("{detail}; tenants without a WhatsApp number: {without:?}"),
                    "add one with POST /api/v1/channels (admin)",
                )
            });
        }
    }
}

async fn scheduler(pool: &PgPool, opts: &DoctorOptions, out: &mut Vec<Check>) {
    let active: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE active").fetch_one(pool).await.unwrap_or_default();
    let since = chrono::Utc::now() - opts.failures_since;
    match platica_scheduler::store::recent_failures(pool, since).await {
        Err(e) => out.push(fail("scheduler", format!("cannot read job runs: {e}"), "run: platica migrate")),
        Ok(failures) if failures.is_empty() => {
            out.push(ok("scheduler", format!("{active} active jobs, no failed run in the last 24 h")))
        }
        Ok(failures) => {
            let mut jobs: Vec<String> = failures.iter().map(|(t, j, _, _)| format!("{t}/{j}")).collect();
            jobs.dedup();
            let (t, j, m, at) = &failures[0];
            out.push(warn(
                "scheduler",
                format!(
                    "{} failed runs in the last 24 h ({}); latest {t}/{j} at {at}: {}",
                    failures.len(),
                    jobs.join(", "),
                    m.as_deref().unwrap_or("")
                ),
                "read the history (platica jobs history --tenant T NAME), fix the job (platica jobs alter) and run it \
                 (platica jobs run)",
            ));
        }
    }
}

async fn verify(database_url: &str, follow: Duration) -> Check {
    match crate::verify_once(database_url, follow).await {
        Err(e) => fail("verify", format!("could not run: {e:#}"), "fix the failures above; see platica verify"),
        Ok(r) if r.is_clean() => ok(
            "verify",
            format!("live inbox equals SQL: {} conversations, {} users at LSN {}", r.conversations, r.users, r.lsn),
        ),
        Ok(r) => fail(
            "verify",
            format!(
                "{} differences between the live inbox and SQL, e.g. {}",
                r.difference_count,
                r.differences.first().map_or("", String::as_str)
            ),
            "report it with the output of platica verify; restarting platica serve rebuilds the inbox",
        ),
    }
}

/// The running server's own engine against SQL (`GET /ops/verify`).
async fn verify_server(server: &crate::server_file::ServerFile) -> Check {
    let fix = "see platica verify; restarting platica serve rebuilds the inbox";
    match server.verify(Duration::from_secs(120)).await {
        Err(e) => fail("verify", format!("the running server (pid {}) could not verify: {e:#}", server.pid), fix),
        Ok(r) if r["clean"] == true => ok(
            "verify",
            format!(
                "the running server's live inbox equals SQL: {} conversations, {} users at LSN {}",
                r["conversations"],
                r["users"],
                r["lsn"].as_str().unwrap_or("?")
            ),
        ),
        Ok(r) => fail(
            "verify",
            format!(
                "{} differences between the running server's live inbox and SQL, e.g. {}",
                r["difference_count"],
                r["differences"][0].as_str().unwrap_or("")
            ),
            fix,
        ),
    }
}

/// Prints the checks; returns whether none failed.
pub fn print(checks: &[Check]) -> bool {
    for c in checks {
        let tag = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "WARN",
            Level::Fail => "FAIL",
        };
        println!("[{tag}] {:<17} {}", c.name, c.detail);
        if let Some(fix) = &c.fix {
            println!("       {:<17} fix: {fix}", "");
        }
    }
    let failed = checks.iter().filter(|c| c.level == Level::Fail).count();
    let warned = checks.iter().filter(|c| c.level == Level::Warn).count();
    println!("{} checks: {failed} failed, {warned} warnings", checks.len());
    failed == 0
}

/// The URL of a private cluster that is already running under `root` (a server owns it), read
/// from its `postmaster.pid` and password file.
pub fn running_private_url(root: &Path) -> Option<String> {
    platica_store::pg::cluster::RunningCluster::find(root).map(|c| c.url(crate::PRIVATE_DATABASE))
}

/// The database to examine: the URL, or the private cluster under the data directory — the
/// running one if a server owns it, else started for the examination (returned, to be stopped).
/// Call from the main thread (see [`crate::Database::open`]).
pub fn locate(
    source: &crate::DatabaseSource,
) -> anyhow::Result<(String, Option<platica_store::pg::cluster::PrivateCluster>)> {
    use anyhow::Context;
    match source {
        crate::DatabaseSource::Url(url) => Ok((url.clone(), None)),
        crate::DatabaseSource::Private(root) => {
            if let Some(url) = running_private_url(root) {
                return Ok((url, None));
            }
            let opts = platica_store::pg::cluster::ClusterOptions::new(root.clone(), true);
            let cluster = platica_store::pg::cluster::PrivateCluster::start(&opts)
                .context("cannot start the private PostgreSQL cluster")?;
            Ok((cluster.url(crate::PRIVATE_DATABASE), Some(cluster)))
        }
    }
}
