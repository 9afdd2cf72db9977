//! A private PostgreSQL cluster, started and stopped by Platica itself.
//!
//! Used by `platica serve`/`demo` when no `DATABASE_URL` is given, and by the test harness. The
//! cluster lives under one root directory:
//!
//! ```text
//! <root>/pg           data directory (initdb runs once)
//! <root>/run          unix socket directory
//! <root>/pg-password  the superuser password (mode 0600)
//! <root>/pg.log       the server's log
//! ```
//!
//! The server listens on a free loopback port with `wal_level=logical`. PostgreSQL refuses to run
//! as root, so when we are root the server runs as the `postgres` system user. The child asks the
//! kernel to signal it when the thread that started it dies (`PR_SET_PDEATHSIG`), so a crashed
//! Platica never leaves a server behind: start the cluster from a thread that lives as long as
//! the cluster should (the main thread, or a dedicated one).
//!
//! The cluster's `postmaster.pid` says who runs it (line 1: pid, line 4: port, line 8: status).
//! [`RunningCluster::find`] reads it so other commands use a cluster that a server already runs
//! instead of starting a second one. [`PrivateCluster::start`] adopts a postmaster it finds
//! running (for instance one that `pg_ctl restart` started, which is no child of ours), waits for
//! one that is shutting down, and removes a pid file left by a crash (its pid dead, or reused by
//! another program). [`PrivateCluster::stop`] stops whichever postmaster runs the cluster then,
//! so a `pg_ctl restart` in between does not leave one behind.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;

/// Errors starting or stopping the private cluster. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) were not found on PATH or under \
         /usr/lib/postgresql/*/bin. Install them with `apt-get install postgresql` \
         (Debian/Ubuntu), or set DATABASE_URL to a server with wal_level=logical"
    )]
    BinariesNotFound,
    #[error(
        "running as root, PostgreSQL must run as the `postgres` system user, which does not \
         exist. Install the `postgresql` package (it creates the user), or run as a normal user"
    )]
    NoPostgresUser,
    #[error(
        "the `postgres` user cannot reach {0}: a parent directory is not searchable by other \
         users. Choose a data directory under /var/tmp or /srv (PLATICA_DATA_DIR / --data-dir)"
    )]
    Unreachable(PathBuf),
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
    #[error("I/O error on {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("PostgreSQL did not become ready within {0:?}; its log says:\n{1}")]
    NotReady(Duration, String),
    #[error(
        "a PostgreSQL server (pid {pid}) runs the cluster in {data} but does not accept connections on \
         port {port} after {waited:?}; stop it (pg_ctl stop -D {data}) and try again"
    )]
    Busy { pid: i32, port: u16, data: PathBuf, waited: Duration },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> ClusterError + '_ {
    move |source| ClusterError::Io { path: path.to_owned(), source }
}

/// How the private cluster should behave.
#[derive(Clone, Debug)]
pub struct ClusterOptions {
    /// Root directory (see module docs). Created if missing.
    pub root: PathBuf,
    /// `false` for throwaway test clusters: fsync and full-page writes off, immediate stop.
    pub durable: bool,
    /// Extra server settings (`name=value`), applied after Platica's own (so they win).
    pub settings: Vec<String>,
    /// Listen on this port instead of a free one (e.g. to restart a cluster where clients expect
    /// it).
    pub port: Option<u16>,
}

impl ClusterOptions {
    /// A cluster under `root` with Platica's settings.
    pub fn new(root: impl Into<PathBuf>, durable: bool) -> ClusterOptions {
        ClusterOptions { root: root.into(), durable, settings: Vec::new(), port: None }
    }
}

/// The located PostgreSQL server binaries.
#[derive(Clone, Debug)]
pub struct PgBinaries {
    pub initdb: PathBuf,
    pub postgres: PathBuf,
}

impl PgBinaries {
    /// Looks on PATH first, then in the newest `/usr/lib/postgresql/<major>/bin`.
    pub fn find() -> Result<PgBinaries, ClusterError> {
        let from_dir = |dir: &Path| {
            let initdb = dir.join("initdb");
            let postgres = dir.join("postgres");
            (initdb.is_file() && postgres.is_file()).then_some(PgBinaries { initdb, postgres })
        };
        if let Some(path) = std::env::var_os("PATH") {
            for dir in std::env::split_paths(&path) {
                if let Some(found) = from_dir(&dir) {
                    return Ok(found);
                }
            }
        }
        let mut majors: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
            .collect();
        majors.sort();
        majors.iter().rev().find_map(|(_, dir)| from_dir(dir)).ok_or(ClusterError::BinariesNotFound)
    }
}

/// The user the server runs as: ourselves, or `postgres` when we are root.
#[derive(Clone, Copy, Debug)]
struct RunAs {
    uid: u32,
    gid: u32,
    switch: bool,
}

impl RunAs {
    fn detect() -> Result<RunAs, ClusterError> {
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid != 0 {
            // SAFETY: getegid has no preconditions.
            let egid = unsafe { libc::getegid() };
            return Ok(RunAs { uid: euid, gid: egid, switch: false });
        }
        // SAFETY: the name is a valid NUL-terminated string; the returned pointer is read at once,
        // before any other call that could overwrite the static passwd buffer.
        let pw = unsafe { libc::getpwnam(c"postgres".as_ptr()) };
        if pw.is_null() {
            return Err(ClusterError::NoPostgresUser);
        }
        // SAFETY: pw is non-null and points to a valid passwd record.
        let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
        Ok(RunAs { uid, gid, switch: true })
    }

    fn own(&self, path: &Path) -> Result<(), ClusterError> {
        if self.switch {
            chown(path, Some(self.uid), Some(self.gid)).map_err(io_err(path))?;
        }
        Ok(())
    }

    fn command(&self, program: &Path, death_signal: libc::c_int) -> Command {
        let mut cmd = Command::new(program);
        if self.switch {
            cmd.uid(self.uid).gid(self.gid);
            // (std drops root's supplementary groups itself when switching from root.)
        }
        // SAFETY: prctl is async-signal-safe. It runs after the uid switch (which would clear it).
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, death_signal as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }
}

/// A running private cluster. Stop it with [`PrivateCluster::stop`]; if the owning thread dies
/// first, the kernel stops it (unless it was adopted: see [`PrivateCluster::adopted`]).
#[derive(Debug)]
pub struct PrivateCluster {
    /// Our postmaster; `None` when we adopted one that was already running.
    child: Option<Child>,
    port: u16,
    password: String,
    durable: bool,
    root: PathBuf,
    adopted: Option<i32>,
}

/// What the cluster's `postmaster.pid` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    pub port: Option<u16>,
    /// Line 8: `starting`, `ready`, `stopping`, `standby` (empty while it is being written).
    pub status: String,
}

impl PidFile {
    /// Reads `<data>/postmaster.pid`; `None` when there is none (or it is unreadable).
    pub fn read(data: &Path) -> Option<PidFile> {
        let text = fs::read_to_string(data.join("postmaster.pid")).ok()?;
        let lines: Vec<&str> = text.lines().collect();
        let pid = lines.first()?.trim().parse().ok()?;
        let port = lines.get(3).and_then(|l| l.trim().parse().ok());
        let status = lines.get(7).map(|l| l.trim().to_owned()).unwrap_or_default();
        Some(PidFile { pid, port, status })
    }

    /// Whether the pid is a live PostgreSQL process serving `data` (and not, after a crash, a
    /// different program that was given the same pid).
    pub fn is_alive_for(&self, data: &Path) -> bool {
        postmaster_alive(self.pid, data)
    }
}

/// Whether `pid` is a running `postgres` process whose working directory is `data` (the
/// postmaster changes into its data directory). When the working directory is not readable to
/// us, the process name decides.
fn postmaster_alive(pid: i32, data: &Path) -> bool {
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks that the process exists.
    let exists =
        unsafe { libc::kill(pid, 0) } == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    if !exists {
        return false;
    }
    let proc = PathBuf::from(format!("/proc/{pid}"));
    // A zombie (an exited child not yet reaped) no longer runs anything.
    if let Ok(stat) = fs::read_to_string(proc.join("stat"))
        && stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z'))
    {
        return false;
    }
    match fs::read_to_string(proc.join("comm")) {
        Ok(comm) if comm.trim() != "postgres" => return false,
        Ok(_) => {}
        // No /proc (or it is gone): trust kill.
        Err(_) => return true,
    }
    match (fs::read_link(proc.join("cwd")), fs::canonicalize(data)) {
        (Ok(cwd), Ok(data)) => cwd == data,
        _ => true,
    }
}

/// A private cluster that some process (a running `platica serve`, or `pg_ctl`) already runs:
/// found from its data directory, used without being started or stopped.
#[derive(Clone, Debug)]
pub struct RunningCluster {
    pub pid: i32,
    pub port: u16,
    password: String,
}

impl RunningCluster {
    /// The cluster under `root` if a live postmaster runs it, reports `ready` and accepts TCP
    /// connections on the port its pid file names.
    pub fn find(root: &Path) -> Option<RunningCluster> {
        let data = root.join("pg");
        let pid = PidFile::read(&data)?;
        let port = pid.port?;
        if pid.status != "ready" || !pid.is_alive_for(&data) {
            return None;
        }
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        let password = fs::read_to_string(root.join("pg-password")).ok()?.trim().to_owned();
        Some(RunningCluster { pid: pid.pid, port, password })
    }

    /// A connection URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }
}

/// The superuser name of every private cluster.
pub const SUPERUSER: &str = "platica";

impl PrivateCluster {
    /// Initialises the cluster if needed and starts it on a free loopback port. Blocks until the
    /// server accepts connections (at most 60 s).
    pub fn start(opts: &ClusterOptions) -> Result<PrivateCluster, ClusterError> {
        let bins = PgBinaries::find()?;
        let run_as = RunAs::detect()?;
        let root = absolute(&opts.root)?;
        let data = root.join("pg");
        let run = root.join("run");
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        if run_as.switch {
            check_reachable(&root)?;
        }
        fs::create_dir_all(&run).map_err(io_err(&run))?;
        fs::set_permissions(&run, fs::Permissions::from_mode(0o700)).map_err(io_err(&run))?;
        run_as.own(&run)?;

        let password_file = root.join("pg-password");
        if !data.join("PG_VERSION").is_file() {
            let password = random_password();
            init(&bins, run_as, &data, &run, &password)?;
            write_private(&password_file, &password)?;
        }
        let password = fs::read_to_string(&password_file).map_err(io_err(&password_file))?.trim().to_owned();

        if let Some(pid) = settle_previous(&root, &data)? {
            // A postmaster already runs this cluster (a `pg_ctl restart`, or one a crashed
            // Platica left behind): use it, and stop it when we stop.
            if let Some(running) = RunningCluster::find(&root) {
                tracing::warn!(
                    pid,
                    port = running.port,
                    data = %data.display(),
                    "adopting the PostgreSQL server that already runs the private cluster; it is stopped on exit"
                );
                return Ok(PrivateCluster {
                    child: None,
                    port: running.port,
                    password,
                    durable: opts.durable,
                    root,
                    adopted: Some(pid),
                });
            }
        }

        // A port picked by the kernel can be taken again before postgres binds it: retry.
        let mut last = None;
        for _ in 0..5 {
            let port = match opts.port {
                Some(p) => p,
                None => free_port(&root)?,
            };
            match spawn(&bins, run_as, opts, &root, &data, &run, port) {
                Ok(child) => {
                    let cluster = PrivateCluster {
                        child: Some(child),
                        port,
                        password,
                        durable: opts.durable,
                        root,
                        adopted: None,
                    };
                    return cluster.wait_ready();
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| ClusterError::Command {
            what: "starting postgres".into(),
            detail: "no attempt made".into(),
        }))
    }

    fn wait_ready(mut self) -> Result<PrivateCluster, ClusterError> {
        let limit = Duration::from_secs(60);
        let started = Instant::now();
        let pid_file = self.root.join("pg").join("postmaster.pid");
        loop {
            // Line 8 of postmaster.pid is the postmaster's status; "ready" once it accepts
            // connections (the same signal pg_ctl waits for).
            if let Ok(text) = fs::read_to_string(&pid_file)
                && text.lines().nth(7).is_some_and(|l| l.trim() == "ready")
            {
                return Ok(self);
            }
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(ClusterError::Command {
                    what: format!("postgres (exit {status})"),
                    detail: log_tail(&self.root),
                });
            }
            if started.elapsed() > limit {
                if let Some(child) = self.child.as_mut() {
                    let _ = child.kill();
                }
                return Err(ClusterError::NotReady(limit, log_tail(&self.root)));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The loopback TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}:{}@127.0.0.1:{}/{database}", self.password, self.port)
    }

    /// The pid of the postmaster we adopted instead of starting one, if we did.
    pub fn adopted(&self) -> Option<i32> {
        self.adopted
    }

    /// Stops the server (fast shutdown: sessions are ended, data is flushed) and waits for it:
    /// whichever postmaster runs the cluster now, ours or one that replaced it (`pg_ctl restart`
    /// stops our child and starts a new postmaster that is not our child).
    pub fn stop(mut self) -> Result<(), ClusterError> {
        let signal = if self.durable { libc::SIGINT } else { libc::SIGQUIT };
        let data = self.root.join("pg");
        if let Some(child) = self.child.as_mut() {
            // Reap our child if it already exited (it was restarted from outside).
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            if !exited {
                let pid = child.id() as libc::pid_t;
                // SAFETY: pid is our own child, which we have not reaped yet.
                unsafe { libc::kill(pid, signal) };
                child.wait().map_err(io_err(&self.root))?;
            }
        }
        // Whoever runs the cluster now (a postmaster started by `pg_ctl restart`, or the one we
        // adopted) is stopped too, and waited for.
        if let Some(pid) = PidFile::read(&data)
            && pid.is_alive_for(&data)
        {
            if self.adopted != Some(pid.pid) {
                tracing::warn!(
                    pid = pid.pid,
                    "the private cluster was restarted outside Platica (pg_ctl restart?): stopping that server"
                );
            }
            // SAFETY: kill has no memory-safety preconditions; pid runs our cluster.
            unsafe { libc::kill(pid.pid, signal) };
            wait_gone(pid.pid, &data, Duration::from_secs(120));
        }
        Ok(())
    }
}

/// Waits (at most `limit`) until `pid` no longer runs the cluster in `data`.
fn wait_gone(pid: i32, data: &Path, limit: Duration) -> bool {
    let started = Instant::now();
    while postmaster_alive(pid, data) {
        if started.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The pid of the live process running this same program that started postmaster `pid` (its
/// parent), if any: such a cluster stops with that process.
fn platica_owner(pid: i32) -> Option<i32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name: state, ppid, ...
    let ppid: i32 = stat.rsplit(')').next()?.split_whitespace().nth(1)?.parse().ok()?;
    if ppid <= 1 || ppid == std::process::id() as i32 {
        return None;
    }
    let theirs = fs::read_link(format!("/proc/{ppid}/exe")).ok()?;
    let ours = std::env::current_exe().ok()?;
    (theirs == ours).then_some(ppid)
}

/// Before starting: makes sure no stale `postmaster.pid` is in the way. Returns the pid of a
/// postmaster that already runs the cluster and accepts connections (to adopt). Waits for one
/// that is starting up or shutting down (a crashed Platica's server stops when it notices);
/// removes the pid file when its pid is dead or now belongs to another program.
fn settle_previous(root: &Path, data: &Path) -> Result<Option<i32>, ClusterError> {
    let limit = Duration::from_secs(60);
    let started = Instant::now();
    let mut said_waiting = false;
    loop {
        let Some(pid) = PidFile::read(data) else { return Ok(None) };
        if !pid.is_alive_for(data) {
            let path = data.join("postmaster.pid");
            tracing::warn!(
                pid = pid.pid,
                file = %path.display(),
                "removing a stale postmaster.pid (its server is no longer running: Platica or the machine crashed)"
            );
            match fs::remove_file(&path) {
                Ok(()) => return Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(ClusterError::Io { path, source: e }),
            }
        }
        // A cluster another Platica process started is stopped when that process ends (its
        // PR_SET_PDEATHSIG): adopting it would lose it then. Wait for it instead.
        let owner = platica_owner(pid.pid);
        if pid.status == "ready" && owner.is_none() && RunningCluster::find(root).is_some() {
            return Ok(Some(pid.pid));
        }
        if started.elapsed() > limit {
            return Err(ClusterError::Busy {
                pid: pid.pid,
                port: pid.port.unwrap_or(0),
                data: data.to_owned(),
                waited: limit,
            });
        }
        if !said_waiting {
            match owner {
                Some(owner) => tracing::info!(
                    pid = pid.pid,
                    owner,
                    "another platica process (a command in progress) runs the private cluster: waiting for it to finish"
                ),
                None => tracing::info!(
                    pid = pid.pid,
                    status = %pid.status,
                    "a PostgreSQL server is starting or stopping on the private cluster: waiting for it"
                ),
            }
            said_waiting = true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn absolute(path: &Path) -> Result<PathBuf, ClusterError> {
    std::path::absolute(path).map_err(io_err(path))
}

/// Every ancestor must be searchable by "others" for the `postgres` user to reach the root.
fn check_reachable(root: &Path) -> Result<(), ClusterError> {
    for dir in root.ancestors().skip(1) {
        let meta = fs::metadata(dir).map_err(io_err(dir))?;
        if meta.permissions().mode() & 0o001 == 0 {
            return Err(ClusterError::Unreachable(root.to_owned()));
        }
    }
    Ok(())
}

fn random_password() -> String {
    let mut rng = rand::rng();
    (0..32).map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)])).collect()
}

fn write_private(path: &Path, content: &str) -> Result<(), ClusterError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f =
        fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path).map_err(io_err(path))?;
    f.write_all(content.as_bytes()).map_err(io_err(path))
}

fn init(bins: &PgBinaries, run_as: RunAs, data: &Path, run: &Path, password: &str) -> Result<(), ClusterError> {
    // A half-initialised directory from an interrupted initdb would make initdb refuse.
    if data.exists() {
        fs::remove_dir_all(data).map_err(io_err(data))?;
    }
    fs::create_dir_all(data).map_err(io_err(data))?;
    fs::set_permissions(data, fs::Permissions::from_mode(0o700)).map_err(io_err(data))?;
    run_as.own(data)?;
    let pwfile = run.join("initdb-password");
    write_private(&pwfile, password)?;
    run_as.own(&pwfile)?;
    let out = run_as
        .command(&bins.initdb, libc::SIGKILL)
        .arg("-D")
        .arg(data)
        .args(["-U", SUPERUSER, "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C.UTF-8"])
        .arg(format!("--pwfile={}", pwfile.display()))
        .stdin(Stdio::null())
        .output()
        .map_err(io_err(&bins.initdb));
    let _ = fs::remove_file(&pwfile);
    let out = out?;
    if !out.status.success() {
        return Err(ClusterError::Command {
            what: format!("initdb -D {}", data.display()),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(())
}

fn free_port(root: &Path) -> Result<u16, ClusterError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_err(root))?;
    Ok(listener.local_addr().map_err(io_err(root))?.port())
}

fn spawn(
    bins: &PgBinaries,
    run_as: RunAs,
    opts: &ClusterOptions,
    root: &Path,
    data: &Path,
    run: &Path,
    port: u16,
) -> Result<Child, ClusterError> {
    let log_path = root.join("pg.log");
    let log = fs::OpenOptions::new().create(true).append(true).open(&log_path).map_err(io_err(&log_path))?;
    let log2 = log.try_clone().map_err(io_err(&log_path))?;
    let mut settings = vec![
        "listen_addresses=127.0.0.1".to_owned(),
        format!("port={port}"),
        format!("unix_socket_directories={}", run.display()),
        "wal_level=logical".into(),
        "max_replication_slots=32".into(),
        "max_wal_senders=32".into(),
        "max_connections=300".into(),
        "shared_buffers=256MB".into(),
    ];
    if !opts.durable {
        // Not synchronous_commit=off: the walsender only sends flushed WAL, so commits would reach
        // the change stream up to wal_writer_delay (200 ms) late.
        settings.extend(["fsync=off", "full_page_writes=off"].map(String::from));
    }
    settings.extend(opts.settings.iter().cloned());
    let signal = if opts.durable { libc::SIGINT } else { libc::SIGQUIT };
    let mut cmd = run_as.command(&bins.postgres, signal);
    cmd.arg("-D").arg(data);
    for s in &settings {
        cmd.arg("-c").arg(s);
    }
    let mut child = cmd.stdin(Stdio::null()).stdout(log).stderr(log2).spawn().map_err(io_err(&bins.postgres))?;
    // A port clash makes postgres exit at once; anything else is caught by wait_ready.
    std::thread::sleep(Duration::from_millis(50));
    if let Ok(Some(status)) = child.try_wait() {
        return Err(ClusterError::Command { what: format!("postgres (exit {status})"), detail: log_tail(root) });
    }
    Ok(child)
}

fn log_tail(root: &Path) -> String {
    let text = fs::read_to_string(root.join("pg.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
