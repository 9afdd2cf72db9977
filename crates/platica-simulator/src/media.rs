//! The Cloud API's media endpoints, as Graph answers them:
//!
//! - `GET /{version}/{media_id}` (Bearer: the token of the number the media belongs to):
//!   `{"messaging_product":"whatsapp","url","mime_type","sha256","file_size","id"}`; 404 code 100
//!   subcode 33 for an unknown id.
//! - `GET /whatsapp_business/attachments/?mid=<id>&ext=<expiry>&hash=<h>` (the `url` above; Bearer
//!   as above): the bytes with their `Content-Type`. The URL expires after five minutes
//!   ([`crate::SimHandle::set_media_url_ttl`]): then 404.
//! - `POST /{version}/{phone_number_id}/media` (Bearer; multipart `messaging_product=whatsapp`,
//!   `type`, `file`): `{"id"}`.
//!
//! Faults (`POST /_sim/media/faults` `{"stage":"info"|"download"|"upload","status":500,
//! "times"?:N}` or [`crate::SimHandle::media_fault`]): the next `times` requests of that stage (every
//! one, without `times`) get a Graph error with that status.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::cloud::{authorize, bearer};
use crate::graph::GraphError;
use crate::state::Sim;

/// How long a media URL works by default (Graph's are valid for five minutes).
pub const DEFAULT_URL_TTL: Duration = Duration::from_secs(300);

/// Sample image bytes (a 64×48 PNG) the generated prospects send.
pub const SAMPLE_PNG: &[u8] = include_bytes!("sample.png");

/// A media file the simulator holds.
#[derive(Clone, Debug)]
pub(crate) struct SimMedia {
    pub bytes: Arc<Vec<u8>>,
    pub mime_type: String,
    pub sha256: String,
    /// The number it belongs to (whose token may read it).
    pub phone_number_id: String,
}

/// Which request a media fault answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaStage {
    /// `GET /{media_id}`.
    Info,
    /// The download URL.
    Download,
    /// `POST /{phone_number_id}/media`.
    Upload,
}

/// A scripted failure of media requests.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaFault {
    pub stage: MediaStage,
    /// The HTTP status of the Graph error answer (400 to 599).
    pub status: u16,
    /// How many requests it answers; every one when absent.
    #[serde(default)]
    pub times: Option<u32>,
}

/// Media counters, as `GET /_sim/media` answers them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaStats {
    pub info_requests: u64,
    pub downloads: u64,
    pub uploads: u64,
    pub faults_injected: u64,
}

/// An upload, as the simulator received it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub id: String,
    pub phone_number_id: String,
    pub mime_type: String,
    pub filename: Option<String>,
    pub size: usize,
    pub sha256: String,
}

impl Sim {
    /// Adds a media file of a number (as if a prospect had sent it); its media id.
    pub fn add_media(&self, phone_number_id: &str, bytes: Vec<u8>, mime_type: &str) -> String {
        let id = format!(
            "{}",
            1_000_000_000_000_000u64 + self.with_rng(|r| rand::Rng::random_range(r, 0..8_999_999_999_999_999u64))
        );
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let m = SimMedia {
            bytes: Arc::new(bytes),
            mime_type: mime_type.to_owned(),
            sha256,
            phone_number_id: phone_number_id.to_owned(),
        };
        self.lock().media.insert(id.clone(), m);
        id
    }

    /// The fault answering this request, if one is scripted.
    fn media_fault(&self, stage: MediaStage) -> Option<GraphError> {
        let mut inner = self.lock();
        let i = inner.media_faults.iter().position(|f| f.stage == stage)?;
        let status = inner.media_faults[i].status;
        match &mut inner.media_faults[i].times {
            Some(n) if *n <= 1 => {
                inner.media_faults.remove(i);
            }
            Some(n) => *n -= 1,
            None => {}
        }
        inner.media_stats.faults_injected += 1;
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (code, message) = match status.as_u16() {
            429 => (130429, "Rate limit hit"),
            404 => (100, "Unsupported get request"),
            500..=599 => (131000, "Something went wrong"),
            _ => (100, "Invalid parameter"),
        };
        Some(GraphError::new(status, code, message))
    }
}

fn token_of(sim: &Sim, phone_number_id: &str) -> Option<String> {
    sim.lock().accounts.get(phone_number_id).map(|a| a.account.access_token.clone())
}

/// The media file `id`, if the request's token is its number's.
fn readable(sim: &Sim, headers: &HeaderMap, id: &str) -> Result<SimMedia, GraphError> {
    let Some(token) = bearer(headers) else {
        return Err(GraphError::token(
            "An active access token must be used to query information about the current user.",
        ));
    };
    let media = sim.lock().media.get(id).cloned();
    let Some(media) = media else { return Err(GraphError::unknown_object(id)) };
    if token_of(sim, &media.phone_number_id).as_deref() != Some(token) {
        return Err(GraphError::token("Invalid OAuth access token - Cannot parse access token"));
    }
    Ok(media)
}

fn url_hash(id: &str, expires: u64) -> String {
    hex::encode(&Sha256::digest(format!("platica-sim:{id}:{expires}"))[..8])
}

/// `GET /{version}/{media_id}` (or a phone number id: [`crate::phone::info`]).
pub(crate) async fn info(
    State(sim): State<Arc<Sim>>,
    Path((version, id)): Path<(String, String)>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
) -> Response {
    if !crate::cloud::valid_version(&version) {
        return GraphError::new(StatusCode::NOT_FOUND, 2500, "Unknown path components").into_response();
    }
    // Graph reads any object at this path: a business number answers as one.
    if sim.lock().accounts.contains_key(&id) {
        return crate::phone::info(&sim, &headers, &id, query.as_deref()).await;
    }
    sim.lock().media_stats.info_requests += 1;
    if let Some(e) = sim.media_fault(MediaStage::Info) {
        return e.into_response();
    }
    let media = match readable(&sim, &headers, &id) {
        Ok(m) => m,
        Err(e) => return e.into_response(),
    };
    let ttl = sim.lock().media_url_ttl.unwrap_or(DEFAULT_URL_TTL);
    let expires = chrono::Utc::now().timestamp().max(0) as u64 + ttl.as_secs();
    let base = sim.lock().base_url.clone();
    let url = format!("{base}/whatsapp_business/attachments/?mid={id}&ext={expires}&hash={}", url_hash(&id, expires));
    Json(json!({
        "messaging_product": "whatsapp",
        "url": url,
        "mime_type": media.mime_type,
        "sha256": media.sha256,
        "file_size": media.bytes.len(),
        "id": id,
    }))
    .into_response()
}

#[derive(Deserialize)]
pub(crate) struct DownloadQuery {
    mid: String,
    ext: u64,
    hash: String,
}

/// The download URL.
pub(crate) async fn download(
    State(sim): State<Arc<Sim>>,
    Query(q): Query<DownloadQuery>,
    headers: HeaderMap,
) -> Response {
    sim.lock().media_stats.downloads += 1;
    if let Some(e) = sim.media_fault(MediaStage::Download) {
        return e.into_response();
    }
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    if q.hash != url_hash(&q.mid, q.ext) || now > q.ext {
        return (StatusCode::NOT_FOUND, "URL signature expired").into_response();
    }
    match readable(&sim, &headers, &q.mid) {
        Ok(m) => ([(header::CONTENT_TYPE, m.mime_type.clone())], m.bytes.as_ref().clone()).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /{version}/{phone_number_id}/media`.
pub(crate) async fn upload(
    State(sim): State<Arc<Sim>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    match upload_inner(&sim, &phone_number_id, &headers, multipart).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn upload_inner(
    sim: &Sim,
    phone_number_id: &str,
    headers: &HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, GraphError> {
    authorize(sim, headers, phone_number_id)?;
    if let Some(e) = sim.media_fault(MediaStage::Upload) {
        return Err(e);
    }
    let mut multipart = multipart.map_err(|e| GraphError::invalid(format!("(#100) {e}")))?;
    let (mut product, mut kind, mut file) = (None, None, None);
    while let Some(field) = multipart.next_field().await.map_err(|e| GraphError::invalid(format!("(#100) {e}")))? {
        match field.name() {
            Some("messaging_product") => product = field.text().await.ok(),
            Some("type") => kind = field.text().await.ok(),
            Some("file") => {
                let name = field.file_name().map(str::to_owned);
                let mime = field.content_type().map(str::to_owned);
                let bytes = field.bytes().await.map_err(|e| GraphError::invalid(format!("(#100) {e}")))?;
                file = Some((name, mime, bytes));
            }
            _ => {}
        }
    }
    if product.as_deref() != Some("whatsapp") {
        return Err(GraphError::invalid("(#100) The parameter messaging_product is required."));
    }
    let Some((filename, mime, bytes)) = file else {
        return Err(GraphError::invalid("(#100) The parameter file is required."));
    };
    let mime_type = kind.or(mime).unwrap_or_default();
    if mime_type.is_empty() {
        return Err(GraphError::invalid("(#100) The parameter type is required."));
    }
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let size = bytes.len();
    let id = sim.add_media(phone_number_id, bytes.to_vec(), &mime_type);
    let mut inner = sim.lock();
    inner.media_stats.uploads += 1;
    inner.uploads.push(Upload {
        id: id.clone(),
        phone_number_id: phone_number_id.to_owned(),
        mime_type,
        filename,
        size,
        sha256,
    });
    Ok(Json(json!({"id": id})).into_response())
}

/// `POST /_sim/media/faults`.
pub(crate) async fn faults(State(sim): State<Arc<Sim>>, b: Result<Bytes, BytesRejection>) -> Response {
    let fault: MediaFault = match b.ok().and_then(|b| serde_json::from_slice(&b).ok()) {
        Some(f) => f,
        None => return GraphError::invalid("body: {\"stage\",\"status\",\"times\"?}").into_response(),
    };
    if !(400..=599).contains(&fault.status) {
        return GraphError::invalid("status must be 400 to 599").into_response();
    }
    sim.lock().media_faults.push(fault);
    (StatusCode::CREATED, Json(json!({"queued": true}))).into_response()
}

/// `GET /_sim/media`: counters and uploads.
pub(crate) async fn stats(State(sim): State<Arc<Sim>>) -> Response {
    let inner = sim.lock();
    Json(json!({"stats": inner.media_stats, "uploads": inner.uploads})).into_response()
}
