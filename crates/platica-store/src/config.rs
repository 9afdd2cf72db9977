//! `system_config`: per-tenant settings as JSON, e.g. `app_version = {version, force_update}`.

use chrono::{DateTime, Utc};
use platica_domain::{TenantId, UserId};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{StoreError, StoreResult};

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ConfigEntry {
    pub key: String,
    pub value: serde_json::Value,
    pub updated_by: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

pub async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<ConfigEntry>> {
    Ok(sqlx::query_as("SELECT key, value, updated_by, updated_at FROM system_config WHERE tenant_id = $1 ORDER BY key")
        .bind(tenant.0)
        .fetch_all(pool)
        .await?)
}

pub async fn get(pool: &PgPool, tenant: TenantId, key: &str) -> StoreResult<ConfigEntry> {
    let row: Option<ConfigEntry> = sqlx::query_as(
        "SELECT key, value, updated_by, updated_at FROM system_config WHERE tenant_id = $1 AND key = $2",
    )
    .bind(tenant.0)
    .bind(key)
    .fetch_optional(pool)
    .await?;
    row.ok_or_else(|| StoreError::not_found("config key"))
}

pub async fn put(
    pool: &PgPool,
    tenant: TenantId,
    key: &str,
    value: &serde_json::Value,
    by: Option<UserId>,
) -> StoreResult<ConfigEntry> {
    Ok(sqlx::query_as(
        "INSERT INTO system_config (tenant_id, key, value, updated_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (tenant_id, key) DO UPDATE SET value = EXCLUDED.value, updated_by = EXCLUDED.updated_by, updated_at = now()
         RETURNING key, value, updated_by, updated_at",
    )
    .bind(tenant.0)
    .bind(key)
    .bind(value)
    .bind(by.map(|u| u.0))
    .fetch_one(pool)
    .await?)
}

/// Validates a config key: lower-case letters, digits, `_` and `.`, starting with a letter.
pub fn valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some('a'..='z'))
        && key.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
}

/// Validates a value: storable as `jsonb` (which refuses the NUL character in strings and keys),
/// and the shape of well-known keys: `app_version` must be `{version: string, force_update: bool}`.
pub fn validate_value(key: &str, value: &serde_json::Value) -> Result<(), String> {
    if has_nul(value) {
        return Err("the value must not contain the NUL character (\\u0000)".into());
    }
    if key == "app_version" {
        let obj = value.as_object().ok_or("app_version must be an object {version, force_update}")?;
        match obj.get("version") {
            Some(serde_json::Value::String(v)) if !v.trim().is_empty() && v.len() <= 64 => {}
            _ => return Err("app_version.version must be a non-empty string of at most 64 characters".into()),
        }
        match obj.get("force_update") {
            Some(serde_json::Value::Bool(_)) => {}
            _ => return Err("app_version.force_update must be true or false".into()),
        }
        if let Some(extra) = obj.keys().find(|k| *k != "version" && *k != "force_update") {
            return Err(format!("app_version has an unknown field {extra:?}"));
        }
    }
    Ok(())
}

fn has_nul(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(items) => items.iter().any(has_nul),
        serde_json::Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}
