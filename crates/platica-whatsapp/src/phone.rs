//! "Test connection": `GET {base}/{phone-number-id}?fields=...` asks Graph what it knows about a
//! business number (display number, verified name, quality rating, messaging limit tier), with
//! the account's access token, bounded by a timeout. Graph's refusals keep its code and message
//! (190: a bad or expired token; 100/33: an id that is not a number this token may read).

use std::time::Duration;

use serde_json::Value;

/// The fields asked for.
pub const FIELDS: &str =
    "display_phone_number,verified_name,quality_rating,messaging_limit_tier,code_verification_status";

/// Longest time a check waits for Graph by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What Graph says about a number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NumberInfo {
    pub id: Option<String>,
    pub display_phone_number: Option<String>,
    pub verified_name: Option<String>,
    pub quality_rating: Option<String>,
    pub messaging_limit: Option<String>,
    pub code_verification_status: Option<String>,
}

/// Why a check did not come back with the number.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckError {
    /// Graph answered with an error (its HTTP status, code, subcode and message).
    #[error("Graph refused (HTTP {http_status}, code {code:?}): {message}")]
    Graph { http_status: u16, code: Option<i64>, subcode: Option<i64>, message: String },
    /// No answer within the timeout.
    #[error("Graph did not answer within {0:?}")]
    Timeout(Duration),
    /// No connection (refused, unreachable, TLS).
    #[error("cannot reach Graph: {0}")]
    Unreachable(String),
    /// A 2xx answer that is not a phone number object.
    #[error("Graph's answer is not a phone number: {0}")]
    InvalidAnswer(String),
}

fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.chars().take(200).collect()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads Graph's answer (status and body).
pub fn read_answer(http_status: u16, body: &Value) -> Result<NumberInfo, CheckError> {
    if (200..300).contains(&http_status) {
        if !body.is_object() || (body.get("display_phone_number").is_none() && body.get("verified_name").is_none()) {
            let shown: String = body.to_string().chars().take(200).collect();
            return Err(CheckError::InvalidAnswer(shown));
        }
        return Ok(NumberInfo {
            id: text(body, "id"),
            display_phone_number: text(body, "display_phone_number"),
            verified_name: text(body, "verified_name"),
            quality_rating: text(body, "quality_rating"),
            messaging_limit: text(body, "messaging_limit_tier"),
            code_verification_status: text(body, "code_verification_status"),
        });
    }
    let err = body.get("error");
    let code = err.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let subcode = err.and_then(|e| e.get("error_subcode")).and_then(Value::as_i64);
    let message = err
        .and_then(|e| e.get("error_user_msg").or_else(|| e.get("message")))
        .and_then(Value::as_str)
        .map(|s| s.chars().take(500).collect::<String>())
        .unwrap_or_else(|| format!("HTTP {http_status}"));
    Err(CheckError::Graph { http_status, code, subcode, message })
}

/// Asks Graph at `base_url` about `phone_number_id` with `access_token`, within `timeout`.
pub async fn check(
    base_url: &str,
    phone_number_id: &str,
    access_token: &str,
    timeout: Duration,
) -> Result<NumberInfo, CheckError> {
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("platica/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| CheckError::Unreachable(e.to_string()))?;
    let url = format!("{}/{}", base_url.trim_end_matches('/'), phone_number_id);
    let resp = match http.get(&url).query(&[("fields", FIELDS)]).bearer_auth(access_token).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(CheckError::Timeout(timeout)),
        Err(e) => return Err(CheckError::Unreachable(crate::cloud::chain(&e))),
    };
    let status = resp.status().as_u16();
    let body = match resp.bytes().await {
        Ok(b) => serde_json::from_slice::<Value>(&b).unwrap_or(Value::Null),
        Err(e) if e.is_timeout() => return Err(CheckError::Timeout(timeout)),
        Err(e) => return Err(CheckError::Unreachable(crate::cloud::chain(&e))),
    };
    read_answer(status, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_number_is_read() {
        let body = json!({"id": "106540352242922", "display_phone_number": "+1 555-0100", "verified_name": "Autos",
            "quality_rating": "GREEN", "messaging_limit_tier": "TIER_1K", "code_verification_status": "VERIFIED"});
        let n = read_answer(200, &body).unwrap();
        assert_eq!(n.display_phone_number.as_deref(), Some("+1 555-0100"));
        assert_eq!(n.quality_rating.as_deref(), Some("GREEN"));
        assert_eq!(n.messaging_limit.as_deref(), Some("TIER_1K"));
    }

    #[test]
    fn refusals_keep_graph_code_and_message() {
        let body = json!({"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}});
        let e = read_answer(401, &body).unwrap_err();
        assert_eq!(
            e,
            CheckError::Graph {
                http_status: 401,
                code: Some(190),
                subcode: None,
                message: "Invalid OAuth access token".into()
            }
        );
        assert!(matches!(read_answer(502, &Value::Null), Err(CheckError::Graph { code: None, .. })));
        assert!(matches!(read_answer(200, &json!({"success": true})), Err(CheckError::InvalidAnswer(_))));
    }
}
