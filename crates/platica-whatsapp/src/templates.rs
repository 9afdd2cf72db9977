//! The Graph API's message templates of a WhatsApp Business Account: listing them with their
//! review state (`GET {base}/{waba-id}/message_templates`, every page) and submitting a new one
//! for review (`POST {base}/{waba-id}/message_templates`).

use std::time::Duration;

use platica_store::whatsapp::templates::RemoteTemplate;
use serde_json::{Value, json};

/// Pages followed at most (100 templates a page): a WABA has at most a few thousand.
const MAX_PAGES: usize = 100;
const PAGE_SIZE: usize = 100;

/// Why a Graph call did not succeed.
#[derive(Debug)]
pub enum GraphFailure {
    /// Graph answered with an error it will answer again (bad input, bad token, unknown WABA).
    Refused { http_status: u16, code: Option<i64>, message: String },
    /// No usable answer (no connection, a timeout, a 5xx, a 429): try again later.
    Unavailable(String),
}

impl std::fmt::Display for GraphFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GraphFailure::Refused { http_status, code, message } => {
                write!(f, "WhatsApp refused ({http_status}")?;
                if let Some(c) = code {
                    write!(f, ", code {c}")?;
                }
                write!(f, "): {message}")
            }
            GraphFailure::Unavailable(m) => write!(f, "WhatsApp could not be reached: {m}"),
        }
    }
}

/// A template to submit for review.
#[derive(Clone, Debug)]
pub struct NewTemplate {
    pub name: String,
    pub language: String,
    /// `MARKETING`, `UTILITY` or `AUTHENTICATION`.
    pub category: String,
    /// Graph's `components` array (`HEADER`, `BODY`, `FOOTER`, `BUTTONS`).
    pub components: Value,
}

/// A client of the template endpoints.
#[derive(Clone, Debug)]
pub struct TemplatesClient {
    http: reqwest::Client,
}

impl TemplatesClient {
    pub fn new(timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("platica/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(TemplatesClient { http })
    }

    /// Every template of the WABA, following `paging.next`.
    pub async fn list(&self, base_url: &str, waba_id: &str, token: &str) -> Result<Vec<RemoteTemplate>, GraphFailure> {
        let first = format!("{}/{waba_id}/message_templates", base_url.trim_end_matches('/'));
        let mut url = format!("{first}?limit={PAGE_SIZE}");
        let mut out = Vec::new();
        for _ in 0..MAX_PAGES {
            let body = self.call(self.http.get(&url).bearer_auth(token)).await?;
            let data = body["data"].as_array().cloned().unwrap_or_default();
            out.extend(data.iter().filter_map(remote));
            // Graph gives `paging.next` while more pages remain.
            match body["paging"]["next"].as_str() {
                Some(next) if !data.is_empty() => url = next.to_owned(),
                _ => return Ok(out),
            }
        }
        Err(GraphFailure::Unavailable(format!("more than {MAX_PAGES} pages of templates")))
    }

    /// Submits a template for review; Graph's answer (`id`, `status`, `category`) as the
    /// template it now has.
    pub async fn create(
        &self,
        base_url: &str,
        waba_id: &str,
        token: &str,
        t: &NewTemplate,
    ) -> Result<RemoteTemplate, GraphFailure> {
        let url = format!("{}/{waba_id}/message_templates", base_url.trim_end_matches('/'));
        let payload =
            json!({"name": t.name, "language": t.language, "category": t.category, "components": t.components});
        let body = self.call(self.http.post(&url).bearer_auth(token).json(&payload)).await?;
        let id = match &body["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(GraphFailure::Unavailable(format!("an answer without an id: {body}"))),
        };
        Ok(RemoteTemplate {
            external_id: id,
            name: t.name.clone(),
            language: t.language.clone(),
            category: body["category"].as_str().unwrap_or(&t.category).to_owned(),
            status: body["status"].as_str().unwrap_or("PENDING").to_owned(),
            reason: None,
            components: t.components.clone(),
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value, GraphFailure> {
        let resp = req.send().await.map_err(|e| GraphFailure::Unavailable(e.to_string()))?;
        let status = resp.status();
        let body: Value = resp.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"].as_str().unwrap_or("no error message").to_owned();
        if status.is_server_error() || status.as_u16() == 429 {
            return Err(GraphFailure::Unavailable(format!("{status}: {message}")));
        }
        Err(GraphFailure::Refused { http_status: status.as_u16(), code: body["error"]["code"].as_i64(), message })
    }
}

/// A listed template, if it has what Platica needs.
fn remote(v: &Value) -> Option<RemoteTemplate> {
    let id = match &v["id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    Some(RemoteTemplate {
        external_id: id,
        name: v["name"].as_str()?.to_owned(),
        language: v["language"].as_str()?.to_owned(),
        category: v["category"].as_str().unwrap_or_default().to_owned(),
        status: v["status"].as_str()?.to_owned(),
        reason: v["rejected_reason"].as_str().map(str::to_owned),
        components: v.get("components").cloned().unwrap_or(Value::Array(Vec::new())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_templates_are_read_with_their_state() {
        let v = json!({"id": "123", "name": "promo", "language": "es_MX", "category": "MARKETING",
                       "status": "REJECTED", "rejected_reason": "INVALID_FORMAT",
                       "components": [{"type": "BODY", "text": "Hola {{1}}"}]});
        let t = remote(&v).unwrap_or_else(|| panic!("not read"));
        assert_eq!((t.external_id.as_str(), t.status.as_str()), ("123", "REJECTED"));
        assert_eq!(t.reason.as_deref(), Some("INVALID_FORMAT"));
        assert!(remote(&json!({"name": "x"})).is_none());
    }
}
