//! The router: every route under `/api/v1`, documented in one OpenAPI document, and the layers
//! every request passes (request ids, tracing, panic guard, time limit, body limit, security
//! headers, read-your-writes barrier, freshness).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::State;
use axum::http::{HeaderName, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::extract::BODY_LIMIT;
use crate::routes;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Platica API", description = "A real-time WhatsApp sales inbox. Every endpoint answers errors as {\"error\": {\"code\", \"message\", \"field\"?}}."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Each resource's routes, documented.
fn parts() -> Vec<OpenApiRouter<AppState>> {
    vec![
        routes::auth::router(),
        routes::teams::router(),
        routes::users::router(),
        routes::tokens::router(),
        routes::prospects::router(),
        routes::search::router(),
        routes::reports::router(),
        routes::prospect_fields::router(),
        routes::conversations::router(),
        routes::canned::router(),
        routes::labels::router(),
        routes::media::router(),
        routes::config::router(),
        routes::admin::router(),
        routes::jobs::router(),
        routes::ws::router(),
        routes::bot::router(),
        routes::templates::router(),
        routes::campaigns::router(),
        // Calls, scheduled calls, tickets, notifications (issue 9).
        routes::calls::router(),
        routes::tickets::router(),
        routes::notifications::router(),
        routes::channels::router(),
        routes::whatsapp::router(),
    ]
}

/// The API's routes and their document, completed (see [`crate::openapi`]).
fn api() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = parts().into_iter().fold(OpenApiRouter::new(), OpenApiRouter::merge);
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1).split_for_parts();
    crate::openapi::complete(&mut doc);
    (router, doc)
}

/// The OpenAPI document of every route.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().1
}

/// Schema names two different types of the API claim (see
/// [`crate::openapi::schema_name_conflicts`]): empty when the document is exact.
pub fn schema_name_conflicts() -> Vec<String> {
    let docs: Vec<_> = parts().into_iter().map(|p| p.split_for_parts().1).collect();
    crate::openapi::schema_name_conflicts(&docs)
}

/// Request ids: a per-process random prefix and a counter, cheap and unique enough for logs.
#[derive(Clone)]
struct Ids {
    prefix: u32,
    next: Arc<AtomicU64>,
}

impl MakeRequestId for Ids {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{:08x}-{n}", self.prefix).parse().ok().map(RequestId::new)
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    crate::metrics::init();
    let (api, doc) = api();
    let doc = Arc::new(doc);
    let request_id = HeaderName::from_static("x-request-id");
    let ids = Ids { prefix: rand_prefix(), next: Arc::new(AtomicU64::new(1)) };
    api.route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::idempotency::layer))
        .route("/api/v1/openapi.json", get(move || async move { axum::Json(doc.as_ref().clone()) }))
        .route("/health", get(crate::ops::health))
        .route("/ready", get(crate::ops::ready))
        .route("/ops/verify", get(crate::ops::verify))
        .route(
            "/metrics",
            get(crate::metrics::scrape)
                .layer(axum::middleware::from_fn_with_state(state.edge.clone(), crate::edge::metrics_guard)),
        )
        .route("/static/platica-client.js", get(client_js))
        .merge(crate::web::router())
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), barrier))
        .layer(axum::middleware::from_fn_with_state(state.clone(), freshness))
        .route_layer(axum::middleware::from_fn(crate::metrics::track))
        .layer(axum::middleware::from_fn_with_state(state.edge.clone(), crate::edge::headers))
        .with_state(state.clone())
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // Outside every route, the fallbacks and the layers above: nothing escapes the limit.
        .layer(axum::middleware::from_fn_with_state(state.request_timeout, request_timeout))
        .layer(CatchPanicLayer::custom(|_| -> Response {
            tracing::error!("handler panicked");
            ApiError::internal().into_response()
        }))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id,
                    tenant_id = tracing::field::Empty, user_id = tracing::field::Empty)
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, ids))
}

/// Answers 503 `timeout` when a request takes longer than `limit` (the state's
/// `request_timeout`, by default [`crate::extract::REQUEST_TIMEOUT`]).
async fn request_timeout(
    State(limit): State<std::time::Duration>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => {
            tracing::warn!("request timed out");
            let mut err =
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "timeout", "the request took too long: try again");
            err.retry_after = Some(1);
            err.into_response()
        }
    }
}

/// The realtime client for browsers (static/platica-client.js, docs/realtime.md), embedded at build
/// time.
async fn client_js() -> impl IntoResponse {
    const JS: &str = include_str!("../../../static/platica-client.js");
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")], JS)
}

/// Write routes whose callers never ask for read-your-writes.
const NO_BARRIER: [&str; 2] = ["/api/v1/whatsapp/webhook", "/api/v1/calls/webhook"];

/// After a successful write, emits a barrier into the change stream and returns its LSN in the
/// `Platica-Lsn` header: a read with `min_lsn` set to it sees the write (read-your-writes).
async fn barrier(
    State(state): State<AppState>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    // Providers' webhooks (WhatsApp, calls) never read back: a barrier would be a wasted WAL
    // write and round trip on the busiest write path.
    let write = write && !NO_BARRIER.contains(&req.uri().path());
    let resp = next.run(req).await;
    if !write || !resp.status().is_success() || state.live.is_none() {
        return resp;
    }
    let lsn: Result<String, _> = sqlx::query_scalar("SELECT pg_logical_emit_message(false, $1, '')::text")
        .bind(platica_changes::live::BARRIER_PREFIX)
        .fetch_one(&state.pool)
        .await;
    match lsn.ok().and_then(|l| platica_changes::lsn::parse(&l)) {
        Some(lsn) => crate::live::with_lsn(resp, lsn),
        None => {
            tracing::warn!("could not emit a read-your-writes barrier");
            resp
        }
    }
}

/// While the live inbox is not following the change stream, every answer says since when its
/// state may be stale (`Platica-Stale-Since`, RFC 3339), so no client mistakes it for live.
async fn freshness(
    State(state): State<AppState>,
    req: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    let mut resp = next.run(req).await;
    if let Some(since) = state.live.as_ref().and_then(|l| l.stale_since())
        && let Ok(v) = header::HeaderValue::from_str(&since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    {
        resp.headers_mut().insert(crate::live::STALE_HEADER, v);
    }
    resp
}

fn rand_prefix() -> u32 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    t ^ std::process::id().rotate_left(16)
}
