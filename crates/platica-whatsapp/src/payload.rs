//! Cloud API payload objects → Platica's domain: one inbound message object (text, or a typed
//! placeholder for media, interactive replies and the rest, keeping ids, captions and reply
//! context) and one status object. Used by the webhook (platica-http) and by session channels
//! (whose events carry the same objects).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use platica_domain::validate;
use platica_store::whatsapp::{DeliveryStatus, InboundMessage, StatusUpdate};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct WaMessage {
    from: String,
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
    timestamp: Option<String>,
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

/// PostgreSQL stores no NUL character, in text or in jsonb: an object holding one (anywhere,
/// keys included) is refused as a whole rather than failing its webhook's transaction.
fn refuse_nul(raw: &Value, what: &str) -> Result<(), String> {
    fn has_nul(v: &Value) -> bool {
        match v {
            Value::String(s) => s.contains('\0'),
            Value::Array(a) => a.iter().any(has_nul),
            Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
            _ => false,
        }
    }
    if has_nul(raw) {
        let id = raw.get("id").and_then(Value::as_str).map(|i| bounded(&i.replace('\0', ""), 64)).unwrap_or_default();
        return Err(format!("{what} {id:?} contains a NUL character, which cannot be stored"));
    }
    Ok(())
}

/// One inbound message object, as text or a typed placeholder.
pub fn message(raw: Value, names: &BTreeMap<String, String>) -> Result<InboundMessage, String> {
    refuse_nul(&raw, "message")?;
    let m: WaMessage = serde_json::from_value(raw.clone()).map_err(|e| format!("invalid message: {e}"))?;
    let external_id = external_id(&m.id)?;
    let phone = validate::phone("from", &format!("+{}", m.from.trim()))
        .map_err(|e| format!("message {external_id}: sender {e}"))?;
    let profile_name = names
        .get(m.from.trim())
        .and_then(|n| validate::name("profile.name", &bounded(n, validate::MAX_NAME_CHARS)).ok());
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
            let title = str_at("/button_reply/title").or_else(|| str_at("/list_reply/title"));
            placeholder("interactive", title.as_deref())
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
    Ok(InboundMessage {
        external_id,
        phone,
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
    let occurred_at =
        s.timestamp.and_then(|t| t.parse::<i64>().ok()).and_then(|secs| DateTime::<Utc>::from_timestamp(secs, 0));
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
        let names = BTreeMap::new();
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
        let names = BTreeMap::from([("5215512345678".to_owned(), "Ana".to_owned())]);
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
        assert_eq!(m.phone, "+5215512345678");
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
}
