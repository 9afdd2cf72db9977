//! The test and control API (`/_sim/...`) and the linked-device session API (`/_session/...`).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::cloud::{MAX_TEXT_CHARS, authorize};
use crate::config::SimAccount;
use crate::graph::GraphError;
use crate::state::{Fault, Sim};

/// Longest long poll.
pub const MAX_WAIT_MS: u64 = 30_000;
/// Most events one poll answers.
pub const MAX_EVENTS_PER_POLL: usize = 500;

type Answer = Result<Response, GraphError>;

fn body<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, GraphError> {
    let body = body.map_err(|e| GraphError::invalid(format!("invalid request body: {e}")))?;
    serde_json::from_slice(&body).map_err(|e| GraphError::invalid(format!("invalid request body: {e}")))
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, GraphError> {
    q.map(|Query(q)| q).map_err(|e| GraphError::invalid(format!("invalid query: {e}")))
}

fn known(sim: &Sim, phone_number_id: &str) -> Result<(), GraphError> {
    if sim.lock().accounts.contains_key(phone_number_id) {
        Ok(())
    } else {
        Err(GraphError::unknown_object(phone_number_id))
    }
}

fn unwrap_answer(a: Answer) -> Response {
    a.unwrap_or_else(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboundRequest {
    phone_number_id: String,
    from: String,
    #[serde(default)]
    name: Option<String>,
    text: String,
    /// Makes it a reply to this message (`context.id`).
    #[serde(default)]
    context_id: Option<String>,
}

/// `POST /_sim/inbound`: one inbound text message, now.
pub(crate) async fn inbound(State(sim): State<Arc<Sim>>, b: Result<Bytes, BytesRejection>) -> Response {
    unwrap_answer(inbound_inner(&sim, b))
}

fn inbound_inner(sim: &Sim, b: Result<Bytes, BytesRejection>) -> Answer {
    let r: InboundRequest = body(b)?;
    let wa_id = r.from.trim().trim_start_matches('+');
    if !(7..=15).contains(&wa_id.len()) || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(GraphError::invalid("from must be a phone number: 7 to 15 digits, optionally with a leading +"));
    }
    if r.text.trim().is_empty() || r.text.chars().count() > MAX_TEXT_CHARS {
        return Err(GraphError::invalid(format!("text must be 1 to {MAX_TEXT_CHARS} characters")));
    }
    known(sim, &r.phone_number_id)?;
    let name = r.name.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| format!("+{wa_id}"));
    let mut message = json!({"type": "text", "text": {"body": r.text}});
    if let Some(c) = r.context_id {
        message["context"] = json!({"id": c});
    }
    let id = sim
        .emit_inbound(&r.phone_number_id, wa_id, &name, message)
        .ok_or_else(|| GraphError::unknown_object(&r.phone_number_id))?;
    Ok(Json(json!({"id": id})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsRequest {
    phone_number_id: String,
    #[serde(default)]
    responses: Vec<Fault>,
    #[serde(default)]
    delay_ms: Option<u64>,
    #[serde(default)]
    ignore_idempotency_key: Option<bool>,
    /// Per recipient (`to`): how long each of its sends hangs before it is handled, in
    /// milliseconds (0 removes it). One slow recipient among prompt ones.
    #[serde(default)]
    recipient_delay_ms: Option<std::collections::HashMap<String, u64>>,
}

/// `POST /_sim/faults`: scripted answers for the next sends, and an answer delay.
pub(crate) async fn faults(State(sim): State<Arc<Sim>>, b: Result<Bytes, BytesRejection>) -> Response {
    unwrap_answer(faults_inner(&sim, b))
}

fn faults_inner(sim: &Sim, b: Result<Bytes, BytesRejection>) -> Answer {
    let r: FaultsRequest = body(b)?;
    if let Some(why) = r.responses.iter().find_map(Fault::invalid) {
        return Err(GraphError::invalid(why));
    }
    if r.delay_ms.is_some_and(|d| d > 600_000)
        || r.recipient_delay_ms.as_ref().is_some_and(|m| m.values().any(|d| *d > 600_000))
    {
        return Err(GraphError::invalid("delay_ms must be at most 600000"));
    }
    let mut inner = sim.lock();
    let Some(acc) = inner.accounts.get_mut(&r.phone_number_id) else {
        return Err(GraphError::unknown_object(&r.phone_number_id));
    };
    acc.faults.extend(r.responses);
    if let Some(d) = r.delay_ms {
        acc.delay = Duration::from_millis(d);
    }
    if let Some(ignore) = r.ignore_idempotency_key {
        acc.ignore_idempotency_key = ignore;
    }
    for (to, ms) in r.recipient_delay_ms.unwrap_or_default() {
        if ms == 0 {
            acc.recipient_delay.remove(&to);
        } else {
            acc.recipient_delay.insert(to, Duration::from_millis(ms));
        }
    }
    Ok(Json(json!({"queued": acc.faults.len(), "delay_ms": acc.delay.as_millis() as u64,
        "ignore_idempotency_key": acc.ignore_idempotency_key,
        "recipient_delays": acc.recipient_delay.len()}))
    .into_response())
}

#[derive(Deserialize)]
pub(crate) struct ByNumber {
    phone_number_id: Option<String>,
}

/// `GET /_sim/sent[?phone_number_id=]`: every accepted send, in order.
pub(crate) async fn sent(State(sim): State<Arc<Sim>>, q: Result<Query<ByNumber>, QueryRejection>) -> Response {
    unwrap_answer(query(q).and_then(|q| {
        let inner = sim.lock();
        if let Some(id) = &q.phone_number_id
            && !inner.accounts.contains_key(id)
        {
            return Err(GraphError::unknown_object(id));
        }
        let all: Vec<_> = inner
            .accounts
            .iter()
            .filter(|(id, _)| q.phone_number_id.as_ref().is_none_or(|w| w == *id))
            .flat_map(|(_, a)| a.sent.iter())
            .collect();
        Ok(Json(json!({"sent": all})).into_response())
    }))
}

/// `GET /_sim/reads[?phone_number_id=]`: message ids marked as read, in order.
pub(crate) async fn reads(State(sim): State<Arc<Sim>>, q: Result<Query<ByNumber>, QueryRejection>) -> Response {
    unwrap_answer(query(q).map(|q| {
        let inner = sim.lock();
        let all: Vec<Value> = inner
            .accounts
            .iter()
            .filter(|(id, _)| q.phone_number_id.as_ref().is_none_or(|w| w == *id))
            .flat_map(|(id, a)| a.reads.iter().map(move |m| json!({"phone_number_id": id, "message_id": m})))
            .collect();
        Json(json!({"reads": all})).into_response()
    }))
}

/// `GET /_sim/stats`.
pub(crate) async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    Json(sim.stats()).into_response()
}

/// `POST /_sim/accounts`: adds (or updates) an account.
pub(crate) async fn add_account(State(sim): State<Arc<Sim>>, b: Result<Bytes, BytesRejection>) -> Response {
    unwrap_answer(body::<SimAccount>(b).and_then(|a| {
        if a.phone_number_id.trim().is_empty() || a.access_token.is_empty() {
            return Err(GraphError::invalid("phone_number_id and access_token are required"));
        }
        let id = a.phone_number_id.clone();
        sim.add_account(a);
        Ok((StatusCode::CREATED, Json(json!({"phone_number_id": id}))).into_response())
    }))
}

/// `POST /_sim/sessions/{phone_number_id}/drop`.
pub(crate) async fn drop_session(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    if sim.drop_session(&id) {
        Json(json!({"state": "disconnected"})).into_response()
    } else {
        GraphError::unknown_object(&id).into_response()
    }
}

fn session_account(sim: &Sim, headers: &HeaderMap, id: &str) -> Result<(), GraphError> {
    authorize(sim, headers, id)?;
    if sim.lock().accounts.get(id).is_some_and(|a| a.account.session_mode) {
        Ok(())
    } else {
        Err(GraphError::invalid(format!("(#100) {id} is not a session-mode account")))
    }
}

fn disconnected() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"state": "disconnected"}))).into_response()
}

/// `POST /_session/{phone_number_id}/connect` (Bearer).
pub(crate) async fn connect(State(sim): State<Arc<Sim>>, Path(id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(delay) = sim.cfg.session.connect_delay {
        {
            let mut inner = sim.lock();
            inner.stats.connects_in_flight += 1;
            inner.stats.max_connects_in_flight = inner.stats.max_connects_in_flight.max(inner.stats.connects_in_flight);
        }
        let wait = delay.sample(&mut rand::rng());
        tokio::time::sleep(wait).await;
        sim.lock().stats.connects_in_flight -= 1;
    }
    unwrap_answer(session_account(&sim, &headers, &id).map(|()| {
        let session_id = sim.new_id("sess.");
        let mut inner = sim.lock();
        if let Some(a) = inner.accounts.get_mut(&id) {
            a.session.id = Some(session_id.clone());
            a.session.connects += 1;
            a.session.notify.notify_waiters();
        }
        tracing::info!(phone_number_id = %id, %session_id, "simulated session connected");
        Json(json!({"session_id": session_id, "state": "connected"})).into_response()
    }))
}

/// `GET /_session/{phone_number_id}/health`.
pub(crate) async fn health(State(sim): State<Arc<Sim>>, Path(id): Path<String>) -> Response {
    let inner = sim.lock();
    match inner.accounts.get(&id) {
        None => GraphError::unknown_object(&id).into_response(),
        Some(a) => match &a.session.id {
            Some(s) => Json(json!({"state": "connected", "session_id": s})).into_response(),
            None => disconnected(),
        },
    }
}

#[derive(Deserialize)]
pub(crate) struct EventsQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait_ms: u64,
}

/// `GET /_session/{phone_number_id}/events?after=&wait_ms=` (Bearer): buffered events with a seq
/// above `after`, waiting up to `wait_ms` for the first.
pub(crate) async fn events(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    q: Result<Query<EventsQuery>, QueryRejection>,
) -> Response {
    let q = match query(q).and_then(|q| session_account(&sim, &headers, &id).map(|()| q)) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_millis(q.wait_ms.min(MAX_WAIT_MS));
    loop {
        let notify = {
            let inner = sim.lock();
            let Some(a) = inner.accounts.get(&id) else { return GraphError::unknown_object(&id).into_response() };
            a.session.notify.clone()
        };
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let inner = sim.lock();
            let Some(a) = inner.accounts.get(&id) else { return GraphError::unknown_object(&id).into_response() };
            if a.session.id.is_none() {
                return disconnected();
            }
            let found = pending(&a.session.events, q.after);
            if !found.is_empty() || tokio::time::Instant::now() >= deadline {
                let next = found.last().and_then(|e| e.get("seq")).and_then(Value::as_u64).unwrap_or(q.after);
                return Json(json!({"events": found, "next": next})).into_response();
            }
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => {}
            () = sim.stopped() => return disconnected(),
        }
    }
}

fn pending(events: &VecDeque<(u64, Value)>, after: u64) -> Vec<Value> {
    events.iter().filter(|(s, _)| *s > after).take(MAX_EVENTS_PER_POLL).map(|(_, e)| e.clone()).collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AckRequest {
    seq: u64,
}

/// `POST /_session/{phone_number_id}/ack {"seq": N}` (Bearer): forgets the events up to N.
pub(crate) async fn ack(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    unwrap_answer((|| {
        session_account(&sim, &headers, &id)?;
        let r: AckRequest = body(b)?;
        let mut inner = sim.lock();
        let Some(a) = inner.accounts.get_mut(&id) else { return Err(GraphError::unknown_object(&id)) };
        if a.session.id.is_none() {
            return Ok(disconnected());
        }
        let before = a.session.events.len();
        a.session.events.retain(|(s, _)| *s > r.seq);
        let acked = before - a.session.events.len();
        Ok(Json(json!({"acked": acked, "buffered": a.session.events.len()})).into_response())
    })())
}

/// Anything else: Graph's unknown path.
pub(crate) async fn fallback() -> Response {
    GraphError::new(StatusCode::NOT_FOUND, 2500, "Unknown path components").into_response()
}
