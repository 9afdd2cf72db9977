//! `<data dir>/server.json`: how other `platica` commands find the server running on the same
//! data directory. `serve` and `demo` write it once they listen (mode 0600: it holds the ops
//! token) and remove it on a clean exit; a file whose pid is dead was left by a crash and is
//! ignored (and replaced by the next server).
//!
//! ```json
//! {"pid": 4242, "address": "127.0.0.1:8080", "database": "127.0.0.1:5433/platica", "ops_token": "…"}
//! ```
//!
//! The ops token authorises `GET /ops/verify` (the live engine against SQL): `platica verify`
//! calls it so it checks the running server's own engine.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The file's name inside the data directory.
pub const FILE_NAME: &str = "server.json";

/// A running server, as its `server.json` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFile {
    pub pid: u32,
    pub address: SocketAddr,
    /// The database it serves, as [`database_identity`] writes it (no credentials).
    pub database: String,
    pub ops_token: String,
}

/// `host:port/database` of a PostgreSQL URL (no user, no password): enough to tell whether a
/// command and a server use the same database.
pub fn database_identity(url: &str) -> String {
    match url.parse::<sqlx::postgres::PgConnectOptions>() {
        Ok(o) => format!("{}:{}/{}", o.get_host(), o.get_port(), o.get_database().unwrap_or("")),
        Err(_) => String::new(),
    }
}

impl ServerFile {
    /// A description of this process serving on `address`, with a fresh random ops token.
    pub fn new(address: SocketAddr, database_url: &str) -> anyhow::Result<ServerFile> {
        Ok(ServerFile {
            pid: std::process::id(),
            address,
            database: database_identity(database_url),
            ops_token: random_token()?,
        })
    }

    /// The server running on `data_dir`, if its file exists and its process is alive (and is a
    /// `platica`: a crashed server's pid may have been given to another program since).
    pub fn read(data_dir: &Path) -> Option<ServerFile> {
        let text = std::fs::read_to_string(data_dir.join(FILE_NAME)).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let file = ServerFile {
            pid: u32::try_from(json["pid"].as_u64()?).ok()?,
            address: json["address"].as_str()?.parse().ok()?,
            database: json["database"].as_str().unwrap_or_default().to_owned(),
            ops_token: json["ops_token"].as_str()?.to_owned(),
        };
        // Alive, and running this program: after a crash the pid may belong to anything else.
        let comm = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok();
        let alive = file.pid != std::process::id()
            && comm(&file.pid.to_string()).is_some_and(|theirs| Some(theirs) == comm("self"));
        alive.then_some(file)
    }

    /// Writes the file (mode 0600); the returned guard removes it when dropped.
    pub fn write(&self, data_dir: &Path) -> anyhow::Result<Written> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = data_dir.join(FILE_NAME);
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        let json = serde_json::json!({
            "pid": self.pid,
            "address": self.address.to_string(),
            "database": self.database,
            "ops_token": self.ops_token,
        });
        f.write_all(json.to_string().as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Written { path })
    }

    /// The address to connect to (a wildcard listen address is reached on loopback).
    fn connect_address(&self) -> SocketAddr {
        let mut addr = self.address;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        addr
    }

    /// `GET /ops/verify` on the server: its own engine against SQL. Returns the JSON report.
    pub async fn verify(&self, timeout: Duration) -> anyhow::Result<serde_json::Value> {
        let addr = self.connect_address();
        let request = async {
            let mut stream =
                tokio::net::TcpStream::connect(addr).await.with_context(|| format!("cannot reach {addr}"))?;
            let req = format!(
                "GET /ops/verify HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
                self.ops_token
            );
            stream.write_all(req.as_bytes()).await?;
            let mut raw = Vec::new();
            stream.read_to_end(&mut raw).await?;
            anyhow::Ok(raw)
        };
        let raw = tokio::time::timeout(timeout, request)
            .await
            .map_err(|_| anyhow::anyhow!("the server at {addr} did not answer within {timeout:?}"))??;
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").context("malformed HTTP response")?;
        let status: u16 =
            head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("malformed status line")?;
        let chunked = head.lines().any(|l| {
            let l = l.to_ascii_lowercase();
            l.starts_with("transfer-encoding:") && l.contains("chunked")
        });
        let body = if chunked { dechunk(body) } else { body.to_owned() };
        let json: serde_json::Value = serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body));
        if status != 200 {
            let message = json["error"]["message"].as_str().map_or_else(|| json.to_string(), str::to_owned);
            anyhow::bail!("the server at {addr} answered {status}: {message}");
        }
        Ok(json)
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Removes `server.json` when dropped (a clean exit).
pub struct Written {
    path: PathBuf,
}

impl Drop for Written {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn random_token() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for the ops token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
