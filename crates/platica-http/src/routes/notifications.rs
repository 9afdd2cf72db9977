//! The signed-in user's notifications: list (with the unread count), mark read, mark all read.

use axum::extract::State;
use platica_store::support::notifications::{self, Notification};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, PathId, Query, limit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(mark_read)).routes(routes!(mark_all_read))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct NotificationQuery {
    /// Only unread ones.
    pub unread: Option<bool>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationPage {
    pub items: Vec<Notification>,
    /// Unread notifications in all (not only this page).
    pub unread: i64,
    pub next_cursor: Option<String>,
}

/// My notifications, newest first, and how many are unread.
#[utoipa::path(get, path = "/notifications", tag = "notifications", params(NotificationQuery),
    responses((status = 200, body = NotificationPage), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<NotificationQuery>,
) -> ApiResult<Json<NotificationPage>> {
    let limit = limit(q.limit, 50, 200)?;
    let after = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::bad_request("invalid cursor: pass next_cursor from the previous page").with_field("cursor")
            })
        })
        .transpose()?;
    let (mut items, unread) =
        notifications::list(&state.pool, auth.viewer(), q.unread.unwrap_or(false), after, limit + 1).await?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items.last().map(|n| n.notification_id.to_string())
    } else {
        None
    };
    Ok(Json(NotificationPage { items, unread, next_cursor }))
}

/// Marks one of my notifications read.
#[utoipa::path(post, path = "/notifications/{notification_id}/read", tag = "notifications", params(("notification_id" = i64, Path)),
    responses((status = 200, body = Notification), (status = 404, body = ErrorBody)))]
async fn mark_read(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<Notification>> {
    Ok(Json(notifications::mark_read(&state.pool, auth.viewer(), id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct NotificationsMarkedRead {
    /// How many notifications were unread.
    pub marked: u64,
}

/// Marks all my notifications read.
#[utoipa::path(post, path = "/notifications/read-all", tag = "notifications",
    responses((status = 200, body = NotificationsMarkedRead)))]
async fn mark_all_read(State(state): State<AppState>, auth: Auth) -> ApiResult<Json<NotificationsMarkedRead>> {
    Ok(Json(NotificationsMarkedRead { marked: notifications::mark_all_read(&state.pool, auth.viewer()).await? }))
}
