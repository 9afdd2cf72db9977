//! A tenant's conversation labels (migration 0025): a name unique per tenant regardless of case
//! and a colour. Admins manage them ([`platica_domain::policy::Capability::ManageLabels`]); every
//! user lists them. Applying one to a conversation is
//! [`crate::inbox::conversations::update`].

use chrono::{DateTime, Utc};
use platica_domain::policy::{self, Capability};
use platica_domain::validate::Invalid;
use platica_domain::{TenantId, Viewer};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{StoreError, StoreResult};

/// A label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Label {
    pub label_id: i64,
    pub name: String,
    /// `#rrggbb`, lower case.
    pub colour: String,
    pub created_at: DateTime<Utc>,
}

/// Checks a label's name (1 to 40 characters once trimmed); returns it trimmed.
pub fn check_name(name: &str) -> Result<String, Invalid> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 40 {
        return Err(Invalid::new("name", "name must be 1 to 40 characters"));
    }
    if n.chars().any(char::is_control) {
        return Err(Invalid::new("name", "name must not contain control characters"));
    }
    Ok(n.to_owned())
}

/// Checks a colour (`#rrggbb`); returns it in lower case.
pub fn check_colour(colour: &str) -> Result<String, Invalid> {
    let c = colour.trim().to_ascii_lowercase();
    let ok = c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|ch| ch.is_ascii_hexdigit());
    if !ok {
        return Err(Invalid::new("colour", "colour must be #rrggbb"));
    }
    Ok(c)
}

fn must_manage(viewer: &Viewer) -> StoreResult<()> {
    if policy::may(viewer, Capability::ManageLabels) {
        Ok(())
    } else {
        Err(StoreError::Forbidden("only admins manage labels"))
    }
}

/// Every label of the tenant, by name.
pub async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<Label>> {
    Ok(sqlx::query_as(
        "SELECT label_id, name, colour, created_at FROM labels WHERE tenant_id = $1 ORDER BY lower(name), label_id",
    )
    .bind(tenant.0)
    .fetch_all(pool)
    .await?)
}

/// Creates a label (admins).
pub async fn create(pool: &PgPool, viewer: &Viewer, name: &str, colour: &str) -> StoreResult<Label> {
    must_manage(viewer)?;
    let (name, colour) = (check_name(name)?, check_colour(colour)?);
    Ok(sqlx::query_as(
        "INSERT INTO labels (tenant_id, name, colour) VALUES ($1, $2, $3)
         RETURNING label_id, name, colour, created_at",
    )
    .bind(viewer.tenant_id.0)
    .bind(name)
    .bind(colour)
    .fetch_one(pool)
    .await?)
}

/// Renames and/or recolours a label (admins).
pub async fn update(
    pool: &PgPool,
    viewer: &Viewer,
    id: i64,
    name: Option<&str>,
    colour: Option<&str>,
) -> StoreResult<Label> {
    let name = name.map(check_name).transpose()?;
    let colour = colour.map(check_colour).transpose()?;
    let row: Option<Label> =
        sqlx::query_as("SELECT label_id, name, colour, created_at FROM labels WHERE tenant_id = $1 AND label_id = $2")
            .bind(viewer.tenant_id.0)
            .bind(id)
            .fetch_optional(pool)
            .await?;
    row.ok_or_else(|| StoreError::not_found("label"))?;
    must_manage(viewer)?;
    Ok(sqlx::query_as(
        "UPDATE labels SET name = coalesce($3, name), colour = coalesce($4, colour)
         WHERE tenant_id = $1 AND label_id = $2 RETURNING label_id, name, colour, created_at",
    )
    .bind(viewer.tenant_id.0)
    .bind(id)
    .bind(name)
    .bind(colour)
    .fetch_one(pool)
    .await?)
}

/// Deletes a label (admins); it leaves every conversation it was on.
pub async fn delete(pool: &PgPool, viewer: &Viewer, id: i64) -> StoreResult<()> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM labels WHERE tenant_id = $1 AND label_id = $2)")
            .bind(viewer.tenant_id.0)
            .bind(id)
            .fetch_one(pool)
            .await?;
    if !exists {
        return Err(StoreError::not_found("label"));
    }
    must_manage(viewer)?;
    sqlx::query("DELETE FROM labels WHERE tenant_id = $1 AND label_id = $2")
        .bind(viewer.tenant_id.0)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_colours_are_checked() {
        assert_eq!(check_name("  VIP ").unwrap(), "VIP");
        assert_eq!(check_name("").unwrap_err().field, "name");
        assert!(check_name(&"x".repeat(41)).is_err());
        assert!(check_name("a\u{7}b").is_err());
        assert_eq!(check_colour("#A0b1C2").unwrap(), "#a0b1c2");
        for bad in ["a0b1c2", "#a0b1c", "#a0b1c2f", "#g0b1c2", ""] {
            assert_eq!(check_colour(bad).unwrap_err().field, "colour", "{bad}");
        }
    }
}
