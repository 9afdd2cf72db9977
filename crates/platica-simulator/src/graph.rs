//! The Graph API error shape: `{"error": {"message", "type", "code", "error_subcode"?,
//! "error_data"?, "fbtrace_id"}}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

/// A Graph error answer.
#[derive(Clone, Debug)]
pub struct GraphError {
    pub status: StatusCode,
    pub code: i64,
    pub subcode: Option<i64>,
    pub message: String,
    /// `error_data.details`, as the Cloud API adds for its own error codes.
    pub details: Option<String>,
}

impl GraphError {
    pub fn new(status: StatusCode, code: i64, message: impl Into<String>) -> Self {
        Self { status, code, subcode: None, message: message.into(), details: None }
    }

    /// 400, code 100: an invalid parameter.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 100, message)
    }

    /// 401, code 190: a missing or wrong access token.
    pub fn token(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, 190, message)
    }

    /// 404, code 100 subcode 33: an object that does not exist.
    pub fn unknown_object(id: &str) -> Self {
        Self {
            subcode: Some(33),
            ..Self::new(
                StatusCode::NOT_FOUND,
                100,
                format!(
                    "Unsupported post request. Object with ID '{id}' does not exist, cannot be loaded due to \
                     missing permissions, or does not support this operation."
                ),
            )
        }
    }

    pub fn with_details(mut self, details: impl Into<String>) -> Self {
        self.details = Some(details.into());
        self
    }

    pub fn body(&self) -> Value {
        let mut e = json!({
            "message": self.message,
            "type": "OAuthException",
            "code": self.code,
            "fbtrace_id": fbtrace_id(),
        });
        if let Some(s) = self.subcode {
            e["error_subcode"] = json!(s);
        }
        if let Some(d) = &self.details {
            e["error_data"] = json!({"messaging_product": "whatsapp", "details": d});
        }
        json!({ "error": e })
    }
}

impl IntoResponse for GraphError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

fn fbtrace_id() -> String {
    rand::rng().sample_iter(&Alphanumeric).take(11).map(char::from).collect()
}
