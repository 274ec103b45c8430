//! Stateless liveness: passive anti-spoofing of every face in one image.

use axum::extract::State;

use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{FaceDto, ImageInfo};
use crate::error::{ApiError, ApiResult, Code};
use crate::http_error::ErrorBody;
use crate::input::{ImageField, Payload};
use crate::state::AppState;

use crate::access::Requirement::*;
use crate::routes::table::Routes;
use auth::Scope;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PassiveRequest {
    #[serde(default)]
    #[schema(value_type = String, format = Byte)]
    pub image: Option<ImageField>,
    /// A face is real when its score reaches this (0..1; default: the server's `passive_threshold`, 0.05).
    #[serde(default)]
    pub threshold: Option<f32>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassiveModelScore {
    /// `MiniFASNetV2` (face box x2.7) or `MiniFASNetV1SE` (x4.0).
    pub model: String,
    /// Softmax: the probability of "real", and of each attack class.
    pub real: f32,
    pub attack: f32,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassiveFace {
    pub face: FaceDto,
    /// `score >= threshold`.
    pub is_real: bool,
    /// The ensemble's score 0..1 (the sigmoid of the two networks' mean log-odds of "real").
    pub score: f32,
    pub threshold: f32,
    /// The published rule, for reference: `real` when "real" wins the networks' summed softmaxes, else `attack`.
    pub model_verdict: String,
    pub models: Vec<PassiveModelScore>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PassiveResponse {
    pub image: ImageInfo,
    /// Every face, largest first.
    pub faces: Vec<PassiveFace>,
    pub threshold: f32,
}

fn model_unavailable(why: &str) -> ApiError {
    ApiError::new(Code::ModelUnavailable, why.to_string())
}

/// Passive liveness: is each face in the image a live person, or a photo or screen held to the camera?
///
/// Runs the MiniFASNet V2 and V1SE networks (built from the official weights, which must be in the server's
/// models directory) on each face with the context they were trained with.
#[utoipa::path(post, path = "/v1/liveness/passive", tag = "liveness",
    request_body(content = PassiveRequest, description = "JSON with base64 `image`; or multipart; or a raw image body"),
    responses(
        (status = 200, body = PassiveResponse),
        (status = 400, body = ErrorBody),
        (status = 422, description = "`no_face`", body = ErrorBody),
        (status = 501, description = "`model_unavailable`: the anti-spoofing weights are not installed", body = ErrorBody),
    ))]
pub async fn passive(State(app): State<AppState>, mut payload: Payload) -> ApiResult<Json<PassiveResponse>> {
    let image = payload.take_image("image")?;
    let req: PassiveRequest = payload.options()?;
    let threshold = req.threshold.unwrap_or(app.config.passive_threshold);
    if !(threshold.is_finite() && (0.0..=1.0).contains(&threshold)) {
        return Err(ApiError::invalid_parameter("threshold must lie in 0..1"));
    }
    let model = app.passive.clone().map_err(|why| model_unavailable(&why))?;
    let _admission = app.pool.admit()?;
    let started = std::time::Instant::now();
    let (info, faces, scores) = app
        .inspect(image, app.config.detect_max_side, move |img, faces| {
            let mut order: Vec<usize> = (0..faces.len()).collect();
            order.sort_by(|&a, &b| faces[b].detection.bbox.area().total_cmp(&faces[a].detection.bbox.area()));
            order
                .into_iter()
                .map(|i| {
                    let s = model
                        .score(img, &faces[i].detection.bbox)
                        .map_err(|e| ApiError::internal("passive liveness", e))?;
                    Ok((i, s))
                })
                .collect::<Result<Vec<_>, ApiError>>()
        })
        .await?;
    if faces.is_empty() {
        return Err(ApiError::new(Code::NoFace, "no face was found in the image"));
    }
    app.metrics.observe_inference("minifasnet", started.elapsed().as_secs_f64());
    let names = ["MiniFASNetV2", "MiniFASNetV1SE"];
    let faces = scores
        .into_iter()
        .map(|(i, s)| PassiveFace {
            face: FaceDto::from(&faces[i]),
            is_real: s.real >= threshold,
            score: s.real,
            threshold,
            model_verdict: if s.model_verdict_real { "real" } else { "attack" }.into(),
            models: s
                .per_model
                .iter()
                .zip(names)
                .map(|(p, model)| PassiveModelScore { model: model.into(), real: p[1], attack: p[0] + p[2] })
                .collect(),
        })
        .collect();
    Ok(Json(PassiveResponse { image: info, faces, threshold }))
}

/// The routes of this family: handler, OpenAPI operation and access requirement.
pub fn routes() -> Routes {
    Routes::new().operation::<__path_passive, _, _>(passive, Scope(Scope::Liveness))
}
