//! Support tickets: anyone opens one and comments on the tickets they see (their own, those
//! assigned to them; admins see all); admins change status, priority and assignee.

use axum::extract::State;
use axum::http::StatusCode;
use platica_store::support::tickets::{
    self, Comment, NewTicket, PRIORITIES, STATUSES, Ticket, TicketChanges, TicketFilter,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, PathId, Query, limit, nullable};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(get, update)).routes(routes!(comment))
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> ApiResult<()> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(ApiError::invalid(field, format!("{field} must be one of {}", allowed.join(", "))))
    }
}

fn text(field: &str, raw: &str, min: usize, max: usize) -> ApiResult<String> {
    let v = raw.trim();
    let n = v.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid(field, format!("{field} must be {min} to {max} characters")));
    }
    Ok(v.to_owned())
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TicketQuery {
    /// open, in_progress, resolved or closed.
    pub status: Option<String>,
    /// low, normal, high or urgent.
    pub priority: Option<String>,
    pub assignee_id: Option<i64>,
    pub opened_by: Option<i64>,
    /// 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Visible tickets, newest first.
#[utoipa::path(get, path = "/tickets", tag = "tickets", params(TicketQuery),
    responses((status = 200, body = Vec<Ticket>), (status = 422, body = ErrorBody)))]
async fn list(State(state): State<AppState>, auth: Auth, Query(q): Query<TicketQuery>) -> ApiResult<Json<Vec<Ticket>>> {
    let limit = limit(q.limit, 100, 500)?;
    if let Some(s) = &q.status {
        one_of("status", s, &STATUSES)?;
    }
    if let Some(p) = &q.priority {
        one_of("priority", p, &PRIORITIES)?;
    }
    let f = TicketFilter { status: q.status, priority: q.priority, assignee_id: q.assignee_id, opened_by: q.opened_by };
    Ok(Json(tickets::list(&state.pool, auth.viewer(), &f, limit).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTicket {
    #[schema(min_length = 1, max_length = 200)]
    pub subject: String,
    #[schema(max_length = 20000)]
    pub body: String,
    /// low, normal (default), high or urgent.
    #[schema(pattern = "^(low|normal|high|urgent)$")]
    pub priority: Option<String>,
    /// An admin (admins only).
    pub assignee_id: Option<i64>,
}

/// Opens a ticket.
#[utoipa::path(post, path = "/tickets", tag = "tickets", request_body = CreateTicket,
    responses((status = 201, body = Ticket), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Json(input): Json<CreateTicket>,
) -> ApiResult<(StatusCode, Json<Ticket>)> {
    let priority = input.priority.unwrap_or_else(|| "normal".to_owned());
    one_of("priority", &priority, &PRIORITIES)?;
    let new = NewTicket {
        subject: text("subject", &input.subject, 1, 200)?,
        body: text("body", &input.body, 0, 20_000)?,
        priority,
        assignee_id: input.assignee_id,
    };
    Ok((StatusCode::CREATED, Json(tickets::create(&state.pool, auth.viewer(), &new).await?)))
}

#[derive(Serialize, ToSchema)]
pub struct TicketDetail {
    #[serde(flatten)]
    pub ticket: Ticket,
    pub comments: Vec<Comment>,
}

/// A visible ticket with its comments.
#[utoipa::path(get, path = "/tickets/{ticket_id}", tag = "tickets", params(("ticket_id" = i64, Path)),
    responses((status = 200, body = TicketDetail), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<TicketDetail>> {
    let (ticket, comments) = tickets::get(&state.pool, auth.viewer(), id).await?;
    Ok(Json(TicketDetail { ticket, comments }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTicket {
    #[schema(pattern = "^(open|in_progress|resolved|closed)$")]
    pub status: Option<String>,
    #[schema(pattern = "^(low|normal|high|urgent)$")]
    pub priority: Option<String>,
    /// An admin; `null` unassigns.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
}

/// Changes a ticket's status, priority or assignee (admins).
#[utoipa::path(patch, path = "/tickets/{ticket_id}", tag = "tickets", params(("ticket_id" = i64, Path)), request_body = UpdateTicket,
    responses((status = 200, body = Ticket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<UpdateTicket>,
) -> ApiResult<Json<Ticket>> {
    if let Some(s) = &input.status {
        one_of("status", s, &STATUSES)?;
    }
    if let Some(p) = &input.priority {
        one_of("priority", p, &PRIORITIES)?;
    }
    let ch = TicketChanges { status: input.status, priority: input.priority, assignee_id: input.assignee_id };
    Ok(Json(tickets::update(&state.pool, auth.viewer(), id, &ch).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    #[schema(min_length = 1, max_length = 20000)]
    pub body: String,
}

/// Comments on a visible ticket.
#[utoipa::path(post, path = "/tickets/{ticket_id}/comments", tag = "tickets", params(("ticket_id" = i64, Path)), request_body = NewComment,
    responses((status = 201, body = Comment), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn comment(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<NewComment>,
) -> ApiResult<(StatusCode, Json<Comment>)> {
    let body = text("body", &input.body, 1, 20_000)?;
    Ok((StatusCode::CREATED, Json(tickets::comment(&state.pool, auth.viewer(), id, &body).await?)))
}
