//! Conversations: the inbox list, one conversation, its messages, sending and marking read.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use platica_domain::cursor::Cursor;
use platica_domain::inbox::{InboxCursor, InboxPage, InboxRow, PRIORITIES, STATUSES, priority_rank};
use platica_domain::validate::Invalid;
use platica_domain::{ConversationId, MessageId, validate};
use platica_store::inbox::conversations::{self, InboxFilter};
use platica_store::inbox::messages::{self, MarkedRead, Mentionable, Message, MessagePage, Outbound};
use platica_store::whatsapp::outbox::TemplateSend;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, PathId, Query, limit};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(inbox))
        .routes(routes!(get, update))
        .routes(routes!(list_messages, send))
        .routes(routes!(mark_read))
        .routes(routes!(retry_message))
        .routes(routes!(write_note))
        .routes(routes!(mentionable))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    pub team_id: Option<i64>,
    pub executive_id: Option<i64>,
    /// `true`: only conversations with unread messages; `false`: only without.
    pub unread: Option<bool>,
    /// `open`, `snoozed` or `closed`.
    #[param(pattern = "^(open|snoozed|closed)$")]
    pub status: Option<String>,
    /// Words that start words of the prospect's name (accents and case aside), or a phone number
    /// (local or international form, separators allowed).
    pub q: Option<String>,
    /// `mine` (assigned to the reader), `unassigned` (no executive) or `all` (default).
    #[param(pattern = "^(mine|unassigned|all)$")]
    pub view: Option<String>,
    /// Only conversations with this label (`GET /labels`).
    #[param(minimum = 1)]
    pub label_id: Option<i64>,
    /// Only conversations of this priority.
    #[param(pattern = "^(none|low|medium|high|urgent)$")]
    pub priority: Option<String>,
    /// `latest` (default: newest activity first), `waiting` (only conversations whose last
    /// message is inbound, the longest waiting first) or `unread_first` (with unread messages
    /// first, each part newest first). Each sort has its own cursors.
    #[param(pattern = "^(latest|waiting|unread_first)$")]
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Read-your-writes: wait (at most 2 s) until the live inbox has applied this LSN (the
    /// `Platica-Lsn` header of a write response), else answer 503.
    pub min_lsn: Option<String>,
}

fn check_status(s: &str) -> ApiResult<()> {
    if STATUSES.contains(&s) {
        Ok(())
    } else {
        Err(ApiError::invalid("status", "status must be open, snoozed or closed"))
    }
}

/// Visible conversations (keyset pages, newest activity first unless `sort` says otherwise), with
/// counts. Served from the live inbox (the same as `GET /inbox`).
#[utoipa::path(get, path = "/conversations", tag = "conversations", params(InboxQuery),
    responses((status = 200, body = InboxPage), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn list(state: State<AppState>, auth: Auth, q: Query<InboxQuery>) -> ApiResult<Response> {
    inbox(state, auth, q).await
}

/// The inbox: visible conversations (keyset pages, newest activity first unless `sort` says
/// otherwise; views, status, label and priority filters), with the counts of the whole filtered
/// list, served from memory.
#[utoipa::path(get, path = "/inbox", tag = "conversations", params(InboxQuery),
    responses((status = 200, body = InboxPage), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
async fn inbox(State(state): State<AppState>, auth: Auth, Query(q): Query<InboxQuery>) -> ApiResult<Response> {
    let limit = limit(q.limit, 50, 200)?;
    if let Some(s) = &q.status {
        check_status(s)?;
    }
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(InboxCursor::decode(c).ok_or_else(|| {
            ApiError::bad_request("invalid cursor: pass next_cursor from the previous page").with_field("cursor")
        })?),
    };
    let one_of = |field: &'static str, v: Option<&str>, allowed: &[&str]| -> ApiResult<()> {
        match v {
            Some(v) if !allowed.contains(&v) => {
                Err(ApiError::bad_request(format!("{field} must be one of {}", allowed.join(", "))).with_field(field))
            }
            _ => Ok(()),
        }
    };
    one_of("view", q.view.as_deref(), &["mine", "unassigned", "all"])?;
    one_of("priority", q.priority.as_deref(), &PRIORITIES)?;
    one_of("sort", q.sort.as_deref(), &["latest", "waiting", "unread_first"])?;
    if q.label_id.is_some_and(|l| l < 1) {
        return Err(ApiError::bad_request("label_id must be a positive id").with_field("label_id"));
    }
    let filter = InboxFilter {
        team_id: q.team_id,
        executive_id: q.executive_id,
        unread: q.unread,
        status: q.status,
        q: validate::search_prefix("q", q.q.as_deref())?,
        view: q.view,
        label_id: q.label_id,
        priority: q.priority,
        sort: q.sort,
    };
    let Some(live) = &state.live else {
        let page = conversations::list(&state.pool, auth.viewer(), &filter, after, limit).await?;
        return Ok(Json(page).into_response());
    };
    let position = crate::live::wait_min_lsn(live, q.min_lsn.as_deref()).await?;
    let viewer = auth.viewer();
    let page = live.read(|engine| {
        engine
            .tenant(viewer.tenant_id)
            .map(|t| {
                t.page(
                    viewer.user_id.0,
                    &crate::live::engine_filter(&filter),
                    after.map(crate::live::key),
                    limit as usize,
                )
            })
            .unwrap_or_default()
    });
    let mut page = crate::live::page_json(page);
    page.stale_since = live.stale_since();
    Ok(crate::live::with_lsn(Json(page).into_response(), position))
}

/// One visible conversation, as its inbox row.
#[utoipa::path(get, path = "/conversations/{conversation_id}", tag = "conversations", params(("conversation_id" = i64, Path)),
    responses((status = 200, body = InboxRow), (status = 404, body = ErrorBody)))]
async fn get(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<InboxRow>> {
    let mut conn = state.pool.acquire().await.map_err(platica_store::StoreError::from)?;
    Ok(Json(conversations::get(&mut conn, auth.viewer(), ConversationId(id)).await?))
}

/// A conversation's triage: every field is optional, at least one must be given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConversation {
    /// `open`, `snoozed` (with `snoozed_until`) or `closed`. A snoozed conversation opens again
    /// at `snoozed_until` or when the prospect writes; a closed one when the prospect writes.
    #[schema(pattern = "^(open|snoozed|closed)$")]
    pub status: Option<String>,
    /// When the snooze ends (RFC 3339, in the future); only with `status: snoozed`.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// `none`, `low`, `medium`, `high` or `urgent`.
    #[schema(pattern = "^(none|low|medium|high|urgent)$")]
    pub priority: Option<String>,
    /// Label ids to put on the conversation (at most 50).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub labels_add: Vec<i64>,
    /// Label ids to take off the conversation (at most 50).
    #[serde(default)]
    #[schema(max_items = 50)]
    pub labels_remove: Vec<i64>,
}

/// Changes a visible conversation's triage: status (open, snoozed until a time, closed),
/// priority, labels. Every role may, on the conversations it sees.
#[utoipa::path(patch, path = "/conversations/{conversation_id}", tag = "conversations", params(("conversation_id" = i64, Path)), request_body = UpdateConversation,
    responses((status = 200, body = InboxRow), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<UpdateConversation>,
) -> ApiResult<Json<InboxRow>> {
    if let Some(s) = &input.status {
        check_status(s)?;
    }
    let priority =
        match input.priority.as_deref() {
            None => None,
            Some(p) => Some(priority_rank(p).ok_or_else(|| {
                ApiError::invalid("priority", "priority must be one of none, low, medium, high, urgent")
            })?),
        };
    for (field, ids) in [("labels_add", &input.labels_add), ("labels_remove", &input.labels_remove)] {
        if ids.len() > 50 {
            return Err(ApiError::invalid(field, format!("{field} takes at most 50 label ids")));
        }
    }
    if input.status.is_none()
        && input.snoozed_until.is_none()
        && priority.is_none()
        && input.labels_add.is_empty()
        && input.labels_remove.is_empty()
    {
        return Err(ApiError::invalid("status", "nothing to change: give status, priority or labels"));
    }
    let triage = conversations::Triage {
        status: input.status,
        snoozed_until: input.snoozed_until,
        priority,
        labels_add: input.labels_add,
        labels_remove: input.labels_remove,
    };
    Ok(Json(conversations::update(&state.pool, auth.viewer(), ConversationId(id), &triage).await?))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MessagesQuery {
    pub cursor: Option<String>,
    /// 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// Messages of a visible conversation, newest first (keyset pages).
#[utoipa::path(get, path = "/conversations/{conversation_id}/messages", tag = "conversations", params(("conversation_id" = i64, Path), MessagesQuery),
    responses((status = 200, body = MessagePage), (status = 404, body = ErrorBody)))]
async fn list_messages(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Query(q): Query<MessagesQuery>,
) -> ApiResult<Json<MessagePage>> {
    let limit = limit(q.limit, 50, 200)?;
    let after = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(Cursor::decode(c).ok_or_else(|| {
            ApiError::bad_request("invalid cursor: pass next_cursor from the previous page").with_field("cursor")
        })?),
    };
    Ok(Json(messages::list(&state.pool, auth.viewer(), ConversationId(id), after, limit).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMessage {
    /// Free text, 1 to 4,096 characters: only within 24 hours of the prospect's last message
    /// (WhatsApp's customer service window).
    #[schema(min_length = 1, max_length = 4096)]
    pub body: Option<String>,
    /// An approved template instead of `body`: allowed at any time.
    pub template: Option<TemplateInput>,
    /// An attachment uploaded with `POST /media`, instead of `body` (within the 24-hour window,
    /// like free text): uploaded to WhatsApp once and sent by its media id.
    pub media: Option<MediaInput>,
    /// Quote-reply: the id of a message of this conversation that WhatsApp has (received, or
    /// sent and accepted); sent as WhatsApp's `context.message_id`. 404 with `field` `reply_to`
    /// when it is not in this conversation, 422 `not_quotable` when WhatsApp does not have it.
    #[schema(minimum = 1)]
    pub reply_to: Option<i64>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MediaInput {
    /// The `id` `POST /media` answered.
    #[schema(minimum = 1)]
    pub id: i64,
    /// Shown under an image, a video or a document (1 to 1,024 characters).
    #[schema(min_length = 1, max_length = 1024)]
    pub caption: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateInput {
    pub name: String,
    /// e.g. `es_MX`.
    pub language: String,
    /// Values for the body's `{{1}}`, `{{2}}`..., as many as the template has.
    #[serde(default)]
    pub parameters: Vec<String>,
    /// The value of the text header's `{{1}}`, when the template's header has one.
    #[serde(default)]
    #[schema(max_items = 1)]
    pub header_parameters: Vec<String>,
}

/// Sends a message: stored as outbound, `queued`, and handed to the outbox in the same
/// transaction. Free text (and media) outside the 24-hour window is refused with
/// `outside_service_window`; send a template then. Media: an upload of the user's (`POST
/// /media`) not sent before (409 when it was; 404 with `field` `media.id` when it is not theirs).
#[utoipa::path(post, path = "/conversations/{conversation_id}/messages", tag = "conversations", params(("conversation_id" = i64, Path)), request_body = SendMessage,
    responses((status = 201, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn send(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<SendMessage>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    if input.reply_to.is_some_and(|r| r < 1) {
        return Err(Invalid::new("reply_to", "must be a message id").into());
    }
    let reply_to = input.reply_to.map(MessageId);
    let what = match (input.body, input.template, input.media) {
        (None, None, Some(m)) => {
            if m.id < 1 {
                return Err(Invalid::new("media.id", "must be the id POST /media answered").into());
            }
            let caption = match m.caption {
                Some(c) => {
                    let c = validate::body("media.caption", &c)?;
                    if c.chars().count() > 1024 {
                        return Err(Invalid::new("media.caption", "at most 1,024 characters").into());
                    }
                    Some(c)
                }
                None => None,
            };
            Outbound::Media { media_id: m.id, caption }
        }
        (Some(body), None, None) => Outbound::Text(validate::body("body", &body)?),
        (None, Some(t), None) => {
            let name = t.name.trim();
            if name.is_empty()
                || name.len() > 512
                || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(
                    Invalid::new("template.name", "must be a template name: lowercase letters, digits and _").into()
                );
            }
            let language = t.language.trim();
            if language.is_empty()
                || language.len() > 8
                || !language.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_')
            {
                return Err(Invalid::new("template.language", "must be a language code such as es_MX").into());
            }
            if t.parameters.len() > 32 {
                return Err(Invalid::new("template.parameters", "at most 32 parameters").into());
            }
            let params =
                t.parameters.iter().map(|p| validate::body("template.parameters", p)).collect::<Result<Vec<_>, _>>()?;
            if t.header_parameters.len() > 1 {
                return Err(Invalid::new("template.header_parameters", "at most 1 header parameter").into());
            }
            let header_params = t
                .header_parameters
                .iter()
                .map(|p| validate::body("template.header_parameters", p))
                .collect::<Result<Vec<_>, _>>()?;
            Outbound::Template(TemplateSend {
                name: name.to_owned(),
                language: language.to_owned(),
                params,
                header_params,
            })
        }
        (None, None, None) => {
            return Err(Invalid::new("body", "give a body (free text), a template or media").into());
        }
        (_, Some(_), _) => return Err(Invalid::new("template", "give one of body, template or media").into()),
        (Some(_), _, Some(_)) => return Err(Invalid::new("media", "give one of body, template or media").into()),
    };
    let sent = messages::send_replying(&state.pool, auth.viewer(), ConversationId(id), &what, reply_to).await?;
    Ok((StatusCode::CREATED, Json(sent)))
}

/// Marks every inbound message of a visible conversation read, and tells WhatsApp, when the caller
/// is its owner (the executive its prospect is assigned to) or it has none. Anyone else who reads
/// it (an admin, a coordinator) leaves its unread messages to the owner: `kept_for_owner`.
#[utoipa::path(post, path = "/conversations/{conversation_id}/read", tag = "conversations", params(("conversation_id" = i64, Path)),
    responses((status = 200, body = MarkedRead), (status = 404, body = ErrorBody)))]
async fn mark_read(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<MarkedRead>> {
    Ok(Json(messages::mark_read(&state.pool, auth.viewer(), ConversationId(id)).await?))
}

/// Sends a failed message again, when its `error.retryable` says a retry may work: it goes back
/// to `queued` with its error cleared. 409 `conflict` when the message is not a failed outbound
/// message; 422 `not_retryable` when its failure is final (send a template or fix the number).
#[utoipa::path(post, path = "/messages/{message_id}/retry", tag = "conversations", params(("message_id" = i64, Path)),
    responses((status = 200, body = Message), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
async fn retry_message(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Json<Message>> {
    Ok(Json(messages::retry(&state.pool, auth.viewer(), MessageId(id)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WriteNote {
    /// The note, 1 to 4,096 characters. Seen by everyone who sees the conversation; never sent
    /// to the prospect.
    #[schema(min_length = 1, max_length = 4096)]
    pub body: String,
    /// Teammates mentioned (user ids, at most 20): each must see the conversation (see `GET
    /// /conversations/{id}/mentionable`) and is notified (`note_mention`).
    #[serde(default)]
    #[schema(max_items = 20)]
    pub mentions: Vec<i64>,
}

/// Writes a private note in a visible conversation: a message of `kind` `note`, shown to
/// everyone who sees the conversation and live like messages, never sent to WhatsApp, allowed
/// whether or not the 24-hour window is open. 422 `mention_not_visible` names the mentioned
/// teammates who do not see the conversation; 422 `unknown_user` ids that are nobody's.
#[utoipa::path(post, path = "/conversations/{conversation_id}/notes", tag = "conversations", params(("conversation_id" = i64, Path)), request_body = WriteNote,
    responses((status = 201, body = Message), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
async fn write_note(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
    Json(input): Json<WriteNote>,
) -> ApiResult<(StatusCode, Json<Message>)> {
    let body = validate::body("body", &input.body)?;
    if input.mentions.len() > 20 {
        return Err(Invalid::new("mentions", "at most 20 mentions").into());
    }
    if input.mentions.iter().any(|m| *m < 1) {
        return Err(Invalid::new("mentions", "must be user ids").into());
    }
    let msg = messages::note(&state.pool, auth.viewer(), ConversationId(id), &body, &input.mentions).await?;
    Ok((StatusCode::CREATED, Json(msg)))
}

/// The teammates who may be mentioned in a visible conversation's notes: the active users who
/// see it, by name.
#[utoipa::path(get, path = "/conversations/{conversation_id}/mentionable", tag = "conversations", params(("conversation_id" = i64, Path)),
    responses((status = 200, body = Vec<Mentionable>), (status = 404, body = ErrorBody)))]
async fn mentionable(
    State(state): State<AppState>,
    auth: Auth,
    PathId(id): PathId,
) -> ApiResult<Json<Vec<Mentionable>>> {
    Ok(Json(messages::mentionable(&state.pool, auth.viewer(), ConversationId(id)).await?))
}
