//! Platica's configuration: one TOML file (`--config PATH` or `PLATICA_CONFIG`), environment
//! variables over it, command-line flags over both, defaults under all. Every key is documented in
//! docs/configuration.md (a test checks that each key in [`KEYS`] appears there).
//!
//! Everything is validated at start, and *every* bad value is reported, each naming its key,
//! where it came from and what is expected — not just the first.
//!
//! **Adding a section** (as `[whatsapp]` was): add its keys to [`KEYS`], a struct for it, a field
//! in [`Config`], and a block in `Config::build` reading each key with the `Loader` helpers
//! (`string`, `number`, `boolean`, `address`, ...); document the keys in docs/configuration.md.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One configuration key: `section.name`, the environment variable that overrides it, and a
/// line of documentation.
pub struct KeyDef {
    pub key: &'static str,
    pub env: &'static str,
    pub doc: &'static str,
}

/// Every key. The first four keep the environment variables Platica has always read.
pub const KEYS: &[KeyDef] = &[
    KeyDef { key: "server.listen", env: "PLATICA_LISTEN", doc: "address the API listens on" },
    KeyDef {
        key: "server.secure_cookies",
        env: "PLATICA_SERVER_SECURE_COOKIES",
        doc: "always mark session cookies Secure (else when a trusted proxy says HTTPS)",
    },
    KeyDef {
        key: "server.trusted_proxies",
        env: "PLATICA_SERVER_TRUSTED_PROXIES",
        doc: "comma-separated addresses/CIDR blocks whose X-Forwarded-For/-Proto are believed",
    },
    KeyDef {
        key: "server.allowed_origins",
        env: "PLATICA_SERVER_ALLOWED_ORIGINS",
        doc: "comma-separated browser origins besides the server's own that may use its session",
    },
    KeyDef {
        key: "server.max_connections",
        env: "PLATICA_SERVER_MAX_CONNECTIONS",
        doc: "open HTTP connections at most, from everyone",
    },
    KeyDef {
        key: "server.max_connections_per_address",
        env: "PLATICA_SERVER_MAX_CONNECTIONS_PER_ADDRESS",
        doc: "open HTTP connections at most from one client address",
    },
    KeyDef {
        key: "server.header_read_timeout_seconds",
        env: "PLATICA_SERVER_HEADER_READ_TIMEOUT_SECONDS",
        doc: "a connection must send a request's headers within this",
    },
    KeyDef {
        key: "server.public_url",
        env: "PLATICA_SERVER_PUBLIC_URL",
        doc: "the https:// address the Internet reaches this server at (the webhook URL for Meta's console)",
    },
    KeyDef {
        key: "server.metrics_token",
        env: "PLATICA_SERVER_METRICS_TOKEN",
        doc: "when set, /metrics requires Authorization: Bearer <token>",
    },
    KeyDef { key: "database.url", env: "DATABASE_URL", doc: "PostgreSQL server to use" },
    KeyDef { key: "database.data_dir", env: "PLATICA_DATA_DIR", doc: "private cluster and secret key" },
    KeyDef { key: "database.max_connections", env: "PLATICA_DATABASE_MAX_CONNECTIONS", doc: "connection pool size" },
    KeyDef {
        key: "database.replication_slot",
        env: "PLATICA_DATABASE_REPLICATION_SLOT",
        doc: "this server's replication slot",
    },
    KeyDef { key: "log.format", env: "PLATICA_LOG_FORMAT", doc: "plain or json" },
    KeyDef { key: "log.filter", env: "PLATICA_LOG_FILTER", doc: "tracing filter (RUST_LOG wins)" },
    KeyDef { key: "scheduler.enabled", env: "PLATICA_SCHEDULER_ENABLED", doc: "run scheduled jobs" },
    KeyDef { key: "scheduler.tick_ms", env: "PLATICA_SCHEDULER_TICK_MS", doc: "how often due jobs are looked for" },
    KeyDef {
        key: "scheduler.grace_minutes",
        env: "PLATICA_SCHEDULER_GRACE_MINUTES",
        doc: "how late a missed occurrence may still run",
    },
    KeyDef {
        key: "scheduler.run_timeout_seconds",
        env: "PLATICA_SCHEDULER_RUN_TIMEOUT_SECONDS",
        doc: "a run taking longer fails",
    },
    KeyDef { key: "scheduler.instance", env: "PLATICA_SCHEDULER_INSTANCE", doc: "this server's name in run history" },
    KeyDef {
        key: "whatsapp.base_url",
        env: "PLATICA_WHATSAPP_BASE_URL",
        doc: "Cloud API base URL for numbers without their own",
    },
    KeyDef {
        key: "whatsapp.send_rate_per_sec",
        env: "PLATICA_WHATSAPP_SEND_RATE",
        doc: "messages per second per number unless the number says otherwise",
    },
    KeyDef {
        key: "whatsapp.send_concurrency",
        env: "PLATICA_WHATSAPP_SEND_CONCURRENCY",
        doc: "sends in flight at once per number",
    },
    KeyDef {
        key: "whatsapp.unconfirmed_window_seconds",
        env: "PLATICA_WHATSAPP_UNCONFIRMED_WINDOW",
        doc: "how long a send whose outcome is unknown waits for a status before it may be sent again",
    },
    KeyDef {
        key: "whatsapp.session_concurrency",
        env: "PLATICA_SESSION_CONCURRENCY",
        doc: "channel sessions connecting at once",
    },
    KeyDef {
        key: "whatsapp.session_first_check_seconds",
        env: "PLATICA_SESSION_FIRST_CHECK",
        doc: "first session health check after start",
    },
    KeyDef {
        key: "whatsapp.session_check_every_seconds",
        env: "PLATICA_SESSION_CHECK_EVERY",
        doc: "session health checks after the first",
    },
    KeyDef {
        key: "media.store",
        env: "PLATICA_MEDIA_STORE",
        doc: "where media bytes are kept: a directory or file:// URL (default <data dir>/media)",
    },
    KeyDef {
        key: "media.fetch_concurrency",
        env: "PLATICA_MEDIA_FETCH_CONCURRENCY",
        doc: "inbound media fetched from WhatsApp at once",
    },
    KeyDef {
        key: "media.fetch_attempts",
        env: "PLATICA_MEDIA_FETCH_ATTEMPTS",
        doc: "attempts to fetch an inbound media file before it is shown as unavailable",
    },
];

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// The address the Internet reaches this server at (`server.public_url`), without a trailing
    /// slash: the channel screen shows the webhook URL under it.
    pub public_url: Option<String>,
    pub secure_cookies: bool,
    /// Trusted proxies, allowed origins, the metrics token.
    pub edge: platica_http::edge::Edge,
    /// Connection limits.
    pub limits: platica_http::serve::Limits,
}

#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: Option<String>,
    pub data_dir: PathBuf,
    /// This server's replication slot (`None`: the database's default, `platica_<database>`).
    pub replication_slot: Option<String>,
    pub max_connections: u32,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Clone, Debug)]
pub struct SchedulerSection {
    pub enabled: bool,
    pub tick: Duration,
    pub grace: Duration,
    pub run_timeout: Duration,
    pub instance: String,
}

#[derive(Clone, Debug)]
pub struct WhatsAppSection {
    pub base_url: String,
    pub send_rate_per_sec: u32,
    /// Sends in flight at once per number (`whatsapp.send_concurrency`).
    pub send_concurrency: usize,
    /// How long a send whose outcome is unknown waits for a status before it may be sent again.
    pub unconfirmed_window: Duration,
    pub session_concurrency: usize,
    pub session_first_check: Duration,
    pub session_check_every: Duration,
}

#[derive(Clone, Debug)]
pub struct MediaSection {
    /// A directory or `file://` URL; `None`: `<data dir>/media`.
    pub store: Option<String>,
    pub fetch_concurrency: usize,
    pub fetch_attempts: i32,
}

/// The whole configuration, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub log: LogConfig,
    pub scheduler: SchedulerSection,
    pub whatsapp: WhatsAppSection,
    pub media: MediaSection,
}

pub const DEFAULT_LOG_FILTER: &str = "info,sqlx=warn,pg_walstream=warn,tower_http=info";

/// Values given on the command line (flags, or the environment variables clap reads for them):
/// they win over the file and the other variables.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
}

/// Where a value came from, for error messages.
#[derive(Clone, Debug)]
enum Origin {
    File(PathBuf),
    Env(&'static str),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(p) => write!(f, "in {}", p.display()),
            Origin::Env(v) => write!(f, "from ${v}"),
        }
    }
}

/// A raw value: from TOML, or text from the environment.
#[derive(Clone, Debug)]
enum Raw {
    Toml(toml::Value),
    Text(String),
}

impl Raw {
    fn shown(&self) -> String {
        match self {
            Raw::Toml(toml::Value::String(s)) | Raw::Text(s) => format!("'{s}'"),
            Raw::Toml(v) => v.to_string(),
        }
    }
}

/// The configuration errors found: every one of them.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigErrors(pub Vec<String>);

/// Collects raw values and turns them into typed ones, remembering every error.
pub struct Loader {
    values: BTreeMap<&'static str, (Origin, Raw)>,
    errors: Vec<String>,
}

impl Loader {
    /// Reads the file (if any) and the environment.
    fn new(file: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Loader {
        let mut loader = Loader { values: BTreeMap::new(), errors: Vec::new() };
        if let Some(path) = file {
            loader.read_file(path);
        }
        for k in KEYS {
            if let Some(v) = env(k.env) {
                loader.values.insert(k.key, (Origin::Env(k.env), Raw::Text(v)));
            }
        }
        loader
    }

    fn read_file(&mut self, path: &Path) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.errors.push(format!("cannot read the config file {}: {e}", path.display()));
                return;
            }
        };
        let table: toml::Table = match text.parse() {
            Ok(t) => t,
            Err(e) => {
                self.errors.push(format!("{} is not valid TOML: {e}", path.display()));
                return;
            }
        };
        for (section, body) in table {
            let Some(body) = body.as_table() else {
                self.errors.push(format!("{}: '{section}' must be a [section]", path.display()));
                continue;
            };
            for (name, value) in body {
                let full = format!("{section}.{name}");
                match KEYS.iter().find(|k| k.key == full) {
                    Some(k) => {
                        self.values.insert(k.key, (Origin::File(path.to_owned()), Raw::Toml(value.clone())));
                    }
                    None => self.errors.push(format!(
                        "{full} ({}): unknown key; see docs/configuration.md for the keys",
                        Origin::File(path.to_owned())
                    )),
                }
            }
        }
    }

    fn bad(&mut self, key: &str, origin: &Origin, raw: &Raw, expected: &str) {
        self.errors.push(format!("{key} = {} ({origin}): {expected}", raw.shown()));
    }

    /// The raw value of `key` (which must be in [`KEYS`]).
    fn raw(&self, key: &'static str) -> Option<(Origin, Raw)> {
        debug_assert!(KEYS.iter().any(|k| k.key == key), "{key} is not in KEYS");
        self.values.get(key).cloned()
    }

    fn text(&mut self, key: &'static str) -> Option<(Origin, Raw, String)> {
        let (origin, raw) = self.raw(key)?;
        match &raw {
            Raw::Toml(toml::Value::String(s)) => Some((origin.clone(), raw.clone(), s.clone())),
            Raw::Text(s) => Some((origin.clone(), raw.clone(), s.clone())),
            Raw::Toml(_) => {
                self.bad(key, &origin, &raw, "must be a string");
                None
            }
        }
    }

    /// A string.
    pub fn string(&mut self, key: &'static str) -> Option<String> {
        self.text(key).map(|(_, _, s)| s)
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, key: &'static str, default: bool) -> bool {
        let Some((origin, raw)) = self.raw(key) else { return default };
        let parsed = match &raw {
            Raw::Toml(toml::Value::Boolean(b)) => Some(*b),
            Raw::Text(s) => match s.trim() {
                "true" | "1" | "yes" => Some(true),
                "false" | "0" | "no" => Some(false),
                _ => None,
            },
            Raw::Toml(_) => None,
        };
        parsed.unwrap_or_else(|| {
            self.bad(key, &origin, &raw, "must be true or false");
            default
        })
    }

    /// A whole number in `range`.
    pub fn number(&mut self, key: &'static str, default: u64, range: std::ops::RangeInclusive<u64>) -> u64 {
        let Some((origin, raw)) = self.raw(key) else { return default };
        let parsed = match &raw {
            Raw::Toml(toml::Value::Integer(i)) => u64::try_from(*i).ok(),
            Raw::Text(s) => s.trim().parse::<u64>().ok(),
            Raw::Toml(_) => None,
        };
        match parsed {
            Some(n) if range.contains(&n) => n,
            _ => {
                self.bad(
                    key,
                    &origin,
                    &raw,
                    &format!("must be a whole number from {} to {}", range.start(), range.end()),
                );
                default
            }
        }
    }

    /// A socket address (`host:port`, the host an IP address).
    pub fn address(&mut self, key: &'static str, default: SocketAddr) -> SocketAddr {
        let Some((origin, raw, s)) = self.text(key) else { return default };
        s.trim().parse().unwrap_or_else(|_| {
            self.bad(key, &origin, &raw, "is not an address: use ip:port, e.g. 127.0.0.1:8080 or [::]:8080");
            default
        })
    }

    /// One of `choices`.
    pub fn choice<T: Copy>(&mut self, key: &'static str, default: T, choices: &[(&str, T)]) -> T {
        let Some((origin, raw, s)) = self.text(key) else { return default };
        match choices.iter().find(|(name, _)| *name == s.trim()) {
            Some((_, v)) => *v,
            None => {
                let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
                self.bad(key, &origin, &raw, &format!("must be one of: {}", names.join(", ")));
                default
            }
        }
    }
}

impl Config {
    /// Loads the configuration: `file` (if any), then the process environment, then `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigErrors> {
        Self::load_with(file, overrides, &|name| std::env::var(name).ok())
    }

    /// [`Config::load`] with an explicit environment (for tests).
    pub fn load_with(
        file: Option<&Path>,
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigErrors> {
        let mut l = Loader::new(file, env);
        let config = Self::build(&mut l, overrides);
        if l.errors.is_empty() { Ok(config) } else { Err(ConfigErrors(l.errors)) }
    }

    fn build(l: &mut Loader, o: &Overrides) -> Config {
        let default_listen = SocketAddr::from(([127, 0, 0, 1], 8080));
        let listen = l.address("server.listen", default_listen);
        let list = |l: &mut Loader, key: &'static str| -> Vec<String> {
            l.string(key)
                .map(|v| v.split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default()
        };
        let mut trusted_proxies = Vec::new();
        for p in list(l, "server.trusted_proxies") {
            match platica_http::edge::Cidr::parse(&p) {
                Ok(c) => trusted_proxies.push(c),
                Err(e) => l.errors.push(format!("server.trusted_proxies: {e}")),
            }
        }
        let allowed_origins = list(l, "server.allowed_origins");
        for o in &allowed_origins {
            let ok = (o.starts_with("http://") || o.starts_with("https://")) && !o.contains(char::is_whitespace);
            if !ok {
                l.errors.push(format!("server.allowed_origins: {o:?} is not an origin like https://crm.example.com"));
            }
        }
        let metrics_token = l.string("server.metrics_token").filter(|t| !t.is_empty());
        let public_url = l.string("server.public_url").map(|u| u.trim().trim_end_matches('/').to_owned());
        if let Some(u) = &public_url
            && (!(u.starts_with("http://") || u.starts_with("https://"))
                || u.contains(char::is_whitespace)
                || u.len() > 500)
        {
            l.errors.push(format!("server.public_url: {u:?} is not an address like https://crm.example.com"));
        }
        let server = ServerConfig {
            listen: o.listen.unwrap_or(listen),
            public_url,
            secure_cookies: l.boolean("server.secure_cookies", false),
            edge: platica_http::edge::Edge { trusted_proxies, allowed_origins, metrics_token },
            limits: {
                let d = platica_http::serve::Limits::default();
                platica_http::serve::Limits {
                    max_connections: l.number("server.max_connections", d.max_connections as u64, 16..=1_000_000)
                        as usize,
                    max_per_address: l.number(
                        "server.max_connections_per_address",
                        d.max_per_address as u64,
                        1..=1_000_000,
                    ) as usize,
                    header_read_timeout: Duration::from_secs(l.number(
                        "server.header_read_timeout_seconds",
                        d.header_read_timeout.as_secs(),
                        1..=600,
                    )),
                }
            },
        };

        let url = l.string("database.url").filter(|u| !u.trim().is_empty());
        if let Some(u) = &url
            && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            let origin = l.values.get("database.url").map(|(o, _)| o.to_string()).unwrap_or_default();
            // Never echo the URL: it may hold a password.
            l.errors.push(format!(
                "database.url ({origin}): is not a PostgreSQL URL; use postgres://user:password@host:port/database"
            ));
        }
        let data_dir = l.string("database.data_dir").map(PathBuf::from);
        if data_dir.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
            l.errors.push("database.data_dir: must not be empty".into());
        }
        let replication_slot = l.string("database.replication_slot");
        if let Some(slot) = &replication_slot {
            let ok = !slot.is_empty()
                && slot.len() <= 63
                && slot.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !ok {
                let origin = l.values.get("database.replication_slot").map(|(o, _)| o.to_string()).unwrap_or_default();
                l.errors.push(format!(
                    "database.replication_slot = '{slot}' ({origin}): use 1 to 63 lower-case letters, digits and '_'"
                ));
            }
        }
        let database = DatabaseConfig {
            url: o.database_url.clone().or(url),
            data_dir: o.data_dir.clone().or(data_dir).unwrap_or_else(|| PathBuf::from(".platica")),
            replication_slot,
            max_connections: l.number("database.max_connections", 32, 2..=1000) as u32,
        };

        let format =
            l.choice("log.format", LogFormat::Plain, &[("plain", LogFormat::Plain), ("json", LogFormat::Json)]);
        let filter = l.string("log.filter").unwrap_or_else(|| DEFAULT_LOG_FILTER.to_owned());
        if tracing_subscriber::EnvFilter::try_new(&filter).is_err() {
            l.errors.push(format!("log.filter = '{filter}': is not a tracing filter (e.g. info,sqlx=warn)"));
        }
        let log = LogConfig { format: o.log_format.unwrap_or(format), filter };

        let max_grace = platica_scheduler::runner::MAX_GRACE.as_secs() / 60;
        let scheduler = SchedulerSection {
            enabled: l.boolean("scheduler.enabled", true),
            tick: Duration::from_millis(l.number("scheduler.tick_ms", 1000, 100..=60_000)),
            grace: Duration::from_secs(60 * l.number("scheduler.grace_minutes", 60, 0..=max_grace)),
            run_timeout: Duration::from_secs(l.number("scheduler.run_timeout_seconds", 600, 1..=86_400)),
            instance: l
                .string("scheduler.instance")
                .filter(|s| !s.trim().is_empty())
                .unwrap_or_else(platica_scheduler::runner::default_instance),
        };
        let base_url = l
            .string("whatsapp.base_url")
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .unwrap_or_else(|| platica_whatsapp::cloud::DEFAULT_BASE_URL.to_owned());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://"))
            || base_url.contains(char::is_whitespace)
        {
            let origin = l.values.get("whatsapp.base_url").map(|(o, _)| o.to_string()).unwrap_or_default();
            l.errors.push(format!("whatsapp.base_url = '{base_url}' ({origin}): must be an http:// or https:// URL"));
        }
        let whatsapp = WhatsAppSection {
            base_url,
            send_rate_per_sec: l.number("whatsapp.send_rate_per_sec", 80, 1..=1000) as u32,
            send_concurrency: l.number("whatsapp.send_concurrency", 32, 1..=1000) as usize,
            unconfirmed_window: Duration::from_secs(l.number("whatsapp.unconfirmed_window_seconds", 600, 1..=86_400)),
            session_concurrency: l.number("whatsapp.session_concurrency", 5, 1..=100) as usize,
            session_first_check: Duration::from_secs(l.number("whatsapp.session_first_check_seconds", 30, 1..=86_400)),
            session_check_every: Duration::from_secs(l.number("whatsapp.session_check_every_seconds", 120, 1..=86_400)),
        };
        let store = l.string("media.store").map(|s| s.trim().to_owned());
        if let Some(s) = &store
            && (s.is_empty() || (s.contains("://") && !s.starts_with("file://")))
        {
            let origin = l.values.get("media.store").map(|(o, _)| o.to_string()).unwrap_or_default();
            l.errors.push(format!(
                "media.store = '{s}' ({origin}): must be a directory or a file:// URL (this build keeps media on local disk)"
            ));
        }
        let media = MediaSection {
            store,
            fetch_concurrency: l.number("media.fetch_concurrency", 4, 1..=64) as usize,
            fetch_attempts: l.number("media.fetch_attempts", 6, 1..=50) as i32,
        };
        Config { server, database, log, scheduler, whatsapp, media }
    }

    /// Where media bytes are kept: `media.store`, else `<data dir>/media`.
    pub fn media_location(&self, data_dir: &Path) -> String {
        match &self.media.store {
            Some(s) => s.clone(),
            None => data_dir.join("media").to_string_lossy().into_owned(),
        }
    }

    /// The media fetcher's settings.
    pub fn fetcher_config(&self) -> platica_whatsapp::media::FetcherConfig {
        platica_whatsapp::media::FetcherConfig {
            default_base_url: self.whatsapp.base_url.clone(),
            concurrency: self.media.fetch_concurrency,
            max_attempts: self.media.fetch_attempts,
            ..Default::default()
        }
    }

    /// The outbox sender's settings.
    pub fn sender_config(&self) -> platica_whatsapp::sender::SenderConfig {
        platica_whatsapp::sender::SenderConfig {
            default_base_url: self.whatsapp.base_url.clone(),
            default_rate_per_sec: self.whatsapp.send_rate_per_sec,
            unconfirmed_window: self.whatsapp.unconfirmed_window,
            concurrency: self.whatsapp.send_concurrency,
            ..Default::default()
        }
    }

    /// The session supervisor's settings.
    pub fn supervisor_config(&self) -> platica_whatsapp::supervisor::SupervisorConfig {
        platica_whatsapp::supervisor::SupervisorConfig {
            connect_concurrency: self.whatsapp.session_concurrency,
            first_check: self.whatsapp.session_first_check,
            check_every: self.whatsapp.session_check_every,
            ..Default::default()
        }
    }

    /// The scheduler's settings.
    pub fn scheduler_config(&self) -> platica_scheduler::SchedulerConfig {
        platica_scheduler::SchedulerConfig {
            tick: self.scheduler.tick,
            grace: self.scheduler.grace,
            run_timeout: self.scheduler.run_timeout,
            instance: self.scheduler.instance.clone(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn file(text: &str) -> tempfile_path::TempFile {
        tempfile_path::TempFile::new(text)
    }

    /// A file of our own in the temp dir, removed on drop.
    mod tempfile_path {
        pub struct TempFile(pub std::path::PathBuf);
        impl TempFile {
            pub fn new(text: &str) -> TempFile {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let p = std::env::temp_dir().join(format!("platica-config-{}-{n}.toml", std::process::id()));
                std::fs::write(&p, text).unwrap();
                TempFile(p)
            }
        }
        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_without_file_or_environment() {
        let c = Config::load_with(None, &Overrides::default(), &no_env).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database.data_dir, PathBuf::from(".platica"));
        assert!(c.database.url.is_none());
        assert_eq!(c.log.format, LogFormat::Plain);
        assert!(c.scheduler.enabled);
        assert_eq!(c.scheduler.grace, Duration::from_secs(3600));
        assert_eq!(c.sender_config().unconfirmed_window, Duration::from_secs(600));
    }

    #[test]
    fn the_unconfirmed_window_reaches_the_sender_and_is_checked() {
        let env = |name: &str| (name == "PLATICA_WHATSAPP_UNCONFIRMED_WINDOW").then(|| "90".to_owned());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.sender_config().unconfirmed_window, Duration::from_secs(90));
        let f = file("[whatsapp]\nunconfirmed_window_seconds = 0\n");
        let e = Config::load_with(Some(&f.0), &Overrides::default(), &no_env).unwrap_err().to_string();
        assert!(e.contains("whatsapp.unconfirmed_window_seconds = 0"), "{e}");
    }

    #[test]
    fn the_public_url_is_trimmed_and_checked() {
        let c = Config::load_with(None, &Overrides::default(), &no_env).unwrap();
        assert_eq!(c.server.public_url, None);
        let env = |name: &str| (name == "PLATICA_SERVER_PUBLIC_URL").then(|| " https://crm.example.com/ ".to_owned());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.server.public_url.as_deref(), Some("https://crm.example.com"));
        let f = file("[server]\npublic_url = \"crm.example.com\"\n");
        let e = Config::load_with(Some(&f.0), &Overrides::default(), &no_env).unwrap_err().to_string();
        assert!(e.contains("server.public_url"), "{e}");
    }

    #[test]
    fn file_then_environment_then_flags() {
        let f = file(
            "[server]\nlisten = \"0.0.0.0:9000\"\n[log]\nformat = \"json\"\n[scheduler]\ngrace_minutes = 15\ntick_ms = 500\n",
        );
        let c = Config::load_with(Some(&f.0), &Overrides::default(), &no_env).unwrap();
        assert_eq!(c.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.scheduler.grace, Duration::from_secs(900));
        let env = |name: &str| match name {
            "PLATICA_SCHEDULER_GRACE_MINUTES" => Some("5".to_owned()),
            "PLATICA_LISTEN" => Some("127.0.0.1:9100".to_owned()),
            _ => None,
        };
        let c = Config::load_with(Some(&f.0), &Overrides::default(), &env).unwrap();
        assert_eq!(c.scheduler.grace, Duration::from_secs(300));
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9100");
        let flags = Overrides { listen: Some("127.0.0.1:9200".parse().unwrap()), ..Default::default() };
        let c = Config::load_with(Some(&f.0), &flags, &env).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:9200");
    }

    #[test]
    fn every_bad_value_is_reported_naming_its_key() {
        let f = file(
            "[server]\nlisten = \"1.2.3:80\"\nsecure_cookies = \"maybe\"\n[log]\nformat = \"xml\"\n\
             [scheduler]\ngrace_minutes = 100000\ntick_ms = -5\n[whatever]\nx = 1\n[database]\nmax_conections = 3\n",
        );
        let env = |name: &str| (name == "PLATICA_SCHEDULER_RUN_TIMEOUT_SECONDS").then(|| "soon".to_owned());
        let e = Config::load_with(Some(&f.0), &Overrides::default(), &env).unwrap_err();
        let all = e.to_string();
        for expected in [
            "server.listen = '1.2.3:80'",
            "is not an address",
            "server.secure_cookies = 'maybe'",
            "log.format = 'xml'",
            "must be one of: plain, json",
            "scheduler.grace_minutes = 100000",
            "scheduler.tick_ms = -5",
            "whatever.x",
            "database.max_conections",
            "unknown key",
            "scheduler.run_timeout_seconds = 'soon' (from $PLATICA_SCHEDULER_RUN_TIMEOUT_SECONDS)",
        ] {
            assert!(all.contains(expected), "{expected:?} missing from:\n{all}");
        }
        assert_eq!(e.0.len(), 8, "{all}");
    }

    #[test]
    fn replication_slot_from_the_environment_is_checked() {
        let env = |name: &str| (name == "PLATICA_DATABASE_REPLICATION_SLOT").then(|| "server_a".to_owned());
        let c = Config::load_with(None, &Overrides::default(), &env).unwrap();
        assert_eq!(c.database.replication_slot.as_deref(), Some("server_a"));
        let env = |name: &str| (name == "PLATICA_DATABASE_REPLICATION_SLOT").then(|| "Server-A".to_owned());
        let e = Config::load_with(None, &Overrides::default(), &env).unwrap_err().to_string();
        assert!(e.contains("database.replication_slot = 'Server-A'"), "{e}");
    }

    #[test]
    fn a_database_url_is_checked_but_never_echoed() {
        let env = |name: &str| (name == "DATABASE_URL").then(|| "mysql://root:hunter2@db/x".to_owned());
        let e = Config::load_with(None, &Overrides::default(), &env).unwrap_err().to_string();
        assert!(e.contains("database.url") && !e.contains("hunter2"), "{e}");
    }

    #[test]
    fn bad_toml_and_missing_files_are_reported() {
        let f = file("[server\nlisten=");
        let e = Config::load_with(Some(&f.0), &Overrides::default(), &no_env).unwrap_err().to_string();
        assert!(e.contains("is not valid TOML"), "{e}");
        let e = Config::load_with(Some(Path::new("/nonexistent/platica.toml")), &Overrides::default(), &no_env)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cannot read the config file /nonexistent/platica.toml"), "{e}");
    }

    #[test]
    fn every_key_is_documented() {
        let doc = include_str!("../../../docs/configuration.md");
        for k in KEYS {
            let (section, name) = k.key.split_once('.').unwrap();
            assert!(doc.contains(&format!("[{section}]")), "section [{section}] is not in docs/configuration.md");
            assert!(doc.contains(&format!("`{name}`")), "{} is not in docs/configuration.md", k.key);
            assert!(doc.contains(k.env), "{} is not in docs/configuration.md", k.env);
        }
    }
}
