//! Who is calling: the [`Auth`] extractor, and the login rate limits.
//!
//! A request authenticates with `Authorization: Bearer <token>` (a session or API token) or with
//! the `platica_session` cookie set at login. Every handler that takes [`Auth`] gets the
//! [`Viewer`] the visibility rule needs; handlers that take [`Admin`] also require the admin role.

use std::net::IpAddr;
use std::num::NonZeroU32;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{Method, header};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use platica_domain::Viewer;
use platica_store::auth::Principal;

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

/// The token of an `Authorization: Bearer` header, if any.
pub fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The token a request presents, if any: the Bearer header wins over the cookie.
pub fn presented_token(headers: &axum::http::HeaderMap) -> Option<String> {
    if headers.contains_key(header::AUTHORIZATION) {
        return bearer(headers).map(str::to_owned);
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
            crate::edge::check_origin(state, parts)?;
        }
        let reads = parts.method == Method::GET || parts.method == Method::HEAD;
        let principal = authenticate(state, &token, reads).await?;
        let span = tracing::Span::current();
        span.record("tenant_id", principal.viewer.tenant_id.0);
        span.record("user_id", principal.viewer.user_id.0);
        Ok(Auth(principal))
    }
}

/// Verifies `token` in PostgreSQL. For a read (`reads`), a credential verified recently stands in
/// while the database cannot answer (see [`crate::credentials`]).
pub async fn authenticate(state: &AppState, token: &str, reads: bool) -> Result<Principal, ApiError> {
    let degraded = state.live.as_ref().is_some_and(|l| l.stale_since().is_some());
    if reads
        && degraded
        && let Some(p) = state.credentials.recall(token)
    {
        return Ok(p);
    }
    match platica_store::auth::authenticate(&state.pool, token).await {
        Ok(Some(p)) => {
            state.credentials.remember(token, &p);
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

/// Login attempt limits: per account (tenant + e-mail) from one client address, and per client
/// address. Keyed per address, a stranger's trickle of wrong attempts from elsewhere never locks
/// the owner out; the limits refill, so a correct password after the wait always works.
pub struct LoginLimits {
    account: DefaultKeyedRateLimiter<String>,
    address: DefaultKeyedRateLimiter<IpAddr>,
}

/// Attempts an account may make in a burst, then one more per `ACCOUNT_PERIOD_SECS`.
pub const ACCOUNT_BURST: u32 = 10;
const ACCOUNT_PERIOD_SECS: u64 = 30;
/// Attempts one address may make in a burst, then one more per second.
pub const ADDRESS_BURST: u32 = 60;

impl Default for LoginLimits {
    fn default() -> Self {
        let burst = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let account = Quota::with_period(std::time::Duration::from_secs(ACCOUNT_PERIOD_SECS))
            .map(|q| q.allow_burst(burst(ACCOUNT_BURST)))
            .unwrap_or_else(|| Quota::per_minute(burst(2)));
        let address = Quota::per_second(burst(1)).allow_burst(burst(ADDRESS_BURST));
        LoginLimits { account: RateLimiter::keyed(account), address: RateLimiter::keyed(address) }
    }
}

impl LoginLimits {
    /// Counts one attempt; refuses with 429 and a `Retry-After` when a limit is exceeded.
    pub fn check(&self, account: &str, address: IpAddr) -> Result<(), ApiError> {
        if self.account.len() > 100_000 {
            self.account.retain_recent();
            self.address.retain_recent();
        }
        let clock = governor::clock::DefaultClock::default();
        let refuse = |wait: std::time::Duration| {
            let mut err = ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "too many login attempts: wait and try again",
            );
            err.retry_after = Some(wait.as_secs().max(1));
            err
        };
        use governor::clock::Clock;
        if let Err(not_until) = self.address.check_key(&address) {
            return Err(refuse(not_until.wait_time_from(clock.now())));
        }
        if let Err(not_until) = self.account.check_key(&format!("{account}@{address}")) {
            return Err(refuse(not_until.wait_time_from(clock.now())));
        }
        Ok(())
    }
}
