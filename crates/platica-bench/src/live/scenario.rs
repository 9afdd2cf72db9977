//! What every measurement reads: the three viewers and the two pages of each.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::generate::Dataset;

/// Rows per page (the API's default).
pub const PAGE: i64 = 50;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    Coordinator,
    Executive,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Admin, Role::Coordinator, Role::Executive];

    pub fn label(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Coordinator => "coordinator (BOOM+VEN)",
            Role::Executive => "executive",
        }
    }

    pub fn domain(self) -> platica_domain::Role {
        match self {
            Role::Admin => platica_domain::Role::Admin,
            Role::Coordinator => platica_domain::Role::Coordinator,
            Role::Executive => platica_domain::Role::Executive,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    First,
    Deep,
}

impl Which {
    pub const ALL: [Which; 2] = [Which::First, Which::Deep];

    pub fn label(self) -> &'static str {
        match self {
            Which::First => "first page",
            Which::Deep => "deep page",
        }
    }
}

/// A keyset position: pages continue strictly after `(at, id)` in (last activity desc, id desc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: i64,
}

impl Cursor {
    pub fn micros(&self) -> i64 {
        self.at.timestamp_micros()
    }
}

/// One viewer of the main tenant and where its deep page starts.
#[derive(Clone, Debug)]
pub struct Viewer {
    pub role: Role,
    pub tenant_id: i64,
    pub user_id: i64,
    pub teams: Vec<i64>,
    /// Conversations the viewer sees.
    pub total: i64,
    /// The deep page starts after the row at this 0-based position (the middle of the list).
    pub deep_offset: i64,
    pub deep: Cursor,
}

impl Viewer {
    pub fn cursor(&self, which: Which) -> Option<Cursor> {
        match which {
            Which::First => None,
            Which::Deep => Some(self.deep),
        }
    }

    pub fn domain(&self) -> platica_domain::Viewer {
        platica_domain::Viewer {
            tenant_id: platica_domain::TenantId(self.tenant_id),
            user_id: platica_domain::UserId(self.user_id),
            role: self.role.domain(),
            teams: self.teams.iter().map(|t| platica_domain::TeamId(*t)).collect(),
        }
    }
}

/// The three viewers, with deep cursors read from the trigger-kept inbox table (equal to the
/// reference right after it is built).
pub async fn viewers(conn: &mut PgConnection, ds: &Dataset) -> anyhow::Result<Vec<Viewer>> {
    let main = ds.main();
    let mut out = Vec::new();
    for role in Role::ALL {
        let (user_id, teams, cond) = match role {
            Role::Admin => (main.admin, vec![], "true"),
            Role::Coordinator => (
                main.coordinator,
                vec![main.teams[0], main.teams[1]],
                "team_id IN (SELECT team_id FROM coordinator_teams WHERE tenant_id = $1 AND user_id = $2)",
            ),
            Role::Executive => (main.executives[0], vec![], "executive_id = $2"),
        };
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM bench_inbox_t WHERE tenant_id = $1 AND $2::bigint IS NOT NULL AND {cond}"
        )))
        .bind(main.tenant_id)
        .bind(user_id)
        .fetch_one(&mut *conn)
        .await?;
        let deep_offset = total / 2;
        let (at, id): (DateTime<Utc>, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT last_activity_at, conversation_id FROM bench_inbox_t
             WHERE tenant_id = $1 AND $2::bigint IS NOT NULL AND {cond}
             ORDER BY last_activity_at DESC, conversation_id DESC OFFSET $3 LIMIT 1"
        )))
        .bind(main.tenant_id)
        .bind(user_id)
        .bind(deep_offset)
        .fetch_one(&mut *conn)
        .await?;
        out.push(Viewer {
            role,
            tenant_id: main.tenant_id,
            user_id,
            teams,
            total,
            deep_offset,
            deep: Cursor { at, id },
        });
    }
    Ok(out)
}
