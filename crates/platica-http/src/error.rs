//! The one error type of the API and its JSON shape:
//! `{"error": {"code": "...", "message": "...", "field": "..."}}`. (What a malformed request's
//! extractor rejects with becomes one in [`crate::extract`].)

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platica_domain::validate::Invalid;
use platica_store::StoreError;
use serde::Serialize;
use std::collections::BTreeMap;

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
    /// Finer than `code`, for clients to word (boxed: most errors have none, and a `Result`'s
    /// error stays small).
    pub finer: Option<Box<Finer>>,
}

/// Why, finer than an error's code, and the values that speak of it.
#[derive(Debug, Default)]
pub struct Finer {
    /// A stable code clients render in their reader's language.
    pub reason: Option<&'static str>,
    /// The values `reason` (or the code) speaks of (e.g. `max` for `too_long`).
    pub params: BTreeMap<&'static str, String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_input`.
    pub code: &'static str,
    /// A sentence for people.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Finer than `code`, when the server can say: e.g. `required`, `too_long`, `email` for
    /// `invalid_input`; `wrong_credentials` for a refused login. A stable code, for clients to
    /// word in their reader's language (`message` is English).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The values `reason` (or `code`) speaks of, as text: e.g. `{"max": "200", "has": "230"}`
    /// for `too_long`, `{"retry_after": "30"}` for `too_many_attempts`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<&'static str, String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, retry_after: None, finer: None }
    }

    /// Says why, finer than the code (see [`ErrorDetail::reason`]).
    pub fn because(mut self, reason: &'static str) -> Self {
        self.finer.get_or_insert_default().reason = Some(reason);
        self
    }

    /// Adds a value the reason speaks of.
    pub fn with_param(mut self, name: &'static str, value: impl ToString) -> Self {
        self.finer.get_or_insert_default().params.insert(name, value.to_string());
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message).with_field(field)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn unsupported_media_type() -> Self {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        )
    }

    pub fn internal() -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; it has been logged")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
                reason: self.finer.as_ref().and_then(|f| f.reason),
                params: self.finer.map(|f| f.params).unwrap_or_default(),
            },
        };
        let mut resp = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        let mut err = ApiError::invalid(e.field, format!("{}: {}", e.field, e.message)).because(e.reason.code());
        for (name, value) in e.params {
            err = err.with_param(name, value);
        }
        err
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { message, field } => {
                let err = ApiError::not_found(message);
                match field {
                    Some(f) => err.with_field(f),
                    None => err,
                }
            }
            StoreError::Forbidden(m) => ApiError::forbidden(m),
            StoreError::Conflict { message, field } => {
                let err = ApiError::new(StatusCode::CONFLICT, "conflict", message);
                match field {
                    Some(f) => err.with_field(f),
                    None => err,
                }
            }
            StoreError::Refused { code, message, field, params } => {
                let mut err = ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message);
                for (name, value) in params {
                    err = err.with_param(name, value);
                }
                match field {
                    Some(f) => err.with_field(f),
                    None => err,
                }
            }
            StoreError::Invalid(i) => i.into(),
            StoreError::Config(m) => {
                tracing::error!(error = %m, "configuration error");
                ApiError::internal()
            }
            e if e.is_unavailable() => {
                tracing::warn!(error = %e, "the database is unavailable");
                let mut err = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database is busy or unreachable, try again",
                );
                err.retry_after = Some(1);
                err
            }
            StoreError::Database(e) => {
                tracing::error!(error = %e, "database error");
                ApiError::internal()
            }
        }
    }
}
