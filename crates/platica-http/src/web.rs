//! The web app: the files under the repository's `web/` directory, embedded in the binary at build
//! time (`include_bytes!`, no build step) and served at `/` (the single page, `index.html`) and
//! `/app/<file>` (its ES modules, stylesheet and icon).
//!
//! Every answer carries a strong `ETag` (SHA-256 of the content) and `Cache-Control: no-cache`:
//! browsers keep the files but revalidate them on each load (a `304` without a body), so a newly
//! deployed binary is picked up by the next reload — which is what "publish new web version"
//! (`app_version` in `system_config`) asks open tabs to do.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// One embedded file.
pub struct Asset {
    /// Path under `web/`, e.g. `inbox.js`.
    pub path: &'static str,
    pub bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        /// Every file of `web/` (a test checks that the list and the directory agree).
        pub const ASSETS: &[Asset] = &[
            $(Asset { path: $path, bytes: include_bytes!(concat!("../../../web/", $path)) },)*
        ];
    };
}

assets!(
    "index.html",
    "app.css",
    "favicon.svg",
    "main.js",
    "router.js",
    "directory.js",
    "capabilities.js",
    "api.js",
    "i18n.js",
    "i18n-en.js",
    "i18n-es.js",
    "ui.js",
    "live.js",
    "login.js",
    "inbox.js",
    "inbox-list.js",
    "labels.js",
    "conversation.js",
    "prospect-panel.js",
    "contact.js",
    "templates.js",
    "attention.js",
    "attention-rules.js",
    "bulk.js",
    "admin.js",
    "admin-labels.js",
    "admin-fields.js",
    "admin-jobs.js",
    "admin-channels.js",
    "channel-words.js",
    "admin-bot.js",
    "cron-text.js",
    "label-colours.js",
    "menu.js",
    "calls.js",
    "bell.js",
    "tickets.js",
    "campaigns.js",
    "drafts.js",
    "search.js",
    "search-text.js",
    "reports.js",
    "report-text.js",
    "vendor/uplot/uPlot.esm.js",
    "vendor/uplot/uPlot.min.css",
    "composer.js",
    "composer-text.js",
    "message-view.js",
    "emoji.js",
    "message-parts.js",
    "errors.js",
);

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Each asset with its ETag, computed once.
fn table() -> &'static HashMap<&'static str, (&'static Asset, String)> {
    static TABLE: OnceLock<HashMap<&'static str, (&'static Asset, String)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                (a.path, (a, format!("\"{}\"", hex::encode(&digest[..12]))))
            })
            .collect()
    })
}

/// The routes of the web app: `/` and `/app/{*path}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/", get(|headers: HeaderMap| async move { serve("index.html", &headers) })).route(
        "/app/{*path}",
        get(|Path(path): Path<String>, headers: HeaderMap| async move { serve(&path, &headers) }),
    )
}

fn serve(path: &str, headers: &HeaderMap) -> Response {
    let Some((asset, etag)) = table().get(path) else {
        return ApiError::not_found(format!("no web asset {path:?}")).into_response();
    };
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let etag_value = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let common = [(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")), (header::ETAG, etag_value)];
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    let mut resp = (common, asset.bytes).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if path == "index.html" {
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; \
                 frame-ancestors 'none'",
            ),
        );
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file under `dir`, as a path relative to `web/` (`vendor/uplot/uPlot.esm.js`).
    fn files(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("web/ is readable").filter_map(|e| e.ok()) {
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                files(&entry.path(), &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }

    /// A file added to `web/` (or a folder of it) but not to [`ASSETS`] would be missing from the
    /// binary. A vendored package's licence and README stay in the repository only.
    #[test]
    fn every_file_of_web_is_embedded() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web");
        let mut on_disk = Vec::new();
        files(&dir, "", &mut on_disk);
        on_disk.retain(|f| !(f.starts_with("vendor/") && (f.ends_with("/LICENSE") || f.ends_with("/README.md"))));
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_owned()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded);
    }

    #[test]
    fn asset_types() {
        assert_eq!(content_type("main.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("app.css"), "text/css; charset=utf-8");
    }
}
