//! Approved WhatsApp message templates of a tenant: the only messages WhatsApp accepts outside
//! the 24-hour customer service window. Platica keeps each template's text to validate the
//! parameters of a send and to store a readable copy of what the prospect received.

use chrono::{DateTime, Utc};
use platica_domain::TenantId;
use platica_domain::validate::Invalid;
use serde::Serialize;
use sqlx::{PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};
use crate::outbox::TemplateSend;

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Template {
    pub template_id: i64,
    /// As approved in WhatsApp Manager (lowercase letters, digits, underscores).
    pub name: String,
    /// e.g. `es_MX`.
    pub language: String,
    /// The text with `{{1}}`, `{{2}}`... placeholders.
    pub body: String,
    /// How many parameters a send must give.
    pub params: i32,
    /// `approved`, `paused` or `rejected`: only approved templates can be sent.
    pub status: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "template_id, name, language, body, params, status, created_at";

/// The highest placeholder number in a template body (`{{3}}` → 3), or an error naming a
/// malformed one.
pub fn placeholders(body: &str) -> Result<i32, Invalid> {
    let mut highest = 0;
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        let n: i32 = after[..end].trim().parse().ok().filter(|n| (1..=32).contains(n)).ok_or_else(|| {
            Invalid::new("body", format!("placeholder {{{{{}}}}} is not a number from 1 to 32", &after[..end]))
        })?;
        highest = highest.max(n);
        rest = &after[end + 2..];
    }
    Ok(highest)
}

/// The template's text with its parameters in place (one pass: a parameter that looks like a
/// placeholder is not expanded again).
pub fn render(body: &str, params: &[String]) -> String {
    let mut out = String::with_capacity(body.len());
    let mut rest = body;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let param = after.find("}}").and_then(|end| {
            let n: usize = after[..end].trim().parse().ok()?;
            Some((params.get(n.checked_sub(1)?)?, end))
        });
        match param {
            Some((p, end)) => {
                out.push_str(p);
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

pub async fn list(pool: &PgPool, tenant: TenantId) -> StoreResult<Vec<Template>> {
    let sql = format!("SELECT {COLUMNS} FROM whatsapp_templates WHERE tenant_id = $1 ORDER BY name, language");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).fetch_all(pool).await?)
}

pub async fn create(pool: &PgPool, tenant: TenantId, name: &str, language: &str, body: &str) -> StoreResult<Template> {
    let params = placeholders(body)?;
    let sql = format!(
        "INSERT INTO whatsapp_templates (tenant_id, name, language, body, params) VALUES ($1, $2, $3, $4, $5)
         RETURNING {COLUMNS}"
    );
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(name)
        .bind(language)
        .bind(body)
        .bind(params)
        .fetch_one(pool)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if db.constraint() == Some("whatsapp_templates_unique") => StoreError::Conflict {
                message: "a template with this name and language already exists".to_owned(),
                field: Some("name"),
            },
            _ => e.into(),
        })
}

pub async fn delete(pool: &PgPool, tenant: TenantId, id: i64) -> StoreResult<()> {
    let done = sqlx::query("DELETE FROM whatsapp_templates WHERE tenant_id = $1 AND template_id = $2")
        .bind(tenant.0)
        .bind(id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("template"));
    }
    Ok(())
}

/// Checks a send against the approved template it names and returns the text it renders to.
pub async fn prepare(conn: &mut PgConnection, tenant: TenantId, t: &TemplateSend) -> StoreResult<String> {
    let found: Option<(String, i32, String)> = sqlx::query_as(
        "SELECT body, params, status FROM whatsapp_templates WHERE tenant_id = $1 AND name = $2 AND language = $3",
    )
    .bind(tenant.0)
    .bind(&t.name)
    .bind(&t.language)
    .fetch_optional(conn)
    .await?;
    let Some((body, params, status)) = found else {
        return Err(StoreError::missing_ref("template (name and language)", "template.name"));
    };
    if status != "approved" {
        return Err(StoreError::Refused {
            code: "template_not_approved",
            message: format!("template {} ({}) is {status}, not approved", t.name, t.language),
            field: Some("template.name"),
        });
    }
    if t.params.len() != params as usize {
        return Err(Invalid::new(
            "template.parameters",
            format!("template {} takes {params} parameters, {} given", t.name, t.params.len()),
        )
        .into());
    }
    Ok(render(&body, &t.params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_rendering() {
        assert_eq!(placeholders("Hola {{1}}, tu cita es el {{2}}").unwrap(), 2);
        assert_eq!(placeholders("Sin parámetros").unwrap(), 0);
        assert!(placeholders("Hola {{nombre}}").is_err());
        assert!(placeholders("Hola {{0}}").is_err());
        let params = ["Ana".to_owned(), "lunes".to_owned()];
        assert_eq!(render("Hola {{1}}, tu cita es el {{2}}. ¡{{1}}!", &params), "Hola Ana, tu cita es el lunes. ¡Ana!");
        // A parameter that looks like a placeholder is not expanded again.
        assert_eq!(render("{{1}} y {{2}}", &["{{2}}".to_owned(), "{{1}}".to_owned()]), "{{2}} y {{1}}");
    }
}
