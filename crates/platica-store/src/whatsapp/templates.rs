//! Approved WhatsApp message templates of a tenant: the only messages WhatsApp accepts outside
//! the 24-hour customer service window. Platica keeps each template's text to validate the
//! parameters of a send and to store a readable copy of what the prospect received.

use chrono::{DateTime, Utc};
use platica_domain::policy;
use platica_domain::validate::Invalid;
use platica_domain::{TenantId, Viewer};
use serde::Serialize;
use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use crate::error::{StoreError, StoreResult};
use crate::whatsapp::outbox::TemplateSend;

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Template {
    pub template_id: i64,
    /// As approved in WhatsApp Manager (lowercase letters, digits, underscores).
    pub name: String,
    /// e.g. `es_MX`.
    pub language: String,
    /// The body's text with `{{1}}`, `{{2}}`... placeholders.
    pub body: String,
    /// How many body parameters a send must give.
    pub params: i32,
    /// The text header, if any (with at most one placeholder, `{{1}}`).
    pub header: Option<String>,
    /// How many header parameters a send must give (0 or 1).
    pub header_params: i32,
    /// WhatsApp's review state: `approved`, `pending`, `rejected`, `paused`, `disabled`,
    /// `in_appeal`, `pending_deletion`, `deleted`, `limit_exceeded` or `archived`. Only approved
    /// templates can be sent.
    pub status: String,
    /// Why WhatsApp rejected, paused or disabled it, when it said.
    pub status_reason: Option<String>,
    pub status_changed_at: DateTime<Utc>,
    /// `marketing`, `utility` or `authentication` (unknown for templates recorded by hand).
    pub category: Option<String>,
    /// The WhatsApp Business Account it belongs to (synced or submitted templates).
    pub waba_id: Option<String>,
    /// Graph's id of the template.
    pub external_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "template_id, name, language, body, params, header, header_params, status, status_reason,
    status_changed_at, category, waba_id, external_id, created_at";

/// Review states WhatsApp reports, as stored (lower case).
pub const STATUSES: [&str; 10] = [
    "approved",
    "pending",
    "rejected",
    "paused",
    "disabled",
    "in_appeal",
    "pending_deletion",
    "deleted",
    "limit_exceeded",
    "archived",
];

/// A status as WhatsApp writes it (`APPROVED`, `PENDING_DELETION`...) as stored, if known.
pub fn normal_status(status: &str) -> Option<&'static str> {
    let lower = status.trim().to_ascii_lowercase();
    STATUSES.iter().copied().find(|s| *s == lower)
}

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

/// The templates a viewer may see: admins every one, other roles the approved ones (what they can
/// send).
pub async fn list(pool: &PgPool, viewer: &Viewer) -> StoreResult<Vec<Template>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM whatsapp_templates WHERE tenant_id = $1 AND ($2 OR status = 'approved')
         ORDER BY name, language"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(viewer.tenant_id.0)
        .bind(policy::sees_every_template(viewer.role))
        .fetch_all(pool)
        .await?)
}

/// A template as Graph lists it (`GET /{waba-id}/message_templates`).
#[derive(Clone, Debug)]
pub struct RemoteTemplate {
    pub external_id: String,
    pub name: String,
    pub language: String,
    /// As Graph writes it (`MARKETING`...).
    pub category: String,
    /// As Graph writes it (`APPROVED`...).
    pub status: String,
    pub reason: Option<String>,
    /// Graph's `components` array.
    pub components: Value,
}

/// The text of a template's `BODY` and `HEADER` (format `TEXT`) components.
pub fn texts(components: &Value) -> (Option<String>, Option<String>) {
    let find = |kind: &str| {
        components.as_array()?.iter().find_map(|c| {
            let is = c["type"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(kind));
            let text_format = c["format"].as_str().is_none_or(|f| f.eq_ignore_ascii_case("TEXT"));
            (is && text_format).then(|| c["text"].as_str().map(str::to_owned)).flatten()
        })
    };
    (find("BODY"), find("HEADER"))
}

/// What [`sync`] did.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct SyncReport {
    /// Templates Graph listed.
    pub fetched: usize,
    pub created: usize,
    /// Templates whose status, category, text or id changed.
    pub updated: usize,
    /// Templates Platica cannot send and does not keep (no text body, a body over 1,024
    /// characters, a malformed placeholder), with why.
    pub skipped: Vec<String>,
}

/// The checked values of a remote template: (body, params, header, header_params, status,
/// category).
type Checked = (String, i32, Option<String>, i32, &'static str, Option<String>);

fn checked(t: &RemoteTemplate) -> Result<Checked, String> {
    let (body, header) = texts(&t.components);
    let body =
        body.filter(|b| !b.is_empty() && b.chars().count() <= 1024).ok_or("no text body of 1 to 1,024 characters")?;
    let params = placeholders(&body).map_err(|e| e.message)?;
    let header = header.filter(|h| !h.is_empty());
    let header_params = match &header {
        Some(h) if h.chars().count() > 60 => return Err("a header over 60 characters".to_owned()),
        Some(h) => placeholders(h).map_err(|e| e.message)?,
        None => 0,
    };
    if header_params > 1 {
        return Err("a header with more than one placeholder".to_owned());
    }
    let status = normal_status(&t.status).ok_or_else(|| format!("unknown status {:?}", t.status))?;
    let category = Some(t.category.to_ascii_lowercase())
        .filter(|c| ["marketing", "utility", "authentication"].contains(&c.as_str()));
    let name_ok = !t.name.is_empty()
        && t.name.len() <= 512
        && t.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !name_ok
        || !valid_language(&t.language)
        || !t.external_id.bytes().all(|b| b.is_ascii_digit())
        || t.external_id.is_empty()
    {
        return Err("a malformed name, language or id".to_owned());
    }
    Ok((body, params, header, header_params, status, category))
}

/// Whether Platica can store and send this template (a text body of 1 to 1,024 characters,
/// well-formed placeholders, a text header of at most 60 characters with at most `{{1}}`), or
/// why not.
pub fn sendable(t: &RemoteTemplate) -> Result<(), String> {
    checked(t).map(drop)
}

/// Whether a language code is one Platica stores (`es`, `es_MX`).
pub fn valid_language(language: &str) -> bool {
    match language.split_once('_') {
        Some((l, r)) => {
            (2..=3).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_lowercase())
                && r.len() == 2
                && r.bytes().all(|b| b.is_ascii_uppercase())
        }
        None => (2..=3).contains(&language.len()) && language.bytes().all(|b| b.is_ascii_lowercase()),
    }
}

/// Stores what Graph listed of a WABA's templates, in one transaction: new ones are created,
/// known ones (by name and language) take Graph's id, text, category and status; each change of
/// status is recorded (source `sync`). Templates Graph no longer lists are left as they are.
pub async fn sync(
    pool: &PgPool,
    tenant: TenantId,
    waba_id: &str,
    remote: &[RemoteTemplate],
) -> StoreResult<SyncReport> {
    let mut report = SyncReport { fetched: remote.len(), ..SyncReport::default() };
    let mut tx = pool.begin().await?;
    for t in remote {
        let (body, params, header, header_params, status, category) = match checked(t) {
            Ok(v) => v,
            Err(why) => {
                report.skipped.push(format!("{} ({}): {why}", t.name, t.language));
                continue;
            }
        };
        let reason = t
            .reason
            .as_deref()
            .filter(|r| !r.is_empty() && *r != "NONE")
            .map(|r| r.chars().take(1000).collect::<String>());
        type Old = (String, String, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
        let old: Option<Old> = sqlx::query_as(
            "SELECT status, body, header, category, external_id, waba_id, status_reason FROM whatsapp_templates
             WHERE tenant_id = $1 AND name = $2 AND language = $3 FOR UPDATE",
        )
        .bind(tenant.0)
        .bind(&t.name)
        .bind(&t.language)
        .fetch_optional(&mut *tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO whatsapp_templates (tenant_id, name, language, body, params, header, header_params, status,
                     status_reason, category, waba_id, external_id, components)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (tenant_id, name, language) DO UPDATE SET
                 body = EXCLUDED.body, params = EXCLUDED.params, header = EXCLUDED.header,
                 header_params = EXCLUDED.header_params, status = EXCLUDED.status,
                 status_reason = EXCLUDED.status_reason, category = EXCLUDED.category, waba_id = EXCLUDED.waba_id,
                 external_id = EXCLUDED.external_id, components = EXCLUDED.components,
                 status_changed_at = CASE WHEN whatsapp_templates.status = EXCLUDED.status
                                          THEN whatsapp_templates.status_changed_at ELSE now() END
             RETURNING template_id",
        )
        .bind(tenant.0)
        .bind(&t.name)
        .bind(&t.language)
        .bind(&body)
        .bind(params)
        .bind(&header)
        .bind(header_params)
        .bind(status)
        .bind(&reason)
        .bind(&category)
        .bind(waba_id)
        .bind(&t.external_id)
        .bind(&t.components)
        .fetch_one(&mut *tx)
        .await?;
        let new: Old = (
            status.to_owned(),
            body,
            header,
            category,
            Some(t.external_id.clone()),
            Some(waba_id.to_owned()),
            reason.clone(),
        );
        let old_status = old.as_ref().map(|o| o.0.clone());
        match &old {
            None => report.created += 1,
            Some(o) if *o != new => report.updated += 1,
            Some(_) => {}
        }
        if old_status.as_deref() != Some(status) {
            record_change(&mut tx, tenant, id, status, reason.as_deref(), "sync").await?;
        }
    }
    tx.commit().await?;
    Ok(report)
}

async fn record_change(
    conn: &mut PgConnection,
    tenant: TenantId,
    template_id: i64,
    status: &str,
    reason: Option<&str>,
    source: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO whatsapp_template_status_changes (tenant_id, template_id, status, reason, source)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(tenant.0)
    .bind(template_id)
    .bind(status)
    .bind(reason)
    .bind(source)
    .execute(conn)
    .await?;
    Ok(())
}

/// A template submitted to Graph (`POST /{waba-id}/message_templates`), recorded with the id and
/// status Graph answered (usually `PENDING`).
pub async fn record_submitted(
    pool: &PgPool,
    tenant: TenantId,
    waba_id: &str,
    t: &RemoteTemplate,
) -> StoreResult<Template> {
    let (body, params, header, header_params, status, category) =
        checked(t).map_err(|why| Invalid::new("components", why))?;
    let mut tx = pool.begin().await?;
    let sql = format!(
        "INSERT INTO whatsapp_templates (tenant_id, name, language, body, params, header, header_params, status,
                 category, waba_id, external_id, components)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         RETURNING {COLUMNS}"
    );
    let row: Template = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(tenant.0)
        .bind(&t.name)
        .bind(&t.language)
        .bind(&body)
        .bind(params)
        .bind(&header)
        .bind(header_params)
        .bind(status)
        .bind(&category)
        .bind(waba_id)
        .bind(&t.external_id)
        .bind(&t.components)
        .fetch_one(&mut *tx)
        .await
        .map_err(unique_conflict)?;
    record_change(&mut tx, tenant, row.template_id, status, None, "submit").await?;
    tx.commit().await?;
    Ok(row)
}

/// Whether a template of this name and language exists in the tenant.
pub async fn exists(pool: &PgPool, tenant: TenantId, name: &str, language: &str) -> StoreResult<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM whatsapp_templates WHERE tenant_id = $1 AND name = $2 AND language = $3)",
    )
    .bind(tenant.0)
    .bind(name)
    .bind(language)
    .fetch_one(pool)
    .await?)
}

/// A review state change WhatsApp reported (the `message_template_status_update` webhook field:
/// `event`, `message_template_id`, `message_template_name`, `message_template_language`,
/// `reason`), for the template of `waba_id` with Graph id `external_id` or, failing that, this
/// name and language. Records the change (source `webhook`) and returns the template; `None`
/// when the tenant has no such template (e.g. one created elsewhere and not synced yet). An
/// unknown status is refused with `Invalid`. A repeated report changes nothing.
#[allow(clippy::too_many_arguments)]
pub async fn apply_template_status(
    pool: &PgPool,
    tenant: TenantId,
    waba_id: &str,
    external_id: Option<&str>,
    name: &str,
    language: &str,
    status: &str,
    reason: Option<&str>,
) -> StoreResult<Option<Template>> {
    let status = normal_status(status)
        .ok_or_else(|| Invalid::new("status", format!("{status:?} is not a template status WhatsApp reports")))?;
    let reason = reason.filter(|r| !r.is_empty() && *r != "NONE").map(|r| r.chars().take(1000).collect::<String>());
    let mut tx = pool.begin().await?;
    let found: Option<(i64, String, Option<String>)> = sqlx::query_as(
        "SELECT template_id, status, status_reason FROM whatsapp_templates
         WHERE tenant_id = $1 AND (waba_id = $2 OR waba_id IS NULL)
           AND (external_id = $3 OR (name = $4 AND language = $5))
         ORDER BY (external_id = $3) DESC NULLS LAST LIMIT 1 FOR UPDATE",
    )
    .bind(tenant.0)
    .bind(waba_id)
    .bind(external_id)
    .bind(name)
    .bind(language)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((id, old, old_reason)) = found else { return Ok(None) };
    if old != status || old_reason != reason {
        sqlx::query(
            "UPDATE whatsapp_templates SET status = $3, status_reason = $4, waba_id = $5,
                 external_id = coalesce($6, external_id),
                 status_changed_at = CASE WHEN status = $3 THEN status_changed_at ELSE now() END
             WHERE tenant_id = $1 AND template_id = $2",
        )
        .bind(tenant.0)
        .bind(id)
        .bind(status)
        .bind(&reason)
        .bind(waba_id)
        .bind(external_id)
        .execute(&mut *tx)
        .await?;
        record_change(&mut tx, tenant, id, status, reason.as_deref(), "webhook").await?;
    }
    let sql = format!("SELECT {COLUMNS} FROM whatsapp_templates WHERE tenant_id = $1 AND template_id = $2");
    let t: Template = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(tenant.0).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(Some(t))
}

/// The tenants that have templates of `waba_id` (a template status webhook names only its WABA):
/// a scan of a small table, on purpose without an index that could not lead with `tenant_id`.
pub async fn tenants_of_waba(pool: &PgPool, waba_id: &str) -> StoreResult<Vec<TenantId>> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT DISTINCT tenant_id FROM whatsapp_templates WHERE waba_id = $1 ORDER BY 1")
            .bind(waba_id)
            .fetch_all(pool)
            .await?;
    Ok(ids.into_iter().map(TenantId).collect())
}

/// A template's status changes, oldest first: (status, reason, source, when).
pub async fn status_changes(
    pool: &PgPool,
    tenant: TenantId,
    template_id: i64,
) -> StoreResult<Vec<(String, Option<String>, String, DateTime<Utc>)>> {
    Ok(sqlx::query_as(
        "SELECT status, reason, source, changed_at FROM whatsapp_template_status_changes
         WHERE tenant_id = $1 AND template_id = $2 ORDER BY change_id",
    )
    .bind(tenant.0)
    .bind(template_id)
    .fetch_all(pool)
    .await?)
}

fn unique_conflict(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.constraint() == Some("whatsapp_templates_unique") => StoreError::Conflict {
            message: "a template with this name and language already exists".to_owned(),
            field: Some("name"),
        },
        _ => e.into(),
    }
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
        .map_err(unique_conflict)
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
    let found: Option<(String, i32, String, Option<String>, i32)> = sqlx::query_as(
        "SELECT body, params, status, header, header_params FROM whatsapp_templates
         WHERE tenant_id = $1 AND name = $2 AND language = $3",
    )
    .bind(tenant.0)
    .bind(&t.name)
    .bind(&t.language)
    .fetch_optional(conn)
    .await?;
    let Some((body, params, status, header, header_params)) = found else {
        return Err(StoreError::missing_ref("template (name and language)", "template.name"));
    };
    if status != "approved" {
        return Err(StoreError::Refused {
            code: "template_not_approved",
            message: format!("template {} ({}) is {status}, not approved", t.name, t.language),
            field: Some("template.name"),
            params: vec![],
        });
    }
    if t.params.len() != params as usize {
        return Err(Invalid::new(
            "template.parameters",
            format!("template {} takes {params} parameters, {} given", t.name, t.params.len()),
        )
        .into());
    }
    if t.header_params.len() != header_params as usize {
        return Err(Invalid::new(
            "template.header_parameters",
            format!("template {} takes {header_params} header parameters, {} given", t.name, t.header_params.len()),
        )
        .into());
    }
    let body = render(&body, &t.params);
    Ok(match header {
        Some(h) => format!("{}\n\n{body}", render(&h, &t.header_params)),
        None => body,
    })
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
