//! The publication the live inbox and the realtime hub read (`platica`), as the code expects it:
//! the one list that `platica doctor` checks the database against. A migration that adds a table
//! to the publication adds it here too (the doctor test fails otherwise).

use sqlx::PgPool;

use crate::error::StoreResult;

/// The publication's name.
pub const NAME: &str = "platica";

/// Every published table, with its column list when only some columns are published (`users`
/// without password hashes, `tenants` with its id only, `sessions` and `api_tokens` without their
/// token hashes).
pub const TABLES: &[(&str, Option<&[&str]>)] = &[
    ("api_tokens", Some(&["tenant_id", "token_id", "user_id", "expires_at", "revoked_at"])),
    ("bot_pause", None),
    ("calls", None),
    ("campaigns", None),
    ("channel_health", None),
    ("conversation_labels", None),
    ("conversations", None),
    ("coordinator_teams", None),
    ("messages", None),
    ("notifications", None),
    ("prospects", None),
    ("scheduled_calls", None),
    ("sessions", Some(&["tenant_id", "session_id", "user_id", "expires_at", "revoked_at"])),
    ("system_config", None),
    ("teams", None),
    ("ticket_comments", None),
    ("tickets", None),
    ("tenants", Some(&["tenant_id"])),
    ("users", Some(&["tenant_id", "user_id", "role", "active"])),
    ("whatsapp_templates", None),
];

/// The table list of the publication, as `FOR TABLE` / `SET TABLE` take it.
fn table_list() -> String {
    let tables: Vec<String> = TABLES
        .iter()
        .map(|(t, cols)| match cols {
            Some(c) => format!("{t} ({})", c.join(", ")),
            None => (*t).to_owned(),
        })
        .collect();
    tables.join(", ")
}

/// The SQL that makes the publication what the code expects (for a fix message).
pub fn create_sql() -> String {
    format!("DROP PUBLICATION IF EXISTS {NAME}; CREATE PUBLICATION {NAME} FOR TABLE {};", table_list())
}

/// Makes the publication what the code expects again (created, or its tables set), in one
/// transaction, if [`check`] finds it differs; returns what differed. The live inbox calls it
/// when the stream starts and while it runs: someone altering or dropping the publication would
/// otherwise leave it silently deaf to the tables taken away.
pub async fn repair(pool: &PgPool) -> StoreResult<Differences> {
    let d = check(pool).await?;
    if d.is_clean() {
        return Ok(d);
    }
    let mut tx = pool.begin().await?;
    // Two servers repairing at once: the second waits, then finds nothing left to do.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('platica.publication'))").execute(&mut *tx).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
        .bind(NAME)
        .fetch_one(&mut *tx)
        .await?;
    let sql = if exists {
        format!("ALTER PUBLICATION {NAME} SET TABLE {}", table_list())
    } else {
        format!("CREATE PUBLICATION {NAME} FOR TABLE {}", table_list())
    };
    // Built from the constant table list only.
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(d)
}

/// How the database's publication differs from [`TABLES`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Differences {
    pub exists: bool,
    /// Expected tables not published.
    pub missing: Vec<String>,
    /// Published tables the code does not expect.
    pub unexpected: Vec<String>,
    /// Tables published with other columns than expected: (table, published columns).
    pub wrong_columns: Vec<(String, Vec<String>)>,
}

impl Differences {
    pub fn is_clean(&self) -> bool {
        self.exists && self.missing.is_empty() && self.unexpected.is_empty() && self.wrong_columns.is_empty()
    }
}

/// Compares the database's publication with [`TABLES`].
pub async fn check(pool: &PgPool) -> StoreResult<Differences> {
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
        .bind(NAME)
        .fetch_one(pool)
        .await?;
    if !exists {
        return Ok(Differences {
            exists: false,
            missing: TABLES.iter().map(|(t, _)| (*t).to_owned()).collect(),
            ..Default::default()
        });
    }
    let published: Vec<(String, Vec<String>)> = sqlx::query_as(
        "SELECT tablename::text, attnames::text[] FROM pg_publication_tables
         WHERE pubname = $1 AND schemaname = current_schema() ORDER BY 1",
    )
    .bind(NAME)
    .fetch_all(pool)
    .await?;
    let mut d = Differences { exists: true, ..Default::default() };
    for (table, cols) in TABLES {
        match published.iter().find(|(t, _)| t == table) {
            None => d.missing.push((*table).to_owned()),
            Some((_, got)) => {
                if let Some(cols) = cols {
                    let mut want: Vec<&str> = cols.to_vec();
                    let mut have: Vec<&str> = got.iter().map(String::as_str).collect();
                    want.sort_unstable();
                    have.sort_unstable();
                    if want != have {
                        d.wrong_columns.push(((*table).to_owned(), got.clone()));
                    }
                }
            }
        }
    }
    for (t, _) in &published {
        if !TABLES.iter().any(|(e, _)| e == t) {
            d.unexpected.push(t.clone());
        }
    }
    Ok(d)
}
