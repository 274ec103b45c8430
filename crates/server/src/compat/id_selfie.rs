//! `/compat/id-selfie`: the "ID plus selfie" API (API Gateway + Lambda + Rekognition CompareFaces). Its client
//! posts `json=dumps({"dl": <base64 licence>, "selfie": <base64 selfie>})` — a JSON *string* holding the object —
//! with `x-api-key` to `https://<api>/prod/ips`, and reads the body as the similarity of the best match: the
//! licence's portrait (detected at document resolution) against the selfie, at the documented
//! `SimilarityThreshold=80` on Facegate's similarity scale, every face of the selfie compared as CompareFaces
//! does; `0` when no face matches at 80.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use crate::access::Requirement::*;
use crate::http_error::ApiResult;
use crate::input::{decode_base64, AnyJson};
use crate::routes::table::Routes;
use app::error::{ApiError, Code};
use app::state::AppState;
use app::usecases::faces::{self, CompareOptions};
use auth::Scope;

/// The similarity threshold the original passes to CompareFaces.
pub const SIMILARITY_THRESHOLD: f32 = 80.0;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IpsRequest {
    /// The driving licence (or another identity document), base64.
    pub dl: String,
    /// The selfie, base64.
    pub selfie: String,
}

/// The `{"dl", "selfie"}` object of the body, whether sent as an object or as the JSON string the original
/// client sends (`json=dumps(...)`).
fn request_of(body: Value) -> ApiResult<IpsRequest> {
    let object = match body {
        Value::String(text) => serde_json::from_str(&text)
            .map_err(|e| ApiError::new(Code::InvalidJson, format!("the body's string is not a JSON object: {e}")))?,
        other => other,
    };
    serde_json::from_value(object)
        .map_err(|e| ApiError::new(Code::InvalidRequest, format!("the body must hold `dl` and `selfie`: {e}")).into())
}

async fn compare_id(app: &AppState, body: Value) -> ApiResult<Json<f32>> {
    let req = request_of(body)?;
    let (document, selfie) = (decode_base64("dl", &req.dl)?, decode_base64("selfie", &req.selfie)?);
    // CompareFaces: the source's largest face against every face of the target.
    let options = CompareOptions {
        threshold: Some(SIMILARITY_THRESHOLD),
        all_target_faces: true,
        source_is_document: true,
        ..Default::default()
    };
    let compared = faces::compare(app, document, selfie, options).await?;
    Ok(Json(compared.matches.first().map_or(0.0, |m| m.similarity)))
}

/// Compare an identity document's portrait with a selfie: the body is the best match's similarity (0-100), or
/// 0 below 80.
#[utoipa::path(post, path = "/compat/id-selfie/ips", tag = "compat: id-selfie",
    request_body(content = IpsRequest, description = "`{\"dl\", \"selfie\"}` (base64), as an object or as a JSON string holding one"),
    responses(
        (status = 200, description = "the similarity of the best match, or 0", body = f32),
        (status = 400, description = "`{\"message\": ...}`"),
        (status = 422, description = "`{\"message\": ...}`: no face on the document or in the selfie"),
    ))]
pub async fn ips(State(app): State<AppState>, AnyJson(body): AnyJson) -> ApiResult<Json<f32>> {
    compare_id(&app, body).await
}

/// The same under the API Gateway stage the client's URL carries (`/prod/ips`).
#[utoipa::path(post, path = "/compat/id-selfie/{stage}/ips", tag = "compat: id-selfie",
    params(("stage" = String, Path, description = "the API Gateway stage, e.g. `prod` (any name)")),
    request_body(content = IpsRequest, description = "as `POST /compat/id-selfie/ips`"),
    responses((status = 200, body = f32), (status = 400, description = "`{\"message\": ...}`")))]
pub async fn staged_ips(
    State(app): State<AppState>,
    Path(_stage): Path<String>,
    AnyJson(body): AnyJson,
) -> ApiResult<Json<f32>> {
    compare_id(&app, body).await
}

/// The routes of this front door, answering errors as API Gateway does.
pub fn routes() -> Routes {
    Routes::new()
        .operation::<__path_ips, _, _>(ips, Scope(Scope::FacesCompare))
        .operation::<__path_staged_ips, _, _>(staged_ips, Scope(Scope::FacesCompare))
        .errors_as(super::gateway_error)
}
