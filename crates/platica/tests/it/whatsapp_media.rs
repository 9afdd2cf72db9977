//! WhatsApp media, end to end against the simulator's Cloud API media endpoints: an inbound image
//! is fetched (media id → URL → bytes, with the number's token), stored by content hash in the
//! object store with a thumbnail, and served to whoever sees its conversation (404 to anyone
//! else); failed fetches are retried and end "unavailable" after the last attempt; a file over
//! WhatsApp's limit is refused with the reason; media survive a restart; an outbound attachment
//! is uploaded to Graph once and sent by its id.
#![allow(clippy::unwrap_used)]

use crate::support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use platica_simulator::media::MediaStage;
use platica_simulator::{SimAccount, SimConfig, SimHandle, Simulator};
use platica_whatsapp::media::{Fetcher, FetcherConfig, MediaStore};
use platica_whatsapp::sender::{Sender, SenderConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, World, until, world};
use tokio::sync::watch;

const PNID: &str = "106540352242933";
const TOKEN: &str = "sim-media-token";
const SECRET: &str = "sim-media-secret";

static NEXT_DIR: AtomicU32 = AtomicU32::new(1);

/// A fresh media directory of this test (the "data directory" of its servers).
fn media_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "platica-media-test-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn fetcher_config(max_attempts: i32) -> FetcherConfig {
    FetcherConfig {
        concurrency: 2,
        max_attempts,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        request_timeout: Duration::from_secs(10),
        lease: Duration::from_secs(30),
        poll: Duration::from_millis(200),
        ..FetcherConfig::default()
    }
}

/// A `w`×`h` PNG (a gradient).
fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, 120]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgb8(img).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

struct Rig {
    app: TestApp,
    w: World,
    sim: SimHandle,
    dir: PathBuf,
    store: MediaStore,
    stop: watch::Sender<bool>,
}

impl Rig {
    async fn new() -> Rig {
        support::install_test_key();
        let dir = media_dir();
        let store = MediaStore::open(dir.to_str().unwrap()).unwrap();
        let served = store.clone();
        let app = TestApp::spawn_configured(move |s| s.media = Some(served)).await;
        let w = world(&app, "acme", 1).await;
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
            display_phone_number: "+52 55 1234 0000".into(),
            access_token: TOKEN.into(),
            app_secret: SECRET.into(),
            webhook_url: app.url("/api/v1/whatsapp/webhook"),
            session_mode: false,
        });
        Rig { app, w, sim, dir, store, stop: watch::channel(false).0 }
    }

    fn start_fetcher(&self, max_attempts: i32) -> Fetcher {
        let key = support::install_test_key();
        Fetcher::start(
            self.app.pool.clone(),
            key,
            self.store.clone(),
            fetcher_config(max_attempts),
            self.stop.subscribe(),
        )
    }

    /// Ana's first conversation and its prospect's number.
    async fn ana_conversation(&self) -> (i64, String) {
        sqlx::query_as(
            "SELECT c.conversation_id, p.phone FROM conversations c JOIN prospects p USING (tenant_id, prospect_id)
             WHERE c.tenant_id = $1 AND p.executive_id = $2 ORDER BY c.conversation_id LIMIT 1",
        )
        .bind(self.w.tenant.0)
        .bind(self.w.exec_ana.0)
        .fetch_one(&self.app.pool)
        .await
        .unwrap()
    }

    /// Ana's prospect sends a media file; the conversation.
    async fn inbound(&self, kind: &str, bytes: Vec<u8>, mime: &str, caption: Option<&str>) -> i64 {
        let (conv, phone) = self.ana_conversation().await;
        let media_id = self.sim.add_media(PNID, bytes, mime);
        self.sim.inbound_media(PNID, &phone, "Prospecto", kind, &media_id, caption).unwrap();
        conv
    }

    /// The conversation's newest message with media, once its media is no longer pending.
    async fn settled_media(&self, conv: i64) -> Value {
        let token = self.w.token(self.w.exec_ana).to_owned();
        until(20, "the media to be fetched or given up", || {
            let token = token.clone();
            async move {
                let r = self.app.get(&format!("/api/v1/conversations/{conv}/messages"), &token).await;
                assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
                let m = r.body["items"].as_array().unwrap().iter().find(|m| !m["media"].is_null()).cloned()?;
                (m["media"]["state"] != "pending").then_some(m)
            }
        })
        .await
    }

    /// GETs a media URL with a token: status, content type, cache control, bytes.
    async fn fetch(&self, path: &str, token: &str) -> (StatusCode, String, String, Vec<u8>) {
        let r = self.app.client.get(self.app.url(path)).bearer_auth(token).send().await.unwrap();
        let h = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let (status, ct, cc) = (r.status(), h("content-type"), h("cache-control"));
        (status, ct, cc, r.bytes().await.unwrap().to_vec())
    }

    async fn media_row(&self, media_id: i64) -> (String, i32, Option<String>) {
        sqlx::query_as("SELECT state, attempts, reason FROM media WHERE tenant_id = $1 AND media_id = $2")
            .bind(self.w.tenant.0)
            .bind(media_id)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn an_inbound_image_is_fetched_stored_and_served_only_to_who_sees_it() {
    let rig = Rig::new().await;
    let _fetcher = rig.start_fetcher(5);
    let original = png(1000, 600);
    let conv = rig.inbound("image", original.clone(), "image/png", Some("Mi credencial")).await;
    let m = rig.settled_media(conv).await;
    let media = &m["media"];
    assert_eq!(media["state"], "stored", "{m}");
    assert_eq!((&media["kind"], &media["mime_type"]), (&json!("image"), &json!("image/png")));
    assert_eq!(media["size"], json!(original.len()));
    assert_eq!(m["body"], "[image] Mi credencial");
    let id = media["id"].as_i64().unwrap();
    assert_eq!(media["url"], format!("/api/v1/media/{id}"));
    assert_eq!(media["thumbnail_url"], format!("/api/v1/media/{id}/thumbnail"));

    // The owner (and an admin) get the bytes with their type, privately cached.
    for user in [rig.w.exec_ana, rig.w.admin] {
        let (status, ct, cc, bytes) = rig.fetch(&format!("/api/v1/media/{id}"), rig.w.token(user)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(ct, "image/png");
        assert!(cc.starts_with("private"), "{cc}");
        assert_eq!(bytes, original);
    }
    let (status, ct, _, thumb) = rig.fetch(&format!("/api/v1/media/{id}/thumbnail"), rig.w.token(rig.w.exec_ana)).await;
    assert_eq!((status, ct.as_str()), (StatusCode::OK, "image/jpeg"));
    let t = image::load_from_memory(&thumb).unwrap();
    assert_eq!((t.width(), t.height()), (320, 192));

    // Stored by content hash under the tenant's prefix, the thumbnail beside it.
    let sha: String = sqlx::query_scalar("SELECT sha256 FROM media WHERE tenant_id = $1 AND media_id = $2")
        .bind(rig.w.tenant.0)
        .bind(id)
        .fetch_one(&rig.app.pool)
        .await
        .unwrap();
    let path = rig.dir.join(format!("tenants/{}/sha256/{}/{sha}", rig.w.tenant.0, &sha[..2]));
    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert!(path.with_file_name(format!("{sha}.thumb.jpg")).exists());

    // An executive who cannot see the conversation: not found, exactly like a missing id.
    for path in [format!("/api/v1/media/{id}"), format!("/api/v1/media/{id}/thumbnail"), "/api/v1/media/999999".into()]
    {
        let r = rig.app.get(&path, rig.w.token(rig.w.exec_luis)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {:?}", r.body);
        assert_eq!(r.code(), "not_found");
    }
    // Fetched once: one info request, one download.
    let stats = rig.sim.media_stats();
    assert_eq!((stats.info_requests, stats.downloads), (1, 1));
}

#[tokio::test]
async fn a_fetch_that_fails_twice_is_retried_and_then_stored() {
    let rig = Rig::new().await;
    rig.sim.media_fault(MediaStage::Info, 500, Some(1));
    rig.sim.media_fault(MediaStage::Download, 503, Some(1));
    let _fetcher = rig.start_fetcher(5);
    let bytes = b"%PDF-1.4 cotizacion".to_vec();
    let conv = rig.inbound("document", bytes.clone(), "application/pdf", None).await;
    let m = rig.settled_media(conv).await;
    assert_eq!(m["media"]["state"], "stored", "{m}");
    let id = m["media"]["id"].as_i64().unwrap();
    let (state, attempts, reason) = rig.media_row(id).await;
    assert_eq!((state.as_str(), attempts, reason), ("stored", 3, None));
    assert_eq!(rig.sim.media_stats().faults_injected, 2);
    let (status, ct, _, got) = rig.fetch(&format!("/api/v1/media/{id}"), rig.w.token(rig.w.exec_ana)).await;
    assert_eq!((status, ct.as_str(), got), (StatusCode::OK, "application/pdf", bytes));
    // Not an image: no thumbnail.
    assert!(m["media"]["thumbnail_url"].is_null());
    let r = rig.app.get(&format!("/api/v1/media/{id}/thumbnail"), rig.w.token(rig.w.exec_ana)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_fetch_that_always_fails_is_unavailable_after_the_last_attempt() {
    let rig = Rig::new().await;
    rig.sim.media_fault(MediaStage::Download, 500, None);
    let _fetcher = rig.start_fetcher(3);
    let conv = rig.inbound("image", png(10, 10), "image/png", None).await;
    let m = rig.settled_media(conv).await;
    assert_eq!(m["media"]["state"], "unavailable", "{m}");
    let reason = m["media"]["reason"].as_str().unwrap().to_owned();
    assert!(reason.starts_with("gave up after 3 attempts"), "{reason}");
    let id = m["media"]["id"].as_i64().unwrap();
    assert_eq!(rig.media_row(id).await.1, 3);
    assert_eq!(rig.sim.media_stats().downloads, 3);
    let r = rig.app.get(&format!("/api/v1/media/{id}"), rig.w.token(rig.w.exec_ana)).await;
    assert_eq!((r.status, r.code()), (StatusCode::CONFLICT, "media_unavailable"));
    // Given up for good: no more attempts.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(rig.sim.media_stats().downloads, 3);
}

#[tokio::test]
async fn a_file_over_whatsapps_limit_is_refused_with_the_reason() {
    let rig = Rig::new().await;
    let _fetcher = rig.start_fetcher(5);
    // Images: 5 MB at most.
    let conv = rig.inbound("image", vec![0u8; 5 * 1024 * 1024 + 1], "image/jpeg", None).await;
    let m = rig.settled_media(conv).await;
    assert_eq!(m["media"]["state"], "unavailable", "{m}");
    let reason = m["media"]["reason"].as_str().unwrap();
    assert!(reason.contains("too large") && reason.contains("5242881"), "{reason}");
    // Refused from Graph's file_size: never downloaded, tried once.
    assert_eq!(rig.sim.media_stats().downloads, 0);
    assert_eq!(rig.media_row(m["media"]["id"].as_i64().unwrap()).await.1, 1);
}

#[tokio::test]
async fn media_survive_a_restart_and_pending_ones_are_fetched_after_it() {
    let rig = Rig::new().await;
    let fetcher = rig.start_fetcher(5);
    let first = png(200, 100);
    let conv = rig.inbound("image", first.clone(), "image/png", None).await;
    let stored = rig.settled_media(conv).await;
    let first_id = stored["media"]["id"].as_i64().unwrap();
    // The first server's fetcher stops; an image arrives meanwhile and waits.
    rig.stop.send_replace(true);
    fetcher.finished().await;
    let second = png(50, 80);
    let media_id = rig.sim.add_media(PNID, second.clone(), "image/png");
    let (_, phone) = rig.ana_conversation().await;
    rig.sim.inbound_media(PNID, &phone, "Prospecto", "image", &media_id, None).unwrap();
    let pending_id: i64 = until(10, "the second image's media row", || async {
        sqlx::query_scalar("SELECT media_id FROM media WHERE tenant_id = $1 AND wa_media_id = $2")
            .bind(rig.w.tenant.0)
            .bind(&media_id)
            .fetch_optional(&rig.app.pool)
            .await
            .unwrap()
    })
    .await;
    assert_eq!(rig.media_row(pending_id).await.0, "pending");

    // A new server on the same database and data directory, as `platica serve` starts it.
    let pool = platica_store::pg::db::connect(&rig.app.db_url, 4).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let options = platica::server::ServerOptions {
        slot: Some(format!("{}_restarted", platica::slot_name(&rig.app.db_url))),
        secret_key: Some(support::install_test_key()),
        media: Some(platica::server::MediaOptions {
            store: MediaStore::open(rig.dir.to_str().unwrap()).unwrap(),
            fetcher: Some(fetcher_config(5)),
        }),
        ..platica::server::ServerOptions::new(rig.app.db_url.clone())
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = platica::server::Server::start(pool, listener, options, |_| {}, async {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    let base = format!("http://{}", server.addr());
    let get = |path: String| {
        let token = rig.w.token(rig.w.exec_ana).to_owned();
        let client = rig.app.client.clone();
        let base = base.clone();
        async move {
            let r = client.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
            (r.status(), r.bytes().await.unwrap().to_vec())
        }
    };
    assert_eq!(get(format!("/api/v1/media/{first_id}")).await, (StatusCode::OK, first));
    // Its fetcher takes up what was left pending.
    until(20, "the pending image to be fetched by the new server", || async {
        (rig.media_row(pending_id).await.0 == "stored").then_some(())
    })
    .await;
    assert_eq!(get(format!("/api/v1/media/{pending_id}")).await, (StatusCode::OK, second));
    let _ = stop.send(());
    server.stopped().await.unwrap();
}

#[tokio::test]
async fn an_outbound_attachment_is_uploaded_once_and_sent_by_its_id() {
    let rig = Rig::new().await;
    let key = support::install_test_key();
    let config = SenderConfig {
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        poll: Duration::from_millis(100),
        refresh: Duration::from_millis(100),
        media_store: Some(rig.store.clone()),
        ..SenderConfig::default()
    };
    let _sender = Sender::start(rig.app.pool.clone(), key, config, rig.stop.subscribe());
    let (conv, _) = rig.ana_conversation().await;
    let ana = rig.w.token(rig.w.exec_ana);
    let photo = png(640, 480);
    let upload = |bytes: Vec<u8>, mime: &'static str, name: &'static str| {
        let part = reqwest::multipart::Part::bytes(bytes).file_name(name).mime_str(mime).unwrap();
        rig.app
            .client
            .post(rig.app.url("/api/v1/media"))
            .bearer_auth(ana)
            .multipart(reqwest::multipart::Form::new().part("file", part))
            .send()
    };
    // What WhatsApp does not take is refused, naming why.
    let r = upload(b"GIF89a".to_vec(), "image/gif", "a.gif").await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let r = upload(vec![1u8; 5 * 1024 * 1024 + 1], "image/jpeg", "big.jpg").await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "media_too_large");

    let r = upload(photo.clone(), "image/png", "catalogo.png").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let media: Value = r.json().await.unwrap();
    assert_eq!(
        (&media["kind"], &media["state"], &media["filename"]),
        (&json!("image"), &json!("stored"), &json!("catalogo.png"))
    );
    let id = media["id"].as_i64().unwrap();
    // Before it is sent, only its uploader sees it.
    assert_eq!(rig.fetch(&format!("/api/v1/media/{id}"), ana).await.3, photo);
    let r = rig.app.get(&format!("/api/v1/media/{id}"), rig.w.token(rig.w.exec_luis)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // The first send is refused for now (429, nothing sent): the retry must not upload again.
    let r = reqwest::Client::new()
        .post(format!("{}/_sim/faults", rig.sim.url()))
        .json(&json!({"phone_number_id": PNID, "responses": [{"status": 429}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    let r = rig
        .app
        .post(
            &format!("/api/v1/conversations/{conv}/messages"),
            ana,
            json!({"media": {"id": id, "caption": "Nuestro catálogo"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    assert_eq!(r.body["media"]["id"], id);
    assert_eq!(r.body["body"], "Nuestro catálogo");
    let message_id = r.body["message_id"].as_i64().unwrap();
    let sent = until(20, "the attachment's send", || async {
        let s = rig.sim.sent(PNID);
        (!s.is_empty()).then_some(s)
    })
    .await;
    let uploads = rig.sim.uploads();
    assert_eq!(uploads.len(), 1, "uploaded once: {uploads:?}");
    assert_eq!((uploads[0].mime_type.as_str(), uploads[0].size), ("image/png", photo.len()));
    assert_eq!(uploads[0].filename.as_deref(), Some("catalogo.png"));
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].kind, "image");
    assert_eq!(sent[0].media_id.as_deref(), Some(uploads[0].id.as_str()), "sent by the uploaded id");
    assert_eq!(sent[0].text.as_deref(), Some("Nuestro catálogo"));
    assert_eq!(rig.sim.stats().faults_injected, 1);
    // The conversation shows it, seen by those who see the conversation.
    let page = rig.app.get(&format!("/api/v1/conversations/{conv}/messages"), rig.w.token(rig.w.admin)).await;
    let shown = page.body["items"].as_array().unwrap().iter().find(|m| m["message_id"] == message_id).unwrap().clone();
    assert_eq!(shown["media"]["id"], id);
    assert_eq!(rig.fetch(&format!("/api/v1/media/{id}"), rig.w.token(rig.w.admin)).await.0, StatusCode::OK);
    // An upload is sent once: attaching it again is a conflict.
    let r = rig.app.post(&format!("/api/v1/conversations/{conv}/messages"), ana, json!({"media": {"id": id}})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.body);
    // Someone else's upload is not found.
    let r = rig
        .app
        .post(&format!("/api/v1/conversations/{conv}/messages"), rig.w.token(rig.w.admin), json!({"media": {"id": id}}))
        .await;
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (StatusCode::NOT_FOUND, Some("media.id")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(rig.sim.uploads().len(), 1);
    assert_eq!(rig.sim.stats().sends, 1);
}
