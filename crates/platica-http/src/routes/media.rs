//! Media files: serving a message's media (and an image's thumbnail) to whoever sees its
//! conversation, and uploading an attachment to send.

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use platica_store::whatsapp::media::{self, MediaRef, MediaRow};
use platica_whatsapp::media::{self as wa, MediaStore};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::PathId;
use crate::state::AppState;

/// The largest upload: WhatsApp's largest media (a 100 MB document) and the form around it.
pub const UPLOAD_LIMIT: usize = 100 * 1024 * 1024 + 64 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_media))
        .routes(routes!(get_thumbnail))
        .merge(OpenApiRouter::new().routes(routes!(upload)).layer(DefaultBodyLimit::max(UPLOAD_LIMIT)))
}

fn store(state: &AppState) -> ApiResult<&MediaStore> {
    state.media.as_ref().ok_or_else(|| {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "media_not_configured",
            "this server keeps no media (no media store is configured)",
        );
        e.retry_after = Some(60);
        e
    })
}

/// The bytes of a stored file, or why there are none.
async fn serve(state: &AppState, row: &MediaRow, key: Option<&str>, content_type: &str) -> ApiResult<Response> {
    match row.state.as_str() {
        "pending" => {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "media_pending",
                "the file is still being fetched from WhatsApp: try again shortly",
            );
            e.retry_after = Some(2);
            return Err(e);
        }
        "unavailable" => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "media_unavailable",
                format!("media unavailable: {}", row.reason.as_deref().unwrap_or("WhatsApp did not give the file")),
            ));
        }
        _ => {}
    }
    let Some(key) = key else { return Err(ApiError::not_found("this media has no thumbnail (only images have one)")) };
    let bytes = store(state)?.get(key).await.map_err(|e| {
        tracing::error!(media_id = row.media_id, error = %e, "a stored media file cannot be read");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "media_store_unavailable", "the media store cannot be read now")
    })?;
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(content_type).unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    // Private to the user's browser; the content behind an id never changes.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=86400"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Some(name) = row.filename.as_deref() {
        let safe: String =
            name.chars().filter(|c| c.is_ascii_graphic() && *c != '"' && *c != '\\' || *c == ' ').take(200).collect();
        if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{safe}\"")) {
            h.insert(header::CONTENT_DISPOSITION, v);
        }
    }
    Ok(resp)
}

/// A message's media file, with its content type, to whoever sees the message's conversation (an
/// upload not yet sent: to its uploader). 404 for anyone else, as for an id that does not exist;
/// 409 `media_pending` while it is fetched from WhatsApp (`Retry-After`), 409
/// `media_unavailable` (with the reason) when it cannot be had.
#[utoipa::path(get, path = "/media/{media_id}", tag = "media", params(("media_id" = i64, Path)),
    responses((status = 200, description = "The file, with its own media type (`image/jpeg`, `application/pdf`...)", content_type = "*/*", body = Vec<u8>),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn get_media(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Response> {
    let row = media::for_viewer(&state.pool, auth.viewer(), id).await?;
    let mime = row.mime_type.clone().unwrap_or_else(|| "application/octet-stream".to_owned());
    serve(&state, &row, row.object_key.as_deref(), &mime).await
}

/// An image's thumbnail (JPEG, at most 320 pixels a side), as `GET /media/{media_id}` is served;
/// 404 for media without one (not an image).
#[utoipa::path(get, path = "/media/{media_id}/thumbnail", tag = "media", params(("media_id" = i64, Path)),
    responses((status = 200, description = "The thumbnail", content_type = "image/jpeg", body = Vec<u8>),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn get_thumbnail(State(state): State<AppState>, auth: Auth, PathId(id): PathId) -> ApiResult<Response> {
    let row = media::for_viewer(&state.pool, auth.viewer(), id).await?;
    serve(&state, &row, row.thumbnail_key.as_deref(), "image/jpeg").await
}

/// The upload form.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file, with its media type (`image/jpeg`, `image/png`, `image/webp` (a sticker),
    /// `audio/aac|amr|mpeg|mp4|ogg`, `video/mp4|3gpp`, `application/pdf`, `text/plain`, Word,
    /// Excel and PowerPoint documents) and file name.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// Uploads an attachment to send: a `multipart/form-data` form with one `file`. Answers its
/// `media` object; send it with `POST /conversations/{id}/messages` `{"media": {"id": ..,
/// "caption"?: ..}}` (Platica uploads it to WhatsApp once and sends it by WhatsApp's media id).
/// WhatsApp's limits apply: images 5 MB, audio and video 16 MB, documents 100 MB, stickers
/// 500 KB (413 `media_too_large`); other types are refused (415 `unsupported_media_type`).
#[utoipa::path(post, path = "/media", tag = "media",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = MediaRef),
        (status = 413, body = ErrorBody, description = "`media_too_large`: larger than WhatsApp takes for its kind"),
        (status = 415, body = ErrorBody, description = "`unsupported_media_type`: not a form, or a file type WhatsApp does not send"),
        (status = 422, body = ErrorBody, description = "`invalid_input`: no `file` in the form")))]
async fn upload(
    State(state): State<AppState>,
    auth: Auth,
    form: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> ApiResult<Response> {
    let mut form = form.map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send the file as multipart/form-data with a `file` field ({e})"),
        )
    })?;
    let store = store(&state)?.clone();
    let mut file = None;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(form_error(e)),
        };
        if field.name() != Some("file") {
            continue;
        }
        let filename = field.file_name().map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect::<String>());
        let mime = field.content_type().map(str::to_owned).unwrap_or_default();
        let Some(kind) = wa::kind_for(&mime) else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!(
                    "WhatsApp does not send files of type '{mime}': send one of {}",
                    wa::SENDABLE.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", ")
                ),
            )
            .with_field("file"));
        };
        let bytes = field.bytes().await.map_err(form_error)?;
        file = Some((filename.filter(|n| !n.trim().is_empty()), mime, kind, bytes));
        break;
    }
    let Some((filename, mime, kind, bytes)) = file else {
        return Err(ApiError::invalid("file", "the form has no `file` field"));
    };
    if bytes.is_empty() {
        return Err(ApiError::invalid("file", "the file is empty"));
    }
    let limit = wa::size_limit(kind);
    if bytes.len() as u64 > limit {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "media_too_large",
            format!("{} bytes: WhatsApp takes at most {limit} bytes for a file of kind {kind}", bytes.len()),
        )
        .with_field("file"));
    }
    let mime = mime.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let kept = wa::keep(&store, auth.viewer().tenant_id.0, kind, bytes.to_vec()).await.map_err(|e| {
        tracing::error!(error = %e, "cannot store an upload");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "media_store_unavailable",
            "the media store cannot be written now",
        )
    })?;
    let row = media::create_upload(
        &state.pool,
        auth.viewer(),
        &media::Upload {
            kind,
            mime_type: &mime,
            filename: filename.as_deref(),
            size: kept.size,
            sha256: &kept.sha256,
            object_key: &kept.object_key,
            thumbnail_key: kept.thumbnail_key.as_deref(),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(row.to_ref())).into_response())
}

fn form_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the upload is larger than {UPLOAD_LIMIT} bytes"),
        )
    } else {
        ApiError::bad_request(format!("the form cannot be read: {e}"))
    }
}
