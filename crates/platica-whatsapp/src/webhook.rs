//! The Cloud API webhook's protocol, without HTTP: the subscription handshake's checks, the phone
//! number ids a notification names (to find the accounts whose app secrets must have signed it),
//! and turning an authenticated notification into per-number batches of inbound messages and
//! statuses, webhook-level errors, and the problems (parts that cannot be used) to log.
//!
//! The axum handler (platica-http `routes/whatsapp.rs`) reads the body and headers, looks the
//! accounts up, verifies the signature (`platica_domain::signature`), calls this, stores and
//! answers.

use std::collections::{BTreeMap, BTreeSet};

use platica_store::whatsapp::channel_events::NewChannelEvent;
use platica_store::whatsapp::ingest::{InboundMessage, NumberChange, Reaction, StatusUpdate};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use utoipa::ToSchema;

use crate::payload;

/// The signature header of Cloud API webhooks (`sha256=<hex>`).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Longest challenge echoed by the handshake.
pub const MAX_CHALLENGE: usize = 1024;
/// Most distinct phone number ids looked up for one payload.
pub const MAX_NUMBERS_PER_PAYLOAD: usize = 16;

// ---- the subscription handshake ----

/// Why a subscription handshake (`GET ?hub.mode&hub.verify_token&hub.challenge`) is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandshakeError {
    /// No `hub.verify_token` (or an empty one): 401.
    MissingToken,
    /// `hub.mode` is not `subscribe`: 403.
    WrongMode,
    /// `hub.challenge` is empty, too long or not printable: 400.
    BadChallenge,
}

impl HandshakeError {
    /// The query parameter at fault.
    pub fn field(self) -> &'static str {
        match self {
            HandshakeError::MissingToken => "hub.verify_token",
            HandshakeError::WrongMode => "hub.mode",
            HandshakeError::BadChallenge => "hub.challenge",
        }
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HandshakeError::MissingToken => f.write_str("hub.verify_token is missing"),
            HandshakeError::WrongMode => f.write_str("hub.mode must be subscribe"),
            HandshakeError::BadChallenge => {
                write!(f, "hub.challenge must be 1 to {MAX_CHALLENGE} printable characters")
            }
        }
    }
}

/// Checks a handshake's parameters (in this order: token present, mode, challenge) and returns
/// the presented token and the challenge to echo once the token matches ([`matching_token`]).
pub fn handshake<'a>(
    mode: Option<&str>,
    verify_token: Option<&'a str>,
    challenge: Option<&'a str>,
) -> Result<(&'a str, &'a str), HandshakeError> {
    let token = verify_token.filter(|t| !t.is_empty()).ok_or(HandshakeError::MissingToken)?;
    if mode != Some("subscribe") {
        return Err(HandshakeError::WrongMode);
    }
    let challenge = challenge.unwrap_or_default();
    if challenge.is_empty() || challenge.len() > MAX_CHALLENGE || challenge.chars().any(char::is_control) {
        return Err(HandshakeError::BadChallenge);
    }
    Ok((token, challenge))
}

/// Which of the stored verify tokens equals `presented` (the last one that does), comparing every
/// token (no early exit) as a fixed-length digest, in constant time.
pub fn matching_token<T>(presented: &str, stored: impl IntoIterator<Item = (T, String)>) -> Option<T> {
    let presented = Sha256::digest(presented.as_bytes());
    let mut matched = subtle::Choice::from(0);
    let mut found = None;
    for (who, token) in stored {
        let eq = Sha256::digest(token.as_bytes()).ct_eq(&presented);
        if bool::from(eq) {
            found = Some(who);
        }
        matched |= eq;
    }
    if bool::from(matched) { found } else { None }
}

// ---- notifications ----

/// A Cloud API notification (`{"object": "whatsapp_business_account", "entry": [...]}`).
#[derive(Deserialize, ToSchema)]
pub struct WebhookPayload {
    pub object: String,
    #[serde(default)]
    pub entry: Vec<Entry>,
}

#[derive(Deserialize, ToSchema)]
pub struct Entry {
    /// The WhatsApp Business Account id.
    pub id: Option<String>,
    #[serde(default)]
    pub changes: Vec<Change>,
}

#[derive(Deserialize, ToSchema)]
pub struct Change {
    /// `messages` for messages and statuses.
    pub field: String,
    /// `{messaging_product, metadata: {phone_number_id}, contacts, messages, statuses}`.
    #[schema(value_type = Object)]
    pub value: Value,
}

#[derive(Deserialize)]
struct ChangeValue {
    metadata: Metadata,
    /// The senders: `wa_id` (their number, when WhatsApp shows it), `user_id` (their
    /// business-scoped user id), `profile.name` / `profile.username`.
    #[serde(default)]
    contacts: Value,
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    statuses: Vec<Value>,
    /// Errors about the account rather than one message (e.g. 130429 throughput exceeded).
    #[serde(default)]
    errors: Vec<Value>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

/// The phone number ids a payload names (at most [`MAX_NUMBERS_PER_PAYLOAD`], each 1 to 32
/// bytes): the accounts whose app secret must have signed it.
pub fn named_numbers(json: Option<&Value>) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    if let Some(entries) = json.and_then(|v| v.get("entry")).and_then(Value::as_array) {
        for change in entries.iter().filter_map(|e| e.get("changes")).filter_map(Value::as_array).flatten() {
            if let Some(id) = change.pointer("/value/metadata/phone_number_id").and_then(Value::as_str)
                && ids.len() < MAX_NUMBERS_PER_PAYLOAD
                && !id.is_empty()
                && id.len() <= 32
            {
                ids.insert(id.to_owned());
            }
        }
    }
    ids
}

/// What the caller knows of a phone number id a change names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Number {
    /// A channel account has it, and its app secret signed the payload: its changes are used.
    Verified,
    /// A channel account has it, but its app secret did not sign this payload.
    Unverified,
    /// No channel account has it.
    Unknown,
}

/// Something in an authenticated payload that was not stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// `malformed_json`, `unknown_payload`, `unknown_object`, `empty_payload`, `unknown_field`,
    /// `invalid_change`, `unverified_phone_number_id`, `unknown_phone_number_id`,
    /// `invalid_message`, `invalid_status`, `unknown_template`.
    pub kind: &'static str,
    pub detail: String,
}

/// A verified number's share of a notification.
#[derive(Debug, Default)]
pub struct Batch {
    pub messages: Vec<InboundMessage>,
    pub statuses: Vec<StatusUpdate>,
    /// Reactions: not messages, they update the message they react to (after `messages`).
    pub reactions: Vec<Reaction>,
    /// Number changes announced by `system` messages (applied after `messages`).
    pub number_changes: Vec<NumberChange>,
}

/// A template's review status changed (`message_template_status_update`): its WhatsApp Business
/// Account, ids and the new status (`APPROVED`, `REJECTED`, `PAUSED`...).
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateStatus {
    pub waba_id: String,
    pub template_id: Option<String>,
    pub name: String,
    pub language: String,
    pub status: String,
    pub reason: Option<String>,
}

/// An authenticated notification, read.
#[derive(Debug, Default)]
pub struct Notification {
    /// Messages and statuses by phone number id (verified numbers only).
    pub batches: BTreeMap<String, Batch>,
    /// Webhook-level errors (a change value's `errors`, a message's `errors`) by phone number id.
    pub events: BTreeMap<String, Vec<NewChannelEvent>>,
    /// Template review changes. They name no phone number: they belong to the tenant whose
    /// account's secret signed the notification.
    pub template_statuses: Vec<TemplateStatus>,
    /// What could not be used, to log.
    pub problems: Vec<Problem>,
}

/// A `message_template_status_update` value: `{event, message_template_id, message_template_name,
/// message_template_language, reason}` (the id is a number or a string).
fn template_status(waba: &str, v: &Value) -> Option<TemplateStatus> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned).filter(|s| !s.is_empty());
    let template_id = match v.get("message_template_id") {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    // PostgreSQL stores no NUL: such an update is refused, not a failed transaction.
    if waba.is_empty() || waba.contains('\0') || payload::has_nul(v) {
        return None;
    }
    Some(TemplateStatus {
        waba_id: waba.to_owned(),
        template_id,
        name: text("message_template_name")?,
        language: text("message_template_language")?,
        status: text("event")?,
        reason: text("reason"),
    })
}

/// Reads an authenticated notification (`json`, the body as parsed): the changes of verified
/// numbers become batches and events; everything else becomes a problem.
pub fn read(json: Result<Value, serde_json::Error>, number: impl Fn(&str) -> Number) -> Notification {
    let mut out = Notification::default();
    let v = match json {
        Ok(v) => v,
        Err(e) => {
            out.problems.push(Problem { kind: "malformed_json", detail: format!("malformed JSON: {e}") });
            return out;
        }
    };
    let payload: WebhookPayload = match serde_json::from_value(v) {
        Ok(p) => p,
        Err(e) => {
            out.problems
                .push(Problem { kind: "unknown_payload", detail: format!("not a Cloud API notification: {e}") });
            return out;
        }
    };
    if payload.object != "whatsapp_business_account" {
        out.problems.push(Problem { kind: "unknown_object", detail: format!("unknown object {:?}", payload.object) });
        return out;
    }
    if payload.entry.iter().all(|e| e.changes.is_empty()) {
        out.problems.push(Problem { kind: "empty_payload", detail: "no entry has changes".to_owned() });
        return out;
    }
    for (waba, change) in payload.entry.into_iter().flat_map(|e| {
        let waba = e.id.unwrap_or_default();
        e.changes.into_iter().map(move |c| (waba.clone(), c))
    }) {
        if change.field == "message_template_status_update" {
            match template_status(&waba, &change.value) {
                Some(t) => out.template_statuses.push(t),
                None => out.problems.push(Problem {
                    kind: "invalid_change",
                    detail: "a template status update without its WhatsApp Business Account, name, language or event, \
                             or with a NUL character"
                        .to_owned(),
                }),
            }
            continue;
        }
        if change.field != "messages" {
            out.problems.push(Problem { kind: "unknown_field", detail: format!("unknown field {:?}", change.field) });
            continue;
        }
        let value: ChangeValue = match serde_json::from_value(change.value) {
            Ok(v) => v,
            Err(e) => {
                out.problems.push(Problem { kind: "invalid_change", detail: format!("invalid change value: {e}") });
                continue;
            }
        };
        let id = value.metadata.phone_number_id;
        let (kind, what) = match number(&id) {
            Number::Verified => ("", ""),
            Number::Unverified => ("unverified_phone_number_id", "its app secret did not sign this payload"),
            Number::Unknown => ("unknown_phone_number_id", "no channel account has it"),
        };
        if !kind.is_empty() {
            out.problems.push(Problem { kind, detail: format!("phone_number_id {id}: {what}") });
            continue;
        }
        let contacts = payload::Contacts::read(Some(&value.contacts));
        // An error object holding a NUL character cannot be stored (PostgreSQL takes none): it is
        // a problem to log, not a failed transaction.
        let mut refused = 0;
        let found: Vec<NewChannelEvent> = value
            .errors
            .into_iter()
            .filter(Value::is_object)
            .map(|e| ("webhook_error", e))
            .chain(value.messages.iter().flat_map(|m| {
                m.get("errors")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter(|e| e.is_object())
                    .map(|e| ("message_error", e.clone()))
            }))
            .filter(|(_, e)| {
                let nul = payload::has_nul(e);
                refused += usize::from(nul);
                !nul
            })
            .map(|(kind, e)| NewChannelEvent::from_error(kind, e))
            .collect();
        if refused > 0 {
            out.problems.push(Problem {
                kind: "invalid_change",
                detail: format!("phone_number_id {id}: {refused} error object(s) with a NUL character"),
            });
        }
        if !found.is_empty() {
            out.events.entry(id.clone()).or_default().extend(found);
        }
        let batch = out.batches.entry(id).or_default();
        for m in value.messages {
            if let Some(r) = payload::reaction(&m) {
                match r {
                    Ok(r) => batch.reactions.push(r),
                    Err(detail) => out.problems.push(Problem { kind: "invalid_message", detail }),
                }
                continue;
            }
            match payload::message(m, &contacts) {
                Ok(m) => {
                    match payload::number_change(&m) {
                        Some(Ok(c)) => batch.number_changes.push(c),
                        Some(Err(detail)) => out.problems.push(Problem { kind: "invalid_message", detail }),
                        None => {}
                    }
                    batch.messages.push(m);
                }
                Err(detail) => out.problems.push(Problem { kind: "invalid_message", detail }),
            }
        }
        for s in value.statuses {
            match payload::status(s) {
                Ok(s) => batch.statuses.push(s),
                Err(detail) => out.problems.push(Problem { kind: "invalid_status", detail }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use serde_json::json;

    use super::*;

    fn notification(phone_number_id: &str, value: Value) -> Value {
        let mut value = value;
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] = json!({"display_phone_number": "15550001111", "phone_number_id": phone_number_id});
        json!({"object": "whatsapp_business_account",
               "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}]})
    }

    fn only(id: &'static str) -> impl Fn(&str) -> Number {
        move |n| if n == id { Number::Verified } else { Number::Unknown }
    }

    #[test]
    fn handshake_checks_token_then_mode_then_challenge() {
        assert_eq!(handshake(Some("subscribe"), Some("tok"), Some("123")), Ok(("tok", "123")));
        assert_eq!(handshake(Some("subscribe"), None, Some("1")), Err(HandshakeError::MissingToken));
        assert_eq!(handshake(Some("unsubscribe"), Some(""), Some("1")), Err(HandshakeError::MissingToken));
        assert_eq!(handshake(Some("unsubscribe"), Some("tok"), Some("1")), Err(HandshakeError::WrongMode));
        assert_eq!(handshake(None, Some("tok"), Some("1")), Err(HandshakeError::WrongMode));
        assert_eq!(handshake(Some("subscribe"), Some("tok"), None), Err(HandshakeError::BadChallenge));
        assert_eq!(handshake(Some("subscribe"), Some("tok"), Some("a\nb")), Err(HandshakeError::BadChallenge));
        let long = "x".repeat(MAX_CHALLENGE + 1);
        assert_eq!(handshake(Some("subscribe"), Some("tok"), Some(&long)), Err(HandshakeError::BadChallenge));
        assert_eq!(HandshakeError::BadChallenge.field(), "hub.challenge");
    }

    #[test]
    fn tokens_match_exactly() {
        let stored = || vec![(1, "alpha".to_owned()), (2, "beta".to_owned())];
        assert_eq!(matching_token("beta", stored()), Some(2));
        assert_eq!(matching_token("alpha", stored()), Some(1));
        assert_eq!(matching_token("bet", stored()), None);
        assert_eq!(matching_token("betaa", stored()), None);
        assert_eq!(matching_token("beta", Vec::<(i32, String)>::new()), None);
    }

    #[test]
    fn named_numbers_are_bounded() {
        let mut changes = Vec::new();
        for i in 0..40 {
            changes.push(json!({"field": "messages", "value": {"metadata": {"phone_number_id": format!("{i:03}")}}}));
        }
        changes.push(json!({"field": "messages", "value": {"metadata": {"phone_number_id": ""}}}));
        changes.push(json!({"field": "messages", "value": {"metadata": {"phone_number_id": "9".repeat(33)}}}));
        let v = json!({"object": "whatsapp_business_account", "entry": [{"changes": changes}]});
        let ids = named_numbers(Some(&v));
        assert_eq!(ids.len(), MAX_NUMBERS_PER_PAYLOAD);
        assert!(ids.iter().all(|i| i.len() == 3));
        assert!(named_numbers(None).is_empty());
        assert!(named_numbers(Some(&json!({"entry": "x"}))).is_empty());
    }

    #[test]
    fn messages_statuses_and_errors_go_to_their_number() {
        let v = notification(
            "P1",
            json!({
                "contacts": [{"wa_id": "5215512345678", "profile": {"name": "Ana"}}],
                "messages": [
                    {"from": "5215512345678", "id": "wamid.1", "timestamp": "1700000000", "type": "text",
                     "text": {"body": "hola"}},
                    {"from": "5215512345678", "id": "wamid.2", "timestamp": "1700000001", "type": "unsupported",
                     "errors": [{"code": 131051, "title": "Message type unknown"}]},
                    {"from": "abc", "id": "wamid.3", "type": "text", "text": {"body": "x"}}
                ],
                "statuses": [{"id": "wamid.out", "status": "read", "timestamp": "1700000002",
                              "recipient_id": "5215512345678"},
                             {"id": "wamid.out2", "status": "teleported"}],
                "errors": [{"code": 130429, "title": "Rate limit hit"}]
            }),
        );
        let n = read(Ok(v), only("P1"));
        let b = &n.batches["P1"];
        assert_eq!(b.messages.len(), 2);
        assert_eq!(b.messages[0].body, "hola");
        assert_eq!(b.messages[0].profile_name.as_deref(), Some("Ana"));
        assert_eq!(b.statuses.len(), 1);
        let codes: Vec<(&str, Option<i32>)> = n.events["P1"].iter().map(|e| (e.kind, e.code)).collect();
        assert_eq!(codes, [("webhook_error", Some(130429)), ("message_error", Some(131051))]);
        let kinds: Vec<&str> = n.problems.iter().map(|p| p.kind).collect();
        assert_eq!(kinds, ["invalid_message", "invalid_status"]);
    }

    #[test]
    fn reactions_and_number_changes_are_set_apart() {
        let v = notification(
            "P1",
            json!({"messages": [
                {"from": "5215512345678", "id": "wamid.R", "type": "reaction",
                 "reaction": {"message_id": "wamid.T", "emoji": "❤️"}},
                {"from": "5215512345678", "id": "wamid.R2", "type": "reaction",
                 "reaction": {"message_id": "wamid.T", "emoji": ""}},
                {"from": "5215512345678", "id": "wamid.S", "type": "system",
                 "system": {"body": "changed", "new_wa_id": "5215599999999", "type": "user_changed_number"}},
                {"from": "5215512345678", "id": "wamid.R3", "type": "reaction", "reaction": {"emoji": "x"}}
            ]}),
        );
        let n = read(Ok(v), only("P1"));
        let b = &n.batches["P1"];
        let r: Vec<(&str, Option<&str>)> =
            b.reactions.iter().map(|r| (r.target_external_id.as_str(), r.emoji.as_deref())).collect();
        assert_eq!(r, [("wamid.T", Some("❤️")), ("wamid.T", None)]);
        assert_eq!(b.messages.len(), 1, "the system message is kept as a message too");
        assert_eq!(b.messages[0].body, "[system] changed");
        assert_eq!(
            b.number_changes,
            [NumberChange { from: "+5215512345678".to_owned(), to: "+5215599999999".to_owned() }]
        );
        assert_eq!(n.problems.iter().map(|p| p.kind).collect::<Vec<_>>(), ["invalid_message"]);
    }

    #[test]
    fn template_reviews_are_read_with_their_business_account() {
        let v = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [
            {"field": "message_template_status_update", "value": {"event": "REJECTED", "message_template_id": 42,
             "message_template_name": "promo", "message_template_language": "es_MX", "reason": "INVALID_FORMAT"}},
            {"field": "message_template_status_update", "value": {"event": "APPROVED"}}]}]});
        let n = read(Ok(v), |_| Number::Unknown);
        assert_eq!(
            n.template_statuses,
            [TemplateStatus {
                waba_id: "WABA1".into(),
                template_id: Some("42".into()),
                name: "promo".into(),
                language: "es_MX".into(),
                status: "REJECTED".into(),
                reason: Some("INVALID_FORMAT".into()),
            }]
        );
        assert_eq!(n.problems.iter().map(|p| p.kind).collect::<Vec<_>>(), ["invalid_change"], "one without a name");
    }

    /// Found by the fuzz harness (`tests/webhook_fuzz.rs`): a NUL character in an error object or
    /// a template review failed the webhook's transaction (a 500, retried forever).
    #[test]
    fn nul_characters_in_errors_and_template_reviews_are_problems_not_rows() {
        let v = notification(
            "P1",
            json!({"errors": [{"code": 130429, "title": "Rate\u{0}"}, {"code": 4, "title": "ok"}],
                   "messages": [{"from": "5215512345678", "id": "wamid.1", "type": "unsupported",
                                 "errors": [{"code": 131051, "error_data": {"details": "x\u{0}"}}]}]}),
        );
        let n = read(Ok(v), only("P1"));
        assert_eq!(n.events["P1"].iter().map(|e| e.code).collect::<Vec<_>>(), [Some(4)]);
        assert!(n.events["P1"].iter().all(|e| !payload::has_nul(&e.raw)));
        // The message holding it is refused as a whole, as any object with a NUL.
        assert!(n.batches["P1"].messages.is_empty());
        assert_eq!(n.problems.iter().map(|p| p.kind).collect::<Vec<_>>(), ["invalid_change", "invalid_message"]);
        let t = json!({"object": "whatsapp_business_account", "entry": [{"id": "WABA1", "changes": [
            {"field": "message_template_status_update", "value": {"event": "APPROVED",
             "message_template_name": "promo\u{0}", "message_template_language": "es_MX"}}]}]});
        let n = read(Ok(t), |_| Number::Unknown);
        assert!(n.template_statuses.is_empty());
        assert_eq!(n.problems.iter().map(|p| p.kind).collect::<Vec<_>>(), ["invalid_change"]);
    }

    #[test]
    fn what_cannot_be_used_is_a_problem() {
        let kinds = |json: Result<Value, serde_json::Error>, number: &dyn Fn(&str) -> Number| {
            let n = read(json, number);
            assert!(n.batches.is_empty());
            n.problems.iter().map(|p| p.kind).collect::<Vec<_>>()
        };
        let known = only("P1");
        assert_eq!(kinds(serde_json::from_slice(b"{nope"), &known), ["malformed_json"]);
        assert_eq!(kinds(Ok(json!([1])), &known), ["unknown_payload"]);
        assert_eq!(kinds(Ok(json!({"object": "page", "entry": []})), &known), ["unknown_object"]);
        assert_eq!(kinds(Ok(json!({"object": "whatsapp_business_account", "entry": []})), &known), ["empty_payload"]);
        let field = json!({"object": "whatsapp_business_account",
            "entry": [{"changes": [{"field": "account_update", "value": {}}, {"field": "messages", "value": {}}]}]});
        assert_eq!(kinds(Ok(field), &known), ["unknown_field", "invalid_change"]);
        let text = json!({"messages": [{"from": "5215512345678", "id": "w", "type": "text", "text": {"body": "x"}}]});
        assert_eq!(kinds(Ok(notification("P2", text.clone())), &known), ["unknown_phone_number_id"]);
        assert_eq!(kinds(Ok(notification("P1", text)), &|_| Number::Unverified), ["unverified_phone_number_id"]);
    }
}
