//! Users of a tenant. Everyone may list the directory (to pick an executive); only admins
//! change it.

use chrono::{DateTime, Utc};
use platica_domain::policy;
use platica_domain::{Role, TeamId, TenantId, UserId};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};
use crate::org::{password, teams};

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = Role)]
    pub role: String,
    /// Available for new assignments. Never affects what the user sees.
    pub operational: bool,
    /// A deactivated user cannot log in; their tokens stop working.
    pub active: bool,
    /// Teams the user coordinates (coordinators only).
    pub team_ids: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT u.user_id, u.email, u.display_name, u.role, u.operational, u.active,
        u.created_at, u.updated_at,
        ARRAY(SELECT ct.team_id FROM coordinator_teams ct
              WHERE ct.tenant_id = u.tenant_id AND ct.user_id = u.user_id ORDER BY 1) AS team_ids
    FROM users u";

pub async fn list(pool: &PgPool, tenant: TenantId, role: Option<Role>) -> StoreResult<Vec<User>> {
    let sql = format!(
        "{SELECT} WHERE u.tenant_id = $1 AND ($2::text IS NULL OR u.role = $2) ORDER BY u.display_name, u.user_id"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(role.map(Role::as_str)).fetch_all(pool).await?)
}

pub async fn get(conn: &mut PgConnection, tenant: TenantId, user: UserId) -> StoreResult<User> {
    let sql = format!("{SELECT} WHERE u.tenant_id = $1 AND u.user_id = $2");
    let row: Option<User> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(user.0).fetch_optional(conn).await?;
    row.ok_or_else(|| StoreError::not_found("user"))
}

/// A user to create. Fields are already validated.
pub struct NewUser<'a> {
    pub email: &'a str,
    pub display_name: &'a str,
    pub role: Role,
    pub operational: bool,
    pub password: &'a str,
    pub team_ids: &'a [TeamId],
}

pub async fn create(pool: &PgPool, tenant: TenantId, new: &NewUser<'_>) -> StoreResult<User> {
    if !policy::coordinates_teams(new.role) && !new.team_ids.is_empty() {
        return Err(platica_domain::validate::Invalid::new("team_ids", "only coordinators coordinate teams").into());
    }
    let hash = password::hash_blocking(new.password).await;
    let mut tx = pool.begin().await?;
    teams::ensure_exist(&mut tx, tenant, new.team_ids, "team_ids").await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (tenant_id, email, display_name, role, operational, password_hash)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING user_id",
    )
    .bind(tenant.0)
    .bind(new.email)
    .bind(new.display_name)
    .bind(new.role.as_str())
    .bind(new.operational)
    .bind(&hash)
    .fetch_one(&mut *tx)
    .await?;
    set_teams(&mut tx, tenant, UserId(id), new.team_ids).await?;
    let user = get(&mut tx, tenant, UserId(id)).await?;
    tx.commit().await?;
    Ok(user)
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Default)]
pub struct UserChanges<'a> {
    pub display_name: Option<&'a str>,
    pub role: Option<Role>,
    pub operational: Option<bool>,
    pub active: Option<bool>,
    pub password: Option<&'a str>,
    /// With `password`: keep the user's API tokens (a password reset revokes them otherwise).
    pub keep_api_tokens: bool,
    pub team_ids: Option<&'a [TeamId]>,
}

pub async fn update(pool: &PgPool, tenant: TenantId, user: UserId, changes: &UserChanges<'_>) -> StoreResult<User> {
    let hash = match changes.password {
        Some(p) => Some(password::hash_blocking(p).await),
        None => None,
    };
    let mut tx = pool.begin().await?;
    let current = get(&mut tx, tenant, user).await?;
    let role = changes.role.or(Role::parse(&current.role)).unwrap_or(Role::Executive);
    if let Some(teams) = changes.team_ids {
        if !policy::coordinates_teams(role) && !teams.is_empty() {
            return Err(platica_domain::validate::Invalid::new("team_ids", "only coordinators coordinate teams").into());
        }
        teams::ensure_exist(&mut tx, tenant, teams, "team_ids").await?;
    }
    sqlx::query(
        "UPDATE users SET
            display_name = coalesce($3, display_name),
            role = coalesce($4, role),
            operational = coalesce($5, operational),
            active = coalesce($6, active),
            password_hash = coalesce($7, password_hash),
            updated_at = now()
         WHERE tenant_id = $1 AND user_id = $2",
    )
    .bind(tenant.0)
    .bind(user.0)
    .bind(changes.display_name)
    .bind(changes.role.map(Role::as_str))
    .bind(changes.operational)
    .bind(changes.active)
    .bind(hash)
    .execute(&mut *tx)
    .await?;
    if let Some(teams) = changes.team_ids {
        set_teams(&mut tx, tenant, user, teams).await?;
    } else if !policy::coordinates_teams(role) {
        // A user who stops being a coordinator stops coordinating.
        set_teams(&mut tx, tenant, user, &[]).await?;
    }
    if changes.active == Some(false) || changes.password.is_some() {
        // Deactivation and password resets end every open session.
        sqlx::query(
            "UPDATE sessions SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
    }
    if changes.password.is_some() && !changes.keep_api_tokens {
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = now() WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL",
        )
        .bind(tenant.0)
        .bind(user.0)
        .execute(&mut *tx)
        .await?;
    }
    let updated = get(&mut tx, tenant, user).await?;
    tx.commit().await?;
    Ok(updated)
}

async fn set_teams(conn: &mut PgConnection, tenant: TenantId, user: UserId, teams: &[TeamId]) -> StoreResult<()> {
    let ids: Vec<i64> = teams.iter().map(|t| t.0).collect();
    sqlx::query("DELETE FROM coordinator_teams WHERE tenant_id = $1 AND user_id = $2 AND NOT (team_id = ANY($3))")
        .bind(tenant.0)
        .bind(user.0)
        .bind(&ids)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO coordinator_teams (tenant_id, user_id, team_id)
         SELECT $1, $2, unnest($3::bigint[]) ON CONFLICT DO NOTHING",
    )
    .bind(tenant.0)
    .bind(user.0)
    .bind(&ids)
    .execute(conn)
    .await?;
    Ok(())
}

/// Checks that `user` can be given prospects: an active, operational executive of the tenant.
pub async fn ensure_assignable(
    conn: &mut PgConnection,
    tenant: TenantId,
    user: UserId,
    field: &'static str,
) -> StoreResult<()> {
    let row: Option<(String, bool, bool)> =
        sqlx::query_as("SELECT role, operational, active FROM users WHERE tenant_id = $1 AND user_id = $2")
            .bind(tenant.0)
            .bind(user.0)
            .fetch_optional(conn)
            .await?;
    let invalid = |m: &str| StoreError::Invalid(platica_domain::validate::Invalid::new(field, m));
    match row {
        None => Err(StoreError::missing_ref("executive", field)),
        Some((role, _, _)) if !Role::parse(&role).is_some_and(policy::takes_assignments) => {
            Err(invalid("prospects can only be assigned to executives"))
        }
        Some((_, _, false)) => Err(invalid("this executive is deactivated")),
        Some((_, false, _)) => Err(invalid("this executive is not operational: new assignments are paused")),
        Some(_) => Ok(()),
    }
}
