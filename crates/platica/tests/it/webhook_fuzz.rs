//! A fuzz harness for the WhatsApp Cloud API webhook (issue 17 part 5): real-shaped payloads of
//! every kind the webhook reads (each message type, senders by phone, business-scoped user id or
//! both, statuses, webhook-level errors, template reviews, several entries and changes), then
//! mutated (wrong types, deleted and unknown fields, huge and deeply nested values, NUL and
//! control characters, byte flips, truncation, splices) and signed rightly or wrongly (another
//! secret, flipped hex, a malformed or missing header, signed before tampering).
//!
//! Every input goes in-process through the signature check and the parser at full speed, which
//! must not panic and must give only valid domain values. A sampled share goes through the real
//! HTTP route into a real database: no 5xx, and nothing stored from an input whose signature was
//! wrong or that the parser gave nothing for (every domain table's rows compared); what is
//! stored is only what the parser gave.
//!
//! `PLATICA_FUZZ_INPUTS` (default 20,000: the CI run), `PLATICA_FUZZ_HTTP_EVERY` (default 200)
//! and `PLATICA_FUZZ_SEED` set the run; `scripts/fuzz-webhooks` runs a million in release mode
//! and prints the rate.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use platica_domain::{signature, validate};
use platica_whatsapp::webhook::{self, Notification, Number};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use support::{TestApp, World, world};

const PNID: &str = "106540352242922";
const OTHER_PNID: &str = "106540352299999";
const SECRET: &str = "fuzz-app-secret-0123456789";
const WEBHOOK: &str = "/api/v1/whatsapp/webhook";

/// Tables whose rows only a stored webhook may add (the log, `webhook_events`, is not one).
const DOMAIN_TABLES: &[&str] = &[
    "prospects",
    "conversations",
    "messages",
    "whatsapp_messages",
    "message_statuses",
    "assignment_history",
    "channel_events",
    "outbox",
];

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

// ---- real-shaped payloads ----

/// A sender: phone, business-scoped user id, or both (some numbers and ids repeat, so the
/// database sees known senders, new ones and merges).
fn sender(r: &mut StdRng) -> (Option<String>, Option<String>) {
    let phone = format!("52155{:08}", r.random_range(0..40));
    let bsuid = format!("MX.{}", r.random_range(0..40));
    match r.random_range(0..3) {
        0 => (Some(phone), None),
        1 => (None, Some(bsuid)),
        _ => (Some(phone), Some(bsuid)),
    }
}

fn wamid(r: &mut StdRng) -> String {
    if r.random_bool(0.01) {
        return nasty(r, "wamid.");
    }
    format!("wamid.FUZZ{}", r.random_range(0..1_000_000u32))
}

/// `normal` most of the time; else a string real payloads should not carry but could: NUL and
/// control characters, a huge one, emoji, lone escapes.
fn text(r: &mut StdRng, normal: &str) -> String {
    if r.random_bool(0.9) { normal.to_owned() } else { nasty(r, normal) }
}

fn nasty(r: &mut StdRng, normal: &str) -> String {
    match r.random_range(0..6) {
        0 => format!("{normal}\u{0}"),
        1 => format!("\u{1}\u{7f}{normal}\u{1b}[0m"),
        2 => normal.repeat(r.random_range(100..3000)),
        3 => "🇲🇽".repeat(r.random_range(1..600)),
        4 => String::new(),
        _ => format!("{normal}\u{202e}\u{feff}\u{fffd}"),
    }
}

fn timestamp(r: &mut StdRng) -> Value {
    let t = 1_732_520_000 + r.random_range(0..100_000i64);
    if r.random_bool(0.5) { json!(t.to_string()) } else { json!(t) }
}

fn message_object(r: &mut StdRng, from: (Option<String>, Option<String>)) -> Value {
    let mut m = json!({"id": wamid(r), "timestamp": timestamp(r)});
    if let Some(p) = &from.0 {
        m["from"] = json!(p);
    }
    if let Some(b) = &from.1 {
        m["from_user_id"] = json!(b);
    }
    if r.random_bool(0.2) {
        m["context"] = json!({"from": "15550001111", "id": wamid(r)});
    }
    let (kind, object): (&str, Value) = match r.random_range(0..17) {
        0..=3 => ("text", json!({"body": text(r, "hola, ¿tienen el modelo en azul? 👍")})),
        4 => (
            "image",
            json!({"id": text(r, "MEDIA1"), "mime_type": "image/jpeg", "sha256": "abc",
                "caption": text(r, "mi casa")}),
        ),
        5 => ("audio", json!({"id": "MEDIA2", "mime_type": "audio/ogg; codecs=opus", "voice": true})),
        6 => (
            "document",
            json!({"id": "MEDIA3", "mime_type": text(r, "application/pdf"),
                "filename": text(r, "cotización.pdf")}),
        ),
        7 => (
            "location",
            json!({"latitude": 19.43, "longitude": -99.13, "name": text(r, "Oficina"),
                "address": "Reforma 1"}),
        ),
        8 => ("interactive", json!({"type": "button_reply", "button_reply": {"id": "yes", "title": text(r, "Sí")}})),
        9 => (
            "interactive",
            json!({"type": "nfm_reply", "nfm_reply": {"name": "flow", "body": "Sent",
                "response_json": "{\"plan\": \"pro\", \"seats\": 3}"}}),
        ),
        10 => (
            "order",
            json!({"catalog_id": "C1", "text": "pedido", "product_items": [
                {"product_retailer_id": "A", "quantity": 2, "item_price": 10.5, "currency": "MXN"},
                {"product_retailer_id": "B", "quantity": "1", "item_price": "99", "currency": "MXN"}]}),
        ),
        11 => ("button", json!({"payload": "STOP", "text": text(r, "Detener")})),
        12 => ("reaction", json!({"message_id": wamid(r), "emoji": if r.random_bool(0.8) { "❤️" } else { "" }})),
        13 => (
            "system",
            json!({"body": "cambió de número", "type": "user_changed_number",
                "new_wa_id": format!("52155{:08}", r.random_range(40..80))}),
        ),
        14 => ("unsupported", json!({})),
        15 => ("contacts", json!([])),
        _ => ("hologram", json!({"k": [1, 2, 3]})),
    };
    m["type"] = json!(kind);
    if kind == "unsupported" {
        m["errors"] = json!([{"code": 131051, "title": text(r, "Message type unknown"),
                              "error_data": {"details": text(r, "Message type is currently not supported.")}}]);
    } else {
        m[kind] = object;
    }
    if kind == "contacts" {
        m["contacts"] = json!([{"name": {"formatted_name": "Luis"}, "phones": [{"phone": "+5215511112222"}]}]);
    }
    m
}

fn status_object(r: &mut StdRng) -> Value {
    let statuses = ["sent", "delivered", "read", "played", "failed"];
    let status = statuses[r.random_range(0..statuses.len())];
    let mut s = json!({"id": wamid(r), "status": status, "timestamp": timestamp(r)});
    if r.random_bool(0.5) {
        s["recipient_id"] = json!(format!("52155{:08}", r.random_range(0..40)));
    } else {
        s["recipient_user_id"] = json!(format!("MX.{}", r.random_range(0..40)));
    }
    if r.random_bool(0.3) {
        let callback = format!("platica:o:{}", r.random_range(0..100));
        s["biz_opaque_callback_data"] = json!(text(r, &callback));
    }
    if status == "failed" {
        s["errors"] = json!([{"code": 131026, "title": text(r, "Message undeliverable"),
                              "error_data": {"details": text(r, "Message Undeliverable.")}}]);
    }
    s
}

fn change(r: &mut StdRng) -> Value {
    if r.random_bool(0.05) {
        return json!({"field": "message_template_status_update", "value": {"event": "APPROVED",
            "message_template_id": r.random_range(0..10), "message_template_name": text(r, "promo"),
            "message_template_language": text(r, "es_MX"), "reason": text(r, "NONE")}});
    }
    if r.random_bool(0.02) {
        return json!({"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}});
    }
    let pnid = if r.random_bool(0.9) { PNID } else { OTHER_PNID };
    let mut value = json!({"messaging_product": "whatsapp",
                           "metadata": {"display_phone_number": "15550001111", "phone_number_id": pnid}});
    let mut contacts = Vec::new();
    let mut messages = Vec::new();
    for _ in 0..r.random_range(0..3) {
        let from = sender(r);
        let mut contact = json!({"profile": {"name": text(r, "Ana")}});
        if r.random_bool(0.3) {
            contact["profile"]["username"] = json!(text(r, "@ana"));
        }
        if let Some(p) = &from.0 {
            contact["wa_id"] = json!(p);
        }
        if let Some(b) = &from.1 {
            contact["user_id"] = json!(b);
        }
        contacts.push(contact);
        messages.push(message_object(r, from));
    }
    if !messages.is_empty() {
        value["contacts"] = Value::Array(contacts);
        value["messages"] = Value::Array(messages);
    }
    if r.random_bool(0.4) || value.get("messages").is_none() {
        value["statuses"] = Value::Array((0..r.random_range(1..4)).map(|_| status_object(r)).collect());
    }
    if r.random_bool(0.05) {
        value["errors"] = json!([{"code": 130429, "title": text(r, "Rate limit hit"),
                                  "message": text(r, "(#130429) Rate limit hit")}]);
    }
    json!({"field": "messages", "value": value})
}

fn payload(r: &mut StdRng) -> Value {
    let entries = (0..r.random_range(1..3))
        .map(|_| json!({"id": "102290129340398", "changes": (0..r.random_range(1..3)).map(|_| change(r)).collect::<Vec<_>>()}))
        .collect::<Vec<_>>();
    json!({"object": "whatsapp_business_account", "entry": entries})
}

// ---- mutations ----

/// A value of the wrong kind, or an extreme one.
fn odd_value(r: &mut StdRng) -> Value {
    match r.random_range(0..14) {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(-1),
        3 => json!(u64::MAX),
        4 => json!(1.5e300),
        5 => json!(""),
        6 => json!("x".repeat(r.random_range(1_000..20_000))),
        7 => json!("a\u{0}b"),
        8 => json!("\u{7}\u{1b}[31m\n\r\t"),
        9 => json!([]),
        10 => json!({}),
        11 => {
            let mut v = json!("deep");
            for _ in 0..r.random_range(10..200) {
                v = json!([v]);
            }
            v
        }
        12 => json!("US.ENT.1"),
        _ => json!("😀".repeat(r.random_range(1..2000))),
    }
}

/// A random node of `v` (by a random walk).
fn walk<'a>(r: &mut StdRng, v: &'a mut Value) -> &'a mut Value {
    let depth = r.random_range(0..8);
    let mut cur = v;
    for _ in 0..depth {
        let len = match &*cur {
            Value::Array(a) => a.len(),
            Value::Object(o) => o.len(),
            _ => 0,
        };
        if len == 0 {
            break;
        }
        let i = r.random_range(0..len);
        cur = match cur {
            Value::Array(a) => &mut a[i],
            Value::Object(o) => o.values_mut().nth(i).unwrap(),
            _ => unreachable!(),
        };
    }
    cur
}

fn mutate_json(r: &mut StdRng, v: &mut Value) {
    for _ in 0..r.random_range(1..4) {
        let node = walk(r, v);
        match r.random_range(0..6) {
            0 => *node = odd_value(r),
            1 => {
                if let Value::Object(o) = node
                    && !o.is_empty()
                {
                    let k = o.keys().nth(r.random_range(0..o.len())).unwrap().clone();
                    o.remove(&k);
                }
            }
            2 => {
                if let Value::Object(o) = node {
                    let keys = [
                        "from",
                        "from_user_id",
                        "user_id",
                        "wa_id",
                        "id",
                        "type",
                        "text",
                        "body",
                        "status",
                        "errors",
                        "messages",
                        "statuses",
                        "contacts",
                        "metadata",
                        "phone_number_id",
                        "unknown_field",
                    ];
                    o.insert(keys[r.random_range(0..keys.len())].to_owned(), odd_value(r));
                }
            }
            3 => {
                if let Value::Array(a) = node
                    && !a.is_empty()
                {
                    let item = a[r.random_range(0..a.len())].clone();
                    for _ in 0..r.random_range(1..50) {
                        a.push(item.clone());
                    }
                }
            }
            4 => {
                if let Value::String(s) = node {
                    let cut = s.char_indices().map(|(i, _)| i).nth(r.random_range(0..=s.chars().count().max(1)));
                    s.truncate(cut.unwrap_or(s.len()));
                }
            }
            _ => {
                if let Value::Object(o) = node {
                    let mut extra = Map::new();
                    extra.insert("unexpected".to_owned(), odd_value(r));
                    o.insert(format!("x_{}", r.random_range(0..100)), Value::Object(extra));
                }
            }
        }
    }
}

fn mutate_bytes(r: &mut StdRng, b: &mut Vec<u8>) {
    if b.is_empty() {
        return;
    }
    match r.random_range(0..5) {
        0 => {
            for _ in 0..r.random_range(1..8) {
                let i = r.random_range(0..b.len());
                b[i] ^= 1 << r.random_range(0..8);
            }
        }
        1 => b.truncate(r.random_range(0..b.len())),
        2 => {
            let i = r.random_range(0..b.len());
            let junk: Vec<u8> = (0..r.random_range(1..32)).map(|_| r.random()).collect();
            b.splice(i..i, junk);
        }
        3 => {
            let i = r.random_range(0..b.len());
            let j = r.random_range(i..b.len());
            let copy = b[i..j].to_vec();
            b.splice(j..j, copy);
        }
        _ => {
            let depth = r.random_range(100..20_000);
            *b = [vec![b'['; depth], vec![b']'; depth]].concat();
        }
    }
}

/// How an input is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signed {
    Right,
    /// Any other way: another secret, flipped hex, signed before tampering, malformed, missing.
    Wrong,
}

struct Input {
    body: Vec<u8>,
    header: Option<String>,
    signed: Signed,
}

fn input(r: &mut StdRng) -> Input {
    let mut v = payload(r);
    if r.random_bool(0.6) {
        mutate_json(r, &mut v);
    }
    let mut body = serde_json::to_vec(&v).unwrap();
    let right = signature::sign(SECRET, &body);
    let tampered = r.random_bool(0.15);
    if tampered {
        mutate_bytes(r, &mut body);
    }
    let now = signature::sign(SECRET, &body);
    let (header, signed) = match r.random_range(0..10) {
        0 => (Some(signature::sign("another-secret", &body)), Signed::Wrong),
        1 => {
            let mut h = now.clone().into_bytes();
            let i = r.random_range(7..h.len());
            h[i] = if h[i] == b'0' { b'1' } else { b'0' };
            (Some(String::from_utf8(h).unwrap()), Signed::Wrong)
        }
        2 => (
            Some(["sha1=abc", "sha256=", "sha256=zz", "", "sha256=00"][r.random_range(0..5)].to_owned()),
            Signed::Wrong,
        ),
        3 => (None, Signed::Wrong),
        // Signed before a tampering (or, untampered, rightly).
        4 => (Some(right.clone()), if tampered { Signed::Wrong } else { Signed::Right }),
        _ => (Some(now.clone()), Signed::Right),
    };
    // A tampering may leave the body unchanged (a truncation of nothing): then the old signature holds.
    let signed = if header.as_deref() == Some(now.as_str()) { Signed::Right } else { signed };
    Input { body, header, signed }
}

// ---- the in-process check ----

/// What the parser gave for an input whose signature holds (its verified number's share).
#[derive(Default)]
struct Parsed {
    messages: BTreeSet<String>,
    statuses: usize,
    anything: bool,
}

fn check_notification(n: &Notification) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    for (pnid, batch) in &n.batches {
        if pnid != PNID {
            return Err(format!("a batch for unverified number {pnid}"));
        }
        for m in &batch.messages {
            if m.phone.is_none() && m.bsuid.is_none() {
                return Err(format!("message {} without a sender", m.external_id));
            }
            if let Some(p) = &m.phone
                && validate::phone("phone", p).as_ref() != Ok(p)
            {
                return Err(format!("invalid phone {p:?}"));
            }
            if let Some(b) = &m.bsuid
                && validate::bsuid("bsuid", b).as_ref() != Ok(b)
            {
                return Err(format!("invalid bsuid {b:?}"));
            }
            if m.external_id.is_empty() || m.external_id.len() > 256 || m.external_id.chars().any(char::is_control) {
                return Err(format!("invalid message id {:?}", m.external_id));
            }
            if m.body.is_empty() || m.body.chars().count() > validate::MAX_BODY_CHARS || m.body.contains('\0') {
                return Err(format!("invalid body of {}", m.external_id));
            }
            if m.details.to_string().contains("\\u0000") {
                return Err(format!("a NUL in the details of {}", m.external_id));
            }
            out.messages.insert(m.external_id.clone());
        }
        out.statuses += batch.statuses.len();
        out.anything |= !batch.messages.is_empty()
            || !batch.statuses.is_empty()
            || !batch.reactions.is_empty()
            || !batch.number_changes.is_empty();
    }
    for (pnid, events) in &n.events {
        if pnid != PNID {
            return Err(format!("events for unverified number {pnid}"));
        }
        if let Some(e) = events.iter().find(|e| e.raw.to_string().contains("\\u0000") || e.title.contains('\0')) {
            return Err(format!("an error event with a NUL character: {:?}", e.title));
        }
    }
    let nul = |s: &str| s.contains('\0');
    if let Some(t) = n.template_statuses.iter().find(|t| {
        [&t.waba_id, &t.name, &t.language, &t.status].into_iter().any(|s| nul(s))
            || t.reason.as_deref().is_some_and(nul)
            || t.template_id.as_deref().is_some_and(nul)
    }) {
        return Err(format!("a template review with a NUL character: {:?}", t.name));
    }
    out.anything |= !n.events.is_empty() || !n.template_statuses.is_empty();
    Ok(out)
}

/// Signature check and parse of one input, as the route does them. `Err`: a finding.
fn in_process(i: &Input) -> Result<Option<Parsed>, String> {
    let verified = match &i.header {
        Some(h) => signature::parse(h).map(|s| signature::verify(SECRET, &i.body, &s)).unwrap_or(false),
        None => false,
    };
    if verified != (i.signed == Signed::Right) {
        return Err(format!("signature check said {verified} for a {:?} signature", i.signed));
    }
    let json: Result<Value, serde_json::Error> = serde_json::from_slice(&i.body);
    let named = webhook::named_numbers(json.as_ref().ok());
    if named.len() > webhook::MAX_NUMBERS_PER_PAYLOAD {
        return Err("too many numbers named".to_owned());
    }
    let n = webhook::read(json, |id| if id == PNID && verified { Number::Verified } else { Number::Unknown });
    let parsed = check_notification(&n)?;
    Ok(verified.then_some(parsed))
}

// ---- the database check ----

/// The tenant's rows in each of [`DOMAIN_TABLES`], in one statement.
async fn counts(app: &TestApp, w: &World) -> Vec<i64> {
    let parts: Vec<String> =
        DOMAIN_TABLES.iter().map(|t| format!("(SELECT count(*) FROM {t} WHERE tenant_id = $1)")).collect();
    let sql = format!("SELECT ARRAY[{}]", parts.join(", "));
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(w.tenant.0).fetch_one(&app.pool).await.unwrap()
}

async fn post(app: &TestApp, i: &Input) -> StatusCode {
    let mut req = app.client.post(app.url(WEBHOOK)).header("content-type", "application/json").body(i.body.clone());
    if let Some(h) = &i.header {
        req = req.header("x-hub-signature-256", h);
    }
    req.send().await.unwrap().status()
}

/// Posts one input and checks what the database kept against what the parser gave.
async fn through_http(app: &TestApp, w: &World, i: &Input, parsed: Option<&Parsed>) -> Result<(), String> {
    let before = counts(app, w).await;
    let max_id: i64 = sqlx::query_scalar("SELECT coalesce(max(message_id), 0) FROM messages WHERE tenant_id = $1")
        .bind(w.tenant.0)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let status = post(app, i).await;
    if status.is_server_error() {
        return Err(format!("HTTP {status}"));
    }
    let after = counts(app, w).await;
    match parsed {
        None => {
            if status != StatusCode::UNAUTHORIZED && status != StatusCode::TOO_MANY_REQUESTS {
                return Err(format!("a wrongly signed input was answered {status}"));
            }
            if after != before {
                return Err(format!("a wrongly signed input changed the database: {before:?} -> {after:?}"));
            }
        }
        Some(p) if !p.anything => {
            if after != before {
                return Err(format!(
                    "an input the parser gave nothing for changed the database: {before:?} -> {after:?}"
                ));
            }
        }
        Some(p) => {
            let stored: Vec<String> = sqlx::query_scalar(
                "SELECT external_id FROM messages WHERE tenant_id = $1 AND message_id > $2 AND direction = 'in'",
            )
            .bind(w.tenant.0)
            .bind(max_id)
            .fetch_all(&app.pool)
            .await
            .unwrap();
            if let Some(odd) = stored.iter().find(|id| !p.messages.contains(*id)) {
                return Err(format!("stored message {odd} that the parser did not give"));
            }
            let statuses = (after[4] - before[4]) as usize;
            if statuses > p.statuses {
                return Err(format!("{statuses} statuses stored, {} parsed", p.statuses));
            }
        }
    }
    Ok(())
}

/// A finding's input, shortened; the whole body is kept under `$CARGO_TARGET_DIR/fuzz-findings/`.
fn describe(n: usize, i: &Input) -> String {
    let dir = std::path::Path::new(&std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned()))
        .join("fuzz-findings");
    let kept = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(dir.join(format!("input-{n}.json")), &i.body))
        .map(|()| format!(" (kept in {}/input-{n}.json)", dir.display()))
        .unwrap_or_default();
    let shown = String::from_utf8_lossy(&i.body[..i.body.len().min(600)]).into_owned();
    format!("header {:?}, {} bytes{kept}: {shown}", i.header, i.body.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutated_webhooks_never_panic_fail_or_store_garbage() {
    // Heavy (20,000 inputs in CI, a million from scripts/fuzz-webhooks) and timed: alone.
    let _alone = support::exclusive().await;
    support::install_test_key();
    // The server's errors (a 5xx says why here), nothing else.
    let _ = tracing_subscriber::fmt().with_env_filter("platica_http=error").with_test_writer().try_init();
    let inputs = env_usize("PLATICA_FUZZ_INPUTS", 20_000);
    let http_every = env_usize("PLATICA_FUZZ_HTTP_EVERY", 200).max(1);
    let seed = env_usize("PLATICA_FUZZ_SEED", 17) as u64;
    let app = TestApp::spawn().await;
    let w = world(&app, "acme", 0).await;
    let r = app
        .post(
            "/api/v1/channels",
            w.token(w.admin),
            json!({"display_name": "Ventas", "phone_number_id": PNID, "app_secret": SECRET,
                   "verify_token": "verify", "access_token": "token", "default_team_id": w.boom.0}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);

    let mut rng = StdRng::seed_from_u64(seed);
    let mut findings: Vec<String> = Vec::new();
    let (mut verified, mut parsed_messages, mut http, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut in_process_time = Duration::ZERO;
    let started = Instant::now();
    let mut done = 0usize;
    for n in 0..inputs {
        done = n + 1;
        let i = input(&mut rng);
        bytes += i.body.len() as u64;
        let t = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| in_process(&i)));
        in_process_time += t.elapsed();
        let parsed = match outcome {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                findings.push(format!("input {n}: {e}; {}", describe(n, &i)));
                continue;
            }
            Err(_) => {
                findings.push(format!("input {n}: PANIC; {}", describe(n, &i)));
                continue;
            }
        };
        if let Some(p) = &parsed {
            verified += 1;
            parsed_messages += p.messages.len() as u64;
        }
        if n % http_every == 0 {
            http += 1;
            if let Err(e) = through_http(&app, &w, &i, parsed.as_ref()).await {
                findings.push(format!("input {n} over HTTP: {e}; {}", describe(n, &i)));
            }
        }
        if findings.len() >= 20 {
            break;
        }
    }
    let elapsed = started.elapsed();
    let rate = done as f64 / in_process_time.as_secs_f64().max(1e-9);
    println!(
        "fuzz-webhooks: {done} inputs (seed {seed}, {:.1} MB), {verified} rightly signed, {parsed_messages} messages \
         parsed; signature check + parse {:.2} s = {rate:.0} inputs/s; {http} through HTTP + PostgreSQL; \
         total with generation {:.2} s = {:.0} inputs/s; {} findings",
        bytes as f64 / 1e6,
        in_process_time.as_secs_f64(),
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64(),
        findings.len()
    );
    assert!(findings.is_empty(), "findings:\n{}", findings.join("\n\n"));
    assert!(verified > done as u64 / 3, "too few inputs got past the signature check: {verified}");
    assert!(parsed_messages > 0, "no input gave a message: the generator is broken");
}

/// The harness's own checks catch what they look for (so a clean run means something).
#[test]
fn the_checks_catch_what_they_look_for() {
    use platica_store::whatsapp::ingest::InboundMessage;
    let message = |phone: Option<&str>, bsuid: Option<&str>| InboundMessage {
        external_id: "wamid.X".into(),
        phone: phone.map(str::to_owned),
        bsuid: bsuid.map(str::to_owned),
        profile_name: None,
        wa_type: "text".into(),
        body: "hola".into(),
        media_id: None,
        mime_type: None,
        caption: None,
        filename: None,
        context_external_id: None,
        details: json!({}),
        content: None,
    };
    let with = |m: InboundMessage| {
        let mut n = Notification::default();
        n.batches.entry(PNID.to_owned()).or_default().messages.push(m);
        check_notification(&n).map(|p| p.messages.len())
    };
    assert_eq!(with(message(Some("+5215512345678"), None)), Ok(1));
    assert_eq!(with(message(None, Some("MX.1"))), Ok(1));
    assert!(with(message(None, None)).is_err());
    assert!(with(message(Some("5215512345678"), None)).is_err());
    assert!(with(message(None, Some("MX.ENT.1"))).is_err());
    assert!(with(InboundMessage { body: "a\u{0}".into(), ..message(Some("+5215512345678"), None) }).is_err());
    // A signature that does not hold where the input says it does (and the other way) is a finding.
    let body = br#"{"object": "whatsapp_business_account", "entry": []}"#.to_vec();
    let right = signature::sign(SECRET, &body);
    let lie = Input { body: body.clone(), header: Some(signature::sign("x", &body)), signed: Signed::Right };
    assert!(in_process(&lie).is_err());
    let lie = Input { body: body.clone(), header: Some(right.clone()), signed: Signed::Wrong };
    assert!(in_process(&lie).is_err());
    let truth = Input { body, header: Some(right), signed: Signed::Right };
    assert!(matches!(in_process(&truth), Ok(Some(p)) if !p.anything));
}
