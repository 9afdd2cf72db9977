//! The templates API against the simulator's Graph endpoints over real HTTP: sync every page of
//! a business account's templates with their review states, submit one for review (pending, then
//! approved or rejected), send an approved one with header and body parameters through the
//! outbox and the sender, and record review state changes (`apply_template_status`, what the
//! template status webhook calls). Only admins submit and sync; every role lists approved ones.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::time::Duration;

use platica_simulator::{SimAccount, SimConfig, SimHandle, SimTemplate, Simulator};
use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, World, until, world};
use tokio::sync::watch;

const PNID: &str = "106540352242977";
const TOKEN: &str = "sim-access-token";
const SECRET: &str = "sim-app-secret";

struct Rig {
    app: TestApp,
    w: World,
    sim: SimHandle,
    account: i64,
    waba: String,
    stop: watch::Sender<bool>,
}

impl Rig {
    async fn new(slug: &str) -> Rig {
        support::install_test_key();
        let app = TestApp::spawn().await;
        let w = world(&app, slug, 1).await;
        let sim = Simulator::start(SimConfig { failure_rate: 0.0, ..SimConfig::default() }).await.unwrap();
        let r = app
            .post(
                "/api/v1/channels",
                w.token(w.admin),
                json!({"kind": "simulator", "display_name": "Ventas", "phone_number_id": PNID, "app_secret": SECRET,
                       "verify_token": "verify", "access_token": TOKEN, "default_team_id": w.boom.0,
                       "base_url": sim.base_url()}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
        sim.add_account(SimAccount {
            phone_number_id: PNID.into(),
            display_phone_number: "+52 55 1234 5678".into(),
            access_token: TOKEN.into(),
            app_secret: SECRET.into(),
            webhook_url: app.url("/api/v1/whatsapp/webhook"),
            session_mode: false,
        });
        let waba = sim.waba_id(PNID).unwrap();
        let account = r.body["channel_account_id"].as_i64().unwrap();
        Rig { app, w, sim, account, waba, stop: watch::channel(false).0 }
    }

    async fn sync(&self, token: &str) -> support::Resp {
        self.app
            .post("/api/v1/templates/sync", token, json!({"channel_account_id": self.account, "waba_id": self.waba}))
            .await
    }

    async fn list(&self, token: &str) -> Vec<Value> {
        let r = self.app.get("/api/v1/templates", token).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body.as_array().unwrap().clone()
    }

    fn template(&self, name: &str, status: &str, components: Value) -> String {
        self.sim.add_template(
            &self.waba,
            SimTemplate {
                id: String::new(),
                name: name.into(),
                language: "es_MX".into(),
                category: "MARKETING".into(),
                components,
                status: status.into(),
                rejected_reason: (status == "REJECTED").then(|| "INVALID_FORMAT".to_owned()),
            },
        )
    }
}

fn body(text: &str) -> Value {
    json!([{"type": "BODY", "text": text}])
}

fn find<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter().find(|t| t["name"] == name).unwrap_or_else(|| panic!("{name} not listed"))
}

#[tokio::test]
async fn sync_reads_every_page_with_review_states_and_records_changes() {
    let rig = Rig::new("tpl-sync").await;
    // 230 templates: three pages of 100.
    for i in 0..230 {
        let status = match i % 4 {
            0 | 1 => "APPROVED",
            2 => "REJECTED",
            _ => "PENDING",
        };
        rig.template(&format!("promo_{i:03}"), status, body("Hola {{1}}, tenemos una oferta"));
    }
    rig.template(
        "con_encabezado",
        "APPROVED",
        json!([{"type": "HEADER", "format": "TEXT", "text": "Oferta {{1}}"}, {"type": "BODY", "text": "Hola {{1}}"}]),
    );
    rig.template("sin_texto", "APPROVED", json!([{"type": "HEADER", "format": "IMAGE"}]));

    let r = rig.sync(rig.w.token(rig.w.admin)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!((r.body["fetched"].as_u64(), r.body["created"].as_u64()), (Some(232), Some(231)), "{}", r.body);
    assert_eq!(r.body["skipped"].as_array().unwrap().len(), 1, "{}", r.body);
    assert!(r.body["skipped"][0].as_str().unwrap().starts_with("sin_texto"));

    let all = rig.list(rig.w.token(rig.w.admin)).await;
    assert_eq!(all.len(), 231);
    let rejected = find(&all, "promo_002");
    assert_eq!(
        (rejected["status"].as_str(), rejected["status_reason"].as_str()),
        (Some("rejected"), Some("INVALID_FORMAT"))
    );
    assert_eq!(rejected["category"], "marketing");
    assert_eq!(rejected["waba_id"], rig.waba.as_str());
    let header = find(&all, "con_encabezado");
    assert_eq!((header["header"].as_str(), header["header_params"].as_i64()), (Some("Oferta {{1}}"), Some(1)));
    // Other roles see the approved ones only.
    let approved = all.iter().filter(|t| t["status"] == "approved").count();
    for user in [rig.w.exec_ana, rig.w.coord_boom] {
        let seen = rig.list(rig.w.token(user)).await;
        assert_eq!(seen.len(), approved);
        assert!(seen.iter().all(|t| t["status"] == "approved"));
    }

    // Nothing changed: nothing updated. Then WhatsApp pauses one: the next sync records it.
    let again = rig.sync(rig.w.token(rig.w.admin)).await;
    assert_eq!((again.body["created"].as_u64(), again.body["updated"].as_u64()), (Some(0), Some(0)), "{}", again.body);
    rig.sim.set_template_status(&rig.waba, None, Some(("promo_000", "es_MX")), "PAUSED", Some("low quality")).unwrap();
    let third = rig.sync(rig.w.token(rig.w.admin)).await;
    assert_eq!((third.body["created"].as_u64(), third.body["updated"].as_u64()), (Some(0), Some(1)), "{}", third.body);
    let paused = find(&rig.list(rig.w.token(rig.w.admin)).await, "promo_000").clone();
    assert_eq!((paused["status"].as_str(), paused["status_reason"].as_str()), (Some("paused"), Some("low quality")));
    let id = paused["template_id"].as_i64().unwrap();
    let changes = platica_store::whatsapp::templates::status_changes(&rig.app.pool, rig.w.tenant, id).await.unwrap();
    let seen: Vec<(&str, &str)> = changes.iter().map(|(s, _, src, _)| (s.as_str(), src.as_str())).collect();
    assert_eq!(seen, [("approved", "sync"), ("paused", "sync")]);

    // Only admins sync; a wrong WABA is WhatsApp's refusal, explained.
    let r = rig.sync(rig.w.token(rig.w.exec_ana)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = rig
        .app
        .post(
            "/api/v1/templates/sync",
            rig.w.token(rig.w.admin),
            json!({"channel_account_id": rig.account, "waba_id": "123"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "whatsapp_refused"), "{}", r.body);
    let r = rig
        .app
        .post(
            "/api/v1/templates/sync",
            rig.w.token(rig.w.admin),
            json!({"channel_account_id": 999_999, "waba_id": rig.waba}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    // WhatsApp out of reach: 424 with Retry-After, never a 5xx of this server.
    let r = rig
        .app
        .post(
            "/api/v1/channels",
            rig.w.token(rig.w.admin),
            json!({"kind": "cloud", "display_name": "Caída", "phone_number_id": "106540352242978",
                   "app_secret": SECRET, "verify_token": "verify", "access_token": TOKEN,
                   "default_team_id": rig.w.boom.0, "base_url": "http://127.0.0.1:9/v21.0"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let down = r.body["channel_account_id"].as_i64().unwrap();
    let r = rig
        .app
        .post(
            "/api/v1/templates/sync",
            rig.w.token(rig.w.admin),
            json!({"channel_account_id": down, "waba_id": rig.waba}),
        )
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FAILED_DEPENDENCY, "whatsapp_unavailable"), "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn a_submitted_template_is_pending_until_approved_then_sends_with_parameters() {
    let rig = Rig::new("tpl-submit").await;
    let admin = rig.w.token(rig.w.admin);
    let submit = json!({
        "channel_account_id": rig.account, "waba_id": rig.waba, "name": "cita_confirmada", "language": "es_MX",
        "category": "UTILITY",
        "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Cita {{1}}"},
            {"type": "BODY", "text": "Hola {{1}}, su cita es el {{2}}."},
            {"type": "FOOTER", "text": "Platica"}
        ]
    });
    let r = rig.app.post("/api/v1/templates/submit", rig.w.token(rig.w.exec_ana), submit.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = rig.app.post("/api/v1/templates/submit", admin, submit.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!((r.body["status"].as_str(), r.body["params"].as_i64()), (Some("pending"), Some(2)));
    let external = r.body["external_id"].as_str().unwrap().to_owned();
    let remote = rig.sim.templates(&rig.waba);
    assert_eq!(remote.len(), 1);
    assert_eq!(
        (remote[0].id.as_str(), remote[0].status.as_str(), remote[0].category.as_str()),
        (external.as_str(), "PENDING", "UTILITY")
    );
    // Twice is a conflict; a template Platica could not send is not submitted.
    let r = rig.app.post("/api/v1/templates/submit", admin, submit.clone()).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let mut bad = submit.clone();
    bad["name"] = json!("sin_cuerpo");
    bad["components"] = json!([{"type": "FOOTER", "text": "x"}]);
    let r = rig.app.post("/api/v1/templates/submit", admin, bad).await;
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("components")));
    assert_eq!(rig.sim.templates(&rig.waba).len(), 1);

    // Pending: executives do not see it and cannot send it.
    assert!(rig.list(rig.w.token(rig.w.exec_ana)).await.is_empty());
    let (conv, phone): (i64, String) = sqlx::query_as(
        "SELECT c.conversation_id, substr(p.phone, 2) FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
         WHERE c.tenant_id = $1 AND p.executive_id = $2 ORDER BY c.conversation_id LIMIT 1",
    )
    .bind(rig.w.tenant.0)
    .bind(rig.w.exec_ana.0)
    .fetch_one(&rig.app.pool)
    .await
    .unwrap();
    let send = json!({"template": {"name": "cita_confirmada", "language": "es_MX",
                                   "parameters": ["Ana", "lunes"], "header_parameters": ["confirmada"]}});
    let path = format!("/api/v1/conversations/{conv}/messages");
    let r = rig.app.post(&path, rig.w.token(rig.w.exec_ana), send.clone()).await;
    assert_eq!((r.status, r.code()), (StatusCode::UNPROCESSABLE_ENTITY, "template_not_approved"), "{}", r.body);

    // WhatsApp approves it; the status webhook (here its store function) records it.
    rig.sim.set_template_status(&rig.waba, Some(&external), None, "APPROVED", None).unwrap();
    let t = platica_store::whatsapp::templates::apply_template_status(
        &rig.app.pool,
        rig.w.tenant,
        &rig.waba,
        Some(&external),
        "cita_confirmada",
        "es_MX",
        "APPROVED",
        None,
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(t.status, "approved");
    assert_eq!(rig.list(rig.w.token(rig.w.exec_ana)).await.len(), 1);

    // Parameters are checked against the template: header and body.
    let mut wrong = send.clone();
    wrong["template"]["header_parameters"] = json!([]);
    let r = rig.app.post(&path, rig.w.token(rig.w.exec_ana), wrong).await;
    assert_eq!(
        (r.status, r.body["error"]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("template.header_parameters"))
    );
    // A conversation Ana cannot see is not found.
    let luis_conv: i64 = sqlx::query_scalar(
        "SELECT c.conversation_id FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
         WHERE c.tenant_id = $1 AND p.executive_id = $2 LIMIT 1",
    )
    .bind(rig.w.tenant.0)
    .bind(rig.w.exec_luis.0)
    .fetch_one(&rig.app.pool)
    .await
    .unwrap();
    let r = rig
        .app
        .post(&format!("/api/v1/conversations/{luis_conv}/messages"), rig.w.token(rig.w.exec_ana), send.clone())
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Sent: the outbox and the sender take it to WhatsApp, parameters in the Cloud API's shape.
    let r = rig.app.post(&path, rig.w.token(rig.w.exec_ana), send.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["body"], "Cita confirmada\n\nHola Ana, su cita es el lunes.");
    let config = SenderConfig {
        backoff_base: Duration::from_millis(50),
        lease: Duration::from_secs(2),
        poll: Duration::from_millis(200),
        refresh: Duration::from_millis(200),
        ..SenderConfig::default()
    };
    let _sender = Sender::start(rig.app.pool.clone(), support::install_test_key(), config, rig.stop.subscribe());
    let sent = until(20, "the template to reach WhatsApp", || async {
        let sent = rig.sim.sent(PNID);
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].kind.as_str(), sent[0].template.as_deref(), sent[0].to.as_str()),
        ("template", Some("cita_confirmada"), phone.as_str())
    );
    assert_eq!(
        sent[0].template_components,
        Some(json!([
            {"type": "header", "parameters": [{"type": "text", "text": "confirmada"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "lunes"}]}
        ]))
    );

    // Another one is rejected: a sync brings the reason.
    let mut second = submit.clone();
    second["name"] = json!("promo_agresiva");
    let r = rig.app.post("/api/v1/templates/submit", admin, second).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    rig.sim
        .set_template_status(&rig.waba, None, Some(("promo_agresiva", "es_MX")), "REJECTED", Some("PROMOTIONAL"))
        .unwrap();
    let r = rig.sync(admin).await;
    assert_eq!(r.body["updated"].as_u64(), Some(1), "{}", r.body);
    let rejected = find(&rig.list(admin).await, "promo_agresiva").clone();
    assert_eq!(
        (rejected["status"].as_str(), rejected["status_reason"].as_str()),
        (Some("rejected"), Some("PROMOTIONAL"))
    );
    rig.stop.send_replace(true);
}

#[tokio::test]
async fn apply_template_status_records_each_change_once_in_its_tenant() {
    let app = TestApp::spawn().await;
    let a = world(&app, "tpl-status-a", 1).await;
    let b = world(&app, "tpl-status-b", 1).await;
    let pool = &app.pool;
    let remote = |id: &str| platica_store::whatsapp::templates::RemoteTemplate {
        external_id: id.into(),
        name: "bienvenida".into(),
        language: "es".into(),
        category: "UTILITY".into(),
        status: "PENDING".into(),
        reason: None,
        components: body("Bienvenido {{1}}"),
    };
    let ta =
        platica_store::whatsapp::templates::record_submitted(pool, a.tenant, "5550001", &remote("101")).await.unwrap();
    let tb =
        platica_store::whatsapp::templates::record_submitted(pool, b.tenant, "5550002", &remote("202")).await.unwrap();
    let apply =
        |tenant, waba: &'static str, id: Option<&'static str>, status: &'static str, reason: Option<&'static str>| {
            platica_store::whatsapp::templates::apply_template_status(
                pool,
                tenant,
                waba,
                id,
                "bienvenida",
                "es",
                status,
                reason,
            )
        };

    // Unknown template or WABA: nothing. Unknown status: refused.
    assert!(apply(a.tenant, "5550002", Some("202"), "APPROVED", None).await.unwrap().is_none());
    assert!(apply(a.tenant, "5550001", Some("101"), "SHINY", None).await.is_err());

    let t = apply(a.tenant, "5550001", Some("101"), "REJECTED", Some("INVALID_FORMAT")).await.unwrap().unwrap();
    assert_eq!(
        (t.template_id, t.status.as_str(), t.status_reason.as_deref()),
        (ta.template_id, "rejected", Some("INVALID_FORMAT"))
    );
    // A redelivery changes nothing; by name and language (no id) works too.
    apply(a.tenant, "5550001", Some("101"), "REJECTED", Some("INVALID_FORMAT")).await.unwrap().unwrap();
    let t = apply(a.tenant, "5550001", None, "APPROVED", Some("NONE")).await.unwrap().unwrap();
    assert_eq!((t.status.as_str(), t.status_reason), ("approved", None));
    let changes = platica_store::whatsapp::templates::status_changes(pool, a.tenant, ta.template_id).await.unwrap();
    let seen: Vec<(&str, Option<&str>, &str)> =
        changes.iter().map(|(s, r, src, _)| (s.as_str(), r.as_deref(), src.as_str())).collect();
    assert_eq!(
        seen,
        [("pending", None, "submit"), ("rejected", Some("INVALID_FORMAT"), "webhook"), ("approved", None, "webhook")]
    );

    // The other tenant's template of the same name is untouched.
    let other = platica_store::whatsapp::templates::status_changes(pool, b.tenant, tb.template_id).await.unwrap();
    assert_eq!(other.len(), 1);
    // A webhook names only its WABA: the tenants that have its templates.
    assert_eq!(platica_store::whatsapp::templates::tenants_of_waba(pool, "5550002").await.unwrap(), [b.tenant]);
    assert!(platica_store::whatsapp::templates::tenants_of_waba(pool, "999").await.unwrap().is_empty());
}

/// WhatsApp's review arrives as a signed `message_template_status_update` webhook: it names only
/// the business account, so it applies within the tenant whose channel secret signed it; a
/// rejection keeps its reason, a redelivery changes nothing, another tenant's template is never
/// touched, and a wrong signature is refused.
#[tokio::test]
async fn a_signed_template_status_webhook_updates_the_review_in_its_tenant() {
    let rig = Rig::new("tpl-webhook").await;
    let admin = rig.w.token(rig.w.admin);
    let submit = json!({"channel_account_id": rig.account, "waba_id": rig.waba, "name": "aviso_pago",
                        "language": "es_MX", "category": "UTILITY",
                        "components": [{"type": "BODY", "text": "Su pago de {{1}} fue recibido."}]});
    let r = rig.app.post("/api/v1/templates/submit", admin, submit).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let external = r.body["external_id"].as_str().unwrap().to_owned();
    let hook = |event: &str, reason: &str| {
        json!({"object": "whatsapp_business_account", "entry": [{"id": rig.waba, "time": 1_733_000_000, "changes": [{
            "field": "message_template_status_update",
            "value": {"event": event, "message_template_id": external.parse::<u64>().unwrap_or(0),
                      "message_template_name": "aviso_pago", "message_template_language": "es_MX",
                      "reason": reason}}]}]})
    };
    let app = &rig.app;
    let post = |payload: Value, secret: &'static str| async move { app.whatsapp_webhook(secret, &payload).await };
    // A wrong signature changes nothing.
    let (status, _) = post(hook("APPROVED", "NONE"), "not-the-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(find(&rig.list(admin).await, "aviso_pago")["status"], "pending");

    let (status, receipt) = post(hook("REJECTED", "INVALID_FORMAT"), SECRET).await;
    assert_eq!((status, receipt["templates_updated"].as_u64()), (StatusCode::OK, Some(1)), "{receipt}");
    let t = find(&rig.list(admin).await, "aviso_pago").clone();
    assert_eq!((t["status"].as_str(), t["status_reason"].as_str()), (Some("rejected"), Some("INVALID_FORMAT")), "{t}");
    let (status, receipt) = post(hook("APPROVED", "NONE"), SECRET).await;
    assert_eq!((status, receipt["templates_updated"].as_u64()), (StatusCode::OK, Some(1)), "{receipt}");
    assert_eq!(find(&rig.list(rig.w.token(rig.w.exec_ana)).await, "aviso_pago")["status"], "approved");
    // Redelivered: the same state, no new change recorded.
    let changes = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM whatsapp_template_status_changes WHERE tenant_id = $1 AND source = 'webhook'",
        )
        .bind(rig.w.tenant.0)
        .fetch_one(&rig.app.pool)
        .await
        .unwrap()
    };
    let before = changes().await;
    let (status, _) = post(hook("APPROVED", "NONE"), SECRET).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changes().await, before, "a redelivery records nothing");
    // A template this tenant does not have is logged, not created.
    let mut unknown = hook("APPROVED", "NONE");
    unknown["entry"][0]["changes"][0]["value"]["message_template_name"] = json!("ajena");
    unknown["entry"][0]["changes"][0]["value"]["message_template_id"] = json!(1);
    let (status, receipt) = post(unknown, SECRET).await;
    assert_eq!(
        (status, receipt["templates_updated"].as_u64(), receipt["ignored"].as_u64()),
        (StatusCode::OK, Some(0), Some(1))
    );
    assert!(rig.list(admin).await.iter().all(|t| t["name"] != "ajena"));
}

/// The admin templates screen follows review states live: a submitted template's approval,
/// arriving by the signed review webhook, reaches an admin's `table:whatsapp_templates`
/// subscription; an executive's subscription gets nothing (only admins see every template).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_review_reaches_admins_live_and_no_one_else() {
    let rig = Rig::new("tpl-live").await;
    let admin = rig.w.token(rig.w.admin);
    let mut admin_ws = support::Ws::connect(&rig.app, admin).await;
    admin_ws.subscribe("t", "table:whatsapp_templates", json!({})).await;
    let mut ana_ws = support::Ws::connect(&rig.app, rig.w.token(rig.w.exec_ana)).await;
    ana_ws.subscribe("t", "table:whatsapp_templates", json!({})).await;

    let submit = json!({"channel_account_id": rig.account, "waba_id": rig.waba, "name": "cita_confirmada",
                        "language": "es_MX", "category": "UTILITY",
                        "components": [{"type": "BODY", "text": "Su cita es el {{1}}.",
                                        "example": {"body_text": [["lunes 3"]]}}]});
    let r = rig.app.post("/api/v1/templates/submit", admin, submit).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["template_id"].as_i64().unwrap();
    let external = r.body["external_id"].as_str().unwrap().parse::<u64>().unwrap();
    let status_of = |f: &Value| {
        (f["type"] == "event" && f["event"]["table"] == "whatsapp_templates" && f["event"]["row"]["template_id"] == id)
            .then(|| f["event"]["row"]["status"].as_str().unwrap_or_default().to_owned())
    };
    async fn until_status(ws: &mut support::Ws, want: &str, f: impl Fn(&Value) -> Option<String>) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let frame = ws.next(left).await.unwrap_or_else(|| panic!("no {want} template event"));
            if f(&frame).as_deref() == Some(want) {
                return;
            }
        }
    }
    until_status(&mut admin_ws, "pending", status_of).await;
    let hook = json!({"object": "whatsapp_business_account", "entry": [{"id": rig.waba, "time": 1_733_000_000, "changes": [{
        "field": "message_template_status_update",
        "value": {"event": "APPROVED", "message_template_id": external, "message_template_name": "cita_confirmada",
                  "message_template_language": "es_MX", "reason": "NONE"}}]}]});
    let (status, receipt) = rig.app.whatsapp_webhook(SECRET, &hook).await;
    assert_eq!((status, receipt["templates_updated"].as_u64()), (StatusCode::OK, Some(1)), "{receipt}");
    until_status(&mut admin_ws, "approved", status_of).await;
    let frames = ana_ws.events(Duration::from_millis(500)).await;
    assert!(frames.iter().all(|(table, _, _)| table != "whatsapp_templates"), "an executive got {frames:?}");
}
