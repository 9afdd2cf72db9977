//! Login, logout and "who am I".

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use platica_domain::{Role, validate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Auth, ClientIp, SESSION_COOKIE, SecureCookie, presented_token};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login)).routes(routes!(logout)).routes(routes!(me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The tenant's slug; may be left out when the e-mail exists in only one tenant.
    #[schema(max_length = 63, pattern = "^([a-z0-9][a-z0-9-]*)?$")]
    pub tenant: Option<String>,
    #[schema(min_length = 3, max_length = 254)]
    pub email: String,
    #[schema(min_length = 1, max_length = 4096)]
    pub password: String,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub tenant_id: i64,
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Teams the user coordinates (coordinators).
    pub team_ids: Vec<i64>,
    /// What the user may do (`platica_domain::policy`): the web app shows only these actions.
    pub capabilities: Vec<platica_domain::policy::Capability>,
}

impl Me {
    fn of(p: &platica_store::org::auth::Principal) -> Me {
        Me {
            tenant_id: p.viewer.tenant_id.0,
            user_id: p.viewer.user_id.0,
            email: p.email.clone(),
            display_name: p.display_name.clone(),
            role: p.viewer.role,
            team_ids: p.viewer.teams.iter().map(|t| t.0).collect(),
            capabilities: platica_domain::policy::capabilities(p.viewer.role),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`; also set as an HttpOnly cookie.
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub user: Me,
}

/// Logs in with e-mail and password.
#[utoipa::path(post, path = "/auth/login", tag = "auth", security(()), request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
        (status = 409, description = "the e-mail and password open accounts in several tenants: give `tenant`", body = ErrorBody),
        (status = 429, body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    SecureCookie(secure): SecureCookie,
    Json(req): Json<LoginRequest>,
) -> ApiResult<Response> {
    let email = validate::email("email", &req.email)?;
    if req.password.is_empty() || req.password.len() > 4096 {
        let err = ApiError::invalid("password", "password must be 1 to 4096 bytes");
        return Err(if req.password.is_empty() {
            err.because("required")
        } else {
            err.because("too_long").with_param("max", 4096)
        });
    }
    let tenant = req.tenant.as_deref().map(str::trim).filter(|t| !t.is_empty());
    if tenant.is_some_and(|t| !valid_slug(t)) {
        return Err(ApiError::invalid(
            "tenant",
            "tenant must be a tenant's slug: lower-case letters, digits and dashes",
        )
        .because("slug"));
    }
    let found = platica_store::org::auth::find_logins(&state.pool, tenant, &email).await;
    // Attempts count against the account they reach (whether or not the tenant was named: keying
    // on the request's own words would give each account one burst per way of naming it) from
    // this client's address: a stranger's wrong attempts never lock the owner out elsewhere.
    let account = match found.as_deref() {
        Ok([c]) => format!("{}#{}", c.tenant_id, c.user_id),
        _ => format!("{}|{email}", tenant.unwrap_or("")),
    };
    state.login_limits.check(&account, ip)?;
    let candidates = found?;
    // The password is checked against every account the e-mail names (a dummy hash when none),
    // before anything about them is said: that an e-mail exists in several tenants is told only
    // to someone who knows its password there.
    let hashes: Vec<String> = if candidates.is_empty() {
        vec![platica_store::org::password::dummy_hash().to_owned()]
    } else {
        candidates.iter().map(|c| c.password_hash.clone()).collect()
    };
    let password = req.password;
    let matched: Vec<bool> = tokio::task::spawn_blocking(move || {
        hashes.iter().map(|h| platica_store::org::password::verify(&password, h)).collect()
    })
    .await
    .map_err(|_| ApiError::internal())?;
    let refuse = || ApiError::unauthorized("wrong e-mail or password").because("wrong_credentials");
    let mut opened = candidates.into_iter().zip(matched).filter(|(c, ok)| *ok && c.active).map(|(c, _)| c);
    let candidate = match (opened.next(), opened.next()) {
        (Some(c), None) => c,
        (Some(_), Some(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "this e-mail address and password open accounts in several tenants: give the tenant",
            )
            .with_field("tenant")
            .because("several_tenants"));
        }
        (None, _) => {
            tracing::info!(%email, %ip, "login refused");
            return Err(refuse());
        }
    };
    let tenant_id = platica_domain::TenantId(candidate.tenant_id);
    let user_id = platica_domain::UserId(candidate.user_id);
    let (token, expires_at) = platica_store::org::auth::create_session(&state.pool, tenant_id, user_id).await?;
    let principal = platica_store::org::auth::authenticate(&state.pool, &token).await?.ok_or_else(refuse)?;
    tracing::info!(tenant_id = tenant_id.0, user_id = user_id.0, "login");
    let cookie = format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        platica_store::org::auth::SESSION_TTL.num_seconds(),
        if secure { "; Secure" } else { "" }
    );
    let body = LoginResponse { token, expires_at, user: Me::of(&principal) };
    let mut resp = Json(body).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The form of a tenant slug (as the `tenants.slug` check constraint has it).
fn valid_slug(slug: &str) -> bool {
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    slug.len() <= 63 && slug.starts_with(ok) && slug.chars().all(|c| ok(c) || c == '-')
}

/// Ends the current session (its token stops working) and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204), (status = 401, body = ErrorBody)))]
async fn logout(State(state): State<AppState>, _auth: Auth, headers: axum::http::HeaderMap) -> ApiResult<Response> {
    if let Some(token) = presented_token(&headers) {
        platica_store::org::auth::revoke_session(&state.pool, &token).await?;
        state.credentials.forget(&token);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let Ok(v) = HeaderValue::from_str(&clear) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(resp)
}

/// The logged-in user.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(auth: Auth) -> Json<Me> {
    Json(Me::of(&auth.0))
}
