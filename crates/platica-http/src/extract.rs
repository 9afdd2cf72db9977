//! Request extractors whose rejections are [`ApiError`]s, so malformed input always gets the
//! API's JSON error shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

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
