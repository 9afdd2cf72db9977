//! WhatsApp campaigns (admins and coordinators): an approved template to a segment of visible
//! prospects, now or scheduled, with progress, pause, resume and cancel.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use platica_domain::validate::{self, Invalid};
use platica_store::whatsapp::campaigns::{self, Campaign, CampaignView, NewCampaign, Preview, Recipient, Segment};
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
        .routes(routes!(preview))
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
    /// When to start (default: now); not in the past.
    pub scheduled_at: Option<DateTime<Utc>>,
    /// At most this many messages a minute, 1 to 100,000 (default: as fast as the number's rate
    /// allows).
    #[schema(minimum = 1, maximum = 100000)]
    pub max_per_minute: Option<i32>,
    /// The recipient count the user confirmed (from `POST /campaigns/preview`): when the segment
    /// has changed since, nothing is created and the answer is 422 `recipients_changed` with the
    /// new `count`. Ignored by the preview.
    pub confirm_count: Option<i64>,
}

/// A start more than this far in the past is refused (a clock a little behind is not).
const PAST_SLACK: chrono::TimeDelta = chrono::TimeDelta::minutes(1);

/// Validates a create (or preview) body into the campaign it describes.
fn new_campaign(input: CreateCampaign) -> ApiResult<NewCampaign> {
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
    if let Some(at) = input.scheduled_at
        && at < Utc::now() - PAST_SLACK
    {
        return Err(Invalid::new("scheduled_at", "must not be in the past").into());
    }
    if let Some(n) = input.max_per_minute
        && !(1..=100_000).contains(&n)
    {
        return Err(Invalid::new("max_per_minute", "must be 1 to 100,000 messages a minute").into());
    }
    let t = input.template;
    if t.name.trim().is_empty() {
        return Err(Invalid::new("template.name", "must not be empty").into());
    }
    let params =
        t.parameters.iter().map(|p| validate::body("template.parameters", p)).collect::<Result<Vec<_>, _>>()?;
    Ok(NewCampaign {
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
        max_per_minute: input.max_per_minute,
    })
}

/// The campaigns the caller sees (admin: all; coordinator: their own), newest first.
#[utoipa::path(get, path = "/campaigns", tag = "campaigns",
    responses((status = 200, body = Vec<Campaign>), (status = 403, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<Vec<Campaign>>> {
    Ok(Json(campaigns::list(&state.pool, auth.viewer()).await?))
}

/// Creates a campaign; its recipients are the segment as the caller sees it now, less the
/// opted-out, each once (exactly what `POST /campaigns/preview` counts).
#[utoipa::path(post, path = "/campaigns", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 201, body = CampaignView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<CreateCampaign>,
) -> ApiResult<(StatusCode, Json<CampaignView>)> {
    if input.confirm_count.is_some_and(|n| n < 1) {
        return Err(Invalid::new("confirm_count", "a campaign reaches at least one prospect").into());
    }
    let confirm = input.confirm_count;
    let new = new_campaign(input)?;
    Ok((StatusCode::CREATED, Json(campaigns::create(&state.pool, auth.viewer(), &new, confirm).await?)))
}

/// What `POST /campaigns` with this body would do, without doing it: the exact recipient count
/// (after filters, opt-outs and duplicates, by the query creation uses), what is left out and
/// why, the number and the template's text. Nothing is written; a segment nobody matches counts 0.
#[utoipa::path(post, path = "/campaigns/preview", tag = "campaigns", request_body = CreateCampaign,
    responses((status = 200, body = Preview), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<CreateCampaign>,
) -> ApiResult<Json<Preview>> {
    let new = new_campaign(input)?;
    Ok(Json(campaigns::preview(&state.pool, auth.viewer(), &new).await?))
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
