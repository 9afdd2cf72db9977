//! Media files: the Graph API's media endpoints, the object store that keeps the bytes, the
//! Cloud API's size limits, image thumbnails, and the fetcher of inbound media.
//!
//! - **Graph**: an inbound message names a media id. `GET {base}/{media-id}` (Bearer: the
//!   account's access token) answers `{url, mime_type, sha256, file_size, id}`; the `url` is
//!   short-lived (minutes), so every attempt asks for a fresh one and downloads it at once, with
//!   the same token. An outbound file is uploaded with `POST {base}/{phone-number-id}/media`
//!   (multipart: `messaging_product`, `type`, `file`), which answers its id.
//! - **Store**: bytes are kept by content hash through the `object_store` crate under the
//!   tenant's prefix (`tenants/<tenant>/sha256/<ab>/<sha256>`, an image's thumbnail beside it as
//!   `<sha256>.thumb.jpg`): a local directory (`<data dir>/media` by default); other stores are a
//!   configuration seam ([`MediaStore::open`]).
//! - **Limits**: as the Cloud API documents them: images 5 MB, audio and video 16 MB, documents
//!   100 MB, stickers 500 KB (animated; 100 KB static). A larger file is refused before it is
//!   downloaded (by Graph's `file_size`) and while it downloads (whatever Graph said).
//! - **Fetcher**: claims pending inbound media (`platica_store::whatsapp::media::claim_due`, woken by
//!   `NOTIFY platica_media` from the trigger that creates them, polled as a safety net), at most
//!   [`FetcherConfig::concurrency`] at once; a failure that may pass (no connection, a timeout, a
//!   5xx, a 429, an expired URL) is retried with exponential backoff and jitter up to
//!   [`FetcherConfig::max_attempts`], then the media is `unavailable` ("gave up after N
//!   attempts"); a final one (too large, gone at Graph) makes it `unavailable` at once, with the
//!   reason. A crash mid-fetch leaves the row claimed for a lease, then it is tried again.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use platica_store::PgPool;
use platica_store::secrets::SecretKey;
use platica_store::whatsapp::media::{self as store, Due};
use reqwest::StatusCode;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::cloud::DEFAULT_BASE_URL;

const KB: u64 = 1024;
const MB: u64 = 1024 * 1024;

/// The longest side of a thumbnail, in pixels.
pub const THUMBNAIL_MAX_SIDE: u32 = 320;

/// The Cloud API's size limit for a kind of media, in bytes.
pub fn size_limit(kind: &str) -> u64 {
    match kind {
        "image" => 5 * MB,
        "audio" | "video" => 16 * MB,
        "sticker" => 500 * KB,
        _ => 100 * MB,
    }
}

/// The media types the Cloud API accepts for sending, and the kind each is sent as.
pub const SENDABLE: &[(&str, &str)] = &[
    ("image/jpeg", "image"),
    ("image/png", "image"),
    ("image/webp", "sticker"),
    ("audio/aac", "audio"),
    ("audio/amr", "audio"),
    ("audio/mpeg", "audio"),
    ("audio/mp4", "audio"),
    ("audio/ogg", "audio"),
    ("video/mp4", "video"),
    ("video/3gpp", "video"),
    ("text/plain", "document"),
    ("application/pdf", "document"),
    ("application/msword", "document"),
    ("application/vnd.ms-excel", "document"),
    ("application/vnd.ms-powerpoint", "document"),
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "document"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "document"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "document"),
];

/// The kind a media type is sent as, when the Cloud API takes it (`image/jpeg` → `image`...).
pub fn kind_for(mime_type: &str) -> Option<&'static str> {
    let essence = mime_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    SENDABLE.iter().find(|(m, _)| *m == essence).map(|(_, k)| *k)
}

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What can go wrong with media.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media store: {0}")]
    Store(#[from] object_store::Error),
    #[error("media store: {0}")]
    Config(String),
}

/// Where media bytes are kept: one object store, content-addressed keys under each tenant's
/// prefix.
#[derive(Clone, Debug)]
pub struct MediaStore {
    inner: Arc<dyn ObjectStore>,
    describe: String,
}

impl MediaStore {
    /// A directory on this machine (created when missing).
    pub fn local(dir: &Path) -> Result<MediaStore, MediaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MediaError::Config(format!("cannot create {}: {e}", dir.display())))?;
        let fs = LocalFileSystem::new_with_prefix(dir)?;
        Ok(MediaStore { inner: Arc::new(fs), describe: format!("directory {}", dir.display()) })
    }

    /// The store `location` names: a directory path or a `file://` URL. An S3-compatible store
    /// (`s3://bucket/prefix`) is the seam for a build with `object_store`'s `aws` feature; this
    /// build refuses it with a clear message rather than storing elsewhere.
    pub fn open(location: &str) -> Result<MediaStore, MediaError> {
        if let Some(path) = location.strip_prefix("file://") {
            return MediaStore::local(Path::new(path));
        }
        if location.contains("://") {
            return Err(MediaError::Config(format!(
                "'{location}': this build stores media in a local directory only (give a path or file:// URL)"
            )));
        }
        MediaStore::local(Path::new(location))
    }

    /// What the store is, for logs.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The key of a tenant's file with this SHA-256.
    pub fn key(tenant: i64, sha256: &str) -> String {
        let shard = sha256.get(..2).unwrap_or("00");
        format!("tenants/{tenant}/sha256/{shard}/{sha256}")
    }

    /// The key of its thumbnail, beside it.
    pub fn thumbnail_key(tenant: i64, sha256: &str) -> String {
        format!("{}.thumb.jpg", Self::key(tenant, sha256))
    }

    pub async fn put(&self, key: &str, bytes: Vec<u8>) -> Result<(), MediaError> {
        self.inner.put(&object_store::path::Path::from(key), PutPayload::from(bytes)).await?;
        Ok(())
    }

    pub async fn get(&self, key: &str) -> Result<Vec<u8>, MediaError> {
        let got = self.inner.get(&object_store::path::Path::from(key)).await?;
        Ok(got.bytes().await?.to_vec())
    }
}

/// A JPEG thumbnail (at most [`THUMBNAIL_MAX_SIDE`] a side) of a JPEG, PNG or WebP image; `None`
/// when the bytes are not an image those codecs read.
pub fn thumbnail(bytes: &[u8]) -> Option<Vec<u8>> {
    let img = image::ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.decode().ok()?;
    let small = img.thumbnail(THUMBNAIL_MAX_SIDE, THUMBNAIL_MAX_SIDE).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80).encode_image(&small).ok()?;
    Some(out)
}

/// A file stored: its key, its thumbnail's (images), size and hash.
#[derive(Clone, Debug)]
pub struct Kept {
    pub sha256: String,
    pub size: i64,
    pub object_key: String,
    pub thumbnail_key: Option<String>,
}

/// Stores `bytes` for `tenant` by content hash, with a thumbnail for images.
pub async fn keep(store: &MediaStore, tenant: i64, kind: &str, bytes: Vec<u8>) -> Result<Kept, MediaError> {
    let sha256 = sha256_hex(&bytes);
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let object_key = MediaStore::key(tenant, &sha256);
    let thumb = if kind == "image" { thumbnail(&bytes) } else { None };
    store.put(&object_key, bytes).await?;
    let thumbnail_key = match thumb {
        Some(t) => {
            let key = MediaStore::thumbnail_key(tenant, &sha256);
            store.put(&key, t).await?;
            Some(key)
        }
        None => None,
    };
    Ok(Kept { sha256, size, object_key, thumbnail_key })
}

/// Where an account's Graph requests go.
#[derive(Clone, Debug)]
pub struct GraphEndpoint {
    pub base_url: String,
    pub phone_number_id: String,
    pub access_token: String,
}

/// Why a fetch or an upload did not work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// May work later (no connection, a timeout, a 5xx, a 429, an expired URL).
    Transient(String),
    /// Will not work (too large, gone, refused).
    Final(String),
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Transient(r) | Failure::Final(r) => r,
        }
    }
}

/// What Graph says of a media id.
#[derive(Clone, Debug)]
pub struct MediaInfo {
    pub url: String,
    pub mime_type: Option<String>,
    pub sha256: Option<String>,
    pub file_size: Option<u64>,
}

/// The Graph API's media endpoints.
#[derive(Clone, Debug)]
pub struct GraphMedia {
    http: reqwest::Client,
}

fn from_status(status: StatusCode, body: &[u8], what: &str) -> Failure {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let code = v.pointer("/error/code").and_then(Value::as_i64);
    let message = v.pointer("/error/message").and_then(Value::as_str).unwrap_or("");
    let text = match code {
        Some(c) => format!("{what}: HTTP {}, code {c}: {message}", status.as_u16()),
        None => format!("{what}: HTTP {}", status.as_u16()),
    };
    let text: String = text.chars().take(500).collect();
    // Gone or refused for good: an unknown or deleted media id, a bad request.
    if status == StatusCode::NOT_FOUND
        || status == StatusCode::GONE
        || (status == StatusCode::BAD_REQUEST && code != Some(131000) && code != Some(4) && code != Some(80007))
    {
        Failure::Final(text)
    } else {
        Failure::Transient(text)
    }
}

fn transport(e: &reqwest::Error, what: &str) -> Failure {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "connection lost"
    };
    Failure::Transient(format!("{what}: {kind}"))
}

impl GraphMedia {
    pub fn new(timeout: Duration) -> Result<GraphMedia, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("platica/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(GraphMedia { http })
    }

    /// `GET {base}/{media-id}`: where to download it now.
    pub async fn info(&self, to: &GraphEndpoint, media_id: &str) -> Result<MediaInfo, Failure> {
        let url = format!("{}/{}", to.base_url.trim_end_matches('/'), media_id);
        let resp = self
            .http
            .get(url)
            .query(&[("phone_number_id", to.phone_number_id.as_str())])
            .bearer_auth(&to.access_token)
            .send()
            .await
            .map_err(|e| transport(&e, "media info"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| transport(&e, "media info"))?;
        if !status.is_success() {
            return Err(from_status(status, &body, "media info"));
        }
        let v: Value = serde_json::from_slice(&body)
            .map_err(|_| Failure::Transient("media info: the answer is not JSON".to_owned()))?;
        let url = v
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
            .ok_or_else(|| Failure::Transient("media info: the answer has no URL".to_owned()))?;
        Ok(MediaInfo {
            url: url.to_owned(),
            mime_type: v.get("mime_type").and_then(Value::as_str).map(|s| s.chars().take(256).collect()),
            sha256: v.get("sha256").and_then(Value::as_str).map(str::to_ascii_lowercase),
            file_size: v.get("file_size").and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok())),
        })
    }

    /// Downloads the URL `info` gave (with the token), refusing more than `limit` bytes.
    pub async fn download(&self, to: &GraphEndpoint, url: &str, limit: u64) -> Result<Vec<u8>, Failure> {
        let mut resp = self
            .http
            .get(url)
            .bearer_auth(&to.access_token)
            .send()
            .await
            .map_err(|e| transport(&e, "media download"))?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.bytes().await.unwrap_or_default();
            // An expired or refused URL: a fresh one is asked for on the next attempt.
            return Err(match from_status(status, &body, "media download") {
                Failure::Final(r) if status == StatusCode::NOT_FOUND => Failure::Transient(r),
                f => f,
            });
        }
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large(resp.content_length().unwrap_or(limit), limit));
        }
        let mut out = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e, "media download"))? {
            if (out.len() + chunk.len()) as u64 > limit {
                return Err(too_large((out.len() + chunk.len()) as u64, limit));
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }

    /// `POST {base}/{phone-number-id}/media`: uploads a file, answering WhatsApp's media id.
    pub async fn upload(
        &self,
        to: &GraphEndpoint,
        bytes: Vec<u8>,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, Failure> {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(filename.to_owned())
            .mime_str(mime_type)
            .map_err(|_| Failure::Final(format!("media upload: '{mime_type}' is not a media type")))?;
        let form = reqwest::multipart::Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", mime_type.to_owned())
            .part("file", part);
        let url = format!("{}/{}/media", to.base_url.trim_end_matches('/'), to.phone_number_id);
        let resp = self
            .http
            .post(url)
            .bearer_auth(&to.access_token)
            .multipart(form)
            .send()
            .await
            .map_err(|e| transport(&e, "media upload"))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| transport(&e, "media upload"))?;
        if !status.is_success() {
            return Err(from_status(status, &body, "media upload"));
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        v.get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| Failure::Transient("media upload: the answer has no id".to_owned()))
    }
}

fn too_large(size: u64, limit: u64) -> Failure {
    Failure::Final(format!("too large: {size} bytes, WhatsApp's limit for this kind is {limit}"))
}

/// The fetcher's settings.
#[derive(Clone, Debug)]
pub struct FetcherConfig {
    /// Where accounts without their own `base_url` ask (the Graph API).
    pub default_base_url: String,
    /// Fetches in flight at once (`media.fetch_concurrency`).
    pub concurrency: usize,
    /// Attempts before a media file is `unavailable` (`media.fetch_attempts`).
    pub max_attempts: i32,
    /// First retry delay; doubles each attempt (with jitter), up to `backoff_max`.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// How long one attempt may take (a download included).
    pub request_timeout: Duration,
    /// How long a claimed attempt holds its row (then a crashed fetcher's row is tried again).
    pub lease: Duration,
    /// Longest wait between looks at the queue when no notification comes.
    pub poll: Duration,
}

impl Default for FetcherConfig {
    fn default() -> Self {
        FetcherConfig {
            default_base_url: DEFAULT_BASE_URL.to_owned(),
            concurrency: 4,
            max_attempts: 6,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(600),
            request_timeout: Duration::from_secs(120),
            lease: Duration::from_secs(300),
            poll: Duration::from_secs(5),
        }
    }
}

/// The running fetcher; stops when the shutdown signal turns true, after the fetches in flight.
pub struct Fetcher {
    task: JoinHandle<()>,
}

impl Fetcher {
    pub fn start(
        pool: PgPool,
        key: &'static SecretKey,
        store: MediaStore,
        config: FetcherConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Fetcher {
        Fetcher { task: tokio::spawn(run(pool, key, store, Arc::new(config), shutdown)) }
    }

    /// Waits for it to stop (after the shutdown signal).
    pub async fn finished(self) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "the media fetcher panicked");
        }
    }
}

struct Ctx {
    pool: PgPool,
    key: &'static SecretKey,
    store: MediaStore,
    config: Arc<FetcherConfig>,
    graph: GraphMedia,
}

async fn run(
    pool: PgPool,
    key: &'static SecretKey,
    store: MediaStore,
    config: Arc<FetcherConfig>,
    mut shutdown: watch::Receiver<bool>,
) {
    let graph = match GraphMedia::new(config.request_timeout) {
        Ok(g) => g,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the media HTTP client: no media will be fetched");
            return;
        }
    };
    let mut listener = match PgListener::connect_with(&pool).await {
        Ok(mut l) => match l.listen("platica_media").await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for media; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot LISTEN for media; polling only");
            None
        }
    };
    tracing::info!(store = store.describe(), concurrency = config.concurrency, "media fetcher running");
    let ctx = Arc::new(Ctx { pool, key, store, config, graph });
    let concurrency = ctx.config.concurrency.max(1);
    let mut tasks: JoinSet<()> = JoinSet::new();
    while !*shutdown.borrow() {
        let free = concurrency.saturating_sub(tasks.len());
        let mut wait = ctx.config.poll;
        if free > 0 {
            match store::claim_due(&ctx.pool, free as i64, ctx.config.lease).await {
                Ok(rows) => {
                    let all = rows.len() == free;
                    for row in rows {
                        let ctx = ctx.clone();
                        tasks.spawn(async move { fetch_one(&ctx, row).await });
                    }
                    if all {
                        wait = Duration::ZERO;
                    } else if let Ok(Some(due)) = store::next_due(&ctx.pool).await {
                        wait = (due - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO).min(ctx.config.poll);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim media to fetch");
                    wait = Duration::from_secs(1);
                }
            }
        }
        let wait = wait.max(Duration::from_millis(5));
        tokio::select! {
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = done {
                    tracing::error!(error = %e, "a media fetch failed");
                }
            }
            () = tokio::time::sleep(wait) => {}
            n = recv(&mut listener) => {
                if n.is_none() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            _ = shutdown.changed() => {}
        }
    }
    while let Some(done) = tasks.join_next().await {
        if let Err(e) = done {
            tracing::error!(error = %e, "a media fetch failed");
        }
    }
    tracing::info!("media fetcher stopped");
}

async fn recv(listener: &mut Option<PgListener>) -> Option<()> {
    match listener {
        Some(l) => match l.recv().await {
            Ok(_) => Some(()),
            Err(e) => {
                tracing::warn!(error = %e, "media notifications interrupted");
                None
            }
        },
        None => std::future::pending().await,
    }
}

/// The endpoint of an account (its base URL or the default, its access token).
async fn endpoint(ctx: &Ctx, tenant: i64, account: i64) -> Result<GraphEndpoint, Failure> {
    let tenant = platica_domain::TenantId(tenant);
    let acc = platica_store::whatsapp::channels::get(&ctx.pool, tenant, account)
        .await
        .map_err(|e| Failure::Transient(format!("cannot read the channel account: {e}")))?;
    let access_token = platica_store::whatsapp::channels::access_token(&ctx.pool, ctx.key, tenant, account)
        .await
        .map_err(|e| Failure::Transient(format!("cannot open the channel's access token: {e}")))?;
    Ok(GraphEndpoint {
        base_url: acc.base_url.unwrap_or_else(|| ctx.config.default_base_url.clone()),
        phone_number_id: acc.phone_number_id,
        access_token,
    })
}

/// One attempt: info, download, checks, store.
async fn attempt(ctx: &Ctx, row: &Due) -> Result<(String, Kept), Failure> {
    let (Some(account), Some(wa_id)) = (row.channel_account_id, row.wa_media_id.as_deref()) else {
        return Err(Failure::Final("no channel account or media id to fetch it with".to_owned()));
    };
    let to = endpoint(ctx, row.tenant_id, account).await?;
    let limit = size_limit(&row.kind);
    let info = ctx.graph.info(&to, wa_id).await?;
    if let Some(size) = info.file_size
        && size > limit
    {
        return Err(too_large(size, limit));
    }
    let bytes = ctx.graph.download(&to, &info.url, limit).await?;
    let sha = sha256_hex(&bytes);
    if let Some(expected) = &info.sha256
        && expected.len() == 64
        && *expected != sha
    {
        return Err(Failure::Transient("the download does not match WhatsApp's SHA-256".to_owned()));
    }
    let mime =
        info.mime_type.or_else(|| row.mime_type.clone()).unwrap_or_else(|| "application/octet-stream".to_owned());
    let kept =
        keep(&ctx.store, row.tenant_id, &row.kind, bytes).await.map_err(|e| Failure::Transient(e.to_string()))?;
    Ok((mime, kept))
}

async fn fetch_one(ctx: &Ctx, row: Due) {
    let ids = (row.tenant_id, row.media_id);
    let started = std::time::Instant::now();
    let outcome = attempt(ctx, &row).await;
    metrics::histogram!("platica_media_fetch_seconds").record(started.elapsed().as_secs_f64());
    let written = match outcome {
        Ok((mime, kept)) => {
            metrics::counter!("platica_media_fetches_total", "outcome" => "stored").increment(1);
            tracing::debug!(tenant_id = ids.0, media_id = ids.1, size = kept.size, "media stored");
            let s = store::Stored {
                mime_type: &mime,
                size: kept.size,
                sha256: &kept.sha256,
                object_key: &kept.object_key,
                thumbnail_key: kept.thumbnail_key.as_deref(),
            };
            store::mark_stored(&ctx.pool, ids.0, ids.1, &s).await
        }
        Err(Failure::Final(reason)) => {
            metrics::counter!("platica_media_fetches_total", "outcome" => "unavailable").increment(1);
            tracing::warn!(tenant_id = ids.0, media_id = ids.1, %reason, "media unavailable");
            store::mark_unavailable(&ctx.pool, ids.0, ids.1, &reason).await
        }
        Err(Failure::Transient(reason)) if row.attempts >= ctx.config.max_attempts => {
            metrics::counter!("platica_media_fetches_total", "outcome" => "unavailable").increment(1);
            let reason = format!("gave up after {} attempts: {reason}", row.attempts);
            tracing::warn!(tenant_id = ids.0, media_id = ids.1, %reason, "media unavailable");
            store::mark_unavailable(&ctx.pool, ids.0, ids.1, &reason).await
        }
        Err(Failure::Transient(reason)) => {
            metrics::counter!("platica_media_fetches_total", "outcome" => "retry").increment(1);
            let delay =
                crate::sender::backoff(row.attempts, ctx.config.backoff_base, ctx.config.backoff_max, &mut rand::rng());
            tracing::info!(tenant_id = ids.0, media_id = ids.1, attempt = row.attempts,
                retry_in_ms = delay.as_millis() as u64, %reason, "media fetch will be retried");
            store::retry_later(&ctx.pool, ids.0, ids.1, delay, &reason).await
        }
    };
    if let Err(e) = written {
        // The row stays claimed until its lease lapses, then it is tried again.
        tracing::error!(tenant_id = ids.0, media_id = ids.1, error = %e, "cannot record a media fetch");
    }
}

/// Uploads outbound media `media_id` for the account `to` names (once: a row that has WhatsApp's
/// id for this account already is not uploaded again) and returns WhatsApp's media id.
pub async fn upload_once(
    pool: &PgPool,
    store: &MediaStore,
    graph: &GraphMedia,
    to: &GraphEndpoint,
    tenant: i64,
    account: i64,
    media_id: i64,
) -> Result<String, Failure> {
    let row = store::get(pool, platica_domain::TenantId(tenant), media_id)
        .await
        .map_err(|e| Failure::Transient(format!("cannot read the attachment: {e}")))?;
    if let (Some(id), Some(acc)) = (&row.wa_media_id, row.channel_account_id)
        && acc == account
    {
        return Ok(id.clone());
    }
    let key =
        row.object_key.as_deref().ok_or_else(|| Failure::Final("the attachment has no stored file".to_owned()))?;
    let bytes = store.get(key).await.map_err(|e| Failure::Transient(format!("cannot read the attachment: {e}")))?;
    let mime = row.mime_type.clone().unwrap_or_else(|| "application/octet-stream".to_owned());
    let name = row.filename.clone().unwrap_or_else(|| format!("{}-{media_id}", row.kind));
    let id = graph.upload(to, bytes, &mime, &name).await?;
    store::record_upload(pool, tenant, media_id, account, &id)
        .await
        .map_err(|e| Failure::Transient(format!("cannot record the upload: {e}")))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_follow_the_cloud_api() {
        assert_eq!(size_limit("image"), 5 * 1024 * 1024);
        assert_eq!(size_limit("audio"), 16 * 1024 * 1024);
        assert_eq!(size_limit("video"), 16 * 1024 * 1024);
        assert_eq!(size_limit("document"), 100 * 1024 * 1024);
        assert_eq!(size_limit("sticker"), 500 * 1024);
        assert_eq!(kind_for("image/JPEG"), Some("image"));
        assert_eq!(kind_for("application/pdf; charset=binary"), Some("document"));
        assert_eq!(kind_for("image/gif"), None);
    }

    #[test]
    fn keys_are_content_addressed_under_the_tenant() {
        let sha = sha256_hex(b"hola");
        assert_eq!(MediaStore::key(7, &sha), format!("tenants/7/sha256/{}/{sha}", &sha[..2]));
        assert_eq!(MediaStore::thumbnail_key(7, &sha), format!("tenants/7/sha256/{}/{sha}.thumb.jpg", &sha[..2]));
    }

    #[test]
    fn a_thumbnail_is_a_small_jpeg_and_garbage_has_none() {
        let img = image::RgbImage::from_fn(1000, 500, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(img)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode");
        let thumb = thumbnail(&png).expect("a thumbnail");
        let back = image::load_from_memory(&thumb).expect("decodes");
        assert_eq!((back.width(), back.height()), (320, 160));
        assert_eq!(image::guess_format(&thumb).ok(), Some(image::ImageFormat::Jpeg));
        assert!(thumbnail(b"not an image").is_none());
    }

    #[test]
    fn graph_answers_are_classified() {
        let gone = br#"{"error":{"message":"Unsupported get request","code":100,"error_subcode":33}}"#;
        assert!(matches!(from_status(StatusCode::NOT_FOUND, gone, "media info"), Failure::Final(_)));
        assert!(matches!(from_status(StatusCode::INTERNAL_SERVER_ERROR, b"", "media info"), Failure::Transient(_)));
        assert!(matches!(from_status(StatusCode::TOO_MANY_REQUESTS, b"", "x"), Failure::Transient(_)));
        assert!(matches!(from_status(StatusCode::UNAUTHORIZED, b"", "x"), Failure::Transient(_)));
    }
}
