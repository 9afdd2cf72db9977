//! WhatsApp campaigns (admins and coordinators): an approved template to a segment of visible
//! prospects, now or scheduled, with progress, pause, resume and cancel.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use platica_domain::validate::{self, Invalid};
use platica_store::whatsapp::campaigns::{self, Campaign, CampaignView, NewCampaign, Recipient, Segment};
use platica_store::whatsapp::outbox::TemplateSend;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, PathId, Query, limit};
use crate::routes::conversations::TemplateInput;
use crate::routes::prospects::{BulkFilter, filter};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get))
        .routes(routes!(recipients))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCampaign {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// The number to send from (default: the tenant's first).
    pub channel_account_id: Option<i64>,
    /// An approved template; `{name}` and `{first_name}` in a parameter become the recipient's.
    pub template: TemplateInput,
    /// Exactly these visible prospects...
    pub prospect_ids: Option<Vec<i64>>,
    /// ...or every visible prospect matching this filter.
    pub filter: Option<BulkFilter>,
    /// When to start (default: now).
    pub scheduled_at: Option<DateTime<Utc>>,
}

/// The campaigns the caller sees (admin: all; coordinator: their own), newest first.
#[utoipa::path(get, path = "/campaigns", tag = "campaigns",
    responses((status = 200, body = Vec<Campaign>), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Campaign>>> {
    Ok(Json(campaigns::list(&state.pool, auth.viewer()).await?))
}

/// Creates a campaign; its recipients are the segment as the caller sees it now.
#[utoipa::path(post, path = "/campaigns", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 201, body = CampaignView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<CreateCampaign>,
) -> ApiResult<(StatusCode, Json<CampaignView>)> {
    let name = validate::name("name", &input.name)?;
    let segment = match (input.prospect_ids, input.filter) {
        (Some(ids), None) => {
            if ids.is_empty() || ids.len() > campaigns::MAX_RECIPIENTS as usize || ids.iter().any(|i| *i <= 0) {
                return Err(Invalid::new("prospect_ids", "give 1 to 100,000 positive prospect ids").into());
            }
            Segment::List(ids)
        }
        (None, Some(f)) => Segment::Filter(filter(f.q.as_deref(), f.team_id, f.executive_id, f.stage)?),
        _ => return Err(Invalid::new("prospect_ids", "give either prospect_ids or filter").into()),
    };
    let t = input.template;
    let params =
        t.parameters.iter().map(|p| validate::body("template.parameters", p)).collect::<Result<Vec<_>, _>>()?;
    let new = NewCampaign {
        name,
        channel_account_id: input.channel_account_id,
        template: TemplateSend {
            name: t.name.trim().to_owned(),
            language: t.language.trim().to_owned(),
            params,
            header_params: Vec::new(),
        },
        segment,
        scheduled_at: input.scheduled_at,
    };
    Ok((StatusCode::CREATED, Json(campaigns::create(&state.pool, auth.viewer(), &new).await?)))
}

/// A campaign with its progress, counted now.
#[utoipa::path(get, path = "/campaigns/{campaign_id}", tag = "campaigns", params(("campaign_id" = i64, Path)),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<CampaignView>> {
    Ok(Json(campaigns::get(&state.pool, auth.viewer(), id).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RecipientsQuery {
    /// Recipients after this prospect id.
    pub after: Option<i64>,
    /// 1 to 1,000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// A page of recipients with their delivery status, by prospect id.
#[utoipa::path(get, path = "/campaigns/{campaign_id}/recipients", tag = "campaigns", params(("campaign_id" = i64, Path), RecipientsQuery),
    responses((status = 200, body = Vec<Recipient>), (status = 404, body = ErrorBody)))]
async fn recipients(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Query(q): Query<RecipientsQuery>,
) -> ApiResult<Json<Vec<Recipient>>> {
    let limit = limit(q.limit, 100, 1000)?;
    Ok(Json(campaigns::recipients(&state.pool, auth.viewer(), id, q.after, limit).await?))
}

/// Pauses a scheduled or running campaign (messages already queued still go).
#[utoipa::path(post, path = "/campaigns/{campaign_id}/pause", tag = "campaigns", params(("campaign_id" = i64, Path)),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn pause(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<CampaignView>> {
    Ok(Json(campaigns::control(&state.pool, auth.viewer(), id, "pause").await?))
}

/// Resumes a paused campaign.
#[utoipa::path(post, path = "/campaigns/{campaign_id}/resume", tag = "campaigns", params(("campaign_id" = i64, Path)),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn resume(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<CampaignView>> {
    Ok(Json(campaigns::control(&state.pool, auth.viewer(), id, "resume").await?))
}

/// Cancels a campaign: what is not yet sent is withdrawn.
#[utoipa::path(post, path = "/campaigns/{campaign_id}/cancel", tag = "campaigns", params(("campaign_id" = i64, Path)),
    responses((status = 200, body = CampaignView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn cancel(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<CampaignView>> {
    Ok(Json(campaigns::control(&state.pool, auth.viewer(), id, "cancel").await?))
}
