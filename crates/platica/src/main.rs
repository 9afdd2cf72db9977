//! `platica`: the command line. See `platica --help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use platica::config::{Config, LogFormat, Overrides};
use platica::{Database, DatabaseSource};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "platica", version, about = "A self-hosted, real-time WhatsApp sales inbox")]
struct Cli {
    /// Configuration file (TOML; see docs/configuration.md). Flags and environment variables
    /// override it.
    #[arg(long, env = "PLATICA_CONFIG", hide_env_values = true, global = true)]
    config: Option<PathBuf>,
    /// PostgreSQL server to use (needs wal_level=logical). Without it, Platica runs a private
    /// cluster under --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Where the private PostgreSQL cluster lives [default: .platica].
    #[arg(long, env = "PLATICA_DATA_DIR", hide_env_values = true, global = true)]
    data_dir: Option<PathBuf>,
    /// Log format [default: plain].
    #[arg(long, env = "PLATICA_LOG_FORMAT", hide_env_values = true, value_enum, global = true)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API.
    Serve {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "PLATICA_LISTEN", hide_env_values = true)]
        listen: Option<SocketAddr>,
    },
    /// Seed a demo tenant, serve the API and simulate live traffic. Ctrl-C stops everything.
    Demo {
        /// Address to listen on [default: 127.0.0.1:8080].
        #[arg(long, env = "PLATICA_LISTEN", hide_env_values = true)]
        listen: Option<SocketAddr>,
        /// Simulated events per second (inbound messages, replies, read receipts, reassignments).
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the live inbox against its recomputation in SQL, every inbox row and every user's
    /// counts at one LSN. When a server (serve or demo) runs on the data directory, its own engine
    /// is checked (through its server.json); otherwise an engine is loaded from the database,
    /// follows the change stream for --follow seconds, and is checked. Prints each difference;
    /// exits 1 if there is any.
    Verify {
        /// Seconds to follow the change stream before comparing (own engine only).
        #[arg(long, default_value_t = 2.0)]
        follow: f64,
        /// Seconds to wait for the running server's answer.
        #[arg(long, default_value_t = 120.0)]
        timeout: f64,
    },
    /// Publish a new web version: sets `app_version` for every tenant (or one), which every
    /// connected client hears at once on its `system` subscription. With --force, open tabs
    /// reload; without it, they offer to.
    ReleaseWeb {
        /// The new version, e.g. 2.3.0.
        version: String,
        /// Make every open tab reload.
        #[arg(long)]
        force: bool,
        /// Only this tenant (its slug).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Check the deployment (PostgreSQL settings, replication slot and lag, publication,
    /// migrations, disk space, the live inbox against SQL, channels, the scheduler); print each
    /// finding with its fix. Exits 1 if any check fails.
    Doctor {
        /// Skip the comparison of the live inbox with SQL.
        #[arg(long)]
        no_verify: bool,
    },
    /// Scheduled jobs: list, create, alter, run, unschedule, history.
    Jobs {
        #[command(subcommand)]
        command: platica::jobs_cli::JobsCommand,
    },
    /// Tenants: create one (with its first admin), list them.
    Tenant {
        #[command(subcommand)]
        command: platica::tenant_cli::TenantCommand,
    },
}

/// Logs as configured (`RUST_LOG`, when set, wins over `log.filter`). JSON lines carry the
/// fields of their spans: an HTTP request's `request_id`, `tenant_id` and `user_id`.
fn init_logs(log: &platica::config::LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.filter));
    // Colour only for a person at a terminal: never escape codes in a file, a pipe or a journal.
    use std::io::IsTerminal;
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi);
    match log.format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen } | Command::Demo { listen, .. } => *listen,
        _ => None,
    };
    let overrides = Overrides {
        listen,
        database_url: cli.database_url.clone(),
        data_dir: cli.data_dir.clone(),
        log_format: cli.log_format,
    };
    let config = match Config::load(cli.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    init_logs(&config.log);
    match run(cli, config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Loads the key that encrypts channel secrets at rest (`PLATICA_SECRET_KEY`, else
/// `<data dir>/secret.key`, created once) before anything may need it.
fn install_secret_key(data_dir: &std::path::Path) -> anyhow::Result<&'static platica_store::secrets::SecretKey> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let key = platica_store::secrets::SecretKey::load(data_dir).context("loading the secret key")?;
    platica_store::secrets::install(key).context("installing the secret key")
}

/// The media store the configuration names (`<data dir>/media` by default).
fn open_media(config: &Config, data_dir: &std::path::Path) -> anyhow::Result<platica_whatsapp::media::MediaStore> {
    let location = config.media_location(data_dir);
    platica_whatsapp::media::MediaStore::open(&location).with_context(|| format!("opening the media store {location}"))
}

/// What `serve` and `demo` run: the live inbox on the configured slot, realtime, the scheduler
/// (unless disabled), the WhatsApp background work and the bot.
fn server_options(
    config: &Config,
    database_url: &str,
    key: &'static platica_store::secrets::SecretKey,
    media_store: &platica_whatsapp::media::MediaStore,
) -> platica::server::ServerOptions {
    platica::server::ServerOptions {
        secret_key: Some(key),
        slot: config.database.replication_slot.clone(),
        scheduler: config.scheduler.enabled.then(|| config.scheduler_config()),
        whatsapp: Some((config.sender_config(), config.supervisor_config())),
        bot: true,
        public_url: config.server.public_url.clone(),
        media: Some(platica::server::MediaOptions {
            store: media_store.clone(),
            fetcher: Some(config.fetcher_config()),
        }),
        ..platica::server::ServerOptions::new(database_url)
    }
}

/// The HTTP settings of the configuration, and the ops token this server announces in
/// `server.json` (so other commands find it and may ask it to verify itself).
fn configure_http(config: &Config, file: &platica::server_file::ServerFile, state: &mut platica_http::AppState) {
    state.secure_cookies = config.server.secure_cookies;
    state.edge = std::sync::Arc::new(config.server.edge.clone());
    state.limits = config.server.limits;
    state.ops_token = Some(file.ops_token.clone().into());
}

/// The server running on the data directory, if it serves the database this command is about
/// (with `--database-url`, only a server on that same database counts).
fn running_server(source: &DatabaseSource, data_dir: &std::path::Path) -> Option<platica::server_file::ServerFile> {
    let server = platica::server_file::ServerFile::read(data_dir)?;
    match source {
        DatabaseSource::Private(_) => Some(server),
        DatabaseSource::Url(url) => (server.database == platica::server_file::database_identity(url)).then_some(server),
    }
}

async fn run(cli: Cli, config: Config) -> anyhow::Result<()> {
    let data_dir = config.database.data_dir.clone();
    let source = match config.database.url.clone() {
        Some(url) => DatabaseSource::Url(url),
        None => DatabaseSource::Private(data_dir.clone()),
    };
    match cli.command {
        Command::Migrate => {
            let db = Database::open(&source, 2).await?;
            tracing::info!("migrations are up to date");
            db.close().await
        }
        Command::ReleaseWeb { version, force, tenant } => {
            let value = serde_json::json!({"version": version.trim(), "force_update": force});
            platica_store::config::validate_value("app_version", &value).map_err(anyhow::Error::msg)?;
            let db = Database::open(&source, 2).await?;
            let outcome = platica::release_web(&db.pool, &value, tenant.as_deref()).await;
            db.close().await?;
            let n = outcome?;
            println!("app_version is now {value} for {n} tenant(s)");
            Ok(())
        }
        Command::Doctor { no_verify } => {
            let (url, cluster) = platica::doctor::locate(&source)?;
            let mut opts = platica::doctor::DoctorOptions {
                slot: config.database.replication_slot.clone(),
                server: running_server(&source, &data_dir),
                ..Default::default()
            };
            if no_verify {
                opts.verify = None;
            }
            let checks = platica::doctor::examine(&url, &opts).await;
            if let Some(c) = cluster {
                tokio::task::block_in_place(|| c.stop())?;
            }
            if platica::doctor::print(&checks) { Ok(()) } else { anyhow::bail!("platica doctor found failures") }
        }
        Command::Jobs { command } => {
            let db = Database::open(&source, 2).await?;
            let outcome = platica::jobs_cli::run(&db.pool, command).await;
            db.close().await?;
            outcome
        }
        Command::Tenant { command } => {
            let db = Database::open(&source, 2).await?;
            let outcome = platica::tenant_cli::run(&db.pool, command).await;
            db.close().await?;
            outcome
        }
        Command::Verify { follow, timeout } => verify(&source, &data_dir, follow, timeout).await,
        Command::Serve { .. } => serve(&config, &source, &data_dir).await,
        Command::Demo { rate, .. } => demo(&config, &source, &data_dir, rate).await,
    }
}

/// `platica verify`: the running server's own engine when one runs on the data directory, else an
/// engine of our own loaded from the database, compared with SQL.
async fn verify(source: &DatabaseSource, data_dir: &std::path::Path, follow: f64, timeout: f64) -> anyhow::Result<()> {
    if !(follow.is_finite() && (0.0..=3600.0).contains(&follow)) {
        anyhow::bail!("--follow must be between 0 and 3600 seconds, got {follow}");
    }
    if !(timeout.is_finite() && (1.0..=86_400.0).contains(&timeout)) {
        anyhow::bail!("--timeout must be between 1 and 86400 seconds, got {timeout}");
    }
    let report = if let Some(server) = running_server(source, data_dir) {
        println!("checking the running server's own engine (pid {} at {})", server.pid, server.address);
        server.verify(std::time::Duration::from_secs_f64(timeout)).await?
    } else {
        println!(
            "no Platica server runs on {}: checking an engine of our own, loaded from the database",
            data_dir.display()
        );
        let db = Database::open(source, 4).await?;
        let outcome = platica::verify_once(&db.url, std::time::Duration::from_secs_f64(follow)).await;
        db.close().await?;
        let mut report = serde_json::to_value(outcome?)?;
        let clean = report["difference_count"].as_u64() == Some(0);
        report["clean"] = clean.into();
        report
    };
    println!(
        "verified {} conversations and {} users of {} tenants at LSN {}",
        report["conversations"],
        report["users"],
        report["tenants"],
        report["lsn"].as_str().unwrap_or("?")
    );
    if report["clean"] == true {
        println!("clean: the live inbox equals its SQL recomputation");
        Ok(())
    } else {
        for d in report["differences"].as_array().into_iter().flatten() {
            println!("difference: {}", d.as_str().unwrap_or_default());
        }
        anyhow::bail!("{} differences between the live inbox and SQL", report["difference_count"])
    }
}

/// `platica serve`: the server until SIGTERM or Ctrl-C.
async fn serve(config: &Config, source: &DatabaseSource, data_dir: &std::path::Path) -> anyhow::Result<()> {
    let (listen, pool_size) = (config.server.listen, config.database.max_connections);
    let key = install_secret_key(data_dir)?;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let db = Database::open_for_server(source, data_dir, pool_size).await?;
    let file = platica::server_file::ServerFile::new(listener.local_addr()?, &db.url)?;
    let server = platica::server::Server::start(
        db.pool.clone(),
        listener,
        server_options(config, &db.url, key, &open_media(config, data_dir)?),
        |state| configure_http(config, &file, state),
        platica::shutdown_signal(),
    )
    .await?;
    let announced = file.write(data_dir)?;
    tracing::info!(address = %listen, "serving");
    let served = server.stopped().await;
    drop(announced);
    db.close().await?;
    served
}

/// `platica demo`: the demo tenant, its simulated traffic and the server until SIGTERM or Ctrl-C.
async fn demo(config: &Config, source: &DatabaseSource, data_dir: &std::path::Path, rate: f64) -> anyhow::Result<()> {
    let (listen, pool_size) = (config.server.listen, config.database.max_connections);
    if !(rate.is_finite() && (0.0..=10_000.0).contains(&rate)) {
        anyhow::bail!("--rate must be between 0 and 10000 events per second, got {rate}");
    }
    let key = install_secret_key(data_dir)?;
    let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let db = Database::open_for_server(source, data_dir, pool_size).await?;
    let info = platica_demo::seed(&db.pool).await.context("seeding the demo tenant")?;
    platica_scheduler::store::install_recommended(&db.pool, info.tenant_id, "America/Mexico_City")
        .await
        .context("creating the demo tenant's jobs")?;
    let file = platica::server_file::ServerFile::new(listener.local_addr()?, &db.url)?;
    // The simulated traffic stops with the server's shutdown signal, before HTTP drains.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let signalled = platica::shutdown_signal();
    let shutdown = async move {
        signalled.await;
        let _ = stop_tx.send(true);
    };
    let server = platica::server::Server::start(
        db.pool.clone(),
        listener,
        server_options(config, &db.url, key, &open_media(config, data_dir)?),
        |state| configure_http(config, &file, state),
        shutdown,
    )
    .await?;
    let announced = file.write(data_dir)?;
    // --rate 0: no simulated traffic at all (neither events nor prospects writing in).
    let wa_sim =
        platica::channels::start_demo_simulator(&db.pool, key, info.tenant_id, &format!("http://{listen}"), rate > 0.0)
            .await?;
    println!("{}", info.banner(&format!("http://{listen}")));
    let route = platica_demo::WhatsAppRoute {
        simulator_url: wa_sim.url(),
        phone_number_id: platica_demo::whatsapp::PHONE_NUMBER_ID.to_owned(),
    };
    let sim = tokio::spawn(platica_demo::simulate(
        db.pool.clone(),
        info.tenant_id,
        platica_demo::SimulatorOptions { events_per_second: rate, seed: 42, whatsapp: Some(route) },
        stop_rx,
    ));
    let served = server.stopped().await;
    drop(announced);
    wa_sim.shutdown().await;
    match sim.await {
        Ok(Err(e)) => tracing::error!(error = %e, "simulator failed"),
        Err(e) => tracing::error!(error = %e, "simulator panicked"),
        Ok(Ok(())) => {}
    }
    db.close().await?;
    served
}
