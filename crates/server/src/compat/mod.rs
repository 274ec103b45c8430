//! Drop-in front doors for the systems our users migrate from: each serves its system's documented paths, bodies,
//! field names, statuses and error shapes under `/compat/<prefix>`, as a thin adapter over the use cases — a
//! client written for that system works when the scheme and host of its URL become `http://HOST/compat/<prefix>`.
//! Their static tokens and `x-api-key`s are Facegate API keys, scoped like the `/v1` twin of each call.

pub mod deepface_liveness;
pub mod facelock;
pub mod id_selfie;
pub mod liveness_api;
pub mod nose_challenge;

use crate::routes::table::Routes;
use app::error::ApiError;

/// API Gateway's error body: `{"message": "..."}`, with the code's status.
pub fn gateway_error(e: &ApiError) -> (u16, serde_json::Value) {
    (e.code.status(), serde_json::json!({ "message": e.worded(crate::http_error::field_name) }))
}

/// FastAPI's error body: `{"detail": "..."}`, with the code's status.
pub fn fastapi_error(e: &ApiError) -> (u16, serde_json::Value) {
    (e.code.status(), serde_json::json!({ "detail": e.worded(crate::http_error::field_name) }))
}

/// Every drop-in front door's routes.
pub fn routes() -> Routes {
    Routes::new()
        .merge(id_selfie::routes())
        .merge(liveness_api::routes())
        .merge(deepface_liveness::routes())
        .merge(facelock::routes())
        .merge(nose_challenge::routes())
}
