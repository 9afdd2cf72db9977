//! Cloud API payload objects → Platica's domain: one inbound message object (text, or a typed
//! placeholder for media, interactive replies and the rest, keeping ids, captions and reply
//! context) and one status object. Used by the webhook (platica-http) and by session channels
//! (whose events carry the same objects).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use platica_domain::validate;
use platica_store::whatsapp::ingest::{DeliveryStatus, InboundMessage, NumberChange, Reaction, StatusUpdate};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct WaMessage {
    // The sender (`from`, `from_user_id`) is read by [`sender`].
    id: String,
    #[serde(rename = "type")]
    kind: String,
    context: Option<Context>,
    text: Option<Text>,
}

#[derive(Deserialize)]
struct Context {
    id: Option<String>,
}

#[derive(Deserialize)]
struct Text {
    body: String,
}

#[derive(Deserialize)]
struct Media {
    id: Option<String>,
    mime_type: Option<String>,
    caption: Option<String>,
    filename: Option<String>,
}

#[derive(Deserialize)]
struct WaStatus {
    id: String,
    status: String,
    /// Seconds since the epoch: a string, or a JSON number.
    timestamp: Option<Value>,
    #[serde(default)]
    errors: Vec<WaError>,
    biz_opaque_callback_data: Option<String>,
}

#[derive(Deserialize)]
struct WaError {
    code: Option<i64>,
    title: Option<String>,
    message: Option<String>,
    error_data: Option<ErrorData>,
}

#[derive(Deserialize)]
struct ErrorData {
    details: Option<String>,
}

/// The senders a change value introduces (`contacts[]`): each with its phone number (`wa_id`,
/// when WhatsApp shows it), its business-scoped user id (`user_id`) and its profile's name (or
/// username, when it has no name).
#[derive(Clone, Debug, Default)]
pub struct Contacts(Vec<ContactCard>);

#[derive(Clone, Debug, Default)]
struct ContactCard {
    wa_id: Option<String>,
    user_id: Option<String>,
    name: Option<String>,
}

impl Contacts {
    /// Reads a `contacts` array (anything else is no contacts); at most 64 entries are kept.
    pub fn read(contacts: Option<&Value>) -> Contacts {
        let text = |c: &Value, path: &str| {
            c.pointer(path).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
        };
        Contacts(
            contacts
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .take(64)
                .map(|c| ContactCard {
                    wa_id: text(c, "/wa_id"),
                    user_id: text(c, "/user_id"),
                    name: text(c, "/profile/name").or_else(|| text(c, "/profile/username")),
                })
                .collect(),
        )
    }

    /// The contact that is this sender: the one with its BSUID, else the one with its number.
    fn find(&self, wa_id: Option<&str>, user_id: Option<&str>) -> Option<&ContactCard> {
        user_id
            .and_then(|u| self.0.iter().find(|c| c.user_id.as_deref() == Some(u)))
            .or_else(|| wa_id.and_then(|w| self.0.iter().find(|c| c.wa_id.as_deref() == Some(w))))
    }
}

/// Who sent a message or a reaction: a phone number (E.164), a business-scoped user id, or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    pub phone: Option<String>,
    pub bsuid: Option<String>,
    pub profile_name: Option<String>,
}

/// Identifies the sender of a message object from its `from` (a phone number; a BSUID in some
/// payloads), `from_user_id` and the change's contacts (which may add the number or the BSUID
/// the message lacks). A present but invalid identifier is an error, not ignored; at least one of
/// the two is required.
pub fn sender(raw: &Value, contacts: &Contacts) -> Result<Sender, String> {
    let field = |k: &str| raw.get(k).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let (mut phone, mut bsuid) = (None, None);
    if let Some(from) = field("from") {
        // WhatsApp puts the BSUID in `from` when it may not show the number.
        match validate::bsuid("from", from) {
            Ok(b) => bsuid = Some(b),
            Err(_) => phone = Some(validate::phone("from", &format!("+{from}")).map_err(|e| format!("sender {e}"))?),
        }
    }
    if let Some(u) = field("from_user_id") {
        let u = validate::bsuid("from_user_id", u).map_err(|e| format!("sender {e}"))?;
        if bsuid.as_ref().is_some_and(|b| *b != u) {
            return Err("sender: from and from_user_id name different users".to_owned());
        }
        bsuid = Some(u);
    }
    let card = contacts.find(phone.as_deref().map(|p| &p[1..]), bsuid.as_deref());
    if let Some(card) = card {
        // The contact completes what the message lacks; a malformed one adds nothing.
        if phone.is_none() {
            phone = card.wa_id.as_deref().and_then(|w| validate::phone("wa_id", &format!("+{w}")).ok());
        }
        if bsuid.is_none() {
            bsuid = card.user_id.as_deref().and_then(|u| validate::bsuid("user_id", u).ok());
        }
    }
    if phone.is_none() && bsuid.is_none() {
        return Err("sender: neither from nor from_user_id".to_owned());
    }
    let profile_name = card
        .and_then(|c| c.name.as_deref())
        .and_then(|n| validate::name("profile.name", &bounded(n, validate::MAX_NAME_CHARS)).ok());
    Ok(Sender { phone, bsuid, profile_name })
}

pub fn bounded(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

pub fn external_id(raw: &str) -> Result<String, String> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 256 || v.chars().any(char::is_control) {
        return Err(format!("invalid message id {:?}", bounded(raw, 64)));
    }
    Ok(v.to_owned())
}

/// Whether a JSON value holds a NUL character anywhere (keys included): PostgreSQL stores none,
/// in text or in jsonb.
pub fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(has_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// PostgreSQL stores no NUL character, in text or in jsonb: an object holding one (anywhere,
/// keys included) is refused as a whole rather than failing its webhook's transaction.
fn refuse_nul(raw: &Value, what: &str) -> Result<(), String> {
    if has_nul(raw) {
        let id = raw.get("id").and_then(Value::as_str).map(|i| bounded(&i.replace('\0', ""), 64)).unwrap_or_default();
        return Err(format!("{what} {id:?} contains a NUL character, which cannot be stored"));
    }
    Ok(())
}

/// One inbound message object, as text or a typed placeholder.
pub fn message(raw: Value, contacts: &Contacts) -> Result<InboundMessage, String> {
    refuse_nul(&raw, "message")?;
    let m: WaMessage = serde_json::from_value(raw.clone()).map_err(|e| format!("invalid message: {e}"))?;
    let external_id = external_id(&m.id)?;
    let Sender { phone, bsuid, profile_name } =
        sender(&raw, contacts).map_err(|e| format!("message {external_id}: {e}"))?;
    let kind = bounded(&m.kind, 32);
    let typed = raw.get(kind.as_str()).cloned().unwrap_or(Value::Null);
    let media: Option<Media> = match kind.as_str() {
        "image" | "video" | "audio" | "document" | "sticker" => serde_json::from_value(typed.clone()).ok(),
        _ => None,
    };
    let str_at = |path: &str| typed.pointer(path).and_then(Value::as_str).map(str::to_owned);
    let caption = media.as_ref().and_then(|m| m.caption.clone());
    let body = match kind.as_str() {
        "text" => m.text.map(|t| t.body).ok_or_else(|| format!("message {external_id}: text without body"))?,
        "image" | "video" | "audio" | "document" | "sticker" => {
            let label = caption.clone().or_else(|| media.as_ref().and_then(|m| m.filename.clone()));
            placeholder(&kind, label.as_deref())
        }
        "location" => {
            let coords = match (typed.get("latitude"), typed.get("longitude")) {
                (Some(lat), Some(lon)) => Some(format!("({lat}, {lon})")),
                _ => None,
            };
            let parts: Vec<String> = [str_at("/name"), str_at("/address"), coords].into_iter().flatten().collect();
            placeholder("location", Some(&parts.join(" ")))
        }
        "interactive" => {
            let title = str_at("/button_reply/title")
                .or_else(|| str_at("/list_reply/title"))
                .or_else(|| str_at("/nfm_reply/body"))
                .or_else(|| str_at("/nfm_reply/name"));
            placeholder("interactive", title.as_deref())
        }
        "order" => {
            let n = typed.get("product_items").and_then(Value::as_array).map_or(0, Vec::len);
            let total = order(&typed)["total"].clone();
            let label = match (total["amount"].as_f64(), total["currency"].as_str()) {
                (Some(a), Some(c)) => format!("{n} item(s), {a:.2} {c}"),
                _ => format!("{n} item(s)"),
            };
            placeholder("order", Some(&label))
        }
        "button" => placeholder("button", str_at("/text").as_deref()),
        "reaction" => placeholder("reaction", str_at("/emoji").as_deref()),
        "contacts" => {
            let names: Vec<String> = raw
                .get("contacts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.pointer("/name/formatted_name").and_then(Value::as_str).map(str::to_owned))
                .collect();
            placeholder("contacts", Some(&names.join(", ")))
        }
        "system" => placeholder("system", str_at("/body").as_deref()),
        other => placeholder(other, None),
    };
    let body = bounded(body.trim(), validate::MAX_BODY_CHARS);
    let body = if body.is_empty() { placeholder(&kind, None) } else { body };
    let context_external_id = m
        .context
        .and_then(|c| c.id)
        .or_else(|| if kind == "reaction" { str_at("/message_id") } else { None })
        .map(|id| bounded(&id, 256));
    let content = content(&kind, &raw);
    Ok(InboundMessage {
        content,
        external_id,
        phone,
        bsuid,
        profile_name,
        body,
        media_id: media.as_ref().and_then(|m| m.id.clone()).map(|s| bounded(&s, 256)),
        mime_type: media.as_ref().and_then(|m| m.mime_type.clone()).map(|s| bounded(&s, 256)),
        caption: caption.map(|s| bounded(&s, validate::MAX_BODY_CHARS)),
        filename: media.and_then(|m| m.filename).map(|s| bounded(&s, 1024)),
        context_external_id,
        details: raw,
        wa_type: kind,
    })
}

/// Seconds since the epoch, as WhatsApp sends them: a string of digits, or a JSON number.
pub fn unix_time(v: Option<&Value>) -> Option<DateTime<Utc>> {
    let secs = match v? {
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))?,
        _ => return None,
    };
    DateTime::<Utc>::from_timestamp(secs, 0)
}

/// A number (or a numeric string) as f64.
fn number(v: Option<&Value>) -> Option<f64> {
    match v? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The structure of a message beyond its text, as the API shows it (`null` for plain text):
/// media ids and captions, a location's coordinates, shared contacts, an interactive reply (a
/// flow's response fields parsed from `response_json`), an order's items and total, a system
/// message; an unknown type keeps the whole message object as received (`{"raw": ...}`).
pub fn content(kind: &str, raw: &Value) -> Option<Value> {
    let typed = raw.get(kind).cloned().unwrap_or(Value::Null);
    Some(match kind {
        "text" => return None,
        "image" | "video" | "audio" | "document" | "sticker" | "location" | "button" | "system" => typed,
        "contacts" => json!({"contacts": raw.get("contacts").cloned().unwrap_or_else(|| json!([]))}),
        "interactive" => interactive(&typed),
        "order" => order(&typed),
        _ => json!({"raw": raw}),
    })
}

fn interactive(typed: &Value) -> Value {
    let kind = typed.get("type").and_then(Value::as_str).unwrap_or_default();
    let reply = typed.get(kind).cloned().unwrap_or(Value::Null);
    match kind {
        "nfm_reply" => {
            // A flow's answer: `response_json` is a JSON document in a string.
            let response = reply
                .get("response_json")
                .and_then(Value::as_str)
                .and_then(|s| serde_json::from_str::<Value>(s).ok())
                .or_else(|| reply.get("response_json").cloned())
                .unwrap_or(Value::Null);
            json!({"type": kind, "name": reply.get("name"), "body": reply.get("body"), "response": response})
        }
        _ => json!({"type": kind, "id": reply.get("id"), "title": reply.get("title"),
                    "description": reply.get("description")}),
    }
}

fn order(typed: &Value) -> Value {
    let items: Vec<Value> = typed
        .get("product_items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|i| {
            json!({"product_retailer_id": i.get("product_retailer_id"), "quantity": number(i.get("quantity")),
                   "item_price": number(i.get("item_price")), "currency": i.get("currency")})
        })
        .collect();
    let currencies: BTreeSet<&str> = items.iter().filter_map(|i| i["currency"].as_str()).collect();
    let amounts: Option<Vec<f64>> =
        items.iter().map(|i| Some(i["quantity"].as_f64()? * i["item_price"].as_f64()?)).collect();
    // A total only when every item has a quantity and a price in one currency.
    let total = match (amounts, currencies.len()) {
        (Some(a), 1) if !a.is_empty() => {
            let amount = (a.iter().sum::<f64>() * 100.0).round() / 100.0;
            json!({"amount": amount, "currency": currencies.first()})
        }
        _ => Value::Null,
    };
    json!({"catalog_id": typed.get("catalog_id"), "text": typed.get("text"), "items": items, "total": total})
}

/// A reaction object (`type: reaction`): `None` when `raw` is not one. An empty emoji removes
/// the sender's reaction.
pub fn reaction(raw: &Value) -> Option<Result<Reaction, String>> {
    if raw.get("type").and_then(Value::as_str) != Some("reaction") {
        return None;
    }
    Some((|| {
        refuse_nul(raw, "reaction")?;
        let id = external_id(raw.get("id").and_then(Value::as_str).unwrap_or_default())?;
        let Sender { phone, bsuid, .. } =
            sender(raw, &Contacts::default()).map_err(|e| format!("reaction {id}: {e}"))?;
        let target = raw
            .pointer("/reaction/message_id")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("reaction {id}: no message_id"))
            .and_then(external_id)?;
        let emoji = raw.pointer("/reaction/emoji").and_then(Value::as_str).map(|e| bounded(e.trim(), 32));
        Ok(Reaction {
            external_id: id,
            phone,
            bsuid,
            target_external_id: target,
            emoji: emoji.filter(|e| !e.is_empty()),
            occurred_at: unix_time(raw.get("timestamp")),
        })
    })())
}

/// The number change a stored `system` message announces (`system.type: user_changed_number`,
/// the new number in `system.new_wa_id`, or `system.wa_id` in older payloads).
pub fn number_change(m: &InboundMessage) -> Option<Result<NumberChange, String>> {
    let system = m.details.get("system")?;
    if m.wa_type != "system" || system.get("type").and_then(Value::as_str) != Some("user_changed_number") {
        return None;
    }
    let new = system.get("new_wa_id").or_else(|| system.get("wa_id")).and_then(Value::as_str).unwrap_or_default();
    // A sender WhatsApp shows without a number has no number to move from.
    let from = m.phone.clone()?;
    Some(
        validate::phone("new_wa_id", &format!("+{}", new.trim()))
            .map(|to| NumberChange { from, to })
            .map_err(|e| format!("message {}: {e}", m.external_id)),
    )
}

fn placeholder(kind: &str, label: Option<&str>) -> String {
    match label.map(str::trim).filter(|l| !l.is_empty()) {
        Some(l) => format!("[{kind}] {l}"),
        None => format!("[{kind}]"),
    }
}

pub fn status(raw: Value) -> Result<StatusUpdate, String> {
    refuse_nul(&raw, "status")?;
    let s: WaStatus = serde_json::from_value(raw).map_err(|e| format!("invalid status: {e}"))?;
    let external_id = external_id(&s.id)?;
    let status = DeliveryStatus::parse(&s.status)
        .ok_or_else(|| format!("status of {external_id}: unknown status {:?}", bounded(&s.status, 32)))?;
    let occurred_at = unix_time(s.timestamp.as_ref());
    let error = s.errors.into_iter().next();
    Ok(StatusUpdate {
        external_id,
        status,
        occurred_at,
        error_code: error.as_ref().and_then(|e| e.code).and_then(|c| i32::try_from(c).ok()),
        error_title: error
            .as_ref()
            .and_then(|e| e.title.clone().or_else(|| e.message.clone()))
            .map(|t| bounded(&t, 1000)),
        error_detail: error.and_then(|e| e.error_data).and_then(|d| d.details).map(|t| bounded(&t, 1000)),
        callback: s.biz_opaque_callback_data.map(|c| bounded(&c, 512)),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nul_characters_anywhere_are_refused() {
        let names = Contacts::default();
        let ok =
            serde_json::json!({"from": "5215512345678", "id": "wamid.N", "type": "text", "text": {"body": "hola"}});
        assert!(message(ok.clone(), &names).is_ok());
        for bad in [
            serde_json::json!({"from": "5215512345678", "id": "wamid.N", "type": "text", "text": {"body": "ho\u{0}la"}}),
            serde_json::json!({"from": "5215512345678", "id": "wamid.N", "type": "text", "text": {"body": "hola"},
                               "extra": [{"k\u{0}": 1}]}),
        ] {
            let err = message(bad, &names).unwrap_err();
            assert!(err.contains("NUL") && !err.contains('\0'), "{err}");
        }
        let err = status(serde_json::json!({"id": "wamid.S", "status": "failed",
            "errors": [{"code": 131026, "title": "x\u{0}"}]}))
        .unwrap_err();
        assert!(err.contains("NUL"), "{err}");
    }

    #[test]
    fn placeholders_keep_type_caption_and_ids() {
        let names = Contacts::read(Some(&json!([{"wa_id": "5215512345678", "profile": {"name": "Ana"}}])));
        let m = message(
            serde_json::json!({"from": "5215512345678", "id": "wamid.A", "type": "image",
                "context": {"id": "wamid.prev"},
                "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "mi casa"}}),
            &names,
        )
        .unwrap();
        assert_eq!(m.body, "[image] mi casa");
        assert_eq!(m.media_id.as_deref(), Some("MEDIA1"));
        assert_eq!(m.context_external_id.as_deref(), Some("wamid.prev"));
        assert_eq!(m.phone.as_deref(), Some("+5215512345678"));
        assert_eq!(m.profile_name.as_deref(), Some("Ana"));
        let i = message(
            serde_json::json!({"from": "5215512345678", "id": "wamid.B", "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "yes", "title": "Sí"}}}),
            &names,
        )
        .unwrap();
        assert_eq!(i.body, "[interactive] Sí");
        let u = message(serde_json::json!({"from": "5215512345678", "id": "wamid.C", "type": "unsupported"}), &names)
            .unwrap();
        assert_eq!(u.body, "[unsupported]");
        assert!(
            message(serde_json::json!({"from": "abc", "id": "wamid.D", "type": "text", "text": {"body": "x"}}), &names)
                .is_err()
        );
    }

    #[test]
    fn senders_are_known_by_phone_bsuid_or_both() {
        let contacts = Contacts::read(Some(&json!([
            {"wa_id": "5215512345678", "user_id": "MX.111", "profile": {"name": "Ana"}},
            {"user_id": "US.222", "profile": {"username": "@beto"}}
        ])));
        let who = |m: Value| sender(&m, &contacts).map(|s| (s.phone, s.bsuid, s.profile_name));
        let some = |s: &str| Some(s.to_owned());
        // The number only: the contact adds its BSUID and name.
        assert_eq!(who(json!({"from": "5215512345678"})), Ok((some("+5215512345678"), some("MX.111"), some("Ana"))));
        // The BSUID only: the contact adds the number it shows.
        assert_eq!(who(json!({"from_user_id": "MX.111"})), Ok((some("+5215512345678"), some("MX.111"), some("Ana"))));
        // No number anywhere: the username is the name.
        assert_eq!(who(json!({"from_user_id": "US.222"})), Ok((None, some("US.222"), some("@beto"))));
        // A BSUID in `from` is read as one.
        assert_eq!(who(json!({"from": "US.222"})), Ok((None, some("US.222"), some("@beto"))));
        // Unknown to the contacts: what the message says.
        assert_eq!(who(json!({"from_user_id": "BR.9"})), Ok((None, some("BR.9"), None)));
        for bad in [
            json!({}),
            json!({"from": ""}),
            json!({"from": "abc"}),
            json!({"from_user_id": "nope"}),
            json!({"from_user_id": 5}),
            json!({"from": "US.1", "from_user_id": "US.2"}),
        ] {
            assert!(who(bad.clone()).is_err(), "{bad} accepted");
        }
        let m = message(
            json!({"from_user_id": "US.222", "id": "wamid.X", "type": "text", "text": {"body": "hola"}}),
            &contacts,
        )
        .unwrap();
        assert_eq!((m.phone, m.bsuid.as_deref(), m.profile_name.as_deref()), (None, Some("US.222"), Some("@beto")));
        // A number change needs the number it moves from.
        let sys = message(
            json!({"from_user_id": "US.222", "id": "wamid.S", "type": "system",
            "system": {"type": "user_changed_number", "new_wa_id": "5215500000000"}}),
            &contacts,
        )
        .unwrap();
        assert_eq!(number_change(&sys), None);
    }

    #[test]
    fn timestamps_are_strings_or_numbers() {
        let at = |v: Value| unix_time(Some(&v)).map(|t| t.timestamp());
        assert_eq!(at(json!("1732520100")), Some(1_732_520_100));
        assert_eq!(at(json!(1732520100)), Some(1_732_520_100));
        assert_eq!(at(json!(1732520100.0)), Some(1_732_520_100));
        assert_eq!(at(json!("soon")), None);
        assert_eq!(at(json!(null)), None);
        let s = status(json!({"id": "wamid.S", "status": "played", "timestamp": 1732520100})).unwrap();
        assert_eq!(s.status, DeliveryStatus::Played);
        assert_eq!(s.occurred_at.map(|t| t.timestamp()), Some(1_732_520_100));
    }

    #[test]
    fn structures_are_kept_by_type() {
        let names = Contacts::default();
        let m = |v: Value| message(v, &names).unwrap();
        let order = m(json!({"from": "5215512345678", "id": "wamid.O", "type": "order", "order": {
            "catalog_id": "C", "product_items": [
                {"product_retailer_id": "a", "quantity": 2, "item_price": 10.25, "currency": "MXN"},
                {"product_retailer_id": "b", "quantity": "1", "item_price": "5", "currency": "MXN"}]}}));
        let c = order.content.unwrap();
        assert_eq!(c["total"], json!({"amount": 25.5, "currency": "MXN"}));
        assert_eq!(c["items"][1]["quantity"], 1.0);
        assert_eq!(order.body, "[order] 2 item(s), 25.50 MXN");
        // Mixed currencies: no total.
        let mixed = m(json!({"from": "5215512345678", "id": "wamid.O2", "type": "order", "order": {
            "product_items": [{"quantity": 1, "item_price": 1, "currency": "MXN"},
                              {"quantity": 1, "item_price": 1, "currency": "USD"}]}}));
        assert_eq!(mixed.content.unwrap()["total"], Value::Null);
        let flow = m(json!({"from": "5215512345678", "id": "wamid.F", "type": "interactive", "interactive": {
            "type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent", "response_json": "{\"a\": 1}"}}}));
        assert_eq!(flow.content.unwrap()["response"], json!({"a": 1}));
        assert_eq!(flow.body, "[interactive] Sent");
        let text = m(json!({"from": "5215512345678", "id": "wamid.T", "type": "text", "text": {"body": "x"}}));
        assert_eq!(text.content, None);
        let odd = json!({"from": "5215512345678", "id": "wamid.U", "type": "hologram", "hologram": {"k": 1}});
        assert_eq!(m(odd.clone()).content, Some(json!({"raw": odd})));
    }

    #[test]
    fn reactions_and_number_changes() {
        let r = reaction(&json!({"from": "5215512345678", "id": "wamid.R", "type": "reaction", "timestamp": 5,
            "reaction": {"message_id": "wamid.T", "emoji": "👍"}}))
        .unwrap()
        .unwrap();
        assert_eq!((r.target_external_id.as_str(), r.emoji.as_deref()), ("wamid.T", Some("👍")));
        assert_eq!(r.phone.as_deref(), Some("+5215512345678"));
        let removed = reaction(&json!({"from": "5215512345678", "id": "wamid.R2", "type": "reaction",
            "reaction": {"message_id": "wamid.T", "emoji": ""}}))
        .unwrap()
        .unwrap();
        assert_eq!(removed.emoji, None);
        assert!(reaction(&json!({"type": "text"})).is_none());
        assert!(reaction(&json!({"from": "x", "id": "wamid.R3", "type": "reaction"})).unwrap().is_err());
        let names = Contacts::default();
        let sys = message(
            json!({"from": "5215512345678", "id": "wamid.S", "type": "system",
            "system": {"body": "b", "wa_id": "5215500000000", "type": "user_changed_number"}}),
            &names,
        )
        .unwrap();
        assert_eq!(
            number_change(&sys),
            Some(Ok(NumberChange { from: "+5215512345678".into(), to: "+5215500000000".into() }))
        );
        let other = message(
            json!({"from": "5215512345678", "id": "wamid.S2", "type": "system",
            "system": {"body": "b", "type": "user_identity_changed"}}),
            &names,
        )
        .unwrap();
        assert_eq!(number_change(&other), None);
    }
}
