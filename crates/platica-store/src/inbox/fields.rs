//! Tenant-defined contact fields: their definitions (admins change them; everyone in the tenant
//! reads them, the panel needs them to edit values) and each prospect's values. Values are read
//! and written with the prospect (`prospects::get`, `prospects::update`), under its visibility.

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{StoreError, StoreResult};

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct FieldDef {
    pub field_id: i64,
    /// How the API names the value in a prospect's `custom` object.
    pub key: String,
    pub label: String,
    /// text, number, date or select.
    pub kind: String,
    /// A select's options, in order; empty for other kinds.
    pub options: Vec<String>,
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

/// A definition to create or replace (validated).
pub struct FieldInput {
    pub key: String,
    pub label: String,
    pub kind: String,
    pub options: Vec<String>,
    pub position: i32,
}

const SELECT: &str = "SELECT field_id, key, label, kind, options, position, created_at FROM prospect_fields";

/// The tenant's fields, in display order.
pub async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<FieldDef>> {
    let sql = format!("{SELECT} WHERE tenant_id = $1 ORDER BY position, field_id");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_all(pool).await?)
}

pub async fn get(pool: &PgPool, tenant: TenantId, id: i64) -> StoreResult<FieldDef> {
    let sql = format!("{SELECT} WHERE tenant_id = $1 AND field_id = $2");
    let row: Option<FieldDef> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(id).fetch_optional(pool).await?;
    row.ok_or_else(|| StoreError::not_found("contact field"))
}

/// Creates a field; refused past [`platica_domain::fields::MAX_FIELDS`] per tenant.
pub async fn create(pool: &PgPool, tenant: TenantId, f: &FieldInput) -> StoreResult<FieldDef> {
    let mut tx = pool.begin().await?;
    // Serialise creations within the tenant so the count holds.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('platica.prospect_fields'), $1::int)")
        .bind((tenant.0 % i64::from(i32::MAX)) as i32)
        .execute(&mut *tx)
        .await?;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM prospect_fields WHERE tenant_id = $1")
        .bind(tenant.0)
        .fetch_one(&mut *tx)
        .await?;
    if n as usize >= platica_domain::fields::MAX_FIELDS {
        return Err(StoreError::Refused {
            code: "too_many_fields",
            message: format!("a tenant may define at most {} contact fields", platica_domain::fields::MAX_FIELDS),
            field: None,
            params: vec![("max", platica_domain::fields::MAX_FIELDS.to_string())],
        });
    }
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO prospect_fields (tenant_id, key, label, kind, options, position)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING field_id",
    )
    .bind(tenant.0)
    .bind(&f.key)
    .bind(&f.label)
    .bind(&f.kind)
    .bind(&f.options)
    .bind(f.position)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    get(pool, tenant, id).await
}

/// Changes a field's label, options and position (its key and kind stay: values were checked
/// against them). Values no longer among a select's options are removed in the same transaction.
pub async fn update(
    pool: &PgPool,
    tenant: TenantId,
    id: i64,
    label: Option<&str>,
    options: Option<&[String]>,
    position: Option<i32>,
) -> StoreResult<FieldDef> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query(
        "UPDATE prospect_fields SET label = coalesce($3, label), options = coalesce($4, options),
                position = coalesce($5, position)
         WHERE tenant_id = $1 AND field_id = $2",
    )
    .bind(tenant.0)
    .bind(id)
    .bind(label)
    .bind(options)
    .bind(position)
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("contact field"));
    }
    if options.is_some() {
        sqlx::query(
            "DELETE FROM prospect_field_values v USING prospect_fields f
             WHERE v.tenant_id = $1 AND v.field_id = $2 AND f.tenant_id = v.tenant_id AND f.field_id = v.field_id
               AND f.kind = 'select' AND NOT (v.value = ANY (f.options))",
        )
        .bind(tenant.0)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    get(pool, tenant, id).await
}

/// Deletes a field with every prospect's value for it.
pub async fn delete(pool: &PgPool, tenant: TenantId, id: i64) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM prospect_fields WHERE tenant_id = $1 AND field_id = $2")
        .bind(tenant.0)
        .bind(id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("contact field"));
    }
    Ok(())
}
