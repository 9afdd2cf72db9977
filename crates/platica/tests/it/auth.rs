//! Authentication and authorisation over HTTP: logging in and out, the session cookie, sessions
//! and API tokens that stop working, role escalation attempts, the login rate limit, and
//! garbage credentials.
#![allow(clippy::unwrap_used)]

use crate::support;

use platica_http::login_limits::ACCOUNT_BURST;
use reqwest::header::{AUTHORIZATION, COOKIE, HeaderValue, RETRY_AFTER, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{PASSWORD, Resp, TestApp, world};

async fn login_raw(app: &TestApp, body: Value) -> Resp {
    app.call(Method::POST, "/api/v1/auth/login", None, Some(&body)).await
}

/// `GET /auth/me` with exactly the given headers (no bearer token added).
async fn me_with(app: &TestApp, headers: &[(reqwest::header::HeaderName, HeaderValue)]) -> (StatusCode, Value) {
    let mut req = app.client.get(app.url("/api/v1/auth/me"));
    for (k, v) in headers {
        req = req.header(k, v.clone());
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON answer ({status}): {text}"));
    (status, body)
}

fn assert_unauthorized(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {:?}", r.body);
    assert_eq!(r.code(), "unauthorized", "{what}: {:?}", r.body);
    assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{what}");
}

fn assert_forbidden(r: &Resp, what: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {:?}", r.body);
    assert_eq!(r.code(), "forbidden", "{what}: {:?}", r.body);
    assert!(!r.body["error"]["message"].as_str().unwrap_or("").is_empty(), "{what}");
}

#[tokio::test]
async fn login_gives_a_token_and_an_http_only_cookie() {
    let app = TestApp::spawn().await;
    let w = world(&app, "a", 1).await;
    let r = login_raw(&app, json!({"tenant": "a", "email": "Ana@A.test", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with(&format!("pls_{}_", w.tenant)), "{token}");
    assert_eq!(r.body["user"]["user_id"], w.exec_ana.0);
    assert_eq!(r.body["user"]["role"], "executive");
    assert!(r.body["expires_at"].is_string());

    let cookie = r.headers.get(SET_COOKIE).unwrap().to_str().unwrap().to_owned();
    let parts: Vec<&str> = cookie.split(';').map(str::trim).collect();
    assert_eq!(parts[0], format!("platica_session={token}"), "{cookie}");
    assert!(parts.contains(&"HttpOnly"), "{cookie}");
    assert!(parts.contains(&"Path=/"), "{cookie}");
    assert!(parts.iter().any(|p| p.starts_with("SameSite=")), "{cookie}");
    assert!(parts.iter().any(|p| p.starts_with("Max-Age=")), "{cookie}");

    // The cookie alone authenticates, among other cookies.
    let cookie_header = HeaderValue::from_str(&format!("theme=dark; platica_session={token}; lang=es")).unwrap();
    let (status, me) = me_with(&app, &[(COOKIE, cookie_header.clone())]).await;
    assert_eq!(status, StatusCode::OK, "{me:?}");
    assert_eq!((me["user_id"].as_i64(), me["email"].as_str()), (Some(w.exec_ana.0), Some("ana@a.test")));
    // So does the bearer token.
    let me = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.body["user_id"], w.exec_ana.0);
    let inbox = app.get("/api/v1/conversations", &token).await;
    assert_eq!(inbox.body["total"], 2, "a logged-in executive sees hers");

    // Logging out with the cookie ends the session and clears the cookie.
    let resp =
        app.client.post(app.url("/api/v1/auth/logout")).header(COOKIE, cookie_header.clone()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let cleared = resp.headers().get(SET_COOKIE).unwrap().to_str().unwrap();
    assert!(cleared.starts_with("platica_session=;") && cleared.contains("Max-Age=0"), "{cleared}");
    let (status, body) = me_with(&app, &[(COOKIE, cookie_header)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body:?}");
    assert_unauthorized(&app.get("/api/v1/auth/me", &token).await, "bearer after cookie logout");
}

#[tokio::test]
async fn wrong_password_unknown_email_and_unknown_tenant_look_the_same() {
    let app = TestApp::spawn().await;
    let w = world(&app, "a", 1).await;
    let before = app.snapshot_all().await;
    let attempts = [
        json!({"tenant": "a", "email": "ana@a.test", "password": "wrong-password"}),
        json!({"email": "ana@a.test", "password": "wrong-password"}),
        json!({"tenant": "a", "email": "nobody@a.test", "password": PASSWORD}),
        json!({"email": "nobody@a.test", "password": PASSWORD}),
        json!({"tenant": "zz", "email": "ana@a.test", "password": PASSWORD}),
        json!({"tenant": "a", "email": "ana@a.test", "password": PASSWORD.to_uppercase()}),
    ];
    let mut bodies = Vec::new();
    for a in &attempts {
        let r = login_raw(&app, a.clone()).await;
        assert_unauthorized(&r, &a.to_string());
        assert!(r.headers.get(SET_COOKIE).is_none(), "no cookie on a failed login");
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|b| b[0] == b[1]), "failed logins must not say why: {bodies:?}");
    // The reason is a code clients word in their reader's language (the message is English).
    assert_eq!(bodies[0]["error"]["reason"], "wrong_credentials", "{:?}", bodies[0]);
    assert_eq!(app.snapshot_all().await, before, "a failed login wrote something");
    // And the right password still works (six failures are within the burst).
    let _ = app.login("a", "ana@a.test", PASSWORD).await;
    let _ = w;
}

#[tokio::test]
async fn an_email_in_two_tenants_needs_the_tenant() {
    let app = TestApp::spawn().await;
    let a = world(&app, "a", 1).await;
    let b = world(&app, "b", 1).await;
    let r = app
        .post(
            "/api/v1/users",
            b.token(b.admin),
            json!({"email": "ana@a.test", "display_name": "Ana B", "role": "executive", "password": "other-pass-2"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let ana_b = r.body["user_id"].as_i64().unwrap();

    // Without the tenant: a wrong password says nothing about the e-mail being in two tenants;
    // each tenant's password opens its own account.
    let r = login_raw(&app, json!({"email": "ana@a.test", "password": "not-the-password"})).await;
    assert_unauthorized(&r, "a wrong password for an e-mail in two tenants");
    assert_eq!(r.body, login_raw(&app, json!({"email": "nobody@a.test", "password": "x"})).await.body);
    for tenant in [None, Some(""), Some("  ")] {
        let mut body = json!({"email": "ana@a.test", "password": PASSWORD});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        let r = login_raw(&app, body).await;
        assert_eq!(r.status, StatusCode::OK, "tenant {tenant:?}: {:?}", r.body);
        assert_eq!(r.body["user"]["user_id"], a.exec_ana.0);
    }
    let r = login_raw(&app, json!({"email": "ana@a.test", "password": "other-pass-2"})).await;
    assert_eq!(r.body["user"]["user_id"], ana_b);
    // The same password in both: the tenant must be named (told only to who knows it).
    let r = app.patch(&format!("/api/v1/users/{ana_b}"), b.token(b.admin), json!({"password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = login_raw(&app, json!({"email": "ana@a.test", "password": PASSWORD})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    assert_eq!(r.code(), "conflict");
    assert_eq!(r.body["error"]["field"], "tenant");
    let r = app.patch(&format!("/api/v1/users/{ana_b}"), b.token(b.admin), json!({"password": "other-pass-2"})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = login_raw(&app, json!({"tenant": "a", "email": "ana@a.test", "password": PASSWORD})).await;
    assert_eq!(r.body["user"]["user_id"], a.exec_ana.0);
    let r = login_raw(&app, json!({"tenant": "b", "email": "ana@a.test", "password": "other-pass-2"})).await;
    assert_eq!(r.body["user"]["user_id"], ana_b);
    assert_eq!(r.body["user"]["tenant_id"], b.tenant.0);
    // Each tenant's password opens only its own account.
    let r = login_raw(&app, json!({"tenant": "b", "email": "ana@a.test", "password": PASSWORD})).await;
    assert_unauthorized(&r, "tenant a's password on tenant b");
}

#[tokio::test]
async fn a_deactivated_user_is_locked_out_everywhere() {
    let app = TestApp::spawn().await;
    let w = world(&app, "a", 1).await;
    let admin = w.token(w.admin);
    let luis_login = app.login("a", "luis@a.test", PASSWORD).await;
    let luis_fixture = w.token(w.exec_luis).to_owned();
    let r = app.post("/api/v1/api-tokens", admin, json!({"name": "luis bot", "user_id": w.exec_luis.0})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let luis_api = r.body["token"].as_str().unwrap().to_owned();
    for t in [&luis_login, &luis_fixture, &luis_api] {
        assert_eq!(app.get("/api/v1/auth/me", t).await.status, StatusCode::OK);
    }

    let r = app.patch(&format!("/api/v1/users/{}", w.exec_luis), admin, json!({"active": false})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["active"], false);
    for (what, t) in [("login session", &luis_login), ("other session", &luis_fixture), ("API token", &luis_api)] {
        assert_unauthorized(&app.get("/api/v1/auth/me", t).await, what);
        assert_unauthorized(&app.get("/api/v1/conversations", t).await, what);
    }
    let r = login_raw(&app, json!({"tenant": "a", "email": "luis@a.test", "password": PASSWORD})).await;
    assert_unauthorized(&r, "deactivated login");
    let wrong = login_raw(&app, json!({"tenant": "a", "email": "luis@a.test", "password": "not-it-at-all"})).await;
    assert_eq!(r.body, wrong.body, "a deactivated account is not told apart from a wrong password");

    // Reactivated: he can log in again; the old sessions stay ended.
    let r = app.patch(&format!("/api/v1/users/{}", w.exec_luis), admin, json!({"active": true})).await;
    assert_eq!(r.status, StatusCode::OK);
    let fresh = app.login("a", "luis@a.test", PASSWORD).await;
    assert_eq!(app.get("/api/v1/auth/me", &fresh).await.status, StatusCode::OK);
    assert_unauthorized(&app.get("/api/v1/auth/me", &luis_login).await, "session from before deactivation");
}

#[tokio::test]
async fn logout_expiry_and_revocation_end_access() {
    let app = TestApp::spawn().await;
    let w = world(&app, "a", 1).await;
    let admin = w.token(w.admin);

    // Logout revokes exactly the token used.
    let one = app.login("a", "ana@a.test", PASSWORD).await;
    let two = app.login("a", "ana@a.test", PASSWORD).await;
    let r = app.call(Method::POST, "/api/v1/auth/logout", Some(&one), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{:?}", r.body);
    assert_unauthorized(&app.get("/api/v1/auth/me", &one).await, "after logout");
    assert_unauthorized(&app.call(Method::POST, "/api/v1/auth/logout", Some(&one), None).await, "logout twice");
    assert_eq!(app.get("/api/v1/auth/me", &two).await.status, StatusCode::OK, "the other session lives on");
    let revoked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE user_id = $1 AND revoked_at IS NOT NULL")
            .bind(w.exec_ana.0)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(revoked, 1, "exactly the session logged out of is revoked");

    // An expired session is refused.
    let three = app.login("a", "luis@a.test", PASSWORD).await;
    assert_eq!(app.get("/api/v1/auth/me", &three).await.status, StatusCode::OK);
    sqlx::query(
        "UPDATE sessions SET expires_at = now() - interval '1 second'
         WHERE session_id = (SELECT max(session_id) FROM sessions WHERE user_id = $1)",
    )
    .bind(w.exec_luis.0)
    .execute(&app.pool)
    .await
    .unwrap();
    assert_unauthorized(&app.get("/api/v1/auth/me", &three).await, "expired session");
    assert_unauthorized(&app.get("/api/v1/prospects", &three).await, "expired session");

    // API tokens: revoked and expired ones are refused.
    let r = app.post("/api/v1/api-tokens", admin, json!({"name": "one"})).await;
    let (api, api_id) =
        (r.body["token"].as_str().unwrap().to_owned(), r.body["api_token"]["token_id"].as_i64().unwrap());
    assert_eq!(app.get("/api/v1/auth/me", &api).await.status, StatusCode::OK);
    let r = app.delete(&format!("/api/v1/api-tokens/{api_id}"), admin).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["revoked_at"].is_string());
    assert_unauthorized(&app.get("/api/v1/auth/me", &api).await, "revoked API token");
    let r = app.delete(&format!("/api/v1/api-tokens/{api_id}"), admin).await;
    assert_eq!(r.status, StatusCode::OK, "revoking twice is harmless");

    let r = app
        .post("/api/v1/api-tokens", admin, json!({"name": "short-lived", "expires_at": "2999-01-01T00:00:00Z"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let (api, api_id) =
        (r.body["token"].as_str().unwrap().to_owned(), r.body["api_token"]["token_id"].as_i64().unwrap());
    assert_eq!(app.get("/api/v1/auth/me", &api).await.status, StatusCode::OK);
    sqlx::query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_id = $1")
        .bind(api_id)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_unauthorized(&app.get("/api/v1/auth/me", &api).await, "expired API token");
}

#[tokio::test]
async fn api_tokens_act_as_their_user_and_never_show_their_secret_again() {
    let app = TestApp::spawn().await;
    let w = world(&app, "a", 2).await;
    let admin = w.token(w.admin);
    let r = app.post("/api/v1/api-tokens", admin, json!({"name": "CRM sync", "user_id": w.exec_ana.0})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let secret = r.body["token"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(&format!("plt_{}_", w.tenant)), "{secret}");
    let token_id = r.body["api_token"]["token_id"].as_i64().unwrap();
    assert_eq!(r.body["api_token"]["user_id"], w.exec_ana.0);
    assert_eq!(r.body["api_token"]["created_by"], w.admin.0);
    let secret_part = secret.rsplit('_').next().unwrap().to_owned();
    assert!(!r.body["api_token"].to_string().contains(&secret_part));

    // It authenticates as Ana, with Ana's visibility and role.
    let me = app.get("/api/v1/auth/me", &secret).await;
    assert_eq!((me.body["user_id"].as_i64(), me.body["role"].as_str()), (Some(w.exec_ana.0), Some("executive")));
    let ana_ids: std::collections::BTreeSet<i64> =
        w.prospects.iter().filter(|p| p.2 == Some(w.exec_ana)).map(|p| p.0).collect();
    let r = app.get("/api/v1/prospects?limit=200", &secret).await;
    let seen: std::collections::BTreeSet<i64> =
        r.body["items"].as_array().unwrap().iter().map(|p| p["prospect_id"].as_i64().unwrap()).collect();
    assert_eq!(seen, ana_ids);
    assert_eq!(app.get("/api/v1/conversations", &secret).await.body["total"], ana_ids.len());
    let luis_prospect = w.prospects.iter().find(|p| p.2 == Some(w.exec_luis)).unwrap().0;
    assert_eq!(app.get(&format!("/api/v1/prospects/{luis_prospect}"), &secret).await.status, StatusCode::NOT_FOUND);
    assert_forbidden(&app.post("/api/v1/teams", &secret, json!({"name": "Nope"})).await, "an executive's token");
    assert_forbidden(&app.get("/api/v1/api-tokens", &secret).await, "an executive's token listing tokens");

    // The list never shows a secret, nor its hash.
    let list = app.get("/api/v1/api-tokens", admin).await;
    assert_eq!(list.status, StatusCode::OK);
    let text = list.body.to_string();
    assert!(!text.contains(&secret_part), "the list shows the secret: {text}");
    for t in list.body.as_array().unwrap() {
        assert!(t.get("token").is_none() && t.get("token_hash").is_none() && t.get("secret").is_none(), "{t}");
    }
    let row = list.body.as_array().unwrap().iter().find(|t| t["token_id"] == token_id).unwrap();
    assert!(row["last_used_at"].is_string(), "use is recorded: {row}");
    // Nor is it stored in the clear.
    let stored = serde_json::to_string(&app.snapshot("api_tokens").await).unwrap();
    assert!(!stored.contains(&secret_part), "the secret is stored in the clear");

    // A token without a user acts as its creator.
    let r = app.post("/api/v1/api-tokens", admin, json!({"name": "admin bot"})).await;
    let own = r.body["token"].as_str().unwrap().to_owned();
    assert_eq!(app.get("/api/v1/auth/me", &own).await.body["role"], "admin");

    // Revoked: refused at once.
    let r = app.delete(&format!("/api/v1/api-tokens/{token_id}"), admin).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_unauthorized(&app.get("/api/v1/auth/me", &secret).await, "revoked");
    assert_unauthorized(&app.get("/api/v1/prospects", &secret).await, "revoked");
    assert_eq!(app.get("/api/v1/auth/me", &own).await.status, StatusCode::OK, "other tokens unaffected");
}

#[tokio::test]
async fn coordinators_and_executives_cannot_act_as_admins() {
    let app = TestApp::spawn().await;
    let w = world(&app, "a", 1).await;
    let r = app.post("/api/v1/api-tokens", w.token(w.admin), json!({"name": "admin's"})).await;
    let admin_token_id = r.body["api_token"]["token_id"].as_i64().unwrap();
    let before = app.snapshot_all().await;
    for (who, user) in [("executive", w.exec_ana), ("coordinator", w.coord_boom), ("coordinator of both", w.coord_both)]
    {
        let t = w.token(user);
        let me = user.0;
        let attempts: Vec<(&str, Resp)> = vec![
            (
                "POST /users",
                app.post(
                    "/api/v1/users",
                    t,
                    json!({"email": "new.admin@a.test", "display_name": "X", "role": "admin", "password": "long-enough-1"}),
                )
                .await,
            ),
            ("PATCH self role admin", app.patch(&format!("/api/v1/users/{me}"), t, json!({"role": "admin"})).await),
            (
                "PATCH self teams",
                app.patch(&format!("/api/v1/users/{me}"), t, json!({"team_ids": [w.boom.0, w.ven.0]})).await,
            ),
            ("PATCH admin password", app.patch(&format!("/api/v1/users/{}", w.admin), t, json!({"password": "mine-now-1"})).await),
            ("PATCH other inactive", app.patch(&format!("/api/v1/users/{}", w.exec_luis), t, json!({"active": false})).await),
            ("POST /teams", app.post("/api/v1/teams", t, json!({"name": "Mine"})).await),
            ("PATCH /teams", app.patch(&format!("/api/v1/teams/{}", w.ven), t, json!({"name": "Mine"})).await),
            ("DELETE /teams", app.delete(&format!("/api/v1/teams/{}", w.ven), t).await),
            ("POST /api-tokens", app.post("/api/v1/api-tokens", t, json!({"name": "mine"})).await),
            (
                "POST /api-tokens as admin",
                app.post("/api/v1/api-tokens", t, json!({"name": "mine", "user_id": w.admin.0})).await,
            ),
            ("GET /api-tokens", app.get("/api/v1/api-tokens", t).await),
            ("DELETE /api-tokens", app.delete(&format!("/api/v1/api-tokens/{admin_token_id}"), t).await),
            (
                "PUT app_version",
                app.put("/api/v1/system-config/app_version", t, json!({"value": {"version": "9", "force_update": true}}))
                    .await,
            ),
            ("PUT other config", app.put("/api/v1/system-config/anything", t, json!({"value": 1})).await),
        ];
        for (what, r) in &attempts {
            assert_forbidden(r, &format!("{who}: {what}"));
        }
    }
    assert_eq!(app.snapshot_all().await, before, "a refused admin action changed something");
    // Reading what everyone may read still works.
    for user in [w.exec_ana, w.coord_boom] {
        for path in ["/api/v1/users", "/api/v1/teams", "/api/v1/system-config"] {
            assert_eq!(app.get(path, w.token(user)).await.status, StatusCode::OK, "{path}");
        }
    }
}

#[tokio::test]
async fn an_admin_cannot_deactivate_or_demote_themselves() {
    let app = TestApp::spawn().await;
    let w = world(&app, "a", 1).await;
    let admin = w.token(w.admin);
    let me = format!("/api/v1/users/{}", w.admin);
    let before = app.snapshot_all().await;
    for (body, field) in [
        (json!({"active": false}), "active"),
        (json!({"role": "coordinator"}), "role"),
        (json!({"role": "executive"}), "role"),
        (json!({"role": "coordinator", "team_ids": [w.boom.0]}), "role"),
        (json!({"display_name": "Still me", "active": false}), "active"),
    ] {
        let r = app.patch(&me, admin, body.clone()).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {:?}", r.body);
        assert_eq!(r.code(), "invalid_input");
        assert_eq!(r.body["error"]["field"], field, "{body}");
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
    }
    assert_eq!(app.snapshot_all().await, before);
    assert_eq!(app.get("/api/v1/auth/me", admin).await.body["role"], "admin");
    // Harmless changes to oneself are fine.
    let r = app.patch(&me, admin, json!({"display_name": "Jefa", "role": "admin", "active": true})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // And another admin may be demoted.
    let r = app
        .post(
            "/api/v1/users",
            admin,
            json!({"email": "second@a.test", "display_name": "Second", "role": "admin", "password": "long-enough-1"}),
        )
        .await;
    let second = r.body["user_id"].as_i64().unwrap();
    let r = app.patch(&format!("/api/v1/users/{second}"), admin, json!({"role": "executive"})).await;
    assert_eq!((r.status, &r.body["role"]), (StatusCode::OK, &json!("executive")));
}

#[tokio::test]
async fn login_attempts_are_limited_per_account() {
    let app = TestApp::spawn().await;
    let _w = world(&app, "a", 1).await;
    let attempt = |tenant: Option<&str>, email: &str, password: &str| {
        let mut body = json!({"email": email, "password": password});
        if let Some(t) = tenant {
            body["tenant"] = json!(t);
        }
        login_raw(&app, body)
    };
    for i in 0..ACCOUNT_BURST {
        let r = attempt(Some("a"), "ana@a.test", "wrong-password").await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {i}: {:?}", r.body);
    }
    for (what, r) in [
        ("one more wrong", attempt(Some("a"), "ana@a.test", "wrong-password").await),
        ("even the right password", attempt(Some("a"), "ana@a.test", PASSWORD).await),
        ("the e-mail in upper case", attempt(Some("a"), "ANA@A.TEST", PASSWORD).await),
        ("the same account without naming the tenant", attempt(None, "ana@a.test", PASSWORD).await),
        ("with a blank tenant", attempt(Some(" "), " ana@a.test ", PASSWORD).await),
    ] {
        assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{what}: {:?}", r.body);
        assert_eq!(r.code(), "too_many_attempts", "{what}");
        assert!(!r.body["error"]["message"].as_str().unwrap().is_empty());
        let retry: u64 = r.headers.get(RETRY_AFTER).unwrap().to_str().unwrap().parse().unwrap();
        assert_eq!(
            r.body["error"]["params"]["retry_after"],
            retry.to_string(),
            "{what}: the wait, for the page to word"
        );
        assert!(retry >= 1, "{what}: Retry-After {retry}");
        assert!(r.headers.get(SET_COOKIE).is_none());
    }
    // Other accounts are unaffected.
    let luis = app.login("a", "luis@a.test", PASSWORD).await;
    assert_eq!(app.get("/api/v1/auth/me", &luis).await.status, StatusCode::OK);
    let r = attempt(None, "sofia@a.test", PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    // Unknown accounts are limited too (no free guessing of which e-mails exist).
    for _ in 0..ACCOUNT_BURST {
        assert_eq!(attempt(Some("a"), "ghost@a.test", "x-password").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(Some("a"), "ghost@a.test", "x-password").await.status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn garbage_credentials_are_refused_with_json() {
    let app = TestApp::spawn().await;
    let w = world(&app, "a", 1).await;
    let good = w.token(w.admin).to_owned();
    let tenant = w.tenant.0;
    let forty_three = "A".repeat(43);
    let values: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer      ".to_vec(),
        b"Bearer x".to_vec(),
        b"Basic dXNlcjpwYXNz".to_vec(),
        format!("Basic {good}").into_bytes(),
        format!("Token {good}").into_bytes(),
        format!("Bearer{good}").into_bytes(),
        format!("Bearer {good}x").into_bytes(),
        format!("Bearer {}", &good[..good.len() - 1]).into_bytes(),
        format!("Bearer {}", good.replace("pls_", "plt_")).into_bytes(),
        format!("Bearer {}", good.replacen(&format!("_{tenant}_"), &format!("_{}_", tenant + 1), 1)).into_bytes(),
        format!("Bearer pls_1_{forty_three}").into_bytes(),
        format!("Bearer plt_{tenant}_{forty_three}").into_bytes(),
        format!("Bearer pls_99999999999999999999_{forty_three}").into_bytes(),
        format!("Bearer pls_-1_{forty_three}").into_bytes(),
        format!("Bearer pls_0_{forty_three}").into_bytes(),
        format!("Bearer pls__{forty_three}").into_bytes(),
        b"Bearer pls_1_'; DROP TABLE sessions; --".to_vec(),
        "Bearer pls_1_ñññññññññññññññññññññ".as_bytes().to_vec(),
        b"Bearer \xff\xfe\xfd".to_vec(),
        format!("Bearer {}", "x".repeat(4000)).into_bytes(),
    ];
    let before = app.snapshot_all().await;
    for v in &values {
        let header = HeaderValue::from_bytes(v).unwrap();
        let (status, body) = me_with(&app, &[(AUTHORIZATION, header)]).await;
        let shown = String::from_utf8_lossy(&v[..v.len().min(60)]).into_owned();
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{shown}: {body:?}");
        assert_eq!(body["error"]["code"], "unauthorized", "{shown}");
        assert!(!body["error"]["message"].as_str().unwrap_or("").is_empty(), "{shown}");
    }
    // No credentials at all, an empty or foreign cookie.
    for headers in [
        vec![],
        vec![(COOKIE, HeaderValue::from_static("platica_session="))],
        vec![(COOKIE, HeaderValue::from_static("other=pls_1_x"))],
        vec![(COOKIE, HeaderValue::from_str(&format!("platica_session={good}x")).unwrap())],
    ] {
        let (status, body) = me_with(&app, &headers).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{headers:?}: {body:?}");
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    // Every protected route refuses an anonymous request the same way.
    for (m, path) in [
        (Method::GET, "/api/v1/prospects"),
        (Method::GET, "/api/v1/conversations"),
        (Method::GET, "/api/v1/teams"),
        (Method::GET, "/api/v1/users"),
        (Method::GET, "/api/v1/api-tokens"),
        (Method::GET, "/api/v1/system-config"),
        (Method::POST, "/api/v1/prospects/bulk-reassign"),
        (Method::POST, "/api/v1/auth/logout"),
    ] {
        let r = app.call(m.clone(), path, None, Some(&json!({}))).await;
        assert_unauthorized(&r, &format!("anonymous {m} {path}"));
    }
    assert_eq!(app.snapshot_all().await, before);
    assert_eq!(app.get("/api/v1/auth/me", &good).await.status, StatusCode::OK, "the real token still works");
}

/// Waits for the server to end a WebSocket: a `reset` saying the session ended, then a close (or
/// the end of the stream). Returns how long it took.
async fn ended_within(ws: &mut support::Ws, limit: std::time::Duration, what: &str) -> std::time::Duration {
    let started = std::time::Instant::now();
    let mut said = false;
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match ws.next(left).await {
            Some(f) if f["type"] == "reset" && f["id"].is_null() => {
                assert!(f["reason"].as_str().unwrap().contains("session ended"), "{what}: {f}");
                said = true;
            }
            Some(_) => {}
            None => {
                assert!(said, "{what}: no reset before the socket ended");
                assert!(started.elapsed() <= limit, "{what}: still open after {limit:?}");
                return started.elapsed();
            }
        }
    }
}

/// Revocation reaches open sockets: logging out, revoking an API token, a password reset (which
/// also revokes the user's API tokens unless the admin keeps them), a revocation or expiry written
/// in SQL, and a session expiring each close the WebSockets opened with that credential within a
/// second; other sockets stay open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_closes_open_sockets_within_a_second() {
    let app = TestApp::spawn().await;
    let w = world(&app, "rev", 1).await;
    let admin = w.token(w.admin).to_owned();
    let second = std::time::Duration::from_secs(1);
    let mut bystander = support::Ws::connect(&app, &admin).await;
    bystander.subscribe("in", "inbox", json!({})).await;

    // Logout.
    let ana = app.login("rev", "ana@rev.test", PASSWORD).await;
    let mut ws = support::Ws::connect(&app, &ana).await;
    let mut other_ana = support::Ws::connect(&app, w.token(w.exec_ana)).await;
    assert_eq!(app.call(Method::POST, "/api/v1/auth/logout", Some(&ana), None).await.status, StatusCode::NO_CONTENT);
    ended_within(&mut ws, second, "logout").await;

    // An API token revoked through the API.
    let r = app.post("/api/v1/api-tokens", &admin, json!({"name": "ws", "user_id": w.exec_luis.0})).await;
    let (api, api_id) =
        (r.body["token"].as_str().unwrap().to_owned(), r.body["api_token"]["token_id"].as_i64().unwrap());
    let mut ws = support::Ws::connect(&app, &api).await;
    assert_eq!(app.delete(&format!("/api/v1/api-tokens/{api_id}"), &admin).await.status, StatusCode::OK);
    ended_within(&mut ws, second, "API token revoked").await;

    // Revoked, expired or deleted in SQL.
    for (what, sql) in [
        (
            "session revoked in SQL",
            "UPDATE sessions SET revoked_at = now() WHERE session_id = (SELECT max(session_id) FROM sessions WHERE user_id = $1)",
        ),
        (
            "session expired in SQL",
            "UPDATE sessions SET expires_at = now() WHERE session_id = (SELECT max(session_id) FROM sessions WHERE user_id = $1)",
        ),
        (
            "session deleted in SQL",
            "DELETE FROM sessions WHERE session_id = (SELECT max(session_id) FROM sessions WHERE user_id = $1)",
        ),
    ] {
        let token = app.login("rev", "coord.boom@rev.test", PASSWORD).await;
        let mut ws = support::Ws::connect(&app, &token).await;
        sqlx::query(sql).bind(w.coord_boom.0).execute(&app.pool).await.unwrap();
        ended_within(&mut ws, second, what).await;
    }

    // A password reset: the user's sessions and API tokens (unless kept).
    let session = app.login("rev", "sofia@rev.test", PASSWORD).await;
    let r = app.post("/api/v1/api-tokens", &admin, json!({"name": "sofia", "user_id": w.exec_sofia.0})).await;
    let token = r.body["token"].as_str().unwrap().to_owned();
    let (mut by_session, mut by_token) =
        (support::Ws::connect(&app, &session).await, support::Ws::connect(&app, &token).await);
    let r = app
        .patch(&format!("/api/v1/users/{}", w.exec_sofia.0), &admin, json!({"password": "otra-clave-larga-2026"}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    ended_within(&mut by_session, second, "password reset (session)").await;
    ended_within(&mut by_token, second, "password reset (API token)").await;
    assert_eq!(app.get("/api/v1/auth/me", &token).await.status, StatusCode::UNAUTHORIZED);
    let r = app.post("/api/v1/api-tokens", &admin, json!({"name": "kept", "user_id": w.exec_sofia.0})).await;
    let kept = r.body["token"].as_str().unwrap().to_owned();
    let r = app
        .patch(
            &format!("/api/v1/users/{}", w.exec_sofia.0),
            &admin,
            json!({"password": "tercera-clave-2026", "keep_api_tokens": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(app.get("/api/v1/auth/me", &kept).await.status, StatusCode::OK, "kept on request");
    let r = app.patch(&format!("/api/v1/users/{}", w.exec_sofia.0), &admin, json!({"keep_api_tokens": true})).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"), "{:?}", r.body);

    // A session that expires while its socket is open.
    let minted = platica_store::org::auth::mint(platica_store::org::auth::TokenKind::Session, w.tenant);
    sqlx::query("INSERT INTO sessions (tenant_id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, now() + interval '2 seconds')")
        .bind(w.tenant.0)
        .bind(w.exec_luis.0)
        .bind(&minted.hash)
        .execute(&app.pool)
        .await
        .unwrap();
    let mut ws = support::Ws::connect(&app, &minted.token).await;
    ended_within(&mut ws, std::time::Duration::from_secs(3), "session expiring").await;

    // The others are still open and live.
    let conv: i64 = sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE tenant_id = $1 LIMIT 1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body, status) VALUES ($1, $2, 'in', 'prospect', 'sigo aquí', 'delivered')")
        .bind(w.tenant.0)
        .bind(conv)
        .execute(&app.pool)
        .await
        .unwrap();
    let mut got = false;
    while let Some(f) = bystander.next(std::time::Duration::from_secs(2)).await {
        if f["type"] == "event" {
            got = true;
            break;
        }
        assert_ne!(f["type"], "reset", "{f}");
    }
    assert!(got, "the admin's socket is still live");
    assert!(other_ana.next(std::time::Duration::from_millis(300)).await.is_none_or(|f| f["type"] != "reset"));
}

/// Every answer carries the security headers; API answers are not cached.
#[tokio::test]
async fn answers_carry_security_headers() {
    let app = TestApp::spawn().await;
    let w = world(&app, "hdr", 0).await;
    for (path, token) in [
        ("/", None),
        ("/app/main.js", None),
        ("/api/v1/auth/me", Some(w.token(w.admin))),
        ("/api/v1/nope", None),
        ("/health", None),
    ] {
        let mut req = app.client.get(app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        let h = r.headers();
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        assert_eq!(get("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(get("x-frame-options"), "DENY", "{path}");
        let csp = get("content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("connect-src 'self'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        if path.starts_with("/api/") {
            assert_eq!(get("cache-control"), "no-store", "{path}");
        }
    }
}

/// A session cookie works only from this server's own pages: a request (or WebSocket upgrade)
/// with the cookie from another origin is refused; bearer tokens and API tokens are unaffected.
#[tokio::test]
async fn a_session_cookie_is_refused_from_another_origin() {
    let app = TestApp::spawn().await;
    let w = world(&app, "orig", 0).await;
    let token = w.token(w.admin).to_owned();
    let cookie = HeaderValue::from_str(&format!("platica_session={token}")).unwrap();
    let own = HeaderValue::from_str(&format!("http://{}", app.addr)).unwrap();
    let evil = HeaderValue::from_static("http://evil.example");
    let origin = reqwest::header::ORIGIN;
    let (status, body) = me_with(&app, &[(COOKIE, cookie.clone()), (origin.clone(), evil.clone())]).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::FORBIDDEN, Some("bad_origin")), "{body}");
    let (status, _) = me_with(&app, &[(COOKIE, cookie.clone()), (origin.clone(), own.clone())]).await;
    assert_eq!(status, StatusCode::OK, "its own origin");
    let (status, _) = me_with(&app, &[(COOKIE, cookie.clone())]).await;
    assert_eq!(status, StatusCode::OK, "no Origin: not a cross-origin browser request");
    let cross = HeaderValue::from_static("cross-site");
    let (status, _) = me_with(&app, &[(COOKIE, cookie.clone()), ("sec-fetch-site".parse().unwrap(), cross)]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the browser says cross-site");
    let bearer = HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    let (status, _) = me_with(&app, &[(AUTHORIZATION, bearer), (origin.clone(), evil.clone())]).await;
    assert_eq!(status, StatusCode::OK, "a bearer token is not a cookie");

    // WebSocket upgrades: a login session from another origin is refused before the upgrade.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let ws = |token: &str, origin: &HeaderValue| {
        let mut req = format!("ws://{}/api/v1/ws?token={token}", app.addr).into_client_request().unwrap();
        req.headers_mut().insert("origin", origin.clone());
        tokio_tungstenite::connect_async(req)
    };
    match ws(&token, &evil).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("a session from another origin was upgraded: {:?}", other.map(|_| ())),
    }
    assert!(ws(&token, &own).await.is_ok(), "its own origin");
    let r = app.post("/api/v1/api-tokens", &token, json!({"name": "other site"})).await;
    let api = r.body["token"].as_str().unwrap().to_owned();
    assert!(ws(&api, &evil).await.is_ok(), "API tokens may be used from any origin");
}

/// Behind a trusted proxy: the client's address comes from X-Forwarded-For (login limits are per
/// client, not one bucket for the proxy), HTTPS from X-Forwarded-Proto (the cookie is Secure);
/// the same headers from an untrusted peer are ignored. `/metrics` may require a token.
#[tokio::test]
async fn trusted_proxies_give_the_client_address_and_https() {
    let _alone = support::exclusive().await;
    let edge = platica_http::edge::Edge {
        trusted_proxies: vec![platica_http::edge::Cidr::parse("127.0.0.1/32").unwrap()],
        metrics_token: Some("metrics-secret".into()),
        ..Default::default()
    };
    let app = TestApp::spawn_edge(edge).await;
    world(&app, "px", 0).await;
    let login = |xff: &'static str, proto: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", xff)
            .header("x-forwarded-proto", proto)
            .json(&json!({"tenant": "px", "email": "admin@px.test", "password": PASSWORD}))
            .send()
    };
    let r = login("203.0.113.7", "https").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(cookie.contains("; Secure"), "{cookie}");
    let r = login("203.0.113.7", "http").await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(!cookie.contains("Secure"), "{cookie}");

    // One client exhausts its per-address budget; another behind the same proxy is unaffected.
    // All at once, and well past the burst: each wrong attempt verifies a (dummy) password hash,
    // so on a loaded machine 60 attempts can take longer than the refill of one per second needs
    // to keep up with a burst + 5.
    let attempts = (0..(platica_http::login_limits::ADDRESS_BURST + 30)).map(|_| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", "198.51.100.1")
            .json(&json!({"tenant": "px", "email": format!("nobody{}@px.test", rand_suffix()), "password": "x"}))
            .send()
    });
    let statuses: Vec<StatusCode> =
        futures_util::future::join_all(attempts).await.into_iter().map(|r| r.unwrap().status()).collect();
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "the first client was limited: {statuses:?}");
    assert_eq!(
        login("198.51.100.2", "http").await.unwrap().status(),
        StatusCode::OK,
        "another client behind the proxy"
    );

    let r = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = app.client.get(app.url("/metrics")).bearer_auth("metrics-secret").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// A stranger's wrong attempts from another address never lock the owner out: the per-account
/// limit counts attempts per client address (behind a trusted proxy, per forwarded client).
#[tokio::test]
async fn another_addresss_wrong_attempts_do_not_lock_the_owner_out() {
    let edge = platica_http::edge::Edge {
        trusted_proxies: vec![platica_http::edge::Cidr::parse("127.0.0.1/32").unwrap()],
        ..Default::default()
    };
    let app = TestApp::spawn_edge(edge).await;
    world(&app, "lk", 0).await;
    let attempt = |from: &'static str, password: &'static str| {
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", from)
            .json(&json!({"tenant": "lk", "email": "admin@lk.test", "password": password}))
            .send()
    };
    let mut limited = false;
    for _ in 0..(ACCOUNT_BURST + 3) {
        limited |= attempt("203.0.113.66", "wrong-guess").await.unwrap().status() == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(limited, "the guessing address is limited");
    assert_eq!(attempt("198.51.100.20", PASSWORD).await.unwrap().status(), StatusCode::OK, "the owner elsewhere");
}

/// Slow clients: thousands of half-sent requests from one address are refused past the
/// per-address cap and closed after the header timeout, while another client is answered at once
/// throughout; a user may hold a bounded number of WebSockets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_from_one_address_do_not_stop_other_clients() {
    let _alone = support::exclusive().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let limits = platica_http::serve::Limits {
        max_connections: 2_000,
        max_per_address: 200,
        header_read_timeout: std::time::Duration::from_secs(2),
    };
    let app = TestApp::spawn_configured(move |s| s.limits = limits).await;
    let w = world(&app, "slow", 0).await;
    let attacker: std::net::SocketAddr = "127.0.0.2:0".parse().unwrap();
    let mut held = Vec::new();
    let started = std::time::Instant::now();
    for i in 0..5_000 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(attacker).unwrap();
        let Ok(mut s) = socket.connect(app.addr).await else { continue };
        let _ = s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
        held.push(s);
        if i % 1_000 == 0 {
            // Meanwhile, another client is served at once.
            let t = std::time::Instant::now();
            let r = app.client.get(app.url("/health")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert!(t.elapsed() < std::time::Duration::from_secs(2), "another client waited {:?}", t.elapsed());
        }
    }
    assert!(held.len() >= 4_000, "only {} connections opened", held.len());
    let r = app.get("/api/v1/auth/me", w.token(w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "an API client during the attack");
    // Every held connection is closed by the server: past the cap at once, the rest after the
    // header timeout.
    let deadline = started.elapsed() + std::time::Duration::from_secs(10);
    let mut open = 0;
    for s in held.iter_mut() {
        let mut buf = [0u8; 256];
        let left = deadline.saturating_sub(started.elapsed()).max(std::time::Duration::from_millis(10));
        match tokio::time::timeout(left, s.read(&mut buf)).await {
            Ok(Ok(_)) | Ok(Err(_)) => {}
            Err(_) => open += 1,
        }
    }
    assert_eq!(open, 0, "half-sent requests still held open after the header timeout");
    drop(held);

    // WebSockets per user.
    let mut sockets = Vec::new();
    for _ in 0..platica_http::routes::ws::MAX_PER_USER {
        sockets.push(support::Ws::connect(&app, w.token(w.admin)).await);
    }
    let url = format!("ws://{}/api/v1/ws?token={}", app.addr, w.token(w.admin));
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 429),
        other => panic!("one WebSocket too many was accepted: {:?}", other.map(|_| ())),
    }
}

/// A burst from one busy client (a webhook provider) beyond the per-address cap waits its turn
/// instead of being cut: every request is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_beyond_the_per_address_cap_waits_its_turn() {
    let _alone = support::exclusive().await;
    let limits = platica_http::serve::Limits {
        max_connections: 2_000,
        max_per_address: 20,
        header_read_timeout: std::time::Duration::from_secs(5),
    };
    let app = TestApp::spawn_configured(move |s| s.limits = limits).await;
    // One connection per request (no reuse), 40 at once: twice the cap.
    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let answers = futures_util::future::join_all((0..40).map(|_| {
        let (client, url) = (client.clone(), app.url("/health"));
        async move { client.get(url).send().await.map(|r| r.status()) }
    }))
    .await;
    let failed: Vec<String> =
        answers.iter().filter(|a| !matches!(a, Ok(s) if *s == StatusCode::OK)).map(|a| format!("{a:?}")).collect();
    assert!(failed.is_empty(), "{} of 40 requests failed: {:?}", failed.len(), failed.first());
}
