//! The Cloud API's send endpoint, `POST {base}/{phone-number-id}/messages`, and what its
//! answers mean for a retry: accepted; refused for now, so certainly not sent and safe to try
//! again (429, WhatsApp's throttling codes, 408, no connection made); outcome unknown, so perhaps
//! sent (a timeout, a connection cut after the request was written, a 5xx, an answer cut short);
//! or refused for good (any other 4xx, with WhatsApp's reason).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// The Graph API, where sends go unless an account or the configuration says otherwise.
pub const DEFAULT_BASE_URL: &str = "https://graph.facebook.com/v21.0";

/// Graph error codes that mean "not now" even when the HTTP status is a 4xx: rate limits
/// (4, 80007, 130429, 131056), temporary errors (1, 2, 131000, 131016).
const RETRYABLE_CODES: [i64; 8] = [1, 2, 4, 80007, 130429, 131000, 131016, 131056];

/// Rate limits: a refusal before the message was taken, whatever the HTTP status says.
const RATE_LIMIT_CODES: [i64; 4] = [4, 80007, 130429, 131056];

/// The number's throughput is exceeded (or the app's/account's rate): slow the whole number down.
pub const THROUGHPUT_CODES: [i64; 3] = [4, 80007, 130429];

/// Too many messages to one recipient in a short time (the "pair rate limit"): space that
/// recipient's messages out.
pub const PAIR_LIMIT_CODE: i64 = 131056;

/// Where one account's sends go.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub base_url: String,
    pub phone_number_id: String,
    pub access_token: String,
}

impl Endpoint {
    pub fn messages_url(&self) -> String {
        format!("{}/{}/messages", self.base_url.trim_end_matches('/'), self.phone_number_id)
    }
}

/// WhatsApp's reason for refusing a send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub http_status: u16,
    pub code: Option<i64>,
    pub title: String,
    pub detail: Option<String>,
}

/// What a send attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the message's WhatsApp id (none for read receipts).
    Accepted { http_status: u16, external_id: Option<String> },
    /// Not now, and not sent: try again after at least `retry_after` when WhatsApp said so.
    /// `code` is WhatsApp's error code, when it gave one (130429 throughput, 131056 pair limit).
    Retry { http_status: Option<u16>, code: Option<i64>, error: String, retry_after: Option<Duration> },
    /// Perhaps sent: the request may have reached WhatsApp, but its answer was lost (timed out,
    /// connection cut after the request was written, a 5xx, an answer cut short). Sending it again
    /// may deliver it twice (the Graph API ignores `Idempotency-Key`).
    Unknown { http_status: Option<u16>, error: String },
    /// Refused for good.
    Refused(Refusal),
}

/// An HTTP client for the send endpoint.
#[derive(Clone, Debug)]
pub struct CloudClient {
    http: reqwest::Client,
}

impl CloudClient {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("platica/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(CloudClient { http })
    }

    /// Sends one request body. The idempotency key makes a repeat harmless where the endpoint
    /// honours it (the simulator); the Graph API ignores it.
    pub async fn send(&self, to: &Endpoint, payload: &Value, idempotency_key: &str) -> Outcome {
        let resp = self
            .http
            .post(to.messages_url())
            .bearer_auth(&to.access_token)
            .header("Idempotency-Key", idempotency_key)
            .json(payload)
            .send()
            .await;
        let resp = match resp {
            Ok(r) => r,
            // Not connected (refused, unreachable, connect timeout, TLS): certainly not sent.
            Err(e) if e.is_connect() || e.is_builder() => {
                return Outcome::Retry {
                    http_status: None,
                    code: None,
                    error: format!("cannot connect: {}", chain(&e)),
                    retry_after: None,
                };
            }
            // Timed out or cut once connected: the request may have been written, so perhaps sent.
            Err(e) => {
                let what = if e.is_timeout() { "timed out" } else { "connection lost" };
                return Outcome::Unknown { http_status: None, error: format!("{what}: {}", chain(&e)) };
            }
        };
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body: Value = match resp.bytes().await {
            Ok(b) => serde_json::from_slice(&b).unwrap_or(Value::Null),
            // Accepted, but its answer (and WhatsApp's id) was lost.
            Err(e) if status.is_success() => {
                return Outcome::Unknown {
                    http_status: Some(status.as_u16()),
                    error: format!("answer cut short: {}", chain(&e)),
                };
            }
            Err(_) => Value::Null,
        };
        classify(status, &body, retry_after)
    }
}

/// An error and its causes, one line (reqwest's own message hides "connection reset" and the like
/// in its sources).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Reads an answer: its status code and (Graph-shaped) body.
pub fn classify(status: StatusCode, body: &Value, retry_after: Option<Duration>) -> Outcome {
    let http_status = status.as_u16();
    if status.is_success() {
        let external_id = body.pointer("/messages/0/id").and_then(Value::as_str).map(str::to_owned);
        return Outcome::Accepted { http_status, external_id };
    }
    let err = body.get("error");
    let code = err.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let title = err
        .and_then(|e| e.get("error_user_title").or_else(|| e.get("message")))
        .and_then(Value::as_str)
        .map(|s| s.chars().take(500).collect::<String>())
        .unwrap_or_else(|| format!("HTTP {http_status}"));
    let detail = err
        .and_then(|e| e.pointer("/error_data/details").or_else(|| e.get("error_user_msg")))
        .and_then(Value::as_str)
        .map(|s| s.chars().take(1000).collect::<String>());
    let error = || match code {
        Some(c) => format!("HTTP {http_status}, code {c}: {title}"),
        None => format!("HTTP {http_status}: {title}"),
    };
    // A server error may come after the message was taken (a gateway timing out, a crash
    // between accepting and answering): perhaps sent. Only a rate limit says otherwise.
    if status.is_server_error() && !code.is_some_and(|c| RATE_LIMIT_CODES.contains(&c)) {
        return Outcome::Unknown { http_status: Some(http_status), error: error() };
    }
    let retryable = status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
        || code.is_some_and(|c| RETRYABLE_CODES.contains(&c));
    if retryable {
        return Outcome::Retry { http_status: Some(http_status), code, error: error(), retry_after };
    }
    Outcome::Refused(Refusal { http_status, code, title, detail })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_are_classified() {
        let ok = classify(StatusCode::OK, &json!({"messages": [{"id": "wamid.X"}]}), None);
        assert_eq!(ok, Outcome::Accepted { http_status: 200, external_id: Some("wamid.X".into()) });
        let receipt = classify(StatusCode::OK, &json!({"success": true}), None);
        assert_eq!(receipt, Outcome::Accepted { http_status: 200, external_id: None });
        assert!(matches!(classify(StatusCode::TOO_MANY_REQUESTS, &json!({}), None), Outcome::Retry { .. }));
        // A server error may come after the message was taken: perhaps sent, not retried blindly.
        assert!(matches!(classify(StatusCode::BAD_GATEWAY, &Value::Null, None), Outcome::Unknown { .. }));
        let wrong = json!({"error": {"message": "Something went wrong", "code": 131000}});
        let Outcome::Unknown { http_status, error } = classify(StatusCode::INTERNAL_SERVER_ERROR, &wrong, None) else {
            panic!("a 500 is an unknown outcome")
        };
        assert_eq!((http_status, error.as_str()), (Some(500), "HTTP 500, code 131000: Something went wrong"));
        // ... unless it is a rate limit, which refuses before taking anything.
        let limited = json!({"error": {"message": "Rate limit hit", "code": 80007}});
        assert!(matches!(classify(StatusCode::SERVICE_UNAVAILABLE, &limited, None), Outcome::Retry { .. }));
        assert!(matches!(classify(StatusCode::REQUEST_TIMEOUT, &Value::Null, None), Outcome::Retry { .. }));
        // Throughput exceeded is a 400 with code 130429: retried.
        let throttled = json!({"error": {"message": "Rate limit hit", "code": 130429}});
        assert!(matches!(classify(StatusCode::BAD_REQUEST, &throttled, None), Outcome::Retry { .. }));
        let refused = json!({"error": {"message": "(#131047) Re-engagement message", "code": 131047,
            "error_data": {"details": "More than 24 hours have passed"}}});
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, &refused, None),
            Outcome::Refused(Refusal {
                http_status: 400,
                code: Some(131047),
                title: "(#131047) Re-engagement message".into(),
                detail: Some("More than 24 hours have passed".into()),
            })
        );
        let Outcome::Refused(r) = classify(StatusCode::UNAUTHORIZED, &Value::Null, None) else { panic!() };
        assert_eq!(r.title, "HTTP 401");
    }
}
