//! `Idempotency-Key` on the creating requests ([`ROUTES`]): one middleware for all of them.
//!
//! A client that retries a request it is unsure of (a timeout, a cut connection) sends the same
//! `Idempotency-Key`: the request runs once, and every repeat gets the first answer back (with
//! `Idempotent-Replayed: true`). Keys are scoped to the tenant and the principal (a user's login
//! sessions share a scope; each API token has its own) and remembered for
//! [`platica_store::idempotency::TTL`] (the job kind `purge_idempotency_keys` deletes expired
//! ones). Answers:
//! - the same key with another method, path or body: 422 `idempotency_key_reused`;
//! - the same key while its first request still runs: 409 `idempotency_in_progress` with
//!   `Retry-After` (never a second run); a first request that never finished (the server stopped
//!   under it) leaves its key 409 `idempotency_interrupted`: its outcome is unknown, so it is not
//!   run again — check, then use a new key;
//! - a key that is not 1 to 255 visible ASCII characters: 400 `invalid_idempotency_key`.
//!
//! Stored answers are the 2xx ones and the 4xx of validation (400, 413, 415, 422); any other
//! answer (5xx, 401, 403, 404, 409, 429) releases the key, so a retry runs again. The request
//! runs in its own task: a client that hangs up, or the request timeout, never leaves a key
//! claimed without its answer.

use axum::body::Body;
use axum::extract::{FromRequestParts, MatchedPath, State};
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use platica_store::idempotency::{self, Claim, Fingerprint, Stored};
use platica_store::org::auth::TokenKind;
use tracing::Instrument;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";

/// The answer header that marks a replayed answer.
pub const REPLAYED: &str = "idempotent-replayed";

/// The creating operations (all `POST`) that honour the header, as routed.
pub const ROUTES: &[&str] = &[
    "/api/v1/teams",
    "/api/v1/users",
    "/api/v1/api-tokens",
    "/api/v1/prospects",
    "/api/v1/prospect-fields",
    "/api/v1/conversations/{conversation_id}/messages",
    "/api/v1/conversations/{conversation_id}/notes",
    "/api/v1/canned-replies",
    "/api/v1/messages/{message_id}/retry",
    "/api/v1/scheduled-calls",
    "/api/v1/campaigns",
    "/api/v1/labels",
    "/api/v1/tickets",
    "/api/v1/tickets/{ticket_id}/comments",
    "/api/v1/templates",
    "/api/v1/templates/submit",
    "/api/v1/jobs",
    "/api/v1/jobs/{job_id}/run",
    "/api/v1/bot/rules",
    "/api/v1/channels",
    "/api/v1/media",
];

/// A first request older than this that has not finished never will (the request timeout
/// answers far earlier): the server running it stopped.
const ABANDONED_AFTER: std::time::Duration =
    std::time::Duration::from_secs(2 * crate::extract::REQUEST_TIMEOUT.as_secs());

/// Whether an answer is stored for replay.
fn stored(status: StatusCode) -> bool {
    status.is_success()
        || matches!(
            status,
            StatusCode::BAD_REQUEST
                | StatusCode::PAYLOAD_TOO_LARGE
                | StatusCode::UNSUPPORTED_MEDIA_TYPE
                | StatusCode::UNPROCESSABLE_ENTITY
        )
}

fn key_error(message: &str) -> Response {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_idempotency_key", message)
        .with_field("Idempotency-Key")
        .into_response()
}

/// The middleware (a route layer: it needs the matched route).
pub async fn layer(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    if req.method() != Method::POST || !req.headers().contains_key(HEADER) {
        return next.run(req).await;
    }
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_owned());
    if !route.is_some_and(|r| ROUTES.contains(&r.as_str())) {
        return next.run(req).await;
    }
    let mut values = req.headers().get_all(HEADER).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return key_error("send one Idempotency-Key header, not several");
    };
    if !idempotency::valid_key(value.as_bytes()) {
        return key_error(
            "Idempotency-Key must be 1 to 255 visible ASCII characters (no spaces or control characters)",
        );
    }
    let key = String::from_utf8_lossy(value.as_bytes()).into_owned();

    let (mut parts, body) = req.into_parts();
    // Unauthenticated: the handler answers (401/403) as it would without the header.
    let principal = match Auth::from_request_parts(&mut parts, &state).await {
        Ok(Auth(p)) => p,
        Err(_) => return next.run(Request::from_parts(parts, body)).await,
    };
    let tenant = principal.viewer.tenant_id;
    let scope = match principal.kind {
        TokenKind::Session => format!("user:{}", principal.viewer.user_id.0),
        TokenKind::Api => format!("token:{}", principal.credential_id),
    };
    // Uploads are larger than other bodies (see routes::media).
    let limit = if parts.uri.path() == "/api/v1/media" {
        crate::routes::media::UPLOAD_LIMIT
    } else {
        crate::extract::BODY_LIMIT
    };
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is larger than the limit of {limit} bytes"),
        )
        .into_response();
    };
    let fp = Fingerprint::new(parts.method.as_str(), parts.uri.path(), &bytes);

    match idempotency::claim(&state.pool, tenant, &scope, &key, &fp, idempotency::TTL).await {
        Err(e) => ApiError::from(e).into_response(),
        Ok(Claim::Replay(answer)) => replay(answer),
        Ok(Claim::Mismatch) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used for a different request (method, path or body): use a new key",
        )
        .with_field("Idempotency-Key")
        .into_response(),
        Ok(Claim::InProgress { since }) => {
            let age = (chrono::Utc::now() - since).to_std().unwrap_or_default();
            if age > ABANDONED_AFTER {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_interrupted",
                    "the first request with this Idempotency-Key was interrupted and its outcome is unknown: check \
                     whether it took effect, then use a new key",
                )
                .with_field("Idempotency-Key")
                .into_response()
            } else {
                let mut err = ApiError::new(
                    StatusCode::CONFLICT,
                    "idempotency_in_progress",
                    "a request with this Idempotency-Key is still running: try again shortly",
                )
                .with_field("Idempotency-Key");
                err.retry_after = Some(1);
                err.into_response()
            }
        }
        Ok(Claim::Claimed) => {
            let req = Request::from_parts(parts, Body::from(bytes));
            let pool = state.pool.clone();
            let (key2, scope2) = (key.clone(), scope.clone());
            let run = tokio::spawn(
                async move {
                    let resp = next.run(req).await;
                    finish(&pool, tenant, &scope2, &key2, resp).await
                }
                .instrument(tracing::Span::current()),
            );
            match run.await {
                Ok(resp) => resp,
                Err(e) => {
                    tracing::error!(error = %e, "a request with an Idempotency-Key failed");
                    if let Err(e) = idempotency::release(&state.pool, tenant, &scope, &key).await {
                        tracing::warn!(error = %e, "could not release an idempotency key");
                    }
                    ApiError::internal().into_response()
                }
            }
        }
    }
}

/// Stores the answer of a claimed key (or releases it) and returns the answer.
async fn finish(
    pool: &platica_store::PgPool,
    tenant: platica_domain::TenantId,
    scope: &str,
    key: &str,
    resp: Response,
) -> Response {
    if !stored(resp.status()) {
        if let Err(e) = idempotency::release(pool, tenant, scope, key).await {
            tracing::warn!(error = %e, "could not release an idempotency key");
        }
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            // The answer could not be read: its effect is unknown, so the key stays claimed.
            tracing::error!(error = %e, "could not read an answer to store for its Idempotency-Key");
            return ApiError::internal().into_response();
        }
    };
    let answer = Stored {
        status: parts.status.as_u16(),
        content_type: parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: bytes.to_vec(),
    };
    if let Err(e) = idempotency::complete(pool, tenant, scope, key, &answer).await {
        // The effect took place: keeping the claim (409 on a retry) is safer than running twice.
        tracing::error!(error = %e, "could not store the answer of an Idempotency-Key");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(answer: Stored) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    let mut resp = (status, answer.body).into_response();
    let headers = resp.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Some(v) = answer.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(REPLAYED, HeaderValue::from_static("true"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_successes_and_validation_errors_are_stored() {
        for s in [200, 201, 204, 400, 413, 415, 422] {
            assert!(stored(StatusCode::from_u16(s).unwrap_or(StatusCode::OK)), "{s}");
        }
        for s in [401, 403, 404, 409, 429, 500, 503] {
            assert!(!stored(StatusCode::from_u16(s).unwrap_or(StatusCode::OK)), "{s}");
        }
    }
}
