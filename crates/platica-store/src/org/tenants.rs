//! Tenants: one sales organisation each.

use platica_domain::TenantId;
use sqlx::PgPool;

use crate::error::StoreResult;

/// Creates a tenant and returns its id.
pub async fn create(pool: &PgPool, slug: &str, name: &str) -> StoreResult<TenantId> {
    let id: i64 = sqlx::query_scalar("INSERT INTO tenants (slug, name) VALUES ($1, $2) RETURNING tenant_id")
        .bind(slug)
        .bind(name)
        .fetch_one(pool)
        .await?;
    Ok(TenantId(id))
}

/// The id of the tenant with `slug`, if any.
pub async fn find_by_slug(pool: &PgPool, slug: &str) -> StoreResult<Option<TenantId>> {
    let id: Option<i64> =
        sqlx::query_scalar("SELECT tenant_id FROM tenants WHERE slug = $1").bind(slug).fetch_optional(pool).await?;
    Ok(id.map(TenantId))
}
