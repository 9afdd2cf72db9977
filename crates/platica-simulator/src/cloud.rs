//! `POST /{version}/{phone_number_id}/messages`: sends and mark-as-read, as the Cloud API answers
//! them.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::graph::GraphError;
use crate::net::Conn;
use crate::state::{AfterAccept, MAX_KEPT, SentMessage, Sim};

/// Longest text body the Cloud API takes.
pub const MAX_TEXT_CHARS: usize = 4096;
/// Longest `biz_opaque_callback_data`.
pub const MAX_CALLBACK_CHARS: usize = 512;
/// Longest `Idempotency-Key`.
const MAX_IDEMPOTENCY_KEY: usize = 256;
/// Message types a send may have.
const TYPES: &[&str] = &[
    "text",
    "template",
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "interactive",
    "reaction",
];

/// The Bearer token of a request, if any.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = v.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Checks the token against the account's (401 code 190, 404 code 100 for an unknown number).
pub(crate) fn authorize(sim: &Sim, headers: &HeaderMap, phone_number_id: &str) -> Result<(), GraphError> {
    let Some(token) = bearer(headers) else {
        return Err(GraphError::token(
            "An active access token must be used to query information about the current user.",
        ));
    };
    let inner = sim.lock();
    let Some(acc) = inner.accounts.get(phone_number_id) else {
        return Err(GraphError::unknown_object(phone_number_id));
    };
    if acc.account.access_token != token {
        return Err(GraphError::token("Invalid OAuth access token - Cannot parse access token"));
    }
    Ok(())
}

/// What a valid send asks for.
struct Send {
    /// The recipient as given (`to`, or `recipient`).
    to: String,
    /// The recipient's number (digits); empty for a send addressed by business-scoped user id.
    wa_id: String,
    /// The recipient's business-scoped user id, for a send addressed by `recipient`.
    user_id: Option<String>,
    kind: String,
    text: Option<String>,
    template: Option<String>,
    template_language: Option<String>,
    template_components: Option<Value>,
    callback: Option<String>,
    context: Option<String>,
    media_id: Option<String>,
}

pub(crate) async fn messages(
    State(sim): State<Arc<Sim>>,
    ConnectInfo(conn): ConnectInfo<Conn>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match handle(&sim, &conn, &version, &phone_number_id, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(
    sim: &Arc<Sim>,
    conn: &Conn,
    version: &str,
    phone_number_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, GraphError> {
    if !valid_version(version) {
        return Err(GraphError::new(StatusCode::BAD_REQUEST, 2500, format!("Unknown path components: /{version}")));
    }
    if let Err(e) = authorize(sim, headers, phone_number_id) {
        sim.lock().stats.rejected += 1;
        return Err(e);
    }
    // A slow recipient: its sends hang first, whatever comes next.
    let slow = body.as_ref().ok().and_then(|b| {
        let v = serde_json::from_slice::<Value>(b).ok()?;
        let to = v.get("to").or_else(|| v.get("recipient"))?.as_str()?.to_owned();
        sim.lock().accounts.get(phone_number_id)?.recipient_delay.get(&to).copied()
    });
    if let Some(d) = slow {
        sim.sleep(d).await;
    }
    // Scripted answers come first: the request is not looked at.
    let (fault, delay) = {
        let mut inner = sim.lock();
        let Some(acc) = inner.accounts.get_mut(phone_number_id) else {
            return Err(GraphError::unknown_object(phone_number_id));
        };
        let r = (acc.faults.pop_front(), acc.delay);
        if r.0.is_some() {
            inner.stats.faults_injected += 1;
        }
        r
    };
    let after_accept = match fault {
        Some(f) if f.after_accept.is_some() => Some(f),
        Some(f) => {
            sim.sleep(delay).await;
            tracing::debug!(phone_number_id, status = ?f.status, "simulated fault");
            return Err(f.to_error());
        }
        None => None,
    };
    let result = accept(sim, phone_number_id, headers, body);
    if result.is_err() {
        sim.lock().stats.rejected += 1;
    }
    // Accepted, and then the answer goes wrong: the client cannot know it was sent.
    if let (Ok(_), Some(f)) = (&result, after_accept) {
        tracing::debug!(phone_number_id, after_accept = ?f.after_accept, "simulated fault after accepting");
        match f.after_accept {
            Some(AfterAccept::Hang) => {
                sim.sleep(Duration::from_millis(f.hang_ms.unwrap_or(0))).await;
            }
            Some(AfterAccept::Reset) => {
                conn.reset();
                return Ok(StatusCode::INTERNAL_SERVER_ERROR.into_response());
            }
            Some(AfterAccept::Error) => {
                sim.sleep(delay).await;
                return Err(f.to_error());
            }
            None => {}
        }
    }
    // The send happened (or not) before the answer is delayed: a client that times out does not
    // know, as with a real network.
    sim.sleep(delay).await;
    result.map(|v| Json(v).into_response())
}

pub(crate) fn valid_version(v: &str) -> bool {
    v.strip_prefix('v')
        .is_some_and(|n| !n.is_empty() && n.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
}

/// Validates and records a send or a mark-as-read; the answer body.
fn accept(
    sim: &Arc<Sim>,
    phone_number_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Value, GraphError> {
    let body = body.map_err(|e| GraphError::invalid(format!("(#100) Invalid request body: {e}")))?;
    let v: Value = serde_json::from_slice(&body)
        .map_err(|e| GraphError::invalid(format!("(#100) The request body is not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(GraphError::invalid("(#100) The request body must be a JSON object"));
    }
    match v.get("messaging_product").and_then(Value::as_str) {
        Some("whatsapp") => {}
        Some(_) => return Err(GraphError::invalid("(#100) Param messaging_product must be one of {WHATSAPP}")),
        None => return Err(GraphError::invalid("(#100) The parameter messaging_product is required.")),
    }
    if v.get("status").is_some() {
        return mark_read(sim, phone_number_id, &v);
    }
    let key = idempotency_key(headers)?;
    let send = validate(&v)?;

    let mut inner = sim.lock();
    let inner = &mut *inner;
    let Some(acc) = inner.accounts.get_mut(phone_number_id) else {
        return Err(GraphError::unknown_object(phone_number_id));
    };
    if let Some(k) = &key
        && !acc.ignore_idempotency_key
        && let Some(original) = acc.idempotency.get(k)
    {
        inner.stats.duplicates += 1;
        tracing::debug!(phone_number_id, idempotency_key = %k, "duplicate send answered from the record");
        return Ok(original.clone());
    }
    let wamid = sim.new_wamid();
    let answer = json!({
        "messaging_product": "whatsapp",
        "contacts": [match &send.user_id {
            Some(user_id) => json!({"input": send.to, "user_id": user_id}),
            None => json!({"input": send.to, "wa_id": send.wa_id}),
        }],
        "messages": [{"id": wamid}],
    });
    let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    acc.record_send(
        SentMessage {
            phone_number_id: phone_number_id.to_owned(),
            wamid: wamid.clone(),
            to: send.to,
            wa_id: send.wa_id.clone(),
            user_id: send.user_id.clone(),
            kind: send.kind,
            text: send.text,
            template: send.template,
            template_language: send.template_language,
            template_components: send.template_components,
            idempotency_key: key,
            biz_opaque_callback_data: send.callback,
            context_message_id: send.context,
            media_id: send.media_id,
            received_at,
            statuses: Vec::new(),
        },
        &answer,
    );
    inner.stats.sends += 1;
    tracing::debug!(phone_number_id, %wamid, "simulated send accepted");
    sim.spawn_status_flow(phone_number_id.to_owned(), wamid, send.wa_id);
    Ok(answer)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, GraphError> {
    let Some(raw) = headers.get("idempotency-key") else { return Ok(None) };
    let key = raw.to_str().map(str::trim).unwrap_or("");
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(GraphError::invalid(format!(
            "(#100) Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
        )));
    }
    Ok(Some(key.to_owned()))
}

fn mark_read(sim: &Sim, phone_number_id: &str, v: &Value) -> Result<Value, GraphError> {
    if v.get("status").and_then(Value::as_str) != Some("read") {
        return Err(GraphError::invalid("(#100) Param status must be one of {READ}"));
    }
    let Some(id) = v.get("message_id").and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(GraphError::invalid("(#100) The parameter message_id is required."));
    };
    if let Some(t) = v.get("typing_indicator")
        && t.get("type").and_then(Value::as_str) != Some("text")
    {
        return Err(GraphError::invalid("(#100) Param typing_indicator[type] must be one of {TEXT}"));
    }
    let mut inner = sim.lock();
    let Some(acc) = inner.accounts.get_mut(phone_number_id) else {
        return Err(GraphError::unknown_object(phone_number_id));
    };
    acc.reads.push_back(id.to_owned());
    if acc.reads.len() > MAX_KEPT {
        acc.reads.pop_front();
    }
    inner.stats.mark_read += 1;
    Ok(json!({"success": true}))
}

fn opt_str<'a>(v: &'a Value, key: &str) -> Result<Option<&'a str>, GraphError> {
    match v.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(GraphError::invalid(format!("(#100) Param {key} must be a string"))),
    }
}

fn validate(v: &Value) -> Result<Send, GraphError> {
    if let Some(rt) = opt_str(v, "recipient_type")?
        && rt != "individual"
    {
        return Err(GraphError::invalid("(#100) Param recipient_type must be one of {INDIVIDUAL}"));
    }
    // `to` (a phone number) wins over `recipient` (a business-scoped user id) when both are given.
    let to = opt_str(v, "to")?.map(str::trim).filter(|s| !s.is_empty());
    let recipient = opt_str(v, "recipient")?.map(str::trim).filter(|s| !s.is_empty());
    let (to, wa_id, user_id) = match (to, recipient) {
        (Some(to), _) => {
            let wa_id: String = to.chars().filter(|c| !matches!(c, '+' | ' ' | '-' | '(' | ')')).collect();
            if !(7..=15).contains(&wa_id.len()) || !wa_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(GraphError {
                    code: 131009,
                    ..GraphError::invalid("(#131009) Parameter value is not valid")
                }
                .with_details("to must be a phone number: 7 to 15 digits, optionally with a leading +"));
            }
            (to, wa_id, None)
        }
        (None, Some(r)) => {
            if platica_domain::validate::bsuid("recipient", r).is_err() {
                return Err(GraphError {
                    code: 131009,
                    ..GraphError::invalid("(#131009) Parameter value is not valid")
                }
                .with_details(
                    "recipient must be a business-scoped user id: a country code, a dot, then letters and digits",
                ));
            }
            (r, String::new(), Some(r.to_owned()))
        }
        (None, None) => return Err(GraphError::invalid("(#100) The parameter to is required.")),
    };
    let kind = opt_str(v, "type")?.unwrap_or("text").to_owned();
    if !TYPES.contains(&kind.as_str()) {
        return Err(GraphError::invalid(format!(
            "(#100) Param type must be one of {{{}}}",
            TYPES.join(", ").to_uppercase()
        )));
    }
    let Some(obj) = v.get(&kind).filter(|o| o.is_object() || (kind == "contacts" && o.is_array())) else {
        return Err(GraphError::invalid(format!("(#100) The parameter {kind} is required.")));
    };
    let callback = opt_str(v, "biz_opaque_callback_data")?.map(str::to_owned);
    if callback.as_ref().is_some_and(|c| c.chars().count() > MAX_CALLBACK_CHARS) {
        return Err(GraphError::invalid(format!(
            "(#100) Param biz_opaque_callback_data must be at most {MAX_CALLBACK_CHARS} characters long."
        )));
    }
    let context = match v.get("context") {
        None | Some(Value::Null) => None,
        Some(c) => Some(
            c.get("message_id")
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .ok_or_else(|| GraphError::invalid("(#100) The parameter context['message_id'] is required."))?
                .to_owned(),
        ),
    };
    let (mut text, mut template, mut template_language, mut template_components) = (None, None, None, None);
    let mut media_id = None;
    match kind.as_str() {
        "text" => {
            let body = obj.get("body").and_then(Value::as_str).unwrap_or("");
            if body.trim().is_empty() {
                return Err(GraphError::invalid("(#100) The parameter text['body'] is required."));
            }
            if body.chars().count() > MAX_TEXT_CHARS {
                return Err(GraphError::invalid(format!(
                    "(#100) Param text['body'] must be at most {MAX_TEXT_CHARS} characters long."
                )));
            }
            if obj.get("preview_url").is_some_and(|p| !p.is_boolean()) {
                return Err(GraphError::invalid("(#100) Param text['preview_url'] must be a boolean."));
            }
            text = Some(body.to_owned());
        }
        "template" => {
            let name = obj.get("name").and_then(Value::as_str).map(str::trim).unwrap_or("");
            if name.is_empty() || name.len() > 512 {
                return Err(GraphError::invalid("(#100) The parameter template['name'] is required."));
            }
            let Some(lang) = obj.pointer("/language/code").and_then(Value::as_str).filter(|c| !c.trim().is_empty())
            else {
                return Err(GraphError::invalid("(#100) The parameter template['language']['code'] is required."));
            };
            if obj.get("components").is_some_and(|c| !c.is_array()) {
                return Err(GraphError::invalid("(#100) Param template['components'] must be an array."));
            }
            template = Some(name.to_owned());
            template_language = Some(lang.to_owned());
            template_components = obj.get("components").cloned();
        }
        "image" | "audio" | "video" | "document" | "sticker" => {
            let has = |k: &str| obj.get(k).and_then(Value::as_str).is_some_and(|s| !s.trim().is_empty());
            if !has("id") && !has("link") {
                return Err(GraphError::invalid(format!(
                    "(#100) The parameter {kind}['id'] or {kind}['link'] is required."
                )));
            }
            text = obj.get("caption").and_then(Value::as_str).map(str::to_owned);
            media_id = obj.get("id").and_then(Value::as_str).map(str::to_owned);
        }
        "interactive" => {
            if obj.get("type").and_then(Value::as_str).is_none() {
                return Err(GraphError::invalid("(#100) The parameter interactive['type'] is required."));
            }
            text = obj.pointer("/body/text").and_then(Value::as_str).map(str::to_owned);
        }
        "reaction" => {
            if obj.get("message_id").and_then(Value::as_str).is_none() {
                return Err(GraphError::invalid("(#100) The parameter reaction['message_id'] is required."));
            }
            text = obj.get("emoji").and_then(Value::as_str).map(str::to_owned);
        }
        _ => {}
    }
    Ok(Send {
        to: to.to_owned(),
        wa_id,
        user_id,
        kind,
        text,
        template,
        template_language,
        template_components,
        callback,
        context,
        media_id,
    })
}
