//! The OpenAPI document describes every route, and every route it describes exists.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use support::TestApp;

/// Every operation the API serves. A new route must be added here and to the document.
const OPERATIONS: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/logout"),
    ("get", "/api/v1/auth/me"),
    ("get", "/api/v1/teams"),
    ("post", "/api/v1/teams"),
    ("get", "/api/v1/teams/{team_id}"),
    ("patch", "/api/v1/teams/{team_id}"),
    ("delete", "/api/v1/teams/{team_id}"),
    ("get", "/api/v1/users"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users/{user_id}"),
    ("patch", "/api/v1/users/{user_id}"),
    ("get", "/api/v1/api-tokens"),
    ("post", "/api/v1/api-tokens"),
    ("delete", "/api/v1/api-tokens/{token_id}"),
    ("get", "/api/v1/prospects"),
    ("post", "/api/v1/prospects"),
    ("get", "/api/v1/prospects/{prospect_id}"),
    ("patch", "/api/v1/prospects/{prospect_id}"),
    ("delete", "/api/v1/prospects/{prospect_id}"),
    ("post", "/api/v1/prospects/{prospect_id}/reassign"),
    ("get", "/api/v1/prospects/{prospect_id}/assignments"),
    ("get", "/api/v1/prospects/{prospect_id}/conversations"),
    ("get", "/api/v1/prospect-fields"),
    ("post", "/api/v1/prospect-fields"),
    ("patch", "/api/v1/prospect-fields/{field_id}"),
    ("delete", "/api/v1/prospect-fields/{field_id}"),
    ("post", "/api/v1/prospects/bulk-reassign"),
    ("get", "/api/v1/search/messages"),
    ("get", "/api/v1/reports"),
    ("put", "/api/v1/reports/time-zone"),
    ("get", "/api/v1/conversations"),
    ("get", "/api/v1/inbox"),
    ("get", "/api/v1/admin/inbox-status"),
    ("get", "/api/v1/admin/verify"),
    ("get", "/api/v1/ws"),
    ("get", "/api/v1/conversations/{conversation_id}"),
    ("patch", "/api/v1/conversations/{conversation_id}"),
    ("get", "/api/v1/conversations/{conversation_id}/messages"),
    ("post", "/api/v1/conversations/{conversation_id}/messages"),
    ("post", "/api/v1/conversations/{conversation_id}/read"),
    ("get", "/api/v1/system-config"),
    ("get", "/api/v1/system-config/{key}"),
    ("put", "/api/v1/system-config/{key}"),
    ("get", "/api/v1/channels"),
    ("post", "/api/v1/channels"),
    ("get", "/api/v1/channels/{channel_account_id}"),
    ("patch", "/api/v1/channels/{channel_account_id}"),
    ("delete", "/api/v1/channels/{channel_account_id}"),
    ("get", "/api/v1/channels/{channel_account_id}/events"),
    ("post", "/api/v1/channels/{channel_account_id}/test"),
    ("get", "/api/v1/channels/health"),
    ("post", "/api/v1/messages/{message_id}/retry"),
    ("get", "/api/v1/whatsapp/webhook"),
    ("post", "/api/v1/whatsapp/webhook"),
    ("get", "/api/v1/conversations/{conversation_id}/bot"),
    ("put", "/api/v1/conversations/{conversation_id}/bot"),
    ("get", "/api/v1/bot/settings"),
    ("put", "/api/v1/bot/settings"),
    ("get", "/api/v1/bot/rules"),
    ("post", "/api/v1/bot/rules"),
    ("patch", "/api/v1/bot/rules/{bot_rule_id}"),
    ("delete", "/api/v1/bot/rules/{bot_rule_id}"),
    ("put", "/api/v1/bot/rules/order"),
    ("post", "/api/v1/bot/try"),
    ("get", "/api/v1/bot/paused"),
    ("get", "/api/v1/templates"),
    ("post", "/api/v1/templates"),
    ("delete", "/api/v1/templates/{template_id}"),
    ("post", "/api/v1/templates/submit"),
    ("post", "/api/v1/templates/sync"),
    ("get", "/api/v1/campaigns"),
    ("post", "/api/v1/campaigns"),
    ("post", "/api/v1/campaigns/preview"),
    ("get", "/api/v1/campaigns/{campaign_id}"),
    ("get", "/api/v1/campaigns/{campaign_id}/recipients"),
    ("post", "/api/v1/campaigns/{campaign_id}/pause"),
    ("post", "/api/v1/campaigns/{campaign_id}/resume"),
    ("post", "/api/v1/campaigns/{campaign_id}/cancel"),
    ("post", "/api/v1/admin/release-web"),
    ("get", "/api/v1/jobs"),
    ("post", "/api/v1/jobs"),
    ("get", "/api/v1/jobs/kinds"),
    ("get", "/api/v1/jobs/{job_id}"),
    ("patch", "/api/v1/jobs/{job_id}"),
    ("delete", "/api/v1/jobs/{job_id}"),
    ("post", "/api/v1/jobs/{job_id}/run"),
    ("get", "/api/v1/jobs/{job_id}/runs"),
    ("get", "/api/v1/calls"),
    ("get", "/api/v1/calls/summary"),
    ("get", "/api/v1/calls/{call_id}"),
    ("post", "/api/v1/calls/webhook"),
    ("put", "/api/v1/calls/provider-secret"),
    ("get", "/api/v1/scheduled-calls"),
    ("post", "/api/v1/scheduled-calls"),
    ("get", "/api/v1/scheduled-calls/{scheduled_call_id}"),
    ("patch", "/api/v1/scheduled-calls/{scheduled_call_id}"),
    ("delete", "/api/v1/scheduled-calls/{scheduled_call_id}"),
    ("get", "/api/v1/tickets"),
    ("post", "/api/v1/tickets"),
    ("get", "/api/v1/tickets/{ticket_id}"),
    ("patch", "/api/v1/tickets/{ticket_id}"),
    ("post", "/api/v1/tickets/{ticket_id}/comments"),
    ("get", "/api/v1/notifications"),
    ("post", "/api/v1/notifications/{notification_id}/read"),
    ("post", "/api/v1/notifications/read-all"),
    // Media (issue 17).
    ("get", "/api/v1/media/{media_id}"),
    ("get", "/api/v1/media/{media_id}/thumbnail"),
    ("post", "/api/v1/media"),
    // The composer (issue 18).
    ("post", "/api/v1/conversations/{conversation_id}/notes"),
    ("get", "/api/v1/conversations/{conversation_id}/mentionable"),
    ("get", "/api/v1/canned-replies"),
    ("post", "/api/v1/canned-replies"),
    ("patch", "/api/v1/canned-replies/{canned_reply_id}"),
    ("delete", "/api/v1/canned-replies/{canned_reply_id}"),
    // Triage labels (issue 18).
    ("get", "/api/v1/labels"),
    ("post", "/api/v1/labels"),
    ("patch", "/api/v1/labels/{label_id}"),
    ("delete", "/api/v1/labels/{label_id}"),
];

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let app = TestApp::spawn().await;
    let doc = app.call(Method::GET, "/api/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3."), "an OpenAPI 3 document");

    let mut documented = BTreeSet::new();
    for (path, item) in doc.body["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.insert((method.to_owned(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> =
        OPERATIONS.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, expected, "documented operations differ from the served ones");

    // Each documented operation is routed: without credentials it is refused as unauthorised (or,
    // for login, as bad input), never "no such route" or "method not allowed".
    for (method, path) in &documented {
        let path_for_request = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { if seg == "{key}" { "app_version" } else { "1" } } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let body = serde_json::json!({});
        let resp = app.call(m, &path_for_request, None, Some(&body)).await;
        assert!(
            resp.status == StatusCode::UNAUTHORIZED
                || (path.ends_with("/auth/login") && resp.status == StatusCode::UNPROCESSABLE_ENTITY),
            "{method} {path_for_request}: {} {:?}",
            resp.status,
            resp.body
        );
    }

    // Errors are described with the one error shape.
    assert!(doc.body["components"]["schemas"]["ErrorBody"].is_object());
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
}

/// Every operation of the document, as (method, path, operation).
fn operations(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if let Some(op) = item.get(method) {
                out.push((method.to_owned(), path.clone(), op.clone()));
            }
        }
    }
    out
}

/// Operations anyone may call: login and the providers' webhooks (authenticated by signatures).
const PUBLIC: &[(&str, &str)] = &[
    ("post", "/api/v1/auth/login"),
    ("get", "/api/v1/whatsapp/webhook"),
    ("post", "/api/v1/whatsapp/webhook"),
    ("post", "/api/v1/calls/webhook"),
];

#[test]
fn operation_ids_and_schema_names_are_unique() {
    let doc = serde_json::to_value(platica_http::openapi()).unwrap();
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice ({method} {path})");
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'), "operationId {id:?}: a plain word");
    }
    assert_eq!(ids.len(), OPERATIONS.len());
    // utoipa keeps one of two types that claim a schema name: none may.
    assert_eq!(platica_http::app::schema_name_conflicts(), Vec::<String>::new(), "schema names claimed twice");
    // Every reference resolves.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = part.split('"').next().unwrap();
        assert!(schemas.contains_key(name), "a reference to the undefined schema {name}");
    }
}

#[test]
fn login_and_webhooks_are_public_and_every_other_operation_documents_401_and_403() {
    let doc = serde_json::to_value(platica_http::openapi()).unwrap();
    assert_eq!(doc["security"], serde_json::json!([{"bearer": []}]), "bearer auth by default");
    for (method, path, op) in operations(&doc) {
        let public = PUBLIC.contains(&(method.as_str(), path.as_str()));
        let responses = op["responses"].as_object().unwrap();
        if public {
            assert_eq!(op["security"], serde_json::json!([{}]), "{method} {path} needs no credentials");
            if path.ends_with("/auth/login") {
                assert!(
                    responses.contains_key("401") && responses.contains_key("429"),
                    "login: wrong password, limits"
                );
            }
        } else {
            assert!(op.get("security").is_none(), "{method} {path} uses the default bearer auth");
            for status in ["401", "403"] {
                assert!(responses.contains_key(status), "{method} {path} does not document {status}");
            }
        }
        // Every request can time out.
        assert!(responses.contains_key("503"), "{method} {path} does not document 503");
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(responses.contains_key(status), "{method} {path} takes a body but does not document {status}");
            }
        }
        if path.contains('{') {
            assert!(responses.contains_key("404"), "{method} {path} does not document 404");
        }
        for (status, r) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    r["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ErrorBody",
                    "{method} {path} {status}: errors have the one error shape"
                );
            }
        }
    }
    assert!(doc["paths"]["/api/v1/ws"]["get"]["responses"]["429"].is_object(), "the WebSocket cap per user");
}

#[test]
fn request_schemas_state_the_servers_constraints() {
    let doc = serde_json::to_value(platica_http::openapi()).unwrap();
    let s = &doc["components"]["schemas"];
    let login = &s["LoginRequest"]["properties"];
    assert_eq!(login["password"]["maxLength"], 4096);
    assert_eq!(login["password"]["minLength"], 1);
    assert!(login["tenant"]["pattern"].is_string());
    assert_eq!(s["TeamInput"]["properties"]["name"]["maxLength"], 200);
    assert_eq!(s["CreateUser"]["properties"]["password"]["minLength"], 8);
    // Page sizes: 1 to the route's maximum.
    let limit = doc["paths"]["/api/v1/conversations"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap()
        .clone();
    assert_eq!(limit["schema"]["minimum"], 1);
    assert_eq!(limit["schema"]["maximum"], 200);
}

/// Every creating operation (a POST answering 201) takes the optional `Idempotency-Key` header,
/// constrained as the server checks it, and documents what it adds; no other operation does.
#[test]
fn creating_operations_document_the_idempotency_key() {
    let doc = serde_json::to_value(platica_http::openapi()).unwrap();
    for (method, path, op) in operations(&doc) {
        let creates = method == "post" && op["responses"].get("201").is_some();
        let listed = method == "post" && platica_http::idempotency::ROUTES.contains(&path.as_str());
        assert!(!creates || listed, "{method} {path} creates but is not in idempotency::ROUTES");
        let header = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["name"] == "Idempotency-Key" && p["in"] == "header");
        assert_eq!(header.is_some(), listed, "{method} {path}: Idempotency-Key documented {}", header.is_some());
        let Some(header) = header else { continue };
        assert_eq!(header["required"], false);
        assert_eq!(header["schema"]["maxLength"], 255);
        assert_eq!(header["schema"]["minLength"], 1);
        for (status, code) in
            [("400", "invalid_idempotency_key"), ("409", "idempotency_in_progress"), ("422", "idempotency_key_reused")]
        {
            let text = op["responses"][status]["description"].as_str().unwrap_or_default();
            assert!(text.contains(code), "{method} {path} {status}: {text}");
        }
    }
}
