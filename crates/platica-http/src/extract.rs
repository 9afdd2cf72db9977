//! Request extractors whose rejections are [`ApiError`]s, so malformed input always gets the
//! API's JSON error shape.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// A JSON body; unknown fields are refused by the target types (`deny_unknown_fields`).
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

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
