//! `/{version}/{waba_id}/message_templates`: a WhatsApp Business Account's message templates, as
//! the Graph API lists (`GET`, paged with `limit` and `after` cursors, `paging.next`) and creates
//! them (`POST`: a new template is `PENDING` until its review, which `POST /_sim/templates/status`
//! or [`crate::SimHandle::set_template_status`] decides).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::cloud::bearer;
use crate::graph::GraphError;
use crate::state::Sim;

/// A template of a WABA.
#[derive(Clone, Debug)]
pub struct SimTemplate {
    pub id: String,
    pub name: String,
    pub language: String,
    pub category: String,
    pub components: Value,
    /// `PENDING`, `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`...
    pub status: String,
    pub rejected_reason: Option<String>,
}

impl SimTemplate {
    fn json(&self) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "language": self.language, "category": self.category,
            "components": self.components, "status": self.status,
        });
        if let Some(r) = &self.rejected_reason {
            v["rejected_reason"] = json!(r);
        }
        v
    }
}

/// Categories a template may have.
const CATEGORIES: [&str; 3] = ["MARKETING", "UTILITY", "AUTHENTICATION"];
/// Statuses a review may set.
pub const STATUSES: [&str; 8] =
    ["APPROVED", "REJECTED", "PENDING", "PAUSED", "DISABLED", "IN_APPEAL", "PENDING_DELETION", "LIMIT_EXCEEDED"];
/// Default and largest page.
const DEFAULT_LIMIT: usize = 25;
const MAX_LIMIT: usize = 100;

/// Checks the token against the accounts of the WABA (401 code 190, 404 for an unknown WABA).
fn authorize(sim: &Sim, headers: &HeaderMap, waba_id: &str) -> Result<(), GraphError> {
    let Some(token) = bearer(headers) else {
        return Err(GraphError::token(
            "An active access token must be used to query information about the current user.",
        ));
    };
    let inner = sim.lock();
    let mut accounts = inner.accounts.values().filter(|a| a.waba_id == waba_id).peekable();
    if accounts.peek().is_none() {
        return Err(GraphError::unknown_object(waba_id));
    }
    if !accounts.any(|a| a.account.access_token == token) {
        return Err(GraphError::token("Invalid OAuth access token - Cannot parse access token"));
    }
    Ok(())
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<String>,
    after: Option<String>,
}

fn cursor(index: usize) -> String {
    hex::encode(format!("idx:{index}"))
}

fn index_of(cursor: &str) -> Option<usize> {
    let raw = String::from_utf8(hex::decode(cursor).ok()?).ok()?;
    raw.strip_prefix("idx:")?.parse().ok()
}

pub(crate) async fn list(
    State(sim): State<Arc<Sim>>,
    Path((version, waba_id)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(e) = authorize(&sim, &headers, &waba_id) {
        return e.into_response();
    }
    let limit = match q.limit.as_deref().map(str::parse::<usize>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => return GraphError::invalid("(#100) Param limit must be a number from 1 to 100").into_response(),
    };
    let start = match q.after.as_deref() {
        None => 0,
        Some(c) => match index_of(c) {
            Some(i) => i + 1,
            None => return GraphError::invalid("(#100) Invalid cursor").into_response(),
        },
    };
    let inner = sim.lock();
    let all = inner.templates.get(&waba_id).map(Vec::as_slice).unwrap_or_default();
    let page: Vec<Value> = all.iter().skip(start).take(limit).map(SimTemplate::json).collect();
    let mut body = json!({"data": page});
    if !page.is_empty() {
        let last = start + page.len() - 1;
        body["paging"] = json!({"cursors": {"before": cursor(start), "after": cursor(last)}});
        if last + 1 < all.len() {
            let base = sim_base(&headers);
            body["paging"]["next"] =
                json!(format!("{base}/{version}/{waba_id}/message_templates?limit={limit}&after={}", cursor(last)));
        }
    }
    Json(body).into_response()
}

/// `http://<host>` of the request, for `paging.next`.
fn sim_base(headers: &HeaderMap) -> String {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("127.0.0.1");
    format!("http://{host}")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTemplate {
    name: String,
    language: String,
    category: String,
    components: Vec<Value>,
    #[serde(default)]
    allow_category_change: Option<bool>,
}

pub(crate) async fn create(
    State(sim): State<Arc<Sim>>,
    Path((_version, waba_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Json<NewTemplate>, JsonRejection>,
) -> Response {
    if let Err(e) = authorize(&sim, &headers, &waba_id) {
        return e.into_response();
    }
    let Json(t) = match body {
        Ok(b) => b,
        Err(e) => return GraphError::invalid(format!("(#100) Invalid parameter: {}", e.body_text())).into_response(),
    };
    let _ = t.allow_category_change;
    if t.name.is_empty()
        || t.name.len() > 512
        || !t.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return GraphError::invalid(
            "(#100) Param name must contain only lowercase characters, numbers and underscores",
        )
        .into_response();
    }
    if t.language.is_empty() || t.language.len() > 8 {
        return GraphError::invalid("(#100) Param language is not a supported language code").into_response();
    }
    if !CATEGORIES.contains(&t.category.as_str()) {
        return GraphError::invalid("(#100) Param category must be one of {MARKETING, UTILITY, AUTHENTICATION}")
            .into_response();
    }
    let has_body = t.components.iter().any(|c| {
        c["type"].as_str().is_some_and(|k| k.eq_ignore_ascii_case("BODY"))
            && c["text"].as_str().is_some_and(|s| !s.is_empty() && s.chars().count() <= 1024)
    });
    if !has_body {
        return GraphError::invalid("(#100) A template needs a BODY component with 1 to 1024 characters of text")
            .into_response();
    }
    let mut inner = sim.lock();
    let id = format!("{}", 900_000_000_000_000u64 + inner.template_seq);
    let list = inner.templates.entry(waba_id).or_default();
    if list.iter().any(|x| x.name == t.name && x.language == t.language) {
        let mut e = GraphError::invalid("Content in this language already exists");
        e.subcode = Some(2_388_024);
        return e.into_response();
    }
    list.push(SimTemplate {
        id: id.clone(),
        name: t.name,
        language: t.language,
        category: t.category.clone(),
        components: Value::Array(t.components),
        status: "PENDING".to_owned(),
        rejected_reason: None,
    });
    inner.template_seq += 1;
    (StatusCode::OK, Json(json!({"id": id, "status": "PENDING", "category": t.category}))).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatusChange {
    waba_id: String,
    /// The template's id, or its name (with `language`).
    id: Option<String>,
    name: Option<String>,
    language: Option<String>,
    status: String,
    reason: Option<String>,
}

/// `POST /_sim/templates/status`: a review's outcome (or any later status change).
pub(crate) async fn set_status(State(sim): State<Arc<Sim>>, Json(c): Json<StatusChange>) -> Response {
    match sim.set_template_status(
        &c.waba_id,
        c.id.as_deref(),
        c.name.as_deref(),
        c.language.as_deref(),
        &c.status,
        c.reason,
    ) {
        Ok(t) => Json(t.json()).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

impl Sim {
    /// Sets a template's status; the template, or why not.
    pub(crate) fn set_template_status(
        &self,
        waba_id: &str,
        id: Option<&str>,
        name: Option<&str>,
        language: Option<&str>,
        status: &str,
        reason: Option<String>,
    ) -> Result<SimTemplate, String> {
        if !STATUSES.contains(&status) {
            return Err(format!("status must be one of {STATUSES:?}"));
        }
        let mut inner = self.lock();
        let t = inner
            .templates
            .get_mut(waba_id)
            .and_then(|l| {
                l.iter_mut().find(|t| {
                    id.is_some_and(|i| i == t.id)
                        || (name == Some(t.name.as_str()) && language == Some(t.language.as_str()))
                })
            })
            .ok_or_else(|| "no such template".to_owned())?;
        t.status = status.to_owned();
        t.rejected_reason =
            if status == "REJECTED" { Some(reason.unwrap_or_else(|| "INVALID_FORMAT".to_owned())) } else { reason };
        Ok(t.clone())
    }

    /// Adds a template as it stands (for tests: any status); its id.
    pub(crate) fn add_template(&self, waba_id: &str, mut t: SimTemplate) -> String {
        let mut inner = self.lock();
        t.id = format!("{}", 900_000_000_000_000u64 + inner.template_seq);
        inner.template_seq += 1;
        let id = t.id.clone();
        inner.templates.entry(waba_id.to_owned()).or_default().push(t);
        id
    }

    /// The WABA of an account.
    pub(crate) fn waba_of(&self, phone_number_id: &str) -> Option<String> {
        self.lock().accounts.get(phone_number_id).map(|a| a.waba_id.clone())
    }

    /// A WABA's templates.
    pub(crate) fn templates_of(&self, waba_id: &str) -> Vec<SimTemplate> {
        self.lock().templates.get(waba_id).cloned().unwrap_or_default()
    }
}
