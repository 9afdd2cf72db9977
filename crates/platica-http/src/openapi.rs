//! Completing the OpenAPI document so that it is exact: the statuses every operation can return
//! whatever its handler says (the extractors', the edge's and the middleware's), operationIds
//! unique across the API, and a check that no two types share a schema name.
//!
//! The handlers' `#[utoipa::path]` annotations list what the handler itself answers; what every
//! operation of a kind can answer is added here, once:
//! - 400 `bad_request`: a malformed path, query string or JSON body (operations with parameters
//!   or a body).
//! - 401 `unauthorized` and 403 (`bad_origin`: a session cookie sent from another origin;
//!   `forbidden`: a role that may not do this): every operation but the public ones (`security`
//!   empty: login and the providers' webhooks).
//! - 404 `not_found`: operations with path parameters (the id names nothing visible) or a body
//!   (an id in it names nothing visible; `field` says which).
//! - 413, 415, 422: operations with a JSON body (too large, not JSON, invalid); 422 also for query
//!   strings (a `limit` out of range, a bad filter).
//! - 429: the rate-limited operations ([`RATE_LIMITED`]).
//! - The creating operations ([`crate::idempotency::ROUTES`]) take the optional `Idempotency-Key`
//!   header, and answer 400 `invalid_idempotency_key`, 409 `idempotency_in_progress` /
//!   `idempotency_interrupted` and 422 `idempotency_key_reused` because of it.
//! - 503: every operation (`timeout`: the request took longer than [`crate::extract::REQUEST_TIMEOUT`];
//!   `unavailable`: the database pool is exhausted; with `min_lsn`, `stream_degraded` or
//!   `not_caught_up` while the live inbox is behind).
//!
//! Path parameters get the constraints their extractors check: ids (`*_id`) are positive
//! ([`crate::extract::PathId`]), a configuration key has the form `platica_store::config::valid_key`
//! accepts.

use std::collections::{BTreeMap, BTreeSet};

use utoipa::openapi::Required;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn, PathItem};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder, Schema};

/// Operations with a rate limit of their own, answering 429 with `Retry-After` beyond it.
pub const RATE_LIMITED: &[(&str, &str, &str)] = &[
    (
        "post",
        "/api/v1/auth/login",
        "`too_many_attempts`: too many login attempts from this address or for this account",
    ),
    ("get", "/api/v1/ws", "`too_many_connections`: the user has as many WebSockets open as allowed"),
    ("post", "/api/v1/whatsapp/webhook", "`rate_limited`: too many webhooks naming no known number"),
];

/// Completes `doc` (see the module docs). Idempotent.
pub fn complete(doc: &mut OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations_mut(item) {
            complete_operation(path, method, op);
        }
    }
    unique_operation_ids(doc);
}

fn operations_mut(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    let PathItem { get, put, post, delete, options, head, patch, trace, .. } = item;
    [
        ("get", get),
        ("put", put),
        ("post", post),
        ("delete", delete),
        ("options", options),
        ("head", head),
        ("patch", patch),
        ("trace", trace),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
    .collect()
}

/// Whether an operation needs no credentials (`security: [{}]`).
pub fn is_public(op: &Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        reqs.iter().any(|r| serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|o| o.is_empty())))
    })
}

fn complete_operation(path: &str, method: &str, op: &mut Operation) {
    constrain_path_parameters(op);
    let params = op.parameters.as_deref().unwrap_or_default();
    let has_path_params = params.iter().any(|p| matches!(p.parameter_in, ParameterIn::Path));
    let has_query = params.iter().any(|p| matches!(p.parameter_in, ParameterIn::Query));
    let has_min_lsn = params.iter().any(|p| p.name == "min_lsn");
    let has_body = op.request_body.is_some();
    let public = is_public(op);

    let mut add = |status: &str, description: String| {
        op.responses.responses.entry(status.to_owned()).or_insert_with(|| error_response(&description));
    };
    if has_path_params || has_query || has_body {
        add("400", "`bad_request`: a malformed path, query string or body".into());
    }
    if !public {
        add("401", "`unauthorized`: no credentials, or a token that is invalid, expired or revoked".into());
        add(
            "403",
            "`forbidden`: the caller's role may not do this; `bad_origin`: a session cookie sent from a page of \
             another origin"
                .into(),
        );
    }
    if has_path_params || has_body {
        add("404", "`not_found`: nothing the caller can see has this id (in the path, or the body's `field`)".into());
    }
    if has_body {
        add("413", format!("`payload_too_large`: the body is larger than {} bytes", crate::extract::BODY_LIMIT));
        add("415", "`unsupported_media_type`: the body is not sent as `application/json`".into());
    }
    if has_body || has_query {
        add("422", "`invalid_input` (with `field`): a value out of its range, form or length".into());
    }
    if let Some((_, _, why)) = RATE_LIMITED.iter().find(|(m, p, _)| *m == method && *p == path) {
        add("429", format!("{why}; `Retry-After` says when to try again"));
    }
    let mut unavailable = format!(
        "`timeout`: no answer within {} s; `unavailable`: the server is busy. `Retry-After` says when to try again",
        crate::extract::REQUEST_TIMEOUT.as_secs()
    );
    if has_min_lsn {
        unavailable.push_str(
            "; with `min_lsn`: `stream_degraded` (live updates are paused) or `not_caught_up` (the position is not \
             applied yet)",
        );
    }
    add("503", unavailable);
    let idempotent = method == "post" && crate::idempotency::ROUTES.contains(&path);
    let documented = op.parameters.iter().flatten().any(|p| p.name == "Idempotency-Key");
    if idempotent && !documented {
        document_idempotency_key(op);
        // What the Idempotency-Key adds, whatever the handler answers (see crate::idempotency).
        for (status, why) in [
            ("400", "`invalid_idempotency_key`: an `Idempotency-Key` that is not 1 to 255 visible ASCII characters"),
            (
                "409",
                "`idempotency_in_progress`: the first request with this `Idempotency-Key` still runs (`Retry-After`); \
                 `idempotency_interrupted`: it never finished, its outcome is unknown",
            ),
            ("422", "`idempotency_key_reused`: this `Idempotency-Key` was used for another method, path or body"),
        ] {
            match op.responses.responses.get_mut(status) {
                Some(RefOr::T(r)) if r.description.is_empty() => r.description = why.to_owned(),
                Some(RefOr::T(r)) => r.description = format!("{}; {why}", r.description),
                Some(RefOr::Ref(_)) => {}
                None => {
                    op.responses.responses.insert(status.to_owned(), error_response(why));
                }
            }
        }
    }
}

/// The optional `Idempotency-Key` header of the creating operations.
fn document_idempotency_key(op: &mut Operation) {
    let schema = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(platica_store::idempotency::MAX_KEY_LEN))
        .pattern(Some("^[!-~]+$"))
        .build();
    let param = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(format!(
            "Makes a retry safe: the first request with a key runs, every later one with the same key (same \
             method, path and body, same user or API token) gets its answer again, marked `Idempotent-Replayed: \
             true`, for {} hours. Answers stored: 2xx and the 4xx of validation; any other answer frees the key.",
            platica_store::idempotency::TTL.as_secs() / 3600
        )))
        .schema(Some(schema))
        .build();
    op.parameters.get_or_insert_with(Vec::new).push(param);
}

/// Path ids are positive integers; configuration keys are lower-case words with `_` and `.`.
fn constrain_path_parameters(op: &mut Operation) {
    for p in op.parameters.iter_mut().flatten() {
        if !matches!(p.parameter_in, ParameterIn::Path) {
            continue;
        }
        let Some(RefOr::T(Schema::Object(schema))) = p.schema.as_mut() else { continue };
        if p.name.ends_with("_id") {
            schema.minimum = Some(utoipa::Number::Int(1));
        } else if p.name == "key" {
            schema.pattern = Some("^[a-z][a-z0-9_.]{0,63}$".to_owned());
            schema.max_length = Some(64);
        }
    }
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build())
            .build(),
    )
}

/// utoipa names an operation after its handler (`list`, `create`, ...), which repeats across
/// resources: every operationId becomes `<tag>_<handler>` (the tag's spaces as `_`).
fn unique_operation_ids(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations_mut(item) {
            let tag: String = op
                .tags
                .as_ref()
                .and_then(|t| t.first())
                .map(|t| t.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect())
                .unwrap_or_default();
            let Some(id) = op.operation_id.clone() else { continue };
            if !tag.is_empty() && !id.starts_with(&format!("{tag}_")) {
                op.operation_id = Some(format!("{tag}_{id}"));
            }
        }
    }
}

/// Schema names that two different types claim: utoipa keeps one silently, so the document would
/// describe one of them wrongly. `parts` are documents of separate parts of the API (one per
/// resource module).
pub fn schema_name_conflicts(parts: &[OpenApi]) -> Vec<String> {
    let mut seen: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut conflicts = BTreeSet::new();
    for doc in parts {
        let Some(components) = &doc.components else { continue };
        for (name, schema) in &components.schemas {
            let value = serde_json::to_value(schema).unwrap_or_default();
            match seen.get(name) {
                Some(prev) if *prev != value => {
                    conflicts.insert(name.clone());
                }
                Some(_) => {}
                None => {
                    seen.insert(name.clone(), value);
                }
            }
        }
    }
    conflicts.into_iter().collect()
}
