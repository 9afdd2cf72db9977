//! WhatsApp message templates: every role lists the approved ones (to send one in a conversation
//! it can see: `POST /conversations/{id}/messages` with `template`); admins see every review
//! state, submit new templates to WhatsApp for review, sync the business account's templates and
//! their review state from WhatsApp, record one by hand and remove one.

use axum::extract::State;
use axum::http::StatusCode;
use platica_domain::validate::Invalid;
use platica_store::whatsapp::channels;
use platica_store::whatsapp::templates::{self, RemoteTemplate, SyncReport, Template};
use platica_whatsapp::templates::{GraphFailure, NewTemplate, TemplatesClient};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Auth};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, PathId};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(delete))
        .routes(routes!(submit))
        .routes(routes!(sync))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTemplate {
    /// The name approved in WhatsApp Manager: lowercase letters, digits and `_`.
    #[schema(max_length = 512, pattern = "^\\s*[a-z0-9_]+\\s*$")]
    pub name: String,
    /// e.g. `es_MX`.
    #[schema(pattern = "^\\s*[a-z]{2,3}(_[A-Z]{2})?\\s*$")]
    pub language: String,
    /// The template's text with `{{1}}`, `{{2}}`... placeholders (up to 1,024 characters).
    #[schema(min_length = 1, max_length = 1024)]
    pub body: String,
}

/// The tenant's templates: admins get every one with its review state, other roles the approved
/// ones.
#[utoipa::path(get, path = "/templates", tag = "templates",
    responses((status = 200, body = Vec<Template>), (status = 401, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Template>>> {
    Ok(Json(templates::list(&state.pool, auth.viewer()).await?))
}

/// Records an approved template (admin).
#[utoipa::path(post, path = "/templates", tag = "templates", request_body = CreateTemplate,
    responses((status = 201, body = Template), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<CreateTemplate>,
) -> ApiResult<(StatusCode, Json<Template>)> {
    let name = template_name(&input.name)?;
    let language = input.language.trim();
    if !templates::valid_language(language) {
        return Err(Invalid::new("language", "must be a language code such as es or es_MX").into());
    }
    let body = input.body.trim();
    if body.is_empty() || body.chars().count() > 1024 || body.chars().any(|c| c.is_control() && c != '\n') {
        return Err(Invalid::new("body", "must be 1 to 1,024 characters without control characters").into());
    }
    let t = templates::create(&state.pool, admin.viewer().tenant_id, name, language, body).await?;
    Ok((StatusCode::CREATED, Json(t)))
}

/// Removes a template (admin).
#[utoipa::path(delete, path = "/templates/{template_id}", tag = "templates", params(("template_id" = i64, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete(State(state): State<AppState>, admin: Admin, PathId(id): PathId) -> ApiResult<StatusCode> {
    templates::delete(&state.pool, admin.viewer().tenant_id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn template_name(raw: &str) -> Result<&str, Invalid> {
    let name = raw.trim();
    if name.is_empty()
        || name.len() > 512
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(Invalid::new("name", "must be lowercase letters, digits and _ (1 to 512)"));
    }
    Ok(name)
}

/// Which WhatsApp Business Account, through which of the tenant's numbers (its access token and
/// base URL).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncTemplates {
    /// A channel account of the business account: its access token and base URL are used.
    #[schema(minimum = 1)]
    pub channel_account_id: i64,
    /// The WhatsApp Business Account (WABA) id.
    #[schema(pattern = "^[0-9]{1,32}$", max_length = 32)]
    pub waba_id: String,
}

/// A new template to submit to WhatsApp for review.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitTemplate {
    #[schema(minimum = 1)]
    pub channel_account_id: i64,
    #[schema(pattern = "^[0-9]{1,32}$", max_length = 32)]
    pub waba_id: String,
    /// Lowercase letters, digits and `_`.
    #[schema(max_length = 512, pattern = "^\\s*[a-z0-9_]+\\s*$")]
    pub name: String,
    /// e.g. `es_MX`.
    #[schema(pattern = "^\\s*[a-z]{2,3}(_[A-Z]{2})?\\s*$")]
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    #[schema(pattern = "^(MARKETING|UTILITY|AUTHENTICATION)$")]
    pub category: String,
    /// The Cloud API's components: one `BODY` with `text` (1 to 1,024 characters, `{{1}}`...
    /// placeholders), optionally a `HEADER` (`format` `TEXT`, up to 60 characters, at most
    /// `{{1}}`), a `FOOTER` and `BUTTONS`.
    #[schema(value_type = Vec<Object>, min_items = 1, max_items = 10)]
    pub components: Vec<serde_json::Value>,
}

fn waba_id(raw: &str) -> Result<String, Invalid> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 32 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Invalid::new("waba_id", "must be the WhatsApp Business Account id: 1 to 32 digits"));
    }
    Ok(v.to_owned())
}

/// Where and how to reach Graph for one of the tenant's numbers: (base URL, access token).
async fn graph_access(state: &AppState, tenant: platica_domain::TenantId, account: i64) -> ApiResult<(String, String)> {
    let channel = channels::get(&state.pool, tenant, account)
        .await
        .map_err(|e| ApiError::from(e).with_field("channel_account_id"))?;
    let token = channels::access_token(&state.pool, state.secret_key()?, tenant, account).await?;
    let base = channel.base_url.unwrap_or_else(|| platica_whatsapp::cloud::DEFAULT_BASE_URL.to_owned());
    Ok((base, token))
}

fn graph_error(e: GraphFailure) -> ApiError {
    match e {
        GraphFailure::Refused { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "whatsapp_refused", e.to_string())
        }
        GraphFailure::Unavailable(_) => {
            tracing::warn!(error = %e, "the Graph API's templates endpoint failed");
            // 424, not a 5xx: this server is fine, WhatsApp is not (and the answer is never stored
            // under an Idempotency-Key, so a retry runs again).
            let mut err = ApiError::new(StatusCode::FAILED_DEPENDENCY, "whatsapp_unavailable", e.to_string());
            err.retry_after = Some(5);
            err
        }
    }
}

fn client() -> ApiResult<TemplatesClient> {
    TemplatesClient::new(GRAPH_TIMEOUT).map_err(|e| {
        tracing::error!(error = %e, "cannot build the Graph client");
        ApiError::internal()
    })
}

/// How long a Graph call may take.
const GRAPH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);

/// Submits a new template to WhatsApp for review (admin) and records it with WhatsApp's id and
/// status (`pending` until the review's outcome arrives by webhook or sync). 409 `conflict` when
/// the tenant has a template of this name and language; 422 `whatsapp_refused` with WhatsApp's
/// reason when it refuses the template; 424 `whatsapp_unavailable` (with `Retry-After`) when it
/// cannot be reached.
#[utoipa::path(post, path = "/templates/submit", tag = "templates", request_body = SubmitTemplate,
    responses((status = 201, body = Template), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 424, body = ErrorBody)))]
async fn submit(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<SubmitTemplate>,
) -> ApiResult<(StatusCode, Json<Template>)> {
    let tenant = admin.viewer().tenant_id;
    let name = template_name(&input.name)?.to_owned();
    let language = input.language.trim().to_owned();
    if !templates::valid_language(&language) {
        return Err(Invalid::new("language", "must be a language code such as es or es_MX").into());
    }
    let category = input.category.trim().to_ascii_uppercase();
    if !["MARKETING", "UTILITY", "AUTHENTICATION"].contains(&category.as_str()) {
        return Err(Invalid::new("category", "must be MARKETING, UTILITY or AUTHENTICATION").into());
    }
    let waba = waba_id(&input.waba_id)?;
    if input.components.is_empty() || input.components.len() > 10 || input.components.iter().any(|c| !c.is_object()) {
        return Err(Invalid::new("components", "must be 1 to 10 component objects").into());
    }
    let components = serde_json::Value::Array(input.components);
    // What Platica could not send is not submitted.
    let probe = RemoteTemplate {
        external_id: "0".to_owned(),
        name: name.clone(),
        language: language.clone(),
        category: category.clone(),
        status: "PENDING".to_owned(),
        reason: None,
        components: components.clone(),
    };
    templates::sendable(&probe).map_err(|why| Invalid::new("components", why))?;
    if templates::exists(&state.pool, tenant, &name, &language).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "conflict",
            "a template with this name and language already exists",
        )
        .with_field("name"));
    }
    let (base, token) = graph_access(&state, tenant, input.channel_account_id).await?;
    let new = NewTemplate { name, language, category, components };
    let created = client()?.create(&base, &waba, &token, &new).await.map_err(graph_error)?;
    let t = templates::record_submitted(&state.pool, tenant, &waba, &created).await?;
    tracing::info!(tenant_id = tenant.0, template_id = t.template_id, name = %t.name, "template submitted for review");
    Ok((StatusCode::CREATED, Json(t)))
}

/// Reads every template of the business account from WhatsApp (all pages) and stores them with
/// their review state (admin): new ones are added, known ones (by name and language) updated,
/// each status change recorded. 422 `whatsapp_refused` when WhatsApp refuses (a wrong token or
/// WABA id); 424 `whatsapp_unavailable` (with `Retry-After`) when it cannot be reached.
#[utoipa::path(post, path = "/templates/sync", tag = "templates", request_body = SyncTemplates,
    responses((status = 200, body = SyncReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody), (status = 424, body = ErrorBody)))]
async fn sync(
    State(state): State<AppState>,
    admin: Admin,
    Json(input): Json<SyncTemplates>,
) -> ApiResult<Json<SyncReport>> {
    let tenant = admin.viewer().tenant_id;
    let waba = waba_id(&input.waba_id)?;
    let (base, token) = graph_access(&state, tenant, input.channel_account_id).await?;
    let remote = client()?.list(&base, &waba, &token).await.map_err(graph_error)?;
    let report = templates::sync(&state.pool, tenant, &waba, &remote).await?;
    tracing::info!(
        tenant_id = tenant.0,
        fetched = report.fetched,
        created = report.created,
        updated = report.updated,
        "templates synced"
    );
    Ok(Json(report))
}
