//! The publication the live inbox and the realtime hub read (`platica`), as the code expects it:
//! the one list that `platica doctor` checks the database against. A migration that adds a table
//! to the publication adds it here too (the doctor test fails otherwise).

use sqlx::PgPool;

use crate::error::StoreResult;

/// The publication's name.
pub const NAME: &str = "platica";

/// Every published table, with its column list when only some columns are published (`users`
/// without password hashes, `tenants` with its id only).
pub const TABLES: &[(&str, Option<&[&str]>)] = &[
    ("bot_pause", None),
    ("calls", None),
    ("campaigns", None),
    ("conversations", None),
    ("coordinator_teams", None),
    ("messages", None),
    ("notifications", None),
    ("prospects", None),
    ("scheduled_calls", None),
    ("system_config", None),
    ("teams", None),
    ("ticket_comments", None),
    ("tickets", None),
    ("tenants", Some(&["tenant_id"])),
    ("users", Some(&["tenant_id", "user_id", "role", "active"])),
];

/// The SQL that makes the publication what the code expects (for a fix message).
pub fn create_sql() -> String {
    let tables: Vec<String> = TABLES
        .iter()
        .map(|(t, cols)| match cols {
            Some(c) => format!("{t} ({})", c.join(", ")),
            None => (*t).to_owned(),
        })
        .collect();
    format!("DROP PUBLICATION IF EXISTS {NAME}; CREATE PUBLICATION {NAME} FOR TABLE {};", tables.join(", "))
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
