//! Search across what the reader sees: message text (`GET /search/messages`). Prospects by name
//! or phone are the inbox's and the prospect list's `q` (`GET /conversations?q=`, served by the
//! live inbox, and `GET /prospects?q=`).

use axum::extract::State;
use platica_domain::validate;
use platica_store::inbox::search::{self, MessageHits};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Query, limit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(messages))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MessageSearchQuery {
    /// The words to find (1 to 100 characters): accents and case aside, Spanish and English
    /// word forms alike ("envíos" finds "envío"); `"a phrase"`, `or` and `-word` as in a web
    /// search.
    #[param(min_length = 1, max_length = 100, pattern = "\\S")]
    pub q: Option<String>,
    /// `next_offset` of the previous page (0 to 1,000).
    #[param(minimum = 0, maximum = 1000)]
    pub offset: Option<i64>,
    /// 1 to 50 (default 20).
    #[param(minimum = 1, maximum = 50)]
    pub limit: Option<i64>,
}

/// Messages and private notes whose text matches `q`, in conversations the reader sees: best
/// match first, with a snippet whose matching words are marked.
#[utoipa::path(get, path = "/search/messages", tag = "search", params(MessageSearchQuery),
    responses((status = 200, body = MessageHits), (status = 400, body = ErrorBody)))]
async fn messages(
    State(state): State<AppState>,
    auth: Auth,
    Query(q): Query<MessageSearchQuery>,
) -> ApiResult<Json<MessageHits>> {
    let text = match validate::search_prefix("q", q.q.as_deref()) {
        Ok(Some(t)) => t,
        Ok(None) => {
            return Err(ApiError::bad_request("q: the words to search for are required")
                .with_field("q")
                .because("required"));
        }
        Err(e) => {
            let mut err =
                ApiError::bad_request(format!("{}: {}", e.field, e.message)).with_field("q").because(e.reason.code());
            for (name, value) in e.params {
                err = err.with_param(name, value);
            }
            return Err(err);
        }
    };
    let offset = q.offset.unwrap_or(0);
    if !(0..=search::MAX_OFFSET).contains(&offset) {
        return Err(ApiError::bad_request(format!(
            "offset must be between 0 and {}, got {offset}",
            search::MAX_OFFSET
        ))
        .with_field("offset"));
    }
    let limit = limit(q.limit, 20, 50)?;
    Ok(Json(search::messages(&state.pool, auth.viewer(), &text, offset, limit).await?))
}
