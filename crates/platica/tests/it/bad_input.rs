//! Bad input, as a table: every row is a request a careless or hostile client could send, with
//! the status, error code and field the API must answer. Every answer must have the one JSON
//! error shape with a non-empty message, no row may get a 500, and no row may change the
//! database.
#![allow(clippy::unwrap_used)]

use crate::support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::{Resp, TestApp, World, world};

/// How a row's body is sent.
enum Body {
    None,
    Json(Value),
    /// Raw bytes with this Content-Type.
    Raw(&'static str, Vec<u8>),
    /// Raw bytes without any Content-Type header.
    Untyped(Vec<u8>),
}

#[derive(Clone, Copy)]
enum As {
    Admin,
    Ana,
    Nobody,
}

struct Row {
    what: String,
    who: As,
    method: Method,
    path: String,
    body: Body,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
    /// The `reason` the answer must carry, when the row says.
    reason: Option<&'static str>,
}

/// Builds the rows tersely: `row(what, method, path, body)` then `.expect(status, code, field)`.
fn row(what: impl Into<String>, method: Method, path: impl Into<String>, body: Body) -> Row {
    Row {
        what: what.into(),
        who: As::Admin,
        method,
        path: path.into(),
        body,
        status: 0,
        code: "",
        field: None,
        reason: None,
    }
}

impl Row {
    fn expect(mut self, status: u16, code: &'static str, field: Option<&'static str>) -> Row {
        self.status = status;
        self.code = code;
        self.field = field;
        self
    }
    fn reason(mut self, reason: &'static str) -> Row {
        self.reason = Some(reason);
        self
    }
    fn by(mut self, who: As) -> Row {
        self.who = who;
        self
    }
}

fn j(v: Value) -> Body {
    Body::Json(v)
}

fn raw(s: &str) -> Body {
    Body::Raw("application/json", s.as_bytes().to_vec())
}

async fn send(app: &TestApp, w: &World, r: &Row) -> Resp {
    let token = match r.who {
        As::Admin => Some(w.token(w.admin)),
        As::Ana => Some(w.token(w.exec_ana)),
        As::Nobody => None,
    };
    match &r.body {
        Body::None => app.call(r.method.clone(), &r.path, token, None).await,
        Body::Json(v) => app.call(r.method.clone(), &r.path, token, Some(v)).await,
        Body::Raw(ct, bytes) => app.raw(r.method.clone(), &r.path, token, ct, bytes.clone()).await,
        Body::Untyped(bytes) => {
            let mut req = app.client.request(r.method.clone(), app.url(&r.path)).body(bytes.clone());
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let headers = resp.headers().clone();
            let bytes = resp.bytes().await.unwrap();
            let body = serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| panic!("non-JSON body ({status}): {}", String::from_utf8_lossy(&bytes)));
            Resp { status, body, headers }
        }
    }
}

/// The one error shape: `{"error": {"code", "message", "field"?}}` and nothing else. Returns
/// what is wrong with it, if anything.
fn error_shape_problem(r: &Resp) -> Option<String> {
    let Some(obj) = r.body.as_object() else { return Some(format!("body is not an object: {}", r.body)) };
    if obj.keys().collect::<Vec<_>>() != ["error"] {
        return Some(format!("not an error body: {}", r.body));
    }
    let err = r.body["error"].as_object()?;
    if let Some(k) = err.keys().find(|k| !["code", "message", "field", "reason", "params"].contains(&k.as_str())) {
        return Some(format!("unexpected key {k} in {}", r.body));
    }
    // A reason is a code (for clients to word), its params an object of texts.
    if let Some(reason) = err.get("reason")
        && !reason.as_str().is_some_and(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
    {
        return Some(format!("reason is not a code: {}", r.body));
    }
    if let Some(params) = err.get("params")
        && !params.as_object().is_some_and(|o| !o.is_empty() && o.values().all(Value::is_string))
    {
        return Some(format!("params are not an object of texts: {}", r.body));
    }
    if err.get("code").and_then(Value::as_str).unwrap_or("").is_empty() {
        return Some(format!("no code: {}", r.body));
    }
    if err.get("message").and_then(Value::as_str).unwrap_or("").trim().is_empty() {
        return Some(format!("no message: {}", r.body));
    }
    if err.get("field").is_some_and(|f| f.as_str().unwrap_or("").is_empty()) {
        return Some(format!("empty field: {}", r.body));
    }
    let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.starts_with("application/json") {
        return Some(format!("content-type {ct}"));
    }
    None
}

fn assert_error_shape(r: &Resp, what: &str) {
    if let Some(problem) = error_shape_problem(r) {
        panic!("{what}: {problem}");
    }
}

fn rows(w: &World, p: i64, c: i64) -> Vec<Row> {
    use Method as M;
    let (boom, ven, coord) = (w.boom.0, w.ven.0, w.coord_boom.0);
    let user = w.exec_luis.0;
    let huge = "x".repeat(10_000);
    // Another prospect's phone, as the world numbers them.
    let other_phone = format!("+52155{:08}", w.tenant.0 as u64 * 100_000 + 2);
    let spaced_phone = format!("{} {}-{}", &other_phone[..3], &other_phone[3..8], &other_phone[8..]);
    let prospect = |name: Value, phone: Value| json!({"name": name, "phone": phone, "team_id": boom});
    let mut out = vec![
        // Malformed JSON.
        row("truncated JSON", M::POST, "/api/v1/prospects", raw(r#"{"name": "x","#)).expect(400, "bad_request", None),
        row("not JSON", M::POST, "/api/v1/teams", raw("name=x")).expect(400, "bad_request", None),
        row("empty body", M::POST, "/api/v1/teams", raw("")).expect(400, "bad_request", None),
        row("trailing garbage", M::POST, "/api/v1/teams", raw(r#"{"name": "x"} y"#)).expect(400, "bad_request", None),
        row("invalid UTF-8", M::POST, "/api/v1/teams", Body::Raw("application/json", b"{\"name\": \"\xff\xfe\"}".to_vec()))
            .expect(400, "bad_request", None),
        row("single quotes", M::POST, "/api/v1/teams", raw("{'name': 'x'}")).expect(400, "bad_request", None),
        // JSON of the wrong type.
        row("array for object", M::POST, "/api/v1/teams", j(json!(["x"]))).expect(422, "invalid_input", None),
        row("string for object", M::POST, "/api/v1/prospects", j(json!("x"))).expect(422, "invalid_input", None),
        row("null for object", M::POST, "/api/v1/teams", j(Value::Null)).expect(422, "invalid_input", None),
        row("string id", M::POST, "/api/v1/prospects", j(json!({"name": "x", "phone": "+5215512345678", "team_id": boom.to_string()})))
            .expect(422, "invalid_input", Some("team_id")),
        row("fractional id", M::POST, "/api/v1/prospects", j(json!({"name": "x", "phone": "+5215512345678", "team_id": 1.5})))
            .expect(422, "invalid_input", Some("team_id")),
        row("id beyond i64", M::POST, "/api/v1/prospects", raw(r#"{"name": "x", "phone": "+5215512345678", "team_id": 99999999999999999999}"#))
            .expect(422, "invalid_input", Some("team_id")),
        row("string id in reassign", M::POST, format!("/api/v1/prospects/{p}/reassign"), j(json!({"team_id": "abc"})))
            .expect(422, "invalid_input", Some("team_id")),
        row("number for name", M::POST, "/api/v1/teams", j(json!({"name": 5}))).expect(422, "invalid_input", Some("name")),
        row("null for name", M::POST, "/api/v1/prospects", j(prospect(Value::Null, json!("+5215512345678"))))
            .expect(422, "invalid_input", Some("name")),
        row("number for phone", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!(5215512345678i64))))
            .expect(422, "invalid_input", Some("phone")),
        row("string for bool", M::PATCH, format!("/api/v1/users/{user}"), j(json!({"operational": "yes"})))
            .expect(422, "invalid_input", Some("operational")),
        row("string for id list", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"prospect_ids": "1,2", "team_id": ven})))
            .expect(422, "invalid_input", Some("prospect_ids")),
        row("unknown role", M::POST, "/api/v1/users", j(json!({"email": "r@x.test", "display_name": "R", "role": "superadmin", "password": "long-enough-1"})))
            .expect(422, "invalid_input", Some("role")),
        // Unknown fields are refused and named.
        row("unknown field", M::POST, "/api/v1/teams", j(json!({"name": "x", "color": "red"})))
            .expect(422, "invalid_input", Some("color")),
        row("tenant_id smuggled", M::POST, "/api/v1/prospects", j(json!({"name": "x", "phone": "+5215512345678", "team_id": boom, "tenant_id": 2})))
            .expect(422, "invalid_input", Some("tenant_id")),
        row("placement via PATCH", M::PATCH, format!("/api/v1/prospects/{p}"), j(json!({"team_id": ven})))
            .expect(422, "invalid_input", Some("team_id")),
        row("e-mail via PATCH", M::PATCH, format!("/api/v1/users/{user}"), j(json!({"email": "new@x.test"})))
            .expect(422, "invalid_input", Some("email")),
        row("unknown field in filter", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"filter": {"tenant_id": 1}, "team_id": ven})))
            .expect(422, "invalid_input", Some("filter.tenant_id")),
        row("unknown query parameter", M::GET, "/api/v1/prospects?foo=1", Body::None).expect(400, "bad_request", Some("foo")),
        row("tenant_id in query", M::GET, "/api/v1/conversations?tenant_id=2", Body::None)
            .expect(400, "bad_request", Some("tenant_id")),
        // Missing required fields are named.
        row("prospect without name", M::POST, "/api/v1/prospects", j(json!({"phone": "+5215512345678", "team_id": boom})))
            .expect(422, "invalid_input", Some("name")),
        row("prospect without team", M::POST, "/api/v1/prospects", j(json!({"name": "x", "phone": "+5215512345678"})))
            .expect(422, "invalid_input", Some("team_id")),
        row("team without name", M::POST, "/api/v1/teams", j(json!({}))).expect(422, "invalid_input", Some("name")),
        row("message without body", M::POST, format!("/api/v1/conversations/{c}/messages"), j(json!({})))
            .expect(422, "invalid_input", Some("body")),
        row("user without password", M::POST, "/api/v1/users", j(json!({"email": "np@x.test", "display_name": "N", "role": "executive"})))
            .expect(422, "invalid_input", Some("password")),
        row("login without password", M::POST, "/api/v1/auth/login", j(json!({"email": "ana@x.test"})))
            .by(As::Nobody)
            .expect(422, "invalid_input", Some("password")),
        row("status missing", M::PATCH, format!("/api/v1/conversations/{c}"), j(json!({}))).expect(422, "invalid_input", Some("status")),
        row("config without value", M::PUT, "/api/v1/system-config/foo", j(json!({}))).expect(422, "invalid_input", Some("value")),
        // Content type and size.
        row("text/plain", M::POST, "/api/v1/teams", Body::Raw("text/plain", br#"{"name": "x"}"#.to_vec()))
            .expect(415, "unsupported_media_type", None),
        row("form encoded", M::POST, "/api/v1/teams", Body::Raw("application/x-www-form-urlencoded", b"name=x".to_vec()))
            .expect(415, "unsupported_media_type", None),
        row("no content type", M::POST, "/api/v1/teams", Body::Untyped(br#"{"name": "x"}"#.to_vec()))
            .expect(415, "unsupported_media_type", None),
        row("body over 1 MiB", M::POST, "/api/v1/prospects", raw(&format!(r#"{{"name": "{}", "phone": "+5215512345678", "team_id": {boom}}}"#, "x".repeat(1_100_000))))
            .expect(413, "payload_too_large", None),
        row("message over 1 MiB", M::POST, format!("/api/v1/conversations/{c}/messages"), raw(&format!(r#"{{"body": "{}"}}"#, "y".repeat(2_000_000))))
            .expect(413, "payload_too_large", None),
        // Phone numbers.
        row("phone without +", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!("5512345678")))).expect(422, "invalid_input", Some("phone")),
        row("phone +0", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!("+0512345678")))).expect(422, "invalid_input", Some("phone")),
        row("phone too short", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!("+12")))).expect(422, "invalid_input", Some("phone")),
        row("phone too long", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!("+1234567890123456")))).expect(422, "invalid_input", Some("phone")).reason("phone"),
        row("phone with letters", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!("+52abc12345678")))).expect(422, "invalid_input", Some("phone")),
        row("phone empty", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!("")))).expect(422, "invalid_input", Some("phone")),
        row("phone SQL", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!("+52'; DROP TABLE prospects; --")))).expect(422, "invalid_input", Some("phone")),
        row("phone NUL", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!("+5215512345678\u{0}")))).expect(422, "invalid_input", Some("phone")),
        row("phone via PATCH", M::PATCH, format!("/api/v1/prospects/{p}"), j(json!({"phone": "call me"}))).expect(422, "invalid_input", Some("phone")),
        // Names and bodies: empty, blank, huge, control characters.
        row("empty prospect name", M::POST, "/api/v1/prospects", j(prospect(json!(""), json!("+5215512345678")))).expect(422, "invalid_input", Some("name")),
        row("blank prospect name", M::POST, "/api/v1/prospects", j(prospect(json!(" \t\n "), json!("+5215512345678")))).expect(422, "invalid_input", Some("name")),
        row("huge prospect name", M::POST, "/api/v1/prospects", j(prospect(json!(huge), json!("+5215512345678")))).expect(422, "invalid_input", Some("name")),
        row("BEL in name", M::POST, "/api/v1/prospects", j(prospect(json!("a\u{7}b"), json!("+5215512345678")))).expect(422, "invalid_input", Some("name")),
        row("NUL in name", M::POST, "/api/v1/prospects", j(prospect(json!("a\u{0}b"), json!("+5215512345678")))).expect(422, "invalid_input", Some("name")),
        row("ANSI escape in name", M::PATCH, format!("/api/v1/prospects/{p}"), j(json!({"name": "\u{1b}[2Jhi"}))).expect(422, "invalid_input", Some("name")),
        row("empty team name", M::POST, "/api/v1/teams", j(json!({"name": ""}))).expect(422, "invalid_input", Some("name")),
        row("huge team name", M::PATCH, format!("/api/v1/teams/{boom}"), j(json!({"name": huge}))).expect(422, "invalid_input", Some("name")),
        row("blank display name", M::PATCH, format!("/api/v1/users/{user}"), j(json!({"display_name": "   "}))).expect(422, "invalid_input", Some("display_name")),
        row("NUL display name", M::POST, "/api/v1/users", j(json!({"email": "n@x.test", "display_name": "\u{0}", "role": "executive", "password": "long-enough-1"})))
            .expect(422, "invalid_input", Some("display_name")),
        row("empty token name", M::POST, "/api/v1/api-tokens", j(json!({"name": ""}))).expect(422, "invalid_input", Some("name")),
        row("empty message", M::POST, format!("/api/v1/conversations/{c}/messages"), j(json!({"body": ""}))).expect(422, "invalid_input", Some("body")),
        row("blank message", M::POST, format!("/api/v1/conversations/{c}/messages"), j(json!({"body": "\n \n\t"}))).expect(422, "invalid_input", Some("body")),
        row("huge message", M::POST, format!("/api/v1/conversations/{c}/messages"), j(json!({"body": huge}))).expect(422, "invalid_input", Some("body")),
        row("NUL in message", M::POST, format!("/api/v1/conversations/{c}/messages"), j(json!({"body": "hola\u{0}"}))).by(As::Ana).expect(422, "invalid_input", Some("body")),
        row("BEL in message", M::POST, format!("/api/v1/conversations/{c}/messages"), j(json!({"body": "hola\u{7}"}))).by(As::Ana).expect(422, "invalid_input", Some("body")),
        // Cursors.
        row("cursor garbage", M::GET, "/api/v1/conversations?cursor=abc", Body::None).expect(400, "bad_request", Some("cursor")),
        row("cursor empty", M::GET, "/api/v1/conversations?cursor=", Body::None).expect(400, "bad_request", Some("cursor")),
        row("cursor zero id", M::GET, "/api/v1/conversations?cursor=0_0", Body::None).expect(400, "bad_request", Some("cursor")),
        row("cursor negative id", M::GET, "/api/v1/conversations?cursor=1_-5", Body::None).expect(400, "bad_request", Some("cursor")),
        row("cursor time overflow", M::GET, "/api/v1/conversations?cursor=99999999999999999999_1", Body::None).expect(400, "bad_request", Some("cursor")),
        row("cursor max time", M::GET, "/api/v1/conversations?cursor=9223372036854775807_1", Body::None).expect(400, "bad_request", Some("cursor")),
        row("cursor before 4713 BC", M::GET, "/api/v1/conversations?cursor=-300000000000000000_1", Body::None).expect(400, "bad_request", Some("cursor")),
        row("message cursor garbage", M::GET, format!("/api/v1/conversations/{c}/messages?cursor=x_y"), Body::None).expect(400, "bad_request", Some("cursor")),
        row("message cursor before 4713 BC", M::GET, format!("/api/v1/conversations/{c}/messages?cursor=-300000000000000000_1"), Body::None)
            .expect(400, "bad_request", Some("cursor")),
        row("prospect cursor garbage", M::GET, "/api/v1/prospects?cursor=abc", Body::None).expect(400, "bad_request", Some("cursor")),
        row("prospect cursor zero", M::GET, "/api/v1/prospects?cursor=0", Body::None).expect(400, "bad_request", Some("cursor")),
        row("prospect cursor negative", M::GET, "/api/v1/prospects?cursor=-1", Body::None).expect(400, "bad_request", Some("cursor")),
        row("prospect cursor overflow", M::GET, "/api/v1/prospects?cursor=99999999999999999999", Body::None).expect(400, "bad_request", Some("cursor")),
        // Unknown enumerations.
        row("unknown stage on create", M::POST, "/api/v1/prospects", j(json!({"name": "x", "phone": "+5215512345678", "team_id": boom, "stage": "closed"})))
            .expect(422, "invalid_input", Some("stage")),
        row("stage wrong case", M::PATCH, format!("/api/v1/prospects/{p}"), j(json!({"stage": "WON"}))).expect(422, "invalid_input", Some("stage")),
        row("unknown stage filter", M::GET, "/api/v1/prospects?stage=foo", Body::None).expect(422, "invalid_input", Some("stage")),
        row("unknown stage in bulk filter", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"filter": {"stage": "x"}, "team_id": ven})))
            .expect(422, "invalid_input", Some("stage")),
        row("unknown status filter", M::GET, "/api/v1/conversations?status=archived", Body::None).expect(422, "invalid_input", Some("status")),
        row("unknown status", M::PATCH, format!("/api/v1/conversations/{c}"), j(json!({"status": "archived"}))).expect(422, "invalid_input", Some("status")),
        row("unread not a bool", M::GET, "/api/v1/conversations?unread=maybe", Body::None).expect(400, "bad_request", Some("unread")),
        row("unknown role filter", M::GET, "/api/v1/users?role=king", Body::None).expect(400, "bad_request", Some("role")),
        row("team_id filter not a number", M::GET, "/api/v1/conversations?team_id=boom", Body::None).expect(400, "bad_request", Some("team_id")),
        // Search strings.
        row("q with NUL", M::GET, "/api/v1/prospects?q=a%00b", Body::None).expect(422, "invalid_input", Some("q")).reason("control_character"),
        row("q too long", M::GET, format!("/api/v1/conversations?q={}", "a".repeat(101)), Body::None).expect(422, "invalid_input", Some("q")).reason("too_long"),
        // E-mails and passwords.
        row("e-mail without @", M::POST, "/api/v1/users", j(json!({"email": "ana", "display_name": "A", "role": "executive", "password": "long-enough-1"})))
            .expect(422, "invalid_input", Some("email")).reason("email"),
        row("e-mail without dot", M::POST, "/api/v1/users", j(json!({"email": "ana@x", "display_name": "A", "role": "executive", "password": "long-enough-1"})))
            .expect(422, "invalid_input", Some("email")),
        row("e-mail with space", M::POST, "/api/v1/users", j(json!({"email": "a b@x.test", "display_name": "A", "role": "executive", "password": "long-enough-1"})))
            .expect(422, "invalid_input", Some("email")),
        row("e-mail too long", M::POST, "/api/v1/users", j(json!({"email": format!("{}@x.test", "a".repeat(300)), "display_name": "A", "role": "executive", "password": "long-enough-1"})))
            .expect(422, "invalid_input", Some("email")),
        row("login with bad e-mail", M::POST, "/api/v1/auth/login", j(json!({"email": "nope", "password": "whatever-1"}))).by(As::Nobody)
            .expect(422, "invalid_input", Some("email")),
        row("login with NUL tenant", M::POST, "/api/v1/auth/login", j(json!({"tenant": "x\u{0}", "email": "ana@x.test", "password": "whatever-1"}))).by(As::Nobody)
            .expect(422, "invalid_input", Some("tenant")),
        row("login with malformed tenant", M::POST, "/api/v1/auth/login", j(json!({"tenant": "'; DROP TABLE tenants; --", "email": "ana@x.test", "password": "whatever-1"}))).by(As::Nobody)
            .expect(422, "invalid_input", Some("tenant")),
        row("short password", M::POST, "/api/v1/users", j(json!({"email": "s@x.test", "display_name": "S", "role": "executive", "password": "short"})))
            .expect(422, "invalid_input", Some("password")),
        row("7-char password", M::PATCH, format!("/api/v1/users/{user}"), j(json!({"password": "1234567"}))).expect(422, "invalid_input", Some("password")),
        row("huge password", M::PATCH, format!("/api/v1/users/{user}"), j(json!({"password": "p".repeat(1025)}))).expect(422, "invalid_input", Some("password")).reason("too_long"),
        row("teams for an executive", M::POST, "/api/v1/users", j(json!({"email": "t@x.test", "display_name": "T", "role": "executive", "password": "long-enough-1", "team_ids": [boom]})))
            .expect(422, "invalid_input", Some("team_ids")),
        row("teams for an executive (PATCH)", M::PATCH, format!("/api/v1/users/{user}"), j(json!({"team_ids": [boom]})))
            .expect(422, "invalid_input", Some("team_ids")),
        // Assignment targets that are not assignable.
        row("assign to a coordinator", M::POST, "/api/v1/prospects", j(json!({"name": "x", "phone": "+5215512345678", "team_id": boom, "executive_id": coord})))
            .expect(422, "invalid_input", Some("executive_id")),
        row("assign to non-operational", M::POST, format!("/api/v1/prospects/{p}/reassign"), j(json!({"executive_id": w.exec_sofia.0})))
            .expect(422, "invalid_input", Some("executive_id")),
        row("reassign to nothing", M::POST, format!("/api/v1/prospects/{p}/reassign"), j(json!({}))).expect(422, "invalid_input", Some("team_id")),
        row("reassign to missing team", M::POST, format!("/api/v1/prospects/{p}/reassign"), j(json!({"team_id": 0}))).expect(404, "not_found", Some("team_id")),
        // Bulk reassignment.
        row("bulk with neither ids nor filter", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"team_id": ven})))
            .expect(422, "invalid_input", Some("prospect_ids")),
        row("bulk with both ids and filter", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"prospect_ids": [p], "filter": {}, "team_id": ven})))
            .expect(422, "invalid_input", Some("prospect_ids")),
        row("bulk with empty ids", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"prospect_ids": [], "team_id": ven})))
            .expect(422, "invalid_input", Some("prospect_ids")),
        row("bulk with 50,001 ids", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"prospect_ids": (1..=50_001).collect::<Vec<i64>>(), "team_id": ven})))
            .expect(422, "invalid_input", Some("prospect_ids")),
        row("bulk without target", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"prospect_ids": [p]})))
            .expect(422, "invalid_input", Some("team_id")),
        row("bulk with invalid ids", M::POST, "/api/v1/prospects/bulk-reassign", j(json!({"prospect_ids": [p, 0, -1], "team_id": ven})))
            .expect(404, "not_found", Some("prospect_ids")),
        // Config keys and values.
        row("config key upper case", M::PUT, "/api/v1/system-config/Bad-Key", j(json!({"value": 1}))).expect(400, "bad_request", Some("key")),
        row("config key digit first", M::PUT, "/api/v1/system-config/1abc", j(json!({"value": 1}))).expect(400, "bad_request", Some("key")),
        row("config key space", M::PUT, "/api/v1/system-config/a%20b", j(json!({"value": 1}))).expect(400, "bad_request", Some("key")),
        row("config key too long", M::PUT, format!("/api/v1/system-config/{}", "k".repeat(65)), j(json!({"value": 1}))).expect(400, "bad_request", Some("key")),
        row("config key SQL", M::PUT, "/api/v1/system-config/';%20DROP%20TABLE%20system_config;%20--", j(json!({"value": 1}))).expect(400, "bad_request", Some("key")),
        row("config get bad key", M::GET, "/api/v1/system-config/BAD", Body::None).expect(400, "bad_request", Some("key")),
        row("app_version string", M::PUT, "/api/v1/system-config/app_version", j(json!({"value": "1.2.3"}))).expect(422, "invalid_input", Some("value")),
        row("app_version numeric version", M::PUT, "/api/v1/system-config/app_version", j(json!({"value": {"version": 1, "force_update": true}})))
            .expect(422, "invalid_input", Some("value")),
        row("app_version without force_update", M::PUT, "/api/v1/system-config/app_version", j(json!({"value": {"version": "1.0"}})))
            .expect(422, "invalid_input", Some("value")),
        row("app_version empty version", M::PUT, "/api/v1/system-config/app_version", j(json!({"value": {"version": " ", "force_update": false}})))
            .expect(422, "invalid_input", Some("value")),
        row("app_version string bool", M::PUT, "/api/v1/system-config/app_version", j(json!({"value": {"version": "1.0", "force_update": "yes"}})))
            .expect(422, "invalid_input", Some("value")),
        row("app_version extra field", M::PUT, "/api/v1/system-config/app_version", j(json!({"value": {"version": "1.0", "force_update": true, "x": 1}})))
            .expect(422, "invalid_input", Some("value")),
        row("config value with NUL", M::PUT, "/api/v1/system-config/greeting", j(json!({"value": {"text": "hola\u{0}"}})))
            .expect(422, "invalid_input", Some("value")),
        row("config value key with NUL", M::PUT, "/api/v1/system-config/greeting", j(json!({"value": {"te\u{0}xt": "hola"}})))
            .expect(422, "invalid_input", Some("value")),
        // API tokens.
        row("token expiring in the past", M::POST, "/api/v1/api-tokens", j(json!({"name": "old", "expires_at": "2001-01-01T00:00:00Z"})))
            .expect(422, "invalid_input", Some("expires_at")),
        row("token expiry not a date", M::POST, "/api/v1/api-tokens", j(json!({"name": "x", "expires_at": "tomorrow"})))
            .expect(422, "invalid_input", Some("expires_at")),
        // Conflicts are reported, not crashed on.
        row("duplicate team name", M::POST, "/api/v1/teams", j(json!({"name": "BOOM"}))).expect(409, "conflict", Some("name")),
        row("rename onto another team", M::PATCH, format!("/api/v1/teams/{boom}"), j(json!({"name": "VEN"}))).expect(409, "conflict", Some("name")),
        row("duplicate e-mail", M::POST, "/api/v1/users", j(json!({"email": "ANA@x.test", "display_name": "A", "role": "executive", "password": "long-enough-1"})))
            .expect(409, "conflict", Some("email")),
        row("delete a team with prospects", M::DELETE, format!("/api/v1/teams/{boom}"), Body::None).expect(409, "conflict", None),
        row("duplicate phone", M::POST, "/api/v1/prospects", j(prospect(json!("x"), json!(other_phone.clone()))))
            .expect(409, "conflict", Some("phone")),
        row("duplicate phone with separators", M::PATCH, format!("/api/v1/prospects/{p}"), j(json!({"phone": spaced_phone})))
            .expect(409, "conflict", Some("phone")),
        // Duplicates and depth.
        row("duplicate JSON key", M::POST, "/api/v1/teams", raw(r#"{"name": "a", "name": "b"}"#)).expect(422, "invalid_input", Some("name")),
        row("duplicate key in filter", M::POST, "/api/v1/prospects/bulk-reassign", raw(&format!(r#"{{"filter": {{"q": "a", "q": "b"}}, "team_id": {ven}}}"#)))
            .expect(422, "invalid_input", Some("filter.q")),
        row("duplicate query parameter", M::GET, format!("/api/v1/prospects?team_id={boom}&team_id={ven}"), Body::None)
            .expect(400, "bad_request", Some("team_id")),
        row("deeply nested value", M::PUT, "/api/v1/system-config/deep", raw(&format!(r#"{{"value": {}1{}}}"#, "[".repeat(300), "]".repeat(300))))
            .expect(400, "bad_request", None),
        row("wrong type for tenant", M::POST, "/api/v1/auth/login", j(json!({"tenant": 1, "email": "ana@x.test", "password": "whatever-1"}))).by(As::Nobody)
            .expect(422, "invalid_input", Some("tenant")),
        row("huge login password", M::POST, "/api/v1/auth/login", j(json!({"email": "ana@x.test", "password": "p".repeat(5000)}))).by(As::Nobody)
            .expect(422, "invalid_input", Some("password")),
        row("huge token name", M::POST, "/api/v1/api-tokens", j(json!({"name": huge}))).expect(422, "invalid_input", Some("name")),
        // Routes and methods.
        row("trailing slash", M::GET, "/api/v1/prospects/", Body::None).expect(404, "not_found", None),
        row("unknown route", M::GET, "/api/v1/nope", Body::None).expect(404, "not_found", None),
        row("unknown route outside the API", M::GET, "/nope", Body::None).expect(404, "not_found", None),
        row("unknown API version", M::GET, "/api/v2/prospects", Body::None).expect(404, "not_found", None),
        row("unknown sub-resource", M::GET, format!("/api/v1/prospects/{p}/nope"), Body::None).expect(404, "not_found", None),
        row("PUT on a list", M::PUT, "/api/v1/prospects", j(json!({}))).expect(405, "method_not_allowed", None),
        row("DELETE a list", M::DELETE, "/api/v1/conversations", Body::None).expect(405, "method_not_allowed", None),
        row("DELETE a user", M::DELETE, format!("/api/v1/users/{user}"), Body::None).expect(405, "method_not_allowed", None),
        row("GET login", M::GET, "/api/v1/auth/login", Body::None).expect(405, "method_not_allowed", None),
        row("GET an API token", M::GET, "/api/v1/api-tokens/1", Body::None).expect(405, "method_not_allowed", None),
    ];
    // Limits, on every paged list.
    let messages = format!("/api/v1/conversations/{c}/messages");
    for path in ["/api/v1/conversations", "/api/v1/prospects", messages.as_str()] {
        for l in ["0", "201", "-5"] {
            out.push(row(format!("limit {l}"), M::GET, format!("{path}?limit={l}"), Body::None).expect(
                422,
                "invalid_input",
                Some("limit"),
            ));
        }
        for l in ["x", "1.5", "99999999999999999999"] {
            out.push(row(format!("limit {l}"), M::GET, format!("{path}?limit={l}"), Body::None).expect(
                400,
                "bad_request",
                Some("limit"),
            ));
        }
    }
    // Path ids that are not ids, on every route taking one.
    for bad in ["abc", "99999999999999999999", "-1", "0", "1.5", "%20", "';%20DROP%20TABLE%20prospects;%20--"] {
        for (m, path, body) in [
            (M::GET, "/api/v1/prospects/{}", Body::None),
            (M::PATCH, "/api/v1/prospects/{}", j(json!({"stage": "won"}))),
            (M::DELETE, "/api/v1/prospects/{}", Body::None),
            (M::POST, "/api/v1/prospects/{}/reassign", j(json!({"team_id": ven}))),
            (M::GET, "/api/v1/prospects/{}/assignments", Body::None),
            (M::GET, "/api/v1/conversations/{}", Body::None),
            (M::PATCH, "/api/v1/conversations/{}", j(json!({"status": "closed"}))),
            (M::GET, "/api/v1/conversations/{}/messages", Body::None),
            (M::POST, "/api/v1/conversations/{}/messages", j(json!({"body": "hola"}))),
            (M::POST, "/api/v1/conversations/{}/read", j(json!({}))),
            (M::GET, "/api/v1/teams/{}", Body::None),
            (M::PATCH, "/api/v1/teams/{}", j(json!({"name": "Nuevo"}))),
            (M::DELETE, "/api/v1/teams/{}", Body::None),
            (M::GET, "/api/v1/users/{}", Body::None),
            (M::PATCH, "/api/v1/users/{}", j(json!({"display_name": "Nuevo"}))),
            (M::DELETE, "/api/v1/api-tokens/{}", Body::None),
        ] {
            let path = path.replace("{}", bad);
            out.push(row(format!("path id {bad}"), m, path, body).expect(400, "bad_request", None));
        }
    }
    out
}

#[tokio::test]
async fn bad_requests_get_the_right_error_and_change_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app, "x", 1).await;
    support::sending_channel(&app, &w).await;
    let p = w.prospects[0].0;
    let c: i64 = sqlx::query_scalar("SELECT conversation_id FROM conversations WHERE prospect_id = $1")
        .bind(p)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let table = rows(&w, p, c);
    let mut before = app.snapshot_all().await;
    let mut failures = Vec::new();
    for r in &table {
        let resp = send(&app, &w, r).await;
        let what = format!("{} ({} {})", r.what, r.method, r.path.chars().take(100).collect::<String>());
        if let Some(problem) = error_shape_problem(&resp) {
            failures.push(format!("{what}: {} {problem}", resp.status));
        }
        let got =
            (resp.status.as_u16(), resp.code().to_owned(), resp.body["error"]["field"].as_str().map(str::to_owned));
        let want = (r.status, r.code.to_owned(), r.field.map(str::to_owned));
        if got != want {
            failures.push(format!("{what}: got {got:?}, want {want:?}: {}", resp.body["error"]["message"]));
        }
        if let Some(reason) = r.reason
            && resp.body["error"]["reason"] != reason
        {
            failures.push(format!("{what}: reason {}, want {reason}", resp.body["error"]["reason"]));
        }
        let after = app.snapshot_all().await;
        if after != before {
            failures.push(format!("{what} changed the database"));
            before = after;
        }
    }
    assert!(failures.is_empty(), "{} problems in {} rows:\n{}", failures.len(), table.len(), failures.join("\n"));
}

#[tokio::test]
async fn unicode_names_are_accepted_and_round_trip() {
    let app = TestApp::spawn().await;
    let w = world(&app, "u", 1).await;
    support::sending_channel(&app, &w).await;
    let admin = w.token(w.admin);
    let name = "José Ñúñez 李";
    let r = app
        .post(
            "/api/v1/prospects",
            admin,
            json!({"name": format!("  {name} "), "phone": "+52 55 1234-5678", "team_id": w.ven.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["name"], name, "trimmed, otherwise verbatim");
    assert_eq!(r.body["phone"], "+525512345678", "separators removed");
    let id = r.body["prospect_id"].as_i64().unwrap();
    let got = app.get(&format!("/api/v1/prospects/{id}"), admin).await;
    assert_eq!(got.body["name"], name);
    let stored: String = sqlx::query_scalar("SELECT name FROM prospects WHERE prospect_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, name);
    for q in ["José", "josé ñ", "JOSÉ ÑÚÑEZ 李"] {
        let r = app.get(&format!("/api/v1/prospects?q={}", urlencode(q)), admin).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
        let ids: Vec<i64> =
            r.body["items"].as_array().unwrap().iter().map(|p| p["prospect_id"].as_i64().unwrap()).collect();
        assert_eq!(ids, [id], "search {q:?}");
        let r = app.get(&format!("/api/v1/conversations?q={}", urlencode(q)), admin).await;
        assert_eq!(r.body["total"], 1, "inbox search {q:?}");
        assert_eq!(r.body["items"][0]["prospect_name"], name);
    }
    // Teams, users, messages too.
    let r = app.post("/api/v1/teams", admin, json!({"name": name})).await;
    assert_eq!((r.status, &r.body["name"]), (StatusCode::CREATED, &json!(name)), "{:?}", r.body);
    let r = app
        .post(
            "/api/v1/users",
            admin,
            json!({"email": "jose@u.test", "display_name": name, "role": "executive", "password": "contraseña-ñ"}),
        )
        .await;
    assert_eq!((r.status, &r.body["display_name"]), (StatusCode::CREATED, &json!(name)), "{:?}", r.body);
    let token = app.login("u", "JOSE@u.test", "contraseña-ñ").await;
    let me = app.get("/api/v1/auth/me", &token).await;
    assert_eq!(me.body["display_name"], name);
    let conv = app.get(&format!("/api/v1/prospects/{id}"), admin).await.body["conversation_id"].as_i64().unwrap();
    // José writes first: free text is allowed within 24 hours of the prospect's message.
    sqlx::query("INSERT INTO messages (tenant_id, conversation_id, direction, sender_kind, body) VALUES ($1, $2, 'in', 'prospect', 'Hola')")
        .bind(w.tenant.0)
        .bind(conv)
        .execute(&app.pool)
        .await
        .unwrap();
    let body = "¡Hola José! 👋 ¿Qué tal?\nLínea dos\tcon tab";
    let r = app.post(&format!("/api/v1/conversations/{conv}/messages"), admin, json!({"body": body})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let page = app.get(&format!("/api/v1/conversations/{conv}/messages"), admin).await;
    assert_eq!(page.body["items"][0]["body"], body);
    // 200 characters of multi-byte text is within the limit (it counts characters, not bytes).
    let long = "李".repeat(200);
    let r = app.patch(&format!("/api/v1/prospects/{id}"), admin, json!({"name": long})).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let r = app.patch(&format!("/api/v1/prospects/{id}"), admin, json!({"name": "李".repeat(201)})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.body);
}

fn urlencode(s: &str) -> String {
    let mut url = reqwest::Url::parse("http://x/").unwrap();
    url.query_pairs_mut().append_pair("q", s);
    url.query().unwrap().trim_start_matches("q=").to_owned()
}

#[tokio::test]
async fn sql_looking_strings_are_just_data() {
    let app = TestApp::spawn().await;
    let w = world(&app, "s", 1).await;
    let admin = w.token(w.admin);
    let evil = "'; DROP TABLE prospects; --";
    let r = app
        .post("/api/v1/prospects", admin, json!({"name": evil, "phone": "+5215588880001", "team_id": w.boom.0}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["name"], evil);
    let id = r.body["prospect_id"].as_i64().unwrap();
    let stored: String = sqlx::query_scalar("SELECT name FROM prospects WHERE prospect_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, evil, "stored verbatim");
    let r = app.post("/api/v1/teams", admin, json!({"name": "Robert'); DROP TABLE teams;--"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    // As a search: no error; matches only prospects whose name's words really start with its
    // words (quotes, `%`, `_` and `\\` separate words, never act as wildcards or escapes).
    let before = app.snapshot_all().await;
    let search = |q: &str| format!("?q={}", urlencode(q));
    let mut world_ids: Vec<i64> = w.prospects.iter().map(|p| p.0).collect();
    world_ids.sort();
    let first: i64 = sqlx::query_scalar("SELECT prospect_id FROM prospects WHERE name = 'Prospecto 1'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    for (q, expect) in [
        ("'; DROP TABLE prospects; --", vec![id]),
        ("' OR '1'='1", vec![]),
        ("x' OR 1=1 --", vec![]),
        ("%", vec![]),
        ("_", vec![]),
        ("\\", vec![]),
        ("Pros%o", vec![]),
        ("Prospecto%", world_ids.clone()),
        ("Prospect_ 1", vec![first]),
    ] {
        let r = app.get(&format!("/api/v1/prospects{}", search(q)), admin).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {:?}", r.body);
        let mut ids: Vec<i64> =
            r.body["items"].as_array().unwrap().iter().map(|p| p["prospect_id"].as_i64().unwrap()).collect();
        ids.sort();
        assert_eq!(ids, expect, "prospect search {q:?}");
        let r = app.get(&format!("/api/v1/conversations{}", search(q)), admin).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {:?}", r.body);
        assert_eq!(r.body["total"], expect.len(), "inbox search {q:?}");
    }
    // As a path segment: refused before any query.
    for path in ["/api/v1/prospects/", "/api/v1/conversations/", "/api/v1/teams/", "/api/v1/users/"] {
        let r = app.get(&format!("{path}';%20DROP%20TABLE%20prospects;%20--"), admin).await;
        assert!(r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::NOT_FOUND, "{path}: {:?}", r.body);
        assert_error_shape(&r, path);
    }
    assert_eq!(app.snapshot_all().await, before);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM prospects").fetch_one(&app.pool).await.unwrap();
    assert_eq!(n, 6, "the table is still there, with every row");
}

#[tokio::test]
async fn json_bodies_are_accepted_in_every_correct_form() {
    let app = TestApp::spawn().await;
    let w = world(&app, "k", 1).await;
    let admin = w.token(w.admin);
    for (i, (content_type, body)) in [
        ("application/json", r#"{"name": "Uno"}"#.to_owned()),
        ("application/json; charset=utf-8", r#"{"name": "Dos"}"#.to_owned()),
        ("Application/JSON", r#"{"name": "Tres"}"#.to_owned()),
        ("application/vnd.platica+json", r#"{"name": "Cuatro"}"#.to_owned()),
        ("application/json", "\n\t  {\"name\": \"Cinco\"}\n".to_owned()),
    ]
    .into_iter()
    .enumerate()
    {
        let r = app.raw(Method::POST, "/api/v1/teams", Some(admin), content_type, body).await;
        assert_eq!(r.status, StatusCode::CREATED, "#{i} {content_type}: {:?}", r.body);
    }
    let r = app.get("/api/v1/teams", admin).await;
    let names: Vec<&str> = r.body.as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for n in ["Uno", "Dos", "Tres", "Cuatro", "Cinco"] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
}

/// A configuration value the JSON of the request can hold is stored and read back, or refused as
/// invalid input; never a 500 (the API contract fuzzer found `1.7976931348623157e308`, the
/// largest double, breaking both the write and every later read of the tenant's settings).
#[tokio::test]
async fn config_values_at_the_edges_of_json_numbers_round_trip_or_are_refused() {
    let app = TestApp::spawn().await;
    let w = world(&app, "cfgedge", 1).await;
    let admin = w.token(w.admin).to_owned();
    for value in [json!(1.7976931348623157e308), json!(7.02264751536827e16), json!(-1e-300), json!("\u{ecf70}\\[")] {
        let r = app.put("/api/v1/system-config/edge.value", &admin, json!({ "value": value })).await;
        assert!(
            r.status == StatusCode::OK || (r.status, r.code()) == (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
            "PUT {value}: {} {:?}",
            r.status,
            r.body
        );
        let list = app.get("/api/v1/system-config", &admin).await;
        assert_eq!(list.status, StatusCode::OK, "GET after {value}: {:?}", list.body);
        let one = app.get("/api/v1/system-config/edge.value", &admin).await;
        assert!(one.status.is_success() || one.status == StatusCode::NOT_FOUND, "{value}: {:?}", one.body);
        if r.status == StatusCode::OK {
            // The same number, perhaps spelled otherwise (jsonb keeps numbers as decimals).
            let back = &one.body["value"];
            match value.as_f64() {
                Some(n) => assert_eq!(back.as_f64(), Some(n), "read back as written: {back}"),
                None => assert_eq!(*back, value, "read back as written"),
            }
        }
    }
}
