//! The request inputs every route shares: extractors whose rejections are [`ApiError`]s (so
//! malformed input always gets the API's JSON error shape), page sizes, path ids, nullable fields,
//! and the limits a request is held to (body size, answer time). Routes import from here, never
//! from each other's modules or from the router.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use serde::{Deserialize, Deserializer};

use crate::error::ApiError;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Every request is answered within this by default (503 `timeout` otherwise; see
/// `AppState::request_timeout`): no route holds a connection forever. (A WebSocket's upgrade
/// answers at once; the socket itself lives on.)
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest accepted secret, in characters (Cloud API access tokens are a few hundred).
pub const MAX_SECRET_CHARS: usize = 4096;

/// A JSON object body; unknown fields are refused by the target types (`deny_unknown_fields`).
///
/// Only an object is accepted: serde would otherwise read a JSON array as a struct's fields in
/// declaration order (`["x"]` as `{"name": "x"}`).
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(req, state).await?;
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            // Malformed JSON is reported as such; well-formed JSON of another type is invalid input.
            let _: axum::Json<serde::de::IgnoredAny> = axum::Json::from_bytes(&bytes)?;
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_input",
                "invalid body: expected a JSON object",
            ));
        }
        let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
        Ok(Json(value))
    }
}

/// `application/json` or `application/<anything>+json`, with any parameters.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match essence.split_once('/') {
        Some((kind, sub)) => kind == "application" && (sub == "json" || sub.ends_with("+json")),
        None => false,
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path parameters.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// The id in a path like `/prospects/{prospect_id}`: a positive integer, else 400 (before any
/// query runs).
pub struct PathId(pub i64);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<i64>::from_request_parts(parts, state).await?;
        id(raw, "path").map(PathId)
    }
}

/// Checks a page size: 1 to `max`, `default` when absent.
pub fn limit(raw: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match raw {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::invalid("limit", format!("limit must be between 1 and {max}, got {n}"))),
    }
}

/// Checks an id from the path: positive.
pub fn id(raw: i64, what: &str) -> Result<i64, ApiError> {
    if raw > 0 {
        Ok(raw)
    } else {
        Err(ApiError::bad_request(format!("invalid {what} id {raw}: ids are positive integers")))
    }
}

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(),
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(format!("malformed JSON: {}", source_text(&e))),
            JsonRejection::JsonDataError(e) => {
                let text = source_text(&e);
                let mut err =
                    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", format!("invalid body: {text}"));
                if let Some(f) = field_of(&text) {
                    err = err.with_field(f);
                }
                err
            }
            JsonRejection::BytesRejection(e) => e.into(),
            other => ApiError::bad_request(other.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("the body is larger than the limit of {} bytes", BODY_LIMIT),
            )
        } else {
            ApiError::bad_request(e.body_text())
        }
    }
}

/// The request field a deserialisation error is about. serde_path_to_error renders
/// `<path>: <message>` (no path at the top level); unknown, missing and repeated fields are named
/// in the message, missing and repeated ones relative to the path.
fn field_of(text: &str) -> Option<String> {
    let (path, message) = match text.split_once(": ") {
        Some((path, msg)) if !path.contains(' ') && path != "." => (Some(path), msg),
        _ => (None, text),
    };
    let inner = quoted_after(message, "missing field `").or_else(|| quoted_after(message, "duplicate field `"));
    if let Some(name) = inner {
        return Some(match path {
            Some(p) => format!("{p}.{name}"),
            None => name,
        });
    }
    path.map(str::to_owned).or_else(|| quoted_after(message, "unknown field `"))
}

fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest.split('`').next()?.to_owned())
}

fn source_text(e: &dyn std::error::Error) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(src) = inner.source() {
        inner = src;
    }
    inner.to_string()
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        let text = match &r {
            QueryRejection::FailedToDeserializeQueryString(e) => source_text(e),
            other => other.body_text(),
        };
        let mut err = ApiError::bad_request(format!("invalid query string: {text}"));
        if let Some(f) = field_of(&text) {
            err = err.with_field(f);
        }
        err
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        let text = match &r {
            PathRejection::FailedToDeserializePathParams(e) => e.body_text(),
            other => other.body_text(),
        };
        ApiError::bad_request(format!("invalid path: {text}"))
    }
}
