//! The OpenAPI document describes every route, and every route it describes exists.
#![allow(clippy::unwrap_used)]

mod support;

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
    ("post", "/api/v1/prospects/bulk-reassign"),
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
    ("get", "/api/v1/whatsapp/webhook"),
    ("post", "/api/v1/whatsapp/webhook"),
    ("get", "/api/v1/conversations/{conversation_id}/bot"),
    ("put", "/api/v1/conversations/{conversation_id}/bot"),
    ("get", "/api/v1/bot/settings"),
    ("put", "/api/v1/bot/settings"),
    ("get", "/api/v1/bot/rules"),
    ("post", "/api/v1/bot/rules"),
    ("delete", "/api/v1/bot/rules/{bot_rule_id}"),
    ("get", "/api/v1/templates"),
    ("post", "/api/v1/templates"),
    ("delete", "/api/v1/templates/{template_id}"),
    ("get", "/api/v1/campaigns"),
    ("post", "/api/v1/campaigns"),
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
