//! The WhatsApp Cloud API webhook.
//!
//! - `GET /whatsapp/webhook`: the subscription handshake. The challenge is echoed when
//!   `hub.mode=subscribe` and `hub.verify_token` equals some channel account's verify token
//!   (compared in constant time); a wrong mode or token is 403, no token at all 401.
//! - `POST /whatsapp/webhook`: events. The raw body must carry `X-Hub-Signature-256:
//!   sha256=<hex>`, the HMAC-SHA256 of the body with the app secret of the account the payload
//!   names (`metadata.phone_number_id`); otherwise 401 and nothing is stored. When the payload
//!   names no known account (malformed JSON, unknown object, unknown number), the signature is
//!   checked against every account's app secret (one Meta app may serve several numbers), with
//!   keyed checks built once per few seconds and at a bounded rate (429 beyond it), so such
//!   webhooks cannot make the server decrypt every tenant's secrets per request.
//!   Messages and statuses are stored in one transaction before answering 200; an authenticated
//!   payload (or part of one) that cannot be used is logged to `webhook_events` and answered 200,
//!   so the Cloud API does not retry it forever. A database failure is a 500: the Cloud API
//!   retries, and ingestion is idempotent.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use platica_domain::signature;
use platica_store::secrets::SecretKey;
use platica_store::whatsapp::channels::{self, WebhookAccount};
use platica_store::whatsapp::ingest::{self as stored, IngestReport, WebhookEvent};
use platica_whatsapp::webhook::{self, HandshakeError, Number, WebhookPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Query;
use crate::state::AppState;
use crate::webhook_accounts::{Source, Verifier};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(verify, receive))
}

/// The signature header.
pub use platica_whatsapp::webhook::SIGNATURE_HEADER;

#[derive(Deserialize, IntoParams)]
pub struct VerifyQuery {
    /// Must be `subscribe`.
    #[serde(rename = "hub.mode")]
    #[param(rename = "hub.mode")]
    pub mode: Option<String>,
    /// Must equal a channel account's verify token.
    #[serde(rename = "hub.verify_token")]
    #[param(rename = "hub.verify_token")]
    pub verify_token: Option<String>,
    /// Echoed back on success.
    #[serde(rename = "hub.challenge")]
    #[param(rename = "hub.challenge")]
    pub challenge: Option<String>,
}

/// The webhook subscription handshake of the Cloud API (no bearer token: the verify token is the
/// credential).
#[utoipa::path(get, path = "/whatsapp/webhook", tag = "whatsapp", params(VerifyQuery), security(()),
    responses((status = 200, description = "the challenge, echoed", body = String, content_type = "text/plain"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn verify(State(state): State<AppState>, Query(q): Query<VerifyQuery>) -> ApiResult<Response> {
    let (token, challenge) = webhook::handshake(q.mode.as_deref(), q.verify_token.as_deref(), q.challenge.as_deref())
        .map_err(|e| {
        let err = match e {
            HandshakeError::MissingToken => ApiError::unauthorized(e.to_string()),
            HandshakeError::WrongMode => ApiError::forbidden(e.to_string()),
            HandshakeError::BadChallenge => ApiError::bad_request(e.to_string()),
        };
        err.with_field(e.field())
    })?;
    let key = state.secret_key()?;
    let stored = channels::verify_tokens(&state.pool, key).await?;
    let Some((t, account)) =
        webhook::matching_token(token, stored.into_iter().map(|(t, account, token)| ((t, account), token)))
    else {
        tracing::warn!("webhook verification with a wrong verify token");
        return Err(ApiError::forbidden("the verify token does not match"));
    };
    tracing::Span::current().record("tenant_id", t.0);
    tracing::info!(tenant_id = t.0, channel_account_id = account, "webhook subscription verified");
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge.to_owned()).into_response())
}

/// What the webhook did with a payload.
#[derive(Serialize, ToSchema, Default)]
pub struct WebhookReceipt {
    pub messages_stored: u32,
    pub messages_duplicate: u32,
    pub prospects_created: u32,
    pub statuses_applied: u32,
    pub statuses_stale: u32,
    pub statuses_unknown: u32,
    /// Messages whose reaction was set or removed (a reaction is not a message of its own).
    pub reactions_applied: u32,
    /// Prospects moved to their new number (`system` messages `user_changed_number`).
    pub numbers_changed: u32,
    /// Message templates whose review status changed (`message_template_status_update`).
    pub templates_updated: u32,
    /// Parts that were logged instead of stored (malformed, unknown, unverifiable).
    pub ignored: u32,
}

impl WebhookReceipt {
    fn add(&mut self, r: &IngestReport) {
        self.messages_stored += r.messages_stored;
        self.messages_duplicate += r.messages_duplicate;
        self.prospects_created += r.prospects_created;
        self.statuses_applied += r.statuses_applied;
        self.statuses_stale += r.statuses_stale;
        self.statuses_unknown += r.statuses_unknown;
    }
}

/// Receives Cloud API notifications (messages and statuses), signed with the app secret.
#[utoipa::path(post, path = "/whatsapp/webhook", tag = "whatsapp", security(()), request_body = WebhookPayload,
    params(("X-Hub-Signature-256" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body with the app secret>")),
    responses((status = 200, body = WebhookReceipt), (status = 401, body = ErrorBody), (status = 413, body = ErrorBody), (status = 429, body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<axum::Json<WebhookReceipt>> {
    let signature = signature(&headers)?;
    let body = body?;
    let key = state.secret_key()?;
    let json: Result<Value, serde_json::Error> = serde_json::from_slice(&body);
    let ids = webhook::named_numbers(json.as_ref().ok());
    let signed = authenticate(&state, key, &ids, &body, &signature).await?;
    tracing::Span::current().record("tenant_id", signed.authority.tenant_id.0);

    let mut receipt = WebhookReceipt::default();
    let notification = webhook::read(json, |id| {
        if signed.verified.contains_key(id) {
            Number::Verified
        } else if signed.named.contains_key(id) {
            Number::Unverified
        } else {
            Number::Unknown
        }
    });
    let mut problems = notification.problems;
    touch_health(&state, &signed).await;
    apply_template_reviews(&state, &signed.authority, &notification.template_statuses, &mut receipt, &mut problems)
        .await?;
    for (phone_number_id, found) in notification.events {
        let Some(account) = signed.verified.get(&phone_number_id) else { continue };
        record_channel_errors(&state, account, &found).await?;
    }
    for (phone_number_id, batch) in notification.batches {
        let Some(account) = signed.verified.get(&phone_number_id) else { continue };
        store_batch(&state, &phone_number_id, account, &batch, &mut receipt).await?;
    }
    if !problems.is_empty() {
        log_problems(&state, &signed.authority, &problems, &body, &mut receipt).await?;
    }
    Ok(axum::Json(receipt))
}

/// Who signed a webhook: the accounts of the numbers it names, those whose secret verified it,
/// and the account whose tenant it acts for.
struct Signed {
    named: BTreeMap<String, WebhookAccount>,
    verified: BTreeMap<String, WebhookAccount>,
    authority: WebhookAccount,
}

/// Authenticates a webhook with the named accounts' secrets (cached ones first, then as the
/// database has them now), else (no known number named) with any account's, at a bounded rate.
async fn authenticate(
    state: &AppState,
    key: &SecretKey,
    ids: &BTreeSet<String>,
    body: &[u8],
    signature: &[u8; 32],
) -> ApiResult<Signed> {
    let mut named = named_accounts(state, key, ids, false).await?;
    let mut verified = verified_of(&named, body, signature);
    if verified.is_empty() && named.values().any(|(_, source)| *source == Source::Cache) {
        named = named_accounts(state, key, ids, true).await?;
        verified = verified_of(&named, body, signature);
    }
    let named: BTreeMap<String, WebhookAccount> =
        named.into_iter().map(|(id, (v, _))| (id, v.account.clone())).collect();
    let authority = if let Some(a) = verified.values().next() {
        a.clone()
    } else if !named.is_empty() {
        let tenants: Vec<i64> = named.values().map(|a| a.tenant_id.0).collect();
        tracing::warn!(?tenants, "webhook with a wrong signature for its phone number");
        return Err(ApiError::unauthorized("the X-Hub-Signature-256 signature does not match"));
    } else {
        // Names no known number: checked against every account's keyed check (built once per
        // few seconds, never per request), at a bounded rate.
        if !state.webhook_accounts.admit_unknown() {
            state.webhook_accounts.refused("too many webhooks naming no known number");
            let mut err = ApiError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "too many webhooks naming no known phone number: wait and retry",
            );
            err.retry_after = Some(1);
            return Err(err);
        }
        let all = state.webhook_accounts.all(&state.pool, key).await?;
        match all.iter().find(|v| v.signed(body, signature)) {
            Some(v) => v.account.clone(),
            None => {
                state.webhook_accounts.refused("signature matches no channel account");
                return Err(ApiError::unauthorized("the X-Hub-Signature-256 signature does not match"));
            }
        }
    };
    Ok(Signed { named, verified, authority })
}

/// A webhook arrived for these numbers: their health says so (at most one write per number every
/// few seconds). A failure to record it is logged, never a refused webhook.
async fn touch_health(state: &AppState, signed: &Signed) {
    let mut done = BTreeSet::new();
    for a in signed.verified.values().chain(std::iter::once(&signed.authority)) {
        let key = (a.tenant_id.0, a.channel_account_id);
        if !done.insert(key) || !state.webhook_touches.due(key.0, key.1) {
            continue;
        }
        if let Err(e) =
            platica_store::whatsapp::channel_health::touch_webhook(&state.pool, a.tenant_id, a.channel_account_id).await
        {
            tracing::warn!(tenant_id = key.0, channel_account_id = key.1, error = %e, "cannot record a webhook's arrival");
        }
    }
}

/// Template reviews name only the WhatsApp Business Account: they apply within the tenant whose
/// account's secret signed the notification, never another's.
async fn apply_template_reviews(
    state: &AppState,
    authority: &WebhookAccount,
    reviews: &[webhook::TemplateStatus],
    receipt: &mut WebhookReceipt,
    problems: &mut Vec<webhook::Problem>,
) -> ApiResult<()> {
    for t in reviews {
        let applied = platica_store::whatsapp::templates::apply_template_status(
            &state.pool,
            authority.tenant_id,
            &t.waba_id,
            t.template_id.as_deref(),
            &t.name,
            &t.language,
            &t.status,
            t.reason.as_deref(),
        )
        .await;
        match applied {
            Ok(Some(_)) => receipt.templates_updated += 1,
            Ok(None) => problems.push(webhook::Problem {
                kind: "unknown_template",
                detail: format!("no template {:?} ({}) of WABA {}", t.name, t.language, t.waba_id),
            }),
            Err(platica_store::StoreError::Invalid(e)) => {
                problems.push(webhook::Problem { kind: "invalid_change", detail: e.to_string() })
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Errors WhatsApp reports in a webhook, for one account: counted, logged and kept in the
/// channel's event log.
async fn record_channel_errors(
    state: &AppState,
    account: &WebhookAccount,
    found: &[platica_store::whatsapp::channel_events::NewChannelEvent],
) -> ApiResult<()> {
    for e in found {
        let code = e.code.map_or_else(|| "none".to_owned(), |c| c.to_string());
        metrics::counter!("platica_whatsapp_webhook_errors_total", "code" => code).increment(1);
        tracing::warn!(tenant_id = account.tenant_id.0, channel_account_id = account.channel_account_id,
            kind = e.kind, code = ?e.code, title = %e.title, "WhatsApp reports an error in a webhook");
    }
    platica_store::whatsapp::channel_events::record(&state.pool, account.tenant_id, account.channel_account_id, found)
        .await?;
    // The newest becomes the number's last error (channel health).
    if let Some(last) = found.last() {
        let message = last.detail.as_deref().map_or_else(|| last.title.clone(), |d| format!("{}: {d}", last.title));
        platica_store::whatsapp::channel_health::record_webhook_error(
            &state.pool,
            account.tenant_id,
            account.channel_account_id,
            last.code,
            &message,
        )
        .await?;
    }
    Ok(())
}

/// Stores one account's messages and statuses (through the group-committing ingestor), then the
/// reactions and number changes that may name them, and hands new messages to the bot.
async fn store_batch(
    state: &AppState,
    phone_number_id: &str,
    account: &WebhookAccount,
    batch: &webhook::Batch,
    receipt: &mut WebhookReceipt,
) -> ApiResult<()> {
    let report = if batch.messages.is_empty() && batch.statuses.is_empty() {
        IngestReport::default()
    } else {
        match state.ingestor.ingest(account, &batch.messages, &batch.statuses).await {
            Ok(r) => r,
            Err(e) => {
                // Perhaps the account changed or went away: ask the database next time.
                state.webhook_accounts.forget(phone_number_id);
                return Err(e.into());
            }
        }
    };
    // After the messages: a reaction or a number change may name one of them.
    receipt.reactions_applied += stored::react(&state.pool, account.tenant_id, &batch.reactions).await?;
    for change in &batch.number_changes {
        receipt.numbers_changed += u32::from(stored::change_number(&state.pool, account.tenant_id, change).await?);
    }
    tracing::debug!(
        tenant_id = account.tenant_id.0,
        channel_account_id = account.channel_account_id,
        stored = report.messages_stored,
        duplicates = report.messages_duplicate,
        prospects = report.prospects_created,
        statuses = report.statuses_applied,
        "webhook ingested"
    );
    ingested_summary(
        u64::from(report.messages_stored),
        u64::from(report.messages_duplicate),
        u64::from(report.prospects_created),
        u64::from(report.statuses_applied),
    );
    if let Some(bot) = &state.bot {
        bot.on_inbound(account.tenant_id, &report.stored);
    }
    receipt.add(&report);
    Ok(())
}

/// What of the payload was not stored, logged once for the webhook with its body.
async fn log_problems(
    state: &AppState,
    authority: &WebhookAccount,
    problems: &[webhook::Problem],
    body: &[u8],
    receipt: &mut WebhookReceipt,
) -> ApiResult<()> {
    receipt.ignored = problems.len() as u32;
    let stored = receipt.messages_stored
        + receipt.messages_duplicate
        + receipt.statuses_applied
        + receipt.statuses_stale
        + receipt.statuses_unknown
        > 0;
    let detail: Vec<&str> = problems.iter().take(20).map(|p| p.detail.as_str()).collect();
    stored::log_event(
        &state.pool,
        &WebhookEvent {
            tenant: authority.tenant_id,
            channel_account_id: Some(authority.channel_account_id),
            kind: problems[0].kind,
            outcome: if stored { "partial" } else { "ignored" },
            error: Some(&detail.join("; ")),
            payload: body,
        },
    )
    .await?;
    Ok(())
}

/// The 32 bytes of `X-Hub-Signature-256: sha256=<64 hex digits>`.
fn signature(headers: &HeaderMap) -> ApiResult<[u8; 32]> {
    let raw = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| ApiError::unauthorized("the X-Hub-Signature-256 header is missing"))?;
    signature::parse(raw.to_str().unwrap_or_default())
        .map_err(|e| ApiError::unauthorized(format!("X-Hub-Signature-256 {e}")))
}

type Named = BTreeMap<String, (Arc<Verifier>, Source)>;

/// The known accounts among `ids`, by phone number id (from the cache unless `fresh`).
async fn named_accounts(state: &AppState, key: &SecretKey, ids: &BTreeSet<String>, fresh: bool) -> ApiResult<Named> {
    let mut out = BTreeMap::new();
    for id in ids {
        if let Some(found) = state.webhook_accounts.get(&state.pool, key, id, fresh).await? {
            out.insert(id.clone(), found);
        }
    }
    Ok(out)
}

/// The named accounts whose app secret signed the body.
fn verified_of(named: &Named, body: &[u8], signature: &[u8; 32]) -> BTreeMap<String, WebhookAccount> {
    named
        .iter()
        .filter(|(_, (v, _))| v.signed(body, signature))
        .map(|(id, (v, _))| (id.clone(), v.account.clone()))
        .collect()
}

/// How often the log sums up ingested webhooks (one line per webhook would flood it).
const INGEST_SUMMARY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Webhooks ingested since the last summary: (since, webhooks, stored, duplicates, prospects,
/// statuses).
static INGESTED: std::sync::Mutex<Option<(std::time::Instant, [u64; 5])>> = std::sync::Mutex::new(None);

/// Counts one ingested webhook; logs a summary line when [`INGEST_SUMMARY_EVERY`] has passed
/// since the last one (so a quiet server logs nothing, a busy one a line every 10 s).
fn ingested_summary(stored: u64, duplicates: u64, prospects: u64, statuses: u64) {
    let Ok(mut guard) = INGESTED.lock() else { return };
    let now = std::time::Instant::now();
    let (since, counts) = guard.get_or_insert((now, [0; 5]));
    for (c, n) in counts.iter_mut().zip([1, stored, duplicates, prospects, statuses]) {
        *c += n;
    }
    if now.duration_since(*since) >= INGEST_SUMMARY_EVERY {
        let [webhooks, stored, duplicates, prospects, statuses] = *counts;
        tracing::info!(
            webhooks,
            stored,
            duplicates,
            prospects,
            statuses,
            "webhooks ingested in the last {} s",
            now.duration_since(*since).as_secs()
        );
        *guard = Some((now, [0; 5]));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    #[test]
    fn the_webhook_is_documented_without_bearer_auth() {
        let doc = serde_json::to_value(crate::openapi()).unwrap();
        for method in ["get", "post"] {
            let op = &doc["paths"]["/api/v1/whatsapp/webhook"][method];
            assert_eq!(op["security"], serde_json::json!([{}]), "{method}: {op}");
        }
    }
}
