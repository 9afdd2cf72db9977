//! The WebSocket protocol (version 1), as documented in docs/realtime.md.
//!
//! Client messages are JSON objects with a `type`; every server frame is a JSON object with a
//! `type`. Frames about a subscription carry its client-chosen `id`; event frames also carry the
//! connection's sequence number `seq` and the commit `lsn`.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The protocol version this server speaks.
pub const VERSION: u32 = 1;

/// A message from the client.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    Subscribe {
        id: String,
        topic: String,
        /// Inbox filters (`team_id`, `executive_id`, `unread`, `status`, `q`) or, for
        /// `table:` topics, column filters (`"call_id": "eq.5"`, `"status": "in.(a,b)"`).
        #[serde(default)]
        filters: BTreeMap<String, serde_json::Value>,
        /// `table:` topics: which of `insert`, `update`, `delete` (default all).
        #[serde(default)]
        events: Option<Vec<String>>,
        /// Resume: replay what this subscription missed after this LSN, or get `reset`.
        #[serde(default)]
        since: Option<String>,
    },
    Unsubscribe {
        id: String,
    },
    Ping {
        #[serde(default)]
        data: Option<serde_json::Value>,
    },
}

/// The longest subscription id accepted.
pub const MAX_ID_LEN: usize = 64;

/// Why a client message or subscription is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal { code, message: message.into() }
    }
}

/// Parses one client text frame.
pub fn parse(text: &str) -> Result<ClientMessage, Refusal> {
    serde_json::from_str(text).map_err(|e| Refusal::new("bad_message", format!("invalid message: {e}")))
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

/// Server frames, as JSON text.
pub mod frame {
    use super::json_string;

    /// The first frame. `app_version` is the tenant's current web version (`{version,
    /// force_update}`), so a client running an older one learns it on connecting.
    pub fn hello(position: &str, user_id: i64, app_version: Option<&serde_json::Value>) -> String {
        let app = app_version.map_or_else(|| "null".to_owned(), |v| v.to_string());
        format!(
            r#"{{"type":"hello","version":{},"lsn":"{position}","user_id":{user_id},"app_version":{app}}}"#,
            super::VERSION
        )
    }

    pub fn subscribed(id: &str, position: &str) -> String {
        format!(r#"{{"type":"subscribed","id":{},"lsn":"{position}"}}"#, json_string(id))
    }

    pub fn unsubscribed(id: &str) -> String {
        format!(r#"{{"type":"unsubscribed","id":{}}}"#, json_string(id))
    }

    /// An event of a subscription; `payload` is already JSON.
    pub fn event(id: &str, seq: u64, lsn: &str, payload: &str) -> String {
        format!(r#"{{"type":"event","id":{},"seq":{seq},"lsn":"{lsn}","event":{payload}}}"#, json_string(id))
    }

    pub fn revoked(id: &str, seq: u64, lsn: &str, reason: &str) -> String {
        format!(
            r#"{{"type":"revoked","id":{},"seq":{seq},"lsn":"{lsn}","reason":{}}}"#,
            json_string(id),
            json_string(reason)
        )
    }

    /// Start over: refetch (for `id`, or for every subscription when `None`).
    pub fn reset(id: Option<&str>, seq: u64, lsn: &str, reason: &str) -> String {
        let id = id.map_or_else(|| "null".to_owned(), json_string);
        format!(r#"{{"type":"reset","id":{id},"seq":{seq},"lsn":"{lsn}","reason":{}}}"#, json_string(reason))
    }

    /// The server's live state may be stale from `since` (the change stream is down); a `reset`
    /// follows when it is live again. Outside the `seq` count, like `hello`.
    pub fn degraded(since: chrono::DateTime<chrono::Utc>, reason: &str) -> String {
        let since = since.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        format!(r#"{{"type":"degraded","since":{},"reason":{}}}"#, json_string(&since), json_string(reason))
    }

    pub fn error(id: Option<&str>, code: &str, message: &str) -> String {
        let id = id.map_or_else(|| "null".to_owned(), json_string);
        format!(r#"{{"type":"error","id":{id},"code":{},"message":{}}}"#, json_string(code), json_string(message))
    }

    pub fn pong(data: Option<&serde_json::Value>) -> String {
        match data {
            Some(d) => format!(r#"{{"type":"pong","data":{d}}}"#),
            None => r#"{"type":"pong"}"#.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_messages_and_refuses_garbage() {
        let m = parse(r#"{"type":"subscribe","id":"a","topic":"table:messages","filters":{"conversation_id":"eq.5"},"events":["insert"]}"#).unwrap();
        assert!(matches!(m, ClientMessage::Subscribe { ref topic, .. } if topic == "table:messages"));
        assert!(matches!(parse(r#"{"type":"ping"}"#).unwrap(), ClientMessage::Ping { data: None }));
        for bad in
            ["", "{", "[]", r#"{"type":"nope"}"#, r#"{"type":"subscribe"}"#, r#"{"type":"unsubscribe","id":"a","x":1}"#]
        {
            assert_eq!(parse(bad).unwrap_err().code, "bad_message", "{bad}");
        }
    }

    #[test]
    fn frames_are_json() {
        for f in [
            frame::event("s\"1", 3, "0/1", r#"{"a":1}"#),
            frame::reset(None, 1, "0/2", "slow"),
            frame::error(Some("x"), "bad", "m\n"),
            frame::revoked("x", 9, "0/3", "moved"),
        ] {
            let v: serde_json::Value = serde_json::from_str(&f).unwrap();
            assert!(v["type"].is_string(), "{f}");
        }
    }
}
