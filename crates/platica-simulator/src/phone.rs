//! `GET /{version}/{phone_number_id}`: what Graph says about a business number (Platica's "test
//! connection"), and `POST /_sim/numbers/{phone_number_id}` to change what it says.
//!
//! The answer has Graph's fields: `id`, `display_phone_number`, `verified_name`,
//! `quality_rating` (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`), `messaging_limit_tier` (`TIER_250`,
//! `TIER_1K`, ...), `code_verification_status`, `platform_type`, `throughput`; with `?fields=`
//! only those named (and `id`). The number's token is required (401 code 190 otherwise), and the
//! number's answer delay (`/_sim/faults` `delay_ms`) applies, so a slow Graph can be simulated.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::cloud::authorize;
use crate::graph::GraphError;
use crate::state::Sim;

/// What the simulator reports about a number.
#[derive(Clone, Debug)]
pub struct Profile {
    pub verified_name: String,
    pub quality_rating: String,
    pub messaging_limit_tier: String,
    pub code_verification_status: String,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            verified_name: "Platica Simulator".to_owned(),
            quality_rating: "GREEN".to_owned(),
            messaging_limit_tier: "TIER_1K".to_owned(),
            code_verification_status: "VERIFIED".to_owned(),
        }
    }
}

/// Answers for the number `id`; `query` is the request's query string (`fields=a,b`).
pub(crate) async fn info(sim: &Arc<Sim>, headers: &HeaderMap, id: &str, query: Option<&str>) -> Response {
    let delay = sim.lock().accounts.get(id).map(|a| a.delay).unwrap_or_default();
    if !delay.is_zero() && !sim.sleep(delay).await {
        return GraphError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, 2, "Service temporarily unavailable")
            .into_response();
    }
    if let Err(e) = authorize(sim, headers, id) {
        return e.into_response();
    }
    // `fields=a,b` (the commas possibly percent-encoded).
    let fields = query.and_then(|q| {
        q.split('&').find_map(|pair| pair.strip_prefix("fields=")).map(|v| v.replace("%2C", ",").replace("%2c", ","))
    });
    let all = {
        let inner = sim.lock();
        let Some(acc) = inner.accounts.get(id) else { return GraphError::unknown_object(id).into_response() };
        let p = &acc.profile;
        json!({
            "id": id,
            "display_phone_number": acc.account.display_phone_number,
            "verified_name": p.verified_name,
            "quality_rating": p.quality_rating,
            "messaging_limit_tier": p.messaging_limit_tier,
            "code_verification_status": p.code_verification_status,
            "platform_type": "CLOUD_API",
            "throughput": {"level": "STANDARD"},
        })
    };
    let Some(fields) = fields else { return Json(all).into_response() };
    let mut out = Map::new();
    out.insert("id".to_owned(), json!(id));
    for f in fields.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        match all.get(f) {
            Some(v) => {
                out.insert(f.to_owned(), v.clone());
            }
            None => {
                return GraphError::invalid(format!(
                    "(#100) Tried accessing nonexisting field ({f}) on node type (WhatsAppBusinessPhoneNumber)"
                ))
                .into_response();
            }
        }
    }
    Json(Value::Object(out)).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProfileChange {
    verified_name: Option<String>,
    quality_rating: Option<String>,
    messaging_limit_tier: Option<String>,
    code_verification_status: Option<String>,
}

/// `POST /_sim/numbers/{phone_number_id}` `{verified_name?, quality_rating?,
/// messaging_limit_tier?, code_verification_status?}`: what Graph will say about the number.
pub(crate) async fn set_profile(
    State(sim): State<Arc<Sim>>,
    Path(id): Path<String>,
    b: Result<Bytes, BytesRejection>,
) -> Response {
    let change: ProfileChange =
        match b.map_err(|e| e.to_string()).and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string())) {
            Ok(c) => c,
            Err(e) => return GraphError::invalid(format!("invalid request body: {e}")).into_response(),
        };
    let mut inner = sim.lock();
    let Some(acc) = inner.accounts.get_mut(&id) else { return GraphError::unknown_object(&id).into_response() };
    let p = &mut acc.profile;
    for (slot, v) in [
        (&mut p.verified_name, change.verified_name),
        (&mut p.quality_rating, change.quality_rating),
        (&mut p.messaging_limit_tier, change.messaging_limit_tier),
        (&mut p.code_verification_status, change.code_verification_status),
    ] {
        if let Some(v) = v {
            *slot = v;
        }
    }
    Json(json!({"id": id, "verified_name": p.verified_name, "quality_rating": p.quality_rating,
        "messaging_limit_tier": p.messaging_limit_tier, "code_verification_status": p.code_verification_status}))
    .into_response()
}
