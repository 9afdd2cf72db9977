//! Teams ("coordinations"). Every user of the tenant may list them; only admins change them.

use chrono::{DateTime, Utc};
use platica_domain::{TeamId, TenantId};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{StoreError, StoreResult};

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Team {
    pub team_id: i64,
    pub name: String,
    /// Prospects currently in the team.
    pub prospect_count: i64,
    /// Users who coordinate the team.
    pub coordinator_ids: Vec<i64>,
    pub created_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT t.team_id, t.name, t.created_at,
        (SELECT count(*) FROM prospects p WHERE p.tenant_id = t.tenant_id AND p.team_id = t.team_id) AS prospect_count,
        ARRAY(SELECT ct.user_id FROM coordinator_teams ct
              WHERE ct.tenant_id = t.tenant_id AND ct.team_id = t.team_id ORDER BY 1) AS coordinator_ids
    FROM teams t";

pub async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<Team>> {
    let sql = format!("{SELECT} WHERE t.tenant_id = $1 ORDER BY t.name, t.team_id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_all(pool).await?)
}

pub async fn get(pool: &PgPool, tenant: TenantId, team: TeamId) -> StoreResult<Team> {
    let sql = format!("{SELECT} WHERE t.tenant_id = $1 AND t.team_id = $2");
    let row: Option<Team> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(team.0).fetch_optional(pool).await?;
    row.ok_or_else(|| StoreError::not_found("team"))
}

pub async fn create(pool: &PgPool, tenant: TenantId, name: &str) -> StoreResult<Team> {
    let id: i64 = sqlx::query_scalar("INSERT INTO teams (tenant_id, name) VALUES ($1, $2) RETURNING team_id")
        .bind(tenant.0)
        .bind(name)
        .fetch_one(pool)
        .await?;
    get(pool, tenant, TeamId(id)).await
}

pub async fn rename(pool: &PgPool, tenant: TenantId, team: TeamId, name: &str) -> StoreResult<Team> {
    let done = sqlx::query("UPDATE teams SET name = $3 WHERE tenant_id = $1 AND team_id = $2")
        .bind(tenant.0)
        .bind(team.0)
        .bind(name)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("team"));
    }
    get(pool, tenant, team).await
}

/// Deletes an empty team. A team that still has prospects is a conflict.
pub async fn delete(pool: &PgPool, tenant: TenantId, team: TeamId) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM teams WHERE tenant_id = $1 AND team_id = $2")
        .bind(tenant.0)
        .bind(team.0)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("team"));
    }
    Ok(())
}

/// Fails with a not-found naming `field` unless every team exists in the tenant.
pub async fn ensure_exist(
    conn: &mut sqlx::PgConnection,
    tenant: TenantId,
    teams: &[TeamId],
    field: &'static str,
) -> StoreResult<()> {
    let ids: Vec<i64> = teams.iter().map(|t| t.0).collect();
    let found: i64 = sqlx::query_scalar("SELECT count(*) FROM teams WHERE tenant_id = $1 AND team_id = ANY($2)")
        .bind(tenant.0)
        .bind(&ids)
        .fetch_one(conn)
        .await?;
    let distinct = ids.iter().collect::<std::collections::BTreeSet<_>>().len() as i64;
    if found != distinct {
        return Err(StoreError::missing_ref("team", field));
    }
    Ok(())
}
