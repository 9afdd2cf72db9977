//! The WebSocket endpoint: one socket per browser tab carries all its subscriptions.

use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use platica_realtime::hub::{CREDENTIAL_ENDED, Credential, Queued};
use platica_realtime::protocol::{self, ClientMessage, frame};
use platica_store::org::auth::Principal;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ws))
}

/// How often the server pings; a client silent for [`IDLE_TIMEOUT`] is disconnected.
pub const PING_EVERY: Duration = Duration::from_secs(20);
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Realtime connections one user may hold at once (one per browser tab).
pub const MAX_PER_USER: usize = 32;
/// Largest client message.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Authenticated at upgrade: `token` query parameter, Bearer header or session cookie.
pub struct WsAuth(Principal);

impl FromRequestParts<AppState> for WsAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let query_token = parts.uri.query().and_then(|q| {
            q.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "token").map(|(_, v)| v.to_owned())
        });
        if let Some(token) = query_token {
            let principal = crate::auth::authenticate(state, &token, true).await?;
            if principal.kind == platica_store::org::auth::TokenKind::Session {
                // A browser's login session: only from this server's own pages.
                crate::edge::check_origin(&state.edge, parts)?;
            }
            return Ok(WsAuth(principal));
        }
        let Auth(p) = Auth::from_request_parts(parts, state).await?;
        Ok(WsAuth(p))
    }
}

/// Opens the realtime WebSocket (protocol in docs/realtime.md). Authenticate with the `token`
/// query parameter, a Bearer header or the session cookie; refused with 401 before the upgrade.
#[utoipa::path(get, path = "/ws", tag = "realtime",
    params(("token" = Option<String>, Query, description = "session or API token")),
    responses((status = 101, description = "switching to the WebSocket protocol"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 426, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn ws(
    State(state): State<AppState>,
    WsAuth(principal): WsAuth,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(StatusCode::UPGRADE_REQUIRED, "upgrade_required", format!("open this URL as a WebSocket: {e}"))
    })?;
    let Some(hub) = state.hub.as_ref().filter(|_| state.live.is_some()) else {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "realtime is not running"));
    };
    let viewer = &principal.viewer;
    if hub.user_connections(viewer.tenant_id, viewer.user_id.0) >= MAX_PER_USER {
        let mut err = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_connections",
            format!("at most {MAX_PER_USER} realtime connections per user: close another tab"),
        );
        err.retry_after = Some(5);
        return Err(err);
    }
    Ok(upgrade
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_message_size(MAX_MESSAGE)
        .on_upgrade(move |socket| session(socket, state, principal))
        .into_response())
}

fn close(code: u16, reason: &'static str) -> Message {
    Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn session(socket: WebSocket, state: AppState, principal: Principal) {
    let (Some(hub), Some(live)) = (state.hub.clone(), state.live.clone()) else { return };
    let tenant = principal.viewer.tenant_id;
    let user = principal.viewer.user_id.0;
    let credential = match principal.kind {
        platica_store::org::auth::TokenKind::Session => Credential::Session(principal.credential_id),
        platica_store::org::auth::TokenKind::Api => Credential::Api(principal.credential_id),
    };
    let (conn, mut queue) = hub.connect(tenant, user, Some(credential));
    // The socket closes when its credential expires (revocation comes through the hub).
    let expiry = principal
        .expires_at
        .map(|at| tokio::time::Instant::now() + (at - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO));
    let (mut tx, mut rx) = socket.split();
    let mut shutdown = state.shutdown.subscribe();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut heard = Instant::now();
    tracing::debug!(conn, tenant_id = tenant.0, user_id = user, "websocket open");
    // Read once per connection (never per event): the web version the tenant runs now.
    let app_version = platica_store::config::get(&state.pool, tenant, "app_version").await.ok().map(|e| e.value);
    let hello = frame::hello(&platica_changes::lsn::format(live.position()), user, app_version.as_ref());
    let mut ok = tx.send(Message::Text(hello.into())).await.is_ok();
    if let Some(since) = live.stale_since() {
        let f = frame::degraded(since, "live updates are paused: the change stream is reconnecting");
        ok = ok && tx.send(Message::Text(f.into())).await.is_ok();
    }
    while ok {
        tokio::select! {
            out = queue.recv() => match out {
                Some(Queued::Frame(text)) => ok = tx.send(Message::Text(text.into())).await.is_ok(),
                Some(Queued::Closing(text)) => {
                    let _ = tx.send(Message::Text(text.into())).await;
                    let _ = tx.send(close(close_code::POLICY, "session ended")).await;
                    break;
                }
                Some(Queued::Frames(frames)) => {
                    // A resume: every frame it replays, then one flush.
                    for text in frames {
                        ok = ok && tx.feed(Message::Text(text.into())).await.is_ok();
                    }
                    ok = ok && tx.flush().await.is_ok();
                }
                None => {
                    // Dropped by the hub (too slow, or access ended): say so and close.
                    let f = frame::reset(None, 0, &platica_changes::lsn::format(live.position()), "connection reset: reconnect, then refetch");
                    let _ = tx.send(Message::Text(f.into())).await;
                    let _ = tx.send(close(close_code::AGAIN, "reset")).await;
                    break;
                }
            },
            msg = rx.next() => {
                heard = Instant::now();
                match msg {
                    Some(Ok(Message::Text(text))) => handle(&hub, &live, conn, text.as_str()),
                    Some(Ok(Message::Binary(_))) => {
                        hub.send_direct(conn, frame::error(None, "bad_message", "send JSON text frames"));
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) => {
                        // Complete the closing handshake (the protocol layer queued the reply).
                        let _ = tx.flush().await;
                        break;
                    }
                    None | Some(Err(_)) => break,
                }
            }
            () = sleep_until_some(expiry) => {
                let f = frame::reset(None, 0, &platica_changes::lsn::format(live.position()), CREDENTIAL_ENDED);
                let _ = tx.send(Message::Text(f.into())).await;
                let _ = tx.send(close(close_code::POLICY, "session ended")).await;
                break;
            }
            _ = ping.tick() => {
                if heard.elapsed() > IDLE_TIMEOUT {
                    let _ = tx.send(close(close_code::POLICY, "idle timeout")).await;
                    break;
                }
                ok = tx.send(Message::Ping(Default::default())).await.is_ok();
            }
            changed = shutdown.changed() => {
                let closing = changed.is_err() || *shutdown.borrow_and_update();
                if closing {
                    let _ = tx.send(close(close_code::AWAY, "server shutting down")).await;
                    break;
                }
            }
        }
    }
    hub.disconnect(conn);
    tracing::debug!(conn, "websocket closed");
}

fn handle(hub: &platica_realtime::Hub, live: &platica_changes::LiveInbox, conn: u64, text: &str) {
    match protocol::parse(text) {
        Err(r) => hub.send_direct(conn, frame::error(None, r.code, &r.message)),
        Ok(ClientMessage::Ping { data }) => hub.send_direct(conn, frame::pong(data.as_ref())),
        Ok(ClientMessage::Unsubscribe { id }) => {
            if hub.unsubscribe(conn, &id) {
                hub.send_direct(conn, frame::unsubscribed(&id));
            } else {
                hub.send_direct(conn, frame::error(Some(&id), "not_found", &format!("no subscription {id:?}")));
            }
        }
        Ok(ClientMessage::Subscribe { id, topic, filters, events, since }) => {
            let since = match since.as_deref().map(|s| platica_changes::lsn::parse(s).ok_or(s)) {
                None => None,
                Some(Ok(l)) => Some(l),
                Some(Err(s)) => {
                    let m = format!("invalid since {s:?}: pass the lsn of the last frame you received");
                    hub.send_direct(conn, frame::error(Some(&id), "bad_subscription", &m));
                    return;
                }
            };
            let outcome = platica_realtime::topic::parse(&topic, &filters, events.as_deref())
                .and_then(|t| live.read(|engine| hub.subscribe(engine, live.position(), conn, &id, t, since)));
            if let Err(r) = outcome {
                hub.send_direct(conn, frame::error(Some(&id), r.code, &r.message));
            }
        }
    }
}
