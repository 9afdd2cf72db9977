//! Connecting to PostgreSQL, checking that it suits Platica, and migrating.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};

/// The migrations compiled into the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens a pool of at most `max_connections` to `url`.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<PgPool> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|e: sqlx::Error| StoreError::Config(format!("DATABASE_URL is not a valid PostgreSQL URL: {e}")))?;
    let options = options.log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .map_err(|e| StoreError::Config(format!("cannot connect to PostgreSQL: {e}")))
}

/// Refuses servers without `wal_level=logical`: the live inbox reads the replication stream.
pub async fn check_server(pool: &PgPool) -> StoreResult<()> {
    let wal_level: String = sqlx::query_scalar("SELECT current_setting('wal_level')").fetch_one(pool).await?;
    if wal_level != "logical" {
        return Err(StoreError::Config(format!(
            "PostgreSQL has wal_level={wal_level}, Platica needs wal_level=logical: set it in \
             postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart the server"
        )));
    }
    Ok(())
}

/// Applies every pending migration.
pub async fn migrate(pool: &PgPool) -> StoreResult<()> {
    MIGRATOR.run(pool).await.map_err(|e| StoreError::Config(format!("migration failed: {e}")))
}

/// Creates `database` on the server of `admin_url` (a URL to any existing database) unless it
/// exists, optionally as a copy of `template`.
pub async fn create_database(admin_url: &str, database: &str, template: Option<&str>) -> StoreResult<()> {
    let mut conn = PgConnection::connect(admin_url).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(database)
        .fetch_one(&mut conn)
        .await?;
    if !exists {
        let sql = match template {
            Some(t) => format!("CREATE DATABASE {} TEMPLATE {}", quote_ident(database), quote_ident(t)),
            None => format!("CREATE DATABASE {}", quote_ident(database)),
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await?;
    }
    conn.close().await?;
    Ok(())
}

/// Quotes an SQL identifier.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
