//! `platica`: the command line. See `platica --help`.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use platica::{Database, DatabaseSource};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "platica", version, about = "A self-hosted, real-time WhatsApp sales inbox")]
struct Cli {
    /// PostgreSQL server to use (needs wal_level=logical). Without it, Platica runs a private
    /// cluster under --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    database_url: Option<String>,
    /// Where the private PostgreSQL cluster lives.
    #[arg(long, env = "PLATICA_DATA_DIR", default_value = ".platica", global = true)]
    data_dir: PathBuf,
    /// Log format.
    #[arg(long, env = "PLATICA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Plain, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Plain,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API.
    Serve {
        /// Address to listen on.
        #[arg(long, env = "PLATICA_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Seed a demo tenant, serve the API and simulate live traffic. Ctrl-C stops everything.
    Demo {
        /// Address to listen on.
        #[arg(long, env = "PLATICA_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Simulated events per second (inbound messages, replies, read receipts, reassignments).
        #[arg(long, default_value_t = 2.0)]
        rate: f64,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Check the live inbox against its recomputation in SQL: load it from the database, follow the
    /// change stream for a while (writes from anyone keep flowing), then compare every inbox row and
    /// every user's counts at one LSN. Prints each difference; exits 1 if there is any. (A running
    /// server checks its own engine at GET /api/v1/admin/verify.)
    Verify {
        /// Seconds to follow the change stream before comparing.
        #[arg(long, default_value_t = 2.0)]
        follow: f64,
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
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,pg_walstream=warn,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Plain => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Loads the key that encrypts channel secrets at rest (`PLATICA_SECRET_KEY`, else
/// `<data dir>/secret.key`, created once) before anything may need it.
fn install_secret_key(data_dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let key = platica_store::secrets::SecretKey::load(data_dir).context("loading the secret key")?;
    platica_store::secrets::install(key).context("installing the secret key")?;
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let data_dir = cli.data_dir.clone();
    let source = match cli.database_url {
        Some(url) => DatabaseSource::Url(url),
        None => DatabaseSource::Private(cli.data_dir),
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
            let mut opts = platica::doctor::DoctorOptions::default();
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
        Command::Verify { follow } => {
            if !(follow.is_finite() && (0.0..=3600.0).contains(&follow)) {
                anyhow::bail!("--follow must be between 0 and 3600 seconds, got {follow}");
            }
            let db = Database::open(&source, 4).await?;
            let outcome = platica::verify_once(&db.url, std::time::Duration::from_secs_f64(follow)).await;
            db.close().await?;
            let report = outcome?;
            println!(
                "verified {} conversations and {} users of {} tenants at LSN {}",
                report.conversations, report.users, report.tenants, report.lsn
            );
            if report.is_clean() {
                println!("clean: the live inbox equals its SQL recomputation");
                Ok(())
            } else {
                for d in &report.differences {
                    println!("difference: {d}");
                }
                anyhow::bail!("{} differences between the live inbox and SQL", report.difference_count)
            }
        }
        Command::Serve { listen } => {
            install_secret_key(&data_dir)?;
            let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            let db = Database::open(&source, 32).await?;
            let stop = platica::CancellationToken::new();
            let (live, follower) = platica::start_live(&db.url, stop.clone()).await?;
            let scheduler = platica::start_scheduler(db.pool.clone(), Default::default(), stop.clone());
            let state = platica_http::AppState::new(db.pool.clone()).with_live(live.clone());
            tracing::info!(address = %listen, "serving");
            let served = platica::serve(listener, state, platica::shutdown_signal()).await;
            // HTTP is drained (no new connections, in-flight requests answered, WebSockets closed
            // with 1001): stop the scheduler (runs in flight finish), then the stream.
            stop.cancel();
            let _ = scheduler.await;
            let _ = follower.await;
            platica::log_stopped(&live);
            db.close().await?;
            served
        }
        Command::Demo { listen, rate } => {
            if !(rate.is_finite() && (0.0..=10_000.0).contains(&rate)) {
                anyhow::bail!("--rate must be between 0 and 10000 events per second, got {rate}");
            }
            install_secret_key(&data_dir)?;
            let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            let db = Database::open(&source, 32).await?;
            let info = platica_demo::seed(&db.pool).await.context("seeding the demo tenant")?;
            let stop = platica::CancellationToken::new();
            let (live, follower) = platica::start_live(&db.url, stop.clone()).await?;
            println!("{}", info.banner(&format!("http://{listen}")));
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let sim = tokio::spawn(platica_demo::simulate(
                db.pool.clone(),
                info.tenant_id,
                platica_demo::SimulatorOptions { events_per_second: rate, seed: 42 },
                stop_rx,
            ));
            let shutdown = async move {
                platica::shutdown_signal().await;
                let _ = stop_tx.send(true);
            };
            let state = platica_http::AppState::new(db.pool.clone()).with_live(live);
            let served = platica::serve(listener, state, shutdown).await;
            stop.cancel();
            let _ = follower.await;
            match sim.await {
                Ok(Err(e)) => tracing::error!(error = %e, "simulator failed"),
                Err(e) => tracing::error!(error = %e, "simulator panicked"),
                Ok(Ok(())) => {}
            }
            db.close().await?;
            served
        }
    }
}
