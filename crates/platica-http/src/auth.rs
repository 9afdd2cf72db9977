//! Who is calling: the [`Auth`] and [`Admin`] extractors, and the client's address and cookie
//! security as the edge settings see them ([`ClientIp`], [`SecureCookie`]).
//!
//! A request authenticates with `Authorization: Bearer <token>` (a session or API token) or with
//! the `platica_session` cookie set at login. Every handler that takes [`Auth`] gets the
//! [`Viewer`] the visibility rule needs; handlers that take [`Admin`] also require the admin role.

use std::net::IpAddr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use platica_domain::Viewer;
use platica_store::org::auth::Principal;

use crate::error::ApiError;
use crate::state::AppState;

/// The login cookie's name.
pub const SESSION_COOKIE: &str = "platica_session";

/// The authenticated caller.
pub struct Auth(pub Principal);

impl Auth {
    pub fn viewer(&self) -> &Viewer {
        &self.0.viewer
    }
}

/// The authenticated caller, who must be an admin.
pub struct Admin(pub Principal);

impl Admin {
    pub fn viewer(&self) -> &Viewer {
        &self.0.viewer
    }
}

/// The token a request presents, if any: the Bearer header wins over the cookie.
pub fn presented_token(headers: &axum::http::HeaderMap) -> Option<String> {
    if headers.contains_key(header::AUTHORIZATION) {
        return crate::edge::bearer(headers).map(str::to_owned);
    }
    cookie_token(headers)
}

/// The session cookie's token, if the request carries one.
fn cookie_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = presented_token(&parts.headers)
            .ok_or_else(|| ApiError::unauthorized("log in first: send Authorization: Bearer <token>"))?;
        if !parts.headers.contains_key(header::AUTHORIZATION) {
            // Authenticated by the browser's cookie: only from this server's own pages.
            crate::edge::check_origin(&state.edge, parts)?;
        }
        let reads = parts.method == Method::GET || parts.method == Method::HEAD;
        let principal = authenticate(state, &token, reads).await?;
        let span = tracing::Span::current();
        span.record("tenant_id", principal.viewer.tenant_id.0);
        span.record("user_id", principal.viewer.user_id.0);
        Ok(Auth(principal))
    }
}

/// Verifies `token`. A read (`reads`) answers from a recent verification while the change stream
/// is live (it forgets what changes), or while the database cannot answer; otherwise, and for
/// every write, PostgreSQL is asked (see [`crate::credentials`]).
pub async fn authenticate(state: &AppState, token: &str, reads: bool) -> Result<Principal, ApiError> {
    let stream = state.live.as_ref().map(|l| l.stale_since().is_none());
    if reads {
        let remembered = match stream {
            Some(true) => state.credentials.recall_live(token),
            Some(false) => state.credentials.recall(token),
            None => None,
        };
        if let Some(p) = remembered {
            return Ok(p);
        }
    }
    let epoch = state.credentials.epoch();
    match platica_store::org::auth::authenticate(&state.pool, token).await {
        Ok(Some(p)) => {
            state.credentials.remember_since(token, &p, epoch);
            Ok(p)
        }
        Ok(None) => {
            state.credentials.forget(token);
            Err(ApiError::unauthorized("the token is invalid, expired or revoked: log in again"))
        }
        Err(e) if reads && e.is_unavailable() => match state.credentials.recall(token) {
            Some(p) => {
                tracing::debug!(error = %e, "the database cannot verify a token: using its recent verification");
                Ok(p)
            }
            None => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Auth(principal) = Auth::from_request_parts(parts, state).await?;
        if !platica_domain::policy::may(&principal.viewer, platica_domain::policy::Capability::Administer) {
            return Err(ApiError::forbidden("only admins may do this"));
        }
        Ok(Admin(principal))
    }
}

/// The client's address, through trusted proxies (for rate limits and logs).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(state.edge.client_ip(crate::edge::peer(&parts.extensions), &parts.headers)))
    }
}

/// Whether a session cookie set in answer to this request must be `Secure`.
pub struct SecureCookie(pub bool);

impl FromRequestParts<AppState> for SecureCookie {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(SecureCookie(
            state.secure_cookies || state.edge.over_https(crate::edge::peer(&parts.extensions), &parts.headers),
        ))
    }
}
